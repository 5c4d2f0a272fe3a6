// SPDX-License-Identifier: MIT
// A "desktop app" that runs once per user: the first launch becomes the primary and
// prints what every later launch hands it (its arguments and working directory); a
// later launch hands its own over, waits for the acknowledgement and exits, as an
// editor does when a file is opened while it runs. The name is per user, so another
// user's launches start their own primary, and a process of another user that took
// the name first is refused (access denied), never talked to.
//
//   single_instance [--app ID] [--exit-after N] [ARGS...]
//
// --exit-after N: the primary exits after N later launches (default: it runs until
// interrupted).
#include <localsock/localsock.hpp>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

int main(int argc, char** argv) {
  std::string app = "org.localsock.example.single-instance";
  long exit_after = -1;
  int first_arg = 1;
  while (first_arg + 1 < argc) {
    if (std::strcmp(argv[first_arg], "--app") == 0) {
      app = argv[first_arg + 1];
    } else if (std::strcmp(argv[first_arg], "--exit-after") == 0) {
      exit_after = std::strtol(argv[first_arg + 1], nullptr, 10);
    } else {
      break;
    }
    first_arg += 2;
  }

  std::mutex m;
  std::condition_variable cv;
  long launches = 0;
  auto on_launch = [&](const std::string& message, const localsock::PeerInfo& sender) {
    std::error_code ec;
    const auto launch = localsock::LaunchInfo::decode(message, ec);
    if (ec) {
      std::printf("a message that is no launch (%zu bytes)\n", message.size());
    } else {
      std::printf("launch (pid %lld) in %s:", static_cast<long long>(sender.pid.value_or(-1)),
                  launch.working_directory.c_str());
      for (const auto& a : launch.arguments) std::printf(" [%s]", a.c_str());
      std::printf("\n");
    }
    std::fflush(stdout);
    std::lock_guard lock(m);
    ++launches;
    cv.notify_all();
  };

  try {
    localsock::SingleInstance instance(localsock::LocalName::per_user(app), on_launch);
    if (!instance.is_primary()) {
      // Our own arguments (after the example's options) and directory.
      localsock::LaunchInfo launch = localsock::LaunchInfo::of_this_process(0, nullptr);
      for (int i = first_arg; i < argc; ++i) launch.arguments.emplace_back(argv[i]);
      std::error_code ec;
      instance.send(launch.encode(), ec);
      if (!ec) {
        std::printf("secondary: handed over to the primary\n");
        return 0;
      }
      // no_listener with is_primary(): the primary went away meanwhile (it was quitting,
      // or it crashed) and this launch took its place. Anything else (access_denied: a
      // squatter of another user holds the name; timed_out: the primary did not take the
      // message in time, and never will) is a failure.
      if (!instance.is_primary())
        throw localsock::Error(ec, "SingleInstance::send", instance.name().str());
      std::printf("primary (in place of one that went away): %zu arguments of our own\n",
                  launch.arguments.size());
    }
    std::printf("primary: waiting for later launches\n");
    std::fflush(stdout);
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return exit_after >= 0 && launches >= exit_after; });
    std::printf("primary: %ld launches handled, exiting\n", launches);
    return 0;
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "single_instance: %s\n", e.what());
    return 1;
  }
}
