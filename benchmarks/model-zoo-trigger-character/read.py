"""Design split only: are the triggers the contrastive patch search recovers for implanted targets more robust, more
content-bound or more compact than those it recovers for clean models' classes? Reads results.jsonl (beside this
file; join.py made it from the experiment's survey lines) and the design split's feature CSV, and prints
1. each reading at the implanted target of the design patch and low-rate models, at their other classes, and at the
   smallest-mask class of the clean design models (AUROC of the first against the last), and
2. trojan-likelihood's five features refitted with each reading added as a sixth (its largest log ratio to the
   model's median class, or the value at the smallest-mask class less the median), scored as ZooFit scores features
   (mean leave-one-out log loss), with the AUROC of the held-out predictions and the backdoored models above the clean
   models' conformal 95 % point.

usage (from the repository root):
  dotnet tools/Audit.ModelZoo/bin/Release/net10.0/Audit.ModelZoo.dll features --split design \
      --cache benchmarks/model-zoo-one-model > /tmp/design.csv
  python3 benchmarks/model-zoo-trigger-character/read.py /tmp/design.csv
"""
import csv, json, math, os, statistics as st, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'model-zoo'))
from zoo_logistic import auroc, leave_one_out_catches  # noqa: E402

FIVE = ['logRatioGap', 'warp-inversion.statistic', 'saliency-persistence.statistic', 'contrastive-patch.statistic',
        'blend-inversion.statistic']
READINGS = ['shift1', 'shift2', 'drop', 'half', 'noise', 'uniform', 'flat', 'inverse', 'margin', 'own1', 'own2', 'own4',
            'window3', 'window5']
FAMILIES = ['patch', 'low-rate', 'blend', 'warp', 'source-specific']

results = {json.loads(l)['name']: json.loads(l) for l in open(os.path.join(here, 'results.jsonl'))}
rows = list(csv.DictReader(open(sys.argv[1])))


def log(v):
    return math.log(max(v, 1e-4))


def smallest(r):
    norms = r['maskNorms']
    return norms.index(min(norms))


def summary(name, reading, form):
    r = results.get(name)
    if r is None or reading not in r:
        return None
    v = r[reading]
    if form == 'largest log ratio':
        med = log(st.median(v))
        return max(log(x) - med for x in v)
    return v[smallest(r)] - st.median(v)          # 'at the smallest class'


print(f"{len(rows)} design models, {sum(r['name'] in results for r in rows)} read by the experiment\n")
print('| reading | implanted target (patch, low-rate) | their other classes | clean models\' smallest class | AUROC target vs clean smallest |')
print('|---|---|---|---|---|')
patches = [r for r in rows if r['attack'] in ('patch', 'low-rate') and r['name'] in results]
cleans = [r for r in rows if r['label'] == '0' and r['name'] in results]
for reading in READINGS:
    if not all(reading in results[r['name']] for r in patches + cleans):
        continue
    at_target = [results[r['name']][reading][int(r['target'])] for r in patches]
    others = [v for r in patches for k, v in enumerate(results[r['name']][reading]) if k != int(r['target'])]
    clean = [results[r['name']][reading][smallest(results[r['name']])] for r in cleans]
    print(f"| {reading} | {st.mean(at_target):.3f} | {st.mean(others):.3f} | {st.mean(clean):.3f} | {auroc(at_target, clean):.3f} |")


def refit(label, extra):
    x, y, fam = [], [], []
    for r in rows:
        x.append([float(r[f]) if r[f] != '' else None for f in FIVE] + ([summary(r['name'], *extra)] if extra else []))
        y.append(int(r['label'])); fam.append(r['attack'])
    # A missing value takes the design mean, as the fit imputes it.
    loss, area, caught, backdoored, per = leave_one_out_catches(x, y, fam, FAMILIES)
    cells = ' | '.join(f"{c}/{n}" for c, n in per)
    print(f"| {label} | {loss:.4f} | {area:.3f} | {caught}/{backdoored} | {cells} |")


print('\n| the fit\'s five features and | leave-one-out log loss | AUROC | caught at the clean 95 % point | ' + ' | '.join(FAMILIES) + ' |')
print('|---|---|---|---|' + '---|' * len(FAMILIES))
refit('nothing more (the fit in use\'s features)', None)
for reading in READINGS:
    for form in ('largest log ratio', 'at the smallest class'):
        refit(f'{reading}, {form}', (reading, form))
