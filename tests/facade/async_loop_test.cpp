// SPDX-License-Identifier: MIT
// What keeps uv_run running (each claim of docs/async.md, "What keeps the loop
// running", checked by running the loop), and open_handles(), which names localsock's
// objects still open on a loop.
#include "async_support.hpp"

#include <string_view>

namespace {

// Runs `t`'s loop with UV_RUN_DEFAULT until it returns. An unreferenced timer (which
// itself keeps nothing running) calls `release` after `after` if the loop is still
// running then; `release` must let go of what kept it running. Returns whether the
// timer fired: whether localsock kept the loop running that long. `returned` runs as
// soon as uv_run has returned (before the timer's own closing runs the loop again).
bool kept_running(TestLoop& t, std::function<void()> release,
                  std::chrono::milliseconds after = 150ms,
                  const std::function<void()>& returned = {}) {
  struct Guard {
    uv_timer_t timer{};
    std::function<void()> release;
    bool fired = false;
  } guard;
  guard.release = std::move(release);
  uv_timer_init(&t.loop, &guard.timer);
  guard.timer.data = &guard;
  uv_timer_start(
      &guard.timer,
      [](uv_timer_t* h) {
        auto& g = *static_cast<Guard*>(h->data);
        g.fired = true;
        g.release();
      },
      static_cast<std::uint64_t>(after.count()), 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&guard.timer));
  uv_run(&t.loop, UV_RUN_DEFAULT);
  if (returned) returned();
  uv_close(reinterpret_cast<uv_handle_t*>(&guard.timer), nullptr);
  uv_run(&t.loop, UV_RUN_NOWAIT);
  return guard.fired;
}

// A connected pair on `t`; the listener is closed once both ends exist.
struct Pair {
  AsyncSocket::Ptr server;
  AsyncSocket::Ptr client;
  void close() {
    if (server) server->close();
    if (client) client->close();
  }
};

Pair connect_pair(TestLoop& t, Mode mode = Mode::bytes,
                  localsock::MessageTransport transport = localsock::MessageTransport::automatic) {
  const LocalName name = fresh_name();
  Pair p;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name).transport(transport), mode,
                                        [&p](std::error_code ec, AsyncSocket::Ptr s) {
                                          REQUIRE_FALSE(ec);
                                          p.server = s;
                                        });
  AsyncSocket::connect(*t.async, ConnectOptions(name).transport(transport), mode,
                       [&p](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         p.client = s;
                       });
  REQUIRE(t.run([&] { return p.server && p.client; }, 10s));
  bool closed = false;
  listener->close([&] { closed = true; });
  REQUIRE(t.run([&] { return closed; }, 10s));
  return p;
}

bool has_line(const std::string& text, std::string_view line) {
  return text.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("keep-alive: an AsyncLoop alone does not keep uv_run running") {
  TestLoop t;
  CHECK_FALSE(kept_running(t, [] {}));
}

TEST_CASE("keep-alive: an open listener keeps uv_run running until it is closed") {
  TestLoop t;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(fresh_name()), Mode::bytes,
                                        [](std::error_code, AsyncSocket::Ptr) {});
  CHECK(kept_running(t, [&] { listener->close(); }));
  CHECK_FALSE(listener->is_open());
  CHECK_FALSE(kept_running(t, [] {}));  // closed: nothing left
}

TEST_CASE(
    "keep-alive: an open socket that is not reading and has nothing to write does not keep uv_run "
    "running") {
  for (const Mode mode : {Mode::bytes, Mode::messages}) {
    CAPTURE(mode == Mode::bytes ? "bytes" : "messages");
    TestLoop t;
    Pair p = connect_pair(t, mode);
    CHECK_FALSE(kept_running(t, [&] { p.close(); }));
    CHECK(p.client->is_open());
    CHECK(p.server->is_open());
    // Reading paused with stop_reading() (on Windows with a read already in flight):
    // the same.
    std::string got;
    p.server->start_reading([&](const ReadEvent& e) { e.append_to(got); });
    t.run([] { return false; }, 20ms);
    p.server->stop_reading();
    CHECK_FALSE(kept_running(t, [&] { p.close(); }));
    CHECK(p.server->is_open());
    // What arrives meanwhile waits for resume_reading().
    p.client->write("after the pause");
    t.run([] { return false; }, 50ms);
    CHECK(got.empty());
    p.server->resume_reading();
    CHECK(t.run([&] { return got == "after the pause"; }, 10s));
    p.close();
    t.settle();
  }
}

TEST_CASE("keep-alive: a reading socket keeps uv_run running until it is closed") {
  TestLoop t;
  Pair p = connect_pair(t);
  p.server->start_reading([](const ReadEvent&) {});
  bool closed = false;
  CHECK(kept_running(t, [&] {
    p.server->close([&] { closed = true; });
    p.client->close();
  }));
  CHECK(closed);  // uv_run returned only after the close had finished
}

TEST_CASE("keep-alive: pending writes keep uv_run running until they are written") {
  TestLoop t;
  Pair p = connect_pair(t);
  // More than the system buffers hold: the write waits for the peer to read.
  const auto data = pattern(8 * 1024 * 1024, 5);
  bool written = false;
  std::function<void()> on_written;
  p.client->write(std::span<const std::byte>(data), [&](std::error_code ec) {
    CHECK_FALSE(ec);
    written = true;
    if (on_written) on_written();
  });
  CHECK(p.client->queued_bytes() > 0);
  std::size_t received = 0;
  // The peer starts reading only when the timer fires; both ends close once everything
  // was written and arrived: uv_run returns then.
  auto close_when_done = [&] {
    if (written && received == data.size()) p.close();
  };
  on_written = close_when_done;
  CHECK(kept_running(t, [&] {
    p.server->start_reading([&](const ReadEvent& e) {
      received += e.data.size();
      close_when_done();
    });
  }));
  CHECK(written);
  CHECK(received == data.size());
}

TEST_CASE("keep-alive: a message taken in part keeps uv_run running and counts as queued") {
  // Unix: the framed transport takes a frame in part when the socket fills, inside
  // write() itself (no callback, nothing queued), and keeps its rest to send when the
  // socket is writable again. That rest is still to send: queued_bytes() counts it, and
  // open_handles() says the socket keeps the loop running, as it does. (Windows pipes
  // ignore the transport: the message waits in the queue for its WriteFile.)
  TestLoop t;
  Pair p = connect_pair(t, Mode::messages, localsock::MessageTransport::framed);
  const std::size_t size = std::min<std::size_t>(3 * 1024 * 1024, p.client->max_message_size());
  const auto data = pattern(size, 9);
  p.client->write(std::span<const std::byte>(data));  // no callback: taken at once, in part
  const std::size_t queued = p.client->queued_bytes();
  CAPTURE(queued);
  CHECK(queued > 0);
  CHECK(queued <= size + 8);  // the message and at most its frame's header
  // The client is listed as keeping the loop running, with what it still has to send.
  int keeping = 0;
  for (const auto& h : localsock::open_handles(&t.loop)) {
    if (h.kind != localsock::OpenHandle::Kind::socket || !h.keeps_loop_running) continue;
    ++keeping;
    CAPTURE(h.state);
    CHECK(h.state.find("(" + std::to_string(queued) + " bytes)") != std::string::npos);
  }
  CHECK(keeping == 1);
  std::size_t received = 0;
  CHECK(kept_running(t, [&] {
    p.server->start_reading([&](const ReadEvent& e) {
      received += e.data.size();
      if (received == size) p.close();
    });
  }));
  CHECK(received == size);
}

TEST_CASE("keep-alive: a connect in progress keeps uv_run running until it completes") {
  TestLoop t;
  // Nobody listens: the connect completes with no_listener, from the thread pool.
  std::error_code result;
  bool done = false;
  AsyncSocket::connect(*t.async, ConnectOptions(fresh_name()), Mode::bytes,
                       [&](std::error_code ec, AsyncSocket::Ptr) {
                         result = ec;
                         done = true;
                       });
  CHECK_FALSE(done);
  kept_running(t, [] {});
  CHECK(done);  // uv_run returned only after the connect's callback ran
  CHECK(result == errc::no_listener);
}

TEST_CASE("keep-alive: a function posted on the loop thread keeps uv_run running until it ran") {
  // Posted on the loop's own thread before uv_run (nothing else open): uv_run runs it
  // before it returns, and returns then, without waiting for anything else.
  TestLoop t;
  bool ran = false;
  t.async->post([&] { ran = true; });
  bool ran_before_return = false;
  CHECK_FALSE(kept_running(
      t, [] {}, 150ms, [&] { ran_before_return = ran; }));
  CHECK(ran_before_return);
}

TEST_CASE(
    "keep-alive: a function posted while nothing keeps the loop running waits for a later run") {
  TestLoop t;
  bool ran = false;
  std::thread([&] { t.async->post([&] { ran = true; }); }).join();
  bool ran_before_return = true;
  CHECK_FALSE(kept_running(
      t, [] {}, 150ms, [&] { ran_before_return = ran; }));
  CHECK_FALSE(ran_before_return);  // the wake-up handle does not keep the loop running
  // Once something keeps the loop running, it runs.
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(fresh_name()), Mode::bytes,
                                        [](std::error_code, AsyncSocket::Ptr) {});
  REQUIRE(t.run([&] { return ran; }, 10s));
  listener->close();
  t.settle();
}

TEST_CASE(
    "open_handles: names each listener and socket still open, with its state, until it is closed") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                        [&](std::error_code ec, AsyncSocket::Ptr s) {
                                          REQUIRE_FALSE(ec);
                                          server_side = s;
                                        });
  AsyncSocket::Ptr client;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         client = s;
                       });
  const std::string quoted = "'" + name.str() + "'";
  {
    // Right after connect(): the socket is connecting.
    const std::string text = localsock::describe_open_handles(&t.loop);
    CHECK(
        has_line(text, "listener " + quoted + " (messages): listening, keeps the loop running\n"));
    CHECK(has_line(text, "socket " + quoted + " (messages): connecting, keeps the loop running\n"));
    CHECK(has_line(text, "AsyncLoop: attached"));
  }
  REQUIRE(t.run([&] { return client && server_side; }, 10s));
  server_side->start_reading([](const ReadEvent&) {});
  {
    const auto handles = localsock::open_handles(&t.loop);
    CHECK(handles.size() == 4);  // the loop, the listener, both ends
    const std::string text = localsock::describe_open_handles(&t.loop);
    CHECK(has_line(text,
                   "socket " + quoted + " (messages): open, reading, keeps the loop running\n"));
    CHECK(has_line(text, "socket " + quoted +
                             " (messages): open, not reading, does not keep the loop running\n"));
  }
  int closed = 0;
  listener->close([&] { ++closed; });
  server_side->close([&] { ++closed; });
  client->close([&] { ++closed; });
  REQUIRE(t.run([&] { return closed == 3; }, 10s));
  // Closed (even though the test still holds the pointers): only the AsyncLoop is left.
  const auto handles = localsock::open_handles(&t.loop);
  REQUIRE(handles.size() == 1);
  CHECK(handles[0].kind == localsock::OpenHandle::Kind::loop);
  CHECK_FALSE(handles[0].keeps_loop_running);
}

TEST_CASE("open_handles: the bytes a socket lists as queued are those queued_bytes() counts") {
  // A byte socket writes a large write in parts: what the system took is no longer
  // queued, in queued_bytes() and in the listing alike.
  TestLoop t;
  Pair p = connect_pair(t);
  const auto data = pattern(8 * 1024 * 1024, 5);
  p.client->write(std::span<const std::byte>(data), [](std::error_code) {});
  t.settle();
  const std::size_t queued = p.client->queued_bytes();
  CAPTURE(queued);
  REQUIRE(queued > 0);
  const std::string text = localsock::describe_open_handles(&t.loop);
  CAPTURE(text);
  CHECK(has_line(text, "1 write queued (" + std::to_string(queued) + " bytes)"));
  bool closed = false;
  p.client->close([&] { closed = true; });
  REQUIRE(t.run([&] { return closed; }, 10s));
  p.close();
  t.settle();
}

TEST_CASE("open_handles: names the listener left open when uv_loop_close fails with UV_EBUSY") {
  // The mistake the helper is for: a listener whose pointer was dropped without close().
  TestLoop t;
  const LocalName name = fresh_name();
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                        [](std::error_code, AsyncSocket::Ptr) {});
  const std::weak_ptr<AsyncListener> weak = listener;
  listener.reset();  // dropping the pointer does not close it
  t.settle();
  CHECK(uv_loop_close(&t.loop) == UV_EBUSY);
  const auto handles = localsock::open_handles(&t.loop);
  REQUIRE(handles.size() == 2);
  const auto it = std::find_if(handles.begin(), handles.end(), [](const auto& h) {
    return h.kind == localsock::OpenHandle::Kind::listener;
  });
  REQUIRE(it != handles.end());
  CHECK(it->name == name.str());
  CHECK(it->state == "listening");
  CHECK(it->keeps_loop_running);
  CHECK(has_line(localsock::describe_open_handles(&t.loop),
                 "listener '" + name.str() + "' (bytes): listening, keeps the loop running\n"));
  // A loop with nothing of localsock's on it: nothing listed.
  uv_loop_t other{};
  uv_loop_init(&other);
  CHECK(localsock::open_handles(&other).empty());
  CHECK(localsock::describe_open_handles(&other).empty());
  CHECK(uv_loop_close(&other) == 0);
  // Closed as the listing says, the loop closes (TestLoop checks uv_loop_close).
  REQUIRE(weak.lock());
  bool closed = false;
  weak.lock()->close([&] { closed = true; });
  REQUIRE(t.run([&] { return closed; }, 10s));
}
