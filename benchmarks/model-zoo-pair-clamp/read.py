#!/usr/bin/env python3
"""Reads the pair search against a clamped copy of the model (README.md), design split.

Usage: read.py readings CLAMP.jsonl...   AUROC of the readings fixed before the run was read, against the clean
                                         design models, by attack family
       read.py locality LOCALITY.jsonl...  how local the pre-screened pairs' masks are on the model (the second run)
       read.py others LOCALITY.jsonl...    what the pairs' triggers do to the other classes' inputs (the third run)
       read.py implants CLAMP.jsonl...   per source-specific model: the implanted pair's norm on the model and on each
                                         clamped copy, and how much the clamp moved it against the other pairs
"""
import importlib.util
import math
import os
import statistics
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("prescreen_read", os.path.join(_here, "..", "model-zoo-pair-prescreen", "read.py"))
prescreen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prescreen)

VARIANTS = ("deep", "input", "first")


def log(n):
    return math.log(max(n, 1e-3))


def readings(f):
    """Fixed before the run was read: the model's own median − smallest log norm over the pre-screened pairs (the
    2026-12-07 search's reading, for comparison), and per clamped copy the median less the smallest of
    log(norm on the model) − log(norm on the clamped copy); each names the smallest pair."""
    rows = [tuple(r) for r in f["rows"]]
    own = [log(n) for n in f["maskNorms"]]
    at = min(range(len(own)), key=lambda i: own[i])
    found = {"plain (the model's own norms)": (statistics.median(own) - own[at], rows[at])}
    for v in VARIANTS:
        y = f["yardsticks"].get(v, {})
        if "norms" not in y:
            continue
        d = [a - log(b) for a, b in zip(own, y["norms"])]
        at = min(range(len(d)), key=lambda i: d[i])
        found[f"against the {v} clamp"] = (statistics.median(d) - d[at], rows[at])
    return found


def robust_extreme(values, rows):
    """(x − median) / (1.4826 · MAD) at the largest x, and its pair; MAD floored at 10⁻³."""
    med = statistics.median(values)
    mad = max(statistics.median([abs(v - med) for v in values]), 1e-3)
    at = max(range(len(values)), key=lambda i: values[i])
    return (values[at] - med) / (1.4826 * mad), rows[at]


def locality_readings(f):
    """Fixed before the locality run was read (README.md): over the pairs whose trigger works (at least three), the
    robust z of the 3 × 3 share and of the share in a window sized by the mask's own L1 norm, and the largest 3 × 3
    share; each names the pair at its extreme."""
    loc = f["locality"]
    rows = [tuple(r) for r in f["rows"]]
    working = [i for i, ok in enumerate(loc["reached"]) if ok]
    if len(working) < 3:
        return {}
    share3 = [loc["share3"][i] for i in working]
    sized = [loc["shareSized"][i] for i in working]
    pairs = [rows[i] for i in working]
    at = max(range(len(share3)), key=lambda i: share3[i])
    return {
        "robust z of the 3 × 3 share": robust_extreme(share3, pairs),
        "robust z of the share in a window sized by the mask": robust_extreme(sized, pairs),
        "largest 3 × 3 share": (share3[at], pairs[at]),
    }


def locality(paths):
    rows = []
    for d, f in prescreen.lines(paths, "pair-clamp"):
        if "locality" not in f:
            continue
        found = locality_readings(f)
        if found:
            rows.append((d["name"], prescreen.family(d["name"]), (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found))
    print(f"{sum(r[1] == 'clean' for r in rows)} clean and {sum(r[1] != 'clean' for r in rows)} backdoored models")
    prescreen.table(rows, list(rows[0][3]))


def other_readings(f):
    """Fixed before the third run was read (README.md): at the model's cheapest working pair, the negated log of the
    mean KL divergence its trigger causes on inputs of the other classes; the same less the median over the working
    pairs; and the negated log ratio of that divergence to the inverted pattern's."""
    loc = f["locality"]
    rows = [tuple(r) for r in f["rows"]]
    working = [i for i, ok in enumerate(loc["reached"]) if ok]
    if len(working) < 3:
        return {}
    at = min(working, key=lambda i: f["maskNorms"][i])
    quiet = {i: -math.log(loc["otherClassesDivergence"][i] + 1e-4) for i in working}
    return {
        "cheapest pair: −log KL on the other classes": (quiet[at], rows[at]),
        "the same less its median over the working pairs": (quiet[at] - statistics.median(quiet.values()), rows[at]),
        "cheapest pair: −log (KL / KL of the inverted pattern)": (
            -(math.log(loc["otherClassesDivergence"][at] + 1e-4) - math.log(loc["invertedDivergence"][at] + 1e-4)), rows[at]),
    }


def others(paths):
    rows = []
    for d, f in prescreen.lines(paths, "pair-clamp"):
        if "otherClassesDivergence" not in f.get("locality", {}):
            continue
        found = other_readings(f)
        if found:
            rows.append((d["name"], prescreen.family(d["name"]), (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found))
    print(f"{sum(r[1] == 'clean' for r in rows)} clean and {sum(r[1] != 'clean' for r in rows)} backdoored models")
    prescreen.table(rows, list(rows[0][3]))


def collect(paths):
    rows = []
    for d, f in prescreen.lines(paths, "pair-clamp"):
        if "rows" not in f:
            continue
        rows.append((d["name"], prescreen.family(d["name"]), (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), readings(f), f))
    return rows


def show_readings(paths):
    rows = collect(paths)
    print(f"{sum(r[1] == 'clean' for r in rows)} clean and {sum(r[1] != 'clean' for r in rows)} backdoored models")
    for v in VARIANTS:
        present = [r[4]["yardsticks"][v] for r in rows if "units" in r[4]["yardsticks"].get(v, {})]
        if present:
            share = [p["clamped"] / p["units"] for p in present]
            seconds = [p["seconds"] for p in present]
            print(f"{v}: {len(present)} models; units clamped, median share {statistics.median(share):.3f} "
                  f"({min(share):.3f}–{max(share):.3f}); seconds median {statistics.median(seconds):.1f}, largest {max(seconds):.1f}")
    names = list(rows[0][3])
    for r in rows:
        names += [n for n in r[3] if n not in names]
    prescreen.table([r[:4] for r in rows], names)


def implants(paths):
    print("| model | pair | norm on the model | " + " | ".join(f"{v}: norm, log ratio, its rank among the pairs" for v in VARIANTS) + " |")
    print("|---" * (3 + len(VARIANTS)) + "|")
    for name, fam, pair, _, f in collect(paths):
        if fam != "source-specific":
            continue
        rows = [tuple(r) for r in f["rows"]]
        if pair not in rows:
            print(f"| {name} | {pair[0]} → {pair[1]} | not searched |" + " |" * len(VARIANTS))
            continue
        i = rows.index(pair)
        cells = []
        for v in VARIANTS:
            y = f["yardsticks"].get(v, {})
            if "norms" not in y:
                cells.append("none")
                continue
            d = [log(b) - log(a) for a, b in zip(f["maskNorms"], y["norms"])]
            rank = sum(x >= d[i] for x in d)
            cells.append(f"{y['norms'][i]:.1f}, {d[i]:+.2f}, {rank}/{len(d)}")
        print(f"| {name} | {pair[0]} → {pair[1]} | {f['maskNorms'][i]:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    {"readings": show_readings, "implants": implants, "locality": locality, "others": others}[sys.argv[1]](sys.argv[2:])
