#!/bin/sh
# The peer connects, sends one line and closes its socket completely (not a half-close).
# lsock listen's standard input is a pipe that stays open but idle.
L=${1:-../build/native/tools/lsock/lsock}
N=rp-idle-$$
(sleep 20) | $L listen -q $N &
sleep 0.5
python3 -c "
import socket; s=socket.socket(socket.AF_UNIX); s.connect(b'\0$N'); s.sendall(b'hi\n'); s.close()"
sleep 3
if kill -0 $! 2>/dev/null; then echo "after 3 s: lsock listen still running, peer long gone"; else echo "lsock listen ended"; fi
ss -xlp 2>/dev/null | grep -c "$N" | sed 's/^/listeners still bound: /'
wait
