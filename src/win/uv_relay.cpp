// SPDX-License-Identifier: MIT
// libuv internals, fenced here (see uv_relay.hpp): the fields of a uv_async_t that
// uv_async_init sets up for libuv's completion dispatch (type UV_ASYNC, a wake-up
// request of type UV_WAKEUP whose data points back at the handle, the callback), the
// OVERLAPPED inside that request (uv_req_t::u.io.overlapped), and the loop's
// completion port (uv_loop_t::iocp). libuv's dispatch (uv__process_reqs ->
// uv__process_async_wakeup_req) calls async_cb for a UV_WAKEUP request whose handle is
// not closing; the handle itself is never registered, so nothing else of libuv ever
// looks at it.
#include "uv_relay.hpp"

#include "win_error.hpp"

// Checked against libuv 1.44 (the version built and tested here, the subproject and
// Debian 12's). The fields used are part of uv_async_t's and uv_loop_t's layout, which
// libuv keeps within a major version; the dispatch they rely on is libuv's own
// behaviour, unchanged in its sources since. A libuv 2 may change either: check this
// file again (and the Windows async tests) before widening the range.
#if !defined(UV_VERSION_MAJOR) || !defined(UV_VERSION_MINOR)
#error "uv_relay.cpp: libuv's version is unknown"
#elif UV_VERSION_MAJOR != 1 || UV_VERSION_MINOR < 44
#error "uv_relay.cpp relies on libuv internals checked for libuv 1.x from 1.44 on only"
#endif

namespace localsock::detail {

UvRelay::UvRelay(Callback callback, void* context) noexcept
    : callback_(callback), context_(context) {
  // What uv_async_init sets up for libuv's dispatch, without registering the handle.
  handle_.type = UV_ASYNC;
  handle_.async_req.type = UV_WAKEUP;
  handle_.async_req.data = &handle_;
  handle_.data = this;
  handle_.async_cb = [](uv_async_t* h) {
    auto* relay = static_cast<UvRelay*>(h->data);
    relay->callback_(relay->context_);
  };
}

OVERLAPPED* UvRelay::fresh_overlapped() noexcept {
  handle_.async_req.u.io.overlapped = OVERLAPPED{};
  return &handle_.async_req.u.io.overlapped;
}

OVERLAPPED* UvRelay::overlapped() noexcept { return &handle_.async_req.u.io.overlapped; }

std::error_code bind_to_loop_port(uv_loop_t* loop, HANDLE file) noexcept {
  if (::CreateIoCompletionPort(file, loop->iocp, 0, 0) == nullptr) return win::detail::last_error();
  return {};
}

}  // namespace localsock::detail
