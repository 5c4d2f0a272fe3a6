#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Interoperability with peers nobody here wrote, run by `meson test`.

Linux: socat (UNIX-CONNECT, ABSTRACT-CONNECT, UNIX-LISTEN, seqpacket through its type
option), Python's socket module (AF_UNIX stream and SOCK_SEQPACKET, SCM_RIGHTS both
ways) and a bare libuv uv_pipe_t client talk to localsock listeners and sockets.
Both flavors of the Unix build also meet a Python implementation of the framed message
transport (the 8-byte greeting, then 4-byte little-endian lengths and bodies), written
here from the format, as client and as server. The generic flavor (the paths of macOS
and BSD built on Linux) has no abstract namespace and no seqpacket transport: those
cases are left out there, the rest run unchanged.
Windows (under Wine): the uv_pipe_t client, built with mingw, and cmd.exe redirection
into \\\\.\\pipe\\NAME talk to localsock named-pipe listeners. Every exchange checks
the bytes (and, in message mode, the boundaries) that come back.

usage: interop.py INTEROP_PEER UV_PIPE_CLIENT native|generic|windows
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

peer, uv_client, platform = sys.argv[1], sys.argv[2], sys.argv[3]
windows = platform == "windows"
generic = platform == "generic"
if platform not in ("native", "generic", "windows"):
    sys.exit(f"interop.py: unknown platform {platform!r}")
# The build's exe wrapper (meson passes the cross file's); wine64 on PATH otherwise.
wine = [os.environ.get("LOCALSOCK_EXE_WRAPPER") or "wine64"] if windows else []
failures = []
counter = [0]
tmp = tempfile.mkdtemp(prefix="localsock-interop-")


def fresh(path=False):
    counter[0] += 1
    name = f"interop-{os.getpid()}-{counter[0]}"
    return os.path.join(tmp, name) if path else name


def check(what, ok, detail=""):
    print(("ok      " if ok else "FAILED  ") + what + ("" if ok else f"\n        {detail}"))
    if not ok:
        failures.append(what)


def pattern(n, seed):
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    out = bytearray(n)
    for i in range(n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = x >> 24
    return bytes(out)


class Peer:
    """interop_peer as a listener: started, and waited for until it says 'ready'."""

    def __init__(self, *args):
        self.p = subprocess.Popen(wine + [peer, *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        line = self.p.stdout.readline()
        if line.strip() != b"ready":
            self.p.kill()
            raise RuntimeError(f"interop_peer {args} did not start: {self.p.stderr.read()!r}")

    def finish(self, timeout=60):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            return -1, out, err + b" (killed: no exit within the deadline)"
        return self.p.returncode, out, err


def run(args, data=None, timeout=60):
    try:
        r = subprocess.run(args, input=data, capture_output=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return -1, b"", b"no exit within the deadline"


def program(args, data=None, expect=None):
    """A client that is another program: passes when it exits 0 and, if `expect` is
    given, prints exactly that."""
    def client():
        code, out, err = run(args, data)
        ok = code == 0 and (expect is None or out == expect)
        return ok, f"{args[0]}: status {code}, {len(out)} bytes out, {err!r}"
    return client


def served(what, peer_args, client):
    """Starts a localsock listener, runs `client` against it, checks both ends."""
    server = Peer(*peer_args)
    try:
        ok, detail = client()
    except OSError as e:
        ok, detail = False, repr(e)
    code, _, err = server.finish()
    check(what, ok and code == 0, f"{detail}; localsock end: status {code}, {err!r}")


def calling(what, python_server, peer_args):
    """Runs a Python/socat server (a callable taking a ready event, or a command),
    then interop_peer with `peer_args` against it."""
    ready = threading.Event()
    result = {}

    def serve():
        try:
            result["ok"] = python_server(ready)
        except OSError as e:
            result["ok"] = False
            result["detail"] = repr(e)
            ready.set()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ready.wait(30)
    code, _, err = run(wine + [peer, *peer_args])
    t.join(30)
    check(what, code == 0 and result.get("ok", False),
          f"localsock end: status {code}, {err!r}; other end: {result}")


def python_listener(family_type, address):
    s = socket.socket(socket.AF_UNIX, family_type)
    s.bind(address)
    s.listen(1)
    s.settimeout(30)
    return s


def recv_all(conn, n):
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


# Sizes interop_peer's `call NAME message` sends, in order (see message_sizes there).
MESSAGE_SIZES = [1, 0, 100, 4096, 65536, 3]

# The framed transport's greeting: "LSFRAME" and the framing's version.
GREETING = b"LSFRAME\x01"


def frame_send(conn, msg):
    conn.sendall(len(msg).to_bytes(4, "little") + msg)


def frame_recv(conn):
    """One message, or None at the end of the stream between frames."""
    header = recv_all(conn, 4)
    if not header:
        return None
    if len(header) != 4:
        raise OSError("the stream ended inside a frame header")
    size = int.from_bytes(header, "little")
    body = recv_all(conn, size)
    if len(body) != size:
        raise OSError("the stream ended inside a frame")
    return body


def framed_tests(path_of_listener):
    """A Python framed client and server against localsock's framed transport."""
    message_kind = "message" if generic else "framed"
    path = path_of_listener()

    def py_framed_client():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(30)
            c.connect(path)
            c.sendall(GREETING)  # at once, before the server's arrives
            if recv_all(c, len(GREETING)) != GREETING:
                return False, "no greeting from the localsock listener"
            for i, size in enumerate([5, 0, 65536, 1, 300 * 1000]):
                msg = pattern(size, i)
                frame_send(c, msg)
                back = frame_recv(c)
                if back != msg:
                    return False, f"message {i} of {size} bytes came back as {back and len(back)}"
            return True, ""

    served("Python framed client -> localsock framed message listener", ["serve", path, message_kind],
           py_framed_client)

    path = path_of_listener()

    def py_framed_server(ready):
        with python_listener(socket.SOCK_STREAM, path) as s:
            ready.set()
            conn, _ = s.accept()
            with conn:
                conn.settimeout(30)
                conn.sendall(GREETING)
                if recv_all(conn, len(GREETING)) != GREETING:
                    return False
                for size in MESSAGE_SIZES:
                    msg = frame_recv(conn)
                    if msg is None or len(msg) != size:
                        return False
                    frame_send(conn, msg)
                return frame_recv(conn) is None  # then the clean end

    calling("localsock framed message client -> Python framed server", py_framed_server,
            ["call", path, message_kind])

    # A byte client at a framed listener: the listener says mode_mismatch and ends the
    # connection; the client reads the greeting, then the end (never waits forever).
    path = path_of_listener()

    def py_byte_client():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(30)
            c.connect(path)
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            got = recv_all(c, 1 << 16)
            return got == GREETING, f"read {got!r} before the end"

    server = Peer("serve", path, message_kind)
    try:
        ok, detail = py_byte_client()
    except OSError as e:
        ok, detail = False, repr(e)
    code, _, err = server.finish()
    check("Python byte client -> localsock framed listener: mode_mismatch there, the end here",
          ok and code != 0 and b"mode" in err, f"{detail}; localsock end: status {code}, {err!r}")


def linux_tests():
    data = pattern(300 * 1000, 3)

    # socat as a client, filesystem path and abstract name.
    if shutil.which("socat"):
        path = fresh(path=True)
        served("socat UNIX-CONNECT client -> localsock stream listener (path)",
               ["serve", path, "stream"],
               program(["socat", "-t", "10", "-", f"UNIX-CONNECT:{path}"], data, expect=data))
        # (The generic flavor has no abstract namespace and no seqpacket transport.)
        if not generic:
            name = fresh()
            served("socat ABSTRACT-CONNECT client -> localsock stream listener (abstract)",
                   ["serve", name, "stream"],
                   program(["socat", "-t", "10", "-", f"ABSTRACT-CONNECT:{name}"], data, expect=data))
            path = fresh(path=True)
            served("socat seqpacket client -> localsock message listener",
                   ["serve", path, "message"],
                   program(["socat", "-t", "10", "-", f"UNIX-CONNECT:{path},type=5"], b"one message\n",
                           expect=b"one message\n"))

        # socat as a server: localsock connects; cat echoes.
        for kind, addr_opts, call_args in [
            ("stream", "", ["stream"]),
            # Ping-pong, one message at a time, so cat cannot merge two; socat reads and
            # sends a message whole when it fits its buffer, and takes 0 bytes for the end.
            ("seqpacket", ",type=5", ["message", "1,100,4096,7"]),
        ][: 1 if generic else 2]:
            path = fresh(path=True)

            def socat_server(ready, path=path, addr_opts=addr_opts):
                p = subprocess.Popen(["socat", "-b", "65536", f"UNIX-LISTEN:{path}{addr_opts}",
                                      "EXEC:cat"], stderr=subprocess.PIPE)
                for _ in range(300):
                    if os.path.exists(path):
                        break
                    threading.Event().wait(0.01)
                ready.set()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    return False
                return True

            calling(f"localsock {kind} client -> socat UNIX-LISTEN server", socat_server,
                    ["call", path, *call_args])
    else:
        check("socat is installed (scripts/bootstrap installs it)", False)

    # Python's socket module as a client.
    path = fresh(path=True)

    def py_stream_client():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(30)
            c.connect(path)
            writer = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))
            writer.start()
            back = recv_all(c, len(data))
            writer.join()
            return back == data, f"{len(back)} of {len(data)} bytes back"

    served("Python AF_UNIX stream client -> localsock stream listener", ["serve", path, "stream"],
           py_stream_client)

    framed_tests(lambda: fresh(path=True))
    if generic:
        linux_common_tests(data)
        return

    name = fresh()

    def py_seqpacket_client():
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
            c.settimeout(30)
            c.connect("\0" + name)
            for i, size in enumerate([5, 0, 65536, 1, 4096]):
                msg = pattern(size, i)
                c.send(msg)
                back = c.recv(1 << 20)
                if back != msg:
                    return False, f"message {i} of {size} bytes came back as {len(back)} bytes"
            return True, ""

    served("Python SOCK_SEQPACKET client -> localsock message listener (abstract)",
           ["serve", name, "message"], py_seqpacket_client)

    path = fresh(path=True)

    def py_seqpacket_server(ready):
        with python_listener(socket.SOCK_SEQPACKET, path) as s:
            ready.set()
            conn, _ = s.accept()
            with conn:
                conn.settimeout(30)
                for size in MESSAGE_SIZES:  # a zero-length read is a message here
                    msg = conn.recv(1 << 20)
                    if len(msg) != size:
                        return False
                    conn.send(msg)
                return True

    calling("localsock message client -> Python SOCK_SEQPACKET server", py_seqpacket_server,
            ["call", path, "message"])

    linux_common_tests(data)


def linux_common_tests(data):
    """The cases every Unix flavor runs: byte streams and descriptors over socket files."""
    # Python's socket module as a server.
    path = fresh(path=True)

    def py_stream_server(ready):
        with python_listener(socket.SOCK_STREAM, path) as s:
            ready.set()
            conn, _ = s.accept()
            with conn:
                conn.settimeout(30)
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return True
                    conn.sendall(chunk)

    calling("localsock stream client -> Python AF_UNIX stream server", py_stream_server,
            ["call", path, "stream"])

    # SCM_RIGHTS both ways.
    path = fresh(path=True)
    secret = b"a file only this descriptor reaches\n"

    def py_fd_client():
        with tempfile.TemporaryFile() as f, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            f.write(secret)
            f.flush()
            c.settimeout(30)
            c.connect(path)
            socket.send_fds(c, [b"F"], [f.fileno()])
            back = recv_all(c, len(secret))
            return back == secret, f"got {back!r}"

    served("Python SCM_RIGHTS sender -> localsock receiver reads through the descriptor",
           ["fd-serve", path], py_fd_client)

    path = fresh(path=True)

    def py_fd_server(ready):
        with python_listener(socket.SOCK_STREAM, path) as s:
            ready.set()
            conn, _ = s.accept()
            with conn:
                conn.settimeout(30)
                msg, fds, _, _ = socket.recv_fds(conn, 16, 4)
                if msg != b"F" or len(fds) != 1:
                    return False
                with os.fdopen(fds[0], "rb") as f:
                    f.seek(0)
                    conn.sendall(f.read())
                return True

    calling("localsock SCM_RIGHTS sender -> Python receiver reads through the descriptor",
            py_fd_server, ["fd-call", path])

    # A bare libuv client.
    path = fresh(path=True)
    served("libuv uv_pipe_t client -> localsock stream listener", ["serve", path, "stream"],
           program([uv_client, path]))


def windows_tests():
    name = fresh()
    served("libuv uv_pipe_t client (mingw) -> localsock named-pipe listener",
           ["serve", name, "stream"],
           program(wine + [uv_client, f"\\\\.\\pipe\\{name}"]))

    name = fresh()
    server = Peer("sink", name)
    words = f"through cmd.exe {name}"
    code, out, err = run(wine + ["cmd.exe", "/c", f"echo {words}>\\\\.\\pipe\\{name}"])
    scode, sout, serr = server.finish()
    check("cmd.exe redirection into \\\\.\\pipe\\NAME -> localsock listener",
          code == 0 and scode == 0 and sout.strip() == words.encode(),
          f"cmd: status {code}, {err!r}; listener: status {scode}, got {sout!r}, {serr!r}")


try:
    windows_tests() if windows else linux_tests()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print(f"{len(failures)} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
