// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/export.hpp>

#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <system_error>

namespace localsock {

namespace detail {
class NameText;
}

/// What kind of name a LocalName is.
enum class NameKind {
  /// A filesystem path (a Unix socket file). Not supported by the Windows backend.
  path,
  /// A name in the platform's namespace for local sockets: the Linux abstract
  /// namespace, `\\.\pipe\NAME` on Windows, and on other Unix systems a socket file
  /// under `$XDG_RUNTIME_DIR` (else the temporary directory).
  namespaced,
};

/// Which kinds of name this platform supports natively.
struct LOCALSOCK_API NameSupport {
  bool path = false;        ///< Filesystem-path names.
  bool namespaced = false;  ///< Namespaced names that leave nothing in the filesystem.
};

/// A validated name of a local socket: a value type, cheap to copy.
///
/// Construct it with `LocalName::path()` or `LocalName::namespaced()`; both validate the
/// name for this platform and report a clear error (`errc::invalid_name`,
/// `errc::name_too_long`, `errc::not_supported`) instead of failing later.
/// @par Thread Safety: distinct objects are independent; a shared object may be read
/// from several threads.
class LOCALSOCK_API LocalName {
 public:
  /// A filesystem-path name, such as `/run/user/1000/app.sock`.
  /// @throws localsock::Error on an empty name, an embedded NUL, a path longer than
  /// `sun_path` allows (the message states the limit), or on Windows (not supported).
  static LocalName path(std::string_view path);
  /// As above, reporting through `ec`; returns an empty LocalName on error.
  static LocalName path(std::string_view path, std::error_code& ec);

  /// A namespaced name, such as `app-control`.
  /// @throws localsock::Error on an empty name, an embedded NUL, a name too long for the
  /// platform, or a character the platform forbids (`\` in a Windows pipe name).
  /// @note Windows: `name` may also be a full pipe path `\\.\pipe\NAME` or
  /// `\\host\pipe\NAME`. Pipe names are case-insensitive. A name that Win32 would
  /// rewrite before it reaches the pipe file system is refused (`errc::invalid_name`):
  /// one with `/`, one ending in `.` or a space (so also `.` and `..`), and the
  /// `\\?\pipe\` form, which WaitNamedPipe does not take; otherwise `name.` would
  /// reach the pipe `name`.
  static LocalName namespaced(std::string_view name);
  /// As above, reporting through `ec`; returns an empty LocalName on error.
  static LocalName namespaced(std::string_view name, std::error_code& ec);

  /// A name only the current user's processes can hold or reach, for `app` (an
  /// application id such as `org.example.editor`). Client and listener both call it.
  /// @note POSIX: a socket file `<dir>/<app>.sock` (kind `path`) in a private directory
  /// chosen from the user id alone, never from the environment, so that every process
  /// of the user (a desktop launch, cron, `sudo -u`, `env -i`) computes the same name:
  /// `/run/user/<uid>/localsock` when `/run/user/<uid>` (systemd-logind's runtime
  /// directory, which `$XDG_RUNTIME_DIR` names in a session) is a directory of this
  /// user that nobody else may enter; on macOS the per-user temporary directory the
  /// system gives the user (`confstr(_CS_DARWIN_USER_TEMP_DIR)`, `/var/folders/...`),
  /// `localsock` in it; else `/tmp/localsock-<uid>`. The directory is created with mode
  /// 0700 (set outright, whatever the umask; one of the user's that lacks owner rights
  /// but is closed to others is repaired) without following a symbolic link, and refused
  /// (`errc::access_denied`) unless it is a directory of this user with no access for
  /// group or others; the directory above it must be one where nobody else can replace
  /// it (this user's or root's, and not writable by others, or sticky like /tmp).
  /// @note Windows: a pipe (kind `namespaced`) `localsock-<SID>-<app>`: pipe names are
  /// global across sessions, so the user's SID is part of the name.
  /// @note Length and spelling, the same rule on every platform: `app` is used as given
  /// when it is made of lowercase ASCII letters, digits, `.`, `_` and `-`, neither
  /// starts nor ends with `.`, does not end as the hashed form does (`-` and 16
  /// lowercase hex digits), and the whole name fits the platform's limit; otherwise it
  /// is replaced by up to 32 of its letters, digits, `.`, `_` and `-`, then `-` and 16
  /// hex digits of its 64-bit FNV-1a hash. So any id gives a valid name
  /// (`errc::name_too_long` only when not even the hash fits), distinct ids give
  /// distinct names (ids differing only in case too, although Windows pipe names
  /// ignore case: an id with an uppercase letter is hashed), and no id's name is
  /// another id's per-user or per-session name.
  /// Listeners on such a name default to `current_user_only` (Windows: a descriptor
  /// granting this user alone), and so do clients (the server's user is checked).
  /// @throws localsock::Error on an empty `app`, a directory that is not private, or a
  /// system error.
  static LocalName per_user(std::string_view app);
  /// As above, reporting through `ec`; returns an empty LocalName on error.
  static LocalName per_user(std::string_view app, std::error_code& ec);

  /// As per_user(), one name per login session of the user, for applications that want
  /// one instance per session.
  /// @note Windows: `localsock-<SID>+s<session id>-<app>` (the `+` is where no
  /// per-user name has one).
  /// @note POSIX: `<dir>/<app>+s<session id>.sock`, the session id taken from
  /// `$XDG_SESSION_ID` (systemd-logind); without it, the same name as per_user() (Unix
  /// has no session namespace of its own).
  static LocalName per_session(std::string_view app);
  /// As above, reporting through `ec`; returns an empty LocalName on error.
  static LocalName per_session(std::string_view app, std::error_code& ec);

  /// Kinds of name that this platform supports natively.
  static NameSupport supported() noexcept;

  /// An empty name (not usable for binding or connecting).
  LocalName() = default;

  /// The kind of name.
  NameKind kind() const noexcept { return kind_; }
  /// The name as given, without any platform prefix.
  const std::string& str() const noexcept { return name_ ? *name_ : empty_text(); }
  /// True for a default-constructed (invalid) name.
  bool empty() const noexcept { return !name_ || name_->empty(); }
  /// True for a name made by per_user() or per_session(). A name rebuilt from its text
  /// (`LocalName::path(n.str())`, `namespaced(n.str())`) is a plain name: false, so
  /// listeners and clients on it are no longer current-user-only by default (keep the
  /// LocalName, or set `current_user_only(true)`).
  bool is_per_user() const noexcept { return per_user_; }

  /// The name as the operating system sees it: the path; `@name` for a Linux abstract
  /// name (the leading NUL shown as `@`, as `ss` does); `\\.\pipe\name` on Windows; the
  /// socket-file path where a namespaced name maps to a file.
  std::string native() const;

  /// Whether two names name the same object on this platform.
  /// @note Windows: pipe names are case-insensitive, so `App` and `app` are equal (and
  /// reach the same pipe), as are a bare name and its `\\.\pipe\` path.
  /// @note POSIX: names are byte strings, equal when spelled the same.
  friend LOCALSOCK_API bool operator==(const LocalName& a, const LocalName& b);

 private:
  friend class detail::NameText;
  LocalName(NameKind kind, std::string name)
      : name_(std::make_shared<const std::string>(std::move(name))), kind_(kind) {}
  static const std::string& empty_text() noexcept;

  // Shared and never changed: a copy of a name (each socket keeps its own) costs a
  // reference count, not an allocation.
  std::shared_ptr<const std::string> name_;
  NameKind kind_ = NameKind::namespaced;
  bool per_user_ = false;  // next to kind_: a LocalName is 24 bytes, not 32
};

namespace detail {

/// The text a socket object keeps of its name, for name() and its error messages:
/// shared with the LocalName it was connected or accepted through (a reference count,
/// no copy), or a text of its own (a descriptor adopted with a name).
class NameText {
 public:
  NameText() noexcept = default;
  /// Shares `name`'s text.
  explicit NameText(const LocalName& name) noexcept : text_(name.name_) {}
  /// A text of its own: one allocation unless empty. Without memory for it the socket
  /// has no name (the text only labels messages; nothing depends on it).
  explicit NameText(std::string text) noexcept {
    if (text.empty()) return;
    try {
      text_ = std::make_shared<const std::string>(std::move(text));
    } catch (const std::bad_alloc&) {  // NOLINT(bugprone-empty-catch): documented above
    }
  }
  const std::string& str() const noexcept { return text_ ? *text_ : LocalName::empty_text(); }

 private:
  std::shared_ptr<const std::string> text_;
};

}  // namespace detail

}  // namespace localsock
