#!/usr/bin/env python3
# lsock ls --json: a byte that is not valid UTF-8 must become \u00XX of THAT byte.
import json, os, socket, subprocess, sys
lsock = sys.argv[1]
tag = f"rp{os.getpid()}"
names = [b"\0" + tag.encode() + b"-a\xc3A",        # lead byte 0xc3 + 'A'
         b"\0" + tag.encode() + b"-b\xe2\x82",     # truncated 3-byte sequence at the end
         b"\0" + tag.encode() + b"-c\xe0\x80\x80"] # overlong form of NUL
held = []
for n in names:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(n); s.listen(); held.append(s)
out = subprocess.run([lsock, "ls", "--json"], stdout=subprocess.PIPE).stdout.decode()
for line in out.splitlines():
    if tag in line: print(line)
for e in json.loads(out):
    if tag in e["name"]:
        print(repr(e["name"]))
