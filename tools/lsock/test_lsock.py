#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of the lsock tool, run by `meson test`: two lsock processes talking in byte
and message mode, --exec, --keep-open, ls (and --json), help, version and usage,
errors, and (Linux) interoperation with socat, interrupts (a tmux-driven Ctrl-C,
SIGTERM, SIGHUP), --reclaim, SIGPIPE and failed accepts in a --fork server, and a start
with standard streams closed. Under the Windows build the programs run under Wine.

usage: test_lsock.py LSOCK native|windows VERSION MANPAGE [HANDLE_PROBE | SLOW_SHIM]
"""
import json
import os
import shutil
import subprocess
import time

from lsock_harness import *  # noqa: F401,F403 (the shared helpers and state)
import lsock_cases_a  # noqa: F401 (registers its cases)
import lsock_cases_b  # noqa: F401

only = os.environ.get("LSOCK_TESTS")
if only:
    for fn in cases:
        if only in fn.__name__:
            fn()
    print(f"{len(failures)} failed, {len(skipped)} skipped")
    sys.exit(1 if failures else 0)

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

# ls: a listener shows up, with its process where the system tells.
name = fresh()
s = Server(cmd("listen", name))
code, out, err = client("ls")
jcode, jout, jerr = client("ls", "--json")
if windows and code == 1 and "cannot list" in err and wine_version():
    # Wine cannot enumerate the pipe directory (FindFirstFile on \\.\pipe\* fails
    # there); real Windows can. What holds under Wine: a clear error, no output.
    check("ls: under Wine, a clear error instead of a listing", out == b"" and jcode == 1 and jout == b"",
          f"out={out!r} jout={jout!r}")
else:
    check("ls: the listener is listed", code == 0 and name.encode() in out, f"code={code} err={err}")
    try:
        entries = json.loads(jout)
    except ValueError:
        entries = []
    mine = [e for e in entries if e.get("name", "").lstrip("@") == name]
    if windows:
        check("ls --json: the pipe is listed", jcode == 0 and len(mine) == 1 and mine[0]["type"] == "pipe",
              f"code={jcode} mine={mine} err={jerr}")
    else:
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
        check("ls --json: type, @name, pid, command and user of the listener",
              jcode == 0 and mine == [{"type": "stream", "name": "@" + name, "pid": s.p.pid,
                                       "command": "lsock", "user": user}],
              f"code={jcode} mine={mine} err={jerr}")
        row = [line for line in out.decode().splitlines() if line.endswith("@" + name)]
        check("ls: the row shows type, pid, user and command",
              len(row) == 1 and row[0].split()[:4] == ["stream", str(s.p.pid), user, "lsock"], f"row={row}")
client("connect", "--linger", "100", name, data=b"x")
s.finish()

if not windows:
    name = fresh()
    s = Server(cmd("listen", "--messages", name))
    code, out, err = client("ls", "--json")
    mine = [e for e in json.loads(out) if e["name"] == "@" + name] if code == 0 else []
    check("ls --json: a message listener is a seqpacket", [e["type"] for e in mine] == ["seqpacket"],
          f"code={code} mine={mine}")
    s.p.terminate()
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

# ---- help, version, usage (every platform) -------------------------------------------

for flag in ("--help", "-h"):
    code, out, err = client(flag)
    text = out.decode(errors="replace")
    missing = [w for w in ("listen", "connect", "ls", "--messages", "--keep-open", "--fork", "--exec",
                           "--reclaim", "--timeout", "--linger", "--json", "--quiet", "--help", "--version",
                           "Examples", "Exit status") if w not in text]
    check(f"{flag}: the full help on stdout, status 0", code == 0 and not missing and err == "",
          f"code={code} missing={missing} err={err!r}")

code, out, err = client("--version")
check("--version: the version on stdout, status 0",
      code == 0 and out.decode().strip() == f"lsock (localsock) {version}" and err == "",
      f"code={code} out={out!r} err={err!r}")

for args, what in (((), "no command"), (("frobnicate",), "an unknown command"),
                   (("listen", "--frobnicate", "x"), "an unknown option"),
                   (("connect", "--timeout", "soon", "x"), "a bad number"),
                   (("listen",), "a missing NAME"), (("connect", "a", "b"), "two NAMEs")):
    code, out, err = client(*args)
    lines = err.strip().splitlines()
    check(f"usage: {what} is a short usage on stderr, status 2",
          code == 2 and out == b"" and "usage: lsock" in err and "--help" in err and len(lines) <= 8,
          f"code={code} out={out!r} err={err!r}")

# The man page documents every option the help lists.
with open(manpage, encoding="utf-8") as f:
    man = f.read().replace("\\-", "-")
code, out, err = client("--help")
options = sorted(set(re.findall(r"--[a-z-]+", out.decode())))
undocumented = [o for o in options if o not in man]
check("man page: docs/lsock.1 documents every option of --help", options and not undocumented,
      f"undocumented={undocumented}")

# ---- errors: the library's text, status 1 (every platform) -----------------------------

code, out, err = client("connect", "--timeout", "200", fresh())
check("connect: the library's error, prefixed, on stderr, status 1",
      code == 1 and out == b"" and re.match(r"lsock: LocalSocket::connect '[^']+': ", err),
      f"code={code} err={err!r}")

if not windows:
    tmp = tempfile.mkdtemp(prefix="lsock-test-")

    def bind_error(path, **kw):
        r = subprocess.run(cmd("listen", path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, **kw)
        return r.returncode, r.stdout, r.stderr.decode(errors="replace")

    def shows_bind_error(code, out, err, path):
        # "lsock: " and the library's text: "Operation 'name': what went wrong".
        return (code == 1 and out == b"" and re.match(r"lsock: [A-Za-z:]+ '" + re.escape(path) + "': ", err)
                and "usage" not in err)

    path = os.path.join(tmp, "missing", "dir", "x.sock")
    code, out, err = bind_error(path)
    check("errors: a missing directory is the library's text and status 1",
          shows_bind_error(code, out, err, path), f"code={code} err={err!r}")

    path = os.path.join(tmp, "x" * 200 + ".sock")
    code, out, err = bind_error(path)
    check("errors: a name too long is the library's text and status 1",
          shows_bind_error(code, out, err, path), f"code={code} err={err!r}")

    # Permission denied: a directory only root may write to, for an unprivileged user
    # (root is let in anywhere: then lsock runs as nobody through setpriv).
    locked = os.path.join(tmp, "locked")
    os.mkdir(locked, 0o555)
    path = os.path.join(locked, "x.sock")
    if os.geteuid() == 0 and shutil.which("setpriv"):
        os.chmod(tmp, 0o755)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        r = subprocess.run(as_nobody + cmd("listen", path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        code, out, err = r.returncode, r.stdout, r.stderr.decode(errors="replace")
    else:
        code, out, err = bind_error(path)
    check("errors: permission denied is the library's text and status 1",
          shows_bind_error(code, out, err, path) and "access denied on the directory" in err,
          f"code={code} err={err!r}")

    # A stale file: the error says how to take it over; --reclaim does.
    path = os.path.join(tmp, "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    code, out, err = bind_error(path)
    check("stale file: the library's text, how to take it over, status 1",
          shows_bind_error(code, out, err, path) and f"lsock listen --reclaim {path}" in err,
          f"code={code} err={err!r}")
    s = Server(cmd("listen", "--reclaim", path))
    code, out, err = client("connect", "--linger", "100", path, data=b"after reclaim\n")
    got = s.finish()
    check("stale file: --reclaim takes it over", code == 0 and got == b"after reclaim\n",
          f"code={code} got={got!r} err={err} server={''.join(s.err)}")

# ---- interrupts (Linux) -----------------------------------------------------------------



if not windows:
    # Ctrl-C typed in a terminal: tmux runs lsock in a pane (its own server, so that
    # nothing else is touched) and types C-c. The shell in the pane survives the Ctrl-C
    # (`trap :`; its children get the default action back) and records lsock's status.
    if shutil.which("tmux"):
        path = os.path.join(tmp, "ctrl-c.sock")
        status_file = os.path.join(tmp, "ctrl-c.status")
        tmux = ["tmux", "-L", f"lsock-test-{os.getpid()}", "-f", "/dev/null"]
        script = f"trap : INT; '{lsock}' listen '{path}'; echo $? > '{status_file}'.tmp; " \
                 f"mv '{status_file}'.tmp '{status_file}'"
        subprocess.run(tmux + ["new-session", "-d", "-x", "100", "-y", "20", "sh", "-c", script], check=True)
        try:
            listening = wait_for(lambda: os.path.exists(path))
            subprocess.run(tmux + ["send-keys", "C-c"], check=True)
            ended = wait_for(lambda: os.path.exists(status_file))
            status = open(status_file).read().strip() if ended else "(still running)"
        finally:
            subprocess.run(tmux + ["kill-server"], stderr=subprocess.DEVNULL)
        check("Ctrl-C (tmux): lsock listen exits 130 and removes its socket file",
              listening and status == "130" and not os.path.exists(path),
              f"listening={listening} status={status} file left={os.path.exists(path)}")
        s = Server(cmd("listen", path))
        code, out, err = client("connect", "--linger", "100", path, data=b"again\n")
        got = s.finish()
        check("Ctrl-C (tmux): listening again on the same file works", code == 0 and got == b"again\n",
              f"code={code} got={got!r} server={''.join(s.err)}")
    else:
        check("Ctrl-C (tmux): tmux is installed (scripts/bootstrap installs it)", False)

    for sig, status in ((signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)):
        path = os.path.join(tmp, f"sig{int(sig)}.sock")
        s = Server(cmd("listen", path))
        s.p.send_signal(sig)
        s.finish(timeout=10)
        check(f"{sig.name}: lsock listen exits {status} and removes its socket file",
              s.p.returncode == status and not os.path.exists(path),
              f"status={s.p.returncode} file left={os.path.exists(path)}")

    # Interrupted while a client is connected: the listener's file goes too.
    path = os.path.join(tmp, "busy.sock")
    s = Server(cmd("listen", path), stdin=subprocess.PIPE)
    c = subprocess.Popen(cmd("connect", path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    wait_for(lambda: any("connected" in line for line in s.err))
    s.p.send_signal(signal.SIGINT)
    s.finish(timeout=10)
    c.kill()
    c.wait()
    check("SIGINT during a session: exits 130 and removes the socket file",
          s.p.returncode == 130 and not os.path.exists(path),
          f"status={s.p.returncode} file left={os.path.exists(path)}")

if windows:
    # Wine turns SIGINT into the console's Ctrl-C event (what SetConsoleCtrlHandler
    # handlers get on Windows): the listener closes, lsock exits 130, the name is free.
    name = fresh()
    s = Server(cmd("listen", name))
    s.p.send_signal(signal.SIGINT)
    s.finish(timeout=30)
    check("Ctrl-C (console event): lsock listen closes the listener and exits 130",
          s.p.returncode == 130 and any("listener closed" in line for line in s.err),
          f"status={s.p.returncode} err={''.join(s.err)!r}")
    s = Server(cmd("listen", name))
    code, out, err = client("connect", "--linger", "300", name, data=b"again\n")
    got = s.finish()
    check("Ctrl-C (console event): listening again on the same name works", code == 0 and got == b"again\n",
          f"code={code} got={got!r} server={''.join(s.err)}")

# ---- a --fork server goes on (Linux) ------------------------------------------------------

if not windows:
    # A command that exits before reading all its input: writing the rest finds no reader
    # (EPIPE); that session ends, the server and the next sessions go on.
    name = fresh()
    s = Server(cmd("listen", "--fork", "--exec", "head -c 3", name))
    code1, out1, err1 = client("connect", name, data=b"x" * (4 << 20), timeout=30)
    time.sleep(0.2)
    alive = s.p.poll() is None
    code2, out2, err2 = client("connect", name, data=b"abc")
    s.p.terminate()
    s.finish(timeout=10)
    check("SIGPIPE: a command that stops reading ends only its session",
          alive and out1 == b"xxx" and code2 == 0 and out2 == b"abc",
          f"alive={alive} status={s.p.returncode} out1={out1!r} code2={code2} out2={out2!r} "
          f"server={''.join(s.err)[-300:]!r}")

    # Standard output whose reader has gone (`lsock listen x | head -c 1`): the session
    # ends, and lsock with it, by status, not by SIGPIPE.
    name = fresh()
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    p = subprocess.Popen(cmd("listen", name), stdin=subprocess.DEVNULL, stdout=w_fd, stderr=subprocess.PIPE)
    os.close(w_fd)
    line = p.stderr.readline()
    code, out, err = client("connect", "--linger", "100", name, data=b"y" * 100000, timeout=20)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    rest = p.stderr.read().decode(errors="replace")
    check("SIGPIPE: standard output gone ends the session with status 0",
          b"listening" in line and p.returncode == 0 and "standard output stopped reading" in rest,
          f"status={p.returncode} err={rest!r}")

    # Out of descriptors: accept fails (EMFILE) while the limit holds; the server says so
    # and serves the waiting client once descriptors are back.
    import resource
    name = fresh()
    s = Server(cmd("listen", "--fork", "--exec", "cat", name))
    saved = resource.prlimit(s.p.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(s.p.pid, resource.RLIMIT_NOFILE, (0, saved[1]))  # no new descriptor at all
    # Linux reserves the descriptor of an accept already waiting: the first client is
    # accepted, and cannot have its command (no descriptor for the pipes).
    first = client("connect", name, timeout=20)
    c = subprocess.Popen(cmd("connect", name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    said = wait_for(lambda: any("accept failed" in line for line in s.err) or s.p.poll() is not None)
    alive = s.p.poll() is None
    if alive:
        resource.prlimit(s.p.pid, resource.RLIMIT_NOFILE, saved)
    try:
        out, _ = c.communicate(b"served later\n", timeout=20)
    except subprocess.TimeoutExpired:
        c.kill()
        out, _ = c.communicate()
    s.p.terminate()
    s.finish(timeout=10)
    check("accept failing (EMFILE): the --fork server reports it and goes on serving",
          said and alive and out == b"served later\n",
          f"alive={alive} out={out!r} first={first} server={''.join(s.err)[-300:]!r}")

# ---- started with standard input and output closed (Linux) ----------------------------------

if not windows:
    # Closed, they would be taken by the listener and the connection: what the client sends
    # would be written back into the connection.
    name = fresh()
    s = Server(["sh", "-c", f"exec '{lsock}' listen '{name}' <&- >&-"])
    code, out, err = client("connect", "--linger", "300", name, data=b"not for me\n")
    s.finish(timeout=10)
    server_err = "".join(s.err)
    # Data for a closed standard output is a write error (as coreutils reports one).
    check("closed stdio: what a client sends is not written back to it; the listener fails, status 1",
          code == 0 and out == b"" and s.p.returncode == 1 and "cannot write the output" in server_err,
          f"code={code} out={out!r} status={s.p.returncode} err={server_err!r}")
    for args in (("--help",), ("--version",), ("ls",), ("ls", "--json")):
        r = subprocess.run(["sh", "-c", f"exec '{lsock}' {' '.join(args)} >&-"], stdin=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=30)
        err = r.stderr.decode(errors="replace")
        check(f"closed stdout: {' '.join(args)} is status 1 and a message",
              r.returncode == 1 and "cannot write the output" in err, f"status={r.returncode} err={err!r}")
    name = fresh()
    s = Server(["sh", "-c", f"exec '{lsock}' listen --exec cat '{name}' <&- >&-"])
    code, out, err = client("connect", name, data=b"through cat\n")
    s.finish(timeout=10)
    check("closed stdio: --exec still gives the command the connection", code == 0 and out == b"through cat\n",
          f"code={code} out={out!r} err={err}")

for fn in cases:
    fn()

print(f"{len(failures)} failed, {len(skipped)} skipped")
sys.exit(1 if failures else 0)
