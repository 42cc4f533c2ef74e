#!/usr/bin/env python3
"""Reads the first-order pre-screen and the pre-screened contrastive pair search (README.md): the design split, and the
calibration split for the check whose rule README.md sets.

Usage: read.py ranks PRESCREEN.jsonl...   where the implanted pair ranks among the K(K − 1) by the cheap rankings
       read.py search SEARCH.jsonl...     AUROC of the pre-screened search's readings against the clean design models
       read.py refit DESIGN.csv SEARCH.jsonl   the fit's five features refitted on the design split with each
                                          reading added as a sixth (DESIGN.csv: `features --split design --cache
                                          benchmarks/model-zoo-one-model`)
       read.py yardsticks YARDSTICKS.jsonl...   the same search read against a per-pair yardstick: the plain pair search on
                                          the same pairs on the distilled reference, and on a shadow model
       read.py calibration DESIGN.csv CALIBRATION.csv DESIGN_SEARCH.jsonl CALIBRATION_SEARCH.jsonl
                                          the check whose rule README.md sets: the five features, and the five plus
                                          "median − smallest", fitted on design, read on the calibration split
       read.py calibration-yardstick ...  the same for the reading against the shadow (the yardstick run's files)
"""
import csv
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model-zoo"))
from zoo_logistic import clean_quantile_cut, impute, leave_one_out_catches, logistic, sigmoid, standardiser  # noqa: E402

FIVE = ["logRatioGap", "warp-inversion.statistic", "saliency-persistence.statistic", "contrastive-patch.statistic",
        "blend-inversion.statistic"]

FAMILIES = ("source-specific", "low-rate", "patch", "blend", "warp", "clean")


def family(name):
    for f in FAMILIES:
        if f"-{f}-s" in name:
            return f
    raise ValueError(name)


def auroc(positive, negative):
    if not positive or not negative:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in positive for n in negative) / (len(positive) * len(negative))


def lines(paths, probe):
    for path in paths:
        for line in open(path):
            d = json.loads(line)
            if d["recipe"]["attack"] != "None" and not d.get("implanted"):
                continue
            details = d["probes"].get(probe, {}).get("details", {})
            yield d, details


def ranks(paths):
    """Pessimistic rank (ties count against) of the implanted pair among all pairs and among its source's targets."""
    print("| model | pair | source inputs | " + " | ".join(
        f"{k}: of all pairs, of the source's 9" for k in ("mean probability", "mean margin", "first-order pixels", "top-9 gain / margin")) + " |")
    print("|---" * 7 + "|")
    for d, f in lines(paths, "pair-prescreen"):
        if family(d["name"]) != "source-specific" or "sourceInputs" not in f:
            continue
        s, t = d["recipe"]["sourceClass"], d["recipe"]["targetClass"]
        k = len(f["sourceInputs"])
        cells = []
        for key, larger_is_cheaper in (("meanProbability", True), ("meanMargin", False), ("firstOrderPixels", False), ("top9GainOverMargin", True)):
            m = f[key]
            v = m[s][t]
            at_least = (lambda x: x >= v) if larger_is_cheaper else (lambda x: x <= v)
            everywhere = [m[a][b] for a in range(k) for b in range(k) if a != b and m[a][b] is not None]
            own = [m[s][b] for b in range(k) if b != s and m[s][b] is not None]
            cells.append(f"{sum(map(at_least, everywhere))}/{len(everywhere)}, {sum(map(at_least, own))}/{len(own)}")
        print(f"| {d['name']} | {s} → {t} | {f['sourceInputs'][s]} | " + " | ".join(cells) + " |")


def readings(f):
    """The four readings fixed before the search's survey was read (README.md)."""
    rows = [tuple(r) for r in f["rows"]]
    logs = [math.log(max(n, 1e-3)) for n in f["maskNorms"]]
    order = sorted(range(len(rows)), key=lambda i: logs[i])
    smallest = order[0]
    centred = []
    for i, (s, _) in enumerate(rows):
        centred.append(logs[i] - statistics.median([logs[j] for j, r in enumerate(rows) if r[0] == s]))
    transfer = f["transfer"][0]
    source_rate = transfer["model"][transfer["source"]]
    others = [v for c, v in enumerate(transfer["model"]) if c != transfer["source"] and v is not None]
    return {
        "median − smallest log norm": (statistics.median(logs) - logs[smallest], rows[smallest]),
        "the same, each pair centred on its source's searched pairs (the probe's statistic)": (f["statistic"], (f["suspectedSource"], f["suspectedTargetClass"])),
        "log gap from the smallest to the second smallest": (logs[order[1]] - logs[smallest], rows[smallest]),
        "specificity of the smallest pair's trigger (source rate − most moved other class)": (source_rate - max(others), (transfer["source"], transfer["target"])),
    }


def search(paths):
    rows = []
    seconds = []
    for d, f in lines(paths, "source-contrast"):
        if "rows" not in f:
            continue
        rows.append((d["name"], family(d["name"]), (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), readings(f)))
        seconds.append(f["searchSeconds"] + f["prescreenSeconds"])
    print(f"{sum(r[1] == 'clean' for r in rows)} clean and {sum(r[1] != 'clean' for r in rows)} backdoored models; "
          f"pre-screen + search seconds per model (one thread): median {statistics.median(seconds):.1f}, largest {max(seconds):.1f}")
    table(rows, list(rows[0][3]))


def table(rows, names):
    """Per reading: AUROC against the clean models by attack family and over all, how many source-specific models lie
    above every clean one, and on how many the reading's pair is the implanted one. A row is (name, family, implanted
    pair, {reading: (value, pair)}); a model without a reading is left out of that reading's line."""
    attacked = [r for r in rows if r[1] != "clean"]
    families = [f for f in FAMILIES if f != "clean" and any(r[1] == f for r in attacked)]
    print("| reading | " + " | ".join(f"{f} ({sum(r[1] == f for r in attacked)})" for f in families)
          + f" | all ({len(attacked)}) | source-specific above every clean model | implanted pair named |")
    print("|---" * (len(families) + 4) + "|")
    for name in names:
        present = [r for r in rows if name in r[3]]
        negative = [r[3][name][0] for r in present if r[1] == "clean"]
        cells = [auroc([r[3][name][0] for r in present if r[1] == f], negative) for f in families]
        specific = [r for r in present if r[1] == "source-specific"]
        above = sum(r[3][name][0] > max(negative) for r in specific)
        named = sum(tuple(r[3][name][1]) == r[2] for r in specific)
        print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells)
              + f" | {auroc([r[3][name][0] for r in present if r[1] != 'clean'], negative):.3f} | {above} of {len(specific)} | {named} of {len(specific)} |")


def refit(arguments):
    """As benchmarks/model-zoo-trigger-character/read.py: ridge logistic regression, leave-one-out over the design split,
    a missing value (a model the search could not read) taking the design mean, as the fit imputes it."""
    design, paths = arguments[0], arguments[1:]
    rows = list(csv.DictReader(open(design)))
    found = {d["name"]: readings(f) | (yardstick_readings(f) if "yardsticks" in f else {})
             for d, f in lines(paths, "source-contrast") if "rows" in f}
    names = [None] + list(next(iter(found.values())))
    attacks = ["patch", "low-rate", "blend", "warp", "source-specific"]
    print("| the fit's five features and | leave-one-out log loss | caught at the clean 95 % point | " + " | ".join(attacks) + " |")
    print("|---" * (3 + len(attacks)) + "|")
    for name in names:
        x, y, attack = [], [], []
        for r in rows:
            extra = [] if name is None else [found[r["name"]][name][0] if r["name"] in found else None]
            x.append([float(r[f]) if r[f] != "" else None for f in FIVE] + extra)
            y.append(int(r["label"]))
            attack.append(r["attack"])
        loss, _, caught, backdoored, per = leave_one_out_catches(x, y, attack, attacks)
        cells = " | ".join(f"{c}/{n}" for c, n in per)
        print(f"| {name or 'nothing more (the fit in use)'} | {loss:.4f} | {caught}/{backdoored} | {cells} |")


def yardstick_readings(f):
    """Fixed before the yardstick run was read (README.md): per pair, log(the model's contrastive norm) − log(the
    yardstick's plain norm); the statistic is the median of those less the smallest, and the pair is the smallest's."""
    rows = [tuple(r) for r in f["rows"]]
    found = {}
    for key in ("reference", "shadow"):
        if key not in f["yardsticks"]:
            continue
        d = [math.log(max(a, 1e-3)) - math.log(max(b, 1e-3)) for a, b in zip(f["maskNorms"], f["yardsticks"][key])]
        at = min(range(len(d)), key=lambda i: d[i])
        found[f"against the {key}"] = (statistics.median(d) - d[at], rows[at])
    return found


def yardsticks(paths):
    rows = []
    for d, f in lines(paths, "source-contrast"):
        if "yardsticks" not in f:
            continue
        rows.append((d["name"], family(d["name"]), (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), yardstick_readings(f), f["yardsticks"]))
    for key in ("referenceSeconds", "shadowSeconds"):
        values = [r[4][key] for r in rows]
        print(f"{key}: median {statistics.median(values):.1f}, largest {max(values):.1f}")
    print(f"{sum(r[1] == 'clean' for r in rows)} clean and {sum(r[1] != 'clean' for r in rows)} backdoored models")
    table(rows, ["against the reference", "against the shadow"])


def calibration(arguments, candidate="median − smallest log norm"):
    design_csv, calibration_csv, design_search, calibration_search = arguments
    found = {}
    for path in (design_search, calibration_search):
        for d, f in lines([path], "source-contrast"):
            if "rows" in f:
                read = readings(f) | (yardstick_readings(f) if "yardsticks" in f else {})
                if candidate in read:
                    found[d["name"]] = read[candidate][0]

    design = list(csv.DictReader(open(design_csv)))
    held = list(csv.DictReader(open(calibration_csv)))
    print(f"{len(design)} design models; {len(held)} calibration models, {sum(r['name'] in found for r in held)} read by the search")
    five_and_one(design, held, found, candidate)


def five_and_one(design, held, found, candidate):
    """The fit's five features, and the five plus `found` (name → value; a missing one takes the design mean), each
    fitted on the `design` rows and read on the `held` ones (rows of `features` CSVs): one table row each, the AUROC,
    the backdoored models above the held clean models' conformal 95 % point, and those per attack. Returns
    {with the sixth: (AUROC, caught, {attack: caught})}."""
    def matrix(rows, extra, means=None):
        x = [[float(r[f]) if r[f] != "" else None for f in FIVE] + ([found.get(r["name"])] if extra else []) for r in rows]
        return x, impute(x, means)

    attacks = sorted({r["attack"] for r in held if r["label"] == "1"})
    print("| fitted on design, read on calibration | AUROC | caught at the calibration clean 95 % point | " + " | ".join(attacks) + " |")
    print("|---" * (3 + len(attacks)) + "|")
    result = {}
    for extra in (False, True):
        x, means = matrix(design, extra)
        z = standardiser(x)
        beta = logistic([z(v) for v in x], [int(r["label"]) for r in design])
        cx, _ = matrix(held, extra, means)
        p = [sigmoid(sum(b * v for b, v in zip(beta, z(v) + [1.0]))) for v in cx]
        negative = [q for q, r in zip(p, held) if r["label"] == "0"]
        positive = [q for q, r in zip(p, held) if r["label"] == "1"]
        cut = clean_quantile_cut(negative)
        caught = {a: sum(q > cut for q, r in zip(p, held) if r["label"] == "1" and r["attack"] == a) for a in attacks}
        per = " | ".join(f"{caught[a]}/{sum(1 for r in held if r['label'] == '1' and r['attack'] == a)}" for a in attacks)
        value = auroc(positive, negative)
        result[extra] = (value, sum(q > cut for q in positive), caught)
        print(f"| five{' + ' + candidate if extra else ''} | {value:.3f} | {sum(q > cut for q in positive)}/{len(positive)} | {per} |")
    return result


if __name__ == "__main__":
    {"ranks": ranks, "search": search, "refit": refit, "yardsticks": yardsticks, "calibration": calibration,
     "calibration-yardstick": lambda a: calibration(a, "against the shadow")}[sys.argv[1]](sys.argv[2:])
