// SPDX-License-Identifier: MIT
#pragma once
// The bare Win32 calls localsock is measured against: synchronous named-pipe handles
// (CreateNamedPipe/CreateFile/ReadFile/WriteFile).
#include <windows.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "bench.hpp"

namespace bench {

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
    HANDLE h = ::CreateNamedPipeW(l.path.c_str(), PIPE_ACCESS_DUPLEX, type | PIPE_WAIT,
                                  PIPE_UNLIMITED_INSTANCES, 64 * 1024, 64 * 1024, 0, nullptr);
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
      HANDLE h = ::CreateFileW(l.path.c_str(), GENERIC_READ | GENERIC_WRITE | FILE_WRITE_ATTRIBUTES,
                               0, nullptr, OPEN_EXISTING, 0, nullptr);
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
  // A client of the pipe `n` (pingpong-proc's child).
  static Handle connect(const std::string& n) { return open(listen(n)); }
  // A client of the pipe at `path` (\\.\pipe\...: bare libuv's names).
  static Handle connect_path(const std::string& path) {
    return open({std::wstring(path.begin(), path.end()), false});
  }
  static void wait_client(HANDLE h) {
    if (!::ConnectNamedPipe(h, nullptr) && ::GetLastError() != ERROR_PIPE_CONNECTED)
      fail("ConnectNamedPipe");
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

}  // namespace bench
