#!/usr/bin/env python3
"""Reads the `unlearning-collapse` experiment's findings (design split only) and prints AUROC against the clean
design models for readings fixed before the survey was read (README.md). Usage: read.py SURVEY.jsonl [...]"""
import json
import sys


def auroc(positive, negative):
    """Mann-Whitney AUROC; ties count one half."""
    if not positive or not negative:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def first_below(det, level):
    """Index of the first checkpoint where the agreement on the unlearning inputs is below level, or the last."""
    for i, a in enumerate(det["agreement"]):
        if a < level:
            return i
    return len(det["agreement"]) - 1


def readings(det):
    i20 = first_below(det, 0.2)
    i50 = first_below(det, 0.5)
    shares = det["shares"][i20]
    top = max(range(len(shares)), key=lambda k: shares[k])
    shift = det["logitShift"][i50]
    ordered = sorted(shift, reverse=True)
    median = ordered[len(ordered) // 2]
    spread = ordered[0] - median
    return {
        "top share at agreement < 0.2": (shares[top], top),
        "steps to agreement < 0.5 (fewer = higher)": (-det["steps"][i50], max(range(len(shift)), key=lambda k: shift[k])),
        "largest logit shift over the runner-up at agreement < 0.5": (
            (ordered[0] - ordered[1]) / spread if spread > 0 else 0.0, max(range(len(shift)), key=lambda k: shift[k])),
    }


def family(name):
    """The zoo's attack family, as its model names spell it."""
    for f in ("source-specific", "low-rate", "patch", "blend", "warp", "clean"):
        if f"-{f}-s" in name:
            return f
    raise ValueError(name)


def main(paths):
    rows = []
    for path in paths:
        for line in open(path):
            d = json.loads(line)
            finding = d["probes"].get("unlearning-collapse")
            if finding is None or "agreement" not in finding.get("details", {}):
                continue
            attack = d["recipe"]["attack"]
            if attack != "None" and not d.get("implanted"):
                continue
            rows.append((d["name"], family(d["name"]), d["recipe"]["targetClass"], readings(finding["details"])))
    clean = [r for r in rows if r[1] == "clean"]
    backdoored = [r for r in rows if r[1] != "clean"]
    families = sorted({r[1] for r in backdoored})
    print(f"{len(clean)} clean, {len(backdoored)} backdoored design models")
    print("| reading | " + " | ".join(f"{f} ({sum(r[1] == f for r in backdoored)})" for f in families) + f" | all ({len(backdoored)}) | right target |")
    print("|---" * (len(families) + 3) + "|")
    for name in rows[0][3]:
        negative = [r[3][name][0] for r in clean]
        cells = [auroc([r[3][name][0] for r in backdoored if r[1] == f], negative) for f in families]
        overall = auroc([r[3][name][0] for r in backdoored], negative)
        right = sum(r[3][name][1] == r[2] for r in backdoored)
        print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {overall:.3f} | {right}/{len(backdoored)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
