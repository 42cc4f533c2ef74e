"""Reads blend inversion with and without the distilled reference on the design split (results.jsonl beside this file)."""
import json, math, statistics, sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else 'benchmarks/model-zoo-blend-contrast/results.jsonl'
rows = [json.loads(l) for l in open(path)]


def logit_gap(success, tried):
    # UniversalTriggerInversion.LogitGap: largest empirical logit of a class's held-out successes less the median.
    # success is rounded to 4 decimals in the finding: the counts are whole numbers.
    logits = [math.log((round(s * n) + 0.5) / (n - round(s * n) + 0.5)) for s, n in zip(success, tried) if n > 0]
    return max(logits) - statistics.median(logits)


def auroc(pos, neg):
    wins = sum(1 if p > n else 0.5 if p == n else 0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg)) if pos and neg else float('nan')


def family(r):
    rc = r['recipe']
    if rc['attack'] == 'None':
        return 'clean'
    if not r['implanted']:
        return None
    if rc['sourceClass'] >= 0:
        return 'source-specific'
    if rc['attack'] == 'Patch' and rc['poisonRate'] < 0.04:
        return 'low-rate'
    return rc['attack'].lower()


feats = {}
for r in rows:
    d = r['blendContrast']
    n = d['heldOutInputsTried']
    emp = lambda s, k: [math.log((round(x * m) + 0.5) / (m - round(x * m) + 0.5)) for x, m in zip(s, k)]
    diff = [a - b for a, b in zip(emp(d['success'], n), emp(d['referenceSuccess'], n))]
    feats[r['name']] = {
        'plain (committed statistic)': logit_gap(d['success'], n),
        'contrast: hits the reference does not follow': logit_gap(d['contrastSuccess'], n),
        'model less reference log-odds, max - median': max(diff) - statistics.median(diff),
        "reference's own gap": logit_gap(d['referenceSuccess'], n),
    }
    # The recomputation from the finding's rounded shares matches the committed statistic to float precision.
    assert abs(feats[r['name']]['plain (committed statistic)'] - r['blendInversion']) < 1e-3, r['name']

fams = ['blend', 'low-rate', 'patch', 'source-specific', 'warp']
counted = [r for r in rows if family(r)]
print(f"{len(rows)} design lines; {sum(family(r) == 'clean' for r in rows)} clean, "
      f"{sum(family(r) not in (None, 'clean') for r in rows)} backdoored with an implant that took")
print(f"{'reading':46} {'all':>5} " + ' '.join(f'{f[:6]:>6}' for f in fams) + '  clean: median, 95th pct, largest (model)')
for k in next(iter(feats.values())):
    neg = [feats[r['name']][k] for r in counted if family(r) == 'clean']
    pos = [feats[r['name']][k] for r in counted if family(r) != 'clean']
    per = [auroc([feats[r['name']][k] for r in counted if family(r) == f], neg) for f in fams]
    top = max((feats[r['name']][k], r['name']) for r in counted if family(r) == 'clean')
    s = sorted(neg)
    print(f"{k:46} {auroc(pos, neg):5.3f} " + ' '.join(f'{p:6.3f}' for p in per)
          + f"  {statistics.median(s):.2f}, {s[int(0.95 * len(s))]:.2f}, {top[0]:.2f} ({top[1]})")
print()
print('clean medians by architecture/scaling:')
for k in next(iter(feats.values())):
    g = defaultdict(list)
    for r in counted:
        if family(r) == 'clean':
            g[(r['recipe']['architecture'], r['recipe']['scaling'])].append(feats[r['name']][k])
    print(f"  {k[:30]:30} " + ' '.join(f"{a[:5]}/{s[:4]}={statistics.median(v):.2f}" for (a, s), v in sorted(g.items())))
