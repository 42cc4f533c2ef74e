"""The calibration check whose rule README.md sets: the five-feature fit and the five plus each of two candidate
readings (margin, largest log ratio; inverse, at the smallest class), each fitted on the 114 design models and read on
the calibration split's counted models (the AUROC, and the backdoored models above the calibration clean models'
conformal 95 % point).

usage (from the repository root):
  Z="dotnet tools/Audit.ModelZoo/bin/Release/net10.0/Audit.ModelZoo.dll"
  $Z features --split design --cache benchmarks/model-zoo-one-model > /tmp/design.csv
  $Z features --split calibration --cache benchmarks/model-zoo-one-model > /tmp/calibration.csv
  python3 benchmarks/model-zoo-trigger-character/calibration.py /tmp/design.csv /tmp/calibration.csv
"""
import csv, json, math, os, statistics as st, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'model-zoo'))
from zoo_logistic import auroc, clean_quantile_cut, impute, logistic, sigmoid, standardiser  # noqa: E402

FIVE = ['logRatioGap', 'warp-inversion.statistic', 'saliency-persistence.statistic', 'contrastive-patch.statistic',
        'blend-inversion.statistic']
results = {}
for name in ('results.jsonl', 'calibration-results.jsonl'):
    for l in open(os.path.join(here, name)):
        d = json.loads(l); results[d['name']] = d


def log(v):
    return math.log(max(v, 1e-4))


def candidate(name, which):
    r = results.get(name)
    if r is None:
        return None
    if which == 'margin, largest log ratio':
        med = log(st.median(r['margin']))
        return max(log(x) - med for x in r['margin'])
    s = r['maskNorms'].index(min(r['maskNorms']))       # 'inverse, at the smallest class'
    return r['inverse'][s] - st.median(r['inverse'])


def matrix(rows, which, means=None):
    x = [[float(r[f]) if r[f] != '' else None for f in FIVE] + ([candidate(r['name'], which)] if which else []) for r in rows]
    return x, impute(x, means)                         # a missing value takes the design mean, as the fit imputes it


design = list(csv.DictReader(open(sys.argv[1])))
calibration = list(csv.DictReader(open(sys.argv[2])))
read = sum(r['name'] in results for r in calibration)
print(f"{len(design)} design models; {len(calibration)} calibration models, {read} read by the experiment\n")
print('| fitted on design, read on calibration | AUROC | caught at the calibration clean 95 % point | ' + ' | '.join(sorted({r['attack'] for r in calibration if r['label'] == '1'})) + ' |')
print('|---|---|---|' + '---|' * len({r['attack'] for r in calibration if r['label'] == '1'}))
for which in (None, 'margin, largest log ratio', 'inverse, at the smallest class'):
    x, means = matrix(design, which)
    y = [int(r['label']) for r in design]
    z = standardiser(x)
    beta = logistic([z(v) for v in x], y)
    cx, _ = matrix(calibration, which, means)
    p = [sigmoid(sum(b * v for b, v in zip(beta, z(v) + [1.0]))) for v in cx]
    cy = [int(r['label']) for r in calibration]
    neg = [q for q, t in zip(p, cy) if not t]
    pos = [q for q, t in zip(p, cy) if t]
    cut = clean_quantile_cut(neg)
    attacks = sorted({r['attack'] for r in calibration if r['label'] == '1'})
    per = ' | '.join(f"{sum(q > cut for q, r in zip(p, calibration) if r['label'] == '1' and r['attack'] == a)}/{sum(1 for r in calibration if r['label'] == '1' and r['attack'] == a)}" for a in attacks)
    print(f"| five{' + ' + which if which else ''} | {auroc(pos, neg):.3f} | {sum(q > cut for q in pos)}/{len(pos)} | {per} |")
