#!/bin/sh
# connect: the listener sends "bye" and closes its socket completely; lsock connect's
# standard input is an idle pipe. Does lsock connect end?
L=${1:-../build/native/tools/lsock/lsock}
N=rp-cidle-$$
python3 -c "
import socket
s=socket.socket(socket.AF_UNIX); s.bind(b'\0$N'); s.listen()
c,_=s.accept(); c.sendall(b'bye\n'); c.close()" &
sleep 2
(sleep 15) | timeout 5 $L connect -q $N; echo "connect status: $? (124: still running 5 s after the listener closed)"
