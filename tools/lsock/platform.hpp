// SPDX-License-Identifier: MIT
#pragma once

// What lsock needs from the operating system beyond localsock: a child process with
// piped standard input and output (--exec), the list of local sockets (ls), and raw
// standard streams. One implementation per platform.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lsock {

/// A command run through the system shell with its standard input and output piped.
class ChildProcess {
 public:
  virtual ~ChildProcess() = default;
  /// Starts `command`; nullptr with `error` set when it cannot be started.
  static std::unique_ptr<ChildProcess> start(const std::string& command, std::string& error);
  /// Writes all of `data` to the child's standard input; false once it is gone.
  virtual bool write(const std::byte* data, std::size_t n) = 0;
  /// Reads the child's standard output; 0 at its end.
  virtual std::size_t read(std::byte* data, std::size_t n) = 0;
  /// Closes the child's standard input (it reads end of file).
  virtual void close_input() = 0;
  /// Closes our end of the child's standard output: a child still writing gets EPIPE
  /// (Unix: SIGPIPE unless it ignores it; Windows: ERROR_NO_DATA). Call once nothing
  /// reads it any more.
  virtual void close_output() = 0;
  /// Waits for the child and returns its exit code.
  virtual int wait() = 0;
  /// Waits up to `ms` for the child; its exit code, or nullopt while it still runs.
  virtual std::optional<int> wait_for(std::chrono::milliseconds ms) = 0;
  /// Asks the child to end (Unix: SIGTERM; Windows: TerminateProcess).
  virtual void terminate() = 0;
  virtual void kill() = 0;
};

/// Ends every child still running (lsock is being interrupted): Unix: SIGTERM to each
/// child's process group, SIGKILL after `grace`, all reaped; Windows: the job object all
/// children belong to is terminated (it also kills them if lsock dies: KILL_ON_JOB_CLOSE).
void end_all_children(std::chrono::milliseconds grace);

/// Ends a session's child: closes both its pipes, gives it `grace` to exit, then
/// terminates it (and, Unix, kills it after another `grace`); always reaps it.
void end_child(ChildProcess& child, std::chrono::milliseconds grace);

/// Ends a session's child while another thread may still be reading its output: closes
/// its input only, gives it `grace` to exit, then terminates it (Unix: and kills its
/// process group after another `grace`) and reaps it. Its output pipe stays open until
/// that reader is done (closing it under a blocked read could hand the descriptor
/// number to another session).
void stop_child(ChildProcess& child, std::chrono::milliseconds grace);

/// True when the peer of the connection `handle` has closed its end completely (it
/// neither sends nor receives any more). A peer that only ended its sending (a
/// half-close) is not closed. Unix: poll() reports POLLHUP; Windows: the pipe is broken.
bool peer_closed(int handle);
bool peer_closed(void* handle);

/// One listening local socket of the system.
struct SocketEntry {
  std::string type;  // "stream", "seqpacket", "dgram", "pipe"
  std::string name;  // as a user would type it (@name for Linux abstract names)
  /// The process holding it, where the system tells (Linux: from /proc/PID/fd, for the
  /// processes this user may look into; Windows: not shown).
  std::optional<long long> pid;
  std::string command;  // the process's command name, when `pid` is known
  std::string user;     // the process's user, when `pid` is known
};

/// The local sockets listening on this system, where the platform can tell. Linux:
/// from sock_diag (UNIX_DIAG), else from /proc/net/unix (parse_proc_net_unix).
std::vector<SocketEntry> list_sockets(std::string& error);

/// A named listening socket as the kernel reports it (Linux).
struct ProcNetUnixRecord {
  unsigned type;  // SOCK_STREAM, SOCK_SEQPACKET, ...
  unsigned long inode;
  std::string name;  // raw: an abstract name starts with a NUL byte
};

/// The named listening sockets in the text of /proc/net/unix (Linux; exposed for tests).
/// Never throws. A line that is not a record continues the previous name (names are
/// printed raw, newlines included); a record is kept only when `owned(inode)` (a process
/// holds it) and its inode is listed once, so a record forged inside a name is never kept.
std::vector<ProcNetUnixRecord> parse_proc_net_unix(std::string_view text,
                                                   const std::function<bool(unsigned long)>& owned);

/// The processes holding each Unix socket, by inode, from the /proc/PID/fd links
/// ("socket:[INODE]") of the processes this user may look into (Linux; exposed for
/// tests). What `ls` shows as a socket's owner, and what its /proc/net/unix fallback
/// trusts a record by.
std::map<unsigned long, long long> socket_owners();

/// Calls `stop` once, on a thread of its own, when the user interrupts lsock: SIGINT,
/// SIGTERM or SIGHUP (Unix); Ctrl-C, Ctrl-Break or closing the console (Windows).
/// `stop` receives the conventional exit status (128 + the signal number: 130 for
/// Ctrl-C, 143 for SIGTERM, 129 for SIGHUP) and ends the process. Unix: also ignores
/// SIGPIPE, so that writing to a reader that has gone is an error (EPIPE) for that
/// session only. Call before any other thread starts (the signals are blocked in every
/// thread but the one waiting for them; child processes get the defaults back).
void handle_interrupts(std::function<void(int status)> stop);

/// Opens the null device on standard input, output and error where they are closed, so
/// that no socket or pipe lsock opens takes their place (Unix; nothing on Windows).
/// @returns true when standard output was closed: output written there is then lost,
/// which the caller reports as a write error (EBADF), as the null device would not.
bool ensure_standard_streams();

/// Puts standard input and output in binary mode (Windows) .
void binary_stdio();

/// Writes `text` to standard error with one system call and no stdio lock (safe while
/// another thread is blocked inside stdio); errors are ignored.
void write_stderr_raw(std::string_view text);

/// Ends the process at once with `status`: no atexit handlers, no stdio flushing (whose
/// locks another thread may hold). Windows: TerminateProcess on itself, since
/// ExitProcess lets the C runtime flush its streams.
[[noreturn]] void exit_now(int status);

/// True where a connection can be half-closed (Unix sockets): the peer's end of sending
/// leaves our direction open. Windows named pipes have none: the peer's end is the end.
extern const bool has_half_close;

/// Why `lsock listen --reclaim PATH` could not take over what is at `path`, or empty when
/// it could (a socket file itself). Unix: a symbolic link is not followed (the library
/// refuses to reclaim one); Windows: empty (pipe names leave no file).
std::string reclaim_obstacle(const std::string& path);

/// True when a write to standard output that failed with `err` (errno) failed because
/// its reader has gone. Call right after the failure. Unix: EPIPE; Windows: also the
/// pipe errors the C runtime reports as EINVAL (ERROR_NO_DATA, ERROR_BROKEN_PIPE).
bool reader_left(int err);

/// Blocks until standard output's reader has gone (a pipe with no reader left, a
/// terminal hung up) and returns true; returns false at once where that cannot be
/// watched. Unix: poll() for POLLERR/POLLHUP (a file or the null device never reports
/// them: the call then blocks for good, on a thread of its own). Windows: false (an
/// anonymous pipe tells only at the next write).
bool wait_stdout_gone();

/// Reads standard input; 0 at its end.
std::size_t read_stdin(std::byte* data, std::size_t n);

}  // namespace lsock
