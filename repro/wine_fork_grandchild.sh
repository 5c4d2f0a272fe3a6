#!/bin/bash
# Windows build under Wine: a --fork session whose command (cmd.exe /c ping ...) outlives
# its peer. After the session ends (2 s grace, then TerminateProcess on cmd.exe), is the
# ping that cmd.exe started still running while the server goes on?
cd "$(dirname "$0")/.." && . scripts/env.sh
W=${1:-build/win/tools/lsock/lsock.exe}
N=rp-wgc-$$; C=$((40 + $$ % 50))
timeout 120 wine64 $W listen --fork --exec "ping -n $C 127.0.0.1" $N 2>/tmp/$N.err &
P=$!
sleep 3
timeout 30 wine64 $W connect -q $N </dev/null | head -c 20 >/dev/null
echo "client gone; pings running: $(pgrep -fc "ping -n $C 127.0.0.1\$")"
sleep 8
echo "8 s after the session's end: pings running: $(pgrep -fc "ping -n $C 127.0.0.1\$"); server alive: $(kill -0 $P 2>/dev/null && echo yes || echo no)"
ps -eo pid,cmd | grep -i "ping -n $C" | grep -v grep
kill -INT $P; wait $P
echo "server stderr:"; cat /tmp/$N.err
