// SPDX-License-Identifier: MIT
#include <dirent.h>
#if defined(__linux__)
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#endif
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <localsock/config.hpp>

#include "platform.hpp"

namespace lsock {
namespace {

// The children not yet reaped, each the leader of its own process group (so that a
// pipeline the shell started goes with it): what an interrupt must end.
std::mutex children_mutex;
std::set<pid_t> live_children;
bool children_ended = false;

class PosixChild final : public ChildProcess {
 public:
  // `pid` is in live_children already (start() puts it there as it forks).
  PosixChild(pid_t pid, int in, int out) : pid_(pid), group_(pid), in_(in), out_(out) {}
  ~PosixChild() override {
    close_input();
    if (out_ >= 0) ::close(out_);
    if (pid_ > 0) wait();
  }
  bool write(const std::byte* data, std::size_t n) override {
    while (n > 0 && in_ >= 0) {
      const ssize_t k = ::write(in_, data, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      data += k;
      n -= static_cast<std::size_t>(k);
    }
    return in_ >= 0;
  }
  std::size_t read(std::byte* data, std::size_t n) override {
    for (;;) {
      const ssize_t k = ::read(out_, data, n);
      if (k < 0 && errno == EINTR) continue;
      return k > 0 ? static_cast<std::size_t>(k) : 0;
    }
  }
  void close_input() override {
    if (in_ >= 0) ::close(std::exchange(in_, -1));
  }
  void close_output() override {
    if (out_ >= 0) ::close(std::exchange(out_, -1));
  }
  int wait() override {
    int status = 0;
    if (pid_ <= 0) return status_;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    return reaped(status);
  }
  std::optional<int> wait_for(std::chrono::milliseconds ms) override {
    // Polled: no SIGCHLD handler (sessions on other threads have children too).
    const auto deadline = std::chrono::steady_clock::now() + ms;
    for (;;) {
      if (pid_ <= 0) return status_;
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) return reaped(status);
      if (r < 0 && errno != EINTR) return reaped(0);
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Both signal the command's whole process group, whether or not its leader (the
  // command itself) is still there: members it left behind go with it. ESRCH (no one
  // left) is ignored.
  void terminate() override { ::kill(-group_, SIGTERM); }
  void kill() override { ::kill(-group_, SIGKILL); }
  // True while any process of the command's group remains (its leader not yet reaped
  // counts).
  bool group_alive() const { return ::kill(-group_, 0) == 0 || errno == EPERM; }

 private:
  int reaped(int status) {
    {
      std::lock_guard lock(children_mutex);
      live_children.erase(pid_);
    }
    pid_ = 0;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 0;
    return status_;
  }

  pid_t pid_;
  pid_t group_;  // the process group the command leads; stays once its leader is reaped
  int in_;
  int out_;
  int status_ = 0;
};

// A close-on-exec pipe. Made in one step with pipe2 where it exists; elsewhere (macOS)
// pipe() and fcntl(FD_CLOEXEC) are two, and a fork on another session's thread between
// them would hand this session's pipe to that session's command: pipe creation and fork
// are serialized by one mutex there (PipeForkLock).
#if (defined(__linux__) && !defined(LOCALSOCK_UNIX_GENERIC)) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__OpenBSD__) || defined(__DragonFly__)
struct PipeForkLock {};

bool cloexec_pipe(int fds[2]) { return ::pipe2(fds, O_CLOEXEC) == 0; }
#else
std::mutex pipe_fork_mutex;

struct PipeForkLock {
  std::lock_guard<std::mutex> lock{pipe_fork_mutex};
};

bool cloexec_pipe(int fds[2]) {
  if (::pipe(fds) < 0) return false;
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return true;
}
#endif

// In a forked child: closes every descriptor above 2, so that the command gets only its
// standard streams (not a descriptor lsock inherited without close-on-exec, nor one
// another thread made between its creation and FD_CLOEXEC). close_range where the system
// has it; else each descriptor up to `limit` (found before fork: getrlimit is not
// async-signal-safe everywhere).
void close_above_stderr(int limit) {
#if defined(__linux__) && !defined(LOCALSOCK_UNIX_GENERIC)
  if (::close_range(3, ~0U, 0) == 0) return;
#endif
  for (int fd = 3; fd < limit; ++fd) ::close(fd);
}

int descriptor_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY || r.rlim_cur > 65536) return 65536;
  return static_cast<int>(r.rlim_cur);
}

}  // namespace

void end_all_children(std::chrono::milliseconds grace) {
  std::set<pid_t> left;
  {
    // No child is started after this (start() forks holding the same lock).
    std::lock_guard lock(children_mutex);
    children_ended = true;
    left = live_children;
  }
  for (const pid_t pid : left) ::kill(-pid, SIGTERM);
  // Each child leads its own process group (its pid is the group's id). A group is done
  // once no process of it remains, its leader reaped: the leader may die of the SIGTERM
  // while a member that ignores it lives on, so the group, not the leader, is waited for.
  std::set<pid_t> unreaped = left;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!left.empty()) {
    for (auto it = unreaped.begin(); it != unreaped.end();) {
      // A session thread may reap it first (ECHILD): gone all the same.
      const pid_t r = ::waitpid(*it, nullptr, WNOHANG);
      it = r == 0 || (r < 0 && errno == EINTR) ? std::next(it) : unreaped.erase(it);
    }
    for (auto it = left.begin(); it != left.end();)
      it = ::kill(-*it, 0) == 0 || errno == EPERM ? std::next(it) : left.erase(it);
    if (left.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const pid_t pid : left) ::kill(-pid, SIGKILL);  // ESRCH (gone meanwhile) ignored
  for (const pid_t pid : unreaped) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void stop_child(ChildProcess& command, std::chrono::milliseconds grace) {
  auto& child = static_cast<PosixChild&>(command);  // the only kind start() makes
  child.close_input();
  child.wait_for(grace);
  // The session is over: so is the command's process group, whether or not its leader
  // has exited (a job it left in the background, a member that ignores SIGTERM).
  // SIGTERM to the group, then a grace for it to empty, then SIGKILL to what is left.
  if (child.group_alive()) {
    child.terminate();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (child.group_alive() && std::chrono::steady_clock::now() < deadline) {
      child.wait_for(std::chrono::milliseconds(0));  // reaps the leader once it exits
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    child.kill();
  }
  child.wait();
}

void end_child(ChildProcess& child, std::chrono::milliseconds grace) {
  child.close_output();
  stop_child(child, grace);
}

bool peer_closed(int handle) {
  // Both directions shut down (the peer closed; a half-close sets POLLRDHUP only).
  pollfd p{handle, 0, 0};
  int r;
  while ((r = ::poll(&p, 1, 0)) < 0 && errno == EINTR) {
  }
  return r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

namespace {

// The signals lsock waits for itself (handle_interrupts); blocked in its threads.
sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

void close_both(int (&fds)[2]) {
  for (int& fd : fds) {
    if (fd >= 0) ::close(std::exchange(fd, -1));
  }
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::start(const std::string& command, std::string& error) {
  int to_child[2] = {-1, -1}, from_child[2] = {-1, -1};
  const int limit = descriptor_limit();
  [[maybe_unused]] const PipeForkLock serialized;
  if (!cloexec_pipe(to_child) || !cloexec_pipe(from_child)) {
    error = std::strerror(errno);
    close_both(to_child);
    close_both(from_child);
    return nullptr;
  }
  std::unique_lock registering(children_mutex);
  const pid_t pid = children_ended ? (errno = ECANCELED, -1) : ::fork();
  if (pid < 0) {
    error = std::strerror(errno);
    close_both(to_child);
    close_both(from_child);
    return nullptr;
  }
  if (pid == 0) {
    // Its own process group: an interrupt of lsock ends the whole command (a pipeline).
    ::setpgid(0, 0);
    // Started with standard input or output closed, a pipe end may be fd 0 or 1, where
    // dup2(fd, fd) would keep its close-on-exec flag (and one dup2 could overwrite the
    // other's source): copy both above 2 first. F_DUPFD copies without close-on-exec;
    // dup2 onto 0 and 1 clears it there.
    const int in = ::fcntl(to_child[0], F_DUPFD, 3);
    const int out = ::fcntl(from_child[1], F_DUPFD, 3);
    if (in < 0 || out < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0) ::_exit(127);
    close_above_stderr(limit);
    // lsock's own signal settings are not the command's.
    const sigset_t blocked = interrupt_signals();
    ::pthread_sigmask(SIG_UNBLOCK, &blocked, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // as the child does: whichever runs first
  live_children.insert(pid);
  registering.unlock();
  ::close(to_child[0]);
  ::close(from_child[1]);
  return std::make_unique<PosixChild>(pid, to_child[1], from_child[0]);
}

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
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) return found->pw_name;
    return std::to_string(uid);
  }
  return {};
}

}  // namespace

namespace {

// A socket's type from its SOCK_* number.
std::string type_name(unsigned type) {
  return type == SOCK_STREAM ? "stream" : type == SOCK_SEQPACKET ? "seqpacket" : type == SOCK_DGRAM ? "dgram" : "other";
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
  std::vector<char> buf(64 * 1024);
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
  if (!hex_field(rest, 8) || !hex_field(rest, 8) || !hex_field(rest, 8) || !hex_field(rest, 4) || !hex_field(rest, 2))
    return std::nullopt;
  // Fixed width from here back: Flags at 18, Type at 27 (all checked hex above).
  const std::string_view flags_at = fields.substr(18, 8);
  const std::string_view type_at = fields.substr(27, 4);
  while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  std::size_t digits = 0;
  unsigned long inode = 0;
  while (digits < rest.size() && digits < 20 && std::isdigit(static_cast<unsigned char>(rest[digits])) != 0)
    inode = inode * 10 + static_cast<unsigned long>(rest[digits++] - '0');
  if (digits == 0 || (digits < rest.size() && rest[digits] != ' ')) return std::nullopt;
  ProcNetUnixRecord r{static_cast<unsigned>(std::strtoul(std::string(type_at).c_str(), nullptr, 16)), inode, {}};
  if ((std::strtoul(std::string(flags_at).c_str(), nullptr, 16) & 0x10000) == 0) r.type = ~0U;  // not listening
  if (digits < rest.size()) {
    r.name = std::string(rest.substr(digits + 1));
    // Abstract names: the kernel prints '@' for each NUL.
    if (!r.name.empty() && r.name[0] == '@') r.name[0] = '\0';
  }
  return r;
}

}  // namespace

std::vector<ProcNetUnixRecord> parse_proc_net_unix(std::string_view text,
                                                   const std::function<bool(unsigned long)>& owned) {
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
    const std::string_view line = text.substr(pos + 1, next == std::string_view::npos ? text.npos : next - pos - 1);
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
    if (listening[i] && !records[i].name.empty() && seen[records[i].inode] == 1 && owned(records[i].inode))
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
    records = parse_proc_net_unix(text, [&owners](unsigned long inode) { return owners.count(inode) != 0; });
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

void handle_interrupts(std::function<void(int status)> stop) {
  // A reader that has gone makes write() fail with EPIPE instead of ending lsock.
  ::signal(SIGPIPE, SIG_IGN);
  const sigset_t set = interrupt_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, stop = std::move(stop)] {
    int sig = 0;
    while (::sigwait(&set, &sig) != 0) {
    }
    stop(128 + sig);
  }).detach();
}

bool ensure_standard_streams() {
  bool stdout_closed = false;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    if (fd == 1) stdout_closed = true;
    // The lowest free descriptor: this one.
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0 && null != fd) ::close(null);
  }
  return stdout_closed;
}

const bool has_half_close = true;

std::string reclaim_obstacle(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    const std::string to = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string("?");
    return "it is a symbolic link (to " + to + "), which --reclaim does not take over: remove the link, or use " +
           "the socket file it points to";
  }
  if (!S_ISSOCK(st.st_mode)) return "it is not a socket file";
  return {};
}

void binary_stdio() {}

void write_stderr_raw(std::string_view text) {
  while (!text.empty()) {
    const ssize_t k = ::write(2, text.data(), text.size());
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(k));
  }
}

void exit_now(int status) { ::_exit(status); }

bool reader_left(int err) { return err == EPIPE; }

bool wait_stdout_gone() {
  pollfd p{1, 0, 0};  // no events asked: POLLERR and POLLHUP are always reported
  for (;;) {
    const int r = ::poll(&p, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    return r > 0 && (p.revents & (POLLERR | POLLHUP)) != 0;
  }
}

std::size_t read_stdin(std::byte* data, std::size_t n) {
  for (;;) {
    const ssize_t k = ::read(0, data, n);
    if (k < 0 && errno == EINTR) continue;
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
}

}  // namespace lsock
