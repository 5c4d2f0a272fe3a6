// SPDX-License-Identifier: MIT
#pragma once

// What the async test files (tests/facade/async_*_test.cpp) share: fresh names and an
// echo server on a TestLoop.

#include <localsock/async.hpp>
#include <localsock/localsock.hpp>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "child_main.hpp"
#include "connected.hpp"
#include "doctest_ext.hpp"
#include "test_loop.hpp"
#include "pattern.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::AsyncListener;
using localsock::AsyncLoop;
using localsock::AsyncSocket;
using localsock::ConnectOptions;
using localsock::errc;
using localsock::ListenerOptions;
using localsock::LocalName;
using localsock::Mode;
using localsock::ReadEvent;
using localsock::test::pattern;

inline LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("las")); }

using localsock::test::TestLoop;

// An echo server: every socket echoes what it reads until the end.
inline AsyncListener::Ptr echo_server(TestLoop& t, const LocalName& name, Mode mode) {
  return AsyncListener::listen(*t.async, localsock::test::message_listen(name), mode,
                               [](std::error_code ec, AsyncSocket::Ptr s) {
                                 REQUIRE_FALSE(ec);
                                 AsyncSocket* raw = s.get();
                                 s->start_reading([raw](const ReadEvent& e) {
                                   if (e.end || e.error) {
                                     raw->close();
                                     return;
                                   }
                                   raw->write(e.data);
                                 });
                               });
}
