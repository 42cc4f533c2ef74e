#!/usr/bin/env python3
"""Design split only: does the contrastive patch search gain from a second start per class, either Neural Cleanse's
recovered trigger (a warm start) or another seeded random start? Reads results.jsonl (beside this file: per design
line, each class's contrastive mask norm from the committed search, the warm-started search and the second random
start) and, given the design split's feature CSV, compares trojan-likelihood's five-feature fit with the contrastive
statistic read each way (mean leave-one-out log loss, as ZooFit scores features).

usage: read.py [DESIGN_FEATURES_CSV]
  dotnet /tmp/zmain/Audit.ModelZoo.dll features --split design --cache benchmarks/model-zoo-one-model > /tmp/design.csv
  python3 benchmarks/model-zoo-contrastive-starts/read.py /tmp/design.csv
"""
import csv, json, math, os, statistics, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'model-zoo'))
from zoo_logistic import auroc, leave_one_out  # noqa: E402


def family(r):
    if r['attack'] == 'None':
        return 'clean'
    if r['sourceClass'] >= 0:
        return 'source-specific'
    if r['attack'] == 'Patch' and r['poisonRate'] <= 0.02:
        return 'low-rate'
    return r['attack'].lower()


def gap(norms):
    logs = [math.log(max(v, 1e-3)) for v in norms]
    return statistics.median(logs) - min(logs), logs.index(min(logs))


lines = [json.loads(l) for l in open(os.path.join(here, 'results.jsonl'))]
rows = [r for r in lines if r['attack'] == 'None' or r['implanted']]
READINGS = {
    'committed (one random start)': lambda r: r['committedNorms'],
    'warm start from Neural Cleanse alone': lambda r: r['warmNorms'],
    'committed and warm, smaller per class': lambda r: [min(a, b) for a, b in zip(r['committedNorms'], r['warmNorms'])],
    'second random start alone': lambda r: r['secondStartNorms'],
    'two random starts, smaller per class': lambda r: [min(a, b) for a, b in zip(r['committedNorms'], r['secondStartNorms'])],
}
print(f"{len(rows)} design models counted ({sum(family(r) == 'clean' for r in rows)} clean)")
print('| reading | AUROC all | patch | low-rate | blend | warp | source-specific | clean median / 95th pct / largest | patch targets named |')
print('|---|---|---|---|---|---|---|---|---|')
for name, norms in READINGS.items():
    s = {r['name']: gap(norms(r)) for r in rows}
    clean = sorted(s[r['name']][0] for r in rows if family(r) == 'clean')
    bad = [r for r in rows if family(r) != 'clean']
    cells = [f"{auroc([s[r['name']][0] for r in bad], clean):.3f}"]
    for a in ['patch', 'low-rate', 'blend', 'warp', 'source-specific']:
        cells.append(f"{auroc([s[r['name']][0] for r in bad if family(r) == a], clean):.2f}")
    patches = [r for r in bad if family(r) in ('patch', 'low-rate')]
    named = sum(s[r['name']][1] == r['targetClass'] for r in patches)
    q95 = clean[int(0.95 * len(clean))]
    print(f"| {name} | " + ' | '.join(cells) + f" | {statistics.median(clean):.2f} / {q95:.2f} / {clean[-1]:.2f} | {named}/{len(patches)} |")

if len(sys.argv) > 1:
    FEATURES = ['logRatioGap', 'warp-inversion.statistic', 'saliency-persistence.statistic', 'contrastive-patch.statistic', 'blend-inversion.statistic']
    byname = {r['name']: r for r in rows}
    design = [r for r in csv.DictReader(open(sys.argv[1])) if r['name'] in byname]
    y = [int(r['label']) for r in design]
    print(f"\nThe fit in use's five features, refitted on {len(design)} design models with the contrastive statistic read each way:")
    for name in ['committed (one random start)', 'committed and warm, smaller per class', 'two random starts, smaller per class']:
        x = [[float(r[f]) if f != 'contrastive-patch.statistic' else gap(READINGS[name](byname[r['name']]))[0] for f in FEATURES] for r in design]
        loss, held = leave_one_out(x, y)
        pos = [p for p, t in zip(held, y) if t]
        neg = sorted(p for p, t in zip(held, y) if not t)
        cut = neg[math.ceil(0.95 * (len(neg) + 1)) - 1]
        print(f"  {name}: leave-one-out log loss {loss:.4f}, AUROC {auroc(pos, neg):.3f}, "
              f"caught above the clean models' conformal 95 % point {sum(p > cut for p in pos)}/{len(pos)}")
