// SPDX-License-Identifier: MIT
#include "overlapped.hpp"

#include <localsock/testing_win.hpp>

#include <atomic>
#include <thread>
#include <type_traits>

namespace localsock::win::detail {

namespace {
// The events of streams that have gone, for the next streams: a stream needs one per
// direction, and making and closing them was a third of the extra requests a connect
// cycle sent the wineserver (docs/performance.md). A few are kept for the whole process;
// a process holding more streams at once makes the rest as before. The pool is
// process-wide: kept per thread in a thread_local with a destructor, it crashed at
// thread exit now and then, because mingw-w64 may free thread_local storage before
// running its destructor.
class EventPool {
 public:
  HANDLE take() noexcept {
    const Lock lock(busy_);
    return count_ == 0 ? nullptr : events_[--count_];
  }
  bool keep(HANDLE event) noexcept {
    const Lock lock(busy_);
    if (count_ == max_kept) return false;
    events_[count_++] = event;
    return true;
  }
  void release() noexcept {
    HANDLE out[max_kept];
    int n = 0;
    {
      const Lock lock(busy_);
      while (count_ != 0) out[n++] = events_[--count_];
    }
    while (n != 0) ::CloseHandle(out[--n]);
  }

 private:
  // A spin lock: held for a few instructions, never across a system call.
  class Lock {
   public:
    explicit Lock(std::atomic_flag& flag) noexcept : flag_(flag) {
      while (flag_.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
    }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    ~Lock() { flag_.clear(std::memory_order_release); }

   private:
    std::atomic_flag& flag_;
  };

  static constexpr int max_kept = 8;  // a few clients' and servers' streams
  std::atomic_flag busy_;
  HANDLE events_[max_kept]{};
  int count_ = 0;
};

// Trivially destructible: nothing runs at exit, so streams closed by other static
// objects' destructors or by threads still running then find the pool intact (the
// system closes what it holds).
static_assert(std::is_trivially_destructible_v<EventPool>);
constinit EventPool pool;

EventPool& kept_events() noexcept { return pool; }
}  // namespace

HANDLE ensure_event(UniqueHandle& slot, std::error_code& ec) noexcept {
  if (!slot) {
    HANDLE event = kept_events().take();
    slot.reset(event != nullptr ? event : ::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!slot) ec = last_error();
  }
  return slot.get();
}

void recycle_event(UniqueHandle& slot) noexcept {
  if (slot && kept_events().keep(slot.get())) (void)slot.release();
  slot.reset();
}

}  // namespace localsock::win::detail

namespace localsock::testing {
void release_kept_events() noexcept { win::detail::kept_events().release(); }
}  // namespace localsock::testing

namespace localsock::win::detail {

DWORD timeout_ms(Timeout t) noexcept {
  if (t < Timeout::zero()) return INFINITE;
  return static_cast<DWORD>(std::min<Timeout::rep>(t.count(), INFINITE - 1));
}

Limit limit_of(Timeout t) noexcept {
  return t < Timeout::zero() ? no_limit : Limit{timeout_ms(t), errc::timed_out};
}

Limit read_limit(bool nonblocking, Timeout t) noexcept {
  return nonblocking ? Limit{0, errc::would_block} : limit_of(t);
}

Chunk read_chunk(HANDLE h, HANDLE event, Limit limit, MutableBuffer buf,
                 std::error_code& ec) noexcept {
  const DWORD n = run_overlapped(
      h, event, limit,
      [&](OVERLAPPED* ov) {
        return ::ReadFile(h, buf.data(), clamp_length(buf.size()), nullptr, ov);
      },
      ec);
  if (!ec) return {n, false, false};
  if (ec.value() == ERROR_MORE_DATA) {
    ec.clear();
    return {n, true, false};
  }
  if (ends_stream(static_cast<DWORD>(ec.value()))) {
    ec.clear();
    return {0, false, true};
  }
  return {};
}

// A message that can be read at all is whole in the pipe, so its rest is there at once,
// unless its sender cancelled it after our first read (a send that timed out): then the
// rest never comes, and the deadline ends the wait.
void read_rest(HANDLE h, HANDLE event, const Deadline& deadline, MessageAssembler& message,
               MutableBuffer into, std::error_code& ec) noexcept {
  std::size_t done = 0;
  while (message.left() > 0 && !ec) {
    const Chunk c = read_chunk(h, event, deadline.left(), into.subspan(done), ec);
    if (ec) return;
    if (c.end) {
      ec = make_error_code(errc::peer_closed);
      return;
    }
    done += c.n;
    message.rest_read(c.n, c.more, ec);
  }
}

void discard_rest(HANDLE h, HANDLE event, const Deadline& deadline, MessageAssembler& message,
                  std::error_code& ec) noexcept {
  std::byte scratch[16 * 1024];
  for (;;) {
    const Chunk c = read_chunk(h, event, deadline.left(), scratch, ec);
    if (ec || c.end || message.discard_read(c.more) != MessageAssembler::Step::discard) break;
  }
  message.reset();
}

}  // namespace localsock::win::detail
