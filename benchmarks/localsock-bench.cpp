// SPDX-License-Identifier: MIT
// localsock-bench: localsock against its baselines, in one program so that every figure
// has its baseline from the same run.
//
//   localsock-bench --scenario S --size N --count N [--clients N] [--impl NAME]
//
// Scenarios: pingpong, pingpong-proc (Unix), stream, msg-pingpong, connect, async-echo,
// idle-conns. Implementations: localsock (default); raw (the bare system calls:
// socket/read/write on Unix, CreateNamedPipe/ReadFile/WriteFile on Windows); uv-raw
// (bare libuv uv_pipe_t; async-echo and idle-conns). Prints one JSON object per line:
// {"impl","scenario","size","count","clients","seconds","ops_per_s","p50_us","p99_us",
//  "mb_per_s","rss_kb_per_conn"} (null where a figure does not apply).
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#if defined(_WIN32)
#include <windows.h>
#include <psapi.h>
#else
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string scenario = "pingpong";
  std::string impl = "localsock";
  std::size_t size = 64;
  std::size_t count = 10000;
  int clients = 1;
};

struct Result {
  double seconds = 0;
  double ops = 0;
  std::optional<double> p50, p99, mbps, rss_kb;
};

std::string unique_name(const char* tag) {
  static int n = 0;
#if defined(_WIN32)
  const unsigned long pid = ::GetCurrentProcessId();
#else
  const unsigned long pid = static_cast<unsigned long>(::getpid());
#endif
  return std::string("lsbench-") + tag + "-" + std::to_string(pid) + "-" + std::to_string(n++);
}

void fail(const std::string& what) {
  std::fprintf(stderr, "localsock-bench: %s\n", what.c_str());
  std::exit(1);
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// ---- the blocking transports ---------------------------------------------------------

// localsock's portable API.
struct LocalsockImpl {
  using Listener = localsock::LocalListener;
  using Conn = localsock::LocalSocket;
  using MsgListener = localsock::LocalMessageListener;
  using MsgConn = localsock::LocalMessageSocket;

  static Listener listen(const std::string& n) { return Listener::bind(localsock::LocalName::namespaced(n)); }
  static Conn connect(const std::string& n) { return Conn::connect(localsock::LocalName::namespaced(n)); }
  static Conn accept(Listener& l) { return l.accept(); }
  static void write_all(Conn& c, const std::byte* p, std::size_t n) { c.write_all({p, n}); }
  static void read_exact(Conn& c, std::byte* p, std::size_t n) { c.read_exact({p, n}); }
  static std::size_t read_some(Conn& c, std::byte* p, std::size_t n) { return c.read_some({p, n}); }

  static MsgListener listen_msg(const std::string& n) { return MsgListener::bind(localsock::LocalName::namespaced(n)); }
  static MsgConn connect_msg(const std::string& n) { return MsgConn::connect(localsock::LocalName::namespaced(n)); }
  static MsgConn accept_msg(MsgListener& l) { return l.accept(); }
  static void send(MsgConn& c, const std::byte* p, std::size_t n) { c.send({p, n}); }
  // The growing receive: one system call (see docs/performance.md).
  static std::size_t recv(MsgConn& c, std::vector<std::byte>& buf, std::size_t max) {
    return c.recv(buf, max).size;
  }
};

// The same, receiving into a fixed buffer: a message larger than the buffer is kept for
// a larger one, which costs a peek on Linux.
struct LocalsockFixedImpl : LocalsockImpl {
  static std::size_t recv(MsgConn& c, std::vector<std::byte>& buf, std::size_t max) {
    if (buf.size() < max) buf.resize(max);
    return c.recv({buf.data(), max}).size;
  }
};

#if defined(_WIN32)
// The bare Win32 calls: synchronous pipe handles.
struct RawImpl {
  struct Handle {
    HANDLE h = INVALID_HANDLE_VALUE;
    Handle() = default;
    explicit Handle(HANDLE x) : h(x) {}
    Handle(Handle&& o) noexcept : h(std::exchange(o.h, INVALID_HANDLE_VALUE)) {}
    Handle& operator=(Handle&& o) noexcept {
      std::swap(h, o.h);
      return *this;
    }
    ~Handle() {
      if (h != INVALID_HANDLE_VALUE) ::CloseHandle(h);
    }
  };
  struct Listener {
    std::wstring path;
    bool messages = false;
  };
  using Conn = Handle;
  using MsgListener = Listener;
  using MsgConn = Handle;

  static std::wstring path_of(const std::string& n) {
    return L"\\\\.\\pipe\\" + std::wstring(n.begin(), n.end());
  }
  static HANDLE instance(const Listener& l) {
    const DWORD type = l.messages ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE : PIPE_TYPE_BYTE;
    HANDLE h = ::CreateNamedPipeW(l.path.c_str(), PIPE_ACCESS_DUPLEX, type | PIPE_WAIT, PIPE_UNLIMITED_INSTANCES,
                                  64 * 1024, 64 * 1024, 0, nullptr);
    if (h == INVALID_HANDLE_VALUE) fail("CreateNamedPipe");
    return h;
  }
  // Windows needs an instance waiting before a client can connect: the listener keeps one.
  struct Pending {
    Listener l;
    Handle next;
  };
  static Listener listen(const std::string& n) { return {path_of(n), false}; }
  static Listener listen_msg(const std::string& n) { return {path_of(n), true}; }
  static Handle open(const Listener& l) {
    for (;;) {
      HANDLE h = ::CreateFileW(l.path.c_str(), GENERIC_READ | GENERIC_WRITE | FILE_WRITE_ATTRIBUTES, 0, nullptr,
                               OPEN_EXISTING, 0, nullptr);
      if (h != INVALID_HANDLE_VALUE) {
        if (l.messages) {
          DWORD mode = PIPE_READMODE_MESSAGE;
          ::SetNamedPipeHandleState(h, &mode, nullptr, nullptr);
        }
        return Handle(h);
      }
      ::WaitNamedPipeW(l.path.c_str(), 1000);
    }
  }
  static void wait_client(HANDLE h) {
    if (!::ConnectNamedPipe(h, nullptr) && ::GetLastError() != ERROR_PIPE_CONNECTED) fail("ConnectNamedPipe");
  }
  static Handle accept_on(const Listener&, HANDLE h) {
    wait_client(h);
    return Handle(h);
  }
  static void write_all(Handle& c, const std::byte* p, std::size_t n) {
    while (n > 0) {
      DWORD k = 0;
      if (!::WriteFile(c.h, p, static_cast<DWORD>(n), &k, nullptr)) fail("WriteFile");
      p += k;
      n -= k;
    }
  }
  static void read_exact(Handle& c, std::byte* p, std::size_t n) {
    while (n > 0) {
      DWORD k = 0;
      if (!::ReadFile(c.h, p, static_cast<DWORD>(n), &k, nullptr) || k == 0) fail("ReadFile");
      p += k;
      n -= k;
    }
  }
  static std::size_t read_some(Handle& c, std::byte* p, std::size_t n) {
    DWORD k = 0;
    if (!::ReadFile(c.h, p, static_cast<DWORD>(n), &k, nullptr)) return 0;
    return k;
  }
  static void send(Handle& c, const std::byte* p, std::size_t n) { write_all(c, p, n); }
  static std::size_t recv(Handle& c, std::vector<std::byte>& buf, std::size_t max) {
    if (buf.size() < max) buf.resize(max);
    return read_some(c, buf.data(), max);
  }
};
#else
// The bare system calls: socket, bind, listen, accept, connect, read, write.
struct RawImpl {
  struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
      std::swap(fd, o.fd);
      return *this;
    }
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  };
  using Listener = Fd;
  using Conn = Fd;
  using MsgListener = Fd;
  using MsgConn = Fd;

  static socklen_t address(const std::string& n, sockaddr_un& a) {
    a = {};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, n.data(), n.size());  // abstract: a leading NUL
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n.size());
  }
  static Fd listen_type(const std::string& n, int type) {
    Fd l(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    sockaddr_un a;
    const socklen_t len = address(n, a);
    if (::bind(l.fd, reinterpret_cast<sockaddr*>(&a), len) < 0 || ::listen(l.fd, 128) < 0) fail("bind/listen");
    return l;
  }
  static Fd connect_type(const std::string& n, int type) {
    Fd c(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    sockaddr_un a;
    const socklen_t len = address(n, a);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), len) < 0) fail("connect");
    return c;
  }
  static Fd listen(const std::string& n) { return listen_type(n, SOCK_STREAM); }
  static Fd connect(const std::string& n) { return connect_type(n, SOCK_STREAM); }
  static Fd accept(Fd& l) { return Fd(::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC)); }
  static Fd listen_msg(const std::string& n) { return listen_type(n, SOCK_SEQPACKET); }
  static Fd connect_msg(const std::string& n) { return connect_type(n, SOCK_SEQPACKET); }
  static Fd accept_msg(Fd& l) { return accept(l); }
  static void write_all(Fd& c, const std::byte* p, std::size_t n) {
    while (n > 0) {
      const ssize_t k = ::write(c.fd, p, n);
      if (k <= 0) fail("write");
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }
  static void read_exact(Fd& c, std::byte* p, std::size_t n) {
    while (n > 0) {
      const ssize_t k = ::read(c.fd, p, n);
      if (k <= 0) fail("read");
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }
  static std::size_t read_some(Fd& c, std::byte* p, std::size_t n) {
    const ssize_t k = ::read(c.fd, p, n);
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
  static void send(Fd& c, const std::byte* p, std::size_t n) {
    if (::send(c.fd, p, n, 0) != static_cast<ssize_t>(n)) fail("send");
  }
  static std::size_t recv(Fd& c, std::vector<std::byte>& buf, std::size_t max) {
    if (buf.size() < max) buf.resize(max);
    const ssize_t k = ::recv(c.fd, buf.data(), max, 0);
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
};
#endif

// Connects one client and accepts it, for either implementation.
template <typename Impl, bool Messages>
auto connected_pair(const std::string& name) {
#if defined(_WIN32)
  if constexpr (std::is_same_v<Impl, RawImpl>) {
    auto l = Messages ? RawImpl::listen_msg(name) : RawImpl::listen(name);
    HANDLE inst = RawImpl::instance(l);
    std::thread t([&] { RawImpl::wait_client(inst); });
    RawImpl::Handle client = RawImpl::open(l);
    t.join();
    return std::make_tuple(std::move(l), RawImpl::Handle(inst), std::move(client));
  } else
#endif
  {
    if constexpr (Messages) {
      auto l = Impl::listen_msg(name);
      auto client = Impl::connect_msg(name);
      auto server = Impl::accept_msg(l);
      return std::make_tuple(std::move(l), std::move(server), std::move(client));
    } else {
      auto l = Impl::listen(name);
      auto client = Impl::connect(name);
      auto server = Impl::accept(l);
      return std::make_tuple(std::move(l), std::move(server), std::move(client));
    }
  }
}

// ---- blocking scenarios --------------------------------------------------------------

// Round trips of `size` bytes: the client writes, the server echoes, the client reads
// the whole echo. Latency of each round trip.
template <typename Impl, bool Messages>
Result pingpong(const Args& a) {
  auto [l, server, client] = connected_pair<Impl, Messages>(unique_name("pp"));
  std::thread echo([&server = server, &a] {
    std::vector<std::byte> buf(a.size);
    for (std::size_t i = 0; i < a.count; ++i) {
      if constexpr (Messages) {
        const std::size_t n = Impl::recv(server, buf, a.size);
        Impl::send(server, buf.data(), n);
      } else {
        Impl::read_exact(server, buf.data(), a.size);
        Impl::write_all(server, buf.data(), a.size);
      }
    }
  });
  std::vector<std::byte> out(a.size, std::byte{7}), in(a.size);
  std::vector<double> lat;
  lat.reserve(a.count);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < a.count; ++i) {
    const auto t0 = Clock::now();
    if constexpr (Messages) {
      Impl::send(client, out.data(), out.size());
      Impl::recv(client, in, a.size);
    } else {
      Impl::write_all(client, out.data(), out.size());
      Impl::read_exact(client, in.data(), in.size());
    }
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  echo.join();
  r.ops = static_cast<double>(a.count) / r.seconds;
  r.p50 = percentile(lat, 0.50);
  r.p99 = percentile(lat, 0.99);
  return r;
}

#if !defined(_WIN32)
// pingpong with the echo server in a child process.
template <typename Impl>
Result pingpong_proc(const Args& a) {
  const std::string name = unique_name("ppp");
  auto l = Impl::listen(name);
  const pid_t child = ::fork();
  if (child == 0) {
    auto server = Impl::accept(l);
    std::vector<std::byte> buf(a.size);
    for (std::size_t i = 0; i < a.count; ++i) {
      Impl::read_exact(server, buf.data(), a.size);
      Impl::write_all(server, buf.data(), a.size);
    }
    ::_exit(0);
  }
  auto client = Impl::connect(name);
  std::vector<std::byte> out(a.size, std::byte{7}), in(a.size);
  std::vector<double> lat;
  lat.reserve(a.count);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < a.count; ++i) {
    const auto t0 = Clock::now();
    Impl::write_all(client, out.data(), out.size());
    Impl::read_exact(client, in.data(), in.size());
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  int status = 0;
  ::waitpid(child, &status, 0);
  r.ops = static_cast<double>(a.count) / r.seconds;
  r.p50 = percentile(lat, 0.50);
  r.p99 = percentile(lat, 0.99);
  return r;
}
#endif

// One-way transfer of `count` chunks of `size` bytes.
template <typename Impl>
Result stream(const Args& a) {
  auto [l, server, client] = connected_pair<Impl, false>(unique_name("st"));
  const std::size_t total = a.size * a.count;
  const auto start = Clock::now();
  std::thread writer([&client = client, &a] {
    std::vector<std::byte> chunk(a.size, std::byte{1});
    for (std::size_t i = 0; i < a.count; ++i) Impl::write_all(client, chunk.data(), chunk.size());
  });
  std::vector<std::byte> buf(std::max<std::size_t>(a.size, 64 * 1024));
  std::size_t got = 0;
  while (got < total) {
    const std::size_t n = Impl::read_some(server, buf.data(), std::min(buf.size(), total - got));
    if (n == 0) fail("stream ended early");
    got += n;
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  writer.join();
  r.ops = static_cast<double>(a.count) / r.seconds;
  r.mbps = static_cast<double>(total) / r.seconds / 1e6;
  return r;
}

// connect + accept + a 1-byte exchange + close, `count` times.
template <typename Impl>
Result connect_cycle(const Args& a) {
  const std::string name = unique_name("cc");
  const auto start = Clock::now();
#if defined(_WIN32)
  if constexpr (std::is_same_v<Impl, RawImpl>) {
    auto l = RawImpl::listen(name);
    HANDLE inst = RawImpl::instance(l);
    std::thread server([&] {
      for (std::size_t i = 0; i < a.count; ++i) {
        RawImpl::Handle s = RawImpl::accept_on(l, inst);
        inst = RawImpl::instance(l);  // the next client's instance, before this one closes
        std::byte b[1];
        RawImpl::read_exact(s, b, 1);
        RawImpl::write_all(s, b, 1);
        ::FlushFileBuffers(s.h);
        ::DisconnectNamedPipe(s.h);
      }
    });
    for (std::size_t i = 0; i < a.count; ++i) {
      RawImpl::Handle c = RawImpl::open(l);
      std::byte b[1] = {std::byte{1}};
      RawImpl::write_all(c, b, 1);
      RawImpl::read_exact(c, b, 1);
    }
    server.join();
    ::CloseHandle(inst);
  } else
#endif
  {
    auto l = Impl::listen(name);
    std::thread server([&] {
      for (std::size_t i = 0; i < a.count; ++i) {
        auto s = Impl::accept(l);
        std::byte b[1];
        Impl::read_exact(s, b, 1);
        Impl::write_all(s, b, 1);
      }
    });
    for (std::size_t i = 0; i < a.count; ++i) {
      auto c = Impl::connect(name);
      std::byte b[1] = {std::byte{1}};
      Impl::write_all(c, b, 1);
      Impl::read_exact(c, b, 1);
    }
    server.join();
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.ops = static_cast<double>(a.count) / r.seconds;
  return r;
}

// ---- async scenarios -----------------------------------------------------------------

double rss_kb() {
#if defined(_WIN32)
  PROCESS_MEMORY_COUNTERS pmc{};
  ::GetProcessMemoryInfo(::GetCurrentProcess(), &pmc, sizeof pmc);
  return static_cast<double>(pmc.WorkingSetSize) / 1024.0;
#else
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1024.0;
#endif
}

// An echo server on its own loop thread: localsock's async API, or bare uv_pipe_t.
class EchoServer {
 public:
  EchoServer(bool bare, std::string name) : bare_(bare), name_(std::move(name)) {
    thread_ = std::thread([this] { run(); });
    while (!ready_) std::this_thread::yield();
  }
  ~EchoServer() {
    uv_async_send(stop_);
    thread_.join();
  }
  // The name clients connect to: a localsock name, or libuv's pipe name.
  const std::string& uv_name() const { return uv_name_; }

 private:
  struct Conn {
    uv_pipe_t pipe;
    char buf[64 * 1024];
  };

  void run() {
    uv_loop_init(&loop_);
    stop_ = new uv_async_t{};
    uv_async_init(&loop_, stop_, [](uv_async_t* h) { uv_stop(h->loop); });
    if (bare_) {
#if defined(_WIN32)
      uv_name_ = "\\\\.\\pipe\\" + name_;
#else
      uv_name_ = "/tmp/" + name_ + ".sock";
      ::unlink(uv_name_.c_str());
#endif
      uv_pipe_init(&loop_, &listener_, 0);
      listener_.data = this;
      if (uv_pipe_bind(&listener_, uv_name_.c_str()) != 0) fail("uv_pipe_bind");
      uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 511, [](uv_stream_t* l, int) {
        auto* self = static_cast<EchoServer*>(l->data);
        auto* c = new Conn;
        uv_pipe_init(&self->loop_, &c->pipe, 0);
        c->pipe.data = c;
        uv_accept(l, reinterpret_cast<uv_stream_t*>(&c->pipe));
        self->bare_conns_.push_back(c);
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&c->pipe),
            [](uv_handle_t* h, size_t, uv_buf_t* b) {
              auto* conn = static_cast<Conn*>(h->data);
              *b = uv_buf_init(conn->buf, sizeof conn->buf);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
              if (n <= 0) return;
              // The plain libuv way: a copy owned by the write request.
              struct Req {
                uv_write_t w;
                std::vector<char> data;
              };
              auto* req = new Req{{}, std::vector<char>(b->base, b->base + n)};
              uv_buf_t out = uv_buf_init(req->data.data(), static_cast<unsigned>(n));
              uv_write(&req->w, s, &out, 1, [](uv_write_t* w, int) { delete reinterpret_cast<Req*>(w); });
            });
      });
    } else {
      uv_name_ = name_;
      async_ = std::make_unique<localsock::AsyncLoop>(&loop_);
      listener_ls_ = localsock::AsyncListener::listen(
          *async_, localsock::ListenerOptions(localsock::LocalName::namespaced(name_)).backlog(1024),
          localsock::Mode::bytes, [this](std::error_code ec, localsock::AsyncSocket::Ptr s) {
            if (ec) return;
            localsock::AsyncSocket* raw = s.get();
            conns_.push_back(s);
            s->start_reading([raw](const localsock::ReadEvent& e) {
              if (e.end || e.error) return raw->close();
              raw->write(e.data);
            });
          });
    }
    ready_ = true;
    uv_run(&loop_, UV_RUN_DEFAULT);
    // Shut down in the documented order.
    if (bare_) {
      for (Conn* c : bare_conns_)
        uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
      uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    } else {
      listener_ls_->close();
      for (auto& c : conns_) c->close();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(stop_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    uv_run(&loop_, UV_RUN_DEFAULT);
    async_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  bool bare_;
  std::string name_, uv_name_;
  uv_loop_t loop_{};
  uv_async_t* stop_ = nullptr;
  std::atomic<bool> ready_{false};
  std::thread thread_;
  uv_pipe_t listener_{};
  std::vector<Conn*> bare_conns_;
  std::unique_ptr<localsock::AsyncLoop> async_;
  localsock::AsyncListener::Ptr listener_ls_;
  std::vector<localsock::AsyncSocket::Ptr> conns_;
};

// `clients` clients on this thread's loop ping-pong `size` bytes with the echo server
// until `count` round trips are done in total. The clients use the same API as the
// server (localsock async, or bare uv_pipe_t).
Result async_echo(const Args& a, bool bare) {
  EchoServer server(bare, unique_name("ae"));
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::size_t done = 0, started = 0;
  const std::vector<char> payload(a.size, 'x');
  Clock::time_point start;
  {
    std::unique_ptr<localsock::AsyncLoop> async;
    struct BareClient {
      uv_pipe_t pipe;
      uv_connect_t req;
      uv_write_t w;
      std::size_t got = 0;
      char buf[64 * 1024];
      std::size_t* done;
      std::size_t* started;
      const Args* a;
      const std::vector<char>* payload;
    };
    std::vector<std::unique_ptr<BareClient>> bare_clients;
    std::vector<localsock::AsyncSocket::Ptr> clients;
    start = Clock::now();
    if (bare) {
      for (int i = 0; i < a.clients; ++i) {
        auto c = std::make_unique<BareClient>();
        c->done = &done;
        c->started = &started;
        c->a = &a;
        c->payload = &payload;
        uv_pipe_init(&loop, &c->pipe, 0);
        c->pipe.data = c.get();
        uv_pipe_connect(&c->req, &c->pipe, server.uv_name().c_str(), [](uv_connect_t* req, int status) {
          if (status != 0) fail("uv_pipe_connect");
          auto* self = static_cast<BareClient*>(req->handle->data);
          auto send = [](BareClient* x) {
            ++*x->started;
            uv_buf_t b = uv_buf_init(const_cast<char*>(x->payload->data()), static_cast<unsigned>(x->payload->size()));
            uv_write(&x->w, reinterpret_cast<uv_stream_t*>(&x->pipe), &b, 1, nullptr);
          };
          uv_read_start(
              reinterpret_cast<uv_stream_t*>(&self->pipe),
              [](uv_handle_t* h, size_t, uv_buf_t* b) {
                auto* x = static_cast<BareClient*>(h->data);
                *b = uv_buf_init(x->buf, sizeof x->buf);
              },
              [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
                auto* x = static_cast<BareClient*>(s->data);
                if (n <= 0) return;
                x->got += static_cast<std::size_t>(n);
                if (x->got < x->a->size) return;
                x->got = 0;
                ++*x->done;
                if (*x->started < x->a->count) {
                  ++*x->started;
                  uv_buf_t b = uv_buf_init(const_cast<char*>(x->payload->data()), static_cast<unsigned>(x->payload->size()));
                  uv_write(&x->w, s, &b, 1, nullptr);
                } else {
                  uv_read_stop(s);
                }
              });
          send(self);
        });
        bare_clients.push_back(std::move(c));
      }
    } else {
      async = std::make_unique<localsock::AsyncLoop>(&loop);
      for (int i = 0; i < a.clients; ++i) {
        auto got = std::make_shared<std::size_t>(0);
        clients.push_back(localsock::AsyncSocket::connect(
            *async, localsock::LocalName::namespaced(server.uv_name()), localsock::Mode::bytes,
            [&, got](std::error_code ec, localsock::AsyncSocket::Ptr s) {
              if (ec) fail("connect: " + ec.message());
              localsock::AsyncSocket* raw = s.get();
              ++started;
              raw->write(std::as_bytes(std::span(payload)));
              raw->start_reading([&, raw, got](const localsock::ReadEvent& e) {
                *got += e.data.size();
                if (*got < a.size) return;
                *got = 0;
                ++done;
                if (started < a.count) {
                  ++started;
                  raw->write(std::as_bytes(std::span(payload)));
                } else {
                  raw->stop_reading();
                }
              });
            }));
      }
    }
    while (done < a.count) uv_run(&loop, UV_RUN_ONCE);
    Result r;
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    r.ops = static_cast<double>(a.count) / r.seconds;
    for (auto& c : clients) c->close();
    for (auto& c : bare_clients) uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    async.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return r;
  }
}

// `clients` idle connections held by an async server: its memory growth per connection.
Result idle_conns(const Args& a, bool bare) {
  EchoServer server(bare, unique_name("ic"));
  const double before = rss_kb();
  const auto start = Clock::now();
  std::vector<RawImpl::Conn> held;
  for (int i = 0; i < a.clients; ++i) {
#if defined(_WIN32)
    RawImpl::Listener l{RawImpl::path_of(bare ? server.uv_name().substr(9) : server.uv_name()), false};
    held.push_back(RawImpl::open(l));
#else
    if (bare) {
      RawImpl::Fd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, server.uv_name().c_str(), sizeof addr.sun_path - 1);
      if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) fail("connect");
      held.push_back(std::move(c));
    } else {
      held.push_back(RawImpl::connect(server.uv_name()));
    }
#endif
  }
  // Let the server accept them all and settle.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double after = rss_kb();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.ops = a.clients / r.seconds;
  r.rss_kb = (after - before) / a.clients;
  return r;
}

template <typename Impl>
Result run_blocking(const Args& a) {
  if (a.scenario == "pingpong") return pingpong<Impl, false>(a);
  if (a.scenario == "msg-pingpong") return pingpong<Impl, true>(a);
  if (a.scenario == "stream") return stream<Impl>(a);
  if (a.scenario == "connect") return connect_cycle<Impl>(a);
#if !defined(_WIN32)
  if (a.scenario == "pingpong-proc") return pingpong_proc<Impl>(a);
#endif
  fail("scenario " + a.scenario + " has no " + a.impl + " implementation");
  return {};
}

void print(const Args& a, const Result& r) {
  auto num = [](const std::optional<double>& v) { return v ? std::to_string(*v) : std::string("null"); };
  std::printf(
      "{\"impl\": \"%s\", \"scenario\": \"%s\", \"size\": %zu, \"count\": %zu, \"clients\": %d, "
      "\"seconds\": %f, \"ops_per_s\": %f, \"p50_us\": %s, \"p99_us\": %s, \"mb_per_s\": %s, "
      "\"rss_kb_per_conn\": %s}\n",
      a.impl.c_str(), a.scenario.c_str(), a.size, a.count, a.clients, r.seconds, r.ops, num(r.p50).c_str(),
      num(r.p99).c_str(), num(r.mbps).c_str(), num(r.rss_kb).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--scenario") a.scenario = v;
    else if (k == "--impl") a.impl = v;
    else if (k == "--size") a.size = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--count") a.count = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--clients") a.clients = std::atoi(v.c_str());
    else fail("unknown option " + k);
  }
  if (a.size == 0 || a.count == 0 || a.clients <= 0) fail("size, count and clients must be positive");
  try {
    Result r;
    if (a.scenario == "async-echo" || a.scenario == "idle-conns") {
      if (a.impl != "localsock" && a.impl != "uv-raw") fail(a.scenario + " compares localsock with uv-raw");
      r = a.scenario == "async-echo" ? async_echo(a, a.impl == "uv-raw") : idle_conns(a, a.impl == "uv-raw");
    } else if (a.impl == "localsock") {
      r = run_blocking<LocalsockImpl>(a);
    } else if (a.impl == "localsock-fixed" && a.scenario == "msg-pingpong") {
      r = run_blocking<LocalsockFixedImpl>(a);
    } else if (a.impl == "raw") {
      r = run_blocking<RawImpl>(a);
    } else {
      fail("unknown impl " + a.impl);
    }
    print(a, r);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
