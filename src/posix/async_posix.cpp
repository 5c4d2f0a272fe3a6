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
#include <new>
#include <optional>
#include <variant>

#include "../common/async_common.hpp"

namespace localsock::detail {

using ByteSocket = PlatformSocket<Mode::bytes>;        // posix::UdStream
using MessageSocket = PlatformSocket<Mode::messages>;  // UdSeqpacket, or FramedStream

// A connection holds the one socket its mode calls for; what differs between the modes
// is chosen by that socket's type (the overloads below), as in the blocking API.
struct SocketIo {
  std::variant<ByteSocket, MessageSocket> socket;
  uv_poll_t* poll = nullptr;  // freed by its close callback
  int events = 0;
  // The read buffer (byte chunks, or one message): taken from the loop's pool when the
  // socket is readable, given back once what was read is delivered (see read_ready), so
  // that an idle connection holds none.
  std::vector<std::byte> buffer;
  // A send on the socket failed: the rest of a framed message the transport holds can
  // never go out (see rest_owed). A write refused before it was sent (over the message
  // limit) leaves the socket working, and that rest still goes.
  bool send_failed = false;

  /// The socket that holds the descriptor (a framed stream's byte stream).
  posix::UdSocket& base() noexcept {
    return visit_held(socket, [](auto& s) -> posix::UdSocket& { return base_socket(s); });
  }
  int fd() noexcept { return base().native_handle(); }
  void close() noexcept {
    visit_held(socket, [](auto& s) { s.close(); });
  }
};

struct ListenerIo {
  std::variant<PlatformListener<Mode::bytes>, PlatformListener<Mode::messages>> listener;
  uv_poll_t* poll = nullptr;
  uv_timer_t* retry_timer = nullptr;  // restarts polling after a failure; freed on close
  AcceptRetry retry;
  int handles_open = 0;  // poll and timer: the listener has closed when both have
  // The next connection's state, made before its accept and kept when none was waiting
  // (see accept_all): no allocation and free at each wake-up of the listener.
  std::shared_ptr<AsyncSocketImpl> next;
};

AsyncSocketImpl::AsyncSocketImpl() = default;
AsyncSocketImpl::~AsyncSocketImpl() { unregister(); }
AsyncListenerImpl::AsyncListenerImpl() = default;
AsyncListenerImpl::~AsyncListenerImpl() { unregister(); }

namespace {

void on_socket_events(uv_poll_t* handle, int status, int events);

// A framed message socket (FramedStream) may hold the rest of a frame that the socket
// took only in part; it is finished before anything else is written. Seqpacket sends
// a message whole or not at all, so there is never a rest.
template <typename S>
std::size_t rest_size(const S& s) noexcept {
  if constexpr (requires { s.send_pending(); })
    return s.send_pending();
  else
    return 0;
}
template <typename S>
bool has_rest(const S& s) noexcept {
  return rest_size(s) != 0;
}
template <typename S>
void finish_rest(S& s, std::error_code& ec) noexcept {
  ec.clear();
  if constexpr (requires { s.flush(ec); }) s.flush(ec);
}

// The bytes of a frame still owed to the peer: only while the socket's sends work.
// After a send failed nothing more goes out, so a rest that never can must neither keep
// the socket polled for writing (the loop would wake at once, again and again, on a
// socket that stays writable) nor hold back a shutdown. A write refused before anything
// of it was sent fails the write side, but the frame taken before it is still finished
// (unless the connection closes first), so the peer does not receive it cut short.
std::size_t rest_bytes(const AsyncSocketImpl& impl) noexcept {
  if (impl.io->send_failed) return 0;
  return visit_held(impl.io->socket, [](const auto& s) { return rest_size(s); });
}
bool rest_owed(const AsyncSocketImpl& impl) noexcept { return rest_bytes(impl) != 0; }

// A send on the socket failed with `ec`: nothing more goes out (see rest_owed).
void send_failed(AsyncSocketImpl& impl, std::error_code ec) {
  impl.io->send_failed = true;
  impl.write_failed(ec);
}

// The largest message the connection sends. Byte streams have no messages; seqpacket
// has a system limit (the send buffer this process may give a socket, the kernel's
// largest message), measured once per process; a framed stream sends any message a
// frame can carry. A larger message is refused before it is sent. Should the
// measurement fail (descriptors ran out), the option stands, and a message the system
// refuses fails its send (message_too_large), as the blocking sockets report it.
void limit_messages(AsyncSocketImpl&, ByteSocket&) noexcept {}
void limit_messages(AsyncSocketImpl& impl, MessageSocket& s) noexcept {
  std::error_code ec;
  const std::size_t system_limit = max_message_size(s, ec);
  if (!ec) impl.message_limit = std::min(impl.settings.max_message_size, system_limit);
}

// Starts polling the connection's descriptor (loop thread).
std::error_code attach(AsyncSocketImpl& impl) {
  std::error_code ec;
  impl.io->base().set_nonblocking(true, ec);
  if (ec) return ec;
  std::visit([&](auto& s) { limit_messages(impl, s); }, impl.io->socket);
  impl.io->poll = new uv_poll_t{};
  if (const int rc = uv_poll_init(impl.loop->loop, impl.io->poll, impl.io->fd()); rc != 0) {
    delete impl.io->poll;
    impl.io->poll = nullptr;
    return {-rc, std::system_category()};
  }
  impl.io->poll->data = &impl;
  return {};
}

// One read: a chunk of the stream, or nothing when the socket would block. `all` is set
// when the read did not fill the buffer, so took all there was.
std::optional<ReadEvent> read_one(AsyncSocketImpl& impl, ByteSocket& s, bool& all) {
  SocketIo& io = *impl.io;
  std::error_code ec;
  io.buffer.resize(impl.settings.read_chunk);
  const std::size_t n = s.read_some(io.buffer, ec);
  if (ec == errc::would_block) return std::nullopt;
  all = !ec && n > 0 && n < io.buffer.size();
  return ReadEvent{std::span(io.buffer).first(n), !ec && n == 0, ec};
}
// One read: one whole message, or nothing when the socket would block.
std::optional<ReadEvent> read_one(AsyncSocketImpl& impl, MessageSocket& s, bool&) {
  SocketIo& io = *impl.io;
  std::error_code ec;
  const ReceiveResult r = s.recv(io.buffer, impl.settings.max_message_size, ec);
  if (ec == errc::would_block) return std::nullopt;
  return ReadEvent{io.buffer, r.end, ec};
}

// Reads what is there, delivering each chunk or message, until it would block.
template <typename Socket>
void read_ready_with_buffer(AsyncSocketImpl& impl, Socket& s) {
  // A bounded number of reads per wake-up, so that one busy peer cannot starve others.
  for (int round = 0; round < 64 && impl.reading && impl.state == AsyncSocketImpl::State::open;
       ++round) {
    bool all = false;
    const std::optional<ReadEvent> event = read_one(impl, s, all);
    if (!event) return;
    // A read that did not fill the buffer took all there was: deliver it and wait for
    // the next readable event instead of asking again (an EAGAIN saved per event).
    if (all) {
      impl.deliver(*event);
      return;
    }
    const bool fatal = event->end || (event->error && event->error != errc::message_too_large);
    if (fatal) impl.reading = false;  // nothing more will come
    const bool more = impl.deliver(*event);
    if (!more || fatal) return;
  }
}
// The buffer is the loop's: taken for these reads and given back after, when nothing
// that was read is referenced any more (the pool lets a large message's buffer go, so
// a connection never keeps more than the pool's largest after a large message).
template <typename Socket>
void read_ready(AsyncSocketImpl& impl, Socket& s) {
  ReadBufferPool& pool = impl.loop->read_buffers;
  if (impl.io->buffer.capacity() == 0) impl.io->buffer = pool.take();
  read_ready_with_buffer(impl, s);
  if (impl.io) pool.give(std::move(impl.io->buffer));
}
void read_ready(AsyncSocketImpl& impl) {
  std::visit([&](auto& s) { read_ready(impl, s); }, impl.io->socket);
}

// Writes what it can of the front item `item`; `ec` is would_block when the socket is
// full. True when the item is finished (written, or failed with `ec`).
bool write_item(ByteSocket& s, WriteQueue::Item& item, std::error_code& ec) {
  item.done += s.write_some(item.bytes().subspan(item.done), ec);
  return ec || item.done >= item.size();
}
bool write_item(MessageSocket& s, WriteQueue::Item& item, std::error_code& ec) {
  // Whole or not at all (seqpacket); a frame taken in part (framed) is finished before
  // the item counts as written: item.done marks it taken.
  if (item.done == 0) {
    s.send(item.bytes(), ec);
    if (ec) return true;
    item.done = 1;
  }
  if (has_rest(s)) finish_rest(s, ec);
  return true;
}

// Writes from the queue until it is empty or the socket would block. `immediate` is
// the attempt made inside write() itself: it never runs an application callback (those
// run from the loop), so it stops at an item that has one.
template <typename Socket>
void write_ready(AsyncSocketImpl& impl, Socket& s, bool immediate) {
  if (rest_owed(impl) && (impl.queue.empty() || impl.queue.front().done == 0)) {
    // The rest of a frame written at once by write() (io_try_write), with no callback.
    std::error_code ec;
    finish_rest(s, ec);
    if (ec == errc::would_block) return;
    if (ec) send_failed(impl, ec);
  }
  // After a failed write nothing more is sent (a message would be missing before it),
  // except the rest of a message taken in part before the failure (io_write_in_flight).
  while (!impl.queue.empty() && impl.state == AsyncSocketImpl::State::open &&
         (!impl.write_failure || io_write_in_flight(impl))) {
    auto& item = impl.queue.front();
    if (immediate && item.cb) return;
    std::error_code ec;
    const bool finished = write_item(s, item, ec);
    if (ec == errc::would_block) return;
    if (ec) impl.io->send_failed = true;
    if (!finished) continue;
    if (immediate) {
      // No callback to tell: a failure is told through the read side (write_failed).
      if (ec) impl.write_failed(ec);
      impl.queue.recycle(impl.queue.pop().data);
      continue;
    }
    impl.written(impl.queue.pop(), ec);
  }
  if (immediate || impl.state != AsyncSocketImpl::State::open) return;
  if (impl.queue.drained() && impl.occasional_part && impl.occasional_part->on_drain)
    impl.occasional_part->on_drain();
  if (impl.queue.empty() && !rest_owed(impl) && impl.shutdown_requested && !impl.shut_down &&
      impl.state == AsyncSocketImpl::State::open) {
    impl.shut_down = true;
    std::error_code ec;
    impl.io->base().shutdown(Shutdown::write, ec);
    impl.finish_shutdown(ec);
  }
}
void write_ready(AsyncSocketImpl& impl, bool immediate) {
  std::visit([&](auto& s) { write_ready(impl, s, immediate); }, impl.io->socket);
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
    std::error_code err = io.base().take_error();
    const bool descriptor_failed = !err;
    if (descriptor_failed) err = std::error_code(-status, std::system_category());
    io.send_failed = true;  // a frame's rest, if any, cannot go either
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

namespace {
// Writes what it can of `data` at once, leaving in `data` what remains. True when all of
// it was taken: said by the send itself, never read off the span (an empty message is
// sent, or not, like any other).
bool try_write(ByteSocket& s, std::span<const std::byte>& data, std::error_code& ec) {
  while (!data.empty()) {
    const std::size_t n = s.write_some(data, ec);
    if (ec) return false;
    data = data.subspan(n);
  }
  return true;
}
bool try_write(MessageSocket& s, std::span<const std::byte>& data, std::error_code& ec) {
  s.send(data, ec);  // taken whole (a frame perhaps in part: its rest is owed), or not at all
  if (ec) return false;
  data = {};
  return true;
}
}  // namespace

bool io_try_write(AsyncSocketImpl& impl, std::span<const std::byte>& data) {
  SocketIo& io = *impl.io;
  // Only while the socket is not known to be full (no writable event is awaited).
  if (io.poll == nullptr || (io.events & UV_WRITABLE) != 0) return false;
  std::error_code ec;
  bool sent = false;
  const bool rest = std::visit(
      [&](auto& s) {
        sent = try_write(s, data, ec);
        return sent && has_rest(s);
      },
      io.socket);
  // A frame taken in part: its rest goes when the socket is writable again.
  if (rest) io_update(impl);
  // A failure is told through the read side, as for the queue's immediate writes (no
  // callback here); what would block is queued by the caller.
  if (ec && ec != errc::would_block) {
    send_failed(impl, ec);
    data = {};
    return true;
  }
  return sent;
}

bool io_write_in_flight(const AsyncSocketImpl& impl) noexcept {
  // A framed message taken in part (item.done set by write_item) whose rest is owed.
  return impl.io && !impl.queue.empty() && impl.queue.front().done != 0 &&
         impl.mode == Mode::messages && rest_owed(impl);
}

std::size_t io_rest_owed(const AsyncSocketImpl& impl) noexcept {
  // A rest that belongs to the front item is counted with that item.
  if (!impl.io || io_write_in_flight(impl)) return 0;
  return rest_bytes(impl);
}

void io_update(AsyncSocketImpl& impl) {
  SocketIo& io = *impl.io;
  if (io.poll == nullptr) return;
  // New data to write while the socket is not known to be full: write it now, like
  // uv_try_write, instead of waiting a loop turn for a writable event.
  if ((io.events & UV_WRITABLE) == 0 && !impl.queue.empty()) write_ready(impl, true);
  const bool want_write = (!impl.queue.empty() && !impl.write_failure) ||
                          (impl.shutdown_requested && !impl.shut_down) ||
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
    impl.cancel_connecting();
    return;
  }
  if (io->poll == nullptr) {
    io->close();
    impl.finished_closing();
    return;
  }
  // The descriptor must outlive the poll handle: close it in the handle's callback.
  uv_close(reinterpret_cast<uv_handle_t*>(io->poll), [](uv_handle_t* h) {
    auto& owner = *static_cast<AsyncSocketImpl*>(h->data);
    delete reinterpret_cast<uv_poll_t*>(h);
    owner.io->poll = nullptr;
    owner.io->close();
    owner.finished_closing();
  });
}

std::size_t io_kept_read_buffer(const AsyncSocketImpl& impl) noexcept {
  return impl.io->buffer.capacity();
}

PeerInfo io_peer_info(const AsyncSocketImpl& impl, std::error_code& ec) {
  return std::visit([&](const auto& s) { return peer_info(s, ec); }, impl.io->socket);
}

void start_connect(const std::shared_ptr<AsyncSocketImpl>& impl, const ConnectOptions& options) {
  struct Outcome {
    std::shared_ptr<SocketIo> io;
    std::error_code ec;
  };
  // The connect may wait for a busy listener: in the thread pool, never on the loop.
  // It waits in slices, so that a close() is noticed soon (see connect_in_slices).
  impl->occasional().cancel_connect = run_in_pool<Outcome>(
      impl->loop->loop,
      [options, mode = impl->mode](const std::atomic<bool>& cancelled) {
        Outcome out;
        out.io = std::make_shared<SocketIo>();
        with_mode(mode, [&](auto m) {
          out.io->socket.template emplace<PlatformSocket<decltype(m)::value>>(
              connect_in_slices(options, cancelled, connect_socket<decltype(m)::value>, out.ec));
        });
        return out;
      },
      [impl](Outcome out, bool cancelled) {
        if (cancelled) out.ec = std::make_error_code(std::errc::operation_canceled);
        if (!out.ec && impl->state == AsyncSocketImpl::State::connecting) {
          try {
            impl->io = std::make_unique<SocketIo>(std::move(*out.io));
            out.ec = attach(*impl);
          } catch (const std::bad_alloc&) {  // reported to the connect callback
            out.ec = make_error_code(errc::out_of_resources);
          }
          if (out.ec) impl->io.reset();  // the descriptor closes now, not with the socket
        }
        // Closed meanwhile, or failed: `out.io` (if any) closes its descriptor here.
        connected(impl, out.ec);
      });
}

// ---- listener ----------------------------------------------------------------------

namespace {

void on_listener_events(uv_poll_t* handle, int status, int events);
template <typename Listener>
void accept_all(AsyncListenerImpl& impl, Listener& listener);

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
  std::visit([&](auto& l) { accept_all(impl, l); }, impl.io->listener);
}

// Takes every waiting client; the listening socket is nonblocking.
template <typename Listener>
void accept_all(AsyncListenerImpl& impl, Listener& listener) {
  while (impl.open) {
    std::error_code ec;
    if (!impl.io->next) {
      // Made whole before it is kept. Without memory the client waits in the backlog,
      // as for a lack of descriptors.
      try {
        auto fresh = std::make_shared<AsyncSocketImpl>();
        fresh->io = std::make_unique<SocketIo>();
        impl.io->next = std::move(fresh);
      } catch (const std::bad_alloc&) {
        accept_failed(impl, make_error_code(errc::out_of_resources));
        return;
      }
    }
    std::shared_ptr<AsyncSocketImpl>& made = impl.io->next;
    made->io->socket = listener.accept(ec);
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
    AsyncSocket::Ptr socket;
    std::error_code attach_ec;
    try {
      socket =
          make_socket(std::move(made), impl.loop, impl.mode, impl.settings, listener_name(impl));
      attach_ec = attach(*AsyncAccess::impl(*socket));
    } catch (const std::bad_alloc&) {
      // That client is dropped (its descriptor closes with what was made of it); the
      // listener pauses as for a lack of descriptors.
      if (socket) socket->close();
      accept_failed(impl, make_error_code(errc::out_of_resources));
      return;
    }
    if (attach_ec) {
      socket->close();
      if (impl.on_accept) impl.on_accept(attach_ec, nullptr);
      continue;
    }
    impl.io->retry.succeeded();  // a connection made whole ends a failure episode
    if (impl.on_accept) impl.on_accept({}, socket);
  }
}

}  // namespace

void listen_start(const std::shared_ptr<AsyncListenerImpl>& impl, const ListenerOptions& options,
                  std::error_code& ec) {
  ListenerOptions nonblocking = options;
  nonblocking.nonblocking(true);
  impl->io = std::make_unique<ListenerIo>();
  with_mode(impl->mode, [&](auto m) {
    impl->io->listener.template emplace<PlatformListener<decltype(m)::value>>(
        bind_listener<decltype(m)::value>(nonblocking, ec));
  });
  if (ec) return;
  const int fd = std::visit([](auto& l) { return l.native_handle(); }, impl->io->listener);
  // Both handles are allocated before either joins the loop: a failure leaves none there.
  auto poll = std::make_unique<uv_poll_t>();
  auto timer = std::make_unique<uv_timer_t>();
  if (const int rc = uv_poll_init(impl->loop->loop, poll.get(), fd); rc != 0) {
    ec = {-rc, std::system_category()};
    return;
  }
  impl->io->poll = poll.release();
  impl->io->poll->data = impl.get();
  impl->io->retry_timer = timer.release();
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
    std::visit([](auto& l) { l.close(); }, owner.io->listener);
    owner.io->next.reset();  // the connection kept for the next client
    owner.on_accept = {};
    if (owner.on_closed) std::exchange(owner.on_closed, {})();
    auto keep = std::move(owner.self);
  };
  uv_close(reinterpret_cast<uv_handle_t*>(impl.io->poll), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(impl.io->retry_timer), closed);
}

// Unix listeners have no instance limit: they wait for no connection to go.
void listener_connection_gone(const std::shared_ptr<AsyncListenerImpl>&) {}

const LocalName& listener_name(const AsyncListenerImpl& impl) noexcept {
  return visit_held(impl.io->listener, [](const auto& l) -> const LocalName& { return l.name(); });
}

}  // namespace localsock::detail
