// SPDX-License-Identifier: MIT
// The helper process of a desktop application: it does the work the user interface
// must not wait for on its own thread, and answers the app over message-mode RPC.
//
//   helper NAME
//
// Requests: "add A B", "upper TEXT", "sleep MS" (slow work, to show the app's timeout),
// "restart" (closes the connection and the listener for a moment, as a helper that is
// restarted would). The helper exits when its app disconnects.
#include "protocol.hpp"

#include <localsock/localsock.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;

enum class Outcome { app_left, restart };

std::string answer(const rpc::Parsed& req) {
  const std::string arg(req.rest);
  if (req.head == "add") {
    const std::size_t space = arg.find(' ');
    if (space == std::string::npos) return "error: add A B";
    return std::to_string(std::stoll(arg.substr(0, space)) + std::stoll(arg.substr(space + 1)));
  }
  if (req.head == "upper") {
    std::string out = arg;
    for (char& c : out)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
  }
  if (req.head == "sleep") {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(arg)));
    return "slept " + arg + " ms";
  }
  return "error: unknown request '" + std::string(req.head) + "'";
}

// Serves one app connection until it leaves or asks for a restart.
Outcome serve(const localsock::LocalName& name) {
  // current_user_only: the helper answers nobody but the user who started it.
  auto listener = localsock::LocalMessageListener::bind(
      localsock::ListenerOptions(name).current_user_only(true));
  std::printf("helper: listening on %s\n", name.native().c_str());
  std::fflush(stdout);

  localsock::LocalMessageSocket app = listener.accept();
  std::string request;
  for (;;) {
    std::error_code ec;
    const localsock::ReceiveResult r = app.recv(request, 64 * 1024, ec);
    if (r.end) return Outcome::app_left;
    if (ec == localsock::errc::message_too_large) continue;  // dropped; the app times out
    if (ec) throw localsock::Error(ec, "helper: receive", name.str());

    const rpc::Parsed req = rpc::parse(request, /*reply=*/false);
    const std::string id = std::to_string(req.id);
    if (req.head == "restart") {
      app.send(id + " restarting");
      return Outcome::restart;  // the socket and the listener close on the way out
    }
    std::string reply;
    try {
      reply = answer(req);
    } catch (const std::exception&) {  // std::stoll and friends on bad numbers
      reply = "error: bad argument";
    }
    app.send(id + " " + reply);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: helper NAME\n");
    return 2;
  }
  try {
    const auto name = localsock::LocalName::namespaced(argv[1]);
    while (serve(name) == Outcome::restart) {
      std::printf("helper: restarting\n");
      std::fflush(stdout);
      std::this_thread::sleep_for(300ms);  // the app finds nobody listening meanwhile
    }
    std::printf("helper: the app has gone, exiting\n");
    return 0;
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "helper: %s\n", e.what());
    return 1;
  }
}
