// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Local sockets on a libuv loop: listeners and connections whose callbacks run on the
/// loop thread, in byte or message mode, on Windows and Unix alike.
///
/// Lifetime rules (all loop-thread only, except AsyncLoop::post):
/// - Make one AsyncLoop for your `uv_loop_t` before any socket or listener, and destroy
///   it after them.
/// - Sockets and listeners are shared objects (`std::shared_ptr`). While open, each
///   keeps itself alive: dropping your pointer does not close it. `close()` closes it;
///   its callback runs once the loop has let go of everything, and then the object goes
///   away when your last pointer does. Closing from inside any callback is allowed.
/// - Pending write callbacks of a closed socket run with `std::errc::operation_canceled`.
/// - To shut down: close every listener and socket, run the loop until it returns
///   (`uv_run(loop, UV_RUN_DEFAULT)`), destroy the AsyncLoop, run the loop once more so
///   that it finishes closing its own handle, then `uv_loop_close`.

#include <localsock/export.hpp>
#include <localsock/name.hpp>
#include <localsock/options.hpp>
#include <localsock/peer.hpp>
#include <localsock/types.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// libuv's loop type, declared as <uv.h> declares it, so that this header need not include
// <uv.h> (which pulls windows.h and winsock2.h into every user on Windows).
struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;  // NOLINT(modernize-use-using): libuv's own spelling

namespace localsock {

namespace detail {
struct LoopState;
struct AsyncSocketImpl;
struct AsyncListenerImpl;
struct AsyncAccess;  // the library's way in; defined inside the library
}  // namespace detail

/// localsock's companion of one `uv_loop_t`: the one thing it needs per loop, a wake-up
/// handle for work handed over from other threads.
class LOCALSOCK_API AsyncLoop {
 public:
  /// Attaches to `loop`. Call on the loop's thread.
  explicit AsyncLoop(uv_loop_t* loop);
  AsyncLoop(const AsyncLoop&) = delete;
  AsyncLoop& operator=(const AsyncLoop&) = delete;
  /// Detaches; the loop finishes closing localsock's handle on its next run.
  ~AsyncLoop();

  /// Runs `fn` on the loop thread soon. The one thread-safe member: use it to hand work
  /// (a write, a close) to the loop from any thread. Posted on the loop thread (from a
  /// callback, or before uv_run is called there), `fn` keeps uv_run from returning until
  /// it has run; posted from another thread, it runs while the loop runs (libuv's
  /// reference counts are loop-thread only). Functions not yet run when the AsyncLoop is destroyed,
  /// and those posted after, are dropped.
  void post(std::function<void()> fn);

  /// A copyable, thread-safe handle for post() that may outlive the AsyncLoop (posting
  /// through it afterwards does nothing): give it to threads whose end you do not
  /// control.
  class LOCALSOCK_API Poster {
   public:
    void post(std::function<void()> fn) const;

   private:
    friend class AsyncLoop;
    explicit Poster(std::shared_ptr<detail::LoopState> s) noexcept : state_(std::move(s)) {}
    std::shared_ptr<detail::LoopState> state_;
  };
  Poster poster() const { return Poster(state_); }

  uv_loop_t* uv() const noexcept;

 private:
  friend struct detail::AsyncAccess;
  std::shared_ptr<detail::LoopState> state_;
};

/// What a read callback receives: bytes (byte mode: a chunk of the stream; message
/// mode: exactly one whole message, possibly empty), the end of the stream, or an error.
struct LOCALSOCK_API ReadEvent {
  std::span<const std::byte> data;
  bool end = false;       ///< The peer closed; no more data follows.
  std::error_code error;  ///< Set on failure; `errc::message_too_large` leaves the
                          ///< connection usable (that one message was dropped).

  /// The data as text, without a copy: valid, like `data`, until the callback returns.
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
  /// The data copied into a new std::string (one allocation, when asked for: text() and
  /// `data` allocate nothing).
  std::string str() const { return std::string(text()); }
  /// Appends the data to `out` (byte mode: collect a stream's text across reads;
  /// reusing `out` allocates only when it must grow).
  void append_to(std::string& out) const { out.append(text()); }
};

/// Per-connection settings of the async API.
struct LOCALSOCK_API AsyncOptions {
  /// Message mode: the largest message accepted, both ways. A larger incoming
  /// one is dropped and reported as `errc::message_too_large` (never cut, never
  /// buffered whole); a larger write fails with `errc::message_too_large` before
  /// anything is sent. The default, 4 MiB, is one every platform can send. A limit,
  /// never a reservation: memory for an incoming message is taken as its bytes arrive
  /// (a framed peer's header announcing a size takes none of it ahead).
  /// @note Linux (seqpacket): the kernel refuses single messages above about 4 MiB, and
  /// a message must fit the socket's send buffer, which an unprivileged process cannot
  /// grow past `net.core.wmem_max`; each connection's limit is therefore the lesser of
  /// this value and what its socket can send (see AsyncSocket::max_message_size()).
  std::size_t max_message_size = std::size_t{4} * 1024 * 1024;
  /// write() returns false once this many bytes wait in the write queue, and the drain
  /// callback fires when the queue has emptied again.
  std::size_t high_water_mark = std::size_t{1024} * 1024;
  /// Byte mode: the most bytes delivered by one read callback.
  std::size_t read_chunk = std::size_t{64} * 1024;
};

/// A connection on a libuv loop. Loop-thread only (use AsyncLoop::post from others).
class LOCALSOCK_API AsyncSocket : public std::enable_shared_from_this<AsyncSocket> {
 public:
  using Ptr = std::shared_ptr<AsyncSocket>;
  using ConnectCallback = std::function<void(std::error_code, Ptr)>;
  using ReadCallback = std::function<void(const ReadEvent&)>;
  using WriteCallback = std::function<void(std::error_code)>;

  /// Connects without blocking the loop. `options.timeout()` bounds the wait for a busy
  /// listener; nobody listening is `errc::no_listener`. Returns the socket at once, in
  /// the connecting state: writes and start_reading() may be called already, and
  /// close() cancels the connect (`cb` then gets `std::errc::operation_canceled`): a
  /// connect still queued for libuv's thread pool is taken out of it, and one waiting
  /// for a busy listener in a pool thread gives the thread back within about 50 ms,
  /// whatever its timeout (`infinite` included). `cb`
  /// runs on the loop thread with the outcome: on success the socket returned here, on
  /// failure the error and a null pointer. Nothing fails inside this call (so there is no
  /// `std::error_code&` overload): every failure reaches `cb`, as with Asio's async_connect.
  ///
  /// When the connect fails, the callbacks of writes and of a shutdown asked for while
  /// connecting run once with its error, before `cb`; the read and drain callbacks are
  /// released without being called (`cb` carries the error), so that nothing they hold
  /// (the socket itself, often) stays alive.
  static Ptr connect(AsyncLoop& loop, const ConnectOptions& options, Mode mode, ConnectCallback cb,
                     AsyncOptions settings = {});

  /// Delivers data to `cb` as it arrives (one whole message per call in message mode).
  /// Replaces an earlier callback; resumes after stop_reading(). While reading, the
  /// socket keeps `uv_run` running; a socket that is not reading, with nothing to
  /// write, does not (docs/async.md, "What keeps the loop running").
  void start_reading(ReadCallback cb);
  /// Pauses reading: nothing more is taken from the system, so a peer that keeps
  /// writing is held back by the system's buffers, not by memory here. The read
  /// callback is kept for resume_reading().
  void stop_reading();
  /// Reading again with the callback start_reading() was given, after stop_reading()
  /// (or after the callback was handed the end or an error and reading stopped), without
  /// handing the callback over again; same as start_reading() with that callback. Also
  /// allowed inside the read callback. Does nothing when reading is on already.
  /// After a shutdown() that closed the connection while reading was paused (Windows:
  /// see shutdown()), it brings the end still owed, from the loop, as start_reading()
  /// does.
  /// @param ec `std::errc::invalid_argument` when no read callback was ever given
  /// (call start_reading() first); `errc::not_connected` once the socket is closing or
  /// closed (its callback is let go then), but for that owed end.
  void resume_reading(std::error_code& ec);
  /// Throwing overload of resume_reading(std::error_code&): localsock::Error, naming the
  /// operation and the socket's local name (the name it connected to, or the name of the
  /// listener that accepted it).
  void resume_reading();

  /// Sends `data` (one message in message mode) and returns at once; `cb` runs when it
  /// was written or failed. Returns false when the queue is at or above the high-water
  /// mark: stop writing until the drain callback.
  ///
  /// Errors: with `cb`, a failed write is reported there and the connection goes on.
  /// Without one, a failure is never dropped silently: the write side fails (queued
  /// and later writes get the error in their callbacks), and the read callback learns
  /// it, once reading is on: a peer that has gone as the end of the stream (after its
  /// last data), any other failure (such as a message the system refuses) as a
  /// ReadEvent with that error, after which the connection closes, since the peer would
  /// otherwise miss a message. A write in flight when the write side fails (Windows: its
  /// WriteFile is pending; framed transport: its frame was taken in part) is the
  /// system's: it is not cancelled, keeps its buffer, and its callback reports its own
  /// outcome when it completes. See docs/async.md, "Write errors".
  ///
  /// The bytes are copied unless they can be written at once (Unix, no callback, nothing
  /// queued); copies go into buffers the socket reuses, so a steady exchange allocates
  /// nothing.
  ///
  /// @note Windows: a message over 2 GiB - 1 bytes (the most one pipe write takes) fails
  /// alone with `errc::message_too_large`, reported from the loop: to `cb`, or, without
  /// one, to the read callback as an error that leaves the connection usable; the writes
  /// queued behind it go on.
  bool write(std::span<const std::byte> data, WriteCallback cb = {});
  /// Like write(span), taking ownership of `data` instead of copying it.
  bool write(std::vector<std::byte>&& data, WriteCallback cb = {});
  /// Like write(span), sharing `data` instead of copying it: to broadcast one message
  /// to many sockets, make it once and hand the same pointer to each socket's write().
  /// Each socket keeps a reference until it has written the buffer (or the write
  /// failed or was cancelled), so the buffer lives until the last socket is done with
  /// it, and goes away then if nobody else holds it. Do not change the vector meanwhile.
  /// A null pointer is an empty write.
  bool write(std::shared_ptr<const std::vector<std::byte>> data, WriteCallback cb = {});
  /// Like write(span), for text: `s->write("ping")`, a std::string or a string_view
  /// (copied as write(span) copies; one message in message mode). A char array is
  /// written by its size, less one terminating '\0' when its last char is '\0': a
  /// string literal is its text (`write("a\0b")`: 3 bytes), binary data in a char array
  /// is written whole, zeros included, and an array without a zero is never read past
  /// its end. Another type convertible to string_view is written as that view; a
  /// `const char*` is a C string (up to its first '\0'). See detail::text_of. A
  /// template, so that `write({})` still means an empty write.
  template <std::convertible_to<std::string_view> Text>
  bool write(const Text& text, WriteCallback cb = {}) {
    const std::string_view view = detail::text_of(text);
    return write(std::as_bytes(std::span<const char>(view.data(), view.size())), std::move(cb));
  }
  /// Bytes still to send: those queued, less, in byte mode, the part of a write the
  /// system has taken already (a message counts whole until it has gone), plus the rest
  /// of a message the framed transport took in part inside write() (Unix). The same
  /// count as open_handles() shows; while it is not zero the socket keeps `uv_run`
  /// running.
  std::size_t queued_bytes() const noexcept;
  void set_high_water_mark(std::size_t bytes) noexcept;
  /// Called each time the queue empties after write() returned false.
  void on_drain(std::function<void()> cb);

  /// Ends sending once the queue is written: the peer reads end of stream, and `cb`
  /// runs. Afterwards this socket's read callback receives the end, once, on both
  /// platforms: keep (or start) reading and treat that end as the end of the exchange.
  /// Writes after it fail with `errc::shut_down` (not backpressure: write() returns
  /// true unless data queued before it is still at the high-water mark).
  /// @note POSIX: a half-close: reading goes on, and the end arrives when the peer
  /// closes its side.
  /// @note Windows: pipes have no half-close: once the queue is written the connection
  /// closes (is_open() turns false) and the end is delivered when the closing has
  /// finished, or from the loop if reading starts (or resumes) later: a paused read
  /// callback is kept for it until then, or until close(); data the peer sends after
  /// the shutdown is not received.
  void shutdown(WriteCallback cb = {});
  /// Closes now; queued writes are cancelled. `on_closed` runs when all is released.
  void close(std::function<void()> on_closed = {});

  bool is_open() const noexcept;
  Mode mode() const noexcept;
  /// Who is at the other end (see LocalSocket::peer_info); `errc::not_connected` unless
  /// open.
  PeerInfo peer_info(std::error_code& ec) const;
  /// Throwing overload: localsock::Error naming the operation and the socket's local name.
  PeerInfo peer_info() const;
  /// Message mode: the largest message this connection sends: the AsyncOptions value,
  /// or less where the system cannot send that much (Linux seqpacket; known once
  /// connected). Writes above it fail with `errc::message_too_large`. Incoming messages
  /// are accepted up to the AsyncOptions value.
  std::size_t max_message_size() const noexcept;

  ~AsyncSocket();

 private:
  friend struct detail::AsyncAccess;
  explicit AsyncSocket(std::shared_ptr<detail::AsyncSocketImpl> impl) noexcept;
  std::shared_ptr<detail::AsyncSocketImpl> impl_;
};

/// A listener on a libuv loop. Loop-thread only.
class LOCALSOCK_API AsyncListener {
 public:
  using Ptr = std::shared_ptr<AsyncListener>;
  using AcceptCallback = std::function<void(std::error_code, AsyncSocket::Ptr)>;

  /// Listens with the same options as the blocking listeners; `cb` runs on the loop
  /// thread for each client. Errors as in the blocking API: `ec` comes last, before the
  /// defaulted settings (LocalListener::bind(options, ec)); the other overload throws
  /// localsock::Error. An open listener keeps `uv_run` running until it is closed.
  ///
  /// When the listener cannot take its next connection for a while (descriptors,
  /// handles or memory ran out, Windows could not make the next pipe instance), `cb` is
  /// called once with the error (`errc::out_of_resources` for exhaustion; memory for a
  /// connection too, which no longer escapes `uv_run` as std::bad_alloc: the client
  /// waits in the backlog on Unix while it can, else its connection is closed) and a null socket at
  /// the start of the episode, not for every retry; the listener stays open and tries
  /// again after a delay that doubles from 10 ms up to 1 s, without spinning, and serves
  /// the waiting clients as soon as it can. The first connection taken after that ends
  /// the episode: a later failure is reported again. A failure that concerns one client
  /// only (a connection aborted before it was accepted) is reported, and the others are
  /// served at once.
  static Ptr listen(AsyncLoop& loop, const ListenerOptions& options, Mode mode, AcceptCallback cb,
                    std::error_code& ec, AsyncOptions settings = {});
  static Ptr listen(AsyncLoop& loop, const ListenerOptions& options, Mode mode, AcceptCallback cb,
                    AsyncOptions settings = {});

  /// Stops listening; `on_closed` runs when all is released. Idempotent.
  void close(std::function<void()> on_closed = {});
  bool is_open() const noexcept;
  const LocalName& name() const noexcept;

  ~AsyncListener();

 private:
  friend struct detail::AsyncAccess;
  explicit AsyncListener(std::shared_ptr<detail::AsyncListenerImpl> impl) noexcept;
  std::shared_ptr<detail::AsyncListenerImpl> impl_;
};

/// One of localsock's objects on a loop that is not closed yet (see open_handles()).
struct OpenHandle {
  enum class Kind {
    loop,      ///< An AsyncLoop not destroyed yet (its wake-up handle is open).
    listener,  ///< An AsyncListener not closed, or still closing.
    socket,    ///< An AsyncSocket not closed, or still closing.
  };
  Kind kind = Kind::socket;
  /// The local name: a listener's own, the name a socket connected to, or the name of
  /// the listener that accepted it. Empty for the loop.
  std::string name;
  /// Byte or message mode (listeners and sockets).
  Mode mode = Mode::bytes;
  /// Its state in words: "attached" (the loop), "listening", "connecting", "open",
  /// "closing"; for an open socket also whether it reads and what it has queued, for
  /// example "open, reading, 2 writes queued (8192 bytes)" (the bytes still to send, as
  /// AsyncSocket::queued_bytes() counts them), or, with nothing queued, "open, not
  /// reading, sending the rest of a message (8192 bytes)" (framed transport).
  std::string state;
  /// Whether it keeps `uv_run` from returning now (see docs/async.md, "What keeps the
  /// loop running"): an AsyncLoop, or a socket neither reading nor writing, does not,
  /// but still has to be destroyed or closed before `uv_loop_close` can succeed.
  bool keeps_loop_running = false;
};

/// Lists localsock's objects on `loop` that are not closed yet: AsyncLoops not
/// destroyed, listeners and sockets not closed or still closing. A debugging aid for
/// `uv_loop_close` returning `UV_EBUSY`: what it names must be closed (and the loop run
/// until their close callbacks ran) or, for the AsyncLoop, destroyed (and the loop run
/// once more). Sockets and listeners that have finished closing are not listed, even if
/// the application still holds a pointer to them. Handles of the application's own, or
/// of other libraries, are not listed: `uv_walk` finds those.
/// Loop-thread only.
LOCALSOCK_API std::vector<OpenHandle> open_handles(uv_loop_t* loop);

/// open_handles() as text, one line per object, for example
/// `listener 'chat' (bytes): listening, keeps the loop running`; empty when there is
/// none. Loop-thread only.
LOCALSOCK_API std::string describe_open_handles(uv_loop_t* loop);

}  // namespace localsock
