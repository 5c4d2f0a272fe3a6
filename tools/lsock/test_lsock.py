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


@case
def exec_command_outlives_peer():
    # A command that never stops writing, and a peer that reads a little and leaves: the
    # session ends, and the command with it (its output pipe closed; it ignores EPIPE here,
    # so only the termination after the grace ends it). Windows: cmd.exe's endless loop.
    name = fresh()
    if windows:
        command = "for /l %i in (0,0,1) do @echo y"
    else:
        pid_file = os.path.join(tempfile.mkdtemp(prefix="lsock-test-"), "pid")
        command = f"trap '' PIPE; echo $$ > '{pid_file}'; while :; do echo y; done 2>/dev/null"
    s = Server(cmd("listen", "--exec", command, name))
    c = subprocess.Popen(cmd("connect", "-q", name), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    head = c.stdout.read(10)
    c.stdout.close()
    try:
        c.wait(30)
    except subprocess.TimeoutExpired:
        c.kill()
    try:
        s.p.wait(20)
        ended = True
    except subprocess.TimeoutExpired:
        ended = False
        s.p.kill()
    # Not s.finish(): a command left running would hold the server's output open.
    s.p.stdout.close()
    leaked = False
    if not windows:
        pid = int(open(pid_file).read())
        leaked = pid_alive(pid)
        if leaked:
            os.kill(pid, signal.SIGKILL)
    check("--exec: a command still writing when the peer leaves is ended and reaped",
          head.startswith(b"y") and len(head) == 10 and ended and s.p.returncode == 0 and not leaked,
          f"head={head!r} ended={ended} status={s.p.returncode} leaked={leaked} err={''.join(s.err)[-300:]!r}")


@case
def stop_with_stdout_stalled():
    # Standard output that nobody reads (a stalled pager): a thread is blocked writing to
    # it. An interrupt still closes the listener (its file goes) and exits at once.
    if windows:
        name, sig, status = fresh(), signal.SIGINT, 130
    else:
        name, sig, status = os.path.join(tempfile.mkdtemp(prefix="lsock-test-"), "s.sock"), signal.SIGTERM, 143
    s = Server(cmd("listen", name), stdin=subprocess.PIPE)
    c = subprocess.Popen(cmd("connect", "-q", "--linger", "20000", name), stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # More than the pipes and the socket hold: the writer blocks too (a thread of ours).
    def feed():
        try:
            c.stdin.write(b"z" * (1 << 20))
        except OSError:
            pass  # the client ended (killed below)
    threading.Thread(target=feed, daemon=True).start()
    wait_for(lambda: any("connected" in line for line in s.err))
    time.sleep(0.5)  # the output pipe fills; the writer blocks
    s.p.send_signal(sig)
    try:
        s.p.wait(10)
        ended = True
    except subprocess.TimeoutExpired:
        ended = False
        s.p.kill()
        s.p.wait()
    c.kill()
    c.wait()
    file_left = not windows and os.path.exists(name)
    check(f"{sig.name} with standard output stalled: exits {status} at once, the listener closed",
          ended and s.p.returncode == status and not file_left,
          f"ended={ended} status={s.p.returncode} file left={file_left} err={''.join(s.err)[-300:]!r}")

@case
def exec_command_gets_only_its_pipes():
    # A --exec command gets standard input, output and error and nothing else: not a
    # descriptor lsock inherited without close-on-exec, nor another session's pipe ends
    # (a fork on another session's thread between pipe() and FD_CLOEXEC used to hand them
    # over; the child now closes every descriptor above 2 before exec).
    if windows:
        return
    marker = tempfile.NamedTemporaryFile(prefix="lsock-marker-")
    os.set_inheritable(marker.fileno(), True)
    listing = "ls -l /proc/$$/fd"  # the shell's descriptors, as "N -> target"
    name = fresh()
    s = Server(cmd("listen", "--exec", listing, name), pass_fds=(marker.fileno(),))
    code, out, err = client("connect", name)
    s.finish(timeout=10)
    fds = re.findall(r" (\d+) -> (.*)", out.decode(errors="replace"))
    extra = [fd for fd in fds if int(fd[0]) > 2]
    check("--exec: the command inherits no descriptor above 2 (Linux)",
          code == 0 and [fd[0] for fd in fds[:3]] == ["0", "1", "2"] and not extra,
          f"code={code} extra={extra} out={out!r}")
    marker.close()

@case
def exec_command_gets_only_its_handles():
    # Windows: a --exec command inherits its three standard handles only (a handle list),
    # not lsock's own standard output nor another session's pipe ends (inheritable only
    # while CreateProcess ran, so a concurrent session's command used to get them).
    if not windows or not handle_probe:
        return
    name = fresh()
    probe = "Z:" + os.path.abspath(handle_probe).replace("/", "\\")
    s = Server(cmd("listen", "--exec", probe, name), stdin=subprocess.PIPE)
    code, out, err = client("connect", name)
    s.p.stdin.close()
    s.finish(timeout=30)
    check("--exec: the command inherits no handle but its standard ones (Windows)",
          code == 0 and out.strip() == b"none", f"code={code} out={out!r} err={err}")

@case
def fork_server_out_of_threads():
    # A --fork server that cannot start a thread for a client (RLIMIT_NPROC reached):
    # that client is turned away with a message; the server goes on serving. The server
    # runs as a user id nobody else has, so that the limit counts its tasks only (root
    # ignores the limit): its main and signal threads, one session's two threads and its
    # command. (A session that gets its thread but not its second one fails the same way.)
    if windows:
        return
    if os.geteuid() != 0:
        skip("--fork: a client that cannot get a thread is turned away, the server goes on",
             "needs root (to run the server as an unused user id under RLIMIT_NPROC)")
        return
    import resource
    uid = 40000 + os.getpid() % 20000

    def as_other_user():
        resource.setrlimit(resource.RLIMIT_NPROC, (5, 5))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    name = fresh()
    s = Server(cmd("listen", "--fork", "--exec", "exec head -c 1", name), preexec_fn=as_other_user)
    first = subprocess.Popen(cmd("connect", name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    wait_for(lambda: any("connected" in line for line in s.err))
    code, out, err = client("connect", name, timeout=20)
    turned_away = wait_for(lambda: any("cannot serve" in line for line in s.err), 5)
    alive = s.p.poll() is None
    out1, _ = first.communicate(b"1", timeout=20)
    served = b""
    for _ in range(20):  # until the first session's thread has gone
        code3, served, err3 = client("connect", name, data=b"3", timeout=20)
        if served == b"3":
            break
        time.sleep(0.1)
    s.p.terminate()
    s.finish(timeout=10)
    check("--fork: a client that cannot get a thread is turned away, the server goes on",
          alive and turned_away and out1 == b"1" and served == b"3",
          f"alive={alive} status={s.p.returncode} out1={out1!r} served={served!r} "
          f"server={''.join(s.err)[-400:]!r}")

@case
def ls_hostile_names():
    # Any local user can bind a listener whose name holds a newline, a terminal escape or
    # bytes that are not UTF-8; /proc/net/unix prints names raw. lsock ls never crashes,
    # never shows a record the kernel did not make, keeps --json valid and keeps escape
    # sequences off the terminal. (Linux; the comm of this test's process is left alone.)
    if windows:
        return
    tag = f"lsock-t{os.getpid()}"  # short: abstract names hold 107 bytes
    real = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    real.bind(f"\0{tag}-real".encode())
    real.listen()
    inode = os.fstat(real.fileno()).st_ino
    names = [
        f"\0{tag}-crash\nx x x zz 0001 01 1 /crashed{os.getpid()}".encode(),
        f"\0{tag}-spoof\n0000000000000000: 00000002 00000000 00010000 0001 01 {inode} /forged{os.getpid()}".encode(),
        f"\0{tag}-bad\xffname".encode("latin-1"),
        f"\0{tag}-esc\x1b[2J\x1b]0;title\x07".encode(),
    ]
    held = []
    for n in names:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(n)
        sock.listen()
        held.append(sock)
    code, out, err = client("ls", "--json")
    try:
        entries = json.loads(out)
        valid = True
    except ValueError:
        entries, valid = [], False
    mine = sorted(e["name"] for e in entries if tag in e.get("name", ""))
    expected = sorted(["@" + n[1:].decode("latin-1").replace("\x00", "\x00") for n in names] + [f"@{tag}-real"])
    check("ls --json: names with newlines, escapes and non-UTF-8 bytes: valid JSON, each listener once, "
          "no forged entry", code == 0 and valid and mine == expected,
          f"code={code} valid={valid} mine={mine} expected={expected} err={err!r}")
    code, out, err = client("ls")
    rows = [line for line in out.split(b"\n") if tag.encode() in line]
    check("ls: the table escapes control bytes and shows no forged row",
          code == 0 and b"\x1b" not in out and len(rows) == 5
          and not [line for line in out.split(b"\n") if re.search(rb"forged|crashed", line) and tag.encode() not in line]
          and any(b"\\x1b[2J" in r for r in rows) and any(b"\\xff" in r for r in rows),
          f"code={code} rows={rows} err={err!r}")
    for sock in held + [real]:
        sock.close()

@case
def keep_open_stdout_gone():
    # listen --keep-open collects what clients send on its standard output; once that has
    # gone (its reader left: EPIPE), no later client's data can go anywhere: the listener
    # ends with status 1 and says why, instead of taking data and dropping it.
    name = fresh()
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    p = subprocess.Popen(cmd("listen", "--keep-open", name), stdin=subprocess.DEVNULL, stdout=w_fd,
                         stderr=subprocess.PIPE)
    os.close(w_fd)
    p.stderr.readline()  # listening
    code, out, err = client("connect", "--linger", "100", name, data=b"record 1\n", timeout=20)
    try:
        p.wait(10)
        ended = True
    except subprocess.TimeoutExpired:
        ended = False
        p.kill()
        p.wait()
    rest = p.stderr.read().decode(errors="replace")
    later, _, _ = client("connect", "--timeout", "300", name, data=b"record 2\n", timeout=20)
    check("--keep-open: standard output gone ends the listener with status 1 and a message",
          ended and p.returncode == 1 and "standard output" in rest and later == 1,
          f"ended={ended} status={p.returncode} later client={later} err={rest!r}")

@case
def keep_open_reader_left_between_clients():
    # listen --keep-open whose standard output's reader leaves while no client is served:
    # the listener notices at once (POLLERR on the pipe) and ends with status 1, so the
    # next client finds no listener instead of having its data dropped. (Unix: Windows
    # learns it at the next write.)
    if windows:
        return
    name = fresh()
    r_fd, w_fd = os.pipe()
    p = subprocess.Popen(cmd("listen", "--keep-open", name), stdin=subprocess.DEVNULL, stdout=w_fd,
                         stderr=subprocess.PIPE)
    os.close(w_fd)
    p.stderr.readline()  # listening
    code1, _, _ = client("-q", "connect", "--linger", "100", name, data=b"first\n", timeout=20)
    got = os.read(r_fd, 100)
    os.close(r_fd)  # the reader leaves while the listener waits for the next client
    try:
        p.wait(5)
        ended = True
    except subprocess.TimeoutExpired:
        ended = False
    later, _, later_err = client("-q", "connect", "--timeout", "300", name, data=b"second: lost\n", timeout=20)
    if not ended:
        p.kill()
        p.wait()
    rest = p.stderr.read().decode(errors="replace")
    check("--keep-open: stdout's reader leaving between clients ends the listener, status 1",
          code1 == 0 and got == b"first\n" and ended and p.returncode == 1 and "standard output" in rest
          and later == 1, f"got={got!r} ended={ended} status={p.returncode} later={later} err={rest!r}")

@case
def upload_outlasts_peer_half_close():
    # A listener with nothing to say (standard input empty) half-closes at once; a client
    # uploading to it goes on sending until its own input ends, however long that takes
    # (the peer's half-close ends only the peer-to-client direction; --linger is not a
    # limit on sending). Unix: Windows pipes have no half-close.
    if windows:
        return
    name = fresh()
    s = Server(cmd("listen", name))
    data = os.urandom(4 << 20)  # more than the socket and pipe buffers hold
    result = {}

    def upload():
        result["r"] = client("connect", "--linger", "200", name, data=data, timeout=60)

    t = threading.Thread(target=upload)
    t.start()
    time.sleep(1.0)  # the listener's reader is slow: the client is still sending
    got = s.finish(timeout=60)
    t.join(60)
    code, out, err = result.get("r", (-1, b"", "no result"))
    check("connect: an upload goes on after the listener's half-close until input ends",
          code == 0 and len(got) == len(data) and got == data,
          f"code={code} received={len(got)} of {len(data)} err={err!r}")

@case
def interrupt_at_bind_and_teardown():
    # An interrupt right after bind (before listen) or while the listener's file is being
    # removed at the end: the file is removed all the same, and the name can be used again.
    # A preloaded library holds lsock inside listen() / unlinkat() while the signal comes.
    if windows:
        return
    if not slow_shim:
        skip("SIGTERM during listen / unlinkat: the socket file is removed",
             "no slow-call shim library was given (test_lsock.py's fifth argument)")
        return
    for call in ("listen", "unlinkat"):
        tmp = tempfile.mkdtemp(prefix="lsock-test-")
        path, mark = os.path.join(tmp, "s.sock"), os.path.join(tmp, "mark")
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(slow_shim), LSOCK_SHIM_MARK=mark,
                   LSOCK_SHIM_CALL=call, ASAN_OPTIONS="verify_asan_link_order=0")
        p = subprocess.Popen(cmd("listen", path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        if call == "unlinkat":  # a session that ends; then the listener is closed
            wait_for(lambda: os.path.exists(path))
            client("connect", path)
        in_window = wait_for(lambda: os.path.exists(mark))
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        left = os.path.exists(path)
        check(f"SIGTERM during {call}: the socket file is removed",
              in_window and not left and p.returncode in (0, 143),
              f"in window={in_window} status={p.returncode} file left={left} err={p.stderr.read()!r}")

@case
def quiet_keeps_errors():
    # -q silences progress messages only: errors and usage still reach stderr.
    cases = [(("-q", "connect", "--timeout", "200", fresh()), 1, "LocalSocket::connect"),
             (("-q", "listen", "--fork", fresh()), 2, "--exec"),
             (("-q", "listen", "--bogus", "x"), 2, "usage: lsock")]
    if not windows:
        cases.append((("-q", "listen", "/nonexistent-lsock-dir/x.sock"), 1, "/nonexistent-lsock-dir/x.sock"))
    for args, status, text in cases:
        code, out, err = client(*args, timeout=30)
        check(f"-q: '{' '.join(args[1:3])}' still reports its error on stderr, status {status}",
              code == status and text in err, f"code={code} err={err!r}")
    name = fresh()
    p = subprocess.Popen(cmd("-q", "listen", name), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    for _ in range(100):  # until it listens (it says nothing when it does)
        code, out, err = client("-q", "connect", "--timeout", "20000", name, data=b"q\n")
        if code == 0 or p.poll() is not None:
            break
        time.sleep(0.1)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
    perr = p.stderr.read()
    check("-q: no progress messages", code == 0 and err == "" and perr == b"" and p.stdout.read() == b"q\n",
          f"code={code} err={err!r} server err={perr!r}")

def processes_with(marker, but=()):
    """The pids of processes whose command line holds `marker` (Wine's too), except `but`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in but:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read() and pid_alive(int(pid)):
                    found.append(int(pid))
        except OSError:
            pass
    return found


@case
def stop_ends_fork_commands():
    # SIGTERM (Ctrl-C under Wine) on a --fork server ends the commands of its sessions
    # too (Unix: each in its own process group, terminated and reaped; Windows: a job
    # object that kills them when lsock ends).
    name = fresh()
    if windows:
        marker = f"lsock-cmd-{os.getpid()}"
        command, sig, status = f"ping -n 60 127.0.0.1 & rem {marker}", signal.SIGINT, 130
    else:
        # The marker is the `sleep` the shell starts (a grandchild of lsock, argument list
        # "sleep\0SECONDS"), not the shell: only ending the whole process group ends it.
        seconds = f"{600 + counter[0]}.{os.getpid()}"
        marker = f"sleep\0{seconds}\0"
        command, sig, status = f"sleep {seconds}; :", signal.SIGTERM, 143
    s = Server(cmd("listen", "--fork", "--exec", command, name))
    clients = [subprocess.Popen(cmd("-q", "connect", "--timeout", "20000", name), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    started = wait_for(lambda: len(processes_with(marker, but=(s.p.pid,))) >= 2, 30)
    s.p.send_signal(sig)
    try:
        s.p.wait(20)
    except subprocess.TimeoutExpired:
        s.p.kill()
    wait_for(lambda: not processes_with(marker), 3)  # Wine: the job's kill lands a moment later
    left = processes_with(marker)
    for c in clients:
        c.kill()
        c.wait()
    for pid in processes_with(marker):
        os.kill(pid, signal.SIGKILL)
    check(f"{sig.name} on a --fork server ends its sessions' commands",
          started and s.p.returncode == status and not left,
          f"started={started} status={s.p.returncode} still running={left} "
          f"{[open(f'/proc/{pid}/cmdline', 'rb').read() for pid in left if os.path.exists(f'/proc/{pid}')]}")

@case
def peer_gone_ends_idle_session():
    # A peer that closes its connection completely ends the session even while nothing
    # happens on our side: standard input open but idle (listen and connect), or a --fork
    # command that writes nothing (ended: grace, then terminated, and reaped). A peer that
    # only half-closes keeps the session (upload_outlasts_peer_half_close).
    if not windows:
        name = fresh()
        s = Server(cmd("listen", name), stdin=subprocess.PIPE)
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.connect(b"\0" + name.encode())
        peer.sendall(b"hi\n")
        peer.close()
        try:
            s.p.wait(8)
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
            s.p.kill()
        out = s.p.stdout.read()
        s.p.stdin.close()
        check("listen: a peer that has closed ends the session while stdin is idle",
              ended and s.p.returncode == 0 and out == b"hi\n",
              f"ended={ended} status={s.p.returncode} out={out!r} err={''.join(s.err)[-300:]!r}")

        name = fresh()
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(b"\0" + name.encode())
        srv.listen(1)
        c = subprocess.Popen(cmd("connect", "-q", name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        srv.settimeout(10)
        conn, _ = srv.accept()
        conn.sendall(b"ho\n")
        conn.close()
        srv.close()
        try:
            c.wait(8)
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
            c.kill()
        out = c.stdout.read()
        c.stdin.close()
        check("connect: a peer that has closed ends the session while stdin is idle",
              ended and c.returncode == 0 and out == b"ho\n", f"ended={ended} status={c.returncode} out={out!r}")

    name = fresh()
    marker = f"lsock-silent-{os.getpid()}"
    command = f"ping -n 60 127.0.0.1 >nul & rem {marker}" if windows else f"sleep 60; : {marker}"
    s = Server(cmd("listen", "--fork", "--exec", command, name))
    for _ in range(2):
        if windows:
            client("-q", "connect", "--linger", "0", "--timeout", "20000", name, timeout=30)
        else:
            peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            peer.connect(b"\0" + name.encode())
            peer.close()
    started = wait_for(lambda: len(processes_with(marker, but=(s.p.pid,))) >= 2, 10) or windows
    # The grace is 2 s: the commands must be gone well before 8.
    gone = wait_for(lambda: not processes_with(marker, but=(s.p.pid,)), 8)
    left = processes_with(marker, but=(s.p.pid,))
    s.p.kill()
    s.p.wait()
    for pid in processes_with(marker):
        os.kill(pid, signal.SIGKILL)
    check("--fork: a silent command's session ends once its peer has closed", started and gone,
          f"started={started} still running={left} err={''.join(s.err)[-300:]!r}")

@case
def stop_kills_group_without_leader():
    # A command's process group is killed even when its leader has already gone: a
    # member that ignores SIGTERM gets SIGKILL after the grace, when lsock is interrupted
    # and when a session ends. (Unix: Windows commands are in a job object.)
    if windows:
        return
    for how in ("SIGTERM on the server", "the session's end"):
        name = fresh()
        seconds = f"{700 + counter[0]}.{os.getpid()}"
        marker = f"sleep\0{seconds}\0"
        s = Server(cmd("listen", "--fork", "--exec", f"(trap '' TERM; exec sleep {seconds}) & exec cat", name))
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.connect(b"\0" + name.encode())
        started = wait_for(lambda: len(processes_with(marker)) == 1, 10)
        if how == "the session's end":
            peer.close()  # cat reads its end and exits; the member stays
        else:
            s.p.send_signal(signal.SIGTERM)
            try:
                s.p.wait(20)
            except subprocess.TimeoutExpired:
                pass
        # The grace is 2 s (twice at most for a session: its command, then the group).
        gone = wait_for(lambda: not processes_with(marker), 8)
        left = processes_with(marker)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        peer.close()
        s.p.kill()
        s.p.wait()
        check(f"{how}: a process group whose leader has gone is killed after the grace", started and gone,
              f"started={started} still running={left}")

@case
def ls_json_invalid_utf8_bytes():
    # Each byte that is not part of valid UTF-8 becomes \u00XX of that very byte, and
    # the valid bytes after it are kept: a lead byte before an ASCII letter, a sequence
    # cut at the end, an overlong form. (Linux: ls lists sockets; the escaping is shared.)
    if windows:
        return
    tag = f"lsock-u{os.getpid()}"
    names = [f"\0{tag}-a".encode() + b"\xc3A", f"\0{tag}-b".encode() + b"\xe2\x82",
             f"\0{tag}-c".encode() + b"\xe0\x80\x80", f"\0{tag}-d".encode() + b"\xf0\x9f\x98"]
    held = []
    for n in names:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(n)
        sock.listen()
        held.append(sock)
    code, out, err = client("ls", "--json")
    for sock in held:
        sock.close()
    try:
        mine = sorted(e["name"] for e in json.loads(out) if tag in e.get("name", ""))
    except ValueError:
        mine = None
    # Latin-1 maps each byte to the code point of the same value: what \u00XX spells.
    expected = sorted("@" + n[1:].decode("latin-1") for n in names)
    check("ls --json: each byte that is not valid UTF-8 is \\u00XX of that byte", code == 0 and mine == expected,
          f"code={code} mine={mine!r} expected={expected!r}")

@case
def output_that_cannot_be_written():
    # Output that could not be written is a failure (status 1, said on stderr), not a
    # success: Linux: /dev/full (ENOSPC); Windows: a pipe whose reader has gone.
    runs = [("--help",), ("--version",)]
    if not windows:
        runs += [("ls",), ("ls", "--json")]
    for args in runs:
        if windows:
            r_fd, w_fd = os.pipe()
            os.close(r_fd)
            out = w_fd
        else:
            out = os.open("/dev/full", os.O_WRONLY)
        r = subprocess.run(cmd(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, timeout=30)
        os.close(out)
        err = r.stderr.decode(errors="replace")
        check(f"{' '.join(args)}: output that cannot be written is status 1 and a message",
              r.returncode == 1 and "lsock: " in err, f"status={r.returncode} err={err!r}")

@case
def session_output_that_cannot_be_written():
    # listen and connect whose data cannot be written to standard output fail: status 1
    # and "cannot write the output: <reason>" (a full disk: /dev/full, which Wine passes
    # through); a reader that has gone (EPIPE) ends the session as before: status 0 and
    # "standard output stopped reading" (SIGPIPE_stdout_gone checks the same).
    def run_listen(out):
        name = fresh()
        p = subprocess.Popen(cmd("listen", name), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
        first = p.stderr.readline().decode(errors="replace")  # "listening on ..."
        code, _, _ = client("-q", "connect", "--linger", "300", "--timeout", "20000", name, data=b"hello\n",
                            timeout=30)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        return p.returncode, first + p.stderr.read().decode(errors="replace")

    full = os.open("/dev/full", os.O_WRONLY)
    status, err = run_listen(full)
    check("listen >/dev/full: status 1, 'cannot write the output'",
          status == 1 and "cannot write the output: " in err and "stopped reading" not in err,
          f"status={status} err={err!r}")

    name = fresh()
    srv = subprocess.Popen(cmd("listen", name), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    srv.stderr.readline()  # "listening on ..."
    srv.stdin.write(b"reply\n")
    srv.stdin.close()
    c = subprocess.run(cmd("connect", "--timeout", "20000", "--linger", "300", name), stdin=subprocess.DEVNULL,
                       stdout=full, stderr=subprocess.PIPE, timeout=60)
    try:
        srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()
    os.close(full)
    err = c.stderr.decode(errors="replace")
    check("connect >/dev/full: status 1, 'cannot write the output'",
          c.returncode == 1 and "cannot write the output: " in err, f"status={c.returncode} err={err!r}")

    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    status, err = run_listen(w_fd)
    os.close(w_fd)
    # A reader that leaves is an end, not a failure (`lsock listen x | head -c 1`).
    check("listen with stdout's reader gone: status 0, 'standard output stopped reading'",
          status == 0 and "standard output stopped reading" in err and "cannot write" not in err,
          f"status={status} err={err!r}")

@case
def out_of_range_milliseconds():
    # --linger and --timeout take 0 to 86400000 ms (one day); beyond is bad usage, not a
    # value that wraps (or overflows strtoll) into something else.
    for value in ("86400001", "100000000", "9223372036854775807", "99999999999999999999"):
        for option in ("--linger", "--timeout"):
            code, out, err = client("connect", option, value, fresh(), timeout=30)
            check(f"usage: {option} {value} is rejected, status 2",
                  code == 2 and "86400000" in err and "usage: lsock" in err, f"code={code} err={err!r}")
    code, out, err = client("connect", "--linger", "86400000", "--timeout", "86400001", fresh(), timeout=30)
    check("usage: --linger 86400000 (the maximum) is accepted", code == 2 and "--timeout" in err
          and "--linger" not in err.split("usage:")[0], f"code={code} err={err!r}")

@case
def stale_hint_only_when_reclaim_works():
    # The stale-file error suggests --reclaim only where it would work: the library does not
    # take over a symbolic link (to a stale socket), so there the error says what is in
    # the way instead. (Unix: Windows names leave no file.)
    if windows:
        return
    tmp = tempfile.mkdtemp(prefix="lsock-test-")
    real, link = os.path.join(tmp, "real.sock"), os.path.join(tmp, "app.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(real)
    stale.close()
    os.symlink(real, link)
    code, out, err = client("connect", link, timeout=30)
    lcode, lout, lerr = client("listen", link, timeout=30)
    rcode, rout, rerr = client("listen", "--reclaim", link, timeout=30)
    check("stale file: behind a symbolic link, no --reclaim hint; the link is named as what is in the way",
          code == 1 and "lsock listen --reclaim" not in err and "symbolic link" in err and lcode == 1 and "symbolic link" in lerr
          and rcode == 1, f"connect: code={code} err={err!r} listen: code={lcode} err={lerr!r} "
          f"reclaim: code={rcode} err={rerr!r}")

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
