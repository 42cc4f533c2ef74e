#!/usr/bin/env python3
"""Adds the contrastive-patch result to the committed survey lines (benchmarks/model-zoo/survey/<split>.jsonl).

Sources: any JSON Lines file whose lines carry a model's name, hash and its contrastive-patch result, either at the top
level (this folder's probe/*.jsonl) or inside "probes" (a survey file written by `survey --add-probe contrastive-patch`).
A committed line gets the result of the source line with the same name and hash; a line that already carries the probe,
or that no source covers, is left as it is, byte for byte. Everything else of a changed line stays byte for byte too:
the result is inserted as the last entry of its "probes" object.

The results came from the branch's probe (exp-contrast, 61d1661), whose statistic, suspected class and search are the
service's ContrastivePatchInversionProbe's (same search, reference and seed: equal norms, tested on design models). Its
verdict and score were read at the branch's placeholder threshold 1; they are rewritten at the service's default
threshold (1.3) so a line reads like one the service's probe wrote.

usage: join-probe.py SPLIT|SURVEY SOURCE [SOURCE ...]
SPLIT names a split of the ten-class zoo (design, calibration, test); SURVEY is the path of another committed survey
file (the 43-class slice's benchmarks/model-zoo-many-class/survey/test.jsonl, the crossed slice's
benchmarks/model-zoo-crossed/survey/test.jsonl), whose lines the service's probe read through `survey --add-probe`.
"""
import json
import sys

PROBE = "contrastive-patch"
THRESHOLD = 1.3


def object_end(text, start):
    """Index just past the JSON object opening at text[start] == '{' (strings and escapes respected)."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unterminated object")


def result_of(line):
    record = json.loads(line)
    result = record.get(PROBE) or record.get("probes", {}).get(PROBE)
    return (record["name"], record["hash"]), result


def service_result(result):
    statistic = result["statistic"]
    result = dict(result)
    result["verdict"] = "fail" if statistic >= THRESHOLD else "pass"
    result["score"] = statistic / THRESHOLD
    details = dict(result.get("details") or {})
    details["threshold"] = THRESHOLD
    result["details"] = details
    return result


def main(split, sources):
    found = {}
    for source in sources:
        with open(source, encoding="utf-8") as lines:
            for line in lines:
                key, result = result_of(line)
                if result is not None:
                    found[key] = result

    path = split if split.endswith(".jsonl") else f"benchmarks/model-zoo/survey/{split}.jsonl"
    with open(path, encoding="utf-8") as lines:
        committed = lines.read().splitlines()

    joined, added = [], 0
    for line in committed:
        key, present = result_of(line)
        if present is not None or key not in found:
            joined.append(line)
            continue
        probes = line.index('"probes":{') + len('"probes":')
        end = object_end(line, probes)
        entry = json.dumps(service_result(found[key]), ensure_ascii=False, separators=(",", ":"))
        joined.append(line[: end - 1] + f',"{PROBE}":' + entry + line[end - 1 :])
        added += 1

    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(joined) + "\n")
    carrying = sum(1 for line in joined if result_of(line)[1] is not None)
    print(f"{path}: added to {added} lines; {carrying} of {len(joined)} carry {PROBE}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
