# SPDX-License-Identifier: MIT
"""lsock behaviour cases: --exec commands and their ends, interrupts with stdout stalled,
inherited descriptors and handles, --fork without threads, ls with hostile names,
--keep-open and a stdout that goes, uploads after a half-close, interrupts at bind and
teardown."""
from lsock_harness import *  # noqa: F401,F403 (the shared helpers and state)


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
