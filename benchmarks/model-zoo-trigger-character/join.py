"""Joins the experiment's design lines into results.jsonl: per design model, each class's contrastive mask norm and
every reading of the recovered triggers (the first run's own-size window shares, computed from its saved masks by
masks.py, and the second run's readings; the two runs are the same search at the same seed, checked here)."""
import json, sys
own = {}
for l in open(sys.argv[1]):               # masks.py output of the first run (with masks)
    d = json.loads(l); own[d['name']] = d
out = open(sys.argv[3], 'w')
n = 0
for path in sys.argv[2].split(','):       # the second run's survey lines
    for l in open(path):
        d = json.loads(l); p = d['probes'].get('trigger-character')
        if not p or not p.get('details', {}).get('maskNorms'):
            continue
        det = p['details']; o = own.get(d['name'])
        assert o is None or o['maskNorms'] == det['maskNorms'], d['name']
        rec = {'name': d['name'], 'seconds': p['seconds'], 'cleanMargin': round(det['cleanMargin'], 4), 'maskNorms': det['maskNorms']}
        for k in ('base', 'shift1', 'shift2', 'drop', 'half', 'noise', 'uniform', 'flat', 'inverse', 'margin', 'reference', 'window3', 'window5'):
            rec[k] = det[k]
        if o:
            for k in ('own1', 'own2', 'own4'):
                rec[k] = o[k]
        out.write(json.dumps(rec) + '\n'); n += 1
print(n, 'lines')
