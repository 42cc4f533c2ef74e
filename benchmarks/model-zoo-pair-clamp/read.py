#!/usr/bin/env python3
"""Reads the pair search against a clamped copy of the model (README.md), design split.

Usage: read.py readings CLAMP.jsonl...   AUROC of the readings fixed before the run was read, against the clean
                                         design models, by attack family
       read.py locality LOCALITY.jsonl...  how local the pre-screened pairs' masks are on the model (the second run)
       read.py others LOCALITY.jsonl...    what the pairs' triggers do to the other classes' inputs (the third run)
       read.py prior DATASETS_DIR PROBE SEARCH.jsonl   offline: each pair's log norm as its residual from a line over
                                         the model's pairs against a data-level closeness of the two classes
                                         (DATASETS_DIR: a zoo cache's datasets/, the evidence files)
       read.py nc-ratio PROBE SEARCH.jsonl   offline: Neural Cleanse's median class mask (from
                                         benchmarks/model-zoo-design-avx) against the cheapest pair
       PROBE: pair-clamp for this folder's files, source-contrast for benchmarks/model-zoo-pair-prescreen's
       read.py crossed CATALOG.jsonl CROSSED.jsonl...   the fourth run: the best readings on the crossed slice's design
                                         models (CROSSED: survey lines with neural-cleanse and pair-clamp) and on the
                                         catalog's (CATALOG: others-80x4.jsonl), against the catalog's clean design models
       read.py wide CATALOG.jsonl CROSSED.jsonl   the sixth run: the shadow and the wide shadow as yardsticks (CATALOG: the
                                         catalog's clean and source-specific design models; CROSSED: the crossed ones)
       read.py calibration-shadow CATALOG.jsonl CROSSED.jsonl   the seventh run's rule (README.md): the shadow yardstick
                                         on the calibration split's source-specific models against its clean ones
                                         (CATALOG: ../model-zoo-pair-prescreen/calibration-yardsticks-80x4.jsonl)
       read.py symmetry DESIGN.jsonl...   the eighth run on the design split (clean and source-specific lines)
       read.py symmetry-calibration CALIBRATION.jsonl...   the same on the calibration split, under its rule
       read.py specificity DESIGN.jsonl...   the ninth run on the design split
       read.py specificity-calibration CALIBRATION.jsonl...   the same on the calibration split, under its rule
       read.py refit-calibration DESIGN.csv CALIBRATION.csv CROSSED_CALIBRATION.csv SIXTH.jsonl...   the tenth run's
                                         rule: the fit's five features, and five plus the thorough pass's cost reading,
                                         fitted on design, read on the calibration models and the crossed slice's 12
                                         calibration source-specific ones (CSVs: `features`; SIXTH: this folder's
                                         thorough-pass lines)
       read.py design-refit DESIGN.csv CROSSED_DESIGN.csv SIXTH.jsonl...   design only: the fit's five features, and five
                                         plus the thorough cost reading, leave-one-out, on the catalog's design models
                                         with and without the crossed slice's 12 design source-specific ones
       read.py design-or-rule DESIGN.csv CROSSED_DESIGN.csv SIXTH.jsonl...   design only: the fit alone against the fit
                                         or the thorough cost reading, each at its own clean 97.5 % point
       read.py implants CLAMP.jsonl...   per source-specific model: the implanted pair's norm on the model and on each
                                         clamped copy, and how much the clamp moved it against the other pairs
"""
import array
import importlib.util
import json
import struct
import math
import os
import statistics
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("prescreen_read", os.path.join(_here, "..", "model-zoo-pair-prescreen", "read.py"))
prescreen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prescreen)

VARIANTS = ("deep", "input", "first")
PLAIN = "plain (median − smallest)"


def log(n):
    return math.log(max(n, 1e-3))


def cheapest(f):
    """The model's own reading: the median less the smallest log norm of its searched pairs, and that pair."""
    own = [log(n) for n in f["maskNorms"]]
    at = min(range(len(own)), key=lambda i: own[i])
    return statistics.median(own) - own[at], tuple(f["rows"][at])


def readings(f):
    """Fixed before the run was read: the model's own median − smallest log norm over the pre-screened pairs (the
    2026-12-07 search's reading, for comparison), and per clamped copy the median less the smallest of
    log(norm on the model) − log(norm on the clamped copy); each names the smallest pair."""
    rows = [tuple(r) for r in f["rows"]]
    own = [log(n) for n in f["maskNorms"]]
    found = {"plain (the model's own norms)": cheapest(f)}
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


def survey_table(paths, present, readings_of):
    """The design lines of `pair-clamp` that carry what `present` asks for, read by `readings_of`, as one table."""
    rows = []
    for d, f in prescreen.lines(paths, "pair-clamp"):
        if not present(f):
            continue
        found = readings_of(f)
        if found:
            rows.append((d["name"], prescreen.family(d["name"]), (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found))
    print(f"{sum(r[1] == 'clean' for r in rows)} clean and {sum(r[1] != 'clean' for r in rows)} backdoored models")
    prescreen.table(rows, list(rows[0][3]))


def locality(paths):
    survey_table(paths, lambda f: "locality" in f, locality_readings)


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
    survey_table(paths, lambda f: "otherClassesDivergence" in f.get("locality", {}), other_readings)


def evidence_margins(path):
    """Per (source, target): the mean over the source's evidence inputs (true labels) of the distance to the target's
    mean image less the distance to the source's own mean image."""
    raw = open(path, "rb").read()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])

    def tensor(key):
        a = array.array("f" if header[key]["dtype"] == "F32" else "q")
        start, end = header[key]["data_offsets"]
        a.frombytes(raw[8 + size + start:8 + size + end])
        return a, header[key]["shape"]

    x, shape = tensor("inputs")
    labels, _ = tensor("labels")
    n = shape[0]
    width = len(x) // n
    images = [x[i * width:(i + 1) * width] for i in range(n)]
    k = max(labels) + 1
    counts = [0] * k
    means = [[0.0] * width for _ in range(k)]
    for image, label in zip(images, labels):
        counts[label] += 1
        m = means[label]
        for j in range(width):
            m[j] += image[j]
    means = [[v / max(counts[c], 1) for v in means[c]] for c in range(k)]
    margins = [[0.0] * k for _ in range(k)]
    for image, label in zip(images, labels):
        distance = [math.sqrt(sum((a - b) ** 2 for a, b in zip(image, means[c]))) for c in range(k)]
        for t in range(k):
            margins[label][t] += (distance[t] - distance[label]) / counts[label]
    return margins


def prior(arguments):
    folder, probe, paths = arguments[0], arguments[1], arguments[2:]
    cache = {}
    rows = []
    for d, f in prescreen.lines(paths, probe):
        if "rows" not in f:
            continue
        r = d["recipe"]
        images = {"Gray28": "gray28", "Colour32": "rgb32"}[r["images"]]
        scaling = {"Unit": "unit", "Byte": "byte", "Standardised": "standardised"}[r["scaling"]]
        name = next(n for n in sorted(os.listdir(folder)) if f"-{images}-" in n and n.endswith(f"-{scaling}.safetensors"))
        if name not in cache:
            cache[name] = evidence_margins(os.path.join(folder, name))
        margins = cache[name]
        pairs = [tuple(p) for p in f["rows"]]
        own = [log(n) for n in f["maskNorms"]]
        found = {"plain (the model's own norms)": cheapest(f)}
        for label, closeness in (("residual on the data margin", [margins[s][t] for s, t in pairs]),
                                 ("residual on the log data margin", [math.log(max(margins[s][t], 1e-6)) for s, t in pairs])):
            mx, my = statistics.mean(closeness), statistics.mean(own)
            sxx = sum((a - mx) ** 2 for a in closeness)
            slope = sum((a - mx) * (b - my) for a, b in zip(closeness, own)) / sxx if sxx > 0 else 0.0
            residual = [b - (my + slope * (a - mx)) for a, b in zip(closeness, own)]
            at = min(range(len(residual)), key=lambda i: residual[i])
            found[label] = (statistics.median(residual) - residual[at], pairs[at])
        rows.append((d["name"], prescreen.family(d["name"]), (r["sourceClass"], r["targetClass"]), found))
    prescreen.table(rows, list(rows[0][3]))


def design_cleanse_norms():
    """Neural Cleanse's class mask norms of the catalog's design models, as surveyed under the AVX kernels."""
    survey = os.path.join(_here, "..", "model-zoo-design-avx", "survey", "design.jsonl")
    norms = {}
    for line in open(survey):
        d = json.loads(line)
        norms[d["name"]] = d["probes"]["neural-cleanse"]["details"].get("maskNorms")
    return norms


def nc_ratio(arguments):
    probe, paths = arguments[0], arguments[1:]
    cleanse = design_cleanse_norms()
    rows = []
    for d, f in prescreen.lines(paths, probe):
        if "rows" not in f or not cleanse.get(d["name"]):
            continue
        plain, pair = cheapest(f)
        smallest = min(log(n) for n in f["maskNorms"])
        classes = [log(n) for n in cleanse[d["name"]]]
        found = {
            "plain (the model's own norms)": (plain, pair),
            "Neural Cleanse's median class mask less the cheapest pair": (statistics.median(classes) - smallest, pair),
        }
        rows.append((d["name"], prescreen.family(d["name"]), (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found))
    prescreen.table(rows, list(rows[0][3]))


def best_readings(f, cleanse_norms):
    """The fourth run's readings, fixed before it was read (README.md)."""
    plain, pair = cheapest(f)
    found = {"plain (the model's own norms)": (plain, pair)}
    if cleanse_norms:
        smallest = min(log(n) for n in f["maskNorms"])
        found["Neural Cleanse's median class mask less the cheapest pair"] = (
            statistics.median([log(n) for n in cleanse_norms]) - smallest, pair)
    quiet = other_readings(f)
    if quiet:
        found["−log KL on the other classes at the cheapest pair"] = quiet["cheapest pair: −log KL on the other classes"]
    local = locality_readings(f)
    if local:
        found["robust z of the 3 × 3 share"] = local["robust z of the 3 × 3 share"]
    return found


def crossed(arguments):
    catalog, paths = arguments[0], arguments[1:]
    cleanse = design_cleanse_norms()
    rows = []
    for d, f in prescreen.lines([catalog], "pair-clamp"):
        if "rows" in f:
            fam = prescreen.family(d["name"])
            rows.append((d["name"], fam if fam == "clean" else f"catalog {fam}", (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]),
                         best_readings(f, cleanse.get(d["name"]))))
    for d, f in prescreen.lines(paths, "pair-clamp"):
        if "rows" in f:
            norms = d["probes"].get("neural-cleanse", {}).get("details", {}).get("maskNorms")
            rows.append((d["name"], f"crossed {prescreen.family(d['name'])}", (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]),
                         best_readings(f, norms)))
    groups = [g for g in ("crossed source-specific", "catalog source-specific", "crossed blend", "crossed warp", "crossed low-rate", "crossed patch")
              if any(r[1] == g for r in rows)]
    group_table(rows, groups, ["crossed source-specific"], "crossed source-specific above every clean model", "implanted pair named (crossed)")


def wide(arguments):
    catalog, crossed_path = arguments
    rows = []
    for path, origin in ((catalog, "catalog"), (crossed_path, "crossed")):
        for d, f in prescreen.lines([path], "source-contrast"):
            y = f.get("yardsticks", {})
            if "shadow" not in y:
                continue
            pairs = [tuple(p) for p in f["rows"]]
            own = [log(n) for n in f["maskNorms"]]
            found = {"median − smallest log norm (contrastive, no yardstick)": prescreen.readings(f)["median − smallest log norm"]}
            for key, label in (("shadow", "against the shadow (1,000 inputs)"), ("shadowWide", "against the wide shadow (8,000 inputs)")):
                if key in y:
                    dd = [a - log(b) for a, b in zip(own, y[key])]
                    at = min(range(len(dd)), key=lambda i: dd[i])
                    found[label] = (statistics.median(dd) - dd[at], pairs[at])
            fam = prescreen.family(d["name"])
            rows.append((d["name"], fam if fam == "clean" else f"{origin} {fam}", (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found, y))
    groups = ["crossed source-specific", "catalog source-specific"]
    for key in ("shadowAgreement", "shadowWideAgreement", "shadowSeconds", "shadowWideSeconds"):
        values = [r[4][key] for r in rows if key in r[4]]
        print(f"{key}: median {statistics.median(values):.3f}, least {min(values):.3f}, largest {max(values):.3f}")
    group_table(rows, groups, groups, "source-specific above every clean model", "implanted pair named", both=True)


def group_table(rows, groups, counted, above_label, named_label, both=False):
    """AUROC per group against the clean rows; for the rows of the `counted` groups, their AUROC together (`both`), how
    many lie above every clean one and how many name the implanted pair. A row is (name, group, implanted pair,
    {reading: (value, pair)}, ...)."""
    print(f"{sum(r[1] == 'clean' for r in rows)} clean catalog design models against: "
          + ", ".join(f"{g} {sum(r[1] == g for r in rows)}" for g in groups))
    print("| reading | " + " | ".join(groups) + (" | both" if both else "") + f" | {above_label} | {named_label} |")
    print("|---" * (len(groups) + (4 if both else 3)) + "|")
    for name in rows[0][3]:
        negative = [r[3][name][0] for r in rows if r[1] == "clean" and name in r[3]]
        cells = [prescreen.auroc([r[3][name][0] for r in rows if r[1] == g and name in r[3]], negative) for g in groups]
        specific = [r for r in rows if r[1] in counted and name in r[3]]
        if both:
            cells.append(prescreen.auroc([r[3][name][0] for r in specific], negative))
        above = sum(r[3][name][0] > max(negative) for r in specific)
        named = sum(tuple(r[3][name][1]) == r[2] for r in specific)
        print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {above} of {len(specific)} | {named} of {len(specific)} |")


def calibration_table(rows):
    """Per reading, the source-specific rows against the clean ones: AUROC, how many lie above the clean models'
    conformal 95 % point, how many name the implanted pair; returns {reading: (AUROC, above)}."""
    sys.path.insert(0, os.path.join(_here, "..", "model-zoo"))
    from zoo_logistic import clean_quantile_cut  # noqa: E402
    clean = [r for r in rows if r[1] == "clean"]
    specific = [r for r in rows if r[1] == "source-specific"]
    print(f"{len(clean)} clean and {len(specific)} source-specific calibration models")
    print("| reading | AUROC | above the clean conformal 95 % point | implanted pair named |")
    print("|---|---|---|---|")
    result = {}
    for name in rows[0][3]:
        negative = [r[3][name][0] for r in clean]
        cut = clean_quantile_cut(negative)
        value = prescreen.auroc([r[3][name][0] for r in specific], negative)
        above = sum(r[3][name][0] > cut for r in specific)
        named = sum(tuple(r[3][name][1]) == r[2] for r in specific)
        result[name] = (value, above)
        print(f"| {name} | {value:.3f} | {above} of {len(specific)} (cut {cut:.3f}) | {named} of {len(specific)} |")
    return result


def calibration_shadow(arguments):
    catalog, paths = arguments[0], arguments[1:]

    def found(f):
        return {"no yardstick (contrastive median − smallest)": prescreen.readings(f)["median − smallest log norm"],
                "against the shadow": prescreen.yardstick_readings(f)["against the shadow"]}

    rows = []
    for d, f in prescreen.lines([catalog], "source-contrast"):
        fam = prescreen.family(d["name"])
        if fam in ("clean", "source-specific") and "shadow" in f.get("yardsticks", {}):
            rows.append((d["name"], fam, (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found(f)))
    for d, f in prescreen.lines(paths, "source-contrast"):
        if prescreen.family(d["name"]) == "source-specific" and "shadow" in f.get("yardsticks", {}):
            rows.append((d["name"], "source-specific", (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found(f)))
    result = calibration_table(rows)
    (shadow, above), (plain, _) = result["against the shadow"], result["no yardstick (contrastive median − smallest)"]
    keeps = shadow >= plain + 0.07 and above >= 3
    print(f"rule: AUROC {shadow:.3f} ≥ {plain:.3f} + 0.07 and {above} ≥ 3 of {sum(r[1] == 'source-specific' for r in rows)} above the cut: "
          + ("stays a lead" if keeps else "dropped"))


def symmetry_readings(f):
    """Fixed before the eighth run was read (README.md): with d = log(reverse norm) − log(norm) over the working pairs,
    the one-way reading (median less the cheapest pair whose reverse costs at least twice as much; 0 when none), the
    asymmetry of the cheapest pair, and the plain median − smallest."""
    pairs = [tuple(p) for p in f["rows"]]
    norms = dict(zip(pairs, f["maskNorms"]))
    norms.update(zip([tuple(p) for p in f["reverseRows"]], f["reverseNorms"]))
    reached = f["locality"]["reached"]
    working = [i for i, ok in enumerate(reached) if ok]
    if len(working) < 3:
        return {}
    own = [log(n) for n in f["maskNorms"]]
    median = statistics.median(own)
    d = {i: log(norms[(pairs[i][1], pairs[i][0])]) - own[i] for i in working if (pairs[i][1], pairs[i][0]) in norms}
    cheapest = min(working, key=lambda i: own[i])
    one_way = [i for i in working if d.get(i, 0.0) >= math.log(2)]
    picked = min(one_way, key=lambda i: own[i]) if one_way else None
    return {
        PLAIN: (median - own[cheapest], pairs[cheapest]),
        "one-way: median − the cheapest pair whose reverse costs ≥ 2×": ((median - own[picked], pairs[picked]) if picked is not None else (0.0, (-1, -1))),
        "asymmetry of the cheapest pair": (d.get(cheapest, 0.0), pairs[cheapest]),
    }


def clean_and_specific_rows(paths, present, readings_of):
    rows = []
    for d, f in prescreen.lines(paths, "pair-clamp"):
        fam = prescreen.family(d["name"])
        if fam not in ("clean", "source-specific") or not present(f):
            continue
        found = readings_of(f)
        if found:
            rows.append((d["name"], fam, (d["recipe"]["sourceClass"], d["recipe"]["targetClass"]), found))
    return rows


def design_gate(rows):
    """The table on the design split, and whether each reading clears its gate: 0.05 above the plain reading."""
    print(f"{sum(r[1] == 'clean' for r in rows)} clean and {sum(r[1] == 'source-specific' for r in rows)} source-specific design models")
    prescreen.table(rows, list(rows[0][3]))
    negative = {n: [r[3][n][0] for r in rows if r[1] == "clean"] for n in rows[0][3]}
    base = prescreen.auroc([r[3][PLAIN][0] for r in rows if r[1] == "source-specific"], negative[PLAIN])
    for name in rows[0][3]:
        if name != PLAIN:
            value = prescreen.auroc([r[3][name][0] for r in rows if r[1] == "source-specific"], negative[name])
            print(f"gate: {name}: {value:.3f} ≥ {base:.3f} + 0.05: " + ("goes on to calibration" if value >= base + 0.05 else "stops here"))


def calibration_rule(rows):
    """The calibration table, and each reading under the rule: 0.07 above plain and at least 3 above the clean cut."""
    result = calibration_table(rows)
    base = result[PLAIN][0]
    for name, (value, above) in result.items():
        if name != PLAIN:
            print(f"rule: {name}: {value:.3f} ≥ {base:.3f} + 0.07 and {above} ≥ 3: " + ("stays a lead" if value >= base + 0.07 and above >= 3 else "dropped"))


def symmetry_rows(paths):
    return clean_and_specific_rows(paths, lambda f: "reverseRows" in f, symmetry_readings)


def symmetry(paths):
    design_gate(symmetry_rows(paths))


def symmetry_calibration(paths):
    calibration_rule(symmetry_rows(paths))


def specificity_readings(f):
    """Fixed before the ninth run was read (README.md): the share of the source's inputs the cheapest working pair's
    trigger sends to its target, less the largest share of another class's; and the plain median − smallest."""
    loc = f["locality"]
    if "cheapestPairShares" not in loc:
        return {}
    s, t = loc["cheapestPair"]
    shares = loc["cheapestPairShares"]
    others = [v for c, v in enumerate(shares) if c not in (s, t) and v is not None]
    return {
        PLAIN: cheapest(f),
        "specificity of the cheapest working pair's trigger": ((shares[s] or 0.0) - max(others, default=0.0), (s, t)),
    }


def specificity_rows(paths):
    return clean_and_specific_rows(paths, lambda f: "locality" in f, specificity_readings)


def specificity(paths):
    design_gate(specificity_rows(paths))


def specificity_calibration(paths):
    calibration_rule(specificity_rows(paths))


def thorough_cost_readings(paths):
    """Per model, the median less the smallest log norm of its pre-screened pairs (the lead's sixth feature)."""
    found = {}
    for d, f in prescreen.lines(paths, "pair-clamp"):
        if "rows" in f:
            found[d["name"]] = cheapest(f)[0]
    return found


def refit_calibration(arguments):
    import csv
    design_csv, calibration_csv, crossed_csv, paths = arguments[0], arguments[1], arguments[2], arguments[3:]
    sixth = thorough_cost_readings(paths)
    design = list(csv.DictReader(open(design_csv)))
    held = list(csv.DictReader(open(calibration_csv)))
    held += [r for r in csv.DictReader(open(crossed_csv)) if r["attack"] == "source-specific" and r["label"] == "1"]
    print(f"{len(design)} design models ({sum(r['name'] in sixth for r in design)} with the sixth feature); "
          f"{len(held)} calibration models ({sum(r['name'] in sixth for r in held)} with it)")
    result = prescreen.five_and_one(design, held, sixth, "the thorough cost reading")
    (a0, c0, s0), (a1, c1, s1) = [(v, c, per["source-specific"]) for v, c, per in (result[False], result[True])]
    keeps = a1 >= a0 + 0.01 and c1 >= c0 and s1 > s0
    print(f"rule: AUROC {a1:.3f} ≥ {a0:.3f} + 0.01, caught {c1} ≥ {c0}, source-specific {s1} > {s0}: "
          + ("stays the open lead" if keeps else "dropped"))


def design_refit(arguments):
    import csv
    sys.path.insert(0, os.path.join(_here, "..", "model-zoo"))
    from zoo_logistic import leave_one_out_catches  # noqa: E402
    design_csv, crossed_csv, paths = arguments[0], arguments[1], arguments[2:]
    sixth = thorough_cost_readings(paths)
    catalog = list(csv.DictReader(open(design_csv)))
    crossed_rows = [r for r in csv.DictReader(open(crossed_csv)) if r["attack"] == "source-specific" and r["label"] == "1"]
    attacks = ["patch", "low-rate", "blend", "warp", "source-specific"]
    print("| design models | features | leave-one-out log loss | AUROC | caught at the clean 95 % point | " + " | ".join(attacks) + " |")
    print("|---" * (5 + len(attacks)) + "|")
    for label, rows in (("the catalog's 114", catalog), ("and the crossed slice's 12 source-specific", catalog + crossed_rows)):
        for extra in (False, True):
            x = [[float(r[f]) if r[f] != "" else None for f in prescreen.FIVE] + ([sixth.get(r["name"])] if extra else []) for r in rows]
            loss, value, caught, backdoored, per = leave_one_out_catches(x, [int(r["label"]) for r in rows], [r["attack"] for r in rows], attacks)
            print(f"| {label} | five{' + the thorough cost reading' if extra else ''} | {loss:.4f} | {value:.3f} | {caught}/{backdoored} | "
                  + " | ".join(f"{c}/{n}" for c, n in per) + " |")


def design_or_rule(arguments):
    import csv
    sys.path.insert(0, os.path.join(_here, "..", "model-zoo"))
    from zoo_logistic import clean_quantile_cut, impute, leave_one_out  # noqa: E402
    design_csv, crossed_csv, paths = arguments[0], arguments[1], arguments[2:]
    sixth = thorough_cost_readings(paths)
    rows = list(csv.DictReader(open(design_csv)))
    rows += [r for r in csv.DictReader(open(crossed_csv)) if r["attack"] == "source-specific" and r["label"] == "1"]
    x = [[float(r[f]) if r[f] != "" else None for f in prescreen.FIVE] for r in rows]
    impute(x)
    _, held = leave_one_out(x, [int(r["label"]) for r in rows])
    reading = [sixth.get(r["name"]) for r in rows]
    clean = [i for i, r in enumerate(rows) if r["label"] == "0"]
    attacks = ["patch", "low-rate", "blend", "warp", "source-specific"]
    cut95 = clean_quantile_cut([held[i] for i in clean])
    cut_p = clean_quantile_cut([held[i] for i in clean], 0.975)
    cut_r = clean_quantile_cut([reading[i] for i in clean if reading[i] is not None], 0.975)
    verdicts = {
        "the fit alone, at its clean 95 % point": [held[i] > cut95 for i in range(len(rows))],
        "the fit at 97.5 % or the cost reading at 97.5 %": [held[i] > cut_p or (reading[i] is not None and reading[i] > cut_r) for i in range(len(rows))],
    }
    # Added after the first two rows were read: with 60 clean models each 97.5 % point is the largest clean value, so
    # the or-rule fails none and the comparison is not at equal false fails. Each cut at the second-largest clean value
    # lets one clean model past each, about the fit's two.
    second_p = sorted(held[i] for i in clean)[-2]
    second_r = sorted(reading[i] for i in clean if reading[i] is not None)[-2]
    verdicts["the fit or the cost reading, each above its second-largest clean value (added after reading)"] = [
        held[i] > second_p or (reading[i] is not None and reading[i] > second_r) for i in range(len(rows))]
    print(f"{len(clean)} clean and {len(rows) - len(clean)} backdoored design models")
    print("| verdict | clean failed | caught | " + " | ".join(attacks) + " |")
    print("|---" * (3 + len(attacks)) + "|")
    for name, failed in verdicts.items():
        per = [f"{sum(failed[i] for i, r in enumerate(rows) if r['label'] == '1' and r['attack'] == a)}/{sum(1 for r in rows if r['label'] == '1' and r['attack'] == a)}" for a in attacks]
        print(f"| {name} | {sum(failed[i] for i in clean)}/{len(clean)} | {sum(failed[i] for i, r in enumerate(rows) if r['label'] == '1')}/{len(rows) - len(clean)} | " + " | ".join(per) + " |")


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
    {"readings": show_readings, "implants": implants, "locality": locality, "others": others, "prior": prior, "nc-ratio": nc_ratio, "crossed": crossed, "wide": wide, "calibration-shadow": calibration_shadow, "symmetry": symmetry, "symmetry-calibration": symmetry_calibration, "specificity": specificity, "specificity-calibration": specificity_calibration, "refit-calibration": refit_calibration, "design-refit": design_refit, "design-or-rule": design_or_rule}[sys.argv[1]](sys.argv[2:])
