#!/bin/sh
# connect --exec 'yes': the listener reads 10 bytes and closes. lsock should end.
L=${1:-../build/native/tools/lsock/lsock}
N=rp-yes-$$
python3 -c "
import socket,time
s=socket.socket(socket.AF_UNIX); s.bind(b'\0$N'); s.listen()
c,_=s.accept(); c.recv(10); c.close(); time.sleep(8)" &
S=$!
sleep 2
timeout 6 $L connect -q --exec 'yes' $N; echo "connect --exec yes status: $? (124 = still running after 6 s)"
kill $S
