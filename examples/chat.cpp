// SPDX-License-Identifier: MIT
// An async chat: a broadcast server and clients on a libuv loop, in message mode (one
// line = one message). The same program on Linux and Windows.
//
//   chat serve NAME          run a server until interrupted
//   chat join NAME NICK      join it: lines typed are sent, messages of others printed
//   chat demo                a server and three clients in one process (used as a test)
//
// `join` reads standard input in a thread of its own and hands each line to the loop
// with AsyncLoop::post, the thread-safe way into the loop.
#include <localsock/async.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

namespace {

using localsock::AsyncListener;
using localsock::AsyncLoop;
using localsock::AsyncSocket;
using localsock::LocalName;
using localsock::Mode;
using localsock::ReadEvent;

std::vector<std::byte> bytes_of(const std::string& s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

std::string text_of(std::span<const std::byte> data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// The broadcast server: every message from one member goes to all the others. A member
// that cannot keep up (its queue above the high-water mark) misses messages rather than
// making the server's memory grow.
class ChatServer {
 public:
  ChatServer(AsyncLoop& loop, const LocalName& name) {
    listener_ = AsyncListener::listen(loop, name, Mode::messages,
                                      [this](std::error_code ec, AsyncSocket::Ptr s) {
                                        if (!ec) join(std::move(s));
                                      });
  }
  void close() {
    listener_->close();
    for (auto& m : members_) m->close();
    members_.clear();
  }

 private:
  void join(AsyncSocket::Ptr member) {
    members_.insert(member);
    member->write(bytes_of("* welcome, " + std::to_string(members_.size()) + " here"));
    AsyncSocket* raw = member.get();
    member->start_reading([this, raw](const ReadEvent& e) {
      if (e.end || (e.error && e.error != localsock::errc::message_too_large)) {
        leave(raw);
        return;
      }
      if (e.error) return;  // an over-size line: dropped
      for (auto& other : members_)
        if (other.get() != raw && other->queued_bytes() < std::size_t{1024} * 1024)
          other->write(e.data);
    });
  }
  void leave(AsyncSocket* member) {
    for (auto it = members_.begin(); it != members_.end(); ++it) {
      if (it->get() == member) {
        (*it)->close();
        members_.erase(it);
        return;
      }
    }
  }

  AsyncListener::Ptr listener_;
  std::set<AsyncSocket::Ptr> members_;
};

int serve(const std::string& name) {
  uv_loop_t* loop = uv_default_loop();
  AsyncLoop async(loop);
  ChatServer server(async, LocalName::namespaced(name));
  std::printf("chat: serving %s\n", name.c_str());
  std::fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}

int join(const std::string& name, const std::string& nick) {
  uv_loop_t* loop = uv_default_loop();
  AsyncLoop async(loop);
  bool failed = false;
  AsyncSocket::Ptr me =
      AsyncSocket::connect(async, LocalName::namespaced(name), Mode::messages,
                           [&](std::error_code ec, AsyncSocket::Ptr s) {
                             if (ec) {
                               std::fprintf(stderr, "chat: %s\n", ec.message().c_str());
                               failed = true;
                               return;
                             }
                             s->start_reading([](const ReadEvent& e) {
                               if (e.end) return;
                               std::printf("%s\n", text_of(e.data).c_str());
                               std::fflush(stdout);
                             });
                           });
  // Standard input in its own thread; the loop gets each line through a Poster, which
  // stays safe to use after the loop is gone (the thread may still wait in getline).
  std::thread input([poster = async.poster(), me, nick] {
    std::string line;
    while (std::getline(std::cin, line))
      poster.post(
          [me, msg = std::string(nick).append(": ").append(line)] { me->write(bytes_of(msg)); });
    poster.post([me] { me->close(); });
  });
  input.detach();
  uv_run(loop, UV_RUN_DEFAULT);
  return failed ? 1 : 0;
}

// A server and three clients on one loop; each client says two things and must hear
// the four lines of the others.
int demo() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int failures = 0;
  {
    AsyncLoop async(&loop);
    const LocalName name =
        LocalName::namespaced("localsock-chat-" + std::to_string(std::random_device{}()));
    ChatServer server(async, name);
    const std::vector<std::string> nicks{"ada", "bob", "cy"};
    std::vector<AsyncSocket::Ptr> clients;
    std::vector<int> heard(nicks.size(), 0);
    int joined = 0;
    for (std::size_t i = 0; i < nicks.size(); ++i) {
      clients.push_back(AsyncSocket::connect(
          async, name, Mode::messages, [&, i](std::error_code ec, AsyncSocket::Ptr s) {
            if (ec) {
              ++failures;
              return;
            }
            s->start_reading([&, i](const ReadEvent& e) {
              if (e.end || e.error) return;
              const std::string text = text_of(e.data);
              std::printf("[%s hears] %s\n", nicks[i].c_str(), text.c_str());
              if (text.rfind("* welcome", 0) == 0) {
                // Everyone speaks once the server has all of them, so nobody misses a line.
                if (++joined == static_cast<int>(nicks.size())) {
                  for (std::size_t k = 0; k < nicks.size(); ++k) {
                    clients[k]->write(bytes_of(nicks[k] + ": hello"));
                    clients[k]->write(bytes_of(nicks[k] + ": bye"));
                  }
                }
                return;
              }
              if (++heard[i] == 4) {
                bool all = true;
                for (int h : heard) all = all && h == 4;
                if (all) {
                  for (auto& c : clients) c->close();
                  server.close();
                }
              }
            });
          }));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int h : heard) failures += h != 4;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  failures += uv_loop_close(&loop) != 0;
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "serve" && argc == 3) return serve(argv[2]);
    if (cmd == "join" && argc == 4) return join(argv[2], argv[3]);
    if (cmd == "demo") return demo();
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "chat: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: chat serve NAME | chat join NAME NICK | chat demo\n");
  return 2;
}
