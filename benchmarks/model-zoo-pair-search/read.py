#!/usr/bin/env python3
"""Reads the "or" verdict of benchmarks/model-zoo-pair-search/README.md ("The next candidate") against the fit in use.

usage: read.py or-rule MODEL.json CALIBRATION_LINES CALIBRATION_REPORT.md LINES FEATURES.csv REPORT.md [FIT_SHARE]
       read.py fidelity CACHE...

fidelity: for the lines of each CACHE/survey/SPLIT.jsonl that `survey --add-probe prescreened-pair-search` has reached,
whether the model it read (CACHE/models/NAME-HASH.json, cached or trained again) is the line's model: the same clean
accuracy and attack success as the line records (the line's other detectors read the model trained when the line was
written). Prints the counts per cache and split, and the total.

MODEL.json: the fit in use (src/Audit.Evaluators/Probes/Trojans/TrojanLikelihoodModel.json). CALIBRATION_LINES: the
calibration split's survey lines with `prescreened-pair-search` (survey/calibration.jsonl here);
CALIBRATION_REPORT.md: `report --split calibration` over them, whose per-model table says which models the task check
stops (they have no p and set no cut). LINES, FEATURES.csv, REPORT.md: the survey lines of the models read, `features`
over them, and `report` over them with the fit in use (the per-model verdict column: fail, pass or inconclusive).

The "or" verdict: fail when the fit's p is at or above its calibration clean models' split-conformal point for
FIT_SHARE of the 5 % false-fail budget (default 0.5: 2.5 %), or the pre-screened pair search's statistic is at or above
its own point for the rest over the same clean models (the budget shared by a union bound, weighted Bonferroni);
inconclusive where the fit in use is; a model of more than ten classes is read by the fit alone (the pair search was
calibrated on ten-class models). Its score for the AUROC: the smaller of the two conformal p-values, (1 + #clean
calibration values >= x) / (n + 1), each divided by its share of the budget, read so that a smaller value ranks higher
(weighted min-p; with equal shares, the plain min-p). Pure Python 3.
"""
import csv
import glob
import json
import math
import sys


def conformal(values, alpha):
    ordered = sorted(values)
    n = len(ordered)
    rank = math.ceil((n + 1) * (1 - alpha) - 1e-9)
    return ordered[-1] if rank > n else ordered[max(rank, 1) - 1]


def p_value(x, clean):
    return (1 + sum(1 for c in clean if c >= x)) / (len(clean) + 1)


def auroc(positives, negatives):
    if not positives or not negatives:
        return float("nan")
    return sum((a > b) + 0.5 * (a == b) for a in positives for b in negatives) / (len(positives) * len(negatives))


def attack_name(recipe):
    """The recipe's attack family, as ZooRecipe.AttackName names it."""
    if recipe["attack"] == "None":
        return "clean"
    if recipe["sourceClass"] >= 0:
        return "source-specific"
    if recipe["poisonRate"] < 0.03:
        return "low-rate"
    return recipe["attack"].lower()


def report_rows(path):
    """name -> (verdict word, suspected class) from a report's per-model table."""
    rows = {}
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 13 and cells[0] not in ("model", "---") and not cells[0].startswith("-"):
            verdict = cells[11].replace("*", "")
            klass = cells[10].split("(")[-1].rstrip(")") if "(" in cells[10] else ""
            rows[cells[0]] = (verdict.split()[0] if verdict else verdict, int(klass) if klass.lstrip("-").isdigit() else None)
    return rows


def probability(model, row):
    z = model["intercept"]
    for i, name in enumerate(model["features"]):
        raw = row.get(name, "")
        value = float(raw) if raw != "" else model["means"][i]
        z += model["coefficients"][i] * (value - model["means"][i]) / model["scales"][i]
    t = model["plattSlope"] * z + model["plattIntercept"]
    return 1 / (1 + math.exp(-t)) if t >= 0 else math.exp(t) / (1 + math.exp(t))


def pair_statistic(line):
    result = line["probes"].get("prescreened-pair-search")
    if not result or result.get("verdict") == "inconclusive" or result.get("statistic") is None:
        return None, None
    return result["statistic"], result.get("suspectedClass")


def or_rule(model_file, calibration_lines, calibration_report, lines_file, features_file, report_file, fit_share="0.5"):
    model = json.load(open(model_file, encoding="utf-8"))
    budget = model["defaultTargetFalseFailRate"]
    fit_alpha = budget * float(fit_share)
    pair_alpha = budget - fit_alpha
    clean_p = model["calibrationCleanProbabilities"]
    calibration_verdicts = report_rows(calibration_report)
    clean_s = []
    for text in open(calibration_lines, encoding="utf-8"):
        line = json.loads(text)
        if line["recipe"]["attack"] != "None" or calibration_verdicts.get(line["name"], ("",))[0] not in ("pass", "fail"):
            continue
        statistic, _ = pair_statistic(line)
        if statistic is not None:
            clean_s.append(statistic)
    cut_p, cut_s = conformal(clean_p, fit_alpha), conformal(clean_s, pair_alpha)
    print(f"cuts at {fit_alpha:.4f} and {pair_alpha:.4f}: p >= {cut_p:.6f} (over {len(clean_p)} calibration clean p), pair search >= {cut_s:.4f} (over {len(clean_s)})")
    print(f"the fit in use alone: p >= {conformal(clean_p, budget):.6f}")

    features = {r["name"]: r for r in csv.DictReader(open(features_file, encoding="utf-8"))}
    verdicts = report_rows(report_file)
    tallies = {"in use": {}, "or": {}}
    scores = {"in use": ([], []), "or": ([], [])}
    for text in open(lines_file, encoding="utf-8"):
        line = json.loads(text)
        backdoored = line["recipe"]["attack"] != "None"
        if backdoored and not line.get("implanted"):
            continue
        family = attack_name(line["recipe"])
        target = line["recipe"]["targetClass"]
        verdict, klass = verdicts.get(line["name"], ("inconclusive", None))
        inconclusive = verdict not in ("pass", "fail") or line["name"] not in features
        statistic, pair_class = pair_statistic(line)
        if line["recipe"].get("images") == "Tinted43":
            statistic = None  # more than ten classes: the fit alone
        p = None if inconclusive else probability(model, features[line["name"]])
        in_use = "fail" if verdict == "fail" else "pass"
        if inconclusive:
            either, named = "pass", None
        elif p >= cut_p:
            either, named = "fail", klass
        elif statistic is not None and statistic >= cut_s:
            either, named = "fail", pair_class
        else:
            either, named = "pass", None
        for fit, outcome, name in (("in use", in_use, klass), ("or", either, named)):
            t = tallies[fit].setdefault(family, [0, 0, 0])
            t[0] += 1
            t[1] += outcome == "fail"
            t[2] += outcome == "fail" and backdoored and name == target
        if not inconclusive:
            combined = -min(p_value(p, clean_p) / fit_alpha, p_value(statistic, clean_s) / pair_alpha if statistic is not None else math.inf)
            scores["in use"][backdoored].append(p)
            scores["or"][backdoored].append(combined)
    for fit in ("in use", "or"):
        t = tallies[fit]
        clean = t.get("clean", [0, 0, 0])
        caught = sum(v[1] for k, v in t.items() if k != "clean")
        counted = sum(v[0] for k, v in t.items() if k != "clean")
        right = sum(v[2] for k, v in t.items() if k != "clean")
        families = ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in sorted(t.items()) if k != "clean")
        print(f"{fit:7} clean failed {clean[1]}/{clean[0]}, caught {caught}/{counted} (right target {right}), "
              f"false fails + misses {clean[1] + counted - caught}, AUROC {auroc(scores[fit][1], scores[fit][0]):.3f}; {families}")


def fidelity(caches):
    same = differ = 0
    for cache in caches:
        for name in sorted(glob.glob(f"{cache}/survey/*.jsonl")):
            here = [0, 0]
            for text in open(name, encoding="utf-8"):
                line = json.loads(text)
                if "prescreened-pair-search" not in line["probes"]:
                    continue
                model = json.load(open(f"{cache}/models/{line['name']}-{line['hash']}.json", encoding="utf-8"))
                here[(model["cleanAccuracy"], model.get("attackSuccessRate")) != (line["cleanAccuracy"], line.get("attackSuccessRate"))] += 1
            print(f"{name}: {here[0]} the line's model, {here[1]} another")
            same, differ = same + here[0], differ + here[1]
    print(f"retrained models equal to their line's: {same}; different: {differ}")


if __name__ == "__main__":
    if len(sys.argv) in (8, 9) and sys.argv[1] == "or-rule":
        or_rule(*sys.argv[2:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "fidelity":
        fidelity(sys.argv[2:])
    else:
        sys.exit(__doc__)
