#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs one of the programs of docs/getting-started.md end to end, as its user would:
the server side first, then its clients, each in a process of its own; checks their
output and exit status, with a deadline on every step (nothing may hang).

usage: getting_started.py PROGRAM BINDIR [WRAPPER]

PROGRAM is helper-rpc, libuv-chat or daemon-cli; BINDIR holds its executables (.exe
files are run through WRAPPER, Wine). Prints "ok (getting-started PROGRAM)" at the end
when every check held, and exits non-zero otherwise.
"""
import os
import re
import queue
import stat
import subprocess
import sys
import tempfile
import threading
import time

program, bindir = sys.argv[1], sys.argv[2]
windows = any(f.endswith(".exe") for f in os.listdir(bindir))
wrapper = [sys.argv[3]] if len(sys.argv) > 3 and windows else []
env = dict(os.environ)
if windows:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env.setdefault("WINEPREFIX", os.path.join(root, ".cache", "wineprefix"))
    env["WINEDEBUG"] = "-all"
# Wine starts a program in a second or two; natively it takes milliseconds.
STEP = 60 if windows else 20
unique = f"gs-{program}-{os.getpid()}"
failures = []


def exe(name):
    return wrapper + [os.path.join(bindir, name + (".exe" if windows else ""))]


def expect(cond, what):
    if not cond:
        failures.append(what)


class Server:
    """A program that runs in the background; its output is collected line by line."""

    def __init__(self, cmd):
        print("$ " + " ".join(cmd), flush=True)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True, errors="replace")
        self.lines = queue.Queue()
        self.output = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text):
        """Waits until a line holds `text`; False if the program ended or time ran out."""
        deadline = time.monotonic() + STEP
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self.lines.put(None)
                return False
            self.output.append(line)
            if text in line:
                return True
        return False

    def finish(self):
        """Waits for the program to end by itself; kills it when it does not."""
        try:
            code = self.proc.wait(timeout=STEP)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.wait_for("\0")  # drain what is left
        print("".join(self.output), end="")
        return code


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           text=True, errors="replace", timeout=STEP)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(out + "(timed out)")
        return None, out
    print(p.stdout, end="")
    return p.returncode, p.stdout


def helper_rpc():
    helper = Server(exe("helper") + [unique])
    expect(helper.wait_for("listening"), "the helper did not start listening")
    code, out = run(exe("app") + [unique])
    expect(code == 0, f"app exited with {code}")
    for line in ("add 2 3      -> 5", "upper hello  -> HELLO", "no reply in time",
                 "late reply to request 3", "add 40 2     -> 42", "upper again  -> AGAIN",
                 "app: 0 wrong replies, "):
        expect(line in out, f"app did not print '{line}'")
    # One reconnect for the restart, or two when a connect met the old listener closing.
    expect(re.search(r"app: 0 wrong replies, [23] connections", out) is not None,
           "app did not reconnect as expected (2 or 3 connections)")
    code = helper.finish()
    expect(code == 0, f"helper exited with {code}")
    expect("helper: restarting" in "".join(helper.output), "the helper did not restart")


def libuv_chat():
    server = Server(exe("chat_server") + [unique, "--exit-after", "3"])
    expect(server.wait_for("listening"), "the chat server did not start listening")
    said = {"ada": ["hello", "how are you"], "bob": ["hi"], "cy": ["hey", "fine", "bye"]}
    clients = {nick: subprocess.Popen(exe("chat_client") + [unique, nick] + lines, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, errors="replace")
               for nick, lines in said.items()}
    for nick, proc in clients.items():
        try:
            out, _ = proc.communicate(timeout=STEP)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            failures.append(f"chat_client {nick} did not finish")
        print(f"[chat_client {nick}]\n{out}", end="")
        expect(proc.returncode == 0, f"chat_client {nick} exited with {proc.returncode}")
        for line in said[nick]:
            expect(f"{nick}: {line}\n" in out, f"{nick} did not hear its own line '{line}' back")
    code = server.finish()
    expect(code == 0, f"chat_server exited with {code}")
    text = "".join(server.output)
    for nick in said:
        expect(f"{nick} joined" in text and f"{nick} left" in text,
               f"the server did not see {nick} come and go")
    expect("chat_server: stopped" in text, "the server did not stop cleanly")


def daemon_cli():
    with tempfile.TemporaryDirectory(prefix="gs-") as d:
        sock = os.path.join(d, f"tallyd-{os.getpid()}.sock")
        daemon = Server(exe("tallyd") + [sock])
        expect(daemon.wait_for("listening"), "tallyd did not start listening")
        if not windows:
            st = os.lstat(sock) if os.path.exists(sock) else None
            expect(st is not None and stat.S_ISSOCK(st.st_mode), "no socket file while tallyd runs")
            expect(st is not None and stat.S_IMODE(st.st_mode) == 0o600,
                   "the socket file is not mode 0600")
        ctl = exe("tallyctl") + ["--socket", sock]
        for args, want, want_code in ((["add", "apples"], "apples = 1", 0),
                                      (["add", "apples", "4"], "apples = 5", 0),
                                      (["list"], "apples = 5", 0),
                                      (["frobnicate"], "error: unknown command", 1),
                                      (["status"], "running, 4 commands served", 0),
                                      (["stop"], "stopping", 0)):
            code, out = run(ctl + args)
            expect(code == want_code and want in out,
                   f"tallyctl {' '.join(args)}: exit {code}, expected {want_code} and '{want}'")
        code = daemon.finish()
        expect(code == 0, f"tallyd exited with {code}")
        if not windows:
            expect(not os.path.exists(sock), "tallyd left its socket file behind")
        code, out = run(ctl + ["status"])
        expect(code == 1 and "not running" in out, "tallyctl did not say that tallyd is not running")


try:
    {"helper-rpc": helper_rpc, "libuv-chat": libuv_chat, "daemon-cli": daemon_cli}[program]()
except OSError as e:  # a program that was not built
    failures.append(str(e))
for f in failures:
    print("FAILED: " + f)
if not failures:
    print(f"ok (getting-started {program})")
sys.exit(1 if failures else 0)
