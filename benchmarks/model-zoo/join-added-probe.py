#!/usr/bin/env python3
"""Joins a detector added by `survey --add-probe PROBE` in a scratch cache into the committed survey lines.

usage: join-added-probe.py PROBE SPLIT SCRATCH_SURVEY_FILE [COMMITTED_FILE]

The scratch cache holds copies of committed lines (benchmarks/model-zoo/survey/SPLIT.jsonl) whose models are on this
machine; `survey --add-probe` rewrote them with PROBE's result added as the last entry of "probes". Each committed
line with the same name, hash and audit seed is replaced by its scratch line, after checking that the two are the same
record once PROBE is set aside (so nothing but PROBE's result can change). Lines no scratch line covers stay byte for
byte. COMMITTED_FILE (default benchmarks/model-zoo/survey/SPLIT.jsonl) names another committed file of that split, such
as benchmarks/model-zoo-design-avx/survey/design.jsonl. Used for the adversarial sink on 2026-12-06 (docs/probes.md,
"adversarial-sink", and "The supporting controls' thresholds, set on the design split").
"""
import json
import sys


def key(record):
    return record["name"], record["hash"], record["auditSeed"]


def main(probe, split, scratch_file, path=None):
    scratch = {}
    for line in open(scratch_file, encoding="utf-8"):
        if line.strip():
            record = json.loads(line)
            if probe in record["probes"]:
                scratch[key(record)] = line.rstrip("\n")
    path = path or f"benchmarks/model-zoo/survey/{split}.jsonl"
    lines = open(path, encoding="utf-8").read().splitlines()
    joined = 0
    for i, line in enumerate(lines):
        committed = json.loads(line)
        if key(committed) not in scratch or probe in committed["probes"]:
            continue
        added = json.loads(scratch[key(committed)])
        del added["probes"][probe]
        if added != committed:
            sys.exit(f"{committed['name']}: the scratch line differs from the committed one beyond {probe}")
        lines[i] = scratch[key(committed)]
        joined += 1
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print(f"{split}: {probe} joined into {joined} of {len(lines)} lines ({len(scratch)} scratch lines)")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
