#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the lsock tests share: the command line meson gives (LSOCK native|windows VERSION
MANPAGE [HANDLE_PROBE | SLOW_SHIM]), lsock processes as servers and clients, checks that
are counted, and the registry of behaviour cases (lsock_cases_*.py) that test_lsock.py
runs."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

lsock, platform, version, manpage = sys.argv[1:5]
windows = platform == "windows"
# Windows: a program that prints the pipe handles it inherited besides its standard ones.
# Linux: a library to preload that slows listen() and unlinkat().
handle_probe = sys.argv[5] if len(sys.argv) > 5 and windows else None
slow_shim = sys.argv[5] if len(sys.argv) > 5 and not windows else None
# The build's exe wrapper (meson passes the cross file's); wine64 on PATH otherwise.
wine = os.environ.get("LOCALSOCK_EXE_WRAPPER") or "wine64"
prefix = [wine] if windows else []
failures = []
counter = [0]


def fresh():
    counter[0] += 1
    return f"lsock-test-{os.getpid()}-{counter[0]}"


def cmd(*args):
    return prefix + [lsock, *args]


skipped = []


def skip(what, reason):
    """A check that cannot run here: said on its own line and counted, never silent."""
    print(f"skipped {what}: {reason}")
    skipped.append(what)


def check(what, ok, detail=""):
    print(("ok      " if ok else "FAILED  ") + what + ("" if ok else f"\n        {detail}"))
    if not ok:
        failures.append(what)


class Server:
    """An lsock (or socat) process that listens; waits until it does."""

    def __init__(self, args, ready_name=None, stdin=subprocess.DEVNULL, **kw):
        self.p = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.err = []
        self.ready = threading.Event()
        threading.Thread(target=self._stderr, daemon=True).start()
        if ready_name is None:
            self.ready.wait(60)
        else:  # socat says nothing: wait until a connect would find it
            time.sleep(0.5)

    def _stderr(self):
        for line in self.p.stderr:
            text = line.decode(errors="replace")
            self.err.append(text)
            if "listening on" in text:
                self.ready.set()
        self.ready.set()

    def finish(self, timeout=60):
        try:
            out = self.p.stdout.read()
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out = b""
        return out


def client(*args, data=b"", timeout=60):
    try:
        r = subprocess.run(cmd(*args), input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return r.returncode, r.stdout, r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return -1, b"", "timed out"


def wine_version():
    """The Wine version when the Windows programs run under Wine (the capability probe
    for what Wine lacks), else empty."""
    r = subprocess.run([wine, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout.decode().strip() if r.returncode == 0 else ""


def wait_for(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def pid_alive(pid):
    """True while process `pid` exists (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# Behaviour cases, each a function; LSOCK_TESTS=word runs only the cases whose name holds
# it (for working on one), otherwise every case runs after the checks below.
cases = []


def case(fn):
    cases.append(fn)
    return fn
