#!/bin/sh
# --fork --exec: after many sessions (normal, and peers that leave early), lsock's open
# descriptors and children.
L=${1:-../build/native/tools/lsock/lsock}
N=rp-leak-$$
$L listen -q --fork --exec 'cat' $N &
P=$!
sleep 0.5
echo "fds at start: $(ls /proc/$P/fd | wc -l)"
for i in $(seq 20); do echo hi | $L connect -q $N >/dev/null; done
python3 -c "
import socket
for i in range(20):
    s=socket.socket(socket.AF_UNIX); s.connect(b'\0$N'); s.close()"
sleep 1
echo "fds after 40 sessions: $(ls /proc/$P/fd | wc -l)"
echo "children: $(ps -o pid,stat,cmd --ppid $P | tail -n +2 | wc -l)"
ps -o pid,stat,cmd --ppid $P | tail -n +2
kill $P; wait $P; echo "status $?"
