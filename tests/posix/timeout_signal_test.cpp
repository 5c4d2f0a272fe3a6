// SPDX-License-Identifier: MIT
// Read and write timeouts under a stream of signals. Linux fails a receive or send on a
// socket with SO_RCVTIMEO or SO_SNDTIMEO with EINTR at every signal, SA_RESTART or not
// (signal(7)): each retry must wait only for what is left of the timeout, or a periodic
// signal (a profiler's SIGPROF, a timer) keeps the call waiting as long as it arrives.
#include <localsock/posix/framed_stream.hpp>
#include <localsock/posix/ud_datagram.hpp>
#include <localsock/posix/ud_seqpacket.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "doctest_ext.hpp"

using localsock::errc;
using namespace localsock::posix;
using namespace std::chrono_literals;

namespace {

std::atomic<int> storm_signals{0};
void on_storm_signal(int) { ++storm_signals; }

// Interrupts the thread that makes it with SIGUSR2 every 3 ms (about 300 Hz), the handler
// installed with or without SA_RESTART, until it goes or 3 s have passed: the bound
// keeps a call that waits as long as signals come from waiting for ever.
class SignalStorm {
 public:
  explicit SignalStorm(bool restart) {
    struct sigaction sa {};
    sa.sa_handler = on_storm_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    REQUIRE(::sigaction(SIGUSR2, &sa, &old_) == 0);
    const pthread_t target = ::pthread_self();
    sender_ = std::thread([this, target] {
      const auto end = std::chrono::steady_clock::now() + 3s;
      while (!stop_ && std::chrono::steady_clock::now() < end) {
        ::pthread_kill(target, SIGUSR2);
        std::this_thread::sleep_for(3ms);
      }
    });
  }
  ~SignalStorm() {
    stop_ = true;
    sender_.join();
    ::sigaction(SIGUSR2, &old_, nullptr);
  }
  SignalStorm(const SignalStorm&) = delete;
  SignalStorm& operator=(const SignalStorm&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread sender_;
  struct sigaction old_ {};
};

constexpr auto timeout = 200ms;

// Runs `op` (a blocking call on a socket with a 200 ms timeout that nothing will satisfy)
// under a signal storm: it must end about when its timeout says, far before the storm
// does, and must have been interrupted on the way.
template <typename Op>
void ends_in_time_under_signals(Op op, bool restart = true) {
  const int before = storm_signals;
  std::chrono::milliseconds took{};
  {
    SignalStorm storm(restart);
    const auto start = std::chrono::steady_clock::now();
    op();
    took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  }
  INFO("took ", took.count(), " ms");
  CHECK(storm_signals - before > 5);
  CHECK(took >= timeout - 20ms);  // the timeout is honoured, not cut short
  CHECK(took < 1500ms);           // the bug: as long as the storm (3 s)
}

// Fills the socket's send buffer (and the peer's receive queue), so that the next
// blocking send waits for room.
template <typename Send>
void fill(UdSocket& s, Send send_one) {
  s.set_nonblocking(true);
  std::error_code ec;
  while (!ec) send_one(ec);
  REQUIRE(ec == errc::would_block);
  s.set_nonblocking(false);
}

}  // namespace

TEST_CASE("timeouts under signals: a byte stream's receive ends when its read timeout says") {
  auto [a, b] = UdStream::pair();
  b.set_read_timeout(timeout);
  std::byte buf[16];
  std::error_code ec;
  SUBCASE("read_some, SA_RESTART") {
    ends_in_time_under_signals([&] { b.read_some(buf, ec); }, true);
  }
  SUBCASE("read_some, no SA_RESTART") {
    ends_in_time_under_signals([&] { b.read_some(buf, ec); }, false);
  }
  SUBCASE("read_vectored") {
    const localsock::MutableBuffer bufs[] = {buf};
    ends_in_time_under_signals([&] { b.read_vectored(bufs, ec); });
  }
  SUBCASE("read_with_fds") {
    std::vector<OwnedFd> fds;
    ends_in_time_under_signals([&] { b.read_with_fds(buf, fds, 1, ec); });
  }
  CHECK(ec == errc::timed_out);
}

TEST_CASE("timeouts under signals: a byte stream's send ends when its write timeout says") {
  auto [a, b] = UdStream::pair();
  const std::vector<std::byte> chunk(64 * 1024, std::byte{1});
  fill(a, [&](std::error_code& ec) { a.write_some(chunk, ec); });
  a.set_write_timeout(timeout);
  std::error_code ec;
  SUBCASE("write_some") {
    ends_in_time_under_signals([&] { a.write_some(chunk, ec); });
  }
  SUBCASE("write_with_fds") {
    const int fds[] = {0};
    ends_in_time_under_signals([&] { a.write_with_fds(chunk, fds, ec); });
  }
  CHECK(ec == errc::timed_out);
}

TEST_CASE("timeouts under signals: a seqpacket socket's receive and send end in time") {
  auto [a, b] = UdSeqpacket::pair();
  std::error_code ec;
  SUBCASE("recv into a buffer") {
    b.set_read_timeout(timeout);
    std::byte buf[16];
    ends_in_time_under_signals([&] { b.recv(buf, ec); });
  }
  SUBCASE("recv into a vector") {
    b.set_read_timeout(timeout);
    std::vector<std::byte> out;
    ends_in_time_under_signals([&] { b.recv(out, 1024, ec); });
  }
  SUBCASE("send") {
    const std::vector<std::byte> msg(16 * 1024, std::byte{2});
    fill(a, [&](std::error_code& e) { a.send(msg, e); });
    a.set_write_timeout(timeout);
    ends_in_time_under_signals([&] { a.send(msg, ec); });
  }
  CHECK(ec == errc::timed_out);
}

TEST_CASE("timeouts under signals: a framed stream's receive and send end in time") {
  auto [a, b] = UdStream::pair();
  std::error_code ec;
  SUBCASE("recv") {
    FramedStream fb(std::move(b));
    fb.stream().set_read_timeout(timeout);
    std::vector<std::byte> out;
    ends_in_time_under_signals([&] { fb.recv(out, 1024, ec); });
  }
  SUBCASE("send") {
    // The byte stream under the frames is full: nothing of the frame can be written.
    const std::vector<std::byte> chunk(64 * 1024, std::byte{3});
    fill(a, [&](std::error_code& e) { a.write_some(chunk, e); });
    FramedStream fa(std::move(a));
    fa.stream().set_write_timeout(timeout);
    ends_in_time_under_signals([&] { fa.send(chunk, ec); });
  }
  CHECK(ec == errc::timed_out);
}

TEST_CASE("timeouts under signals: a datagram socket's receive ends in time") {
  auto [a, b] = UdDatagram::pair();
  b.set_read_timeout(timeout);
  std::byte buf[16];
  std::error_code ec;
  ends_in_time_under_signals([&] { b.recv(buf, ec); });
  CHECK(ec == errc::timed_out);
}
