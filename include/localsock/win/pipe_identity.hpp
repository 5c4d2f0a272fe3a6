// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Who is at the other end: the current user's SID and client impersonation.

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/win/pipe_types.hpp>
#include <localsock/win/unique_handle.hpp>

#include <string>
#include <system_error>
#include <utility>

namespace localsock::win {

/// This process's user as a SID string (`S-1-5-21-...`), to compare with a peer's.
LOCALSOCK_API std::string current_user_sid(std::error_code& ec);

/// While alive, the calling thread acts as the client of a server pipe stream
/// (ImpersonateNamedPipeClient); the destructor gives the thread back the token it had
/// before (none: RevertToSelf). Create and destroy it on the same thread. Guards nest:
/// an inner guard's end returns the thread to the outer guard's client, and assigning a
/// new guard to an active one (`g = s.impersonate_client()`) leaves the thread acting as
/// the new client, and returns it, when `g` ends, to what it had before `g`. The level of access is
/// what the client allowed when it connected: localsock clients allow identification only unless
/// they opt in. Other calls on the thread keep the impersonation: `client_user_sid()` and
/// `peer_user_sid()` give the thread back the token it had.
/// @note A failed RevertToSelf leaves the thread acting as the client. `revert(ec)`
/// reports it and stays active (try again, or stop the thread); the destructor, which
/// cannot report, calls std::terminate, as Microsoft says a process must not go on in
/// the client's context.
// [[nodiscard]] sits on impersonate_client(), the one function that returns a guard: GCC
// takes no standard attribute beside LOCALSOCK_API's __declspec / __attribute__ here.
class LOCALSOCK_API PipeImpersonation {
 public:
  PipeImpersonation() noexcept = default;
  PipeImpersonation(PipeImpersonation&& other) noexcept = default;
  PipeImpersonation& operator=(PipeImpersonation&& other) noexcept {
    if (this == &other) return *this;
    if (active_ && other.active_) {
      // `other` began while this one was active (the usual `g = s.impersonate_client()`):
      // the thread acts as its client now, and what it saved is this guard's client.
      // Ending this guard first would drop the new impersonation; instead this guard
      // goes on with the new client and still returns the thread to what it saved.
      other.saved_.reset();
      other.active_ = false;
      return *this;
    }
    revert_or_terminate();
    active_ = std::move(other.active_);
    saved_ = std::move(other.saved_);
    return *this;
  }
  PipeImpersonation(const PipeImpersonation&) = delete;
  PipeImpersonation& operator=(const PipeImpersonation&) = delete;
  ~PipeImpersonation() { revert_or_terminate(); }

  /// Ends the impersonation now. Idempotent. On failure `ec` is set and active() stays
  /// true: the thread still acts as the client.
  void revert(std::error_code& ec) noexcept;
  /// As revert(ec); @throws localsock::Error when RevertToSelf fails.
  void revert() {
    localsock::detail::or_throw("PipeImpersonation::revert", {},
                                [&](std::error_code& ec) { revert(ec); });
  }
  bool active() const noexcept { return active_; }

 private:
  template <StreamMode, StreamMode>
  friend class BasicPipeStream;
  PipeImpersonation(bool active, void* saved) noexcept : active_(active), saved_(saved) {}
  void revert_or_terminate() noexcept;
  detail::ResetOnMove<bool> active_;
  UniqueHandle saved_;  // the thread's token before this guard, or none
};

}  // namespace localsock::win
