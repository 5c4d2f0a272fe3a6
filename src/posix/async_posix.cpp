// SPDX-License-Identifier: MIT
// The async API on Unix: localsock makes the socket (abstract names, exact-length
// paths, seqpacket — none of which uv_pipe_t can), makes it nonblocking, and a uv_poll_t
// tells when it is readable or writable. The reads and writes are the backend's own
// (MSG_NOSIGNAL: no SIGPIPE, whatever the application's signal disposition), so byte
// streams and message sockets work the same way.
#include <localsock/posix/ud_seqpacket.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <type_traits>

#include "../common/async_common.hpp"

namespace localsock::detail {


struct SocketIo {
  PlatformSocket<Mode::bytes> stream;        // byte mode
  PlatformSocket<Mode::messages> messages;   // message mode
  uv_poll_t* poll = nullptr;                 // freed by its close callback
  int events = 0;
  std::vector<std::byte> buffer;             // read buffer (byte chunks, or one message)

  int fd() const noexcept {
    return stream.is_open() ? stream.native_handle() : base_socket(messages).native_handle();
  }
  posix::UdSocket& socket() noexcept {
    if (stream.is_open()) return stream;
    return base_socket(messages);
  }
};

struct ListenerIo {
  PlatformListener<Mode::bytes> bytes;
  PlatformListener<Mode::messages> messages;
  uv_poll_t* poll = nullptr;
  uv_timer_t* retry_timer = nullptr;  // restarts polling after a failure; freed on close
  AcceptRetry retry;
  int handles_open = 0;  // poll and timer: the listener has closed when both have
};

AsyncSocketImpl::AsyncSocketImpl() = default;
AsyncSocketImpl::~AsyncSocketImpl() = default;
AsyncListenerImpl::AsyncListenerImpl() = default;
AsyncListenerImpl::~AsyncListenerImpl() = default;

namespace {

void on_socket_events(uv_poll_t* handle, int status, int events);

// What a connection keeps of a message's receive buffer once it is delivered (the
// Windows backend keeps the same).
constexpr std::size_t kept_message_capacity = 256 * 1024;

// A framed message socket (FramedStream) may hold the rest of a frame that the socket
// took only in part; it is finished before anything else is written. Seqpacket sends
// a message whole or not at all, so there is never a rest.
template <typename S>
bool has_rest(const S& s) noexcept {
  if constexpr (requires { s.send_pending(); })
    return s.send_pending() != 0;
  else
    return false;
}
template <typename S>
void finish_rest(S& s, std::error_code& ec) noexcept {
  ec.clear();
  if constexpr (requires { s.flush(ec); }) s.flush(ec);
}

// Whether the rest of a frame is still owed to the peer: only while the write side
// works. After a failure nothing more is sent, so a rest that can never go out must
// neither keep the socket polled for writing (the loop would wake at once, again and
// again, on a socket that stays writable) nor hold back a shutdown.
bool rest_owed(AsyncSocketImpl& impl) noexcept {
  return impl.mode == Mode::messages && !impl.write_failure && has_rest(impl.io->messages);
}

// The largest message a seqpacket socket can send, at most `wanted`. A message must fit
// the send buffer, less 32 bytes (unix_dgram_sendmsg answers EMSGSIZE otherwise), so the
// buffer is grown first as far as the process may: SO_SNDBUFFORCE where privileged,
// else SO_SNDBUF, which the kernel caps at net.core.wmem_max (and doubles). And one
// message must fit one kernel allocation: above about 4 MiB the kernel answers ENOBUFS
// whatever the buffer, so 4 MiB is the most this reports. A minimal query for the async
// API's limit; the blocking sockets grow the buffer on EMSGSIZE instead.
[[maybe_unused]] std::size_t seqpacket_send_limit(int fd, std::size_t wanted) noexcept {
  constexpr std::size_t kernel_cap = 4 * 1024 * 1024;
  wanted = std::min(wanted, kernel_cap);
  const int want = static_cast<int>(wanted + 4096);
  int have = 0;
  socklen_t len = sizeof have;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len) == 0 && have >= want)
    return std::min<std::size_t>(wanted, static_cast<std::size_t>(have) - 32);
#if defined(SO_SNDBUFFORCE)
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0)
#endif
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
  len = sizeof have;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len) < 0 || have <= 32) return wanted;
  return std::min<std::size_t>(wanted, static_cast<std::size_t>(have) - 32);
}

// Starts polling the connection's descriptor (loop thread).
std::error_code attach(AsyncSocketImpl& impl) {
  std::error_code ec;
  if (impl.io->stream.is_open())
    impl.io->stream.set_nonblocking(true, ec);
  else
    set_nonblocking(impl.io->messages, true, ec);
  if (ec) return ec;
  // A framed stream sends any message a frame can carry; seqpacket has system limits.
  if constexpr (std::is_same_v<PlatformSocket<Mode::messages>, posix::UdSeqpacket>)
    if (impl.mode == Mode::messages)
      impl.message_limit = seqpacket_send_limit(impl.io->fd(), impl.settings.max_message_size);
  impl.io->poll = new uv_poll_t{};
  if (const int rc = uv_poll_init(impl.loop->loop, impl.io->poll, impl.io->fd()); rc != 0) {
    delete impl.io->poll;
    impl.io->poll = nullptr;
    return {-rc, std::system_category()};
  }
  impl.io->poll->data = &impl;
  return {};
}

// Reads what is there, delivering each chunk or message, until it would block.
void read_ready(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  // A bounded number of reads per wake-up, so that one busy peer cannot starve others.
  for (int round = 0; round < 64 && impl.reading && impl.state == AsyncSocketImpl::State::open; ++round) {
    std::error_code ec;
    ReadEvent event;
    if (impl.mode == Mode::bytes) {
      io.buffer.resize(impl.settings.read_chunk);
      const std::size_t n = io.stream.read_some(io.buffer, ec);
      if (ec == errc::would_block) return;
      event.data = std::span(io.buffer).first(n);
      event.end = !ec && n == 0;
      // A read that did not fill the buffer took all there was: deliver it and wait for
      // the next readable event instead of asking again (an EAGAIN saved per event).
      if (!ec && n > 0 && n < io.buffer.size()) {
        impl.deliver(event);
        return;
      }
    } else {
      const ReceiveResult r = io.messages.recv(io.buffer, impl.settings.max_message_size, ec);
      if (ec == errc::would_block) return;
      event.data = io.buffer;
      event.end = r.end;
    }
    event.error = ec;
    const bool fatal = event.end || (ec && ec != errc::message_too_large);
    if (fatal) impl.reading = false;  // nothing more will come
    const bool more = impl.deliver(event);
    // A large message's buffer is let go once delivered, as on Windows: between
    // messages a connection keeps at most kept_message_capacity, not its largest one.
    if (impl.mode == Mode::messages && io.buffer.capacity() > kept_message_capacity)
      io.buffer = std::vector<std::byte>();  // (not "= {}": that keeps the capacity)
    if (!more || fatal) return;
  }
}

// Writes from the queue until it is empty or the socket would block. `immediate` is
// the attempt made inside write() itself: it never runs an application callback (those
// run from the loop), so it stops at an item that has one.
void write_ready(AsyncSocketImpl& impl, bool immediate) {
  SocketIo& io = *impl.io;
  if (rest_owed(impl) && (impl.queue.empty() || impl.queue.front().done == 0)) {
    // The rest of a frame written at once by write() (io_try_write), with no callback.
    std::error_code ec;
    finish_rest(io.messages, ec);
    if (ec == errc::would_block) return;
    if (ec) impl.write_failed(ec);
  }
  // After a failed write nothing more is sent (a message would be missing before it).
  while (!impl.queue.empty() && impl.state == AsyncSocketImpl::State::open && !impl.write_failure) {
    auto& item = impl.queue.front();
    if (immediate && item.cb) return;
    std::error_code ec;
    if (impl.mode == Mode::bytes) {
      item.done += io.stream.write_some(std::span(item.data).subspan(item.done), ec);
      if (ec == errc::would_block) return;
      if (!ec && item.done < item.data.size()) continue;
    } else {
      // Whole or not at all (seqpacket); a frame taken in part (framed) is finished
      // before the item counts as written: item.done marks it taken.
      if (item.done == 0) {
        io.messages.send(item.data, ec);
        if (ec == errc::would_block) return;
        if (!ec) item.done = 1;
      }
      if (!ec && has_rest(io.messages)) {
        finish_rest(io.messages, ec);
        if (ec == errc::would_block) return;
      }
    }
    if (immediate) {
      // No callback to tell: a failure is told through the read side (write_failed).
      if (ec) impl.write_failed(ec);
      impl.queue.recycle(impl.queue.pop().data);
      continue;
    }
    impl.written(impl.queue.pop(), ec);
  }
  if (immediate || impl.state != AsyncSocketImpl::State::open) return;
  if (impl.queue.drained() && impl.on_drain) impl.on_drain();
  if (impl.queue.empty() && !rest_owed(impl) && impl.shutdown_requested && !impl.shut_down &&
      impl.state == AsyncSocketImpl::State::open) {
    impl.shut_down = true;
    std::error_code ec;
    if (io.stream.is_open())
      io.stream.shutdown(Shutdown::write, ec);
    else
      base_socket(io.messages).shutdown(Shutdown::write, ec);
    if (impl.shutdown_cb) std::exchange(impl.shutdown_cb, {})(ec);
  }
}

void on_socket_events(uv_poll_t* handle, int status, int events) {
  auto& impl = *static_cast<AsyncSocketImpl*>(handle->data);
  auto keep = impl.self;  // a callback may close the socket and drop the last pointer
  if (status < 0) {
    // libuv (uv__poll_io in src/unix/poll.c, 1.44) turns POLLERR into UV_EBADF and stops
    // watching the descriptor. On a Unix socket POLLERR is a pending socket error, such
    // as ECONNRESET when the peer closed with our data unread; what the peer sent before
    // it closed is still there to read. Take the real error (which clears POLLERR), fail
    // the writes with it, and read what is there, data then the end, if reading is on;
    // otherwise it waits for start_reading(). Polling starts again below.
    SocketIo& io = *impl.io;
    io.events = 0;
    std::error_code err = io.socket().take_error();
    const bool descriptor_failed = !err;
    if (descriptor_failed) err = std::error_code(-status, std::system_category());
    cancel_writes(impl.queue, err);
    impl.write_failed(err);
    if (descriptor_failed) {
      // No socket error to take: the descriptor itself is unusable, nothing more comes.
      if (impl.reading) {
        impl.reading = false;
        impl.deliver({{}, false, err});
      }
    } else if (impl.reading) {
      read_ready(impl);
    }
  } else {
    if ((events & UV_WRITABLE) != 0) write_ready(impl, false);
    if ((events & (UV_READABLE | UV_DISCONNECT)) != 0) read_ready(impl);
  }
  if (impl.state == AsyncSocketImpl::State::open) io_update(impl);
}

}  // namespace

bool io_try_write(AsyncSocketImpl& impl, std::span<const std::byte>& data) {
  SocketIo& io = *impl.io;
  // Only while the socket is not known to be full (no writable event is awaited).
  if (io.poll == nullptr || (io.events & UV_WRITABLE) != 0) return false;
  std::error_code ec;
  if (impl.mode == Mode::bytes) {
    while (!data.empty()) {
      const std::size_t n = io.stream.write_some(data, ec);
      if (ec) break;
      data = data.subspan(n);
    }
  } else {
    io.messages.send(data, ec);  // taken whole, or not at all
    if (!ec) data = {};
    // A frame taken in part: its rest goes when the socket is writable again.
    if (!ec && has_rest(io.messages)) io_update(impl);
  }
  // A failure is told through the read side, as for the queue's immediate writes (no
  // callback here); what would block is queued by the caller.
  if (ec && ec != errc::would_block) {
    impl.write_failed(ec);
    data = {};
  }
  return data.empty();
}

void io_update(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  if (io.poll == nullptr) return;
  // New data to write while the socket is not known to be full: write it now, like
  // uv_try_write, instead of waiting a loop turn for a writable event.
  if ((io.events & UV_WRITABLE) == 0 && !impl.queue.empty()) write_ready(impl, true);
  const bool want_write = (!impl.queue.empty() && !impl.write_failure) || (impl.shutdown_requested && !impl.shut_down) ||
                          impl.queue.drain_pending() || rest_owed(impl);
  const int want = (impl.reading ? UV_READABLE : 0) | (want_write ? UV_WRITABLE : 0);
  if (want == io.events) return;
  io.events = want;
  if (want == 0)
    uv_poll_stop(io.poll);
  else
    uv_poll_start(io.poll, want, on_socket_events);
}

void io_close(AsyncSocketImpl& impl) {
  SocketIo* io = impl.io.get();
  if (io == nullptr) {
    // Still connecting: the connect's completion finishes it, soon once cancelled.
    if (impl.cancel_connect) impl.cancel_connect();
    return;
  }
  if (io->poll == nullptr) {
    io->stream.close();
    io->messages.close();
    impl.finished_closing();
    return;
  }
  // The descriptor must outlive the poll handle: close it in the handle's callback.
  uv_close(reinterpret_cast<uv_handle_t*>(io->poll), [](uv_handle_t* h) {
    auto& owner = *static_cast<AsyncSocketImpl*>(h->data);
    delete reinterpret_cast<uv_poll_t*>(h);
    owner.io->poll = nullptr;
    owner.io->stream.close();
    owner.io->messages.close();
    owner.finished_closing();
  });
}

std::size_t io_kept_read_buffer(const AsyncSocketImpl& impl) noexcept {
  return impl.io->buffer.capacity();
}

PeerInfo io_peer_info(const AsyncSocketImpl& impl, std::error_code& ec) {
  return impl.io->stream.is_open() ? peer_info(impl.io->stream, ec) : peer_info(impl.io->messages, ec);
}

void start_connect(const std::shared_ptr<AsyncSocketImpl>& impl, const ConnectOptions& options) {
  struct Outcome {
    std::shared_ptr<SocketIo> io;
    std::error_code ec;
  };
  const Mode mode = impl->mode;
  // The connect may wait for a busy listener: in the thread pool, never on the loop.
  // It waits in slices, so that a close() is noticed soon (see connect_in_slices).
  impl->cancel_connect = run_in_pool<Outcome>(
      impl->loop->loop,
      [options, mode](const std::atomic<bool>& cancelled) {
        Outcome out;
        out.io = std::make_shared<SocketIo>();
        if (mode == Mode::bytes)
          out.io->stream =
              connect_in_slices(options, cancelled, connect_socket<Mode::bytes>, out.ec);
        else
          out.io->messages =
              connect_in_slices(options, cancelled, connect_socket<Mode::messages>, out.ec);
        return out;
      },
      [impl](Outcome out, bool cancelled) {
        if (cancelled) out.ec = std::make_error_code(std::errc::operation_canceled);
        if (!out.ec && impl->state == AsyncSocketImpl::State::connecting) {
          impl->io = std::make_unique<SocketIo>(std::move(*out.io));
          out.ec = attach(*impl);
          if (out.ec) impl->io.reset();  // the descriptor closes now, not with the socket
        }
        // Closed meanwhile, or failed: `out.io` (if any) closes its descriptor here.
        connected(impl, out.ec);
      });
}

// ---- listener ----------------------------------------------------------------------

namespace {

void on_listener_events(uv_poll_t* handle, int status, int events);

// Taking the next connection failed for want of resources (descriptors, memory), or the
// poll failed: the listening socket stays readable, so polling stops until a timer
// restarts it; the accept callback hears of it once per episode (see AcceptRetry).
void accept_failed(AsyncListenerImpl& impl, std::error_code ec) {
  ListenerIo& io = *impl.io;
  const bool report = io.retry.failed();
  uv_poll_stop(io.poll);
  uv_timer_start(
      io.retry_timer,
      [](uv_timer_t* t) {
        auto& owner = *static_cast<AsyncListenerImpl*>(t->data);
        if (owner.open) uv_poll_start(owner.io->poll, UV_READABLE, on_listener_events);
      },
      io.retry.delay_ms(), 0);
  if (report && impl.on_accept) impl.on_accept(ec, nullptr);
}

void on_listener_events(uv_poll_t* handle, int status, int) {
  auto& impl = *static_cast<AsyncListenerImpl*>(handle->data);
  auto keep = impl.self;
  if (status < 0) {
    accept_failed(impl, std::error_code(-status, std::system_category()));
    return;
  }
  // Take every waiting client; the listening socket is nonblocking.
  while (impl.open) {
    std::error_code ec;
    auto made = std::make_shared<AsyncSocketImpl>();
    made->io = std::make_unique<SocketIo>();
    if (impl.mode == Mode::bytes)
      made->io->stream = impl.io->bytes.accept(ec);
    else
      made->io->messages = impl.io->messages.accept(ec);
    if (ec == errc::would_block) {
      // The descriptor for a connection is taken before the queue is looked at: none
      // waiting means none lacking.
      impl.io->retry.succeeded();
      return;
    }
    if (ec == errc::out_of_resources) {
      accept_failed(impl, ec);
      return;
    }
    if (ec) {
      // That one connection failed (aborted by its client): the others are served.
      if (impl.on_accept) impl.on_accept(ec, nullptr);
      return;
    }
    impl.io->retry.succeeded();
    auto socket = make_socket(std::move(made), impl.loop, impl.mode, impl.settings);
    if (std::error_code attach_ec = attach(*AsyncAccess::impl(*socket))) {
      socket->close();
      if (impl.on_accept) impl.on_accept(attach_ec, nullptr);
      continue;
    }
    if (impl.on_accept) impl.on_accept({}, socket);
  }
}

}  // namespace

void listen_start(const std::shared_ptr<AsyncListenerImpl>& impl, const ListenerOptions& options,
                  std::error_code& ec) {
  ListenerOptions nonblocking = options;
  nonblocking.nonblocking(true);
  impl->io = std::make_unique<ListenerIo>();
  int fd = -1;
  if (impl->mode == Mode::bytes) {
    impl->io->bytes = bind_listener<Mode::bytes>(nonblocking, ec);
    fd = impl->io->bytes.native_handle();
  } else {
    impl->io->messages = bind_listener<Mode::messages>(nonblocking, ec);
    fd = impl->io->messages.native_handle();
  }
  if (ec) return;
  impl->io->poll = new uv_poll_t{};
  if (const int rc = uv_poll_init(impl->loop->loop, impl->io->poll, fd); rc != 0) {
    delete impl->io->poll;
    impl->io->poll = nullptr;
    ec = {-rc, std::system_category()};
    return;
  }
  impl->io->poll->data = impl.get();
  impl->io->retry_timer = new uv_timer_t{};
  uv_timer_init(impl->loop->loop, impl->io->retry_timer);
  impl->io->retry_timer->data = impl.get();
  impl->io->handles_open = 2;
  uv_poll_start(impl->io->poll, UV_READABLE, on_listener_events);
}

void listener_close(AsyncListenerImpl& impl) {
  // The descriptor must outlive the poll handle: it closes once both handles have.
  auto closed = [](uv_handle_t* h) {
    auto& owner = *static_cast<AsyncListenerImpl*>(h->data);
    if (h->type == UV_POLL) {
      delete reinterpret_cast<uv_poll_t*>(h);
      owner.io->poll = nullptr;
    } else {
      delete reinterpret_cast<uv_timer_t*>(h);
      owner.io->retry_timer = nullptr;
    }
    if (--owner.io->handles_open != 0) return;
    owner.io->bytes.close();
    owner.io->messages.close();
    owner.on_accept = {};
    if (owner.on_closed) std::exchange(owner.on_closed, {})();
    auto keep = std::move(owner.self);
  };
  uv_close(reinterpret_cast<uv_handle_t*>(impl.io->poll), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(impl.io->retry_timer), closed);
}

const LocalName& listener_name(const AsyncListenerImpl& impl) noexcept {
  return impl.mode == Mode::bytes ? impl.io->bytes.name() : impl.io->messages.name();
}

}  // namespace localsock::detail
