// SPDX-License-Identifier: MIT
#pragma once

// lsock's command line: the options, their parsing and checks, --help and --version.

#include <localsock/types.hpp>

#include <optional>
#include <string>
#include <vector>

namespace lsock {

struct Options {
  std::string command;
  std::string name;
  bool messages = false;
  bool keep_open = false;
  bool fork = false;
  bool quiet = false;
  bool reclaim = false;
  bool json = false;
  std::string exec;
  localsock::Timeout timeout{10'000};
  localsock::Timeout linger{1'000};
};

/// Fills `o` from the arguments (argv without the program's name). Returns the status
/// to exit with when lsock should not go on: after --help or --version (0, or 1 when
/// the text could not be written), on bad usage (2, with the reason and the usage on
/// stderr). Sets `quiet` (report.hpp).
std::optional<int> parse_arguments(const std::vector<std::string>& args, Options& o);

}  // namespace lsock
