"""Compares, per model of benchmarks/input-scale/results.jsonl, the audit as trained with the audit of the same network
taking its input on another scale or standardised inside the graph: verdict, p, suspected class, the five features, and the supporting verdicts. Pure
Python 3."""
import json, os

F = ['logRatioGap', 'saliency-persistence.statistic', 'warp-inversion.statistic', 'contrastive-patch.statistic', 'blend-inversion.statistic']
rows = [json.loads(l) for l in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results.jsonl'))]
pairs = {}
for r in rows:
    pairs.setdefault(r['model'], {})[r['variant']] = r
print('| model | inside the graph | verdict | p | class | largest feature change (which) | Neural Cleanse | STRIP |')
print('|---|---|---|---|---|---|---|---|')
for n, v in pairs.items():
    a = v['as trained']
    b = next(r for k, r in v.items() if k != 'as trained')
    change, which = max((abs(a['features'][f] - b['features'][f]), f.split('.')[0]) for f in F)
    inside = 'x / 255' if '-unit-' in n else 'x · 255' if '-byte-' in n else '(x − 0.286) / 0.353'
    print(f"| {n} | {inside} | {a['verdict']} → {b['verdict']} | {a['probability']:.3f} → {b['probability']:.3f} | {a['suspectedTargetClass']} → {b['suspectedTargetClass']} | "
          f"{change:.2f} ({which}) | {a['neuralCleanse']} → {b['neuralCleanse']} | {a['strip']} → {b['strip']} |")
