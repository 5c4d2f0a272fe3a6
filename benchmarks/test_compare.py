#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-test of benchmarks/run --compare on canned runs (no benchmark is run, nothing is
timed): which ratios are flagged, in which direction, and the exit status of the
command-line comparison of two saved files."""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import bench_compare as bc  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAILED: {what}")


def row(scenario, ratio, lower_better, impl="localsock", clients=1, size=64, baseline="raw"):
    return {"scenario": scenario, "size": size, "clients": clients, "impl": impl, "baseline": baseline,
            "figure": "p50 µs" if lower_better else "ops/s", "key": "p50_us" if lower_better else "ops_per_s",
            "lower_better": lower_better, "ours": None, "base": None, "ratio": ratio}


saved = [
    row("pingpong", 1.00, True),                       # latency: lower is better
    row("pingpong", 1.00, True, size=4096),
    row("stream", 1.00, False, baseline="raw"),        # throughput: higher is better
    row("async-echo", 1.20, False, baseline="uv-raw"),
    row("async-echo", 1.20, False, clients=16, baseline="uv-raw"),
    row("msg-pingpong", 1.07, True, impl="localsock-fixed"),
    row("connect", 0.90, False),
]
new = [
    row("pingpong", 1.049, True),                      # 4.9% slower: within tolerance
    row("pingpong", 1.06, True, size=4096),            # 6% slower: flagged
    row("stream", 0.94, False),                        # 6% less throughput: flagged
    row("async-echo", 1.30, False, baseline="uv-raw"),  # better: never flagged
    row("async-echo", 1.15, False, clients=16, baseline="uv-raw"),  # 4.2% worse: ok
    row("msg-pingpong", 1.00, True, impl="localsock"),  # another row: fixed is missing
    row("connect", None, False),                       # its run failed: missing
]
verdicts = {v[0]: v for v in bc.compare(saved, new)}
check(verdicts["pingpong 64 B"][5] == "ok", "a latency ratio 4.9% worse is within 5%")
check(verdicts["pingpong 4096 B"][5] == "WORSE", "a latency ratio 6% higher is flagged")
check(abs(verdicts["pingpong 4096 B"][4] - 0.06) < 1e-9, "worse-by of a latency ratio is (new - saved) / saved")
check(verdicts["stream 64 B"][5] == "WORSE", "a throughput ratio 6% lower is flagged")
check(verdicts["async-echo 64 B"][5] == "ok", "a better throughput ratio is not flagged")
check(verdicts["async-echo 64 B"][4] < 0, "a better ratio is a negative change")
check(verdicts["async-echo 64 B ×16"][5] == "ok", "a throughput ratio 4.2% lower is within 5%")
check(verdicts["msg-pingpong 64 B (localsock-fixed)"][5] == "MISSING", "a saved row not rerun is missing")
check(verdicts["connect 64 B"][5] == "MISSING", "a row whose run failed is missing")
check(len(verdicts) == len(saved), "one verdict per saved row")
text, flagged = bc.table(bc.compare(saved, new))
check(flagged == 4, f"four rows flagged (got {flagged})")
check("| pingpong 4096 B | p50 µs | 1.000 | 1.060 | +6.0% | WORSE |" in text, "the table shows the flagged row")
check("4 of 7 ratios" in text, "the table ends with the count of flagged ratios")
text, flagged = bc.table(bc.compare(saved, saved))
check(flagged == 0 and "all 7 ratios within 5%" in text, "a run compared with itself flags nothing")

# The command line: benchmarks/run --compare FILE --against FILE compares two saved runs
# without running anything; its exit status says whether any ratio was flagged.
with tempfile.TemporaryDirectory() as d:
    paths = {}
    for name, rows in (("saved", saved), ("new", new), ("same", saved)):
        paths[name] = os.path.join(d, name + ".json")
        with open(paths[name], "w", encoding="utf-8") as f:
            json.dump(bc.make_document(rows, "linux", 5), f)
    run = [sys.executable, os.path.join(here, "run"), "--compare", paths["saved"], "--against"]
    p = subprocess.run(run + [paths["new"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    check(p.returncode == 1, f"--compare exits 1 when a ratio is flagged (got {p.returncode}: {p.stderr})")
    check("| stream 64 B | ops/s | 1.000 | 0.940 | +6.0% | WORSE |" in p.stdout, "--compare prints the table")
    p = subprocess.run(run + [paths["same"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    check(p.returncode == 0, f"--compare exits 0 when nothing is flagged (got {p.returncode}: {p.stderr})")
    with open(paths["new"], "w", encoding="utf-8") as f:
        f.write("{\"rows\": 3}")
    p = subprocess.run(run + [paths["new"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    check(p.returncode == 2, f"--compare refuses a file that is not a baseline (got {p.returncode})")

print("compare: self-test ok" if not failures else f"compare: {len(failures)} check(s) failed")
sys.exit(1 if failures else 0)
