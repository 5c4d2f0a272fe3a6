# SPDX-License-Identifier: MIT
"""lsock behaviour cases: -q keeps errors, interrupts end --fork commands, a peer that
has gone ends idle sessions, process groups without their leader, JSON of invalid UTF-8,
output that cannot be written, out-of-range durations, the --reclaim hint."""
from lsock_harness import *  # noqa: F401,F403 (the shared helpers and state)


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
