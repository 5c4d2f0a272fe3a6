// SPDX-License-Identifier: MIT
// lsock ls on Unix: the listening Unix sockets (sock_diag, or /proc/net/unix where it is
// missing) and the processes, users and commands that hold them.
#include <dirent.h>
#if defined(__linux__)
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#endif
#include <sys/socket.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/xattr.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <utility>

#include <localsock/config.hpp>

#include "platform.hpp"

namespace lsock {

namespace {

// True when `fd_link` (/proc/PID/fd/N, a socket) is a Unix socket. The kernel names a
// socket's protocol in its "system.sockprotoname" attribute ("UNIX", "UNIX-STREAM",
// "TCP", "NETLINK", ...), read through the link as readlink is: a fact about the socket
// itself, which no socket name can forge (a record forged inside a name in
// /proc/net/unix can claim the inode of a TCP socket, which a process does hold).
// Elsewhere than Linux: no /proc, nothing is found anyway.
#if defined(__linux__)
bool is_unix_socket(const std::string& fd_link) {
  char proto[32];
  const ssize_t n = ::getxattr(fd_link.c_str(), "system.sockprotoname", proto, sizeof proto - 1);
  if (n <= 0) return false;
  return std::string_view(proto, static_cast<std::size_t>(n)).substr(0, 4) == "UNIX";
}
#else
bool is_unix_socket(const std::string&) { return false; }
#endif

}  // namespace

// The processes holding each Unix socket's inode: /proc/PID/fd links read
// "socket:[INODE]", kept when the socket is a Unix one. Only the processes this user
// may look into are found.
std::map<unsigned long, long long> socket_owners() {
  std::map<unsigned long, long long> owners;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return owners;
  while (const dirent* p = ::readdir(proc)) {
    char* end = nullptr;
    const long long pid = std::strtoll(p->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    const std::string dir = std::string("/proc/") + p->d_name + "/fd";
    DIR* fds = ::opendir(dir.c_str());
    if (fds == nullptr) continue;
    while (const dirent* f = ::readdir(fds)) {
      char target[64];
      const ssize_t n = ::readlink((dir + "/" + f->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      unsigned long inode = 0;
      if (std::sscanf(target, "socket:[%lu]", &inode) == 1 && is_unix_socket(dir + "/" + f->d_name))
        owners.emplace(inode, pid);
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return owners;
}

namespace {

std::string command_of(long long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

std::string user_of(long long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    const uid_t uid = static_cast<uid_t>(std::strtoul(line.c_str() + 4, nullptr, 10));
    passwd pw{};
    passwd* found = nullptr;
    char buf[1024];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
      return found->pw_name;
    return std::to_string(uid);
  }
  return {};
}

}  // namespace

namespace {

// A socket's type from its SOCK_* number.
std::string type_name(unsigned type) {
  return type == SOCK_STREAM      ? "stream"
         : type == SOCK_SEQPACKET ? "seqpacket"
         : type == SOCK_DGRAM     ? "dgram"
                                  : "other";
}

// As a user would type it: abstract names (a leading NUL) as @name; a path as it is.
std::string shown_name(std::string raw) {
  if (!raw.empty() && raw[0] == '\0') return "@" + raw.substr(1);
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  return raw;
}

#if defined(__linux__)
constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// The listening Unix sockets from the kernel's sock_diag interface (NETLINK_SOCK_DIAG,
// UNIX_DIAG): binary records, so a name cannot pass for another record. nullopt where it
// is not available (no unix_diag module).
std::optional<std::vector<ProcNetUnixRecord>> diag_listeners() {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  struct {
    nlmsghdr header;
    unix_diag_req request;
  } query{};
  query.header.nlmsg_len = sizeof query;
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  query.request.sdiag_family = AF_UNIX;
  query.request.udiag_states = 1U << 10;  // TCP_LISTEN
  query.request.udiag_show = UDIAG_SHOW_NAME;
  std::vector<ProcNetUnixRecord> found;
  bool failed = ::send(fd, &query, sizeof query, 0) != static_cast<ssize_t>(sizeof query);
  bool done = failed;
  std::vector<char> buf(std::size_t{64} * 1024);
  while (!done) {
    const ssize_t got = ::recv(fd, buf.data(), buf.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      failed = true;
      break;
    }
    const auto n = static_cast<std::size_t>(got);
    std::size_t off = 0;
    while (off + sizeof(nlmsghdr) <= n) {
      nlmsghdr h;
      std::memcpy(&h, buf.data() + off, sizeof h);
      if (h.nlmsg_len < sizeof h || off + h.nlmsg_len > n) break;
      if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR) {
        failed = h.nlmsg_type == NLMSG_ERROR;
        done = true;
        break;
      }
      const std::size_t body = off + align4(sizeof(nlmsghdr));
      const std::size_t end = off + h.nlmsg_len;
      if (body + sizeof(unix_diag_msg) <= end) {
        unix_diag_msg m;
        std::memcpy(&m, buf.data() + body, sizeof m);
        ProcNetUnixRecord r{m.udiag_type, m.udiag_ino, {}};
        for (std::size_t a = body + align4(sizeof m); a + sizeof(rtattr) <= end;) {
          rtattr attr;
          std::memcpy(&attr, buf.data() + a, sizeof attr);
          if (attr.rta_len < sizeof attr || a + attr.rta_len > end) break;
          if (attr.rta_type == UNIX_DIAG_NAME)
            r.name.assign(buf.data() + a + align4(sizeof attr), attr.rta_len - align4(sizeof attr));
          a += align4(attr.rta_len);
        }
        if (!r.name.empty()) found.push_back(std::move(r));
      }
      off += align4(h.nlmsg_len);
    }
  }
  ::close(fd);
  if (failed) return std::nullopt;
  return found;
}
#else
std::optional<std::vector<ProcNetUnixRecord>> diag_listeners() { return std::nullopt; }
#endif

bool hex_field(std::string_view& rest, std::size_t width) {
  if (rest.size() < width + 1 || rest[width] != ' ') return false;
  for (std::size_t i = 0; i < width; ++i) {
    if (std::isxdigit(static_cast<unsigned char>(rest[i])) == 0) return false;
  }
  rest.remove_prefix(width + 1);
  return true;
}

// One line of /proc/net/unix as the kernel prints it ("%pK: %08X %08X %08X %04X %02X
// %5lu" and " path" when named), or nullopt.
std::optional<ProcNetUnixRecord> parse_record(std::string_view line) {
  const std::size_t colon = line.find(": ");
  if (colon == 0 || colon == std::string_view::npos || colon > 16) return std::nullopt;
  for (std::size_t i = 0; i < colon; ++i) {
    if (std::isxdigit(static_cast<unsigned char>(line[i])) == 0) return std::nullopt;
  }
  std::string_view rest = line.substr(colon + 2);
  const std::string_view fields = rest;
  if (!hex_field(rest, 8) || !hex_field(rest, 8) || !hex_field(rest, 8) || !hex_field(rest, 4) ||
      !hex_field(rest, 2))
    return std::nullopt;
  // Fixed width from here back: Flags at 18, Type at 27 (all checked hex above).
  const std::string_view flags_at = fields.substr(18, 8);
  const std::string_view type_at = fields.substr(27, 4);
  while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  std::size_t digits = 0;
  unsigned long inode = 0;
  while (digits < rest.size() && digits < 20 &&
         std::isdigit(static_cast<unsigned char>(rest[digits])) != 0)
    inode = inode * 10 + static_cast<unsigned long>(rest[digits++] - '0');
  if (digits == 0 || (digits < rest.size() && rest[digits] != ' ')) return std::nullopt;
  ProcNetUnixRecord r{
      static_cast<unsigned>(std::strtoul(std::string(type_at).c_str(), nullptr, 16)), inode, {}};
  if ((std::strtoul(std::string(flags_at).c_str(), nullptr, 16) & 0x10000) == 0)
    r.type = ~0U;  // not listening
  if (digits < rest.size()) {
    r.name = std::string(rest.substr(digits + 1));
    // Abstract names: the kernel prints '@' for each NUL.
    if (!r.name.empty() && r.name[0] == '@') r.name[0] = '\0';
  }
  return r;
}

}  // namespace

std::vector<ProcNetUnixRecord> parse_proc_net_unix(
    std::string_view text, const std::function<bool(unsigned long)>& owned) {
  // Names are printed raw, so a name with a newline continues on the next line, and
  // can be made to look like a record of its own. A line that is not a record continues
  // the previous name; a record is kept only if its inode is held by a process we can
  // see (a forged record names an inode no one holds, or one that already has its own
  // record: an inode listed twice is dropped, as the real record cannot be told apart).
  std::map<unsigned long, int> seen;
  std::size_t pos = text.find('\n');  // the header
  std::vector<ProcNetUnixRecord> records;
  std::vector<bool> listening;
  while (pos != std::string_view::npos && pos + 1 < text.size()) {
    const std::size_t next = text.find('\n', pos + 1);
    const std::string_view line =
        text.substr(pos + 1, next == std::string_view::npos ? text.npos : next - pos - 1);
    pos = next;
    if (auto r = parse_record(line)) {
      ++seen[r->inode];
      listening.push_back(r->type != ~0U);
      records.push_back(std::move(*r));
    } else if (!records.empty() && !records.back().name.empty()) {
      records.back().name += '\n';
      records.back().name += line;
    }
  }
  std::vector<ProcNetUnixRecord> out;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (listening[i] && !records[i].name.empty() && seen[records[i].inode] == 1 &&
        owned(records[i].inode))
      out.push_back(std::move(records[i]));
  }
  return out;
}

std::vector<SocketEntry> list_sockets(std::string& error) {
  const auto owners = socket_owners();
  auto records = diag_listeners();
  if (!records) {
    // No sock_diag: /proc/net/unix, read whole.
    std::ifstream in("/proc/net/unix", std::ios::binary);
    if (!in) {
      error = "/proc/net/unix cannot be read (listing needs Linux)";
      return {};
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    records = parse_proc_net_unix(
        text, [&owners](unsigned long inode) { return owners.count(inode) != 0; });
  }
  std::vector<SocketEntry> out;
  for (auto& r : *records) {
    SocketEntry e{type_name(r.type), shown_name(std::move(r.name)), {}, {}, {}};
    if (const auto owner = owners.find(r.inode); owner != owners.end()) {
      e.pid = owner->second;
      e.command = command_of(owner->second);
      e.user = user_of(owner->second);
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace lsock
