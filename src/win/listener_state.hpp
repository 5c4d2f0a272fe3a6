// SPDX-License-Identifier: MIT
#pragma once

// The state of a pipe listener: its settings, the instance that waits for the next
// client, and the places under its instance limit. Shared by pipe_listener.cpp (create
// and accept) and instances.cpp (making and closing instances).

#include <localsock/win/pipe_listener.hpp>
#include <localsock/win/unique_handle.hpp>

#include <windows.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>

#include "../common/accept_gate.hpp"
#include "security.hpp"

namespace localsock::win::detail {

// The free places under an instance limit: a semaphore counting the instances that may
// still be created. An instance takes a place when it is created and gives it back when
// its handle closes, in the listener or in the server stream it became.
struct InstanceSlots {
  UniqueHandle semaphore;
  explicit InstanceSlots(LONG n) noexcept : semaphore(::CreateSemaphoreW(nullptr, n, n, nullptr)) {}
};

// What a server stream holds to give its place back when it closes (no allocation).
InstanceSlot slot_token(const std::shared_ptr<InstanceSlots>& slots) noexcept;

// The time an accept may wait: every wait of it (its turn, a place under the instance
// limit, a client) takes only the time left before one deadline.
class AcceptClock {
 public:
  using Clock = std::chrono::steady_clock;
  AcceptClock(bool nonblocking, Timeout timeout) noexcept;
  bool forever() const noexcept { return forever_; }
  Clock::time_point deadline() const noexcept { return deadline_; }
  // The milliseconds left, for a Win32 wait (INFINITE when the accept waits forever).
  DWORD left_ms() const noexcept;

 private:
  bool forever_;
  Clock::time_point deadline_;
};

struct PipeListenerCore::State {
  LocalName name;
  std::wstring path;
  DWORD open_mode = 0;
  DWORD pipe_mode = 0;
  DWORD max_instances = PIPE_UNLIMITED_INSTANCES;
  DWORD in_buffer = 0;
  DWORD out_buffer = 0;
  DWORD default_timeout = 0;
  LocalMemory descriptor;  // the instances' security descriptor, or none: the default
  bool inheritable = false;
  std::shared_ptr<InstanceSlots> slots;  // set when there is an instance limit
  bool first_instance = true;
  std::string user_sid;  // set when only this user's clients are accepted
  std::atomic<bool> nonblocking{false};

  // The instance waiting for the next client, and its overlapped ConnectNamedPipe.
  UniqueHandle pending;
  OVERLAPPED connect_ov{};
  bool connecting = false;
  UniqueHandle connect_event;
  UniqueHandle stop_event;

  // One accept at a time works on `pending`. Timed: an accept_for waiting for its turn
  // beside an accept() that waits for a client gives up at its own deadline.
  std::timed_mutex accept_mutex;
  localsock::detail::AcceptGate gate;

  ~State();

  // Creating (pipe_listener.cpp): the settings, the instance limit, the descriptor,
  // the events, and whether the name is free.
  void configure(const PipeListenerOptions& options, bool read, bool write, bool message_read,
                 bool message_write);
  void limit_instances(std::optional<std::uint8_t> limit, std::error_code& ec);
  void set_access(const PipeListenerOptions& options, std::error_code& ec);
  void make_events(std::error_code& ec);
  void check_name_free(std::error_code& ec) const;

  // Accepting (pipe_listener.cpp). take_turn waits for this accept's turn beside accepts
  // in other threads; connect_client waits for a client on the pending instance and
  // returns its handle, made by start_connect (ConnectNamedPipe) and wait_connect.
  enum class ConnectStart { connected, pending, again, failed };
  bool take_turn(std::unique_lock<std::timed_mutex>& serial, const AcceptClock& clock,
                 std::error_code& ec);
  HANDLE connect_client(const AcceptClock& clock, std::error_code& ec) noexcept;
  ConnectStart start_connect(std::error_code& ec) noexcept;
  bool wait_connect(DWORD ms, std::error_code& ec) noexcept;

  // Creates one instance of the pipe (the handle, or nullptr with `ec` set); `first`:
  // the listener's first, which claims the name (FILE_FLAG_FIRST_PIPE_INSTANCE).
  HANDLE create_instance(bool first, std::error_code& ec) noexcept;

  // Closes the listener: wakes every accept, ends the pending connect, gives its
  // place back. Idempotent; safe from any thread.
  void shut() noexcept;

  // Under an instance limit, the instance a connection used closes with it, and the
  // next is created only when an accept gets a free place: in between the pipe had no
  // instance at all, its name was gone, and a client arriving then got "no listener"
  // (ERROR_FILE_NOT_FOUND) at once, though the listener lives and its connect timeout
  // promised a wait. The keeper is one more instance, outside the limit, connected to a
  // client end the listener holds itself: while the listener lives the pipe always has
  // an instance, so such a client finds it busy and waits (WaitNamedPipe) like the
  // others, and a name nobody serves still fails at once. Creating it first makes it
  // the first instance (FILE_FLAG_FIRST_PIPE_INSTANCE); its client must be this
  // process's, or it is tried again (a client racing for the new name, or a server
  // sharing it, could take it). Without a keeper (its client end refused by the
  // descriptor, say), the listener works as before.
  // Only a listener that owns its name makes one (first_instance, the default): where
  // servers share a name on purpose, the keeper's client end could reach another
  // server's waiting instance, which would accept a client nobody made.
  UniqueHandle keeper_server;
  UniqueHandle keeper_client;

  void keep_name(std::error_code& ec) noexcept;
  void drop_keeper() noexcept;

  // Takes a place under the instance limit, waiting up to `wait` ms for one; false with
  // `ec` set when none came (or the listener was closed meanwhile).
  bool take_slot(DWORD wait, std::error_code& ec) noexcept;

  // Creates the instance that waits for the next client, if a place is free within
  // `wait` ms.
  void make_pending(bool first, DWORD wait, std::error_code& ec) noexcept;
};

}  // namespace localsock::win::detail
