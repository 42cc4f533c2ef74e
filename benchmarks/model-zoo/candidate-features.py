"""Design split only: would Neural Cleanse's transfer test or the agreement of the detectors that do not depend on its
candidate join trojan-likelihood's features? (docs/probes.md, "Tried, not adopted: the transfer test and detector
agreement as features".) Mirrors tools/Audit.ModelZoo ZooFit: standardised ridge-1 logistic regression by Newton's
method, mean leave-one-out log loss, greedy forward selection, at most min(clean, backdoored) // 10 features; an optional
detector's missing value takes the design mean, as the fit imputes it. Pure Python 3, no packages.

From the repository root:
  dotnet tools/Audit.ModelZoo/bin/Release/net10.0/Audit.ModelZoo.dll features --split design > /tmp/design.csv
  python3 benchmarks/model-zoo/candidate-features.py /tmp/design.csv benchmarks/model-zoo/survey/design.jsonl \
      logNormGap,saliency-persistence.statistic,warp-inversion.statistic,blend-inversion.statistic,logRatioGap
(the optional third argument: a feature set whose loss to print, here the committed fit's five).
"""
import csv, json, math, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_logistic import logistic, sigmoid, standardiser  # noqa: E402

feat_csv, survey = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(feat_csv)))
recs = {json.loads(l)['name']: json.loads(l) for l in open(survey) if l.strip()}
OPTIONAL = ['weight-signature', 'saliency-persistence', 'blend-inversion', 'warp-inversion']

def candidates_of(r):
    p = recs[r['name']]['probes']
    nc = p['neural-cleanse']['details']
    c = nc['suspectedTargetClass']
    transfer = nc['auditedAttackRate'] - nc['referenceAttackRate']
    agree = sum(1 for d in OPTIONAL if p.get(d, {}).get('verdict') != 'inconclusive' and p.get(d, {}).get('suspectedClass') == c)
    return transfer, agree

for r in rows:
    r['x.transferGap'], r['x.agree'] = candidates_of(r)
y = [int(r['label']) for r in rows]
meta = ['name', 'architecture', 'images', 'layout', 'scaling', 'attack', 'source', 'target', 'label']
base = [k for k in rows[0] if k not in meta and not k.startswith('x.')]
# Like the fit: candidates every model has (an optional detector's missing value imputed with the design mean).
means = {}
for k in base:
    vals = [float(r[k]) for r in rows if r[k] != '']
    means[k] = sum(vals) / len(vals)
def val(r, k):
    v = r[k]
    return float(v) if v != '' else means[k]

def loo(names):
    x = [[val(r, k) if not k.startswith('x.') else float(r[k]) for k in names] for r in rows]
    tot = 0.0
    for i in range(len(x)):
        tr = [x[j] for j in range(len(x)) if j != i]; ty = [y[j] for j in range(len(x)) if j != i]
        z = standardiser(tr)
        beta = logistic([z(t) for t in tr], ty)
        p = min(max(sigmoid(sum(b * v for b, v in zip(beta, z(x[i]) + [1.0]))), 1e-6), 1 - 1e-6)
        tot -= math.log(p) if y[i] == 1 else math.log(1 - p)
    return tot / len(x)

def auroc(k):
    pos = [float(r[k]) if r[k] != '' else means[k] for r in rows if r['label'] == '1']
    neg = [float(r[k]) if r[k] != '' else means[k] for r in rows if r['label'] == '0']
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))

clean = y.count(0); back = y.count(1); cap = max(1, min(clean, back) // 10)
print(f'{clean} clean, {back} backdoored design models; at most {cap} features')
for k in base + ['x.transferGap', 'x.agree']:
    print(f'  AUROC {k}: {auroc(k):.3f}')

def forward(cands):
    chosen, best = [], float('inf')
    while len(chosen) < cap:
        scores = {c: loo(chosen + [c]) for c in cands if c not in chosen}
        c, l = min(scores.items(), key=lambda kv: kv[1])
        extra = {k: round(v, 3) for k, v in scores.items() if k.startswith('x.')}
        if l >= best - 1e-6: break
        print(f'  step {len(chosen) + 1}: {c} {l:.3f}  (candidates: {extra})'); chosen.append(c); best = l
    return chosen, best

if len(sys.argv) > 3:
    print('committed five:', f"{loo(sys.argv[3].split(',')):.3f}")
print('forward selection, base features only:'); print(forward(base))
print('forward selection, with the two candidates:'); print(forward(base + ['x.transferGap', 'x.agree']))
