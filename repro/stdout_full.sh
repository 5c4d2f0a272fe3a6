#!/bin/sh
# lsock listen/connect with standard output on /dev/full: the data cannot be written.
L=${1:-../build/native/tools/lsock/lsock}
N=rp-full-$$
$L listen $N >/dev/full 2>/tmp/$N.err &
P=$!
sleep 0.5
echo hello | $L connect -q $N
wait $P; echo "listen >/dev/full status: $?"; cat /tmp/$N.err
(echo reply | $L listen -q $N-2 >/dev/null) &
sleep 0.5
$L connect $N-2 </dev/null >/dev/full; echo "connect >/dev/full status: $?"
wait
