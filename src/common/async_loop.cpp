// SPDX-License-Identifier: MIT
// AsyncLoop: the wake-up handle through which other threads (and, on Windows, the
// completion thread) hand work to the loop thread.
#include "async_common.hpp"

#include <algorithm>
#include <string>

namespace localsock {

namespace {

void run_posted(uv_async_t* handle) {
  // A posted function may destroy the AsyncLoop: the state stays until this returns.
  const auto state = static_cast<detail::LoopState*>(handle->data)->shared_from_this();
  // Two vectors take turns, so that their storage is reused: posting allocates nothing
  // once they have grown.
  std::vector<std::function<void()>>& batch = state->running;
  const int held = state->take_posted(batch);
  for (auto& fn : batch) fn();
  batch.clear();
  // Only now: a function posted from the loop thread holds the loop until it has run.
  state->released_posts(held);
}

}  // namespace

AsyncLoop::AsyncLoop(uv_loop_t* loop) : state_(std::make_shared<detail::LoopState>()) {
  state_->loop = loop;
  state_->loop_thread = std::this_thread::get_id();
  // Room for the completions of many connections in one batch, so that a busy moment
  // does not make posting allocate.
  state_->posted.reserve(64);
  state_->running.reserve(64);
  state_->wakeup = new uv_async_t{};
  uv_async_init(loop, state_->wakeup, run_posted);
  state_->wakeup->data = state_.get();
  detail::register_loop_state(state_.get());
  // Idle, the handle must not keep the loop running; pending operations and posted
  // functions hold it.
  uv_unref(reinterpret_cast<uv_handle_t*>(state_->wakeup));
}

AsyncLoop::~AsyncLoop() { state_->detach(); }

void AsyncLoop::post(std::function<void()> fn) { state_->post(std::move(fn)); }

void AsyncLoop::Poster::post(std::function<void()> fn) const { state_->post(std::move(fn)); }

uv_loop_t* AsyncLoop::uv() const noexcept { return state_->loop; }

}  // namespace localsock

// ---- open_handles() ------------------------------------------------------------------
//
// Every LoopState is listed in a process-wide registry while it lives, so that the
// objects on a uv_loop_t can be found from the loop alone, even after its AsyncLoop is
// gone (the sockets and listeners keep their LoopState).

namespace localsock {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<detail::LoopState*>& registry() {
  static std::vector<detail::LoopState*> r;
  return r;
}

std::string socket_state(const detail::AsyncSocketImpl& s) {
  using State = detail::AsyncSocketImpl::State;
  switch (s.state) {
    case State::connecting:
      return "connecting";
    case State::closing:
      return "closing";
    case State::closed:
      return "closed";
    case State::open:
      break;
  }
  std::string text = "open";
  text += s.reading ? ", reading" : ", not reading";
  if (s.shutdown_requested && !s.shut_down) text += ", shutting down";
  // The bytes still to send, as queued_bytes() counts them.
  const std::string unsent = "(" + std::to_string(s.unsent_bytes()) + " bytes)";
  if (!s.queue.empty())
    text += ", " + std::to_string(s.queue.count()) + (s.queue.count() == 1 ? " write" : " writes") +
            " queued " + unsent;
  else if (s.unsent_bytes() != 0)
    text += ", sending the rest of a message " + unsent;
  return text;
}

// Whether a socket keeps uv_run from returning now: a connect in the pool, a pending
// read, pending writes (or the rest of a message still to send) or shutdown, or the
// closing (see docs/async.md).
bool socket_keeps_running(const detail::AsyncSocketImpl& s) {
  using State = detail::AsyncSocketImpl::State;
  if (s.state != State::open) return true;
  return s.reading || !s.queue.empty() || s.unsent_bytes() != 0 ||
         (s.shutdown_requested && !s.shut_down);
}

}  // namespace

namespace detail {
LoopState::~LoopState() {
  std::lock_guard lock(registry_mutex());
  auto& r = registry();
  r.erase(std::remove(r.begin(), r.end(), this), r.end());
}
void register_loop_state(LoopState* state) {
  std::lock_guard lock(registry_mutex());
  registry().push_back(state);
}
}  // namespace detail

std::vector<OpenHandle> open_handles(uv_loop_t* loop) {
  std::vector<detail::LoopState*> states;
  {
    std::lock_guard lock(registry_mutex());
    for (auto* s : registry())
      if (s->loop == loop) states.push_back(s);
  }
  std::vector<OpenHandle> out;
  for (auto* state : states) {
    if (state->wakeup != nullptr)
      out.push_back({OpenHandle::Kind::loop, {}, Mode::bytes, "attached", state->busy > 0});
    for (const auto* l : state->listeners) {
      if (!l->self) continue;  // finished closing; only the application's pointer is left
      out.push_back({OpenHandle::Kind::listener, detail::listener_name(*l).str(), l->mode,
                     l->open ? "listening" : "closing", true});
    }
    for (const detail::AsyncSocketImpl* s = state->sockets; s != nullptr; s = s->registry_next) {
      if (!s->self) continue;  // closed (or its connect failed)
      out.push_back({OpenHandle::Kind::socket, std::string(s->name.str()), s->mode,
                     socket_state(*s), socket_keeps_running(*s)});
    }
  }
  return out;
}

std::string describe_open_handles(uv_loop_t* loop) {
  std::string text;
  for (const OpenHandle& h : open_handles(loop)) {
    switch (h.kind) {
      case OpenHandle::Kind::loop:
        text += "AsyncLoop";
        break;
      case OpenHandle::Kind::listener:
        text += "listener";
        break;
      case OpenHandle::Kind::socket:
        text += "socket";
        break;
    }
    if (h.kind != OpenHandle::Kind::loop) {
      text += " '" + h.name + "'";
      text += h.mode == Mode::bytes ? " (bytes)" : " (messages)";
    }
    text += ": " + h.state;
    text +=
        h.keeps_loop_running ? ", keeps the loop running\n" : ", does not keep the loop running\n";
  }
  return text;
}

}  // namespace localsock
