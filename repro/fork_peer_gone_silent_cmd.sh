#!/bin/sh
# --fork --exec with a command that writes nothing: clients connect and close their socket
# completely. Sessions and commands of clients long gone stay forever.
L=${1:-../build/native/tools/lsock/lsock}
N=rp-silent-$$
$L listen -q --fork --exec 'exec sleep 600' $N &
P=$!
sleep 0.5
python3 -c "
import socket
for i in range(5):
    s=socket.socket(socket.AF_UNIX); s.connect(b'\0$N'); s.close()"
sleep 5
echo "5 s after all 5 clients closed: $(ps --ppid $P -o pid= | wc -l) commands still running"
kill $P; wait $P; echo "status $?"
