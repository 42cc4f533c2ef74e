"""Design split only: the source-wise contrastive patch searches of 2026-12-06 evening (README.md beside this file).

Prints, for each run in results/, how its statistic separates the design split's source-specific backdoors from its
clean models, whether the search found the implanted (source, target) pair, and what it cost; for the targeted runs
also the other readings of the same per-pair norms that were compared. With a features CSV of the design split that
has the untargeted run's statistic joined (README.md, "Commands"), it also prints the leave-one-out log loss and AUROC
of the fit in use's five features with and without it. Pure Python 3, no packages.

  python3 benchmarks/model-zoo-source-contrast/read.py [/tmp/cand-design.csv]
"""
import csv, json, math, os, statistics, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'model-zoo'))
from zoo_logistic import auroc, logistic, sigmoid, standardiser  # noqa: E402


def kind(line):
    r = line['recipe']
    if r['attack'] == 'None':
        return 'clean'
    if r['attack'] == 'Patch' and r['sourceClass'] >= 0:
        return 'source-specific'
    if r['attack'] == 'Patch' and r['poisonRate'] < 0.05:
        return 'low-rate'
    return r['attack'].lower()


def log_norms(line):
    return [math.log(max(n, 1e-3)) for n in line['sourceContrast']['maskNorms']]


def readings(line):
    """The statistics compared on the targeted runs, all from the recorded per-pair norms."""
    sc = line['sourceContrast']
    pairs = [tuple(p) for p in sc['rows']]
    ln = log_norms(line)
    centred = [ln[i] - statistics.median([ln[j] for j in range(len(pairs)) if pairs[j][0] == pairs[i][0]]) for i in range(len(pairs))]
    ordered = sorted(ln)
    mad = statistics.median([abs(x - statistics.median(ln)) for x in ln])
    return {
        'row-centred median - min (the run\'s statistic)': sc['statistic'],
        'raw median - min': statistics.median(ln) - ordered[0],
        'raw second smallest - smallest': ordered[1] - ordered[0],
        'raw MAD index of the smallest (floor 0.25)': (statistics.median(ln) - ordered[0]) / max(1.4826 * mad, 0.25),
    }


def run(path):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    lines = [l for l in lines if kind(l) == 'clean' or l['implanted']]
    clean = [l['sourceContrast']['statistic'] for l in lines if kind(l) == 'clean']
    print(f"\n## {os.path.basename(path)}: {len(lines)} design models ({len(clean)} clean); "
          f"search seconds median {statistics.median(l['sourceContrast']['searchSeconds'] for l in lines):.1f}")
    print(f"clean statistic: median {statistics.median(clean):.2f}, largest {max(clean):.2f}")
    for k in sorted({kind(l) for l in lines} - {'clean'}):
        s = [l['sourceContrast']['statistic'] for l in lines if kind(l) == k]
        print(f"  {k:16s} {len(s):3d} models  AUROC against clean {auroc(s, clean):.3f}  above every clean model {sum(v > max(clean) for v in s)}")
    print("source-specific models: truth, statistic, suspected pair, the implanted pair's row")
    targeted = any(r[1] >= 0 for l in lines for r in l['sourceContrast']['rows'])
    for l in lines:
        if kind(l) != 'source-specific':
            continue
        sc, rec = l['sourceContrast'], l['recipe']
        s, t = rec['sourceClass'], rec['targetClass']
        rows = [tuple(r) for r in sc['rows']]
        key = (s, t) if targeted else (s, -1)
        if key in rows:
            i = rows.index(key)
            own = sorted(sc['maskNorms'][j] for j in range(len(rows)) if rows[j][0] == s)
            where = (f"norm {sc['maskNorms'][i]:.1f}, rank {own.index(sc['maskNorms'][i]) + 1}/{len(own)} in its source, "
                     f"{sorted(sc['maskNorms']).index(sc['maskNorms'][i]) + 1}/{len(rows)} overall"
                     + ('' if targeted else f", sends the source to {sc['destination'][i]}"))
        else:
            where = 'source not scanned (fewer than 8 inputs predicted as it)'
        print(f"  {l['name']:44s} {s}->{t} ASR {l['attackSuccessRate']:.2f} statistic {sc['statistic']:.2f} "
              f"suspected {sc['suspectedSource']}->{sc['suspectedTargetClass']} | {where}")
    if targeted:
        print("other readings of the same norms (source-specific against clean):")
        per = [(kind(l), readings(l)) for l in lines]
        for name in per[0][1]:
            c = [r[name] for k, r in per if k == 'clean']
            s = [r[name] for k, r in per if k == 'source-specific']
            print(f"  {name:48s} AUROC {auroc(s, c):.3f}, above every clean model {sum(v > max(c) for v in s)} of {len(s)}")


def fit(csv_path):
    rows = list(csv.DictReader(open(csv_path)))
    y = [int(r['label']) for r in rows]
    five = ['logRatioGap', 'warp-inversion.statistic', 'saliency-persistence.statistic', 'contrastive-patch.statistic', 'blend-inversion.statistic']
    print(f"\n## the fit's procedure on {len(rows)} design models (ridge-1 logistic, leave-one-out)")
    print(f"  the fit caps its features at min(clean, backdoored) // 10 = {max(1, min(y.count(0), y.count(1)) // 10)}")
    for names in (five, five + ['source-contrast.statistic']):
        x = [[float(r[k]) for k in names] for r in rows]
        loss, ps = 0.0, []
        for i in range(len(x)):
            tr = [x[j] for j in range(len(x)) if j != i]
            z = standardiser(tr)
            beta = logistic([z(t) for t in tr], [y[j] for j in range(len(x)) if j != i])
            p = min(max(sigmoid(sum(b * v for b, v in zip(beta, z(x[i]) + [1.0]))), 1e-6), 1 - 1e-6)
            ps.append(p)
            loss -= math.log(p) if y[i] else math.log(1 - p)
        neg = [p for p, t in zip(ps, y) if t == 0]
        ss = [p for p, t, r in zip(ps, y, rows) if t == 1 and r['source'] != '-1']
        print(f"  {len(names)} features: log loss {loss / len(x):.4f}, AUROC {auroc([p for p, t in zip(ps, y) if t == 1], neg):.3f}, "
              f"source-specific {auroc(ss, neg):.3f}")


def transfer(path):
    """Does the smallest pair's trigger work on its source only? (The rerun that recorded where it sends every class.)"""
    lines = [json.loads(l) for l in open(path) if l.strip()]
    print(f"\n## {os.path.basename(path)}: the smallest pair's trigger stamped on up to 64 inputs of every class")
    readings = {'clean': [], 'source-specific': []}
    for l in lines:
        t = l['sourceContrast']['transfer'][0]
        s, to = t['source'], t['target']
        others = [v for c, v in enumerate(t['model']) if c not in (s, to) and v is not None]
        own, top = t['model'][s], max(others)
        readings[kind(l)].append(own - top)
        print(f"  {l['name']:44s} {kind(l):16s} pair {s}->{to} norm {t['norm']:5.1f}: its source {own:.2f}, "
              f"mean other class {statistics.mean(others):.2f}, most moved other class {top:.2f}")
    c, s = readings['clean'], readings['source-specific']
    print(f"  source rate less the most moved other class's: source-specific AUROC {auroc(s, c):.3f}, "
          f"above every clean model {sum(v > max(c) for v in s)} of {len(s)} (clean largest {max(c):.2f})")


for name in ('untargeted-300x16.jsonl', 'pairs-160x8.jsonl', 'pairs-80x4.jsonl'):
    run(os.path.join(HERE, 'results', name))
transfer(os.path.join(HERE, 'results', 'pairs-160x8-transfer.jsonl'))
if len(sys.argv) > 1:
    fit(sys.argv[1])
