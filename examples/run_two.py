#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the echo example as a user would, in two processes: echo_server, then
echo_client against it; checks that every line came back. Used by `meson test`, natively
and (the programs being .exe files) under Wine.

usage: run_two.py ECHO_SERVER ECHO_CLIENT
"""
import os
import subprocess
import sys

server_exe, client_exe = sys.argv[1], sys.argv[2]
# The build's exe wrapper (meson passes the cross file's); wine64 on PATH otherwise.
wrap = [os.environ.get("LOCALSOCK_EXE_WRAPPER") or "wine64"] if server_exe.endswith(".exe") else []
name = f"localsock-echo-test-{os.getpid()}"
lines = ["hello", "local sockets", "from another process"]
server = subprocess.Popen(wrap + [server_exe, name, "1"], stdout=subprocess.PIPE)
client = subprocess.run(wrap + [client_exe, name] + lines, stdout=subprocess.PIPE, timeout=60)
server_out = server.communicate(timeout=60)[0].decode(errors="replace")
out = client.stdout.decode(errors="replace")
print(out)
print(server_out)
ok = client.returncode == 0 and server.returncode == 0 and all(l in out for l in lines)
print("ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
