// SPDX-License-Identifier: MIT
// localsock-bench: localsock against its baselines, in one program so that every figure
// has its baseline from the same run. This file is the benchmark contract (its
// arguments and its output, see docs/performance.md); the scenarios are in blocking.cpp
// and async.cpp, the transports in transports.hpp, what differs by platform in
// platform_posix.cpp and platform_win.cpp.
//
//   localsock-bench --scenario S --size N --count N [--clients N] [--impl NAME]
//
// Scenarios: pingpong, pingpong-proc (the echo in a second process), stream,
// msg-pingpong, connect, async-echo, idle-conns. Implementations: localsock (default);
// localsock-fixed (msg-pingpong receiving into a fixed buffer); raw (the bare system
// calls: socket/read/write on Unix, CreateNamedPipe/ReadFile/WriteFile on Windows);
// uv-raw (bare libuv uv_pipe_t; async-echo and idle-conns). --size is the bytes per
// operation (at least 1; idle-conns moves no data and takes any size, 0 included),
// --count the operations (at least 1; idle-conns ignores it), --clients the clients
// (at least 1; async-echo and idle-conns). Prints one JSON object per line, with exactly
// these keys:
// {"impl","scenario","size","count","clients","seconds","ops_per_s","p50_us","p99_us",
//  "mb_per_s","rss_kb_per_conn"}; p50_us/p99_us (the latency of one operation) are
// numbers for pingpong, pingpong-proc, msg-pingpong, connect and async-echo, mb_per_s
// for stream, rss_kb_per_conn for idle-conns, and null where a figure does not apply.
// Errors go to stderr with exit status 1.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include "bench.hpp"

namespace {

using bench::Args;
using bench::fail;
using bench::Result;

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) fail("option " + k + " needs a value");
    const std::string v = argv[i + 1];
    if (k == "--scenario")
      a.scenario = v;
    else if (k == "--impl")
      a.impl = v;
    else if (k == "--size")
      a.size = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--count")
      a.count = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--clients")
      a.clients = std::atoi(v.c_str());
    else if (k == "--echo-for")
      a.echo_for = v;  // pingpong-proc's child (platform_win.cpp)
    else
      fail("unknown option " + k);
  }
  // idle-conns only holds connections open: size and count mean nothing there.
  const bool moves_data = a.scenario != "idle-conns";
  if (a.clients <= 0) fail("clients must be at least 1");
  if (moves_data && a.size == 0) fail("size must be at least 1 (idle-conns alone takes 0)");
  if (moves_data && a.count == 0) fail("count must be at least 1");
  return a;
}

void print(const Args& a, const Result& r) {
  auto num = [](const std::optional<double>& v) {
    return v ? std::to_string(*v) : std::string("null");
  };
  std::printf(
      "{\"impl\": \"%s\", \"scenario\": \"%s\", \"size\": %zu, \"count\": %zu, \"clients\": %d, "
      "\"seconds\": %f, \"ops_per_s\": %f, \"p50_us\": %s, \"p99_us\": %s, \"mb_per_s\": %s, "
      "\"rss_kb_per_conn\": %s}\n",
      a.impl.c_str(), a.scenario.c_str(), a.size, a.count, a.clients, r.seconds, r.ops,
      num(r.p50).c_str(), num(r.p99).c_str(), num(r.mbps).c_str(), num(r.rss_kb).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    if (!a.echo_for.empty()) {
      bench::run_echo_child(a);
      return 0;
    }
    Result r;
    if (a.scenario == "async-echo" || a.scenario == "idle-conns") {
      if (a.impl != "localsock" && a.impl != "uv-raw")
        fail(a.scenario + " compares localsock with uv-raw");
      const bool bare = a.impl == "uv-raw";
      r = a.scenario == "async-echo" ? bench::async_echo(a, bare) : bench::idle_conns(a, bare);
    } else {
      r = bench::run_blocking(a);
    }
    print(a, r);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
