#!/usr/bin/env python3
"""The crossed slice's reading (README.md, "The reading's rule"): the committed verdict per unseen pair of
architecture and attack, against the committed test split's clean models, beside the same attack on the
architectures the catalog pairs it with. Run from the repository root after building tools/Audit.ModelZoo:

    python3 benchmarks/model-zoo-crossed/read.py

It copies this slice's survey lines and the committed test split's into a scratch cache, runs the zoo tool's
`report --split test` on it (which computes every p with the model in use) and reads its per-model table."""
import json, os, subprocess, sys, tempfile

ROOT = os.getcwd()
ZOO = ["dotnet", os.path.join(ROOT, "tools/Audit.ModelZoo/bin/Release/net10.0/Audit.ModelZoo.dll")]
CROSSED = os.path.join(ROOT, "benchmarks/model-zoo-crossed/survey/test.jsonl")
COMMITTED = os.path.join(ROOT, "benchmarks/model-zoo/survey/test.jsonl")


def family(recipe):
    attack = recipe.get("attack", "None")
    if attack == "None":
        return "clean"
    if recipe.get("sourceClass", -1) >= 0:
        return "source-specific"
    if attack in ("Blend", "Warp"):
        return attack.lower()
    return "low-rate" if recipe["poisonRate"] < 0.03 else "patch"


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def verdicts(records):
    """name -> (p, class) from `report`'s per-model table, computed by the fit in use."""
    with tempfile.TemporaryDirectory() as scratch:
        os.makedirs(os.path.join(scratch, "survey"))
        with open(os.path.join(scratch, "survey", "test.jsonl"), "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        text = subprocess.run(ZOO + ["report", "--split", "test", "--cache", scratch], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    out = {}
    for row in text.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 13 and cells[11] in ("pass", "**fail**"):
            p, _, cls = cells[10].partition(" (")
            out[cells[0]] = (float(p), int(cls.rstrip(")")) if cls.rstrip(")").isdigit() else None, cells[11] == "**fail**")
    return out


def auroc(pos, neg):
    if not pos or not neg:
        return float("nan")
    return sum(1 if p > n else 0.5 if p == n else 0 for p in pos for n in neg) / (len(pos) * len(neg))


def table(records, key, title, v, clean):
    print(f"| {title} | implants that took | failed (right target) | AUROC p vs clean | p of each | not counted (attack success) |")
    print("|---|---|---|---|---|---|")
    groups = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    totals = [0, 0, 0]
    for name, rs in groups.items():
        took = [r for r in rs if r.get("implanted")]
        failed = [r for r in took if v[r["name"]][2]]
        right = [r for r in failed if v[r["name"]][1] == r["recipe"]["targetClass"]]
        ps = [v[r["name"]][0] for r in took]
        left = [f"{r['name']} ({r['attackSuccessRate']:.0%})" for r in rs if not r.get("implanted")]
        totals[0] += len(took); totals[1] += len(failed); totals[2] += len(right)
        print(f"| {name} | {len(took)}/{len(rs)} | {len(failed)} ({len(right)}) | {auroc(ps, clean):.3f} | {', '.join(f'{p:.2f}' for p in ps)} | {'; '.join(left) or '–'} |")
    all_p = [v[r["name"]][0] for r in records if r.get("implanted")]
    print(f"| **all {len(records)}** | {totals[0]} | {totals[1]} ({totals[2]}) | {auroc(all_p, clean):.3f} | | |")


def main():
    crossed, committed = lines(sys.argv[1] if len(sys.argv) > 1 else CROSSED), lines(COMMITTED)
    seed = crossed[0]["auditSeed"]
    committed = [r for r in committed if r["auditSeed"] == seed]
    v = verdicts(crossed + committed)
    clean = [v[r["name"]][0] for r in committed if family(r["recipe"]) == "clean" and r["name"] in v]
    clean_failed = sum(v[r["name"]][2] for r in committed if family(r["recipe"]) == "clean" and r["name"] in v)
    print(f"yardstick: {len(clean)} clean models of the committed test split, {clean_failed} failed")
    print()
    seen_pairs = {(r["recipe"]["architecture"], family(r["recipe"])) for r in committed if family(r["recipe"]) != "clean"}
    first = [r for r in crossed if (r["recipe"]["architecture"], family(r["recipe"])) not in seen_pairs]
    second = [r for r in crossed if (r["recipe"]["architecture"], family(r["recipe"])) in seen_pairs]
    table(first, lambda r: f'{r["recipe"]["architecture"]}, {family(r["recipe"])}', "pair (architecture, attack) never built", v, clean)
    print()
    table(second, lambda r: f'{r["recipe"]["architecture"]}, {family(r["recipe"])}, {r["recipe"].get("scaling", "Unit")}', "built pair, in a scaling it never meets", v, clean)
    print()
    print("The same attacks on the architectures the catalog pairs them with (committed test split):")
    print()
    print("| attack | architectures | implants | failed (right target) | AUROC p vs clean |")
    print("|---|---|---|---|---|")
    for fam in ("blend", "source-specific", "warp", "low-rate"):
        rs = [r for r in committed if family(r["recipe"]) == fam and r.get("implanted") and r["name"] in v]
        failed = [r for r in rs if v[r["name"]][2]]
        right = [r for r in failed if v[r["name"]][1] == r["recipe"]["targetClass"]]
        archs = sorted({r["recipe"]["architecture"] for r in rs})
        print(f"| {fam} | {', '.join(archs)} | {len(rs)} | {len(failed)} ({len(right)}) | {auroc([v[r['name']][0] for r in rs], clean):.3f} |")
    placements(crossed, committed, v, clean)


def placement(recipe):
    """centre when the patch's middle lies in the middle half of the image both ways (ZooRecipe.PlacementName)."""
    size = 28 if recipe.get("images", "Gray28") == "Gray28" else 32
    inside = lambda start: size // 2 <= 2 * start + recipe["patchSize"] < 3 * size // 2
    return "centre" if inside(recipe["patchRow"]) and inside(recipe["patchColumn"]) else "border"


def placements(crossed, committed, v, clean):
    print()
    print("All-to-one patch triggers (plain and low-rate) by where they sit:")
    print()
    print("| models | placement | implants | failed (right target) | AUROC p vs clean | Neural Cleanse alone at 2 |")
    print("|---|---|---|---|---|---|")
    for label, records in (("committed test split", committed), ("crossed slice", crossed)):
        for where in ("border", "centre"):
            rs = [r for r in records if family(r["recipe"]) in ("patch", "low-rate") and r.get("implanted") and placement(r["recipe"]) == where and r["name"] in v]
            failed = [r for r in rs if v[r["name"]][2]]
            right = [r for r in failed if v[r["name"]][1] == r["recipe"]["targetClass"]]
            nc = sum(r["probes"]["neural-cleanse"]["statistic"] >= 2 for r in rs)
            print(f"| {label} | {where} | {len(rs)} | {len(failed)} ({len(right)}) | {auroc([v[r['name']][0] for r in rs], clean):.3f} | {nc} |")


if __name__ == "__main__":
    sys.exit(main())
