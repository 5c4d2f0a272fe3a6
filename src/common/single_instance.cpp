// SPDX-License-Identifier: MIT
// SingleInstance, the blocking flavor, and what both flavors share: the election of
// the primary, a secondary's send, and the launch message.
#include <localsock/single_instance.hpp>

#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

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

void exchange(LocalMessageSocket& s, std::string_view message, Timeout left, std::error_code& ec) {
  s.set_write_timeout(left, ec);
  if (!ec) s.send(message, ec);
  if (!ec) s.set_read_timeout(left, ec);
  if (ec) return;
  std::string ack;
  const ReceiveResult r = s.recv(ack, 16, ec);
  if (ec == errc::timed_out) return;
  // A primary that closes without acknowledging did not take the message.
  if (ec || r.end || ack != instance_ack) ec = make_error_code(errc::peer_closed);
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
  const auto deadline = Clock::now() + (timed ? o.timeout() : Timeout::zero());
  auto left = [&]() -> Timeout {
    if (!timed) return infinite;
    const auto rest = std::chrono::ceil<Timeout>(deadline - Clock::now());
    return std::max(rest, Timeout(1));
  };
  for (;;) {
    LocalMessageSocket s = LocalMessageSocket::connect(
        ConnectOptions(o.name()).timeout(left()).current_user_only(o.current_user_only()), ec);
    if (!ec) {
      exchange(s, message, left(), ec);
      return;
    }
    if (!nobody_listens(ec)) return;
    if (no_primary(o.name())) {
      ec = make_error_code(errc::no_listener);
      return;
    }
    // The primary holds the lock and is about to listen.
    if (timed && Clock::now() >= deadline) {
      ec = make_error_code(errc::timed_out);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace detail

// ---- SingleInstance ---------------------------------------------------------------

struct SingleInstance::Impl {
  SingleInstanceOptions options;
  InstanceMessageHandler handler;
  detail::InstanceLock lock;
  LocalMessageListener listener;
  std::thread thread;

  explicit Impl(const SingleInstanceOptions& o) : options(o) {}
  ~Impl() {
    if (thread.joinable()) {
      listener.close();  // wakes the accept
      thread.join();
    }
    listener = LocalMessageListener();  // the socket file goes before the lock
    lock.release();
  }

  void serve() {
    for (;;) {
      std::error_code ec;
      LocalMessageSocket s = listener.accept(ec);
      if (ec == errc::listener_closed) return;
      if (ec) {
        // Out of descriptors or a client that left: try again shortly.
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      serve_one(s);
    }
  }

  // One launch's message. A client that says nothing is given up after the timeout.
  void serve_one(LocalMessageSocket& s) {
    std::error_code ec;
    const Timeout t = options.timeout() == infinite ? Timeout(5000) : options.timeout();
    s.set_read_timeout(t, ec);
    if (!ec) s.set_write_timeout(t, ec);
    std::string message;
    ReceiveResult r;
    if (!ec) r = s.recv(message, options.max_message_size(), ec);
    if (ec || r.end) return;
    std::error_code peer_ec;
    const PeerInfo sender = s.peer_info(peer_ec);
    try {
      handler(std::move(message), sender);
    } catch (...) {
      return;  // not acknowledged: the sender learns the message was not taken
    }
    s.send(detail::instance_ack, ec);
  }
};

SingleInstance::SingleInstance(const SingleInstanceOptions& options,
                               InstanceMessageHandler on_message, std::error_code& ec)
    : impl_(std::make_unique<Impl>(options)) {
  impl_->handler = std::move(on_message);
  Impl& impl = *impl_;
  impl.lock = detail::elect_primary(
      options,
      [&](bool reclaim, std::error_code& e) {
        impl.listener =
            LocalMessageListener::bind(ListenerOptions(options.name())
                                           .reclaim_stale(reclaim)
                                           .current_user_only(options.current_user_only()),
                                       e);
      },
      ec);
  if (!ec && impl.lock.held()) impl.thread = std::thread([&impl] { impl.serve(); });
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
  detail::send_to_primary(impl_->options, message, ec);
}

void SingleInstance::send(std::string_view message) {
  detail::or_throw("SingleInstance::send", name().str(), [&](auto& ec) { send(message, ec); });
}

const LocalName& SingleInstance::name() const noexcept {
  static const LocalName none;
  return impl_ ? impl_->options.name() : none;
}

}  // namespace localsock
