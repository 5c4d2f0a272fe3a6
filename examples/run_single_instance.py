#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the single_instance example as a user would: a first launch (the primary), then
later launches with arguments, one after the other and then several at once; checks
that each later launch was handed over and that the primary printed every one. Used by
`meson test`, natively and (the program being an .exe) under Wine.

usage: run_single_instance.py SINGLE_INSTANCE
"""
import os
import subprocess
import sys

exe = sys.argv[1]
wrap = [os.environ.get("LOCALSOCK_EXE_WRAPPER") or "wine64"] if exe.endswith(".exe") else []
app = ["--app", f"localsock-example-{os.getpid()}"]
later = [["open", "a.txt"], ["--new-window"], ["b c.txt"]]
together = [[f"together-{i}"] for i in range(4)]

primary = subprocess.Popen(wrap + [exe] + app + ["--exit-after", str(len(later) + len(together))],
                           stdout=subprocess.PIPE)
first = primary.stdout.readline().decode(errors="replace")
print(first, end="")
ok = first.startswith("primary")
if ok:
    for args in later:
        r = subprocess.run(wrap + [exe] + app + args, stdout=subprocess.PIPE, timeout=60)
        out = r.stdout.decode(errors="replace")
        print(out, end="")
        ok = ok and r.returncode == 0 and out.startswith("secondary")
    runs = [subprocess.Popen(wrap + [exe] + app + args, stdout=subprocess.PIPE) for args in together]
    for p in runs:
        out = p.communicate(timeout=60)[0].decode(errors="replace")
        print(out, end="")
        ok = ok and p.returncode == 0 and out.startswith("secondary")
else:
    primary.kill()
rest = primary.communicate(timeout=60)[0].decode(errors="replace")
print(rest, end="")
for args in later + together:
    ok = ok and "".join(f" [{a}]" for a in args) in rest
ok = ok and primary.returncode == 0
print("ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
