// SPDX-License-Identifier: MIT
#pragma once

// The one place that chooses the backend for the portable facade: the named-pipe
// module on Windows, Unix-domain sockets elsewhere. Each build has exactly one.

#include <localsock/name.hpp>
#include <localsock/types.hpp>

#include <concepts>
#include <cstddef>
#include <system_error>

#if defined(_WIN32)
#include <localsock/win/named_pipe.hpp>
#else
#include <localsock/posix/ud_stream.hpp>
#endif

namespace localsock::detail {

/// What the facade needs of a backend's byte stream.
template <typename T>
concept StreamBackend = std::movable<T> && requires(T s, MutableBuffer in, ConstBuffer out,
                                                    std::error_code& ec) {
  { s.read_some(in, ec) } -> std::same_as<std::size_t>;
  { s.write_some(out, ec) } -> std::same_as<std::size_t>;
  { s.shutdown(Shutdown::both, ec) };
  { s.close() } noexcept;
  { s.is_open() } -> std::same_as<bool>;
};

/// What the facade needs of a backend's listener.
template <typename T, typename Stream>
concept ListenerBackend = std::movable<T> && requires(T l, std::error_code& ec) {
  { l.accept(ec) } -> std::same_as<Stream>;
  { l.close() } noexcept;
  { l.is_open() } -> std::same_as<bool>;
};

#if defined(_WIN32)
using PlatformStream = win::DuplexBytePipeStream;
using PlatformListener = win::PipeListener<PlatformStream>;

inline PlatformListener bind_listener(const LocalName& name, std::error_code& ec) {
  return win::PipeListenerOptions().name(name).create<PlatformStream>(ec);
}
inline PlatformStream connect_stream(const LocalName& name, std::error_code& ec) {
  return PlatformStream::connect(name, PlatformStream::default_busy_timeout, ec);
}
#else
using PlatformStream = posix::UdStream;
using PlatformListener = posix::UdListener;

inline PlatformListener bind_listener(const LocalName& name, std::error_code& ec) {
  return posix::UdListener::bind(name, {}, ec);
}
inline PlatformStream connect_stream(const LocalName& name, std::error_code& ec) {
  return posix::UdStream::connect(name, ec);
}
#endif

static_assert(StreamBackend<PlatformStream>);
static_assert(ListenerBackend<PlatformListener, PlatformStream>);

}  // namespace localsock::detail
