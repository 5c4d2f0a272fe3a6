// SPDX-License-Identifier: MIT
// The async API on Windows: pipe handles are overlapped and bound to libuv's own
// completion port (uv_loop_t::iocp), so that their completions wake the loop directly,
// as libuv's own pipes do, with no thread or hand-over of ours. libuv dispatches a
// completion by the request its OVERLAPPED sits in; each operation here keeps its
// OVERLAPPED in the wake-up request of a uv_async_t that is never registered with the
// loop (a "relay"), and libuv calls that handle's callback, exactly as for a
// uv_async_send (whose completions take the same path). uv_pipe_t is not used: it
// cannot keep message boundaries (nor zero-length messages), and localsock's listener
// options (descriptors, instance limits, first-instance protection) need the instances
// made by localsock.
// uv.h (through async_common.hpp) brings winsock2.h, which must come before windows.h.
#include "../common/async_common.hpp"

#include <windows.h>

#include "win_error.hpp"

namespace localsock::detail {

using win::detail::ends_stream;
using win::detail::error_of;
using win::detail::PipeCore;

// ---- operations --------------------------------------------------------------------

namespace {

struct Op;
void run_completion(Op* op, DWORD bytes, DWORD error);

// An overlapped operation of a socket or listener. A connection's reads and writes are
// members of the connection, reused for every operation (`on_heap` false); a listener's
// connects are allocated each and deleted once complete.
struct Op {
  uv_async_t relay{};     // never registered: carries the OVERLAPPED and the callback
  HANDLE file = nullptr;  // the handle the operation runs on, for its result
  bool on_heap = true;

  Op() noexcept {
    // What uv_async_init sets up for libuv's dispatch, without registering the handle.
    relay.type = UV_ASYNC;
    relay.async_req.type = UV_WAKEUP;
    relay.async_req.data = &relay;
    relay.async_cb = relayed;
    relay.data = this;
  }
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  virtual ~Op() = default;

  /// A fresh OVERLAPPED for the next use on `h`.
  OVERLAPPED* start(HANDLE h) noexcept {
    file = h;
    relay.async_req.u.io.overlapped = OVERLAPPED{};
    return &relay.async_req.u.io.overlapped;
  }
  /// Finishes the operation with the outcome its OVERLAPPED holds (it has completed).
  void complete_from_overlapped() {
    DWORD bytes = 0;
    const DWORD error = ::GetOverlappedResult(file, &relay.async_req.u.io.overlapped, &bytes, FALSE)
                            ? 0
                            : ::GetLastError();
    run_completion(this, bytes, error);
  }
  // On the loop thread, with the operation's outcome.
  virtual void complete(DWORD bytes, DWORD error) = 0;

 private:
  static void relayed(uv_async_t* h) { static_cast<Op*>(h->data)->complete_from_overlapped(); }
};

// Runs `op`'s completion, and deletes it after if it was allocated for the one use. A
// member op may be gone once complete() returns (the connection may be released).
void run_completion(Op* op, DWORD bytes, DWORD error) {
  if (op->on_heap) {
    std::unique_ptr<Op> owned(op);
    owned->complete(bytes, error);
  } else {
    op->complete(bytes, error);
  }
}

// Binds a pipe handle to the loop's completion port; its overlapped operations
// complete there.
std::error_code bind_to_port(LoopState& loop, const PipeCore& pipe) {
  if (::CreateIoCompletionPort(static_cast<HANDLE>(pipe.native_handle()), loop.loop->iocp, 0, 0) == nullptr)
    return win::detail::last_error();
  return {};
}

}  // namespace

// ---- connections -------------------------------------------------------------------

namespace {
struct ReadOp final : Op {
  std::shared_ptr<AsyncSocketImpl> socket;  // set while pending: keeps the socket alive
  std::vector<std::byte> buffer;            // reused; grows up to the read chunk
  std::byte* target = nullptr;              // where this read goes (buffer or message)
  DWORD size = 0;
  ReadOp() noexcept { on_heap = false; }
  void complete(DWORD bytes, DWORD error) override;
};

struct WriteOp final : Op {
  std::shared_ptr<AsyncSocketImpl> socket;
  WriteOp() noexcept { on_heap = false; }
  void complete(DWORD bytes, DWORD error) override;
};
}  // namespace

struct SocketIo {
  PipeCore pipe;
  ReadOp read_op;
  WriteOp write_op;
  bool read_pending = false;
  bool write_pending = false;
  // Byte pipes: FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is on, so an operation that
  // completes at once sends no completion and is finished here (see start_write).
  // Message pipes keep every completion: whether a read ending in ERROR_MORE_DATA (a
  // warning, not a success) still sends one in that mode is not documented.
  bool skips_port_on_success = false;
  // Message mode: a message larger than one read, put together across ERROR_MORE_DATA
  // (the rest is read straight into it), or dropped for being over the maximum.
  std::vector<std::byte> message;
  bool assembling = false;
  bool discarding = false;
  std::size_t discarded = 0;
  // The size of the next read: small while the connection is quiet, so that idle
  // connections hold little memory in their pending read; doubled (up to the read
  // chunk) each time a read fills its buffer.
  std::size_t read_size = 1024;
  // A read that completed while reading was paused, delivered on resume. Its bytes stay
  // where they are (no read starts while one is held).
  bool held = false;
  ReadEvent held_event;
  // A read callback is running: its data lies in the read buffer (or the assembled
  // message), so no read may start, and no buffer be resized, until it returns; the
  // code that called the callback starts the next read after.
  bool delivering = false;
};

AsyncSocketImpl::AsyncSocketImpl() = default;
AsyncSocketImpl::~AsyncSocketImpl() = default;

namespace {

void start_read(AsyncSocketImpl& impl, std::size_t size);
bool start_write(AsyncSocketImpl& impl);
void finish_close_if_idle(AsyncSocketImpl& impl);

std::shared_ptr<AsyncSocketImpl> shared_of(AsyncSocketImpl& impl) { return AsyncAccess::impl(*impl.self); }

// Assembled messages above this size do not keep their memory once delivered.
constexpr std::size_t kept_message_capacity = 256 * 1024;

// Runs the read callback with `event`, whose data stays where it is until the callback
// returns, whatever the callback calls (see SocketIo::delivering).
bool deliver_read(AsyncSocketImpl& impl, const ReadEvent& event) {
  SocketIo& io = *impl.io;
  const bool outer = io.delivering;
  io.delivering = true;
  const bool more = impl.deliver(event);
  io.delivering = outer;
  return more;
}

// Delivers a read outcome now, or keeps it until reading resumes.
void hand_over(AsyncSocketImpl& impl, std::span<const std::byte> data, bool end, std::error_code ec) {
  SocketIo& io = *impl.io;
  if (!impl.reading) {
    io.held = true;
    io.held_event = {data, end, ec};
    return;
  }
  if (end || (ec && ec != errc::message_too_large)) impl.reading = false;
  deliver_read(impl, {data, end, ec});
}

void ReadOp::complete(DWORD bytes, DWORD error) {
  const auto keep = std::move(socket);
  AsyncSocketImpl& impl = *keep;
  impl.loop->release();
  SocketIo& io = *impl.io;
  io.read_pending = false;
  if (impl.state != AsyncSocketImpl::State::open) {
    finish_close_if_idle(impl);
    return;
  }
  const bool into_message = target != buffer.data();
  if (!into_message && bytes == size && io.read_size < impl.settings.read_chunk)
    io.read_size = std::min(io.read_size * 2, impl.settings.read_chunk);
  if (ends_stream(error)) {
    hand_over(impl, {}, true, {});
  } else if (error != 0 && error != ERROR_MORE_DATA) {
    hand_over(impl, {}, false, error_of(error));
  } else if (impl.mode == Mode::bytes) {
    hand_over(impl, std::span(buffer).first(bytes), false, {});
  } else if (io.discarding) {
    io.discarded += bytes;
    if (error == ERROR_MORE_DATA) {
      start_read(impl, impl.settings.read_chunk);
      return;
    }
    io.discarding = false;
    hand_over(impl, {}, false, make_error_code(errc::message_too_large));
  } else if (error != ERROR_MORE_DATA && !io.assembling) {
    // Whole in one read. The read takes up to max_message_size + 1 bytes, so that a
    // message one byte over the limit fits it and is refused here, like larger ones.
    if (bytes > impl.settings.max_message_size)
      hand_over(impl, {}, false, make_error_code(errc::message_too_large));
    else
      hand_over(impl, std::span(buffer).first(bytes), false, {});
  } else {
    if (!io.assembling) {
      io.assembling = true;
      io.message.assign(buffer.begin(), buffer.begin() + bytes);
    } else {
      io.message.resize(io.message.size() - (size - bytes));  // drop what was not filled
    }
    if (error == ERROR_MORE_DATA) {
      // The rest of the message is in the pipe: its size decides between reading it
      // whole, straight into the message, and dropping it.
      DWORD left = 0;
      ::PeekNamedPipe(static_cast<HANDLE>(io.pipe.native_handle()), nullptr, 0, nullptr, nullptr, &left);
      if (io.message.size() + left > impl.settings.max_message_size) {
        io.message.clear();
        io.assembling = false;
        io.discarding = true;
        start_read(impl, impl.settings.read_chunk);
      } else {
        start_read(impl, std::max<DWORD>(left, 1));
      }
      return;
    }
    io.assembling = false;
    hand_over(impl, io.message, false, {});
  }
  if (impl.state == AsyncSocketImpl::State::open) io_update(impl);
}

void WriteOp::complete(DWORD bytes, DWORD error) {
  const auto keep = std::move(socket);
  AsyncSocketImpl& impl = *keep;
  impl.loop->release();
  SocketIo& io = *impl.io;
  io.write_pending = false;
  if (impl.state != AsyncSocketImpl::State::open) {
    finish_close_if_idle(impl);
    return;
  }
  auto& item = impl.queue.front();
  if (error == 0) {
    item.done += bytes;
    if (impl.mode == Mode::bytes && item.done < item.data.size()) {
      io_update(impl);
      return;
    }
  }
  std::error_code ec = error == 0 ? std::error_code{} : error_of(error);
  if (ends_stream(error) || error == ERROR_NO_DATA) ec = make_error_code(errc::peer_closed);
  // A write the pipe refused fails the write side, as on Unix: nothing queued behind it
  // is sent, and a shutdown waiting for the queue reports the error, not success.
  if (ec) impl.write_failed(ec);
  impl.written(impl.queue.pop(), ec);
  if (impl.state == AsyncSocketImpl::State::open) io_update(impl);
}

// An overlapped operation that failed at once: no completion comes through the port, so
// it is finished on the loop's next turn, never inside the call that started it.
void fail_on_loop(AsyncSocketImpl& impl, Op& op, DWORD err) {
  impl.loop->hold();
  impl.loop->post([keep = shared_of(impl), &op, err] { op.complete(0, err); });
}

// An operation that completed at once on a handle that skips the port on success: its
// result is in its OVERLAPPED; it is finished on the loop's next turn. (The op holds its
// socket, so the capture is one pointer: no allocation.)
void finish_on_loop(AsyncSocketImpl& impl, Op& op) {
  impl.loop->hold();
  impl.loop->post([op = &op] { op->complete_from_overlapped(); });
}

// Byte pipes stop sending completions for operations that succeed at once.
void skip_port_on_success(SocketIo& io, Mode mode) {
  if (mode != Mode::bytes) return;
  io.skips_port_on_success = ::SetFileCompletionNotificationModes(
                                 static_cast<HANDLE>(io.pipe.native_handle()),
                                 FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) != FALSE;
}

// Reads up to `size` bytes: into the reused buffer, or, while a message is being put
// together, onto the end of that message.
void start_read(AsyncSocketImpl& impl, std::size_t size) {
  SocketIo& io = *impl.io;
  ReadOp& op = io.read_op;
  op.size = static_cast<DWORD>(std::min<std::size_t>(size, 0x7fffffff));
  if (io.assembling) {
    io.message.resize(io.message.size() + op.size);
    op.target = io.message.data() + io.message.size() - op.size;
  } else {
    // (Not "= {}": that picks the initializer_list assignment, which keeps the capacity.)
    if (io.message.capacity() > kept_message_capacity && !io.held)
      io.message = std::vector<std::byte>();
    if (op.buffer.size() < op.size) op.buffer.resize(op.size);
    op.target = op.buffer.data();
  }
  HANDLE h = static_cast<HANDLE>(io.pipe.native_handle());
  OVERLAPPED* ov = op.start(h);
  op.socket = shared_of(impl);
  io.read_pending = true;
  if (!::ReadFile(h, op.target, op.size, nullptr, ov)) {
    const DWORD err = ::GetLastError();
    if (err != ERROR_IO_PENDING && err != ERROR_MORE_DATA) {
      fail_on_loop(impl, op, err);
      return;
    }
  } else if (io.skips_port_on_success) {
    // Done already, and no completion comes: delivered from the loop, never from
    // inside the call (write(), a callback) that started this read.
    finish_on_loop(impl, op);
    return;
  }
  // Pending, or done already: either way the completion comes through the port.
  impl.loop->hold();
}

// Starts writing the front of the queue. True when the write completed at once and was
// finished here (nothing pending: the caller goes on with the queue).
bool start_write(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  auto& item = impl.queue.front();
  static const std::byte nothing{};
  const std::size_t left = item.data.size() - item.done;
  if (impl.mode == Mode::messages && left > 0x7fffffff) {
    // A pipe message is at most 2 GiB - 1 bytes: this write fails alone, reported from
    // the loop (never inside write()), and the queue goes on behind it.
    WriteQueue::Item failed = impl.queue.pop();
    failed.data = {};
    if (!failed.cb) {
      // Without a callback the write side fails, as on every platform: nothing behind
      // it is written, and write_failed tells the read side from the loop.
      impl.write_failed(make_error_code(errc::message_too_large));
      return false;
    }
    impl.loop->hold();
    impl.loop->post([keep = shared_of(impl), cb = std::move(failed.cb)]() mutable {
      AsyncSocketImpl& s = *keep;
      s.loop->release();
      const auto ec = make_error_code(errc::message_too_large);
      s.written({{}, 0, std::move(cb)}, ec);
      if (s.state == AsyncSocketImpl::State::open) io_update(s);
    });
    return true;
  }
  const DWORD n = static_cast<DWORD>(std::min<std::size_t>(left, 0x7fffffff));
  const void* data = item.data.empty() ? &nothing : item.data.data() + item.done;
  WriteOp& op = io.write_op;
  HANDLE h = static_cast<HANDLE>(io.pipe.native_handle());
  OVERLAPPED* ov = op.start(h);
  op.socket = shared_of(impl);
  io.write_pending = true;
  if (!::WriteFile(h, data, n, nullptr, ov)) {
    if (::GetLastError() != ERROR_IO_PENDING) fail_on_loop(impl, op, ::GetLastError());
    else impl.loop->hold();
    return false;
  }
  if (!io.skips_port_on_success) {  // done, and the completion comes through the port
    impl.loop->hold();
    return false;
  }
  // Done at once, and no completion comes. With no application callback to run (and
  // no drain to tell), it is finished here, as the Unix backend writes at once;
  // otherwise from the loop, never inside write().
  if (item.cb || impl.queue.draining()) {
    finish_on_loop(impl, op);
    return false;
  }
  DWORD written = 0;
  ::GetOverlappedResult(h, ov, &written, FALSE);
  op.socket.reset();
  io.write_pending = false;
  item.done += written;
  if (item.done >= item.data.size()) impl.queue.recycle(impl.queue.pop().data);
  return true;
}

void finish_close_if_idle(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  if (io.read_pending || io.write_pending || impl.state == AsyncSocketImpl::State::closed) return;
  io.pipe.close();
  impl.finished_closing();
}

}  // namespace

void io_update(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  if (impl.state != AsyncSocketImpl::State::open) return;
  if (impl.reading && io.held) {
    io.held = false;
    const ReadEvent e = io.held_event;
    if (e.end || (e.error && e.error != errc::message_too_large)) impl.reading = false;
    if (!deliver_read(impl, e) && impl.state != AsyncSocketImpl::State::open) return;
  }
  if (impl.reading && !io.read_pending && !io.held && !io.delivering &&
      impl.state == AsyncSocketImpl::State::open)
    start_read(impl, impl.mode == Mode::bytes ? io.read_size
                                              : std::min(io.read_size, impl.settings.max_message_size + 1));
  while (!io.write_pending && !impl.queue.empty() && !impl.write_failure &&
         impl.state == AsyncSocketImpl::State::open &&
         start_write(impl)) {
  }
  if (impl.queue.empty() && !io.write_pending && impl.shutdown_requested && !impl.shut_down &&
      !impl.write_failure && impl.state == AsyncSocketImpl::State::open) {
    // Named pipes have no half-close: once everything is written, the connection ends,
    // and the read side reports the end when the closing has finished (or when reading
    // starts after), as it would on Unix once the peer closes.
    impl.shut_down = true;
    if (impl.shutdown_cb) std::exchange(impl.shutdown_cb, {})({});
    if (impl.state == AsyncSocketImpl::State::open) {
      impl.state = AsyncSocketImpl::State::closing;
      impl.end_due = true;
      io_close(impl);
    }
  }
}

bool io_try_write(AsyncSocketImpl&, std::span<const std::byte>&) { return false; }

void io_close(AsyncSocketImpl& impl) {
  SocketIo* io = impl.io.get();
  if (io == nullptr) {
    // Still connecting: the connect's completion finishes it, soon once cancelled.
    if (impl.cancel_connect) impl.cancel_connect();
    return;
  }
  if (io->read_pending || io->write_pending) {
    // The cancelled operations complete through the port; the last one finishes.
    ::CancelIoEx(static_cast<HANDLE>(io->pipe.native_handle()), nullptr);
    return;
  }
  // Nothing pending: finish on the loop's next turn, like a uv_close callback.
  auto self = impl.self;
  impl.loop->hold();
  impl.loop->post([self] {
    AsyncAccess::impl(*self)->loop->release();
    finish_close_if_idle(*AsyncAccess::impl(*self));
  });
}

PeerInfo io_peer_info(const AsyncSocketImpl& impl, std::error_code& ec) {
  return peer_info(impl.io->pipe, ec);  // the same as for the blocking pipe streams
}

namespace {
// The pool's side of a connect: in slices, so that a close() is noticed soon (see
// connect_in_slices). As in one long connect, a pipe seen busy whose name is then
// briefly gone (its server replacing its last instance) is waited for, not "no
// listener".
template <Mode M>
PipeCore connect_pipe(const ConnectOptions& options, const std::atomic<bool>& cancelled,
                      std::error_code& ec) {
  bool seen_busy = false;
  auto attempt = [&seen_busy](const ConnectOptions& slice, std::error_code& e) {
    auto made = connect_socket<M>(slice, e);
    if (e == errc::no_listener && seen_busy) {
      ::Sleep(5);
      e = make_error_code(errc::timed_out);
    }
    if (e == errc::timed_out) seen_busy = true;
    return made;
  };
  return std::move(connect_in_slices(options, cancelled, attempt, ec).pipe_core());
}
}  // namespace

void start_connect(const std::shared_ptr<AsyncSocketImpl>& impl, const ConnectOptions& options) {
  struct Outcome {
    std::shared_ptr<PipeCore> pipe;
    std::error_code ec;
  };
  const Mode mode = impl->mode;
  // The connect may wait for a busy pipe: in the thread pool, never on the loop.
  impl->cancel_connect = run_in_pool<Outcome>(
      impl->loop->loop,
      [options, mode](const std::atomic<bool>& cancelled) {
        Outcome out;
        out.pipe = std::make_shared<PipeCore>();
        if (mode == Mode::bytes)
          *out.pipe = connect_pipe<Mode::bytes>(options, cancelled, out.ec);
        else
          *out.pipe = connect_pipe<Mode::messages>(options, cancelled, out.ec);
        return out;
      },
      [impl](Outcome out, bool cancelled) {
        if (cancelled) out.ec = std::make_error_code(std::errc::operation_canceled);
        if (!out.ec && impl->state == AsyncSocketImpl::State::connecting) {
          out.ec = bind_to_port(*impl->loop, *out.pipe);
          if (!out.ec) {
            impl->io = std::make_unique<SocketIo>();
            impl->io->pipe = std::move(*out.pipe);
            skip_port_on_success(*impl->io, impl->mode);
          }
        }
        connected(impl, out.ec);
      });
}

// ---- listener ----------------------------------------------------------------------

struct ListenerIo {
  PlatformListener<Mode::bytes> bytes;
  PlatformListener<Mode::messages> messages;
  bool connect_pending = false;
  void* pending_instance = nullptr;  // the handle whose connect is pending
  OVERLAPPED* pending_ov = nullptr;
  bool waiting_for_slot = false;
  // After a failure to make or bind the next instance: the timer that tries again (made
  // on the first failure, freed when the listener finishes), and the episode's state.
  uv_timer_t* retry_timer = nullptr;
  AcceptRetry retry;
  std::weak_ptr<AsyncListenerImpl> owner;  // for the timer's callback

  win::detail::PipeListenerCore& core() {
    return bytes.is_open() ? bytes.core() : messages.core();
  }
};

AsyncListenerImpl::AsyncListenerImpl() = default;
AsyncListenerImpl::~AsyncListenerImpl() = default;

namespace {

void accept_next(const std::shared_ptr<AsyncListenerImpl>& impl);

// The next instance could not be made, bound or connected: the listener tries again
// after a delay (never spinning, never giving up), and the accept callback hears of it
// once per episode (see AcceptRetry).
void accept_failed(const std::shared_ptr<AsyncListenerImpl>& impl, std::error_code ec) {
  ListenerIo& io = *impl->io;
  const bool report = io.retry.failed();
  if (io.retry_timer == nullptr) {
    io.retry_timer = new uv_timer_t{};
    uv_timer_init(impl->loop->loop, io.retry_timer);
    io.retry_timer->data = &io;
  }
  uv_timer_start(
      io.retry_timer,
      [](uv_timer_t* t) {
        if (auto l = static_cast<ListenerIo*>(t->data)->owner.lock(); l && l->open) accept_next(l);
      },
      io.retry.delay_ms(), 0);
  if (report && impl->on_accept) impl->on_accept(ec, nullptr);
}

void finish_listener(AsyncListenerImpl& impl) {
  if (impl.io->retry_timer != nullptr)
    uv_close(reinterpret_cast<uv_handle_t*>(std::exchange(impl.io->retry_timer, nullptr)),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  impl.io->bytes.close();
  impl.io->messages.close();
  impl.on_accept = {};
  if (impl.on_closed) std::exchange(impl.on_closed, {})();
  auto keep = std::move(impl.self);
}

struct ConnectOp final : Op {
  std::shared_ptr<AsyncListenerImpl> listener;
  PipeCore instance;
  void complete(DWORD, DWORD error) override {
    AsyncListenerImpl& impl = *listener;
    impl.loop->release();
    impl.io->connect_pending = false;
    impl.io->pending_instance = nullptr;
    impl.io->pending_ov = nullptr;
    if (!impl.open) {
      finish_listener(impl);
      return;
    }
    // An instance not handed over is closed before the next is taken: it holds a place
    // under the instance limit, and with instance_limit(1) the next would wait for a
    // place that nothing would ever free.
    if (error == ERROR_NO_DATA) {
      // A client connected and left before it was accepted: never poison the listener.
      instance.close();
      accept_next(listener);
      return;
    }
    if (error != 0 && error != ERROR_PIPE_CONNECTED) {
      instance.close();
      accept_failed(listener, error_of(error));
      return;
    }
    if (!impl.io->core().admits(instance)) {  // current_user_only: another user's client
      std::error_code ignored;
      instance.disconnect(ignored);
      instance.close();
      accept_next(listener);
      return;
    }
    auto made = std::make_shared<AsyncSocketImpl>();
    made->io = std::make_unique<SocketIo>();
    made->io->pipe = std::move(instance);
    skip_port_on_success(*made->io, impl.mode);
    auto socket = make_socket(made, impl.loop, impl.mode, impl.settings);
    // When this connection goes, its instance place frees up: a listener that waits
    // for one (instance limit reached) tries again.
    std::weak_ptr<AsyncListenerImpl> weak = listener;
    made->on_gone = [weak] {
      if (auto l = weak.lock(); l && l->open && l->io->waiting_for_slot) accept_next(l);
    };
    auto keep = listener;
    impl.io->retry.succeeded();
    accept_next(listener);
    if (impl.on_accept) impl.on_accept({}, socket);
  }
};

void accept_next(const std::shared_ptr<AsyncListenerImpl>& impl) {
  ListenerIo& io = *impl->io;
  if (!impl->open || io.connect_pending) return;
  io.waiting_for_slot = false;
  std::error_code ec;
  PipeCore instance = io.core().take_instance(ec);
  if (ec == errc::would_block) {  // the instance limit is reached
    io.waiting_for_slot = true;
    return;
  }
  if (!ec) ec = bind_to_port(*impl->loop, instance);
  if (ec) {
    instance.close();  // its instance place is free for the retry
    accept_failed(impl, ec);
    return;
  }
  auto op = std::make_unique<ConnectOp>();
  op->listener = impl;
  op->instance = std::move(instance);
  HANDLE h = static_cast<HANDLE>(op->instance.native_handle());
  OVERLAPPED* ov = op->start(h);
  DWORD err = 0;
  if (!::ConnectNamedPipe(h, ov)) err = ::GetLastError();
  io.connect_pending = true;
  impl->loop->hold();
  if (err == ERROR_IO_PENDING || err == 0) {
    io.retry.succeeded();  // an instance waits for clients again
    io.pending_instance = h;
    io.pending_ov = ov;
    (void)op.release();  // completes through the port
    return;
  }
  // Connected already (ERROR_PIPE_CONNECTED), gone already (ERROR_NO_DATA) or failed: no
  // completion will come; finish on the loop's next turn.
  Op* raw = op.release();
  impl->loop->post([raw, err] { run_completion(raw, 0, err); });
}

}  // namespace

void listen_start(const std::shared_ptr<AsyncListenerImpl>& impl, const ListenerOptions& options,
                  std::error_code& ec) {
  impl->io = std::make_unique<ListenerIo>();
  if (impl->mode == Mode::bytes)
    impl->io->bytes = bind_listener<Mode::bytes>(options, ec);
  else
    impl->io->messages = bind_listener<Mode::messages>(options, ec);
  if (ec) return;
  impl->io->owner = impl;
  accept_next(impl);
}

void listener_close(AsyncListenerImpl& impl) {
  if (impl.io->connect_pending) {
    // The cancelled connect completes through the port and finishes the closing.
    if (impl.io->pending_instance != nullptr)
      ::CancelIoEx(static_cast<HANDLE>(impl.io->pending_instance), impl.io->pending_ov);
    return;
  }
  auto self = impl.self;
  impl.loop->hold();
  impl.loop->post([self, raw = &impl] {
    raw->loop->release();
    finish_listener(*raw);
  });
}

const LocalName& listener_name(const AsyncListenerImpl& impl) noexcept {
  return impl.mode == Mode::bytes ? impl.io->bytes.name() : impl.io->messages.name();
}

std::size_t io_kept_read_buffer(const AsyncSocketImpl& impl) noexcept {
  return impl.io->message.capacity() + impl.io->read_op.buffer.capacity();
}

}  // namespace localsock::detail
