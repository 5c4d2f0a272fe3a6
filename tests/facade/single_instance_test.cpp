// SPDX-License-Identifier: MIT
// SingleInstance, blocking and async, natively and under Wine: one primary, every
// later launch's message delivered and acknowledged, races between simultaneous
// launches, and a killed primary replaced by the next launch.
#include <localsock/single_instance.hpp>

#include <localsock/async.hpp>
#include <localsock/capabilities.hpp>
#include <localsock/localsock.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "child_main.hpp"
#include "doctest_ext.hpp"
#include "process.hpp"
#include "test_loop.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::errc;
using localsock::LaunchInfo;
using localsock::LocalName;
using localsock::PeerInfo;
using localsock::SingleInstance;
using localsock::SingleInstanceOptions;

namespace {

// Messages a primary received, for a test to wait on.
struct Inbox {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> messages;
  std::vector<PeerInfo> senders;

  localsock::InstanceMessageHandler handler() {
    return [this](std::string msg, const PeerInfo& from) {
      std::lock_guard lock(m);
      messages.push_back(std::move(msg));
      senders.push_back(from);
      cv.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds deadline) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, deadline, [&] { return messages.size() >= n; });
  }
};

LocalName fresh_app_name(const char* prefix) {
  return LocalName::per_user(localsock::test::unique_name(prefix));
}

// Under Wine, starting a process costs far more than natively.
bool slow_processes() {
#if defined(_WIN32)
  return !localsock::capabilities().first_instance_enforced;  // Wine does not enforce it
#else
  return false;
#endif
}

// A launch of the "application": args: app id, number of launches, tag.
// Exit 10: it was the primary and received exactly (launches - 1) distinct messages;
// 0: a secondary whose message was acknowledged; anything else: a failure.
localsock::test::RegisterChild launch("si_launch", [](const std::vector<std::string>& a) {
  const LocalName name = LocalName::per_user(a.at(0));
  const std::size_t others = std::stoul(a.at(1)) - 1;
  Inbox inbox;
  std::error_code ec;
  SingleInstance app(SingleInstanceOptions(name).timeout(30s), inbox.handler(), ec);
  if (ec) {
    std::fprintf(stderr, "start: %s\n", ec.message().c_str());
    return 2;
  }
  if (!app.is_primary()) {
    app.send(a.at(2), ec);
    if (ec) std::fprintf(stderr, "send: %s\n", ec.message().c_str());
    return ec ? 3 : 0;
  }
  if (!inbox.wait_for(others, 30s)) return 4;
  std::this_thread::sleep_for(50ms);  // a message beyond the expected ones would show now
  std::lock_guard lock(inbox.m);
  const std::set<std::string> distinct(inbox.messages.begin(), inbox.messages.end());
  return inbox.messages.size() == others && distinct.size() == others ? 10 : 5;
});

// A primary that stays until it is killed. Exit 10 only if it was not primary-less.
localsock::test::RegisterChild hold("si_hold", [](const std::vector<std::string>& a) {
  Inbox inbox;
  SingleInstance app(SingleInstanceOptions(LocalName::per_user(a.at(0))), inbox.handler());
  if (!app.is_primary()) return 1;
  std::this_thread::sleep_for(60s);
  return 10;
});

}  // namespace

TEST_CASE(
    "single instance: the first is primary; a second's message is delivered and acknowledged") {
  const LocalName name = fresh_app_name("si");
  Inbox inbox;
  SingleInstance primary(name, inbox.handler());
  REQUIRE(primary.is_primary());
  SingleInstance second(name, [](std::string, const PeerInfo&) { FAIL("a secondary received"); });
  CHECK_FALSE(second.is_primary());
  second.send("open file.txt");
  // The acknowledgement comes after the handler: the message is there already.
  std::lock_guard lock(inbox.m);
  REQUIRE(inbox.messages.size() == 1);
  CHECK(inbox.messages[0] == "open file.txt");
  if (localsock::capabilities().peer_pid) {  // not told by getpeereid (BSD, generic flavor)
    REQUIRE(inbox.senders[0].pid.has_value());
    CHECK(*inbox.senders[0].pid == static_cast<std::int64_t>(localsock::test::current_pid()));
  }
  std::error_code ec;
  primary.send("x", ec);
  CHECK(ec == errc::wrong_end);
}

TEST_CASE("single instance: a primary that goes away frees the name for the next launch") {
  const LocalName name = fresh_app_name("sf");
  Inbox inbox;
  {
    SingleInstance first(name, inbox.handler());
    REQUIRE(first.is_primary());
  }
  SingleInstance next(name, inbox.handler());
  CHECK(next.is_primary());
  // A secondary of the old generation that finds nobody: no_listener once the lock is
  // free, never a hang.
  SingleInstance late(name, inbox.handler());
  CHECK_FALSE(late.is_primary());
  late.send("still there?");
  CHECK(inbox.wait_for(1, 5s));
}

TEST_CASE(
    "single instance: a secondary finding no primary at all reports no_listener at once, as the "
    "new primary") {
  // Made secondary by a listener that does not take the lock, which then goes away.
  const LocalName name = fresh_app_name("sn");
  std::error_code ec;
  auto plain = localsock::LocalMessageListener::bind(name);
  SingleInstance s(
      name, [](std::string, const PeerInfo&) {}, ec);
  REQUIRE_FALSE(ec);
  CHECK_FALSE(s.is_primary());
  plain.close();
  const auto start = std::chrono::steady_clock::now();
  s.send("hello", ec);
  CHECK(ec == errc::no_listener);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  // With nobody left, this launch took the name: it is the primary now.
  CHECK(s.is_primary());
}

TEST_CASE("single instance: LaunchInfo carries the arguments and working directory") {
  const char* argv[] = {"app", "--open", "", "file with spaces.txt", "Ünïcode"};
  const LaunchInfo info = LaunchInfo::of_this_process(5, argv);
  CHECK(info.arguments ==
        std::vector<std::string>{"--open", "", "file with spaces.txt", "Ünïcode"});
  CHECK_FALSE(info.working_directory.empty());
  std::error_code ec;
  const LaunchInfo back = LaunchInfo::decode(info.encode(), ec);
  REQUIRE_FALSE(ec);
  CHECK(back.arguments == info.arguments);
  CHECK(back.working_directory == info.working_directory);
  LaunchInfo::decode("no terminator", ec);
  CHECK(ec == std::errc::invalid_argument);
}

TEST_CASE("single instance (async): the primary receives messages on its loop") {
  localsock::test::TestLoop loop;
  const LocalName name = fresh_app_name("sa");
  std::vector<std::string> got;
  const auto loop_thread = std::this_thread::get_id();
  bool on_loop = true;
  auto primary = localsock::AsyncSingleInstance::start(
      *loop.async, name, [&](std::string msg, const PeerInfo&) {
        on_loop = on_loop && std::this_thread::get_id() == loop_thread;
        got.push_back(std::move(msg));
      });
  REQUIRE(primary->is_primary());
  std::error_code send_ec[3];
  std::atomic<bool> sent{false};
  std::thread launches([&] {
    for (int i = 0; i < 3; ++i) {
      SingleInstance later(name, [](std::string, const PeerInfo&) {});
      if (later.is_primary()) break;
      later.send("launch " + std::to_string(i), send_ec[i]);
    }
    sent = true;
  });
  // The loop runs until the last acknowledgement has reached its sender.
  CHECK(loop.run([&] { return sent.load(); }, 20s));
  launches.join();
  for (const auto& ec : send_ec) CHECK_FALSE(ec);
  CHECK(got == std::vector<std::string>{"launch 0", "launch 1", "launch 2"});
  CHECK(on_loop);
  bool closed = false;
  primary->close([&] { closed = true; });
  CHECK(loop.run([&] { return closed; }, 5s));
  // The name is free again.
  SingleInstance next(name, [](std::string, const PeerInfo&) {});
  CHECK(next.is_primary());
}

TEST_CASE(
    "single instance: simultaneous launches give exactly one primary and every other message "
    "delivered") {
  constexpr int launches = 20;
  // Natively 20 rounds of 20 processes take a few seconds. Under Wine, where starting a
  // process costs far more (and 20 starting at once slow every other Wine process, other
  // suites running beside this one included), one round of 20 is run.
  const int rounds = slow_processes() ? 1 : 20;
  for (int round = 0; round < rounds; ++round) {
    const std::string app = localsock::test::unique_name("sr");
    std::vector<localsock::test::Child> children;
    for (int i = 0; i < launches; ++i) {
      children.push_back(localsock::test::Child::spawn(
          localsock::test::self_path(),
          {"--child", "si_launch", app, std::to_string(launches), "launch-" + std::to_string(i)}));
    }
    int primaries = 0, delivered = 0, failed = 0;
    for (auto& c : children) {
      const int code = c.wait(60s);
      if (code == 10)
        ++primaries;
      else if (code == 0)
        ++delivered;
      else
        ++failed;
    }
    INFO("round ", round);
    CHECK(primaries == 1);
    CHECK(delivered == launches - 1);
    CHECK(failed == 0);
    if (primaries != 1 || failed != 0) break;
  }
}

TEST_CASE("single instance: a primary killed outright is replaced by the next launch") {
  const std::string app = localsock::test::unique_name("sk");
  const LocalName name = LocalName::per_user(app);
  auto primary =
      localsock::test::Child::spawn(localsock::test::self_path(), {"--child", "si_hold", app});
  // Wait until the child is the primary and listens, without competing for the name:
  // a plain connect, which the primary takes and drops (it says nothing).
  bool reached = false;
  for (int i = 0; i < 1000 && !reached; ++i) {
    std::error_code ec;
    localsock::LocalMessageSocket::connect(name, ec);
    reached = !ec;
    if (!reached) std::this_thread::sleep_for(10ms);
  }
  REQUIRE(reached);
  primary.kill();  // SIGKILL / TerminateProcess: no cleanup runs
  primary.wait();
  Inbox inbox;
  SingleInstance next(name, inbox.handler());
  CHECK(next.is_primary());  // on Unix its stale socket file was reclaimed
  SingleInstance later(name, [](std::string, const PeerInfo&) {});
  REQUIRE_FALSE(later.is_primary());
  later.send("after the crash");
  CHECK(inbox.wait_for(1, 5s));
}

TEST_CASE("single instance: silent connections do not hold up a later launch") {
  // Connections that never say anything (a launcher probing "is it running?", a launch
  // stopped with ^Z) must not make the primary keep a real launch waiting.
  const LocalName name = fresh_app_name("sh");
  Inbox inbox;
  SingleInstance primary(SingleInstanceOptions(name).timeout(2s), inbox.handler());
  REQUIRE(primary.is_primary());
  auto idle1 = localsock::LocalMessageSocket::connect(name);
  auto idle2 = localsock::LocalMessageSocket::connect(name);
  std::this_thread::sleep_for(50ms);
  SingleInstance later(SingleInstanceOptions(name).timeout(2s),
                       [](std::string, const PeerInfo&) {});
  REQUIRE_FALSE(later.is_primary());
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  later.send("open file.txt", ec);
  CHECK_FALSE(ec);
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  std::lock_guard lock(inbox.m);
  CHECK(inbox.messages == std::vector<std::string>{"open file.txt"});
}

TEST_CASE("single instance: a launch whose send() timed out is never handled afterwards") {
  // The handler of the first message is slow (a modal dialog); a second launch gives up
  // waiting. Its send() reports timed_out, so the primary must never act on its message:
  // an application that retries would otherwise deliver it twice.
  const LocalName name = fresh_app_name("st");
  Inbox inbox;
  std::atomic<bool> first_in_handler{false};
  const localsock::InstanceMessageHandler record = inbox.handler();
  const localsock::InstanceMessageHandler slow = [&](std::string msg, const PeerInfo& from) {
    if (std::string_view(msg).starts_with("first")) {
      first_in_handler = true;
      std::this_thread::sleep_for(1500ms);
    }
    record(std::move(msg), from);
  };
  SingleInstance primary(SingleInstanceOptions(name).timeout(5s), slow);
  REQUIRE(primary.is_primary());
  std::error_code first_ec;
  std::thread first([&] {
    SingleInstance a(SingleInstanceOptions(name).timeout(5s), [](std::string, const PeerInfo&) {});
    a.send("first", first_ec);
  });
  for (int i = 0; i < 500 && !first_in_handler; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(first_in_handler);
  SingleInstance b(SingleInstanceOptions(name).timeout(300ms), [](std::string, const PeerInfo&) {});
  REQUIRE_FALSE(b.is_primary());
  std::error_code ec;
  b.send("second", ec);
  CHECK(ec == errc::timed_out);
  first.join();
  CHECK_FALSE(first_ec);
  std::this_thread::sleep_for(300ms);  // a late handling of "second" would show now
  std::lock_guard lock(inbox.m);
  CHECK(inbox.messages == std::vector<std::string>{"first"});
}

TEST_CASE("single instance: a launch meeting a primary on its way out takes its place") {
  // The primary is shutting down (its last launch asked it to) while a later launch is
  // handing its message over. That launch must end as the new primary or with its
  // message delivered, never with an error that leaves no instance running.
  const LocalName name = fresh_app_name("sd");
  std::mutex m;
  std::condition_variable cv;
  bool in_handler = false, release = false;
  auto primary = std::make_unique<SingleInstance>(name, [&](std::string, const PeerInfo&) {
    std::unique_lock lock(m);
    in_handler = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  REQUIRE(primary->is_primary());
  std::error_code first_ec;
  std::thread first([&] {
    SingleInstance a(name, [](std::string, const PeerInfo&) {});
    a.send("--quit", first_ec);
  });
  {
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, 5s, [&] { return in_handler; }));
  }
  Inbox inbox;
  std::error_code second_ec;
  bool second_primary = false;
  std::thread second([&] {
    SingleInstance b(name, inbox.handler());
    REQUIRE_FALSE(b.is_primary());
    b.send("open b.txt", second_ec);
    second_primary = b.is_primary();
    if (second_primary) {
      // The new primary serves the next launch.
      SingleInstance c(name, [](std::string, const PeerInfo&) {});
      CHECK_FALSE(c.is_primary());
      c.send("open c.txt");
      CHECK(inbox.wait_for(1, 5s));
    }
  });
  std::this_thread::sleep_for(200ms);          // the second launch is connected by now
  std::thread quit([&] { primary.reset(); });  // the "--quit" handler ends the primary
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(m);
    release = true;
    cv.notify_all();
  }
  quit.join();
  first.join();
  second.join();
  CHECK_FALSE(first_ec);
  INFO("second launch: ", second_ec.message());
  CHECK(second_ec == errc::no_listener);
  CHECK(second_primary);
}

TEST_CASE(
    "single instance (async): a handler that ends the instance still acknowledges its message") {
  // An `app --quit` launch: the handler closes the primary. The handler ran, so the
  // sender must learn that its message was taken.
  localsock::test::TestLoop loop;
  const LocalName name = fresh_app_name("sq");
  std::unique_ptr<localsock::AsyncSingleInstance> primary;
  int handled = 0;
  primary =
      localsock::AsyncSingleInstance::start(*loop.async, name, [&](std::string, const PeerInfo&) {
        ++handled;
        primary.reset();  // the application ends its single instance
      });
  REQUIRE(primary->is_primary());
  std::error_code send_ec;
  std::atomic<bool> sent{false};
  std::thread later([&] {
    SingleInstance second(name, [](std::string, const PeerInfo&) {});
    second.send("--quit", send_ec);
    sent = true;
  });
  CHECK(loop.run([&] { return sent.load(); }, 20s));
  later.join();
  CHECK(handled == 1);
  CHECK_FALSE(send_ec);
  loop.settle();
}

TEST_CASE("single instance (async): a connection that says nothing is let go") {
  // A silent connection of the same user must not keep a descriptor of the primary
  // for ever: it is closed after the step limit (2 s), as the blocking primary does.
  localsock::test::TestLoop loop;
  const LocalName name = fresh_app_name("sz");
  auto primary =
      localsock::AsyncSingleInstance::start(*loop.async, name, [](std::string, const PeerInfo&) {});
  REQUIRE(primary->is_primary());
  std::atomic<bool> done{false};
  std::error_code read_ec;
  bool ended = false;
  std::thread silent([&] {
    auto s = localsock::LocalMessageSocket::connect(name);
    s.set_read_timeout(6s);
    std::string got;
    const auto r = s.recv(got, 16, read_ec);
    ended = !read_ec && r.end;
    if (read_ec == localsock::errc::peer_closed) {  // how some systems report the close
      read_ec.clear();
      ended = true;
    }
    done = true;
  });
  CHECK(loop.run([&] { return done.load(); }, 20s));
  silent.join();
  INFO("read: ", read_ec.message());
  CHECK(ended);
  bool closed = false;
  primary->close([&] { closed = true; });
  CHECK(loop.run([&] { return closed; }, 5s));
}
