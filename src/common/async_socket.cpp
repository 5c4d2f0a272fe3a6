// SPDX-License-Identifier: MIT
// The async API's members: state kept here, I/O handed to the backend.
#include <localsock/testing.hpp>

#include "async_common.hpp"

#include <optional>

namespace localsock {

using detail::AsyncSocketImpl;

// ---- AsyncSocket -------------------------------------------------------------------

AsyncSocket::AsyncSocket(std::shared_ptr<detail::AsyncSocketImpl> impl) noexcept
    : impl_(std::move(impl)) {}

AsyncSocket::~AsyncSocket() = default;

AsyncSocket::Ptr AsyncSocket::connect(AsyncLoop& loop, const ConnectOptions& options, Mode mode,
                                      ConnectCallback cb, AsyncOptions settings) {
  auto impl = std::make_shared<AsyncSocketImpl>();
  impl->loop = detail::AsyncAccess::state(loop);
  impl->mode = mode;
  impl->settings = settings;
  impl->message_limit = settings.max_message_size;
  impl->queue.set_high(settings.high_water_mark);
  impl->occasional().on_connect = std::move(cb);
  impl->name = options.name();
  auto socket = detail::AsyncAccess::make_socket(impl);
  impl->self = socket;
  impl->register_on_loop();
  detail::start_connect(impl, options);
  return socket;
}

void AsyncSocket::start_reading(ReadCallback cb) {
  impl_->on_read = std::move(cb);
  impl_->reading = true;
  if (impl_->state == AsyncSocketImpl::State::open) {
    // A failed write nobody was told of yet: now there is someone to tell.
    if (impl_->write_failure && !impl_->write_failure_told) impl_->post_write_failure();
    detail::io_update(*impl_);
  } else if (impl_->end_due && impl_->state == AsyncSocketImpl::State::closed) {
    // The connection ended by shutdown() (Windows): the end is delivered from the loop,
    // never inside this call.
    impl_->loop->post(
        [impl = impl_, ref = detail::LoopRef(impl_->loop)] { impl->deliver_due_end(); });
  }
}

void AsyncSocket::resume_reading(std::error_code& ec) {
  ec.clear();
  if (impl_->end_due && impl_->state == AsyncSocketImpl::State::closed && impl_->on_read) {
    // A shutdown closed the connection (Windows) while reading was paused: the end owed
    // is delivered from the loop, as start_reading() does.
    if (impl_->reading) return;
    impl_->reading = true;
    impl_->loop->post(
        [impl = impl_, ref = detail::LoopRef(impl_->loop)] { impl->deliver_due_end(); });
    return;
  }
  if (!impl_->usable()) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  // Inside the read callback, on_read is empty: deliver() holds it and puts it back.
  if (!impl_->on_read && !impl_->in_read_callback) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return;
  }
  if (impl_->reading) return;
  impl_->reading = true;
  if (impl_->state == AsyncSocketImpl::State::open) {
    // As in start_reading(): a failed write nobody was told of yet is told now.
    if (impl_->write_failure && !impl_->write_failure_told) impl_->post_write_failure();
    detail::io_update(*impl_);
  }
}

void AsyncSocket::resume_reading() {
  detail::or_throw("AsyncSocket::resume_reading", impl_->name.str(),
                   [&](auto& ec) { resume_reading(ec); });
}

void AsyncSocket::stop_reading() {
  impl_->reading = false;
  if (impl_->state == AsyncSocketImpl::State::open) detail::io_update(*impl_);
}

namespace {
// The checks both write() overloads make first: std::nullopt when the write goes ahead,
// otherwise what write() returns, with `cb` told already.
//
// write() returns false only when data is queued at or above the mark, so that a drain
// follows: a write that fails at once never says "stop".
std::optional<bool> settled_early(AsyncSocketImpl& impl, std::size_t size,
                                  AsyncSocket::WriteCallback& cb) {
  const bool below = impl.queue.below_mark();
  if (impl.shutdown_requested) {  // this end said it sends no more (also once closing)
    if (cb) cb(make_error_code(errc::shut_down));
    return below;
  }
  if (!impl.usable()) {
    if (cb) cb(make_error_code(errc::not_connected));
    return below;
  }
  if (impl.write_failure) {  // the write side failed: nothing more is sent
    if (cb) cb(impl.write_failure);
    return below;
  }
  if (impl.mode == Mode::messages && size > impl.message_limit) {
    // Refused before anything is sent; without a callback, told through the read side.
    const auto ec = make_error_code(errc::message_too_large);
    if (cb)
      cb(ec);
    else
      impl.write_failed(ec);
    return below;
  }
  if (impl.mode == Mode::bytes && size == 0) {  // nothing to send: done at once
    if (cb) cb({});
    return below;
  }
  return std::nullopt;
}

bool enqueue(AsyncSocketImpl& impl, std::vector<std::byte>&& data, AsyncSocket::WriteCallback&& cb,
             std::shared_ptr<const std::vector<std::byte>> shared = {}) {
  const bool owed = impl.queue.draining();
  impl.queue.push({std::move(data), 0, std::move(cb), std::move(shared)});
  if (impl.state == AsyncSocketImpl::State::open) detail::io_update(impl);
  // Measured after the attempt to write at once: a write that went out (or failed) at
  // once leaves nothing queued to drain, so it does not say "stop" (and owes no drain,
  // unless an earlier write said stop).
  if (!impl.queue.below_mark()) return false;
  if (!owed) impl.queue.forget_drain();
  return true;
}
}  // namespace

bool AsyncSocket::write(std::span<const std::byte> data, WriteCallback cb) {
  AsyncSocketImpl& impl = *impl_;
  if (auto early = settled_early(impl, data.size(), cb)) return *early;
  // Written at once when possible: no copy at all.
  if (!cb && impl.queue.empty() && impl.state == AsyncSocketImpl::State::open &&
      detail::io_try_write(impl, data))
    return true;
  return enqueue(impl, impl.queue.copy_of(data), std::move(cb));
}

bool AsyncSocket::write(std::vector<std::byte>&& data, WriteCallback cb) {
  AsyncSocketImpl& impl = *impl_;
  if (auto early = settled_early(impl, data.size(), cb)) return *early;
  return enqueue(impl, std::move(data), std::move(cb));
}

bool AsyncSocket::write(std::shared_ptr<const std::vector<std::byte>> data, WriteCallback cb) {
  if (!data) return write(std::span<const std::byte>(), std::move(cb));  // nothing: an empty write
  AsyncSocketImpl& impl = *impl_;
  if (auto early = settled_early(impl, data->size(), cb)) return *early;
  // No copy: the queue holds a reference until this socket has written the buffer (on
  // Unix, with no callback and nothing queued, that is at once, inside enqueue).
  return enqueue(impl, {}, std::move(cb), std::move(data));
}

std::size_t AsyncSocket::queued_bytes() const noexcept { return impl_->unsent_bytes(); }

void AsyncSocket::set_high_water_mark(std::size_t bytes) noexcept {
  impl_->settings.high_water_mark = bytes;
  impl_->queue.set_high(bytes);
}

void AsyncSocket::on_drain(std::function<void()> cb) {
  if (cb || impl_->occasional_part) impl_->occasional().on_drain = std::move(cb);
}

void AsyncSocket::shutdown(WriteCallback cb) {
  if (!impl_->usable() || impl_->shutdown_requested) {
    if (cb) cb(make_error_code(errc::not_connected));
    return;
  }
  impl_->shutdown_requested = true;
  if (cb) impl_->occasional().shutdown_cb = std::move(cb);
  if (impl_->state == AsyncSocketImpl::State::open) detail::io_update(*impl_);
}

void AsyncSocket::close(std::function<void()> on_closed) {
  if (!impl_->usable()) {
    // Already closing or closed: the first close's callback reports the end. A read
    // callback kept for an end still owed (finished_closing) is let go: closed by the
    // application, the socket delivers nothing more.
    if (impl_->state == AsyncSocketImpl::State::closed) {
      impl_->end_due = false;
      impl_->on_read = {};
      if (on_closed) on_closed();
    }
    return;
  }
  if (on_closed) impl_->occasional().on_closed = std::move(on_closed);
  impl_->reading = false;
  impl_->state = AsyncSocketImpl::State::closing;
  detail::io_close(*impl_);
}

bool AsyncSocket::is_open() const noexcept { return impl_->state == AsyncSocketImpl::State::open; }

Mode AsyncSocket::mode() const noexcept { return impl_->mode; }

std::size_t AsyncSocket::max_message_size() const noexcept { return impl_->message_limit; }

PeerInfo AsyncSocket::peer_info(std::error_code& ec) const {
  if (impl_->state != AsyncSocketImpl::State::open) {
    ec = make_error_code(errc::not_connected);
    return {};
  }
  return detail::io_peer_info(*impl_, ec);
}
PeerInfo AsyncSocket::peer_info() const {
  return detail::or_throw("AsyncSocket::peer_info", impl_->name.str(),
                          [&](auto& ec) { return peer_info(ec); });
}

std::size_t testing::kept_read_buffer(const AsyncSocket& socket) noexcept {
  const auto& impl = detail::AsyncAccess::impl(socket);
  return impl->io ? detail::io_kept_read_buffer(*impl) : 0;
}

// ---- AsyncListener -----------------------------------------------------------------

AsyncListener::AsyncListener(std::shared_ptr<detail::AsyncListenerImpl> impl) noexcept
    : impl_(std::move(impl)) {}

AsyncListener::~AsyncListener() = default;

AsyncListener::Ptr AsyncListener::listen(AsyncLoop& loop, const ListenerOptions& options, Mode mode,
                                         AcceptCallback cb, std::error_code& ec,
                                         AsyncOptions settings) {
  ec.clear();
  auto impl = std::make_shared<detail::AsyncListenerImpl>();
  impl->loop = detail::AsyncAccess::state(loop);
  impl->mode = mode;
  impl->settings = settings;
  impl->on_accept = std::move(cb);
  // What may fail for want of memory is done before the listener starts: once started,
  // its pending operation would hold it.
  auto listener = detail::AsyncAccess::make_listener(impl);
  impl->register_on_loop();
  detail::listen_start(impl, options, ec);
  if (ec) return nullptr;  // the listener leaves the loop's list as it goes
  impl->self = listener;
  return listener;
}

AsyncListener::Ptr AsyncListener::listen(AsyncLoop& loop, const ListenerOptions& options, Mode mode,
                                         AcceptCallback cb, AsyncOptions settings) {
  return detail::or_throw("AsyncListener::listen", options.name().str(), [&](auto& ec) {
    return listen(loop, options, mode, std::move(cb), ec, settings);
  });
}

void AsyncListener::close(std::function<void()> on_closed) {
  if (!impl_->open) return;
  impl_->open = false;
  impl_->on_closed = std::move(on_closed);
  detail::listener_close(*impl_);
}

bool AsyncListener::is_open() const noexcept { return impl_->open; }

const LocalName& AsyncListener::name() const noexcept { return detail::listener_name(*impl_); }

}  // namespace localsock

namespace localsock::detail {

void connected(const std::shared_ptr<AsyncSocketImpl>& impl, std::error_code ec) {
  AsyncSocket::ConnectCallback cb;
  if (impl->occasional_part) {
    cb = std::exchange(impl->occasional_part->on_connect, {});
    impl->occasional_part->cancel_connect = {};  // the job is done
  }
  if (impl->state == AsyncSocketImpl::State::closing) {
    // Closed while connecting: the backend has dropped the connection.
    impl->finished_closing();
    if (cb) cb(std::make_error_code(std::errc::operation_canceled), nullptr);
    return;
  }
  auto self = impl->self;
  if (ec) {
    // Every callback waiting for this connection runs once, with the connect's error,
    // and every callback kept for later is let go: lambdas that hold the socket must not
    // keep it alive.
    impl->state = AsyncSocketImpl::State::closed;
    impl->reading = false;
    cancel_writes(impl->queue, ec);
    impl->finish_shutdown(ec);
    impl->on_read = {};
    if (impl->occasional_part) impl->occasional_part->on_drain = {};
    impl->made_by.reset();
    impl->self.reset();
    if (cb) cb(ec, nullptr);
    return;
  }
  impl->state = AsyncSocketImpl::State::open;
  // A write refused while connecting, with no callback: told now that the socket is open.
  if (impl->write_failure && !impl->write_failure_told) impl->post_write_failure();
  if (cb) cb({}, self);
  if (impl->state == AsyncSocketImpl::State::open) io_update(*impl);
}

AsyncSocket::Ptr make_socket(std::shared_ptr<AsyncSocketImpl> impl,
                             const std::shared_ptr<LoopState>& loop, Mode mode,
                             const AsyncOptions& settings, const LocalName& name) {
  impl->loop = loop;
  impl->name = name;
  impl->mode = mode;
  impl->settings = settings;
  impl->message_limit = settings.max_message_size;
  impl->queue.set_high(settings.high_water_mark);
  impl->state = AsyncSocketImpl::State::open;
  auto socket = AsyncAccess::make_socket(impl);
  impl->self = socket;
  impl->register_on_loop();
  return socket;
}

}  // namespace localsock::detail
