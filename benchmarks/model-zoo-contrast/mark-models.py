#!/usr/bin/env python3
"""Records, in each committed line's contrastive-patch result, which model file the search read.

Why: the contrastive search was added to lines surveyed earlier (join-probe.py) by running it on the models of scratch
caches. Where a cache had to train a model again from its recipe, it did so under the kernels the zoo tool now chooses
(oneDNN limited to AVX on the project's AMD EPYC), while most earlier lines' models had been trained under libtorch's
own convolution kernels: the same seed then gives slightly different weights (clean accuracy within a few tenths of a
point, docs/probes.md "Under the kernels the service now chooses"). Such a line holds the other detectors' statistics
of one model and the contrastive statistic of its sibling. This script writes what the search read into the result's
details, so the lines where every statistic comes from one model can be told apart from the repository alone:

    details.modelRead = {"cleanAccuracy", "attackSuccessRate", "weightsSha256", "sameModelAsLine"}

`sameModelAsLine` is true when the model file's clean accuracy and attack success (the trainer's own measurements, four
decimals, on the 9,000 Fashion-MNIST test images after the evidence) equal the line's (every MLP, which has no
convolution, matched). Lines that already
carry `modelRead`, or whose model no cache holds, are left byte for byte.

usage: mark-models.py SURVEY_FILE CACHE [CACHE ...]
"""
import glob
import importlib.util
import json
import os
import sys

_spec = importlib.util.spec_from_file_location("join_probe", os.path.join(os.path.dirname(__file__), "join-probe.py"))
join_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(join_probe)

PROBE = join_probe.PROBE


def models(caches):
    """Model files by recipe hash; two caches holding different weights for one recipe cannot say which was read."""
    found = {}
    for cache in caches:
        for path in glob.glob(os.path.join(cache, "models", "*.json")):
            with open(path, encoding="utf-8") as f:
                model = json.load(f)
            earlier = found.get(model["hash"])
            if earlier is not None and earlier.get("weightsSha256") != model.get("weightsSha256"):
                raise SystemExit(f"{path}: another cache holds different weights for recipe {model['hash']}")
            found[model["hash"]] = model
    return found


def main(survey, caches):
    by_hash = models(caches)
    with open(survey, encoding="utf-8") as f:
        lines = f.read().splitlines()

    marked, same, different, missing = [], 0, 0, 0
    for line in lines:
        record = json.loads(line)
        result = record.get("probes", {}).get(PROBE)
        details = (result or {}).get("details") or {}
        if result is None or "modelRead" in details:
            marked.append(line)
            continue
        model = by_hash.get(record["hash"])
        if model is None:
            missing += 1
            marked.append(line)
            continue
        matches = model["cleanAccuracy"] == record["cleanAccuracy"] and model.get("attackSuccessRate") == record.get("attackSuccessRate")
        same += matches
        different += not matches
        result = dict(result)
        result["details"] = dict(details, modelRead={
            "cleanAccuracy": model["cleanAccuracy"],
            "attackSuccessRate": model.get("attackSuccessRate"),
            "weightsSha256": model.get("weightsSha256"),
            "sameModelAsLine": matches,
        })
        # Only the result's own text changes: from its key to the end of its object, every other byte as it was.
        key = f'"{PROBE}":'
        begin = line.index(key, line.index('"probes":{')) + len(key)
        entry = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        marked.append(line[:begin] + entry + line[join_probe.object_end(line, begin):])

    with open(survey, "w", encoding="utf-8") as out:
        out.write("\n".join(marked) + "\n")
    print(f"{survey}: marked {same + different} lines ({same} read the line's own model, {different} a model trained "
          f"again); {missing} carry {PROBE} but no cache holds their model")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
