// SPDX-License-Identifier: MIT
// lsock: netcat for local sockets, the same on Linux and Windows. `lsock --help` (the
// text in help() below) and docs/lsock.1 describe every command and option.
//
// Data goes to stdout, nothing else; progress and errors go to stderr. Exit status: 0
// done, 1 failed, 2 bad usage, 128 + the signal when interrupted (130: Ctrl-C), after
// closing the listener (which removes its socket file).
#include <localsock/config.hpp>
#include <localsock/localsock.hpp>
#if defined(_WIN32)
#include <localsock/win/facade.hpp>
#else
#include <localsock/posix/facade.hpp>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <functional>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "listing.hpp"
#include "platform.hpp"
#include "report.hpp"

namespace {

using namespace localsock;

using lsock::note;
using lsock::Options;
using lsock::output_status;
using lsock::quiet;
using lsock::say_error;
using lsock::stdout_closed;

// How long a session's command gets to exit by itself once the session is over.
constexpr std::chrono::milliseconds child_grace{2'000};

// What an interrupt must close: the open listener, if any. The interrupt thread closes
// it (its socket file goes with it) and ends the process.
std::mutex stop_mutex;
std::function<void()> close_on_stop;

// Runs on the interrupt thread while other threads may be blocked inside stdio (a
// stalled standard output holds its lock in fwrite; note() holds stderr_mutex), so
// nothing here takes a stdio lock: the message is one write(2), the exit skips flushing.
void stop(int status) {
  std::lock_guard lock(stop_mutex);
  const bool listening = static_cast<bool>(close_on_stop);
  if (listening) close_on_stop();
  // The sessions' commands end with lsock (--fork has several).
  lsock::end_all_children(child_grace);
  if (!quiet)
    lsock::write_stderr_raw(listening ? "lsock: interrupted: listener closed\n"
                                      : "lsock: interrupted: done\n");
  lsock::exit_now(status);
}

// Registers `listener` for closing on an interrupt while it lives. Made while `bound`
// holds stop_mutex, taken before the bind: an interrupt between bind and registration
// waits for it (and then closes the listener). At the end the listener is closed (its
// file removed) before it is unregistered, under the same lock: an interrupt meanwhile
// waits for the removal instead of exiting with the file still there.
template <typename Listener>
class CloseOnStop {
 public:
  CloseOnStop(Listener& listener, std::unique_lock<std::mutex>& bound) : listener_(listener) {
    close_on_stop = [&listener] { listener.close(); };
    bound.unlock();
  }
  ~CloseOnStop() {
    std::lock_guard lock(stop_mutex);
    listener_.close();
    close_on_stop = nullptr;
  }
  CloseOnStop(const CloseOnStop&) = delete;
  CloseOnStop& operator=(const CloseOnStop&) = delete;

 private:
  Listener& listener_;
};

LocalName name_of(const std::string& text) {
  return text.find('/') != std::string::npos ? LocalName::path(text) : LocalName::namespaced(text);
}

// Set once lsock's standard output has gone: nothing can be delivered any more.
std::atomic<bool> stdout_gone{false};
// Why it went: the errno of the failed write, and whether its reader left (EPIPE).
std::atomic<int> stdout_error{0};
std::atomic<bool> stdout_reader_left{false};

// False when standard output cannot be written any more (its reader left: EPIPE, with
// SIGPIPE ignored; a full disk: ENOSPC; ...).
bool write_stdout(const std::byte* data, std::size_t n) {
  if (stdout_closed)
    errno = EBADF;
  else if (std::fwrite(data, 1, n, stdout) == n && std::fflush(stdout) == 0)
    return true;
  const int err = errno != 0 ? errno : EIO;
  stdout_reader_left = lsock::reader_left(err);
  stdout_error = err;
  stdout_gone = true;
  return false;
}

// ---- the two ends a connection is bridged to --------------------------------------

// Where data from the connection goes and where data for it comes from: the process's
// standard streams, or a child process (--exec).
struct Endpoint {
  std::unique_ptr<lsock::ChildProcess> child;
  std::size_t read(std::byte* data, std::size_t n) {
    return child ? child->read(data, n) : lsock::read_stdin(data, n);
  }
  // False once the other end has gone (a command that exited, a closed stdout).
  bool write(const std::byte* data, std::size_t n) {
    return child ? child->write(data, n) : write_stdout(data, n);
  }
  void end_input() {
    if (child) child->close_input();
  }
};

struct Counts {
  std::atomic<std::size_t> in{0}, out{0};
};

// One connection being bridged. Shared with the thread that forwards input, which may
// outlive the bridging (it can be blocked reading standard input when the peer leaves).
template <typename Socket>
struct Session {
  Socket s;
  Endpoint ep;
  Counts counts;
  Timeout linger{1'000};
  // Set when the input side has been forwarded completely.
  std::mutex mutex;
  std::condition_variable cv;
  bool input_done = false;

  void finish_input() {
    std::lock_guard lock(mutex);
    input_done = true;
    cv.notify_all();
  }
  // Waits up to `t` for the input side to finish; true if it did.
  bool wait_input(Timeout t) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, t, [this] { return input_done; });
  }
};

// Forwards the endpoint's input to the connection: bytes as they come, or (message
// mode) each line as one message. Ends by ending our side of the connection.
template <typename Socket>
void forward_input_until_end(Session<Socket>& x);

template <typename Socket>
void forward_input(const std::shared_ptr<Session<Socket>>& session) {
  forward_input_until_end(*session);
  session->finish_input();
}

template <typename Socket>
void forward_input_until_end(Session<Socket>& x) {
  std::vector<std::byte> buf(std::size_t{64} * 1024);
  std::vector<std::byte> line;
  std::error_code ec;
  for (;;) {
    const std::size_t n = x.ep.read(buf.data(), buf.size());
    if (n == 0) break;
    if constexpr (Socket::mode == Mode::bytes) {
      x.s.write_all(std::span(buf).first(n), ec);
      if (ec) return;
      x.counts.out += n;
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        if (buf[i] != std::byte{'\n'}) {
          line.push_back(buf[i]);
          continue;
        }
        if (!line.empty() && line.back() == std::byte{'\r'}) line.pop_back();
        x.s.send(line, ec);
        if (ec) return;
        x.counts.out += line.size();
        line.clear();
      }
    }
  }
  if constexpr (Socket::mode == Mode::messages) {
    if (!line.empty()) x.s.send(line, ec);
  }
  // Our side is done: the peer reads the end.
  x.s.shutdown(Shutdown::write, ec);
#if defined(_WIN32)
  // Named pipes have no half-close. A command that has finished ends the connection (as
  // socat does). After standard input ends, replies are still read while they come;
  // after `linger` without any, the connection ends.
  if (ec == errc::not_supported) {
    if (!x.ep.child) {
      std::size_t seen = x.counts.in;
      auto quiet_since = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - quiet_since < x.linger) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (x.counts.in != seen) {
          seen = x.counts.in;
          quiet_since = std::chrono::steady_clock::now();
        }
      }
    }
    win::native(x.s).cancel_io();
  }
#endif
}

// Delivers what the connection receives to the endpoint until the connection ends or the
// endpoint stops taking it (then this session ends; the others go on).
template <typename Socket>
void note_gone(Session<Socket>& x) {
  if (x.ep.child || stdout_reader_left)
    say_error("%s stopped reading; ending this connection",
              x.ep.child ? "the command" : "standard output");
  else
    say_error("cannot write the output: %s", std::strerror(stdout_error));
}

template <typename Socket>
void deliver_output(Session<Socket>& x) {
  std::error_code ec;
  if constexpr (Socket::mode == Mode::bytes) {
    std::vector<std::byte> buf(std::size_t{64} * 1024);
    for (;;) {
      const std::size_t n = x.s.read_some(buf, ec);
      if (ec || n == 0) return;
      x.counts.in += n;
      if (!x.ep.write(buf.data(), n)) return note_gone(x);
    }
  } else {
    std::vector<std::byte> msg;
    for (;;) {
      const auto r = x.s.recv(msg, std::size_t{64} * 1024 * 1024, ec);
      if (ec == errc::message_too_large) {
        say_error("dropped a message of %zu bytes (over 64 MiB)", r.size);
        continue;
      }
      if (ec || r.end) return;
      x.counts.in += msg.size();
      msg.push_back(std::byte{'\n'});
      if (!x.ep.write(msg.data(), msg.size())) return note_gone(x);
    }
  }
}

// The system's handle of a connection. Message mode where the system has no
// SOCK_SEQPACKET (macOS) is a framed byte stream: the handle is its stream's.
template <typename Socket>
auto system_handle(Socket& s) {
#if defined(_WIN32)
  auto& n = localsock::win::native(s);
#else
  auto& n = localsock::posix::native(s);
#endif
  if constexpr (requires { n.native_handle(); })
    return n.native_handle();
  else
    return n.stream().native_handle();
}

// Waits until the input side has been forwarded completely (true), or until the peer has
// closed its end of the connection completely first (false): then nothing more can be
// sent, and waiting for input that may never come would keep the session (and the
// listener's name) forever.
template <typename Socket>
bool wait_input_or_peer_closed(Session<Socket>& x) {
  while (!x.wait_input(Timeout(50))) {
    if (lsock::peer_closed(system_handle(x.s))) return x.wait_input(Timeout(0));
  }
  return true;
}

// Serves one connection: bridged to a new child (--exec), or to the process's standard
// streams (standard input only when `read_stdin`: a --keep-open server without --exec
// only collects what clients send).
template <typename Socket>
int serve(Socket s, const Options& o, bool read_stdin) {
  auto session = std::make_shared<Session<Socket>>();
  session->s = std::move(s);
  session->linger = o.linger;
  if (!o.exec.empty()) {
    std::string error;
    session->ep.child = lsock::ChildProcess::start(o.exec, error);
    if (!session->ep.child) {
      say_error("cannot run '%s': %s", o.exec.c_str(), error.c_str());
      return 1;
    }
  }
  std::error_code ec;
  const PeerInfo peer = session->s.peer_info(ec);
  if (peer.pid)
    note("connected: %s (peer pid %lld)", session->s.name().str().c_str(),
         static_cast<long long>(*peer.pid));
  std::thread input;
  try {
    if (session->ep.child || read_stdin) input = std::thread([session] { forward_input(session); });
  } catch (const std::system_error& e) {
    say_error("cannot serve this client: no thread for it (%s)", e.what());
    if (session->ep.child) lsock::end_child(*session->ep.child, child_grace);
    return 1;
  }
  deliver_output(*session);
  session->ep.end_input();
  if (session->ep.child) {
    // The peer has finished sending and the command has its end of input. Its output is
    // forwarded until it ends or the peer stops taking it (the peer has gone); then the
    // session is over: the command loses its output pipe (EPIPE), gets a short grace to
    // exit, is terminated if it does not, and is reaped. A peer that has closed while
    // the command writes nothing is noticed without a write: the command is ended the
    // same way (its output pipe closes once the reader has seen its end).
    if (input.joinable() && !wait_input_or_peer_closed(*session)) {
      lsock::stop_child(*session->ep.child, child_grace);
      if (session->wait_input(child_grace)) {
        input.join();
      } else {
        // Someone outside the command's process group holds its output open: the
        // reader keeps the session (and the pipe) until that ends.
        input.detach();
        note("closed: %zu bytes in, %zu bytes out", session->counts.in.load(),
             session->counts.out.load());
        return 0;
      }
    }
    if (input.joinable()) input.join();
    lsock::end_child(*session->ep.child, child_grace);
  } else if (input.joinable()) {
    if (lsock::has_half_close) {
      // The peer has finished sending (a half-close ends only its direction): standard
      // input is forwarded until it ends, or until the peer stops taking it, or until
      // the peer has closed completely (noticed even while standard input is idle; the
      // reader blocked on it is left behind, as the process ends).
      if (wait_input_or_peer_closed(*session))
        input.join();
      else
        input.detach();
    } else {
      // Windows: the peer's end is the end of the connection, so nothing more can be
      // sent; input still being read gets `linger`, then we go (a reader blocked on
      // standard input owns what it uses and is left behind).
      if (session->wait_input(o.linger))
        input.join();
      else
        input.detach();
    }
  }
  note("closed: %zu bytes in, %zu bytes out", session->counts.in.load(),
       session->counts.out.load());
  // Data that could not be written to standard output is a failure; a reader that left
  // (EPIPE: `lsock listen x | head -c 1`) only ends the session.
  return !session->ep.child && stdout_gone && !stdout_reader_left ? 1 : 0;
}

// --keep-open collects every client's data on standard output: once its reader has
// gone, no later client can be served. Noticed while the listener waits for a client
// (where no write would tell): the listener is closed and lsock ends with status 1, so
// the next client finds no listener instead of having its data dropped. Runs on a
// thread of its own, like stop().
void end_for_stdout_gone() {
  std::lock_guard lock(stop_mutex);
  if (close_on_stop) close_on_stop();
  lsock::write_stderr_raw(
      "lsock: standard output has gone; no later client could be served, so the listener ends\n");
  lsock::exit_now(1);
}

template <Mode M>
int listen(const Options& o) {
  std::unique_lock binding(stop_mutex);
  auto listener =
      BasicLocalListener<M>::bind(ListenerOptions(name_of(o.name)).reclaim_stale(o.reclaim));
  const CloseOnStop<BasicLocalListener<M>> closer(listener, binding);
  note("listening on %s%s", listener.name().native().c_str(),
       M == Mode::messages ? " (messages)" : "");
  if (o.fork) {
    // Each client its own thread and command; runs until interrupted. A failed accept
    // (out of descriptors, a transient failure) is reported once and retried shortly.
    std::string last_failure;
    for (;;) {
      std::error_code ec;
      auto s = listener.accept(ec);
      if (ec == errc::listener_closed) return 0;
      if (ec) {
        if (ec.message() != last_failure)
          say_error("accept failed: %s (still listening)", ec.message().c_str());
        last_failure = ec.message();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      last_failure.clear();
      // No thread for this client (out of threads or processes): it is turned away (its
      // connection closes with the failed thread's copy) and the others go on.
      try {
        std::thread([s = std::move(s), &o]() mutable { serve(std::move(s), o, false); }).detach();
      } catch (const std::system_error& e) {
        say_error("cannot serve this client: no thread for it (%s); still listening", e.what());
      }
    }
  }
  if (o.keep_open && o.exec.empty()) {
    try {
      std::thread([] {
        if (lsock::wait_stdout_gone()) end_for_stdout_gone();
      }).detach();
    } catch (const std::system_error&) {
      // No thread to watch: the write after the next client still tells.
    }
  }
  int status = 0;
  do {
    status = serve(listener.accept(), o, !o.keep_open);
    // --keep-open collects every client's data on standard output: once that has gone,
    // a later client's data could only be dropped, so the listener ends.
    if (o.keep_open && o.exec.empty() && stdout_gone) {
      say_error("standard output has gone; no later client could be served, so the listener ends");
      return 1;
    }
  } while (o.keep_open);
  return status;
}

template <Mode M>
int connect(const Options& o) {
  auto s = BasicLocalSocket<M>::connect(ConnectOptions(name_of(o.name)).timeout(o.timeout));
  return serve(std::move(s), o, true);
}

}  // namespace

int main(int argc, char** argv) {
  stdout_closed = lsock::ensure_standard_streams();
  Options o;
  if (const auto status = lsock::parse_arguments({argv + 1, argv + argc}, o)) return *status;
  if (o.command == "ls") return lsock::list(o.json);
  lsock::binary_stdio();
  lsock::handle_interrupts(stop);
  try {
    int status;
    if (o.command == "listen")
      status = o.messages ? listen<Mode::messages>(o) : listen<Mode::bytes>(o);
    else
      status = o.messages ? connect<Mode::messages>(o) : connect<Mode::bytes>(o);
    std::fflush(stdout);
    // A thread may still wait on standard input; the work is done.
    std::_Exit(status);
  } catch (const localsock::Error& e) {
    // The library's own text: it says what went wrong.
    say_error("%s", e.what());
    // The --reclaim hint only where --reclaim would work; else what is in the way.
    const bool is_path = o.name.find('/') != std::string::npos;
    const std::string obstacle = is_path ? lsock::reclaim_obstacle(o.name) : std::string();
    if (!obstacle.empty() && (e.code() == errc::stale_name || e.code() == errc::not_a_socket))
      say_error("%s: %s", o.name.c_str(), obstacle.c_str());
    else if (e.code() == errc::stale_name)
      say_error("a listener that has gone left it; 'lsock listen --reclaim %s' takes it over",
                o.name.c_str());
    return 1;
  } catch (const std::exception& e) {
    // Anything else (no memory, no thread): said plainly, never an abort.
    say_error("failed: %s", e.what());
    return 1;
  }
}
