// SPDX-License-Identifier: MIT
// AsyncLoop: the wake-up handle through which other threads (and, on Windows, the
// completion thread) hand work to the loop thread.
#include "async_common.hpp"

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
  // Idle, the handle must not keep the loop running; pending operations and posted
  // functions hold it.
  uv_unref(reinterpret_cast<uv_handle_t*>(state_->wakeup));
}

AsyncLoop::~AsyncLoop() { state_->detach(); }

void AsyncLoop::post(std::function<void()> fn) { state_->post(std::move(fn)); }

void AsyncLoop::Poster::post(std::function<void()> fn) const { state_->post(std::move(fn)); }

uv_loop_t* AsyncLoop::uv() const noexcept { return state_->loop; }

}  // namespace localsock
