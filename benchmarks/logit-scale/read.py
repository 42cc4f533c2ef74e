"""Summarises benchmarks/logit-scale/results.jsonl: per logit scale, trojan-likelihood's verdicts and p on the clean and
backdoored models, and the supporting controls' verdicts. Pure Python 3."""
import json, os

rows = [json.loads(l) for l in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results.jsonl'))]
clean = lambda r: '-clean-' in r['model']
print('| logits × | clean failed | largest clean p | backdoored caught | smallest backdoored p | verdicts changed from × 1 | Neural Cleanse: clean failed, caught | STRIP: clean failed, caught |')
print('|---:|---:|---:|---:|---:|---:|---|---|')
base = {r['model']: r for r in rows if r['logitScale'] == 1}
for k in (1, 0.5, 2):
    sel = [r for r in rows if r['logitScale'] == k]
    c = [r for r in sel if clean(r)]; b = [r for r in sel if not clean(r)]
    print(f"| {k} | {sum(r['verdict'] == 'Fail' for r in c)}/{len(c)} | {max(r['probability'] for r in c):.3f} | {sum(r['verdict'] == 'Fail' for r in b)}/{len(b)} | "
          f"{min(r['probability'] for r in b):.3f} | {sum(r['verdict'] != base[r['model']]['verdict'] for r in sel)} | "
          f"{sum(r['neuralCleanse'] == 'Fail' for r in c)}/{len(c)}, {sum(r['neuralCleanse'] == 'Fail' for r in b)}/{len(b)} | "
          f"{sum(r['strip'] == 'Fail' for r in c)}/{len(c)}, {sum(r['strip'] == 'Fail' for r in b)}/{len(b)} |")
