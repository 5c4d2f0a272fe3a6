// SPDX-License-Identifier: MIT
// The async API on Windows: pipe handles are overlapped and bound to libuv's own
// completion port, so that their completions wake the loop directly, as libuv's own
// pipes do, with no thread or hand-over of ours. Each operation keeps its OVERLAPPED
// in a UvRelay, through which libuv runs the operation's completion on the loop thread
// (uv_relay.cpp, the one file that touches libuv's internals). uv_pipe_t is not used:
// it cannot keep message boundaries (nor zero-length messages), and localsock's
// listener options (descriptors, instance limits, first-instance protection) need the
// instances made by localsock.
// The listener is in async_listener_win.cpp; what both share in async_op.hpp.
#include "async_op.hpp"
#include "sys.hpp"

#include <algorithm>
#include <cstdint>
#include <new>
#include <variant>

namespace localsock::detail {

namespace {
struct ReadOp final : Op {
  std::shared_ptr<AsyncSocketImpl> socket;  // set while pending: keeps the socket alive
  // Taken from the loop's pool when data is there, given back when the connection next
  // waits for data (see start_wait); grows up to the read chunk.
  std::vector<std::byte> buffer;
  std::byte* target = nullptr;  // where this read goes (buffer or message)
  DWORD size = 0;
  bool waiting = false;  // a zero-byte read, waiting for data (see start_wait)
  void complete(DWORD bytes, DWORD error) override;
};

struct WriteOp final : Op {
  std::shared_ptr<AsyncSocketImpl> socket;
  void complete(DWORD bytes, DWORD error) override;
};
}  // namespace

// What a connection keeps that only its mode needs, chosen by type: the one object a
// connection holds (SocketIo::per_mode) decides how its reads and writes end.
template <Mode M>
struct PipeIo;
using win::detail::MessageAssembler;

// Byte pipes: a read delivers what it read; a write may be taken in part.
template <>
struct PipeIo<Mode::bytes> {};
// Message pipes: a message larger than one read, put together across ERROR_MORE_DATA
// (the rest is read straight into it), or dropped for being over the maximum. (Held
// apart, so that a byte connection does not carry its size.)
template <>
struct PipeIo<Mode::messages> {
  std::unique_ptr<MessageAssembler> assembler = std::make_unique<MessageAssembler>();
};
using ByteIo = PipeIo<Mode::bytes>;
using MessageIo = PipeIo<Mode::messages>;

// The pipe of a connection: the handle, and what the connection must keep with it (a
// PipeCore holds the state of the blocking reads and writes too, which an async
// connection does not use: an idle connection is small).
struct AsyncPipe {
  // The instance's slot under the listener's instance limit: given back after the
  // handle has closed (members are destroyed in reverse order).
  win::detail::InstanceSlot slot;
  win::UniqueHandle handle;
  bool server = false;

  HANDLE native_handle() const noexcept { return static_cast<HANDLE>(handle.get()); }
  void close() noexcept {
    handle.reset();
    slot.reset();
  }
};

struct SocketIo {
  AsyncPipe pipe;
  std::variant<ByteIo, MessageIo> per_mode;
  ReadOp read_op;
  // Made by the first write and kept (writes then allocate nothing): a connection that
  // has not written does not carry it.
  std::unique_ptr<WriteOp> write_op;
  // (The flags are kept together: an idle connection is small.)
  bool read_pending = false;
  bool write_pending = false;
  // Byte pipes: FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is on, so an operation that
  // completes at once sends no completion and is finished here (see start_write).
  // Message pipes keep every completion: whether a read ending in ERROR_MORE_DATA (a
  // warning, not a success) still sends one in that mode is not documented.
  bool skips_port_on_success = false;
  // A read that completed while reading was paused, delivered on resume (deferred_*: the
  // ReadEvent, kept in parts that pack with the flags). Its bytes stay where they are
  // (no read starts while one is deferred).
  bool deferred = false;
  bool deferred_end = false;
  // A read callback is running: its data lies in the read buffer (or the assembled
  // message), so no read may start, and no buffer be resized, until it returns; the
  // code that called the callback starts the next read after.
  bool delivering = false;
  // The size of the next read once data is there: doubled (up to the read chunk, and
  // never past what one read takes) each time a read fills its buffer.
  std::uint32_t read_size = 1024;
  std::uint32_t deferred_size = 0;  // a read or a message: at most max_io_size bytes
  const std::byte* deferred_data = nullptr;
  std::error_code deferred_error;
};

AsyncSocketImpl::AsyncSocketImpl() = default;
AsyncSocketImpl::~AsyncSocketImpl() { unregister(); }

namespace {

void start_read(AsyncSocketImpl& impl, std::size_t size);
void start_first_read(AsyncSocketImpl& impl);
bool start_write(AsyncSocketImpl& impl);
void finish_close_if_idle(AsyncSocketImpl& impl);

std::shared_ptr<AsyncSocketImpl> shared_of(AsyncSocketImpl& impl) {
  return AsyncAccess::impl(*impl.self);
}

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
void hand_over(AsyncSocketImpl& impl, std::span<const std::byte> data, bool end,
               std::error_code ec) {
  SocketIo& io = *impl.io;
  if (!impl.reading) {
    io.deferred = true;
    io.deferred_data = data.data();
    io.deferred_size = static_cast<std::uint32_t>(data.size());
    io.deferred_end = end;
    io.deferred_error = ec;
    return;
  }
  if (end || (ec && ec != errc::message_too_large)) impl.reading = false;
  deliver_read(impl, {data, end, ec});
}

// A read of a byte pipe completed without error: its bytes go to the callback. True:
// the connection goes on as usual (io_update).
bool read_done(AsyncSocketImpl& impl, ByteIo&, ReadOp& op, DWORD bytes, DWORD) {
  hand_over(impl, std::span(op.buffer).first(bytes), false, {});
  return true;
}

// A read of a message pipe completed without error, or with ERROR_MORE_DATA: the
// assembler says what comes next. The first read takes up to max_message_size + 1 bytes,
// so that a message one byte over the limit fits it and is refused, like larger ones;
// the rest of a longer one is read straight into the assembler's message. False when
// the next read of the same message has started.
bool read_done(AsyncSocketImpl& impl, MessageIo& m, ReadOp& op, DWORD bytes, DWORD error) {
  SocketIo& io = *impl.io;
  MessageAssembler& message = *m.assembler;
  // A read of the rest went into the assembler's message; a first read (the zero-byte
  // wait that took an empty message included) into op.target.
  const bool into_message = message.reading() && !message.discarding();
  const bool more = error == ERROR_MORE_DATA;
  std::error_code ec;
  const MessageAssembler::Step step =
      message.discarding() ? message.discard_read(more)
      : message.reading()
          ? message.rest_read(bytes, more, ec)
          : message.first(io.pipe.handle.get(), bytes, more, impl.settings.max_message_size, ec);
  switch (ec ? MessageAssembler::Step::deliver : step) {
    case MessageAssembler::Step::read_rest:
      if (!message.has_message()) {
        // The message is put together in memory from the loop's pool (see start_wait).
        if (message.capacity() == 0) message.use_memory(impl.loop->read_buffers.take());
        message.keep(std::span(op.target, bytes));
      }
      start_read(impl, message.left());
      return false;
    case MessageAssembler::Step::discard:
      start_read(impl, impl.settings.read_chunk);
      return false;
    case MessageAssembler::Step::too_large:
      hand_over(impl, {}, false, make_error_code(errc::message_too_large));
      break;
    case MessageAssembler::Step::deliver:
      if (ec) {
        // The message could not be put together (PeekNamedPipe failed, or the pipe
        // gave other than it announced): what is left of it may still be in the pipe,
        // where the next read would take it for a message of its own. The read callback
        // gets the error, and the connection ends: never a garbled message.
        message.reset();
        hand_over(impl, {}, false, ec);
        if (impl.state == AsyncSocketImpl::State::open) impl.self->close();
        return false;
      } else {
        hand_over(impl,
                  into_message ? message.message() : std::span<const std::byte>(op.target, bytes),
                  false, {});
      }
      break;
  }
  return true;
}

// Whether a zero-byte read (see start_wait) that completed with `error` found data to
// read: a byte pipe has bytes; a message pipe has a message that did not fit. (An empty
// message fits: the zero-byte read took it whole, and it is delivered as read.)
bool data_is_there(const ByteIo&, DWORD error) noexcept { return error == 0; }
bool data_is_there(const MessageIo&, DWORD error) noexcept { return error == ERROR_MORE_DATA; }

void ReadOp::complete(DWORD bytes, DWORD error) {
  const auto keep = std::move(socket);
  AsyncSocketImpl& impl = *keep;
  SocketIo& io = *impl.io;
  io.read_pending = false;
  const bool waited = std::exchange(waiting, false);
  if (impl.state != AsyncSocketImpl::State::open) {
    finish_close_if_idle(impl);
    return;
  }
  if (waited && std::visit([&](const auto& m) { return data_is_there(m, error); }, io.per_mode)) {
    // Read it now. While reading is paused it stays in the pipe, and the wait that
    // starts when reading resumes ends at once.
    if (impl.reading) start_first_read(impl);
    return;
  }
  const bool into_buffer = !waited && target == buffer.data();
  if (into_buffer && bytes == size && io.read_size < impl.settings.read_chunk)
    io.read_size = static_cast<std::uint32_t>(
        std::min({std::size_t{io.read_size} * 2, impl.settings.read_chunk, win::max_io_size}));
  if (ends_stream(error)) {
    hand_over(impl, {}, true, {});
  } else if (error != 0 && error != ERROR_MORE_DATA) {
    hand_over(impl, {}, false, error_of(error));
  } else if (!std::visit([&](auto& m) { return read_done(impl, m, *this, bytes, error); },
                         io.per_mode)) {
    return;
  }
  if (impl.state == AsyncSocketImpl::State::open) io_update(impl);
}

// Whether a write that succeeded has finished its item: a byte pipe may take part of it
// (the rest is written next); a message goes whole.
bool write_done(const ByteIo&, const WriteQueue::Item& item) noexcept {
  return item.done >= item.size();
}
bool write_done(const MessageIo&, const WriteQueue::Item&) noexcept { return true; }

void WriteOp::complete(DWORD bytes, DWORD error) {
  const auto keep = std::move(socket);
  AsyncSocketImpl& impl = *keep;
  SocketIo& io = *impl.io;
  io.write_pending = false;
  if (impl.state != AsyncSocketImpl::State::open) {
    finish_close_if_idle(impl);
    return;
  }
  auto& item = impl.queue.front();
  if (error == 0) {
    item.done += bytes;
    if (!std::visit([&](const auto& m) { return write_done(m, item); }, io.per_mode)) {
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
  impl.loop->post([keep = shared_of(impl), &op, err] { run_completion(&op, 0, err); });
}

// An operation that completed at once on a handle that skips the port on success: its
// result is in its OVERLAPPED; it is finished on the loop's next turn. (The op holds its
// socket, so the capture is one pointer: no allocation.)
void finish_on_loop(AsyncSocketImpl& impl, Op& op) {
  impl.loop->post([op = &op] { op->complete_from_overlapped(); });
}

// Byte pipes stop sending completions for operations that succeed at once (see
// SocketIo::skips_port_on_success).
void skip_port_on_success(SocketIo& io, ByteIo&) {
  io.skips_port_on_success =
      ::SetFileCompletionNotificationModes(static_cast<HANDLE>(io.pipe.native_handle()),
                                           FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) != FALSE;
}
void skip_port_on_success(SocketIo&, MessageIo&) {}

// Where the next read goes: into the connection's buffer (taken from the loop's pool),
// or, while a message is being put together, onto the end of that message.
std::byte* buffer_target(AsyncSocketImpl& impl, ReadOp& op) {
  if (op.buffer.capacity() == 0) op.buffer = impl.loop->read_buffers.take();
  if (op.buffer.size() < op.size) op.buffer.resize(op.size);
  return op.buffer.data();
}
std::byte* read_target(AsyncSocketImpl& impl, ByteIo&, ReadOp& op) {
  return buffer_target(impl, op);
}
std::byte* read_target(AsyncSocketImpl& impl, MessageIo& m, ReadOp& op) {
  if (m.assembler->reading() && !m.assembler->discarding()) {
    const std::span<std::byte> rest = m.assembler->rest_buffer();
    op.size = static_cast<DWORD>(std::min<std::size_t>(op.size, rest.size()));
    return rest.data();
  }
  std::byte* target = buffer_target(impl, op);
  // The first read of a message, through the fault seam (sys.hpp): a test can make it
  // take one byte, so that the message goes on with a real ERROR_MORE_DATA.
  op.size = static_cast<DWORD>(win::sys::message_head(MutableBuffer(target, op.size)).size());
  return target;
}

// Starts the read operation: `size` bytes into `target`. True when it is done already
// and no completion comes (the handle skips the port on success): the caller finishes
// it. Otherwise it is pending, or done with its completion on the way through the
// port, or failed and finished from the loop.
bool issue_read(AsyncSocketImpl& impl, void* target, DWORD size) {
  SocketIo& io = *impl.io;
  ReadOp& op = io.read_op;
  HANDLE h = static_cast<HANDLE>(io.pipe.native_handle());
  OVERLAPPED* ov = op.start(h, impl.loop);
  op.socket = shared_of(impl);
  io.read_pending = true;
  if (!::ReadFile(h, target, size, nullptr, ov)) {
    const DWORD err = ::GetLastError();
    if (err != ERROR_IO_PENDING && err != ERROR_MORE_DATA) fail_on_loop(impl, op, err);
    return false;
  }
  return io.skips_port_on_success;
}

// Reads up to `size` bytes (see read_target).
void start_read(AsyncSocketImpl& impl, std::size_t size) {
  SocketIo& io = *impl.io;
  ReadOp& op = io.read_op;
  op.size = static_cast<DWORD>(std::min(size, win::max_io_size));
  op.target = std::visit([&](auto& m) { return read_target(impl, m, op); }, io.per_mode);
  // Done already, and no completion comes: delivered from the loop, never from inside
  // the call (write(), a callback) that started this read.
  if (issue_read(impl, op.target, op.size)) finish_on_loop(impl, op);
}

// The size of a first read: a byte pipe reads io.read_size, never more than read_chunk
// (the most one callback delivers, which may be below io.read_size's first 1 KiB); a
// message pipe never more than max_message_size + 1 (see read_done).
std::size_t first_read_size(const AsyncSocketImpl& impl, const ByteIo&) noexcept {
  return std::min<std::size_t>(impl.io->read_size, impl.settings.read_chunk);
}
std::size_t first_read_size(const AsyncSocketImpl& impl, const MessageIo&) noexcept {
  return std::min<std::size_t>(impl.io->read_size, impl.settings.max_message_size + 1);
}

// Reads what a wait found there (see start_wait).
void start_first_read(AsyncSocketImpl& impl) {
  start_read(
      impl, std::visit([&](const auto& m) { return first_read_size(impl, m); }, impl.io->per_mode));
}

// Gives the memory of the message assembler back to the loop's pool.
void release_memory(ReadBufferPool&, ByteIo&) noexcept {}
void release_memory(ReadBufferPool& pool, MessageIo& m) noexcept {
  pool.give(m.assembler->release_memory());
}

// Waits for data with a zero-byte read, as libuv does, so that an idle connection holds
// no read buffer: the buffers go back to the loop's pool here, where nothing read is
// referenced any more (no read callback runs, no event is deferred). The read into a
// buffer starts once data is there (ReadOp::complete); a message pipe's empty message
// is taken whole by the zero-byte read itself.
void start_wait(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  ReadOp& op = io.read_op;
  ReadBufferPool& pool = impl.loop->read_buffers;
  pool.give(std::move(op.buffer));
  std::visit([&](auto& m) { release_memory(pool, m); }, io.per_mode);
  static std::byte nothing{};
  op.waiting = true;
  op.size = 0;
  op.target = &nothing;
  if (issue_read(impl, &nothing, 0)) {
    // Bytes are there already, and no completion comes (a byte pipe skips the port).
    op.waiting = false;
    start_first_read(impl);
  }
}

// Whether what is left of an item is more than one write takes where it must go in one
// (a pipe message is at most 2 GiB - 1 bytes); a byte pipe takes it in several.
bool over_one_write(const ByteIo&, std::size_t) noexcept { return false; }
bool over_one_write(const MessageIo&, std::size_t left) noexcept { return left > win::max_io_size; }

// Starts writing the front of the queue. True when the write completed at once and was
// finished here (nothing pending: the caller goes on with the queue).
bool start_write(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  auto& item = impl.queue.front();
  static const std::byte nothing{};
  const std::size_t left = item.size() - item.done;
  if (std::visit([&](const auto& m) { return over_one_write(m, left); }, io.per_mode)) {
    // A pipe message is at most 2 GiB - 1 bytes: this write fails alone, reported from
    // the loop (never inside write()), and the queue goes on behind it.
    WriteQueue::Item failed = impl.queue.pop();
    failed.data = {};
    failed.shared.reset();
    if (!failed.cb) {
      // Without a callback the write side fails, as on every platform: nothing behind
      // it is written, and write_failed tells the read side from the loop.
      impl.write_failed(make_error_code(errc::message_too_large));
      return false;
    }
    impl.loop->post(
        [keep = shared_of(impl), cb = std::move(failed.cb), ref = LoopRef(impl.loop)]() mutable {
          AsyncSocketImpl& s = *keep;
          const auto ec = make_error_code(errc::message_too_large);
          s.written({{}, 0, std::move(cb), {}}, ec);
          if (s.state == AsyncSocketImpl::State::open) io_update(s);
        });
    return true;
  }
  const DWORD n = static_cast<DWORD>(std::min(left, win::max_io_size));
  const void* data = item.size() == 0 ? &nothing : item.bytes().data() + item.done;
  if (!io.write_op) io.write_op = std::make_unique<WriteOp>();
  WriteOp& op = *io.write_op;
  HANDLE h = static_cast<HANDLE>(io.pipe.native_handle());
  OVERLAPPED* ov = op.start(h, impl.loop);
  op.socket = shared_of(impl);
  io.write_pending = true;
  if (!::WriteFile(h, data, n, nullptr, ov)) {
    if (::GetLastError() != ERROR_IO_PENDING) fail_on_loop(impl, op, ::GetLastError());
    return false;
  }
  if (!io.skips_port_on_success) return false;  // done; the completion comes through the port
  // Done at once, and no completion comes. With no application callback to run (and
  // no drain to tell), it is finished here, as the Unix backend writes at once;
  // otherwise from the loop, never inside write().
  if (item.cb || impl.queue.draining()) {
    finish_on_loop(impl, op);
    return false;
  }
  DWORD written = 0;
  ::GetOverlappedResult(h, ov, &written, FALSE);
  op.loop_ref.reset();
  op.socket.reset();
  io.write_pending = false;
  item.done += written;
  if (item.done >= item.size()) impl.queue.recycle(impl.queue.pop().data);
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
  // A read in flight while reading is paused does not keep the loop running, as a Unix
  // socket that is not reading does not (its completion, if it comes, is deferred until
  // reading resumes); it holds the loop again when reading resumes or the socket
  // closes (io_close), so that its completion is waited for then.
  if (io.read_pending && impl.reading != io.read_op.loop_ref.holds())
    io.read_op.loop_ref = impl.reading ? LoopRef(impl.loop) : LoopRef();
  if (impl.reading && io.deferred) {
    io.deferred = false;
    const ReadEvent e{{io.deferred_data, io.deferred_size}, io.deferred_end, io.deferred_error};
    if (e.end || (e.error && e.error != errc::message_too_large)) impl.reading = false;
    if (!deliver_read(impl, e) && impl.state != AsyncSocketImpl::State::open) return;
  }
  if (impl.reading && !io.read_pending && !io.deferred && !io.delivering &&
      impl.state == AsyncSocketImpl::State::open)
    start_wait(impl);
  while (!io.write_pending && !impl.queue.empty() && !impl.write_failure &&
         impl.state == AsyncSocketImpl::State::open && start_write(impl)) {
  }
  if (impl.queue.empty() && !io.write_pending && impl.shutdown_requested && !impl.shut_down &&
      !impl.write_failure && impl.state == AsyncSocketImpl::State::open) {
    // Named pipes have no half-close: once everything is written, the connection ends,
    // and the read side reports the end when the closing has finished (or when reading
    // starts after), as it would on Unix once the peer closes.
    impl.shut_down = true;
    impl.finish_shutdown({});
    if (impl.state == AsyncSocketImpl::State::open) {
      impl.state = AsyncSocketImpl::State::closing;
      impl.end_due = true;
      io_close(impl);
    }
  }
}

bool io_try_write(AsyncSocketImpl&, std::span<const std::byte>&) { return false; }

// The write in flight is the front item's: the system reads its buffer until the
// WriteFile completes (WriteOp::complete takes it off the queue then).
bool io_write_in_flight(const AsyncSocketImpl& impl) noexcept {
  return impl.io && impl.io->write_pending;
}

// Every byte still to send is in the queue: a pipe keeps no rest of its own.
std::size_t io_rest_owed(const AsyncSocketImpl&) noexcept { return 0; }

void io_close(AsyncSocketImpl& impl) {
  SocketIo* io = impl.io.get();
  if (io == nullptr) {
    // Still connecting: the connect's completion finishes it, soon once cancelled.
    impl.cancel_connecting();
    return;
  }
  if (io->read_pending || io->write_pending) {
    // The cancelled operations complete through the port; the last one finishes. A read
    // paused without holding the loop (io_update) holds it again: its completion must
    // run for the closing to finish.
    if (io->read_pending && !io->read_op.loop_ref.holds())
      io->read_op.loop_ref = LoopRef(impl.loop);
    ::CancelIoEx(static_cast<HANDLE>(io->pipe.native_handle()), nullptr);
    return;
  }
  // Nothing pending: finish on the loop's next turn, like a uv_close callback.
  impl.loop->post([self = impl.self, ref = LoopRef(impl.loop)] {
    finish_close_if_idle(*AsyncAccess::impl(*self));
  });
}

PeerInfo io_peer_info(const AsyncSocketImpl& impl, std::error_code& ec) {
  // The same as for the blocking pipe streams, through a PipeCore that borrows the
  // handle for the call.
  struct Borrowed {
    PipeCore core;
    ~Borrowed() {
      std::error_code ignored;
      (void)core.release(ignored);  // gives the handle back unclosed
    }
  };
  const AsyncPipe& pipe = impl.io->pipe;
  const Borrowed borrowed{PipeCore(pipe.handle.get(), pipe.server, {})};
  return peer_info(borrowed.core, ec);
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
  // The connect may wait for a busy pipe: in the thread pool, never on the loop.
  impl->occasional().cancel_connect = run_in_pool<Outcome>(
      impl->loop->loop,
      [options, mode = impl->mode](const std::atomic<bool>& cancelled) {
        Outcome out;
        out.pipe = std::make_shared<PipeCore>();
        with_mode(mode, [&](auto m) {
          *out.pipe = connect_pipe<decltype(m)::value>(options, cancelled, out.ec);
        });
        return out;
      },
      [impl](Outcome out, bool cancelled) {
        if (cancelled) out.ec = std::make_error_code(std::errc::operation_canceled);
        if (!out.ec && impl->state == AsyncSocketImpl::State::connecting) {
          out.ec = bind_to_port(*impl->loop, *out.pipe);
          try {
            if (!out.ec) attach_io(*impl, std::move(*out.pipe), impl->mode);
          } catch (const std::bad_alloc&) {  // reported to the connect callback
            out.ec = make_error_code(errc::out_of_resources);
            impl->io.reset();  // the pipe closes now (or with `out`), not with the socket
          }
        }
        connected(impl, out.ec);
      });
}

void attach_io(AsyncSocketImpl& impl, PipeCore&& pipe, Mode mode) {
  impl.io = std::make_unique<SocketIo>();
  SocketIo& io = *impl.io;
  io.pipe.server = pipe.is_server();
  io.pipe.slot = pipe.release_slot();
  std::error_code ec;
  // A fresh connection: nothing half-read or cut keeps release() from handing it over.
  io.pipe.handle = win::UniqueHandle(pipe.release(ec));
  with_mode(mode, [&](auto m) { io.per_mode.template emplace<PipeIo<decltype(m)::value>>(); });
  std::visit([&](auto& m) { skip_port_on_success(io, m); }, io.per_mode);
}

std::size_t io_kept_read_buffer(const AsyncSocketImpl& impl) noexcept {
  const auto* m = std::get_if<MessageIo>(&impl.io->per_mode);
  return (m != nullptr ? m->assembler->capacity() : 0) + impl.io->read_op.buffer.capacity();
}

}  // namespace localsock::detail
