// SPDX-License-Identifier: MIT
// SingleInstance, the blocking flavor, and what both flavors share: the election of
// the primary, a secondary's send, and the launch message.
#include <localsock/single_instance.hpp>

#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "deadline.hpp"
#include "single_instance.hpp"

namespace localsock {

// ---- LaunchInfo -------------------------------------------------------------------

LaunchInfo LaunchInfo::of_this_process(int argc, const char* const* argv) {
  LaunchInfo info;
  for (int i = 1; i < argc; ++i) info.arguments.emplace_back(argv[i]);
  std::error_code ec;
  info.working_directory = std::filesystem::current_path(ec).string();
  return info;
}

std::string LaunchInfo::encode() const {
  std::string out = working_directory;
  out += '\0';
  for (const auto& a : arguments) {
    out += a;
    out += '\0';
  }
  return out;
}

LaunchInfo LaunchInfo::decode(std::string_view message, std::error_code& ec) {
  ec.clear();
  LaunchInfo info;
  if (message.empty() || message.back() != '\0') {
    ec = std::make_error_code(std::errc::invalid_argument);
    return info;
  }
  std::size_t start = 0;
  bool first = true;
  while (start < message.size()) {
    const std::size_t end = message.find('\0', start);
    std::string field(message.substr(start, end - start));
    if (first)
      info.working_directory = std::move(field);
    else
      info.arguments.push_back(std::move(field));
    first = false;
    start = end + 1;
  }
  return info;
}

// ---- shared -----------------------------------------------------------------------

namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

// Nobody listens at the name: a primary still starting up, one that went away, or none.
bool nobody_listens(const std::error_code& ec) {
  return ec == errc::no_listener || ec == errc::stale_name ||
         ec == std::errc::no_such_file_or_directory;
}

// True when the instance lock is free: no primary holds it, so waiting for one is
// pointless. (A name that is its own lock, a Linux abstract name, cannot tell.)
bool no_primary(const LocalName& name) {
  std::error_code ec;
  const InstanceLock probe = InstanceLock::try_acquire(name, ec);
  return !ec && probe.real() && probe.held();
}

// How one exchange with a primary ended.
enum class Outcome {
  delivered,  // the handler took the message (and returned, or still runs at the deadline)
  gone,       // the primary went away before taking it: another primary may
  failed,     // `ec` says why (timed_out: the message will never be handled)
};

Outcome exchange(LocalMessageSocket& s, std::string_view message,
                 const std::function<Timeout()>& left, std::error_code& ec) {
  s.set_write_timeout(left(), ec);
  if (!ec) s.send(message, ec);
  if (ec == errc::timed_out) return Outcome::failed;
  if (ec) return Outcome::gone;
  // Wait until the primary's handler is free for this message.
  std::string reply;
  s.set_read_timeout(left(), ec);
  ReceiveResult r;
  if (!ec) r = s.recv(reply, 16, ec);
  if (ec == errc::timed_out) return Outcome::failed;  // never handled: no instance_go went
  if (ec || r.end) return Outcome::gone;
  if (reply != instance_ready) {
    ec = make_error_code(errc::peer_closed);
    return Outcome::failed;
  }
  s.send(instance_go, ec);
  if (ec) return Outcome::gone;  // the primary left before it could take the message
  // From here on the message is the primary's: its handler runs on it now.
  s.set_read_timeout(left(), ec);
  if (!ec) r = s.recv(reply, 16, ec);
  if (ec == errc::timed_out) {
    ec.clear();  // taken, and still being handled: delivered
    return Outcome::delivered;
  }
  // A primary that closes now died in (or threw from) its handler.
  if (ec || r.end || reply != instance_ack) {
    ec = make_error_code(errc::peer_closed);
    return Outcome::failed;
  }
  return Outcome::delivered;
}

}  // namespace

InstanceLock elect_primary(const SingleInstanceOptions& o,
                           const std::function<void(bool reclaim, std::error_code&)>& bind,
                           std::error_code& ec) {
  ec.clear();
  InstanceLock lock = InstanceLock::try_acquire(o.name(), ec);
  if (ec || !lock.held()) return {};
  // Holding the lock, this process alone may replace a stale socket file: its last
  // holder is dead. A live listener there (one that does not take the lock) is never
  // replaced: the name is in use and this process is a secondary.
  bind(lock.real(), ec);
  if (ec == errc::name_in_use) {
    ec.clear();
    return {};
  }
  return ec ? InstanceLock{} : std::move(lock);
}

void send_to_primary(const SingleInstanceOptions& o, std::string_view message,
                     std::error_code& ec) {
  const bool timed = o.timeout() != infinite;
  const auto deadline = detail::deadline_after(timed ? o.timeout() : Timeout::zero());
  auto left = [&]() -> Timeout {
    if (!timed) return infinite;
    const auto rest = std::chrono::ceil<Timeout>(deadline - Clock::now());
    return std::max(rest, Timeout(1));
  };
  for (;;) {
    LocalMessageSocket s = LocalMessageSocket::connect(
        ConnectOptions(o.name()).timeout(left()).current_user_only(o.current_user_only()), ec);
    if (!ec) {
      const Outcome out = exchange(s, message, left, ec);
      if (out != Outcome::gone) return;
      // The primary went away without taking the message (it is shutting down, or was
      // killed): wait for the next one, as for a primary still starting.
      ec = make_error_code(errc::no_listener);
    }
    if (!nobody_listens(ec)) return;
    if (no_primary(o.name())) {
      ec = make_error_code(errc::no_listener);
      return;
    }
    // A primary holds the lock: about to listen, or about to let go of the name.
    if (timed && Clock::now() >= deadline) {
      ec = make_error_code(errc::timed_out);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace detail

// ---- SingleInstance ---------------------------------------------------------------

namespace {

// What a primary's connection threads share with it; they hold it until they end.
struct Serving {
  SingleInstanceOptions options;
  InstanceMessageHandler handler;
  std::mutex handler_mutex;  // one message at a time
  std::mutex m;
  std::condition_variable cv;
  int active = 0;  // connection threads running
  std::atomic<bool> stopping{false};

  explicit Serving(const SingleInstanceOptions& o) : options(o) {}

  // One launch's exchange (see single_instance.hpp). A sender that is silent for
  // instance_step_timeout is let go.
  void serve_one(LocalMessageSocket& s) {
    std::error_code ec;
    Timeout step = detail::instance_step_timeout;
    if (options.timeout() != infinite)
      step = std::min(step, std::max(options.timeout(), Timeout(1)));
    s.set_read_timeout(step, ec);
    if (!ec) s.set_write_timeout(step, ec);
    std::string message;
    ReceiveResult r;
    if (!ec) r = s.recv(message, options.max_message_size(), ec);
    if (ec || r.end) return;
    std::error_code peer_ec;
    const PeerInfo sender = s.peer_info(peer_ec);
    std::lock_guard one_at_a_time(handler_mutex);
    // A primary on its way out takes nothing more: the sender tries the next one.
    if (stopping) return;
    s.send(detail::instance_ready, ec);
    std::string go;
    if (!ec) r = s.recv(go, 16, ec);
    // A sender that gave up meanwhile has reported a failure: never act on its message.
    if (ec || r.end || go != detail::instance_go) return;
    try {
      handler(std::move(message), sender);
    } catch (...) {
      return;  // not acknowledged: the sender learns that the handler failed
    }
    s.send(detail::instance_ack, ec);
  }
};

}  // namespace

struct SingleInstance::Impl {
  SingleInstanceOptions options;
  std::shared_ptr<Serving> serving;
  detail::InstanceLock lock;
  LocalMessageListener listener;
  std::thread thread;

  explicit Impl(const SingleInstanceOptions& o)
      : options(o), serving(std::make_shared<Serving>(o)) {}
  ~Impl() {
    if (thread.joinable()) {
      {
        std::lock_guard guard(serving->m);
        serving->stopping = true;
        serving->cv.notify_all();  // an accept loop waiting for a free connection slot
      }
      listener.close();  // wakes the accept
      thread.join();
      // Connections in progress end: each is done within a step, or its handler returns.
      std::unique_lock guard(serving->m);
      serving->cv.wait(guard, [&] { return serving->active == 0; });
    }
    listener = LocalMessageListener();  // the socket file goes before the lock
    lock.release();
  }

  // Tries to become the primary; on success, starts serving.
  void elect(std::error_code& ec) {
    lock = detail::elect_primary(
        options,
        [&](bool reclaim, std::error_code& e) {
          listener = LocalMessageListener::bind(ListenerOptions(options.name())
                                                    .reclaim_stale(reclaim)
                                                    .current_user_only(options.current_user_only()),
                                                e);
        },
        ec);
    if (!ec && lock.held()) thread = std::thread([this] { serve(); });
  }

  // The accept loop: each launch is served on a thread of its own, so that a silent
  // connection or a slow handler holds up no other launch's connection.
  void serve() {
    const std::shared_ptr<Serving> shared = serving;
    for (;;) {
      std::error_code ec;
      LocalMessageSocket s = listener.accept(ec);
      if (ec == errc::listener_closed) return;
      if (ec) {
        // Out of descriptors or a client that left: try again shortly.
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      std::unique_lock guard(shared->m);
      shared->cv.wait(guard, [&] {
        return shared->active < detail::instance_max_connections || shared->stopping;
      });
      if (shared->stopping) return;
      ++shared->active;
      guard.unlock();
      try {
        std::thread([shared, s = std::move(s)]() mutable {
          shared->serve_one(s);
          s = LocalMessageSocket();
          std::lock_guard done(shared->m);
          --shared->active;
          shared->cv.notify_all();
        }).detach();
      } catch (const std::system_error&) {
        // No thread to be had: this launch is let go (its sender tries again).
        std::lock_guard done(shared->m);
        --shared->active;
      }
    }
  }
};

SingleInstance::SingleInstance(const SingleInstanceOptions& options,
                               InstanceMessageHandler on_message, std::error_code& ec)
    : impl_(std::make_unique<Impl>(options)) {
  impl_->serving->handler = std::move(on_message);
  impl_->elect(ec);
}

SingleInstance::SingleInstance(const SingleInstanceOptions& options,
                               InstanceMessageHandler on_message) {
  std::error_code ec;
  *this = SingleInstance(options, std::move(on_message), ec);
  detail::throw_if(ec, "SingleInstance", options.name().str());
}

SingleInstance::~SingleInstance() = default;
SingleInstance::SingleInstance(SingleInstance&&) noexcept = default;
SingleInstance& SingleInstance::operator=(SingleInstance&&) noexcept = default;

bool SingleInstance::is_primary() const noexcept { return impl_ && impl_->lock.held(); }

void SingleInstance::send(std::string_view message, std::error_code& ec) {
  ec.clear();
  if (!impl_) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  if (is_primary()) {
    ec = make_error_code(errc::wrong_end);
    return;
  }
  // A primary that went away (quitting, or killed) leaves the name to the next launch:
  // this one takes part in the election again. Should another process win it, the
  // message goes to that one; the rounds are few, since every round but the last has
  // seen another primary win.
  for (int round = 0; round < 3; ++round) {
    detail::send_to_primary(impl_->options, message, ec);
    if (ec != errc::no_listener) return;
    std::error_code elect_ec;
    impl_->elect(elect_ec);
    if (elect_ec) {
      ec = elect_ec;
      return;
    }
    // Still no_listener: this process is the primary now, and its message was not sent.
    if (is_primary()) return;
  }
}

void SingleInstance::send(std::string_view message) {
  detail::or_throw("SingleInstance::send", name().str(), [&](auto& ec) { send(message, ec); });
}

const LocalName& SingleInstance::name() const noexcept {
  static const LocalName none;
  return impl_ ? impl_->options.name() : none;
}

}  // namespace localsock
