// SPDX-License-Identifier: MIT
// The listener: creating it from its options, and accepting clients.
#include <localsock/win/pipe_identity.hpp>
#include <localsock/win/pipe_listener.hpp>

#include <windows.h>

#include <algorithm>
#include <chrono>

#include "../common/deadline.hpp"
#include "../common/log.hpp"
#include "listener_state.hpp"
#include "overlapped.hpp"
#include "pipe_name.hpp"
#include "sys.hpp"
#include "win_error.hpp"

namespace localsock::win::detail {

// ---- creating -----------------------------------------------------------------------

void PipeListenerCore::State::configure(const PipeListenerOptions& options, bool read, bool write,
                                        bool message_read, bool message_write) {
  name = options.name();
  path = widen(pipe_path(name.str()));
  const PipeStreamRole role = read && write ? PipeStreamRole::ReaderAndWriter
                              : read        ? PipeStreamRole::Reader
                                            : PipeStreamRole::Writer;
  open_mode = FILE_FLAG_OVERLAPPED | (options.write_through() ? FILE_FLAG_WRITE_THROUGH : 0) |
              to_pipe_access(direction_as_server(role));
  const bool message_type = message_read || message_write;
  const auto mode_of = [](bool messages) {
    return messages ? PipeMode::Messages : PipeMode::Bytes;
  };
  pipe_mode = to_pipe_type(mode_of(message_type)) | to_read_mode(mode_of(message_read)) |
              PIPE_WAIT |
              (options.accept_remote() ? PIPE_ACCEPT_REMOTE_CLIENTS : PIPE_REJECT_REMOTE_CLIENTS);
  in_buffer = options.input_buffer_size_hint();
  out_buffer = options.output_buffer_size_hint();
  default_timeout = std::max<DWORD>(1, timeout_ms(options.wait_timeout()));
  inheritable = options.inheritable();
  nonblocking = options.nonblocking();
  first_instance = options.first_instance();
}

void PipeListenerCore::State::limit_instances(std::optional<std::uint8_t> limit,
                                              std::error_code& ec) {
  if (!limit) return;
  if (*limit == 0) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return;
  }
  // One instance more than the limit: the keeper (see State::keep_name).
  max_instances = *limit + 1u < PIPE_UNLIMITED_INSTANCES ? *limit + 1u : PIPE_UNLIMITED_INSTANCES;
  slots = std::make_shared<InstanceSlots>(*limit);
  if (!slots->semaphore) ec = last_error();
}

void PipeListenerCore::State::set_access(const PipeListenerOptions& options, std::error_code& ec) {
  std::string sddl = options.security_descriptor();
  if (options.current_user_only()) {
    if (!sddl.empty()) {  // two access policies: say so rather than pick one
      ec = std::make_error_code(std::errc::invalid_argument);
      return;
    }
    user_sid = current_user_sid(ec);
    if (ec) return;
    sddl = user_only_sddl(user_sid);
  }
  // No policy given: the creating user, SYSTEM and Administrators only (the system's
  // default DACL would let every local user read).
  if (sddl.empty() && !default_pipe_sddl(sddl, ec)) return;
  if (!sddl.empty()) descriptor = descriptor_from_sddl(sddl, ec);
}

void PipeListenerCore::State::make_events(std::error_code& ec) {
  connect_event.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
  stop_event.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!connect_event || !stop_event) ec = last_error();
}

// FILE_FLAG_FIRST_PIPE_INSTANCE makes Windows refuse a name another process already
// serves. Wine does not enforce that flag, so ask first whether a pipe of this name
// exists: WaitNamedPipe fails with ERROR_FILE_NOT_FOUND only when none does, and
// unlike opening the pipe it takes no instance from the live server.
// Only a pipe that exists makes the name in use: WaitNamedPipe succeeds (an instance
// is free) or times out (every instance is busy). Any other failure (a bad path, a
// remote name) is reported as it is.
void PipeListenerCore::State::check_name_free(std::error_code& ec) const {
  const DWORD err = ::WaitNamedPipeW(path.c_str(), 1) ? ERROR_SUCCESS : ::GetLastError();
  if (err == ERROR_SUCCESS || err == ERROR_SEM_TIMEOUT || err == ERROR_PIPE_BUSY)
    ec = make_error_code(errc::name_in_use);
  else if (err != ERROR_FILE_NOT_FOUND)
    ec = error_of(err);
}

PipeListenerCore::PipeListenerCore() noexcept = default;
PipeListenerCore::PipeListenerCore(PipeListenerCore&&) noexcept = default;
PipeListenerCore& PipeListenerCore::operator=(PipeListenerCore&&) noexcept = default;
PipeListenerCore::~PipeListenerCore() = default;

PipeListenerCore PipeListenerCore::create(const PipeListenerOptions& options, bool read, bool write,
                                          bool message_read, bool message_write,
                                          std::error_code& ec) {
  PipeListenerCore core = create_unlogged(options, read, write, message_read, message_write, ec);
  localsock::detail::log_step("listen on", options.name().str(), ec);
  return core;
}

PipeListenerCore PipeListenerCore::create_unlogged(const PipeListenerOptions& options, bool read,
                                                   bool write, bool message_read,
                                                   bool message_write, std::error_code& ec) {
  ec.clear();
  const LocalName& name = options.name();
  if (name.empty() || name.kind() != NameKind::namespaced) {
    ec = make_error_code(name.empty() ? errc::invalid_name : errc::not_supported);
    return {};
  }
  auto s = std::make_unique<State>();
  s->configure(options, read, write, message_read, message_write);
  s->limit_instances(options.instance_limit(), ec);
  if (!ec) s->set_access(options, ec);
  if (!ec) s->make_events(ec);
  if (!ec && s->first_instance) s->check_name_free(ec);
  if (!ec && s->slots && s->first_instance) s->keep_name(ec);
  if (!ec) s->make_pending(!s->keeper_server, 0, ec);
  if (ec) return {};
  PipeListenerCore core;
  core.state_ = std::move(s);
  return core;
}

// ---- accepting ----------------------------------------------------------------------

PipeCore PipeListenerCore::take_instance(std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  if (s == nullptr || s->gate.closed()) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  std::lock_guard serial(s->accept_mutex);
  if (!s->pending) {
    s->make_pending(false, 0, ec);
    if (ec) {
      if (ec == errc::timed_out) ec = make_error_code(errc::would_block);
      return {};
    }
  }
  PipeCore core(s->pending.release(), true, localsock::detail::NameText(s->name));
  core.hold_slot(slot_token(s->slots));
  return core;
}

bool PipeListenerCore::admits(const PipeCore& server) const {
  if (!state_ || state_->user_sid.empty()) return true;
  if (sys::foreign_user()) return false;
  std::error_code ec;
  return server.peer_user_sid(ec) == state_->user_sid && !ec;
}

PipeCore PipeListenerCore::accept(Timeout timeout, std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  if (s == nullptr) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  // Everything below, the returned core and the log lines included, happens inside the
  // gate: once the pass is gone, a close() from another thread may return and the
  // listener be destroyed.
  localsock::detail::AcceptGate::Pass pass(s->gate);
  if (!pass) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  // One deadline for the whole accept: a refused client (current_user_only) does not
  // restart the timeout, however many come.
  const auto deadline =
      localsock::detail::deadline_after(std::clamp(timeout, Timeout::zero(), longest_wait));
  for (;;) {
    const Timeout left =
        timeout < Timeout::zero()
            ? timeout
            : std::max(std::chrono::ceil<Timeout>(deadline - std::chrono::steady_clock::now()),
                       Timeout::zero());
    PipeCore core = accept_one(left, ec);
    if (ec != errc::would_block && ec != errc::timed_out)
      localsock::detail::log_step("accept on", s->name.str(), ec);
    // current_user_only: the descriptor keeps others out where DACLs are enforced; this
    // check also holds where they are not.
    if (ec || admits(core)) return core;
    localsock::detail::log(LogLevel::debug, "refused a client of another user on '", s->name.str(),
                           "' (current_user_only)");
    std::error_code ignored;
    core.disconnect(ignored);
  }
}

AcceptClock::AcceptClock(bool nonblocking, Timeout timeout) noexcept
    : forever_(!nonblocking && timeout < Timeout::zero()),
      deadline_(localsock::detail::deadline_after(
          nonblocking ? Timeout::zero() : std::clamp(timeout, Timeout::zero(), longest_wait))) {}

DWORD AcceptClock::left_ms() const noexcept {
  if (forever_) return INFINITE;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now());
  return static_cast<DWORD>(
      std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, INFINITE - 1));
}

bool PipeListenerCore::State::take_turn(std::unique_lock<std::timed_mutex>& serial,
                                        const AcceptClock& clock, std::error_code& ec) {
  if (clock.forever()) {
    serial.lock();
  } else if (!serial.try_lock_until(clock.deadline())) {
    ec = make_error_code(nonblocking ? errc::would_block : errc::timed_out);
    return false;
  }
  if (gate.closed()) ec = make_error_code(errc::listener_closed);
  return !ec;
}

PipeListenerCore::State::ConnectStart PipeListenerCore::State::start_connect(
    std::error_code& ec) noexcept {
  connect_ov = OVERLAPPED{};
  connect_ov.hEvent = connect_event.get();
  ::ResetEvent(connect_event.get());
  if (sys::connect_named_pipe(pending.get(), &connect_ov)) return ConnectStart::connected;
  const DWORD err = ::GetLastError();
  // ERROR_PIPE_CONNECTED: the client connected between CreateNamedPipe and
  // ConnectNamedPipe.
  if (err == ERROR_PIPE_CONNECTED) return ConnectStart::connected;
  if (err == ERROR_NO_DATA) {
    // A client connected and left before we got to it: reset the instance.
    ::DisconnectNamedPipe(pending.get());
    return ConnectStart::again;
  }
  if (err != ERROR_IO_PENDING) {
    ec = error_of(err);
    return ConnectStart::failed;
  }
  connecting = true;
  return ConnectStart::pending;
}

bool PipeListenerCore::State::wait_connect(DWORD ms, std::error_code& ec) noexcept {
  HANDLE events[2] = {connect_event.get(), stop_event.get()};
  const DWORD r = ::WaitForMultipleObjects(2, events, FALSE, ms);
  if (r == WAIT_OBJECT_0 + 1) {
    ec = make_error_code(errc::listener_closed);
  } else if (r == WAIT_TIMEOUT) {
    // The connect stays pending; the next accept goes on waiting for it.
    ec = make_error_code(nonblocking ? errc::would_block : errc::timed_out);
  } else if (r != WAIT_OBJECT_0) {
    ec = last_error();
  } else {
    connecting = false;
    DWORD n = 0;
    if (::GetOverlappedResult(pending.get(), &connect_ov, &n, FALSE)) return true;
    if (::GetLastError() == ERROR_NO_DATA)
      ::DisconnectNamedPipe(pending.get());  // the client left: wait for the next
    else
      ec = last_error();
  }
  return false;
}

HANDLE PipeListenerCore::State::connect_client(const AcceptClock& clock,
                                               std::error_code& ec) noexcept {
  while (!ec) {
    if (!pending) {
      // Under an instance limit, this waits until a live connection closes.
      make_pending(false, clock.left_ms(), ec);
      if (ec) break;
    }
    if (!connecting) {
      const ConnectStart started = start_connect(ec);
      if (started == ConnectStart::connected) return pending.release();
      if (started == ConnectStart::again) continue;
      if (started == ConnectStart::failed) break;
    }
    if (wait_connect(clock.left_ms(), ec)) return pending.release();
  }
  return nullptr;
}

// Called inside the gate (by accept).
PipeCore PipeListenerCore::accept_one(Timeout timeout, std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  // Every wait of this accept (its turn, a place under the instance limit, a client)
  // takes only the time left before one deadline.
  const AcceptClock clock(s->nonblocking, timeout);
  std::unique_lock serial(s->accept_mutex, std::defer_lock);
  if (!s->take_turn(serial, clock, ec)) return {};
  HANDLE connected = s->connect_client(clock, ec);
  if (connected == nullptr) return {};
  // Have the next instance ready before handing this one over, so that clients keep
  // finding the pipe. If that fails, the next accept tries again.
  if (!s->pending) {
    std::error_code ignored;
    s->make_pending(false, 0, ignored);
  }
  serial.unlock();
  PipeCore core(connected, true, localsock::detail::NameText(s->name));
  core.hold_slot(slot_token(s->slots));
  return core;
}

void PipeListenerCore::set_nonblocking(bool on) noexcept {
  if (state_) state_->nonblocking = on;
}

void PipeListenerCore::close() noexcept {
  if (state_) state_->shut();
}

bool PipeListenerCore::is_open() const noexcept { return state_ && !state_->gate.closed(); }

const LocalName& PipeListenerCore::name() const noexcept {
  static const LocalName none;
  return state_ ? state_->name : none;
}

}  // namespace localsock::win::detail
