#!/usr/bin/env python3
# lsock ls --json with many listeners (several netlink dump parts) and long names.
import json, os, resource, socket, subprocess, sys
lsock = sys.argv[1]; count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
resource.setrlimit(resource.RLIMIT_NOFILE, (count + 100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
tag = f"rpm{os.getpid()}-"
held = []
for i in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    n = (tag + str(i) + "-").ljust(107, "x").encode()
    s.bind(b"\0" + n); s.listen(); held.append(s)
r = subprocess.run([lsock, "ls", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
mine = [e for e in json.loads(r.stdout) if tag in e["name"]]
print(f"status {r.returncode}, listed {len(mine)} of {count}, with pid {sum(1 for e in mine if e['pid'])}, distinct {len({e['name'] for e in mine})}")
