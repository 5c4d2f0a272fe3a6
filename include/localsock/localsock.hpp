// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Everything of localsock's portable API.

#include <localsock/capabilities.hpp>
#include <localsock/config.hpp>
#include <localsock/error.hpp>
#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/name.hpp>
#include <localsock/options.hpp>
#include <localsock/peer.hpp>
#include <localsock/single_instance.hpp>
#include <localsock/types.hpp>
