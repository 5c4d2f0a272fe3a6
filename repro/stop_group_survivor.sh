#!/bin/sh
# SIGTERM to a --fork server: a member of a session command's process group that ignores
# SIGTERM should get SIGKILL after the grace ("SIGKILL after grace"); it survives when
# the group's leader has died of the SIGTERM.
L=${1:-../build/native/tools/lsock/lsock}
N=rp-grp-$$
M=31$$
$L listen -q --fork --exec "(trap '' TERM; exec sleep $M) & exec cat" $N &
P=$!
sleep 0.5
(sleep 30) | $L connect -q $N &
C=$!
sleep 1
echo "before: $(pgrep -fc "sleep $M") sleep $M process(es)"
kill -TERM $P; wait $P; echo "lsock listen status: $?"
sleep 3
echo "3 s after lsock exited: $(pgrep -fc "sleep $M") sleep $M process(es) left: $(pgrep -f "sleep $M" | xargs -r ps -o pid,ppid,pgid,stat,cmd -p | tail -n +2)"
pgrep -f "^sleep $M\$" | xargs -r kill -KILL; kill $C 2>/dev/null
