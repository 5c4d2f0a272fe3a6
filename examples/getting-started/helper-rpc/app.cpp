// SPDX-License-Identifier: MIT
// The application side: a small RPC client for the helper process, with a timeout on
// every call and a reconnect when the helper has gone away (crashed, or restarted).
//
//   app NAME
//
// A real GUI would start the helper itself and make these calls from a worker thread;
// here the helper is started separately and the calls run in main().
#include "protocol.hpp"

#include <localsock/localsock.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class HelperClient {
 public:
  explicit HelperClient(localsock::LocalName name) : name_(std::move(name)) {}

  // Sends one request and returns the helper's reply, or nothing when no reply came
  // within `timeout` (the helper is busy or hung: the caller decides what to show).
  // A helper that went away is reconnected to, and the request sent again (a few times:
  // a client that connects while a restarting helper closes its old listener is
  // dropped with that listener, and must simply connect again).
  std::optional<std::string> call(const std::string& request, std::chrono::milliseconds timeout) {
    const std::uint64_t id = next_id_++;
    const std::string message = std::to_string(id) + " " + request;
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (!socket_.is_open()) connect();
      std::error_code ec;
      socket_.send(message, ec);
      if (ec == localsock::errc::peer_closed) {
        socket_.close();  // the helper went away before our request: try again
        continue;
      }
      if (ec) throw localsock::Error(ec, "app: send", name_.str());
      if (auto reply = wait_for_reply(id, Clock::now() + timeout)) return reply;
      if (socket_.is_open()) return std::nullopt;  // timed out; the connection is fine
      // Otherwise the helper went away while the request was in flight: try again
      // (safe here because every request of this protocol may be repeated).
    }
    throw localsock::Error(localsock::make_error_code(localsock::errc::peer_closed), "app: call",
                           name_.str());
  }

 private:
  // Waits for the reply with this id, skipping late replies to earlier requests. On
  // timeout returns nothing with the socket open; when the helper has gone, returns
  // nothing with the socket closed.
  std::optional<std::string> wait_for_reply(std::uint64_t id, Clock::time_point deadline) {
    std::string reply;
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return std::nullopt;
      std::error_code ec;
      socket_.set_read_timeout(left, ec);
      const localsock::ReceiveResult r = socket_.recv(reply, 64 * 1024, ec);
      if (ec == localsock::errc::timed_out) return std::nullopt;
      if (r.end || ec == localsock::errc::peer_closed) {
        socket_.close();
        return std::nullopt;
      }
      if (ec) throw localsock::Error(ec, "app: receive", name_.str());
      const rpc::Parsed p = rpc::parse(reply, /*reply=*/true);
      if (p.id == id) return std::string(p.head);
      std::printf("  (a late reply to request %llu, skipped: %s)\n",
                  static_cast<unsigned long long>(p.id), std::string(p.head).c_str());
    }
  }

  // Connects, waiting up to 5 s for the helper to (re)start listening.
  void connect() {
    const auto give_up = Clock::now() + 5s;
    for (;;) {
      std::error_code ec;
      auto s =
          localsock::LocalMessageSocket::connect(localsock::ConnectOptions(name_).timeout(1s), ec);
      if (!ec) {
        socket_ = std::move(s);
        ++connects_;
        return;
      }
      if (ec != localsock::errc::no_listener || Clock::now() > give_up)
        throw localsock::Error(ec, "app: connect to the helper", name_.str());
      std::this_thread::sleep_for(50ms);
    }
  }

 public:
  int connects() const { return connects_; }

 private:
  localsock::LocalName name_;
  localsock::LocalMessageSocket socket_;
  std::uint64_t next_id_ = 1;
  int connects_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: app NAME\n");
    return 2;
  }
  try {
    HelperClient helper(localsock::LocalName::namespaced(argv[1]));
    struct Step {
      std::string request;
      std::chrono::milliseconds timeout;
      std::optional<std::string> expected;  // nothing: expected to time out
    };
    const Step steps[] = {
        {"add 2 3", 2s, "5"},
        {"upper hello", 2s, "HELLO"},
        {"sleep 500", 200ms, std::nullopt},  // the helper is busy past our patience
        {"add 40 2", 2s, "42"},              // the late "slept" reply is skipped
        {"restart", 2s, "restarting"},
        {"upper again", 2s, "AGAIN"},  // answered after a reconnect
    };
    int wrong = 0;
    for (const Step& step : steps) {
      const std::optional<std::string> reply = helper.call(step.request, step.timeout);
      std::printf("%-12s -> %s\n", step.request.c_str(),
                  reply ? reply->c_str() : "(no reply in time: the helper is busy)");
      wrong += reply != step.expected;
    }
    std::printf("app: %d wrong replies, %d connections\n", wrong, helper.connects());
    // At least one reconnect (the restart); one more when a connect met the old listener
    // in its last moments.
    return wrong == 0 && helper.connects() >= 2 ? 0 : 1;
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "app: %s\n", e.what());
    return 1;
  }
}
