// SPDX-License-Identifier: MIT
// lsock: netcat for local sockets, the same on Linux and Windows.
//
//   lsock listen [options] NAME     accept a client; bridge it to stdin/stdout
//   lsock connect [options] NAME    connect; bridge stdin/stdout to it
//   lsock ls                        list listening local sockets
//
// Options: --messages (one line = one message), --keep-open (serve clients one after
// another), --fork (serve clients at once; needs --exec), --exec CMD (bridge the client
// to CMD's stdin/stdout instead), --timeout MS (connect), --linger MS (Windows: how
// long to keep reading after standard input ended; pipes have no half-close), --quiet.
// NAME is a namespaced name (Linux abstract, Windows \\.\pipe\NAME); a name with a '/'
// is a socket file (Unix). Data goes to stdout, nothing else; progress and errors go to
// stderr. Exit status: 0 done, 1 failed, 2 bad usage.
#include <localsock/localsock.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "platform.hpp"

namespace {

using namespace localsock;

struct Options {
  std::string command;
  std::string name;
  bool messages = false;
  bool keep_open = false;
  bool fork = false;
  bool quiet = false;
  std::string exec;
  Timeout timeout{10'000};
  Timeout linger{1'000};
};

bool quiet = false;
std::mutex stderr_mutex;

template <typename... A>
void note(const char* fmt, A... a) {
  if (quiet) return;
  std::lock_guard lock(stderr_mutex);
  std::fprintf(stderr, "lsock: ");
  if constexpr (sizeof...(A) == 0)
    std::fputs(fmt, stderr);
  else
    std::fprintf(stderr, fmt, a...);
  std::fprintf(stderr, "\n");
}

int usage() {
  std::fprintf(stderr,
               "usage: lsock listen [--messages] [--keep-open | --fork] [--exec CMD] [--quiet] NAME\n"
               "       lsock connect [--messages] [--timeout MS] [--linger MS] [--exec CMD] [--quiet] NAME\n"
               "       lsock ls\n");
  return 2;
}

LocalName name_of(const std::string& text) {
  return text.find('/') != std::string::npos ? LocalName::path(text) : LocalName::namespaced(text);
}

void write_stdout(const std::byte* data, std::size_t n) {
  std::fwrite(data, 1, n, stdout);
  std::fflush(stdout);
}

// ---- the two ends a connection is bridged to --------------------------------------

// Where data from the connection goes and where data for it comes from: the process's
// standard streams, or a child process (--exec).
struct Endpoint {
  std::unique_ptr<lsock::ChildProcess> child;
  std::size_t read(std::byte* data, std::size_t n) {
    return child ? child->read(data, n) : lsock::read_stdin(data, n);
  }
  void write(const std::byte* data, std::size_t n) {
    if (child)
      child->write(data, n);
    else
      write_stdout(data, n);
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
  std::vector<std::byte> buf(64 * 1024);
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
    x.s.native().cancel_io();
  }
#endif
}

// Delivers what the connection receives to the endpoint until the connection ends.
template <typename Socket>
void deliver_output(Session<Socket>& x) {
  std::error_code ec;
  if constexpr (Socket::mode == Mode::bytes) {
    std::vector<std::byte> buf(64 * 1024);
    for (;;) {
      const std::size_t n = x.s.read_some(buf, ec);
      if (ec || n == 0) return;
      x.counts.in += n;
      x.ep.write(buf.data(), n);
    }
  } else {
    std::vector<std::byte> msg;
    for (;;) {
      const auto r = x.s.recv(msg, 64 * 1024 * 1024, ec);
      if (ec == errc::message_too_large) {
        note("dropped a message of %zu bytes (over 64 MiB)", r.size);
        continue;
      }
      if (ec || r.end) return;
      x.counts.in += msg.size();
      msg.push_back(std::byte{'\n'});
      x.ep.write(msg.data(), msg.size());
    }
  }
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
      note("cannot run '%s': %s", o.exec.c_str(), error.c_str());
      return 1;
    }
  }
  std::error_code ec;
  const PeerInfo peer = session->s.peer_info(ec);
  if (peer.pid) note("connected: %s (peer pid %lld)", session->s.name().c_str(), static_cast<long long>(*peer.pid));
  std::thread input;
  if (session->ep.child || read_stdin) input = std::thread([session] { forward_input(session); });
  deliver_output(*session);
  session->ep.end_input();
  if (session->ep.child) {
    // The child's output has been delivered; it gets its end of input and goes.
    session->ep.child->wait();
    if (input.joinable()) input.join();
  } else if (input.joinable()) {
    // The peer has finished sending. Input still being forwarded gets `linger` to
    // finish (as socat does), then we go; a reader blocked on standard input forever
    // owns what it uses and is left behind.
    if (session->wait_input(o.linger))
      input.join();
    else
      input.detach();
  }
  note("closed: %zu bytes in, %zu bytes out", session->counts.in.load(), session->counts.out.load());
  return 0;
}

template <Mode M>
int listen(const Options& o) {
  auto listener = BasicLocalListener<M>::bind(ListenerOptions(name_of(o.name)));
  note("listening on %s%s", listener.name().native().c_str(), M == Mode::messages ? " (messages)" : "");
  if (o.fork) {
    // Each client its own thread and command; runs until interrupted.
    for (auto& s : listener.incoming())
      std::thread([s = std::move(s), &o]() mutable { serve(std::move(s), o, false); }).detach();
    return 0;
  }
  int status = 0;
  do {
    status = serve(listener.accept(), o, !o.keep_open);
  } while (o.keep_open);
  return status;
}

template <Mode M>
int connect(const Options& o) {
  auto s = BasicLocalSocket<M>::connect(ConnectOptions(name_of(o.name)).timeout(o.timeout));
  return serve(std::move(s), o, true);
}

int list() {
  std::string error;
  const auto sockets = lsock::list_sockets(error);
  if (!error.empty()) {
    note("%s", error.c_str());
    return 1;
  }
  for (const auto& s : sockets) std::printf("%-9s %s\n", s.type.c_str(), s.name.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--messages") o.messages = true;
    else if (a == "--keep-open") o.keep_open = true;
    else if (a == "--fork") o.fork = true;
    else if (a == "--quiet" || a == "-q") o.quiet = true;
    else if (a == "--exec" && i + 1 < args.size()) o.exec = args[++i];
    else if (a == "--timeout" && i + 1 < args.size()) o.timeout = Timeout(std::atoll(args[++i].c_str()));
    else if (a == "--linger" && i + 1 < args.size()) o.linger = Timeout(std::atoll(args[++i].c_str()));
    else if (a.rfind("--", 0) == 0) return usage();
    else if (o.command.empty()) o.command = a;
    else if (o.name.empty()) o.name = a;
    else return usage();
  }
  quiet = o.quiet;
  if (o.command == "ls") return list();
  if ((o.command != "listen" && o.command != "connect") || o.name.empty()) return usage();
  if (o.fork && o.exec.empty()) {
    note("--fork serves clients at once, so each needs its own command: add --exec CMD");
    return 2;
  }
  lsock::binary_stdio();
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
    note("%s", e.what());
    return 1;
  }
}
