// SPDX-License-Identifier: MIT
#pragma once

// Helpers of the named-pipe server suites (pipe_*_test.cpp).

#include <localsock/name.hpp>
#include <localsock/win/named_pipe.hpp>

#include <cstddef>
#include <span>
#include <vector>

#include "unique_name.hpp"

namespace localsock::test::pipe_server {

inline LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("lsv")); }

inline std::byte byte_of(int v) { return static_cast<std::byte>(v); }

// Reads exactly `n` bytes (fewer at end of stream).
template <typename S>
std::vector<std::byte> read_n(S& s, std::size_t n) {
  std::vector<std::byte> got(n);
  std::size_t done = 0;
  while (done < n) {
    const std::size_t k = s.read_some(std::span(got).subspan(done));
    if (k == 0) break;
    done += k;
  }
  got.resize(done);
  return got;
}

struct Pair {
  localsock::win::PipeListener<localsock::win::DuplexBytePipeStream> listener;
  localsock::win::DuplexBytePipeStream server;
  localsock::win::DuplexBytePipeStream client;
};

inline Pair open_pair(localsock::win::PipeListenerOptions options = {}) {
  const LocalName name = fresh_name();
  Pair p;
  p.listener = options.name(name).create<localsock::win::DuplexBytePipeStream>();
  p.client = localsock::win::DuplexBytePipeStream::connect(name);
  p.server = p.listener.accept();
  return p;
}

}  // namespace localsock::test::pipe_server
