// SPDX-License-Identifier: MIT
#pragma once

// What the desktop-application features (per-user names, server checks, single
// instance) need of each platform. Defined once per platform (src/posix, src/win), as
// platform.hpp's functions are; shared helpers are defined in src/common.

#include <localsock/name.hpp>
#include <localsock/peer.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace localsock::detail {

/// A platform name for a per-user (or per-session) LocalName: its kind and its text.
struct PerUserName {
  NameKind kind = NameKind::namespaced;
  std::string name;
};

/// Computes the per-user name of `app` (`session`: one per login session), creating
/// what must exist for it (Unix: the private directory).
PerUserName per_user_name(std::string_view app, bool session, std::error_code& ec);

/// The part of a per-user name that stands for `app`, at most `room` bytes: `app` itself
/// when it is made of safe characters and fits, else a readable prefix and a hash (see
/// LocalName::per_user). Empty when not even the hash fits.
std::string per_user_leaf(std::string_view app, std::size_t room);

/// The directory a test put in place of the per-user base (testing::set_per_user_base;
/// always empty in a library built without the fault seam).
std::string per_user_base_override();

/// 64-bit FNV-1a of `data`.
std::uint64_t fnv1a64(std::string_view data) noexcept;

/// Whether `peer` runs as this process's user.
bool is_current_user(const PeerInfo& peer) noexcept;

/// An exclusive lock owned by this process while it lives (and released by the system
/// when it dies), one per name: the primary of a SingleInstance holds it.
class InstanceLock {
 public:
  InstanceLock() = default;
  InstanceLock(InstanceLock&& o) noexcept : handle_(o.handle_), held_(o.held_) {
    o.handle_ = invalid;
    o.held_ = false;
  }
  InstanceLock& operator=(InstanceLock&& o) noexcept {
    if (this != &o) {
      release();
      handle_ = o.handle_;
      held_ = o.held_;
      o.handle_ = invalid;
      o.held_ = false;
    }
    return *this;
  }
  ~InstanceLock() { release(); }

  /// A lock held without a lock object (see real()).
  static InstanceLock held_by_name() noexcept {
    InstanceLock l;
    l.held_ = true;
    return l;
  }

  /// Tries to take the lock of `name` without waiting. Returns a held lock, or one not
  /// held (another process holds it; `ec` clear), or reports an error.
  static InstanceLock try_acquire(const LocalName& name, std::error_code& ec);

  bool held() const noexcept { return held_; }
  /// Whether a lock object backs it (else the name itself is the lock: a Linux abstract
  /// name, which the kernel frees with its process).
  bool real() const noexcept { return handle_ != invalid; }
  void release() noexcept;

 private:
  static constexpr std::intptr_t invalid = -1;
  std::intptr_t handle_ = invalid;  // a descriptor (Unix) or a HANDLE (Windows)
  bool held_ = false;
};

}  // namespace localsock::detail
