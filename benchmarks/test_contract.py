#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The benchmark contract (docs/performance.md, "The benchmark contract"), checked on the
program itself: every scenario, with every implementation it offers, run with the
smallest arguments; each line it prints must be one JSON object with exactly the
contract's keys, each of the right type, the figures a scenario promises present and
the others null. Used by `meson test`, natively and (for an .exe) under Wine.

usage: test_contract.py LOCALSOCK_BENCH
"""
import json
import os
import subprocess
import sys

exe = sys.argv[1]
windows = exe.endswith(".exe")
# The build's exe wrapper (meson passes the cross file's); wine64 on PATH otherwise.
wrap = [os.environ.get("LOCALSOCK_EXE_WRAPPER") or "wine64"] if windows else []

KEYS = ["impl", "scenario", "size", "count", "clients", "seconds", "ops_per_s", "p50_us", "p99_us",
        "mb_per_s", "rss_kb_per_conn"]
LATENCY = ["p50_us", "p99_us"]
# scenario: (implementations, figures it must report besides seconds and ops_per_s, size)
# idle-conns takes size 0: size means nothing there, and harnesses pass 0.
SCENARIOS = {
    "pingpong": (["localsock", "raw"], LATENCY, 1),
    "pingpong-proc": (["localsock", "raw"], LATENCY, 1),
    "stream": (["localsock", "raw"], ["mb_per_s"], 1),
    "msg-pingpong": (["localsock", "localsock-fixed", "raw"], LATENCY, 1),
    "connect": (["localsock", "raw"], LATENCY, 1),
    "async-echo": (["localsock", "uv-raw"], LATENCY, 1),
    "idle-conns": (["localsock", "uv-raw"], ["rss_kb_per_conn"], 0),
}


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_line(line, scenario, impl, size, figures, count=1, clients=1):
    """The contract's problems with one output line, as a list of sentences."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        return [f"not JSON ({e}): {line!r}"]
    if not isinstance(obj, dict):
        return [f"not a JSON object: {line!r}"]
    problems = []
    if sorted(obj) != sorted(KEYS):
        missing = [k for k in KEYS if k not in obj]
        extra = [k for k in obj if k not in KEYS]
        problems.append(f"keys: missing {missing}, unexpected {extra}")
    want = {"impl": impl, "scenario": scenario, "size": size, "count": count, "clients": clients}
    for k, v in want.items():
        if k in obj and (obj[k] != v or type(obj[k]) is not type(v)):
            problems.append(f"{k} is {obj[k]!r}, the arguments say {v!r}")
    for k in ["seconds", "ops_per_s"] + figures:
        if k in obj and not (is_number(obj[k]) and obj[k] >= 0):
            problems.append(f"{k} must be a number >= 0, is {obj[k]!r}")
    for k in KEYS[7:]:
        if k in obj and k not in figures and obj[k] is not None:
            problems.append(f"{k} does not apply to {scenario} and must be null, is {obj[k]!r}")
    if all(is_number(obj.get(k)) for k in LATENCY) and obj["p50_us"] > obj["p99_us"]:
        problems.append(f"p50_us {obj['p50_us']} > p99_us {obj['p99_us']}")
    return problems


def run(scenario, impl, size, figures, count=1, clients=1):
    """Runs one scenario; prints its status; True when it kept the contract."""
    args = ["--scenario", scenario, "--size", str(size), "--count", str(count), "--clients",
            str(clients), "--impl", impl]
    try:
        p = subprocess.run(wrap + [exe] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        problems = [] if p.returncode == 0 else [f"exit status {p.returncode}: {p.stderr.strip()}"]
    except subprocess.TimeoutExpired:
        lines, problems = [], ["no result within 60 s"]
    if not problems and not lines:
        problems.append("printed nothing")
    for line in lines:
        problems += check_line(line, scenario, impl, size, figures, count, clients)
    status = "ok" if not problems else "FAILED"
    print(f"{scenario} {impl} --count {count} --clients {clients}: {status}")
    for problem in problems:
        print(f"    {problem}")
    return not problems


failures = 0
for scenario, (impls, figures, size) in SCENARIOS.items():
    for impl in impls:
        failures += not run(scenario, impl, size, figures)
# More clients than the count needs: the run ends while some of them still connect, and
# closing them (their connects cancelled) is part of a valid run. Repeated: which clients
# are still connecting at the end varies from run to run.
for impl in SCENARIOS["async-echo"][0]:
    for _ in range(5):
        failures += not run("async-echo", impl, 1, LATENCY, count=3, clients=8)
print("contract: all scenarios ok" if failures == 0 else f"contract: {failures} run(s) broke it")
sys.exit(1 if failures else 0)
