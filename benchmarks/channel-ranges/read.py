"""Compares, per model of a run.sh output folder (or the committed results.jsonl when none is given), the audit as
exported with the audit of its per-channel standardised twin: verdict, p, suspected class, the largest change of the
five features, and the supporting verdicts; with --jsonl, writes the lines of results.jsonl instead. Pure Python 3.
    python3 read.py [OUT] [--jsonl]"""
import glob, json, os, sys

F = ['logRatioGap', 'saliency-persistence.statistic', 'warp-inversion.statistic', 'contrastive-patch.statistic', 'blend-inversion.statistic']
here = os.path.dirname(os.path.abspath(__file__))
args = [a for a in sys.argv[1:] if not a.startswith('--')]
VARIANTS = {'plain': 'as exported', 'per-channel': 'per-channel twin', 'per-channel-earlier': 'per-channel twin, one range'}


def line(model, variant, findings):
    t = findings['trojan-likelihood']['details']
    features = {f: t['features'][f] for f in F} if 'features' in t else {}
    return {'model': model, 'variant': variant, 'verdict': findings['trojan-likelihood']['verdict'], 'probability': t.get('probability'),
            'suspectedTargetClass': t.get('suspectedTargetClass'), 'features': features,
            'neuralCleanse': findings['neural-cleanse']['verdict'], 'strip': findings['strip']['verdict'],
            'perChannel': 'channelRanges' in t}


if args:
    rows = []
    for n in [l.strip() for l in open(os.path.join(here, 'models.txt')) if l.strip()]:
        for suffix, variant in VARIANTS.items():
            path = os.path.join(args[0], f'f-{n}-{suffix}.json')
            if os.path.exists(path):
                rows.append(line(n, variant, json.load(open(path))))
else:
    rows = [json.loads(l) for l in open(os.path.join(here, 'results.jsonl'))]

if '--jsonl' in sys.argv:
    for r in rows:
        print(json.dumps(r))
    sys.exit()

by = {}
for r in rows:
    by.setdefault(r['model'], {})[r['variant']] = r


def cell(a, b, key, fmt='{}'):
    return f"{fmt.format(a[key])} → {fmt.format(b[key])}" if b else fmt.format(a[key])


print('| model | reading of the twin | verdict | p | class | largest feature change (which) | Neural Cleanse | STRIP |')
print('|---|---|---|---|---|---|---|---|')
for n, v in by.items():
    a = v['as exported']
    for variant in ['per-channel twin', 'per-channel twin, one range']:
        b = v.get(variant)
        if not b:
            continue
        change, which = max((abs(a['features'][f] - b['features'][f]), f.split('.')[0]) for f in F) if a['features'] and b['features'] else (float('nan'), '–')
        reading = 'each channel its own range' if variant == 'per-channel twin' else 'one range (before)'
        print(f"| {n} | {reading} | {a['verdict']} → {b['verdict']} | {a['probability']:.3f} → {b['probability']:.3f} | "
              f"{a['suspectedTargetClass']} → {b['suspectedTargetClass']} | {change:.2f} ({which}) | {a['neuralCleanse']} → {b['neuralCleanse']} | {a['strip']} → {b['strip']} |")
