#!/usr/bin/env python3
"""Copies the committed survey lines whose every statistic was read on one model file into a scratch cache, so the
zoo tool can measure the fit on them alone (mark-models.py says why some lines mix two sibling models):

    python3 benchmarks/model-zoo-contrast/same-model-lines.py test /tmp/same-model
    dotnet <zoo tool> report --split test --cache /tmp/same-model

A line is kept when its contrastive-patch result records `modelRead.sameModelAsLine` true; lines without the result,
or without the record, are left out (the fit could not score the first, and the second cannot be told).

usage: same-model-lines.py SPLIT OUT_CACHE
"""
import json
import os
import sys

PROBE = "contrastive-patch"


def main(split, out):
    kept, left = [], 0
    with open(f"benchmarks/model-zoo/survey/{split}.jsonl", encoding="utf-8") as lines:
        for line in lines:
            result = json.loads(line).get("probes", {}).get(PROBE) or {}
            read = (result.get("details") or {}).get("modelRead") or {}
            if read.get("sameModelAsLine") is True:
                kept.append(line.rstrip("\n"))
            else:
                left += 1
    os.makedirs(os.path.join(out, "survey"), exist_ok=True)
    with open(os.path.join(out, "survey", f"{split}.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    print(f"{out}/survey/{split}.jsonl: {len(kept)} lines read on one model; {left} left out")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
