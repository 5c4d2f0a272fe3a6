// SPDX-License-Identifier: MIT
#pragma once

// lsock ls: the system's listening local sockets, as a table for a terminal (every
// name escaped so that no control sequence reaches the screen) or as JSON.

namespace lsock {

/// Prints the list; the exit status (1 when the list could not be had or written).
int list(bool json);

}  // namespace lsock
