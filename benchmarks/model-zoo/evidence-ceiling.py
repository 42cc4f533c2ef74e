"""How far can any refit of trojan-likelihood over today's statistics go? (docs/probes.md, "The ceiling of today's
evidence".) Every statistic the findings give (the `features` columns: Neural Cleanse's indices and gaps, STRIP,
activation clustering, spectral signatures and the four read-alone detectors), fitted as the zoo fit fits (standardised
ridge-1 logistic regression; an optional detector's missing value takes the training mean), read five ways:

  1. out of sample: fitted on design + calibration, read on test (what a refit over all of them would have given);
  2. in sample, a ceiling and not a rate: fitted on the test split itself and read there, so no linear refit over these
     statistics can separate the test models better than this;
  3. per attack, the best single statistic on test, either direction (no fit at all);
  4. on design and calibration only, Neural Cleanse's smallest mask (log L1 norm) by attack: the one reading that moves
     the other way for source-specific backdoors;
  5. that reading added to the fit in use's four statistics (fitted on design, read on test), whole and above the
     design clean models' median.

From the repository root (pure Python 3, no packages; seconds):
  Z="dotnet tools/Audit.ModelZoo/bin/Release/net10.0/Audit.ModelZoo.dll"
  for s in design calibration test; do $Z features --split $s > /tmp/$s.csv; done
  python3 benchmarks/model-zoo/evidence-ceiling.py /tmp/design.csv /tmp/calibration.csv /tmp/test.csv
"""
import csv, json, math, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_logistic import auroc, logistic, sigmoid, standardiser  # noqa: E402

META = {'name', 'architecture', 'images', 'layout', 'scaling', 'attack', 'source', 'target', 'label'}
ATTACKS = ['patch', 'blend', 'low-rate', 'source-specific', 'warp']
IN_USE = ['logNormGap', 'logRatioGap', 'warp-inversion.statistic', 'blend-inversion.statistic']
SURVEY = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'survey')


def load(path, split):
    rows = list(csv.DictReader(open(path)))
    smallest = {}
    for line in open(os.path.join(SURVEY, f'{split}.jsonl')):
        if line.strip():
            d = json.loads(line)
            smallest[d['name']] = math.log(max(min(d['probes']['neural-cleanse']['details']['maskNorms']), 1e-3))
    for r in rows:
        r['smallestMask'] = smallest[r['name']]
    return rows


def fit(train, names):
    """The score function of a fit on train over names (the log-odds; monotone in p)."""
    means = {}
    for k in names:
        vals = [float(r[k]) for r in train if r[k] not in ('', None)]
        means[k] = sum(vals) / len(vals)
    value = lambda r, k: float(r[k]) if r[k] not in ('', None) else means[k]
    x = [[value(r, k) for k in names] for r in train]
    z = standardiser(x)
    beta = logistic([z(v) for v in x], [int(r['label']) for r in train])
    return lambda r: sum(b * v for b, v in zip(beta, z([value(r, k) for k in names]) + [1.0]))


def read(score, rows):
    neg = [score(r) for r in rows if r['label'] == '0']
    pos = lambda a: [score(r) for r in rows if r['label'] == '1' and (a is None or r['attack'] == a)]
    cut = sorted(neg, reverse=True)[len(neg) // 20]  # the clean models above it are at most 5 %
    caught = sum(1 for s in pos(None) if s > cut)
    by = ', '.join(f'{a} {auroc(pos(a), neg):.3f}' for a in ATTACKS if pos(a))
    return f'AUROC {auroc(pos(None), neg):.3f}; caught {caught}/{len(pos(None))} at ≤ 5 % clean failed (cut on these clean models); by attack: {by}'


design, calibration, test = (load(p, s) for p, s in zip(sys.argv[1:4], ['design', 'calibration', 'test']))
every = [k for k in design[0] if k not in META and k != 'smallestMask']
print(f'{len(every)} statistics: {", ".join(every)}')
print(f'test split: {sum(r["label"] == "0" for r in test)} clean, {sum(r["label"] == "1" for r in test)} backdoored')
print('1. out of sample (fitted on design + calibration, read on test)')
print(f'   the fit in use\'s four, refitted:  {read(fit(design + calibration, IN_USE), test)}')
print(f'   every statistic:                 {read(fit(design + calibration, every), test)}')
print('2. in sample (fitted on test, read on test: a ceiling, not a rate)')
print(f'   the four:                        {read(fit(test, IN_USE), test)}')
print(f'   every statistic:                 {read(fit(test, every), test)}')
print('3. the best single statistic per attack on test, either direction (no fit)')
neg = [r for r in test if r['label'] == '0']
for a in ATTACKS:
    pos = [r for r in test if r['label'] == '1' and r['attack'] == a]
    best = []
    for k in every + ['smallestMask']:
        known = [float(r[k]) for r in test if r[k] not in ('', None)]
        mean = sum(known) / len(known)
        v = lambda r: float(r[k]) if r[k] not in ('', None) else mean
        au = auroc([v(r) for r in pos], [v(r) for r in neg])
        best.append((max(au, 1 - au), k, 'higher' if au >= 0.5 else 'lower'))
    best.sort(reverse=True)
    print(f'   {a} ({len(pos)}): ' + '; '.join(f'{k} {s:.3f} ({d} when backdoored)' for s, k, d in best[:2]))
print('4. Neural Cleanse\'s smallest mask, log L1 norm: AUROC of "smaller when backdoored", design and calibration only')
for name, rows in [('design', design), ('calibration', calibration)]:
    neg = [-r['smallestMask'] for r in rows if r['label'] == '0']
    by = ', '.join(f'{a} {auroc([-r["smallestMask"] for r in rows if r["label"] == "1" and r["attack"] == a], neg):.3f}'
                   for a in ATTACKS if any(r['attack'] == a and r['label'] == '1' for r in rows))
    print(f'   {name}: {by}')
print('5. the smallest mask added to the fit in use\'s four (fitted on design, read on test)')
median = sorted(r['smallestMask'] for r in design if r['label'] == '0')[sum(r['label'] == '0' for r in design) // 2]
for rows in (design, calibration, test):
    for r in rows:
        r['smallestMaskAboveCleanMedian'] = max(0.0, r['smallestMask'] - median)
print(f'   the four:                        {read(fit(design, IN_USE), test)}')
print(f'   + smallestMask:                  {read(fit(design, IN_USE + ["smallestMask"]), test)}')
print(f'   + its part above the design clean median: {read(fit(design, IN_USE + ["smallestMaskAboveCleanMedian"]), test)}')
