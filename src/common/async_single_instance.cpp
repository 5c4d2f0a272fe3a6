// SPDX-License-Identifier: MIT
// AsyncSingleInstance: the primary takes messages on a libuv loop, through the async
// API (AsyncListener / AsyncSocket); the election and a secondary's send are shared
// with the blocking flavor.
#include <localsock/async.hpp>
#include <localsock/single_instance.hpp>

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "deadline.hpp"
#include "single_instance.hpp"

namespace localsock {

struct AsyncSingleInstance::Impl : std::enable_shared_from_this<AsyncSingleInstance::Impl> {
  SingleInstanceOptions options;
  InstanceMessageHandler handler;
  detail::InstanceLock lock;
  AsyncListener::Ptr listener;
  using Clock = std::chrono::steady_clock;

  // What one launch's connection has said so far.
  struct Exchange {
    bool asked = false;  // its message came, and instance_ready went back
    std::string message;
    PeerInfo sender;
    Clock::time_point deadline;  // for the sender's next step
  };

  std::map<AsyncSocket::Ptr, std::shared_ptr<Exchange>> clients;  // exchanges in progress
  AsyncSocket* handling = nullptr;  // the connection whose message is in the handler
  bool closing = false;
  uv_timer_t* sweeper = nullptr;  // lets go of senders that stay silent

  explicit Impl(const SingleInstanceOptions& o) : options(o) {}

  void finish(const AsyncSocket::Ptr& s) {
    clients.erase(s);
    s->close();
  }

  // How long a sender may take for one step, as for the blocking primary.
  Timeout step() const {
    Timeout t = detail::instance_step_timeout;
    if (options.timeout() != infinite) t = std::min(t, std::max(options.timeout(), Timeout(1)));
    return t;
  }

  // A connection that says nothing (its message, or its go-ahead) within a step is
  // closed, so that it holds no descriptor of the primary for ever.
  void start_sweeping(uv_loop_t* loop) {
    sweeper = new uv_timer_t;
    uv_timer_init(loop, sweeper);
    sweeper->data = this;
    uv_timer_start(
        sweeper,
        [](uv_timer_t* t) {
          Impl& impl = *static_cast<Impl*>(t->data);
          const auto now = Clock::now();
          std::vector<AsyncSocket::Ptr> late;
          for (const auto& [sock, exchange] : impl.clients) {
            if (exchange->deadline <= now && sock.get() != impl.handling) late.push_back(sock);
          }
          for (const auto& sock : late) impl.finish(sock);
        },
        250, 250);
    // The sweeper alone keeps no loop running: the connections it watches do.
    uv_unref(reinterpret_cast<uv_handle_t*>(sweeper));
  }

  void stop_sweeping() {
    if (sweeper == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(sweeper),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    sweeper = nullptr;
  }

  // One launch's connection, the exchange of single_instance.hpp: its message, the
  // question whether it still waits, its go-ahead, the handler, the acknowledgement;
  // then the connection closes. Handlers run on the loop, so one at a time.
  void take(const AsyncSocket::Ptr& s) {
    auto exchange = std::make_shared<Exchange>();
    exchange->deadline = detail::deadline_after(step());
    clients.emplace(s, exchange);
    std::weak_ptr<AsyncSocket> weak = s;
    std::weak_ptr<Impl> self = shared_from_this();
    s->start_reading([weak, self, exchange](const ReadEvent& ev) {
      auto sock = weak.lock();
      auto impl = self.lock();
      if (!sock || !impl) return;
      if (ev.error || ev.end || impl->closing) {
        impl->finish(sock);
        return;
      }
      const std::string_view text(reinterpret_cast<const char*>(ev.data.data()), ev.data.size());
      if (!exchange->asked) {
        exchange->asked = true;
        exchange->message = std::string(text);
        std::error_code peer_ec;
        exchange->sender = sock->peer_info(peer_ec);
        exchange->deadline = detail::deadline_after(impl->step());
        sock->write(detail::instance_ready);
        return;
      }
      sock->stop_reading();
      // Anything but the go-ahead: the sender no longer waits, so its message is not
      // acted on.
      if (text != detail::instance_go) {
        impl->finish(sock);
        return;
      }
      // The message is the handler's now: the sweeper no longer watches the connection,
      // which the acknowledgement's write holds until it is out.
      impl->clients.erase(sock);
      // The handler may close the instance (an `app --quit` launch): close() leaves
      // this connection alone, so that its sender still learns that it was taken.
      impl->handling = sock.get();
      try {
        impl->handler(std::move(exchange->message), exchange->sender);
      } catch (...) {
        impl->handling = nullptr;
        impl->finish(sock);  // not acknowledged: the sender learns that the handler failed
        return;
      }
      impl->handling = nullptr;
      // The write holds the connection until the acknowledgement is out, also when the
      // instance no longer does.
      sock->write(detail::instance_ack, [sock, self](std::error_code) {
        if (auto impl2 = self.lock()) impl2->clients.erase(sock);
        sock->close();
      });
    });
  }
};

AsyncSingleInstance::AsyncSingleInstance(std::shared_ptr<Impl> impl) noexcept
    : impl_(std::move(impl)) {}

std::unique_ptr<AsyncSingleInstance> AsyncSingleInstance::start(
    AsyncLoop& loop, const SingleInstanceOptions& options, InstanceMessageHandler on_message,
    std::error_code& ec) {
  auto impl = std::make_shared<Impl>(options);
  impl->handler = std::move(on_message);
  std::weak_ptr<Impl> weak = impl;
  AsyncOptions settings;
  settings.max_message_size = options.max_message_size();
  impl->lock = detail::elect_primary(
      options,
      [&](bool reclaim, std::error_code& e) {
        impl->listener = AsyncListener::listen(
            loop,
            ListenerOptions(options.name())
                .reclaim_stale(reclaim)
                .current_user_only(options.current_user_only()),
            Mode::messages,
            [weak](std::error_code accept_ec, AsyncSocket::Ptr s) {
              auto self = weak.lock();
              if (!self || accept_ec || !s) return;  // a failed accept: the listener retries
              if (self->closing) {
                s->close();
                return;
              }
              self->take(s);
            },
            e, settings);
      },
      ec);
  if (ec) return nullptr;
  if (impl->lock.held()) impl->start_sweeping(loop.uv());
  return std::make_unique<AsyncSingleInstance>(std::move(impl));
}

std::unique_ptr<AsyncSingleInstance> AsyncSingleInstance::start(
    AsyncLoop& loop, const SingleInstanceOptions& options, InstanceMessageHandler on_message) {
  return detail::or_throw("AsyncSingleInstance::start", options.name().str(), [&](auto& ec) {
    return start(loop, options, std::move(on_message), ec);
  });
}

AsyncSingleInstance::~AsyncSingleInstance() { close(); }

bool AsyncSingleInstance::is_primary() const noexcept { return impl_->lock.held(); }

void AsyncSingleInstance::send(std::string_view message, std::error_code& ec) {
  ec.clear();
  if (is_primary()) {
    ec = make_error_code(errc::wrong_end);
    return;
  }
  detail::send_to_primary(impl_->options, message, ec);
}

void AsyncSingleInstance::send(std::string_view message) {
  detail::or_throw("AsyncSingleInstance::send", name().str(), [&](auto& ec) { send(message, ec); });
}

void AsyncSingleInstance::close(std::function<void()> on_closed) {
  Impl& impl = *impl_;
  if (impl.closing || !impl.listener) {
    impl.closing = true;
    if (on_closed) on_closed();
    return;
  }
  impl.closing = true;
  // A handler that closes the instance still has its message acknowledged (take()).
  impl.stop_sweeping();
  for (const auto& entry : decltype(impl.clients)(std::move(impl.clients))) {
    if (entry.first.get() != impl.handling) entry.first->close();
  }
  impl.clients.clear();
  // The name is given up (the lock released) only once the listener has let go of it,
  // so that the next primary never finds this one's socket file still live.
  impl.listener->close([keep = impl_, on_closed = std::move(on_closed)] {
    keep->lock.release();
    if (on_closed) on_closed();
  });
}

const LocalName& AsyncSingleInstance::name() const noexcept { return impl_->options.name(); }

}  // namespace localsock
