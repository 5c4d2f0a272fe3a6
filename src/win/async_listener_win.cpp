// SPDX-License-Identifier: MIT
// The async listener on Windows: one pipe instance at a time waits for a client with
// an overlapped ConnectNamedPipe that completes through the loop's port (see
// async_op.hpp); each connected instance becomes an async connection (async_win.cpp).
#include "async_op.hpp"
#include "sys.hpp"

#include <new>
#include <variant>

namespace localsock::detail {

// The listener's connect operation, one per listener and reused for every instance it
// offers: no allocation per accepted client. While it is pending (from accept_next()
// until its completion runs) it holds the listener, which holds it.
struct ListenerConnectOp final : Op {
  std::shared_ptr<AsyncListenerImpl> listener;  // set while pending
  PipeCore instance;
  void complete(DWORD, DWORD error) override;
};

struct ListenerIo {
  // The one listener of the listener's mode.
  std::variant<PlatformListener<Mode::bytes>, PlatformListener<Mode::messages>> listener;
  bool connect_pending = false;
  void* pending_instance = nullptr;  // the handle whose connect is pending
  OVERLAPPED* pending_ov = nullptr;
  bool waiting_for_slot = false;
  // Held while the listener waits for a free place under its instance limit (no
  // operation is pending then): an open listener keeps uv_run going, as on Unix, where
  // its poll handle does.
  LoopRef slot_wait;
  // After a failure to make or bind the next instance, or to make a connection: the
  // timer that tries again (made by listen_start, freed when the listener finishes),
  // and the episode's state.
  uv_timer_t* retry_timer = nullptr;
  AcceptRetry retry;
  std::weak_ptr<AsyncListenerImpl> owner;  // for the timer's callback
  ListenerConnectOp connect_op;

  win::detail::PipeListenerCore& core() {
    return std::visit([](auto& l) -> win::detail::PipeListenerCore& { return l.core(); }, listener);
  }
};

AsyncListenerImpl::AsyncListenerImpl() = default;
AsyncListenerImpl::~AsyncListenerImpl() { unregister(); }

namespace {

void accept_next(const std::shared_ptr<AsyncListenerImpl>& impl);

// The next instance could not be made, bound or connected: the listener tries again
// after a delay (never spinning, never giving up), and the accept callback hears of it
// once per episode (see AcceptRetry).
void accept_failed(const std::shared_ptr<AsyncListenerImpl>& impl, std::error_code ec) {
  ListenerIo& io = *impl->io;
  const bool report = io.retry.failed();
  uv_timer_start(
      io.retry_timer,
      [](uv_timer_t* t) {
        if (auto l = static_cast<ListenerIo*>(t->data)->owner.lock(); l && l->open) accept_next(l);
      },
      io.retry.delay_ms(), 0);
  if (report && impl->on_accept) impl->on_accept(ec, nullptr);
}

void finish_listener(AsyncListenerImpl& impl) {
  impl.io->slot_wait.reset();
  if (impl.io->retry_timer != nullptr)
    uv_close(reinterpret_cast<uv_handle_t*>(std::exchange(impl.io->retry_timer, nullptr)),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  std::visit([](auto& l) { l.close(); }, impl.io->listener);
  impl.on_accept = {};
  if (impl.on_closed) std::exchange(impl.on_closed, {})();
  auto keep = std::move(impl.self);
}

}  // namespace

void ListenerConnectOp::complete(DWORD, DWORD error) {
  // The listener may lose its last reference when this returns, and this operation
  // with it: nothing below touches the operation once accept_next() may have reused it.
  const auto held = std::move(listener);
  // The instance is this completion's from here: handed over to a connection, or closed
  // with this frame, whatever happens below.
  PipeCore connected = std::move(instance);
  AsyncListenerImpl& impl = *held;
  impl.io->connect_pending = false;
  impl.io->pending_instance = nullptr;
  impl.io->pending_ov = nullptr;
  if (!impl.open) {
    connected.close();
    finish_listener(impl);
    return;
  }
  // An instance not handed over is closed before the next is taken: it holds a place
  // under the instance limit, and with instance_limit(1) the next would wait for a
  // place that nothing would ever free.
  if (error == ERROR_NO_DATA) {
    // A client connected and left before it was accepted: never poison the listener.
    connected.close();
    accept_next(held);
    return;
  }
  if (error != 0 && error != ERROR_PIPE_CONNECTED) {
    connected.close();
    accept_failed(held, error_of(error));
    return;
  }
  std::shared_ptr<AsyncSocketImpl> made;
  AsyncSocket::Ptr socket;
  try {
    if (!impl.io->core().admits(connected)) {  // current_user_only: another user's client
      std::error_code ignored;
      connected.disconnect(ignored);
      connected.close();
      accept_next(held);
      return;
    }
    made = std::make_shared<AsyncSocketImpl>();
    attach_io(*made, std::move(connected), impl.mode);
    socket = make_socket(made, impl.loop, impl.mode, impl.settings, listener_name(impl));
  } catch (const std::bad_alloc&) {
    // That client is dropped: its instance closes, with `connected` or with what was
    // made of it (no I/O was started on it). The listener pauses and tries again, as
    // after a failure to make the next instance.
    made.reset();
    connected.close();
    accept_failed(held, make_error_code(errc::out_of_resources));
    return;
  }
  // When this connection goes, its instance place frees up: a listener that waits
  // for one (instance limit reached) tries again (listener_connection_gone).
  made->made_by = held;
  impl.io->retry.succeeded();
  accept_next(held);
  if (impl.on_accept) impl.on_accept({}, socket);
}

namespace {

void accept_next(const std::shared_ptr<AsyncListenerImpl>& impl) {
  ListenerIo& io = *impl->io;
  if (!impl->open || io.connect_pending) return;
  io.waiting_for_slot = false;
  std::error_code ec;
  PipeCore instance = io.core().take_instance(ec);
  if (ec == errc::would_block) {  // the instance limit is reached
    io.waiting_for_slot = true;
    if (!io.slot_wait.holds()) io.slot_wait = LoopRef(impl->loop);
    return;
  }
  io.slot_wait.reset();
  if (!ec) ec = bind_to_port(*impl->loop, instance);
  if (ec) {
    instance.close();  // its instance place is free for the retry
    accept_failed(impl, ec);
    return;
  }
  ListenerConnectOp* op = &io.connect_op;
  op->listener = impl;
  op->instance = std::move(instance);
  HANDLE h = static_cast<HANDLE>(op->instance.native_handle());
  OVERLAPPED* ov = op->start(h, impl->loop);
  DWORD err = 0;
  // Through the fault seam (sys.hpp), as the blocking accept.
  if (!win::sys::connect_named_pipe(h, ov)) err = ::GetLastError();
  io.connect_pending = true;
  // (An instance waiting again does not end a failure episode: the first connection
  // taken does, in ListenerConnectOp::complete.)
  if (err == ERROR_IO_PENDING || err == 0) {
    io.pending_instance = h;
    io.pending_ov = ov;
    return;  // completes through the port
  }
  // Connected already (ERROR_PIPE_CONNECTED), gone already (ERROR_NO_DATA) or failed: no
  // completion will come; finish on the loop's next turn.
  try {
    impl->loop->post([op, err] { run_completion(op, 0, err); });
  } catch (const std::bad_alloc&) {
    // Nothing would finish this connect: undone, and the listener pauses.
    io.connect_pending = false;
    op->loop_ref.reset();
    op->listener.reset();
    op->instance.close();
    accept_failed(impl, make_error_code(errc::out_of_resources));
  }
}

}  // namespace

void listen_start(const std::shared_ptr<AsyncListenerImpl>& impl, const ListenerOptions& options,
                  std::error_code& ec) {
  impl->io = std::make_unique<ListenerIo>();
  with_mode(impl->mode, [&](auto m) {
    impl->io->listener.template emplace<PlatformListener<decltype(m)::value>>(
        bind_listener<decltype(m)::value>(options, ec));
  });
  if (ec) return;
  impl->io->owner = impl;
  // Made now, so that a failure to make a connection never needs memory to pause.
  impl->io->retry_timer = new uv_timer_t{};
  uv_timer_init(impl->loop->loop, impl->io->retry_timer);
  impl->io->retry_timer->data = impl->io.get();
  accept_next(impl);
}

void listener_close(AsyncListenerImpl& impl) {
  if (impl.io->connect_pending) {
    // The cancelled connect completes through the port and finishes the closing.
    if (impl.io->pending_instance != nullptr)
      ::CancelIoEx(static_cast<HANDLE>(impl.io->pending_instance), impl.io->pending_ov);
    return;
  }
  impl.loop->post(
      [self = impl.self, raw = &impl, ref = LoopRef(impl.loop)] { finish_listener(*raw); });
}

void listener_connection_gone(const std::shared_ptr<AsyncListenerImpl>& impl) {
  // Its instance place is free: a listener that waits for one (instance limit reached)
  // tries again.
  if (impl->open && impl->io->waiting_for_slot) accept_next(impl);
}

const LocalName& listener_name(const AsyncListenerImpl& impl) noexcept {
  return visit_held(impl.io->listener, [](const auto& l) -> const LocalName& { return l.name(); });
}

}  // namespace localsock::detail
