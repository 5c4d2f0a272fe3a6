#!/bin/bash
# Windows build under Wine: listen with standard output on /dev/full.
cd "$(dirname "$0")/.." && . scripts/env.sh
W=${1:-build/win/tools/lsock/lsock.exe}
N=rp-wfull-$$
timeout 60 wine64 $W listen $N >/dev/full 2>/tmp/$N.err &
P=$!
sleep 3
echo hello | timeout 60 wine64 $W connect -q $N
wait $P; echo "listen >/dev/full status: $?"; cat /tmp/$N.err
