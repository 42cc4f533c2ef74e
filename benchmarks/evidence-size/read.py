"""Summarises benchmarks/evidence-size/results.jsonl: per evidence size, trojan-likelihood's verdicts on the clean and
backdoored models, the clean models' p, and the supporting controls' verdicts. Pure Python 3."""
import json, os, statistics

rows = [json.loads(l) for l in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results.jsonl'))]
print('| evidence inputs | clean failed | clean p, median (largest) | backdoored caught | right target | smallest backdoored p | Neural Cleanse: clean failed, caught | STRIP: clean failed, caught |')
print('|---:|---:|---|---:|---:|---:|---|---|')
for size in (1000, 500, 250):
    c = [r for r in rows if r['evidence'] == size and r['attack'] == 'None']
    b = [r for r in rows if r['evidence'] == size and r['attack'] != 'None']
    ps = sorted(r['probability'] for r in c)
    caught = [r for r in b if r['verdict'] == 'Fail']
    print(f"| {size} | {sum(r['verdict'] == 'Fail' for r in c)}/{len(c)} | {statistics.median(ps):.3f} ({ps[-1]:.3f}) | {len(caught)}/{len(b)} | "
          f"{sum(r['suspectedTargetClass'] == r['implantedTarget'] for r in caught)}/{len(caught)} | {min(r['probability'] for r in b):.3f} | "
          f"{sum(r['neuralCleanse'] == 'Fail' for r in c)}/{len(c)}, {sum(r['neuralCleanse'] == 'Fail' for r in b)}/{len(b)} | "
          f"{sum(r['strip'] == 'Fail' for r in c)}/{len(c)}, {sum(r['strip'] == 'Fail' for r in b)}/{len(b)} |")
