#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of the lsock tool, run by `meson test`: two lsock processes talking in byte
and message mode, --exec, --keep-open, ls, a clear error, and (Linux) interoperation
with socat in both directions. Under the Windows build the programs run under Wine.

usage: test_lsock.py LSOCK native|windows
"""
import os
import shutil
import subprocess
import sys
import threading
import time

lsock, platform = sys.argv[1], sys.argv[2]
windows = platform == "windows"
prefix = ["wine64"] if windows else []
failures = []
counter = [0]


def fresh():
    counter[0] += 1
    return f"lsock-test-{os.getpid()}-{counter[0]}"


def cmd(*args):
    return prefix + [lsock, *args]


def check(what, ok, detail=""):
    print(("ok      " if ok else "FAILED  ") + what + ("" if ok else f"\n        {detail}"))
    if not ok:
        failures.append(what)


class Server:
    """An lsock (or socat) process that listens; waits until it does."""

    def __init__(self, args, ready_name=None, stdin=subprocess.DEVNULL):
        self.p = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    r = subprocess.run(["wine64", "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout.decode().strip() if r.returncode == 0 else ""


# Bytes, one way and back.
name = fresh()
s = Server(cmd("listen", name))
code, out, err = client("connect", "--linger", "300", name, data=b"hello\n")
got = s.finish()
check("bytes: a client's input reaches the listener's output", code == 0 and got == b"hello\n",
      f"code={code} got={got!r} err={err}")

# Messages: one line, one message, empty lines included.
name = fresh()
s = Server(cmd("listen", "--messages", name))
code, out, err = client("connect", "--messages", "--linger", "300", name, data=b"a\nbb\n\nccc")
got = s.finish()
check("messages: lines become messages and back", code == 0 and got == b"a\nbb\n\nccc\n",
      f"code={code} got={got!r} err={err}")

# --exec: a command's output goes to the client.
name = fresh()
s = Server(cmd("listen", "--exec", "echo hello", name))
code, out, err = client("connect", name)
s.finish()
check("--exec: the command's output reaches the client", code == 0 and out.strip() == b"hello",
      f"code={code} out={out!r} err={err}")

# --keep-open: clients one after another, all collected.
name = fresh()
s = Server(cmd("listen", "--keep-open", name))
for word in (b"one\n", b"two\n"):
    client("connect", "--linger", "300", name, data=word)
time.sleep(0.3)
s.p.kill()
got = s.finish()
check("--keep-open: several clients are served in turn", got == b"one\ntwo\n", f"got={got!r}")

# ls: a listener shows up.
name = fresh()
s = Server(cmd("listen", name))
code, out, err = client("ls")
if windows and code == 1 and "cannot list" in err and wine_version():
    # Wine cannot enumerate the pipe directory (FindFirstFile on \\.\pipe\* fails
    # there); real Windows can. What holds under Wine: a clear error, no output.
    check("ls: under Wine, a clear error instead of a listing", out == b"", f"out={out!r}")
else:
    check("ls: the listener is listed", code == 0 and name.encode() in out, f"code={code} err={err}")
client("connect", "--linger", "100", name, data=b"x")
s.finish()

# A clear error, on stderr, for nobody listening.
code, out, err = client("connect", fresh())
check("connect: nobody listening is a clear error", code == 1 and "no listener" in err and out == b"",
      f"code={code} err={err!r}")

# socat on both sides (Linux): abstract names are the same thing to both.
if not windows and shutil.which("socat"):
    name = fresh()
    s = Server(["socat", f"ABSTRACT-LISTEN:{name}", "EXEC:cat"], ready_name=name)
    code, out, err = client("connect", name, data=b"through socat\n")
    s.finish()
    check("socat: lsock talks to a socat listener", code == 0 and out == b"through socat\n",
          f"code={code} out={out!r} err={err}")
    name = fresh()
    s = Server(cmd("listen", "--exec", "cat", name))
    r = subprocess.run(["socat", "-", f"ABSTRACT-CONNECT:{name}"], input=b"from socat\n",
                       stdout=subprocess.PIPE, timeout=60)
    s.finish()
    check("socat: a socat client talks to lsock --exec cat", r.stdout == b"from socat\n",
          f"out={r.stdout!r}")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
