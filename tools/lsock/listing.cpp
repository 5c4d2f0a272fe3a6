// SPDX-License-Identifier: MIT
#include "listing.hpp"

#include <cstdio>
#include <string>
#include <string_view>

#include "platform.hpp"
#include "report.hpp"

namespace lsock {
namespace {

// The length of the UTF-8 sequence at the start of `s` and its code point; 0 when the
// bytes there are not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF
// are not).
std::size_t utf8_sequence(std::string_view s, char32_t& cp) {
  const auto b = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, cp = c & 0x1fU;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, cp = c & 0x0fU;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, cp = c & 0x07U;
  else
    return 0;
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3fU);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp < 0xa0); }

// `text` as a JSON string, valid for any bytes: `"` and `\` escaped, control characters
// (C0, DEL, C1) as \u00XX, and each byte that is not part of valid UTF-8 as \u00XX of
// that byte (0xff becomes \u00ff); valid UTF-8 is kept as it is.
std::string json_string(std::string_view text) {
  std::string out = "\"";
  char esc[8];
  while (!text.empty()) {
    char32_t cp = 0;
    std::size_t n = utf8_sequence(text, cp);
    // Not valid UTF-8 here: this one byte stands for itself (its value as the code point).
    const bool valid = n != 0;
    if (!valid) {
      n = 1;
      cp = static_cast<unsigned char>(text[0]);
    }
    if (cp == '"' || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (is_control(cp) || !valid) {
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(cp));
      out += esc;
    } else {
      out += text.substr(0, n);
    }
    text.remove_prefix(n);
  }
  return out + "\"";
}

// `text` for a terminal: control characters (C0, DEL, C1) and bytes that are not valid
// UTF-8 as \xNN (each byte), a backslash as \\, so no escape sequence reaches the screen.
std::string shown(std::string_view text) {
  std::string out;
  char esc[8];
  while (!text.empty()) {
    char32_t cp = 0;
    std::size_t n = utf8_sequence(text, cp);
    const bool raw = n != 0 && !is_control(cp);
    if (n == 0) n = 1;
    if (cp == '\\' && raw) {
      out += "\\\\";
    } else if (raw) {
      out += text.substr(0, n);
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        std::snprintf(esc, sizeof esc, "\\x%02x", static_cast<unsigned char>(text[i]));
        out += esc;
      }
    }
    text.remove_prefix(n);
  }
  return out;
}

}  // namespace

int list(bool json) {
  std::string error;
  const auto sockets = lsock::list_sockets(error);
  if (!error.empty()) {
    say_error("%s", error.c_str());
    return 1;
  }
  if (json) {
    std::printf("[");
    const char* sep = "\n";
    for (const auto& s : sockets) {
      std::printf("%s  {\"type\": %s, \"name\": %s", sep, json_string(s.type).c_str(),
                  json_string(s.name).c_str());
      if (s.pid)
        std::printf(", \"pid\": %lld, \"command\": %s, \"user\": %s", *s.pid,
                    json_string(s.command).c_str(), json_string(s.user).c_str());
      else
        std::printf(", \"pid\": null, \"command\": null, \"user\": null");
      std::printf("}");
      sep = ",\n";
    }
    std::printf("%s]\n", sockets.empty() ? "" : "\n");
    return output_status(0);
  }
  // Type, process, user and command first (short), the name last (any length).
  std::printf("%-9s %7s %-10s %-15s %s\n", "TYPE", "PID", "USER", "COMMAND", "NAME");
  for (const auto& s : sockets) {
    const std::string pid = s.pid ? std::to_string(*s.pid) : "-";
    std::printf("%-9s %7s %-10s %-15s %s\n", shown(s.type).c_str(), pid.c_str(),
                s.pid ? shown(s.user).c_str() : "-", s.pid ? shown(s.command).c_str() : "-",
                shown(s.name).c_str());
  }
  return output_status(0);
}

}  // namespace lsock
