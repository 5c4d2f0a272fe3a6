// SPDX-License-Identifier: MIT
// The async scenarios: async-echo (round trips through an echo server on its own loop
// thread) and idle-conns (the server's memory per idle connection), each for
// localsock's async API and for bare libuv uv_pipe_t.
#include <uv.h>
#include <localsock/async.hpp>

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "transports.hpp"

namespace bench {
namespace {

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
  // A bare libuv connection as libuv programs write it: the read buffer is made when
  // libuv first asks for one (alloc_cb: data is there), and kept after. (It used to be
  // a member, whose first page every idle connection touched: 4.6 KiB per connection.)
  struct Conn {
    static constexpr std::size_t buf_size = std::size_t{64} * 1024;
    uv_pipe_t pipe;
    std::unique_ptr<char[]> buf;
  };

  void run() {
    uv_loop_init(&loop_);
    stop_ = new uv_async_t{};
    uv_async_init(&loop_, stop_, [](uv_async_t* h) { uv_stop(h->loop); });
    if (bare_) {
      uv_name_ = uv_pipe_path(name_);
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
              if (!conn->buf) conn->buf = std::make_unique<char[]>(Conn::buf_size);
              *b = uv_buf_init(conn->buf.get(), Conn::buf_size);
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
              uv_write(&req->w, s, &out, 1,
                       [](uv_write_t* w, int) { delete reinterpret_cast<Req*>(w); });
            });
      });
    } else {
      uv_name_ = name_;
      async_ = std::make_unique<localsock::AsyncLoop>(&loop_);
      listener_ls_ = localsock::AsyncListener::listen(
          *async_,
          localsock::ListenerOptions(localsock::LocalName::namespaced(name_)).backlog(1024),
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
        uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
                 [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
      uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    } else {
      listener_ls_->close();
      for (auto& c : conns_) c->close();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(stop_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
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

}  // namespace

// `clients` clients on this thread's loop ping-pong `size` bytes with the echo server
// until `count` round trips are done in total. The clients use the same API as the
// server (localsock async, or bare uv_pipe_t). The latency of a round trip runs from
// the client's write to the moment the whole echo has arrived.
Result async_echo(const Args& a, bool bare) {
  ignore_broken_pipes();  // the echo server writes to clients closed at the end
  EchoServer server(bare, unique_name("ae"));
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::size_t done = 0, started = 0;
  const std::vector<char> payload(a.size, 'x');
  Latencies lat(a.count);
  Clock::time_point start;
  {
    std::unique_ptr<localsock::AsyncLoop> async;
    struct BareClient {
      uv_pipe_t pipe;
      uv_connect_t req;
      uv_write_t w;
      std::size_t got = 0;
      Clock::time_point sent;
      char buf[64 * 1024];
      Latencies* lat;
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
        c->lat = &lat;
        c->done = &done;
        c->started = &started;
        c->a = &a;
        c->payload = &payload;
        uv_pipe_init(&loop, &c->pipe, 0);
        c->pipe.data = c.get();
        uv_pipe_connect(
            &c->req, &c->pipe, server.uv_name().c_str(), [](uv_connect_t* req, int status) {
              auto* self = static_cast<BareClient*>(req->handle->data);
              // A client whose connect had not finished when the count was reached is
              // closed with the others: its cancelled (or failed) connect is no error.
              if (status != 0 && *self->done >= self->a->count) return;
              if (status != 0) fail("uv_pipe_connect");
              auto send = [](BareClient* x) {
                ++*x->started;
                x->sent = Clock::now();
                uv_buf_t b = uv_buf_init(const_cast<char*>(x->payload->data()),
                                         static_cast<unsigned>(x->payload->size()));
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
                    x->lat->add(x->sent);
                    ++*x->done;
                    if (*x->started < x->a->count) {
                      ++*x->started;
                      x->sent = Clock::now();
                      uv_buf_t b = uv_buf_init(const_cast<char*>(x->payload->data()),
                                               static_cast<unsigned>(x->payload->size()));
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
      struct Progress {
        std::size_t got = 0;
        Clock::time_point sent;
      };
      for (int i = 0; i < a.clients; ++i) {
        auto progress = std::make_shared<Progress>();
        clients.push_back(localsock::AsyncSocket::connect(
            *async, localsock::LocalName::namespaced(server.uv_name()), localsock::Mode::bytes,
            [&, progress](std::error_code ec, localsock::AsyncSocket::Ptr s) {
              // A client whose connect had not finished when the count was reached is
              // closed with the others: its cancelled (or failed) connect is no error.
              if (ec && done >= a.count) return;
              if (ec) fail("connect: " + ec.message());
              localsock::AsyncSocket* raw = s.get();
              ++started;
              progress->sent = Clock::now();
              raw->write(std::as_bytes(std::span(payload)));
              raw->start_reading([&, raw, progress](const localsock::ReadEvent& e) {
                progress->got += e.data.size();
                if (progress->got < a.size) return;
                progress->got = 0;
                lat.add(progress->sent);
                ++done;
                if (started < a.count) {
                  ++started;
                  progress->sent = Clock::now();
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
    lat.report(r);
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
  held.reserve(static_cast<std::size_t>(a.clients));
  for (int i = 0; i < a.clients; ++i)
    held.push_back(bare ? RawImpl::connect_path(server.uv_name())
                        : RawImpl::connect(server.uv_name()));
  // Let the server accept them all and settle.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double after = rss_kb();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.ops = a.clients / r.seconds;
  r.rss_kb = (after - before) / a.clients;
  return r;
}

}  // namespace bench
