// SPDX-License-Identifier: MIT
#pragma once

// What the two async backends share: the per-loop state (posted work and its wake-up
// handle), the write queue with its high-water mark, and connect-in-the-threadpool.
// The I/O itself is per platform (src/posix/async_posix.cpp, src/win/async_win.cpp).

#include <localsock/async.hpp>
#include <localsock/error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <uv.h>

#include "backend.hpp"
#include "deadline.hpp"

namespace localsock::detail {

/// std::visit over the two-alternative variants of the async backends (byte or message
/// socket, byte or message listener), whose alternatives never make them valueless: no
/// bad_variant_access path, so noexcept code may use it.
template <typename V, typename F>
decltype(auto) visit_held(V& v, F&& f) noexcept {
  static_assert(std::variant_size_v<std::remove_const_t<V>> == 2);
  if (auto* first = std::get_if<0>(&v)) return f(*first);
  return f(*std::get_if<1>(&v));
}

/// The members of the public async classes that only the library uses.
struct AsyncAccess {
  static const std::shared_ptr<LoopState>& state(const AsyncLoop& loop) noexcept {
    return loop.state_;
  }
  static const std::shared_ptr<AsyncSocketImpl>& impl(const AsyncSocket& socket) noexcept {
    return socket.impl_;
  }
  // One allocation for the socket and its count (the constructor is private: a class of
  // this friend calls it).
  static std::shared_ptr<AsyncSocket> make_socket(std::shared_ptr<AsyncSocketImpl> impl) {
    struct Made : AsyncSocket {
      explicit Made(std::shared_ptr<AsyncSocketImpl> i) noexcept : AsyncSocket(std::move(i)) {}
    };
    return std::make_shared<Made>(std::move(impl));
  }
  static std::shared_ptr<AsyncListener> make_listener(std::shared_ptr<AsyncListenerImpl> impl) {
    return std::shared_ptr<AsyncListener>(new AsyncListener(std::move(impl)));
  }
};

/// Receive buffers that a loop's connections share: a connection takes one when data is
/// there and gives it back once that data is delivered, so that an idle connection
/// holds no read buffer, and steady traffic allocates nothing (a buffer keeps its size
/// and capacity from one use to the next). Loop thread only.
class ReadBufferPool {
 public:
  /// A buffer from the pool (its size is what its last user left), or an empty one.
  std::vector<std::byte> take() noexcept {
    if (free_.empty()) return {};
    std::vector<std::byte> buf = std::move(free_.back());
    free_.pop_back();
    return buf;
  }
  /// Takes `buf` back (it is left empty, with no memory); kept for the next take()
  /// unless it has no memory, is over max_bytes, or the pool is full.
  void give(std::vector<std::byte>&& buf) noexcept {
    std::vector<std::byte> given = std::move(buf);
    buf = std::vector<std::byte>();  // (not "= {}": that would keep the capacity)
    if (given.capacity() == 0 || given.capacity() > max_bytes || free_.size() >= max_count) return;
    free_.push_back(std::move(given));  // never allocates: reserved for max_count
  }
  /// How many buffers wait in the pool (for tests).
  std::size_t size() const noexcept { return free_.size(); }

  ReadBufferPool() { free_.reserve(max_count); }

  /// The most buffers kept, and the largest buffer kept: a connection that received a
  /// large message does not leave its memory behind.
  static constexpr std::size_t max_count = 16;
  static constexpr std::size_t max_bytes = std::size_t{256} * 1024;

 private:
  std::vector<std::vector<std::byte>> free_;
};

/// Per-loop state, shared by the AsyncLoop and every object on the loop, so that
/// completions arriving after the AsyncLoop is gone find it still there.
///
/// The wake-up handle is referenced exactly while something holds the loop (`busy`):
/// an operation whose completion is still to come (LoopRef), or a function posted on
/// the loop thread that has not run yet.
struct LoopState : std::enable_shared_from_this<LoopState> {
  uv_loop_t* loop = nullptr;
  // The sockets and listeners made on this loop and not yet destroyed (loop thread),
  // for open_handles(): each adds itself when made and leaves in its destructor.
  // Sockets: an intrusive list through AsyncSocketImpl::registry_prev / registry_next
  // (no allocation per connection), newest first; listeners, being few, a set.
  AsyncSocketImpl* sockets = nullptr;
  std::unordered_set<const AsyncListenerImpl*> listeners;
  uv_async_t* wakeup = nullptr;  // owned; freed by its close callback
  std::thread::id loop_thread;   // where the AsyncLoop was made: the loop's thread
  std::mutex mutex;
  std::vector<std::function<void()>> posted;
  std::vector<std::function<void()>> running;  // loop thread: the batch being run
  bool closed = false;                         // the AsyncLoop is gone: posts are dropped
  int busy = 0;                                // loop thread: LoopRefs alive plus held_posts
  int held_posts = 0;           // loop thread: functions in `posted` that hold the loop
  ReadBufferPool read_buffers;  // loop thread only

  LoopState() = default;
  ~LoopState();  // leaves the registry of open_handles() (async_loop.cpp)
  LoopState(const LoopState&) = delete;
  LoopState& operator=(const LoopState&) = delete;

  /// Thread-safe: queues `fn` for the loop thread and wakes the loop. Posted on the
  /// loop thread (from a callback), `fn` holds the loop until it has run, so that
  /// uv_run does not return before it; from another thread it cannot (libuv's
  /// reference counts are loop-thread only), and runs when the loop next turns.
  void post(std::function<void()> fn) {
    // The send happens under the lock, so the handle cannot be closed meanwhile.
    std::lock_guard lock(mutex);
    if (closed) return;
    posted.push_back(std::move(fn));
    if (std::this_thread::get_id() == loop_thread) {
      ++held_posts;
      hold();
    }
    uv_async_send(wakeup);
  }

  /// Loop thread, from the wake-up callback: takes the posted functions to run, and
  /// how many of them hold the loop (to let go of with released_posts() once run).
  int take_posted(std::vector<std::function<void()>>& batch) {
    std::lock_guard lock(mutex);
    batch.swap(posted);
    return std::exchange(held_posts, 0);
  }
  /// Loop thread: `n` posted functions that held the loop have run.
  void released_posts(int n) noexcept {
    while (n-- > 0) release();
  }

  /// Loop thread, from ~AsyncLoop: drops what is still posted, and closes the wake-up
  /// handle.
  void detach() {
    std::vector<std::function<void()>> dropped;
    int held = 0;
    {
      std::lock_guard lock(mutex);
      closed = true;
      dropped.swap(posted);
      held = std::exchange(held_posts, 0);
    }
    dropped.clear();  // what they captured (LoopRefs too) goes first
    released_posts(held);
    close_wakeup();
  }

 private:
  friend class LoopRef;
  // Loop thread: the wake-up handle keeps the loop running while operations whose
  // completions arrive through it (or, on Windows, through the loop's port) are
  // pending. Counted by LoopRef and by posts from the loop thread only.
  void hold() noexcept {
    if (busy++ == 0 && wakeup != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(wakeup));
  }
  void release() noexcept {
    if (--busy == 0 && wakeup != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(wakeup));
  }
  void close_wakeup() noexcept {
    if (wakeup == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(std::exchange(wakeup, nullptr)),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  }
};

/// Lists `state` for open_handles() until it is destroyed (async_loop.cpp).
void register_loop_state(LoopState* state);

/// Keeps the loop running while it lives: an operation whose completion is still to
/// come holds one (a member of the operation, or captured by the function posted to
/// finish it), so that uv_run does not return before the completion has run. Loop
/// thread only. A copy holds once more (posted functions are copyable); a moved-from
/// or reset LoopRef holds nothing.
class LoopRef {
 public:
  LoopRef() noexcept = default;
  explicit LoopRef(std::shared_ptr<LoopState> loop) noexcept : loop_(std::move(loop)) {
    if (loop_) loop_->hold();
  }
  LoopRef(const LoopRef& other) noexcept : LoopRef(other.loop_) {}
  LoopRef(LoopRef&& other) noexcept : loop_(std::move(other.loop_)) {}
  LoopRef& operator=(LoopRef other) noexcept {
    std::swap(loop_, other.loop_);
    return *this;
  }
  ~LoopRef() { reset(); }

  /// Lets go now (the operation is over).
  void reset() noexcept {
    if (loop_) std::exchange(loop_, nullptr)->release();
  }
  bool holds() const noexcept { return loop_ != nullptr; }

 private:
  std::shared_ptr<LoopState> loop_;
};

/// The queue of a socket's writes, with the high-water mark and the drain signal. Its
/// storage is reused: the queue is a ring that keeps its slots, and the buffers of
/// written items go back to a small pool for the next copies, so that steady traffic
/// allocates nothing. The ring and the pool are made by the first write that is queued
/// (or copied): a connection that has not queued a write does not carry them.
class WriteQueue {
 public:
  struct Item {
    std::vector<std::byte> data;  // owned bytes (a copy, or a vector handed over)
    std::size_t done = 0;         // bytes written (byte mode)
    AsyncSocket::WriteCallback cb;
    // A buffer shared with other writes (a broadcast): when set, it is what is written
    // and `data` is empty; released when the item is (written, failed or cancelled).
    std::shared_ptr<const std::vector<std::byte>> shared;

    /// The bytes this item writes.
    std::span<const std::byte> bytes() const noexcept {
      return shared ? std::span<const std::byte>(*shared) : std::span<const std::byte>(data);
    }
    std::size_t size() const noexcept { return shared ? shared->size() : data.size(); }
  };

  /// Queues `item`; false when the queue is at or above the mark afterwards.
  bool push(Item item) {
    Storage& st = storage();
    if (st.count == st.slots.size()) grow(st);
    bytes_ += item.size();
    st.slots[(st.head + st.count) % st.slots.size()] = std::move(item);
    ++st.count;
    if (bytes_ >= high_) wants_drain_ = true;
    return bytes_ < high_;
  }
  /// A buffer holding a copy of `data`, from the pool when one is there.
  std::vector<std::byte> copy_of(std::span<const std::byte> data) {
    std::vector<std::byte> buf;
    Storage& st = storage();
    if (!st.spare.empty()) {
      buf = std::move(st.spare.back());
      st.spare.pop_back();
    }
    buf.assign(data.begin(), data.end());
    return buf;
  }
  /// Gives a written item's buffer back to the pool (large ones are let go).
  void recycle(std::vector<std::byte>&& buf) {
    if (!storage_ || storage_->spare.size() >= max_spare || buf.capacity() > max_spare_bytes ||
        buf.capacity() == 0)
      return;
    if (storage_->spare.capacity() == 0) storage_->spare.reserve(max_spare);
    buf.clear();
    storage_->spare.push_back(std::move(buf));
  }
  bool empty() const noexcept { return count() == 0; }
  Item& front() noexcept { return storage_->slots[storage_->head]; }
  const Item& front() const noexcept { return storage_->slots[storage_->head]; }
  /// Takes the written front item off; returns it so its callback can run last.
  Item pop() {
    Storage& st = *storage_;
    Item item = std::move(st.slots[st.head]);
    st.head = (st.head + 1) % st.slots.size();
    --st.count;
    bytes_ -= item.size();
    return item;
  }
  /// True once, when the queue has emptied after write() said stop.
  bool drained() noexcept {
    if (count() != 0 || !wants_drain_) return false;
    wants_drain_ = false;
    return true;
  }
  /// Empties the queue, or, with `keep_front`, all but its front item; the items are
  /// returned, in queue order, so their callbacks run outside any state change.
  std::vector<Item> take_all(bool keep_front = false) {
    std::vector<Item> all;
    if (count() == 0) return all;
    const std::size_t first = keep_front ? 1 : 0;
    Storage& st = *storage_;
    all.reserve(st.count - first);
    for (std::size_t i = first; i < st.count; ++i) {
      Item& slot = st.slots[(st.head + i) % st.slots.size()];
      bytes_ -= slot.size();
      all.push_back(std::move(slot));
    }
    st.count = first;
    if (first == 0) st.head = 0;
    return all;
  }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t count() const noexcept { return storage_ ? storage_->count : 0; }
  bool below_mark() const noexcept { return bytes_ < high_; }
  /// write() said stop, and the drain has not been told yet.
  bool draining() const noexcept { return wants_drain_; }
  /// No drain is owed: write() did not say stop after all.
  void forget_drain() noexcept { wants_drain_ = false; }
  /// The queue has emptied after write() said stop, and nobody was told yet.
  bool drain_pending() const noexcept { return wants_drain_ && count() == 0; }
  void set_high(std::size_t n) noexcept { high_ = n == 0 ? 1 : n; }

 private:
  static constexpr std::size_t max_spare = 4;
  static constexpr std::size_t max_spare_bytes = std::size_t{256} * 1024;

  struct Storage {
    std::vector<Item> slots;  // a ring: count items from head
    std::size_t head = 0;
    std::size_t count = 0;
    std::vector<std::vector<std::byte>> spare;
  };

  Storage& storage() {
    if (!storage_) storage_ = std::make_unique<Storage>();
    return *storage_;
  }
  static void grow(Storage& st) {
    std::vector<Item> bigger(st.slots.empty() ? 4 : st.slots.size() * 2);
    for (std::size_t i = 0; i < st.count; ++i)
      bigger[i] = std::move(st.slots[(st.head + i) % st.slots.size()]);
    st.slots = std::move(bigger);
    st.head = 0;
  }

  std::unique_ptr<Storage> storage_;
  std::size_t bytes_ = 0;
  std::size_t high_ = std::size_t{1024} * 1024;
  bool wants_drain_ = false;
};

/// Runs the callbacks of writes that will never happen. With `keep_front`, the front
/// item is in flight (see io_write_in_flight): it stays queued, and its own completion
/// reports its real outcome.
inline void cancel_writes(WriteQueue& q, std::error_code ec, bool keep_front = false) {
  for (auto& item : q.take_all(keep_front))
    if (item.cb) item.cb(ec);
}

struct SocketIo;  // the backend's part of a connection
/// Per backend: whether the system (or the message transport) holds part of the front
/// item of the queue, so that it may neither be taken off the queue nor reported before
/// it completes: Windows, its overlapped WriteFile is pending (the system reads the
/// item's buffer until then); Unix, a framed message taken in part whose rest the
/// transport still sends. False while connecting.
bool io_write_in_flight(const AsyncSocketImpl& impl) noexcept;
/// Per backend: bytes still to send that no queued item counts: Unix, the rest of a
/// framed message that write() took in part at once (no item was queued for it); 0
/// elsewhere, and once that rest can never go (the socket's send failed).
std::size_t io_rest_owed(const AsyncSocketImpl& impl) noexcept;
/// Per backend: a connection that `impl` made has closed (AsyncSocketImpl::made_by).
void listener_connection_gone(const std::shared_ptr<AsyncListenerImpl>& impl);
struct ListenerIo;  // the backend's part of a listener

/// A connection's state shared by both backends. Loop thread only.
struct AsyncSocketImpl {
  enum class State { connecting, open, closing, closed };

  std::shared_ptr<LoopState> loop;
  AsyncOptions settings;
  // The name connected to, or the name of the listener that accepted it (open_handles,
  // errors). A LocalName shares its text: accepted connections cost a reference count.
  LocalName name;
  // This socket's neighbours in its loop's list (LoopState::sockets).
  AsyncSocketImpl* registry_prev = nullptr;
  AsyncSocketImpl* registry_next = nullptr;
  // Message mode: the largest message sent or accepted (settings.max_message_size, or
  // less where the backend finds that the system cannot send that much).
  std::size_t message_limit = 0;
  Mode mode = Mode::bytes;
  State state = State::connecting;

  // (The flags are kept together, and what only connecting, shutting down and closing
  // use is kept apart, allocated when one of them needs it: an idle connection is
  // small.)
  bool reading = false;
  // The read callback is running (deliver() holds it meanwhile, so on_read is empty).
  bool in_read_callback = false;
  bool shutdown_requested = false;
  bool shut_down = false;
  // Where a shutdown closes the connection (Windows pipes have no half-close), the end
  // of the stream is still owed to the read callback, as a peer's close would bring it
  // on Unix: delivered when the closing finishes, or when reading (re)starts after.
  bool end_due = false;
  bool write_failure_told = false;  // see write_failure

  AsyncSocket::ReadCallback on_read;
  WriteQueue queue;
  // What only a connect, a shutdown, a close or on_drain() sets (occasional()).
  struct Occasional {
    std::function<void()> on_drain;
    AsyncSocket::WriteCallback shutdown_cb;
    AsyncSocket::ConnectCallback on_connect;
    std::function<void()> on_closed;
    // While connecting: cancels the connect's job in the thread pool (see run_in_pool).
    std::function<void()> cancel_connect;
  };
  std::unique_ptr<Occasional> occasional_part;
  // While open the socket keeps itself alive; released when closing has finished.
  std::shared_ptr<AsyncSocket> self;
  // The listener that made this connection, told when the connection has closed
  // (listener_connection_gone): a Windows listener may wait for a free instance.
  std::weak_ptr<AsyncListenerImpl> made_by;

  std::unique_ptr<SocketIo> io;

  // A write with no callback failed: the error the write side failed with. Later
  // writes fail with it at once; it reaches the read callback (report_write_failure).
  std::error_code write_failure;

  AsyncSocketImpl();
  ~AsyncSocketImpl();  // per platform: SocketIo is complete there; calls unregister()

  /// Lists the socket in its loop's registry (open_handles()), once it has its loop.
  void register_on_loop() noexcept {
    registry_next = loop->sockets;
    if (registry_next != nullptr) registry_next->registry_prev = this;
    loop->sockets = this;
  }
  void unregister() noexcept {
    if (!loop) return;
    if (registry_prev != nullptr) {
      registry_prev->registry_next = registry_next;
    } else if (loop->sockets == this) {
      loop->sockets = registry_next;
    } else {
      return;  // never listed
    }
    if (registry_next != nullptr) registry_next->registry_prev = registry_prev;
    registry_prev = registry_next = nullptr;
  }

  bool usable() const noexcept { return state == State::open || state == State::connecting; }
  /// The bytes still to send, the one count behind queued_bytes(), open_handles() and
  /// whether the socket keeps the loop running: the queue, less what the system took
  /// already of a byte write in parts (a message counts whole until it has gone), plus
  /// the rest of a message the transport took in part outside the queue.
  std::size_t unsent_bytes() const noexcept {
    std::size_t n = queue.bytes();
    if (mode == Mode::bytes && !queue.empty()) n -= queue.front().done;
    return state == State::open ? n + io_rest_owed(*this) : n;
  }
  /// The part that only connecting, shutting down and closing use, made on first use.
  Occasional& occasional() {
    if (!occasional_part) occasional_part = std::make_unique<Occasional>();
    return *occasional_part;
  }
  /// Runs the shutdown callback, if one waits, with `ec`, and lets it go.
  void finish_shutdown(std::error_code ec) {
    if (occasional_part && occasional_part->shutdown_cb)
      std::exchange(occasional_part->shutdown_cb, {})(ec);
  }
  /// Cancels the connect's job, if one runs.
  void cancel_connecting() {
    if (occasional_part && occasional_part->cancel_connect) occasional_part->cancel_connect();
  }

  /// Hands a read event to the callback; false when the socket stopped reading or began
  /// closing meanwhile (the caller stops its read loop).
  bool deliver(const ReadEvent& event) {
    if (on_read) {
      // Moved out for the call (no copy, no allocation): the callback may replace itself.
      auto cb = std::move(on_read);
      const bool outer = std::exchange(in_read_callback, true);
      cb(event);
      in_read_callback = outer;
      if (!on_read && state != State::closed) on_read = std::move(cb);
    }
    return reading && state == State::open;
  }
  /// After a write completed: its callback, then the drain and shutdown steps. A write
  /// with no callback that failed fails the write side (write_failed).
  void written(WriteQueue::Item item, std::error_code ec) {
    if (item.cb)
      item.cb(ec);
    else if (ec)
      write_failed(ec);
    queue.recycle(std::move(item.data));
    if (state != State::open) return;
    if (queue.drained() && occasional_part && occasional_part->on_drain)
      occasional_part->on_drain();
  }
  /// Delivers the end owed after a shutdown that closed the connection (see end_due).
  void deliver_due_end() {
    if (!end_due || !reading) return;
    end_due = false;
    reading = false;
    deliver({{}, true, {}});
  }
  /// A write with no callback failed with `ec` (never would_block): nobody was told, so
  /// the failure must surface. The write side fails (the queued writes and every later
  /// one get `ec`), and the read callback learns it: a peer that has gone
  /// (errc::peer_closed) shows there as the end of the stream after its last data, as
  /// any lost peer does; any other failure (a message the system refuses) arrives as a
  /// ReadEvent with that error, and the connection closes, since a message is missing
  /// from what the peer receives. Told from the loop, never inside write(); while
  /// reading is off, when start_reading() is called.
  void write_failed(std::error_code ec) {
    if (write_failure) return;
    write_failure = ec;
    post_write_failure();
  }
  void post_write_failure() {
    loop->post([weak = std::weak_ptr<AsyncSocket>(self)] {
      if (auto socket = weak.lock()) AsyncAccess::impl(*socket)->report_write_failure();
    });
  }
  void report_write_failure() {
    if (state != State::open || write_failure_told) return;
    // A write in flight is the system's until it completes: it stays queued and reports
    // its own outcome (the refused write alone has failed; nothing after it is sent).
    cancel_writes(queue, write_failure, io_write_in_flight(*this));
    // A shutdown waiting for the queue to empty will not happen either.
    if (!shut_down) finish_shutdown(write_failure);
    if (state != State::open || write_failure == errc::peer_closed || !reading) return;
    write_failure_told = true;
    reading = false;
    deliver({{}, false, write_failure});
    if (state == State::open) self->close();
  }
  /// The backend has let go of everything: tell the application, and let go of self.
  void finished_closing() {
    state = State::closed;
    cancel_writes(queue, std::make_error_code(std::errc::operation_canceled));
    finish_shutdown(std::make_error_code(std::errc::operation_canceled));
    deliver_due_end();
    if (auto listener = std::exchange(made_by, {}).lock()) listener_connection_gone(listener);
    if (occasional_part && occasional_part->on_closed)
      std::exchange(occasional_part->on_closed, {})();
    // The end still owed to a read callback paused when a shutdown closed the connection
    // comes when reading resumes (resume_reading() as start_reading()): the callback is
    // kept until then, or until close() lets go of it.
    if (!end_due) on_read = {};
    if (occasional_part) occasional_part->on_drain = {};
    auto keep = std::move(self);  // may be the last reference: release it last
  }
};

/// A listener's retries after it failed to take its next connection (descriptors or
/// handles ran out, an instance could not be made): the accept callback hears of the
/// failure once per episode, and the listener tries again after a delay that doubles up
/// to a second, so that it neither spins nor gives up; the first success ends the
/// episode.
class AcceptRetry {
 public:
  static constexpr std::uint64_t first_delay_ms = 10;
  static constexpr std::uint64_t max_delay_ms = 1000;

  /// Records a failure; true when it begins an episode (the one to report).
  bool failed() noexcept {
    const bool first = !failing_;
    failing_ = true;
    delay_ms_ = first ? first_delay_ms : std::min(delay_ms_ * 2, max_delay_ms);
    return first;
  }
  /// The listener took a connection (or found none waiting): the episode is over.
  void succeeded() noexcept {
    failing_ = false;
    delay_ms_ = 0;
  }
  /// How long to wait before the next try.
  std::uint64_t delay_ms() const noexcept { return delay_ms_; }

 private:
  bool failing_ = false;
  std::uint64_t delay_ms_ = 0;
};

/// A listener's state shared by both backends. Loop thread only.
struct AsyncListenerImpl {
  std::shared_ptr<LoopState> loop;
  Mode mode = Mode::bytes;
  AsyncOptions settings;
  bool open = true;
  AsyncListener::AcceptCallback on_accept;
  std::function<void()> on_closed;
  std::shared_ptr<AsyncListener> self;
  std::unique_ptr<ListenerIo> io;

  AsyncListenerImpl();
  ~AsyncListenerImpl();  // per platform; calls unregister()

  void register_on_loop() { loop->listeners.insert(this); }
  void unregister() noexcept {
    if (loop) loop->listeners.erase(this);
  }
};

/// The one place where a connection's or listener's mode, a run-time choice, becomes
/// a type: calls `f` with `std::integral_constant<Mode, M>` for the M that `mode` is.
/// Backends use it once, when they make the connection's or listener's object; from
/// then on the type of that object decides.
template <typename F>
decltype(auto) with_mode(Mode mode, F&& f) {
  if (mode == Mode::bytes) return f(std::integral_constant<Mode, Mode::bytes>{});
  return f(std::integral_constant<Mode, Mode::messages>{});
}

// ---- what each backend provides (src/posix/async_posix.cpp, src/win/async_win.cpp) --

/// Starts the connect of `impl` (state connecting); on the loop thread it ends in
/// connected(impl, ec).
void start_connect(const std::shared_ptr<AsyncSocketImpl>& impl, const ConnectOptions& options);
/// Reading, writing or shutdown was asked for: start what is not running yet.
void io_update(AsyncSocketImpl& impl);
/// Tries to write `data` now, without queueing (nothing is queued, no callback is due).
/// True when all of it was written; otherwise `data` is left holding what remains
/// (message mode: all of it). Always false where every write goes through the queue
/// (Windows: an overlapped write needs its buffer until it completes).
bool io_try_write(AsyncSocketImpl& impl, std::span<const std::byte>& data);
/// Begins closing; the backend calls impl.finished_closing() when done.
void io_close(AsyncSocketImpl& impl);
/// The capacity of the receive buffers the connection keeps (testing::kept_read_buffer).
std::size_t io_kept_read_buffer(const AsyncSocketImpl& impl) noexcept;
PeerInfo io_peer_info(const AsyncSocketImpl& impl, std::error_code& ec);

/// Binds the listener; its connections arrive through impl.on_accept.
void listen_start(const std::shared_ptr<AsyncListenerImpl>& impl, const ListenerOptions& options,
                  std::error_code& ec);
void listener_close(AsyncListenerImpl& impl);
const LocalName& listener_name(const AsyncListenerImpl& impl) noexcept;

/// Common: a connect finished (on the loop thread).
void connected(const std::shared_ptr<AsyncSocketImpl>& impl, std::error_code ec);
/// Common: a new open connection made by a listener; `impl->io` is set already.
AsyncSocket::Ptr make_socket(std::shared_ptr<AsyncSocketImpl> impl,
                             const std::shared_ptr<LoopState>& loop, Mode mode,
                             const AsyncOptions& settings, const LocalName& name);

/// Runs `work` in libuv's thread pool and then `done` on the loop thread; used for the
/// blocking connect (a busy Windows pipe, a full Unix backlog), so that the loop never
/// waits for it. Returns the job's cancel function (loop thread; valid until `done` has
/// run): a job still in the pool's queue is taken out of it (`done` then gets
/// `Result{}` and true), and a running one sees the flag `work` is given turn true.
template <typename Result>
std::function<void()> run_in_pool(uv_loop_t* loop,
                                  std::function<Result(const std::atomic<bool>&)> work,
                                  std::function<void(Result, bool)> done) {
  struct Job {
    uv_work_t req{};
    std::function<Result(const std::atomic<bool>&)> work;
    std::function<void(Result, bool)> done;
    Result result{};
    std::atomic<bool> cancelled{false};
  };
  auto* job = new Job{{}, std::move(work), std::move(done), {}, {}};
  job->req.data = job;
  const int rc = uv_queue_work(
      loop, &job->req,
      [](uv_work_t* r) {
        auto* j = static_cast<Job*>(r->data);
        j->result = j->work(j->cancelled);
      },
      [](uv_work_t* r, int status) {
        std::unique_ptr<Job> j(static_cast<Job*>(r->data));
        j->done(std::move(j->result), status == UV_ECANCELED);
      });
  if (rc != 0) {  // cannot happen for a valid loop; run it here rather than lose it
    std::unique_ptr<Job> j(job);
    j->done(j->work(j->cancelled), false);
    return {};
  }
  return [job] {
    job->cancelled.store(true, std::memory_order_relaxed);
    uv_cancel(reinterpret_cast<uv_req_t*>(&job->req));  // fails harmlessly once running
  };
}

/// How long one attempt of a connect run in the pool may wait: a close() is noticed
/// within this, so that a closed connect gives its pool thread back soon.
inline constexpr std::chrono::milliseconds connect_slice{50};

/// Connects with `attempt(options, ec)` in slices of at most connect_slice until the
/// connect succeeds, fails for another reason than the wait, its timeout passes (then
/// `errc::timed_out`, as one long attempt) or `cancelled` turns true (then
/// `std::errc::operation_canceled`).
template <typename Attempt>
auto connect_in_slices(const ConnectOptions& options, const std::atomic<bool>& cancelled,
                       Attempt attempt, std::error_code& ec) {
  using Clock = std::chrono::steady_clock;
  const Timeout total = options.timeout();
  const bool forever = total < Timeout::zero();
  const auto deadline = deadline_after(forever ? Timeout::zero() : total);
  // The first attempt takes the timeout as given (zero: a mere attempt); later ones
  // take what is left, never zero.
  Timeout wait = forever ? connect_slice : std::min(total, connect_slice);
  for (;;) {
    ConnectOptions slice = options;
    slice.timeout(wait);
    auto result = attempt(slice, ec);
    if (ec != errc::timed_out) return result;
    if (cancelled.load(std::memory_order_relaxed)) {
      ec = std::make_error_code(std::errc::operation_canceled);
      return result;
    }
    if (!forever) {
      const auto left = std::chrono::ceil<Timeout>(deadline - Clock::now());
      if (left <= Timeout::zero()) return result;
      wait = std::min(left, connect_slice);
    }
  }
}

}  // namespace localsock::detail
