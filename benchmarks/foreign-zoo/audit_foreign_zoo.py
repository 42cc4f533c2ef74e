"""Audits the foreign zoo through the service's REST API and summarises the trojan verdict on it.

    python3 benchmarks/foreign-zoo/audit_foreign_zoo.py audit --models DIR --manifest M.jsonl --out results.jsonl
    python3 benchmarks/foreign-zoo/audit_foreign_zoo.py refresh --out results.jsonl
    python3 benchmarks/foreign-zoo/audit_foreign_zoo.py summary --results results.jsonl

`audit` uploads each model of the manifest (from DIR/<name>.onnx) and the Fashion-MNIST evidence shipped in
examples/, submits a `trojan-scan` audit, waits, and appends one line per model to the results: the manifest's facts
and the trojan-likelihood finding (verdict, probability, suspected class) and every detector's verdict. Models
already in the results are skipped, so a stopped run resumes. `refresh` reads every recorded audit again from the
service and rewrites its line (the service keeps audits, so fields added to the record can be filled in without
auditing again). Both need AUDIT_URL and AUDIT_API_KEY (a compliance key).

`summary` prints the figures the docs state, by the zoo's rules: a model whose implant failed (attack success below
0.5) counts neither as clean nor as backdoored; "caught" means trojan-likelihood failed the model; "right target"
is counted over the caught ones; AUROC ranks the probability (ties count half). Python's standard library only.
"""

import argparse
import json
import math
import os
import sys
import time
import urllib.request
import uuid

EVIDENCE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "fashion-mnist-1000.safetensors")


def call(method, path, body=None, headers=None):
    url = os.environ["AUDIT_URL"].rstrip("/") + path
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("X-Api-Key", os.environ["AUDIT_API_KEY"])
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def upload(path, kind, name):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        content = f.read()
    parts = []
    for field, value in (("kind", kind), ("name", name)):
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n".encode())
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{os.path.basename(path)}\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return call("POST", "/api/v1/artifacts", b"".join(parts),
                {"Content-Type": f"multipart/form-data; boundary={boundary}"})["id"]


def audit(args):
    done = set()
    if os.path.exists(args.out):
        with open(args.out) as f:
            done = {json.loads(line)["name"] for line in f if line.strip()}
    with open(args.manifest) as f:
        manifest = [json.loads(line) for line in f if line.strip()]
    if args.architectures:
        manifest = [row for row in manifest if row["architecture"] in args.architectures.split(",")]
    existing = audits_by_model()
    evidence = None
    pending = {}
    for row in manifest:
        # A model whose implant did not take counts as neither clean nor backdoored: not worth an audit's minute.
        if row["name"] in done or "error" in row or (row["attack"] and not row["implanted"]):
            continue
        if row["name"] in existing:  # submitted by an earlier run of this script: wait for it, do not audit twice
            pending[existing[row["name"]]] = row
            continue
        evidence = evidence or upload(EVIDENCE, "dataset", "fashion-mnist-1000")
        model = upload(os.path.join(args.models, row["name"] + ".onnx"), "model", row["name"])
        body = json.dumps({"modelArtifactId": model, "datasetArtifactId": evidence, "profileId": "trojan-scan"}).encode()
        audit_id = call("POST", "/api/v1/audits", body,
                        {"Content-Type": "application/json", "Idempotency-Key": "foreign-zoo-" + row["name"]})["id"]
        pending[audit_id] = row
    print(f"{len(pending)} audits submitted", flush=True)
    while pending:
        time.sleep(10)
        for audit_id, row in list(pending.items()):
            a = call("GET", f"/api/v1/audits/{audit_id}")
            if a["status"] in ("queued", "running"):
                continue
            result = record(row, audit_id, a)
            with open(args.out, "a") as out:
                out.write(json.dumps(result) + "\n")
            del pending[audit_id]
            print(f"{row['name']}: {a['status']} {result['audit']['trojanLikelihood']['verdict']}", flush=True)


def audits_by_model():
    """Model name → the service's audit of it that is not cancelled (the upload names the model artifact after it)."""
    found, page = {}, 1
    while True:
        listing = call("GET", f"/api/v1/audits?page={page}&pageSize=100")
        items = listing["items"] if isinstance(listing, dict) else listing
        for a in items:
            if a["status"] != "cancelled":
                name = call("GET", f"/api/v1/artifacts/{a['modelArtifactId']}")["name"]
                found.setdefault(name, a["id"])
        if len(items) < 100:
            return found
        page += 1


def cancel(args):
    """Cancels the unfinished audits of the named architectures (to free the workers for the others)."""
    for name, audit_id in audits_by_model().items():
        if name.split("-")[0] in args.architectures.split(","):
            if call("GET", f"/api/v1/audits/{audit_id}")["status"] in ("queued", "running"):
                call("POST", f"/api/v1/audits/{audit_id}/cancel", b"", {"Content-Type": "application/json"})
                print(f"cancelled {name} ({audit_id})", flush=True)


def record(row, audit_id, a):
    """The manifest's row with the audit's outcome: what the summary and `remeasure --foreign` read."""
    findings = {f["probe"]: f for f in a.get("findings") or []}
    likelihood = findings.get("trojan-likelihood", {})
    details = likelihood.get("details") or {}
    result = dict(row)
    result["audit"] = {
        "id": audit_id, "status": a["status"], "verdict": a.get("verdict"), "error": a.get("error"),
        "profile": a.get("profile"), "seed": a.get("seed"), "device": a.get("device"),
        "seconds": seconds(a.get("startedAt"), a.get("finishedAt")),
        "trojanLikelihood": {
            "verdict": likelihood.get("verdict"), "probability": details.get("probability"),
            "probabilityInterval": details.get("probabilityInterval"), "threshold": details.get("threshold"),
            "suspectedTargetClass": details.get("suspectedTargetClass"),
            "suspectedClassFrom": details.get("suspectedClassFrom"),
            "modelGenerated": details.get("modelGenerated"), "modelSha256": details.get("modelSha256"),
            "features": details.get("features"), "taskCheck": details.get("taskCheck"),
            "summary": likelihood.get("summary")},
        "detectors": {p: {"verdict": f["verdict"], "score": f["score"],
                          "suspectedTargetClass": (f.get("details") or {}).get("suspectedTargetClass")}
                      for p, f in findings.items() if p != "trojan-likelihood"},
    }
    return result


def refresh(args):
    """Reads every recorded audit again from the service and rewrites its line (for fields added to `record`)."""
    with open(args.out) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(args.out + ".tmp", "w") as out:
        for row in rows:
            audit_id = row.pop("audit")["id"]
            out.write(json.dumps(record(row, audit_id, call("GET", f"/api/v1/audits/{audit_id}"))) + "\n")
    os.replace(args.out + ".tmp", args.out)


def seconds(start, end):
    if not start or not end:
        return None
    from datetime import datetime
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return round((parse(end) - parse(start)).total_seconds(), 1)


def wilson(k, n, z=1.96):
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def auroc(positives, negatives):
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in positives for q in negatives)
    return wins / (len(positives) * len(negatives))


def summary(args):
    with open(args.results) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    finished = [r for r in rows if r["audit"]["status"] == "succeeded"]
    print(f"{len(rows)} audited, {len(rows) - len(finished)} not succeeded: "
          + ", ".join(f"{r['name']} ({r['audit']['error']})" for r in rows if r not in finished))
    clean = [r for r in finished if not r["attack"]]
    backdoored = [r for r in finished if r["attack"] and r["implanted"]]
    failed_implants = [r for r in finished if r["attack"] and not r["implanted"]]
    flagged = lambda r: r["audit"]["trojanLikelihood"]["verdict"] == "fail"  # noqa: E731
    p = lambda r: r["audit"]["trojanLikelihood"]["probability"] or 0.0  # noqa: E731

    def line(label, c, b):
        ff, caught = sum(map(flagged, c)), [r for r in b if flagged(r)]
        right = sum(1 for r in caught if r["audit"]["trojanLikelihood"]["suspectedTargetClass"] == r["targetClass"])
        lo, hi = wilson(ff, len(c))
        clo, chi = wilson(len(caught), len(b))
        print(f"| {label} | {ff}/{len(c)} ({lo:.0%}–{hi:.0%}) | {len(caught)}/{len(b)} ({clo:.0%}–{chi:.0%}) "
              f"| {auroc([p(r) for r in b], [p(r) for r in c]):.3f} | {right}/{len(caught)} |")

    print(f"{len(clean)} clean, {len(backdoored)} backdoored, {len(failed_implants)} failed implants left out")
    print("| models | clean failed (Wilson 95 %) | backdoored caught (Wilson 95 %) | AUROC p | right target |")
    print("|---|---|---|---|---|")
    line("all", clean, backdoored)
    for arch in sorted({r["architecture"] for r in finished}):
        line(arch, [r for r in clean if r["architecture"] == arch], [r for r in backdoored if r["architecture"] == arch])
    print("| attack | caught | right target |")
    print("|---|---|---|")
    for attack in sorted({r["attack"] for r in backdoored}):
        b = [r for r in backdoored if r["attack"] == attack]
        caught = [r for r in b if flagged(r)]
        right = sum(1 for r in caught if r["audit"]["trojanLikelihood"]["suspectedTargetClass"] == r["targetClass"])
        print(f"| {attack} | {len(caught)}/{len(b)} | {right}/{len(caught)} |")
    detectors = sorted({d for r in finished for d in r["audit"]["detectors"]})
    print("| detector alone | clean failed | backdoored caught |")
    print("|---|---|---|")
    for d in detectors:
        fails = lambda r: r["audit"]["detectors"].get(d, {}).get("verdict") == "fail"  # noqa: E731
        print(f"| {d} | {sum(map(fails, clean))}/{len(clean)} | {sum(map(fails, backdoored))}/{len(backdoored)} |")
    times = sorted(r["audit"]["seconds"] for r in finished if r["audit"]["seconds"] is not None)
    if times:
        print(f"audit seconds: median {times[len(times) // 2]}, max {times[-1]}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("audit")
    a.add_argument("--models", required=True)
    a.add_argument("--manifest", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--architectures", help="only these (comma-separated), e.g. to audit the cheap ones first")
    c = sub.add_parser("cancel")
    c.add_argument("--architectures", required=True)
    r = sub.add_parser("refresh")
    r.add_argument("--out", required=True)
    s = sub.add_parser("summary")
    s.add_argument("--results", required=True)
    args = parser.parse_args()
    {"audit": audit, "cancel": cancel, "refresh": refresh, "summary": summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
