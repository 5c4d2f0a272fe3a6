// SPDX-License-Identifier: MIT
#pragma once

// The few lines of protocol the app and its helper share. Each request is one message,
// "ID VERB ARGUMENT", and each reply one message, "ID TEXT": the id lets the app tell
// the reply it waits for from a late reply to a request it already gave up on.

#include <cstdint>
#include <string>
#include <string_view>

namespace rpc {

struct Parsed {
  std::uint64_t id = 0;
  std::string_view head;  // the verb of a request, or the text of a reply
  std::string_view rest;  // a request's argument
};

// Splits "ID HEAD REST" (REST may be empty; a reply is read as ID and HEAD=everything).
inline Parsed parse(std::string_view message, bool reply) {
  Parsed p;
  std::size_t i = 0;
  while (i < message.size() && message[i] >= '0' && message[i] <= '9')
    p.id = p.id * 10 + static_cast<std::uint64_t>(message[i++] - '0');
  if (i < message.size() && message[i] == ' ') ++i;
  p.head = message.substr(i);
  if (!reply) {
    const std::size_t space = p.head.find(' ');
    if (space != std::string_view::npos) {
      p.rest = p.head.substr(space + 1);
      p.head = p.head.substr(0, space);
    }
  }
  return p;
}

}  // namespace rpc
