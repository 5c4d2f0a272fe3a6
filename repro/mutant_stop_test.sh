#!/bin/sh
# The test stop_ends_fork_commands cannot fail when the process-group kill is removed:
# its marker is only in the `sh -c` command line, never in the `sleep 60` it starts.
# Builds lsock with end_all_children killing the pid instead of the group (and no
# setpgid), runs that one test case, then lists `sleep 60` processes orphaned to init.
set -e
cd "$(dirname "$0")/.."
mkdir -p /tmp/rv2mut
sed 's/::kill(-pid, SIGTERM);/::kill(pid, SIGTERM);/; s/::kill(-pid, SIGKILL);/::kill(pid, SIGKILL);/; s/::setpgid(0, 0);/;/; s/::setpgid(pid, pid);/;/' \
  tools/lsock/platform_posix.cpp > /tmp/rv2mut/platform_posix.cpp
(cd build/native && c++ -I../../tools/lsock -Iinclude -I../../include -std=c++20 -O1 -pthread ../../tools/lsock/lsock.cpp \
  /tmp/rv2mut/platform_posix.cpp src/liblocalsock.a -o /tmp/rv2mut/lsock)
LSOCK_TESTS=stop_ends_fork_commands python3 tools/lsock/test_lsock.py /tmp/rv2mut/lsock native 0 docs/lsock.1 | tail -3
ps -eo pid,ppid,cmd | awk '$2==1 && $3=="sleep" && $4=="60" {print "orphaned:", $0}'
# (the orphans listed are this run's: end them by their pids)
