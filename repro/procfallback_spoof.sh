#!/bin/sh
# Builds and runs procfallback_spoof.cpp against tools/lsock/platform_posix.cpp.
set -e
cd "$(dirname "$0")/../build/native"
c++ -I../../tools/lsock -Iinclude -I../../include -std=c++20 -O0 -pthread ../../repro/procfallback_spoof.cpp \
  ../../tools/lsock/platform_posix.cpp -o /tmp/procfallback_spoof
/tmp/procfallback_spoof
