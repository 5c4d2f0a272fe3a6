#!/usr/bin/env python3
# listen --keep-open: stdout's reader leaves BETWEEN two clients. The second client's
# data is accepted and silently dropped; that client is told nothing (status 0).
import os, subprocess, sys, time
lsock = sys.argv[1]; name = f"rp-ko-{os.getpid()}"
r, w = os.pipe()
srv = subprocess.Popen([lsock, "listen", "--keep-open", name], stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE)
os.close(w)
time.sleep(0.5)
c1 = subprocess.run([lsock, "-q", "connect", name], input=b"first\n", capture_output=True)
print("client 1:", c1.returncode, "reader got:", os.read(r, 100))
os.close(r)  # the reader leaves; lsock is idle, waiting for the next client
time.sleep(0.3)
c2 = subprocess.run([lsock, "-q", "connect", name], input=b"second: lost\n", capture_output=True)
print("client 2 status:", c2.returncode, "stderr:", c2.stderr)
srv.wait(10)
print("server status:", srv.returncode, "stderr:", srv.stderr.read().decode())
