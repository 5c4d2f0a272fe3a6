// SPDX-License-Identifier: MIT
#pragma once

// What lsock needs from the operating system beyond localsock: a child process with
// piped standard input and output (--exec), the list of local sockets (ls), and raw
// standard streams. One implementation per platform.

#include <cstddef>
#include <memory>
#include <string>
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
  /// Waits for the child and returns its exit code.
  virtual int wait() = 0;
  virtual void kill() = 0;
};

/// One listening local socket of the system.
struct SocketEntry {
  std::string type;  // "stream", "seqpacket", "dgram", "pipe"
  std::string name;  // as a user would type it (@name for Linux abstract names)
};

/// The local sockets listening on this system, where the platform can tell.
std::vector<SocketEntry> list_sockets(std::string& error);

/// Puts standard input and output in binary mode (Windows) .
void binary_stdio();

/// Reads standard input; 0 at its end.
std::size_t read_stdin(std::byte* data, std::size_t n);

}  // namespace lsock
