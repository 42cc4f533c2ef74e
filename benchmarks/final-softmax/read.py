"""Tabulates benchmarks/final-softmax: trojan-likelihood's verdict, p and features per model and variant. With an
output folder of run.sh, reads its findings (plain and softmax-appended); without, reads results.jsonl. Pure Python 3."""
import json, os, sys

F = ['logRatioGap', 'saliency-persistence.statistic', 'warp-inversion.statistic', 'contrastive-patch.statistic', 'blend-inversion.statistic']
here = os.path.dirname(os.path.abspath(__file__))
rows = []
if len(sys.argv) > 1:
    for n in (l.strip() for l in open(os.path.join(here, 'models.txt')) if l.strip()):
        for v in ('plain', 'softmax'):
            f = json.load(open(os.path.join(sys.argv[1], f'f-{n}-{v}.json')))['trojan-likelihood']
            d = f['details']
            rows.append({'model': n, 'variant': v + (' (read before it)' if v == 'softmax' and 'finalNormaliser' in d else ''),
                         'verdict': f['verdict'], 'probability': d.get('probability'), 'suspectedTargetClass': d.get('suspectedTargetClass'), 'features': d.get('features', {})})
else:
    rows = [json.loads(l) for l in open(os.path.join(here, 'results.jsonl'))]
print('| model | variant | verdict | p | class | ' + ' | '.join(f.split('.')[0] for f in F) + ' |')
print('|---|---|---|---:|---:|' + '---:|' * len(F))
for r in rows:
    print(f"| {r['model']} | {r['variant']} | {r['verdict']} | {r['probability']:.3f} | {r['suspectedTargetClass']} | "
          + ' | '.join(f"{r['features'].get(f, float('nan')):.2f}" for f in F) + ' |')
