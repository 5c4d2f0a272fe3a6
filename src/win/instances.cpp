// SPDX-License-Identifier: MIT
// A listener's pipe instances: creating them under the instance limit, the keeper
// instance that holds the name, and closing them all.
#include "listener_state.hpp"

#include <algorithm>
#include <utility>

#include "../common/log.hpp"
#include "sys.hpp"
#include "win_error.hpp"

namespace localsock::win::detail {

void InstanceSlot::reset() noexcept {
  if (semaphore_ != nullptr) ::ReleaseSemaphore(std::exchange(semaphore_, nullptr), 1, nullptr);
  owner_.reset();
}

InstanceSlot slot_token(const std::shared_ptr<InstanceSlots>& slots) noexcept {
  if (!slots) return {};
  return {slots, slots->semaphore.get()};
}

PipeListenerCore::State::~State() { shut(); }

HANDLE PipeListenerCore::State::create_instance(bool first, std::error_code& ec) noexcept {
  SECURITY_ATTRIBUTES sa{sizeof sa, descriptor.get(), inheritable ? TRUE : FALSE};
  first = first && first_instance;
  const DWORD mode = open_mode | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
  HANDLE h = sys::create_named_pipe(path.c_str(), mode, pipe_mode, max_instances, out_buffer,
                                    in_buffer, default_timeout, &sa);
  if (h != INVALID_HANDLE_VALUE) return h;
  const DWORD err = ::GetLastError();
  // For the first instance, access denied means another process owns the name
  // (FILE_FLAG_FIRST_PIPE_INSTANCE) and busy means its instance limit is reached.
  if (first && (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY))
    ec = make_error_code(errc::name_in_use);
  else
    ec = error_of(err);
  return nullptr;
}

void PipeListenerCore::State::shut() noexcept {
  const bool closing = gate.close([this] {
    if (stop_event) ::SetEvent(stop_event.get());
  });
  if (!closing) return;
  localsock::detail::log(LogLevel::debug, "closed listener '", name.str(), "'");
  if (pending) {
    if (connecting) {
      ::CancelIoEx(pending.get(), &connect_ov);
      DWORD n = 0;
      ::GetOverlappedResult(pending.get(), &connect_ov, &n, TRUE);
      connecting = false;
    }
    pending.reset();
    if (slots) ::ReleaseSemaphore(slots->semaphore.get(), 1, nullptr);
  }
  drop_keeper();
}

void PipeListenerCore::State::keep_name(std::error_code& ec) noexcept {
  for (int attempt = 0; attempt < 3; ++attempt) {
    // Every attempt is a first instance: the previous one is closed, and the name is
    // free for anyone until this one exists. (Windows enforces the flag; Wine does not.)
    UniqueHandle server(create_instance(true, ec));
    if (!server) {
      if (ec != errc::name_in_use)
        ec.clear();  // a failure here is the listener's only as a squatter
      return;
    }
    // The client end is never used, only held: it asks for as little as the pipe's
    // descriptor may grant (an access check that asks for nothing may be refused), then
    // for the data access of the pipe's direction. (CreateFileW itself, not
    // sys::create_file: a fault armed for a connecting client is meant for that client.)
    HANDLE client =
        ::CreateFileW(path.c_str(), FILE_READ_ATTRIBUTES, 0, nullptr, OPEN_EXISTING, 0, nullptr);
    if (client == INVALID_HANDLE_VALUE && ::GetLastError() == ERROR_ACCESS_DENIED) {
      const DWORD data =
          (open_mode & PIPE_ACCESS_DUPLEX) == PIPE_ACCESS_INBOUND ? GENERIC_WRITE : GENERIC_READ;
      client = ::CreateFileW(path.c_str(), data, 0, nullptr, OPEN_EXISTING, 0, nullptr);
    }
    UniqueHandle client_end(client == INVALID_HANDLE_VALUE ? nullptr : client);
    ULONG pid = 0;
    if (client_end && ::GetNamedPipeClientProcessId(server.get(), &pid) &&
        pid == ::GetCurrentProcessId()) {
      keeper_server = std::move(server);
      keeper_client = std::move(client_end);
      return;
    }
  }
  localsock::detail::log(LogLevel::debug, "no keeper instance for '", name.str(),
                         "': its name may be gone between connections");
}

void PipeListenerCore::State::drop_keeper() noexcept {
  keeper_client.reset();
  keeper_server.reset();
}

bool PipeListenerCore::State::take_slot(DWORD wait, std::error_code& ec) noexcept {
  if (!slots) return true;
  HANDLE events[2] = {stop_event.get(), slots->semaphore.get()};
  const DWORD r = ::WaitForMultipleObjects(2, events, FALSE, wait);
  if (r == WAIT_OBJECT_0 + 1) return true;
  if (r == WAIT_OBJECT_0)
    ec = make_error_code(errc::listener_closed);
  else if (r == WAIT_TIMEOUT)
    ec = make_error_code(nonblocking ? errc::would_block : errc::timed_out);
  else
    ec = last_error();
  return false;
}

void PipeListenerCore::State::make_pending(bool first, DWORD wait, std::error_code& ec) noexcept {
  const ULONGLONG start = ::GetTickCount64();
  if (!take_slot(wait, ec)) return;
  pending.reset(create_instance(first, ec));
  // Windows counts the instances itself: a server handle given away by release() (or
  // a server sharing the name, with first_instance(false)) holds its instance until
  // that handle is closed, though our count has it free. Wait for it, in slices, as
  // long as this accept may wait, rather than fail with ERROR_PIPE_BUSY.
  while (!pending && !first && ec == std::error_code(ERROR_PIPE_BUSY, std::system_category())) {
    const ULONGLONG waited = ::GetTickCount64() - start;
    const DWORD slice = wait == INFINITE ? 20
                        : waited >= wait
                            ? 0
                            : static_cast<DWORD>(std::min<ULONGLONG>(20, wait - waited));
    if (slice == 0) {
      ec = make_error_code(nonblocking ? errc::would_block : errc::timed_out);
      break;
    }
    if (::WaitForSingleObject(stop_event.get(), slice) == WAIT_OBJECT_0) {
      ec = make_error_code(errc::listener_closed);
      break;
    }
    ec.clear();
    pending.reset(create_instance(false, ec));
  }
  if (!pending && slots) ::ReleaseSemaphore(slots->semaphore.get(), 1, nullptr);
}

}  // namespace localsock::win::detail
