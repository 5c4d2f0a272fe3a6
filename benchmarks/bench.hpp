// SPDX-License-Identifier: MIT
#pragma once
// What the parts of localsock-bench share: its arguments, a result, and the helpers
// every scenario uses. The output format (the benchmark contract) is in
// localsock-bench.cpp and docs/performance.md.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string scenario = "pingpong";
  std::string impl = "localsock";
  std::size_t size = 64;
  std::size_t count = 10000;
  int clients = 1;
  // Set in pingpong-proc's child: the name of the parent's listener to echo for.
  std::string echo_for;
};

struct Result {
  double seconds = 0;
  double ops = 0;
  std::optional<double> p50, p99, mbps, rss_kb;
};

/// Reports `what` on stderr and exits with status 1.
[[noreturn]] void fail(const std::string& what);

/// A name no other run uses: the tag, this process's id and a counter.
std::string unique_name(const char* tag);

/// The latencies of single operations, in microseconds, and their percentiles.
class Latencies {
 public:
  explicit Latencies(std::size_t expected) { us_.reserve(expected); }
  void add(Clock::time_point since) {
    us_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - since).count());
  }
  /// Sets p50 and p99 of `r` from the operations recorded.
  void report(Result& r);

 private:
  std::vector<double> us_;
};

// The scenarios, by job: blocking.cpp (pingpong, pingpong-proc, stream, msg-pingpong,
// connect) and async.cpp (async-echo, idle-conns).
Result run_blocking(const Args& a);
Result async_echo(const Args& a, bool bare);
Result idle_conns(const Args& a, bool bare);
/// pingpong-proc's other process: connects to a.echo_for and echoes a.count times.
void run_echo_child(const Args& a);

// What differs by platform beyond the transports: platform_posix.cpp, platform_win.cpp.
unsigned long current_pid();
/// Unix: a write to a peer that has gone fails with EPIPE instead of killing the
/// process with SIGPIPE, as a libuv program arranges (bare libuv's echo server writes
/// to clients closed at the end of a run). Windows: nothing to do.
void ignore_broken_pipes();
/// The resident memory of this process, in KiB.
double rss_kb();
/// The path bare libuv binds for `name`: a named pipe, or a socket file (none left there).
std::string uv_pipe_path(const std::string& name);
/// A running echo child of pingpong-proc (a process id, or a process handle).
struct Child {
  long long id = -1;
};
/// Starts pingpong-proc's echo child for `a`, connecting to `name`: the same program
/// again (a fork on Unix; on Windows this executable in a new process).
Child start_echo_child(const Args& a, const std::string& name);
/// Waits for the child to end; false when it failed.
bool wait_child(Child& c);

}  // namespace bench
