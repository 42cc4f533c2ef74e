"""Reads a run.sh output folder (or the committed results.jsonl when none is given): per model and class count, the
trojan-likelihood verdict, p, suspected class (in the cut-down model's numbering; a backdoored model's target is 0 there)
and the supporting verdicts; then, per class count, clean models failed and backdoored ones caught with the right
target. With --jsonl, writes the lines of results.jsonl instead. Pure Python 3.
    python3 read.py [OUT] [--jsonl] [--models FILE] [--cuts 2,3,5] [--results FILE] [--thresholds 0.195,0.605]
--models, --cuts and --results default to this folder's models.txt, 2,3,5 and results.jsonl (another slice's run:
benchmarks/between-class-counts); --thresholds adds, per class count, the counts at each given threshold on p."""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
argv = sys.argv[1:]
def option(name, default):
    return argv[argv.index(name) + 1] if name in argv else default
options = {'--models', '--cuts', '--results', '--thresholds'}
args = [a for i, a in enumerate(argv) if not a.startswith('--') and (i == 0 or argv[i - 1] not in options)]
models = option('--models', os.path.join(here, 'models.txt'))
cuts = [int(v) for v in option('--cuts', '2,3,5').split(',')]
results = option('--results', os.path.join(here, 'results.jsonl'))
thresholds = [float(v) for v in option('--thresholds', '').split(',') if v]
if args:
    rows = []
    for n in [l.strip() for l in open(models) if l.strip()]:
        for k in cuts:
            path = os.path.join(args[0], f'f-{n}-k{k}.json')
            if not os.path.exists(path):
                continue
            d = json.load(open(path)); t = d['trojan-likelihood']
            rows.append({'model': n, 'classes': k, 'backdoored': '-clean-' not in n, 'verdict': t['verdict'],
                         'probability': t['details'].get('probability'), 'suspectedTargetClass': t['details'].get('suspectedTargetClass'),
                         'neuralCleanse': d['neural-cleanse']['verdict'], 'strip': d['strip']['verdict'],
                         'summaryStart': t['summary'][:90]})
else:
    rows = [json.loads(l) for l in open(results)]

if '--jsonl' in argv:
    for r in rows:
        print(json.dumps(r))
    sys.exit()

print('| model | classes | verdict | p | suspected (target 0) | Neural Cleanse | STRIP |')
print('|---|---|---|---|---|---|---|')
for r in rows:
    p = '–' if r['probability'] is None else f"{r['probability']:.3f}"
    print(f"| {r['model']} | {r['classes']} | {r['verdict']} | {p} | {r['suspectedTargetClass'] if r['suspectedTargetClass'] is not None else '–'} | {r['neuralCleanse']} | {r['strip']} |")
print()
print('| classes | clean failed | backdoored caught (right target) | inconclusive |' + ''.join(f' at {t}: clean failed, caught |' for t in thresholds))
print('|---|---|---|---|' + '---|' * len(thresholds))
for k in cuts:
    at = [r for r in rows if r['classes'] == k]
    clean = [r for r in at if not r['backdoored']]; bad = [r for r in at if r['backdoored']]
    failed = sum(r['verdict'] == 'Fail' for r in clean)
    caught = [r for r in bad if r['verdict'] == 'Fail']
    right = sum(r['suspectedTargetClass'] == 0 for r in caught)
    inconclusive = sum(r['verdict'] == 'Inconclusive' for r in at)
    def over(group, t):
        return sum(r['probability'] is not None and r['probability'] >= t for r in group)
    extra = ''.join(f' {over(clean, t)}/{len(clean)}, {over(bad, t)}/{len(bad)} |' for t in thresholds)
    print(f"| {k} | {failed}/{len(clean)} | {len(caught)}/{len(bad)} ({right}) | {inconclusive} |{extra}")
