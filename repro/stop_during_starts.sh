#!/bin/sh
# SIGTERM while a --fork server is starting many commands at once; repeated. Counts
# commands left behind and how long lsock took to exit.
L=${1:-../build/native/tools/lsock/lsock}
for round in 1 2 3 4 5; do
  N=rp-race-$$-$round; M=7$$$round
  $L listen -q --fork --exec "exec sleep $M" $N 2>/dev/null &
  P=$!
  sleep 0.3
  python3 - "$N" <<'PY' &
import socket, sys, time
socks = []
for i in range(60):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(b"\0" + sys.argv[1].encode()); socks.append(s)
    except OSError: break
time.sleep(4)
PY
  C=$!
  sleep 0.0$round
  t0=$(date +%s.%N); kill -TERM $P; wait $P; st=$?; t1=$(date +%s.%N)
  left=$(ps -eo pid,cmd | awk -v m="$M" '$2=="sleep" && $3==m {print $1}')
  echo "round $round: status $st, exit after $(echo "$t1 - $t0" | bc) s, commands left: $(echo $left | wc -w)"
  [ -n "$left" ] && kill -KILL $left
  wait $C
done
