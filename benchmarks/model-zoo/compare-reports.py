"""Per model, two `report` tables of the same recipes compared: how many keep their verdict, how far p(trojan) moves,
which models cross the threshold or move far, and how the failures and the suspected class change. Written for the
design split resurveyed under the oneDNN kernels the service chooses (docs/probes.md, "Under the kernels the service
now chooses"). Pure Python 3, no packages; from the repository root:

  Z="dotnet tools/Audit.ModelZoo/bin/Release/net10.0/Audit.ModelZoo.dll"
  $Z report --split design > /tmp/first.md
  $Z report --split design --cache benchmarks/model-zoo-design-avx > /tmp/second.md
  python3 benchmarks/model-zoo/compare-reports.py /tmp/first.md /tmp/second.md
"""
import re, sys


def table(path):
    """model → p, class, verdict, accuracy, attack success, trigger, from the report's per-model table."""
    out = {}
    for line in open(path):
        if not line.startswith('| ') or line.startswith('| model') or line.startswith('| group') or line.count('|') <= 12:
            continue
        c = [x.strip() for x in line.strip().strip('|').split('|')]
        m = re.match(r'([0-9.]+) \((\d+)\)', c[10])
        if m:
            out[c[0]] = dict(p=float(m.group(1)), cls=int(m.group(2)), verdict=c[11].strip('*'), acc=c[3], asr=c[4], trigger=c[1])
    return out


first, second = table(sys.argv[1]), table(sys.argv[2])
common = [n for n in first if n in second]
moves = sorted(abs(first[n]['p'] - second[n]['p']) for n in common)
same = sum(first[n]['verdict'] == second[n]['verdict'] for n in common)
print(f'{len(common)} models in both; the same verdict for {same}; |Δp| median {moves[len(moves) // 2]:.3f}, '
      f'90th percentile {moves[int(0.9 * (len(moves) - 1))]:.3f}, largest {moves[-1]:.3f}; within 0.06 for {sum(d <= 0.06 for d in moves)}')
for n in common:
    a, b = first[n], second[n]
    if a['verdict'] != b['verdict'] or abs(a['p'] - b['p']) > 0.2:
        print(f"  {n}: {a['trigger'][:28]}; p {a['p']} {a['verdict']} → {b['p']} {b['verdict']} (accuracy {a['acc']} → {b['acc']}, attack success {a['asr']} → {b['asr']})")
for label, chosen in [('clean', lambda n: first[n]['trigger'] == 'none'), ('poisoned', lambda n: first[n]['trigger'] != 'none')]:
    names = [n for n in common if chosen(n)]
    shift = sorted(second[n]['p'] - first[n]['p'] for n in names)
    print(f"{label}: {len(names)} models; failed {sum(first[n]['verdict'] == 'fail' for n in names)} → {sum(second[n]['verdict'] == 'fail' for n in names)}; "
          f"signed Δp median {shift[len(shift) // 2]:+.3f}, mean {sum(shift) / len(shift):+.3f}, up for {sum(x > 0 for x in shift)}; "
          f"the same suspected class for {sum(first[n]['cls'] == second[n]['cls'] for n in names)}")
