// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Windows only, for the library's own tests (not installed): what a test needs to see
/// past the library's per-thread reuse of system objects.

namespace localsock::testing {

/// Closes the events the calling thread keeps for its next blocking pipe streams (a
/// stream's events are kept for the next one when it goes), so that a count of the
/// process's handles shows only what the streams still open hold.
void release_kept_events() noexcept;

}  // namespace localsock::testing
