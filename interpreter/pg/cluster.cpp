// Throwaway PostgreSQL clusters: initdb, a postmaster started directly (no pg_ctl, so we know its
// pid at once and see it die during startup), a watchdog process that removes everything when
// the owner goes away, and a marker file that lets other processes find or clean up a cluster.
//
// Layout of a cluster directory DIR:
//   DIR/weir-cluster.json  the marker: owner pid, port, persistent, bindir, server user
//   DIR/data               the data directory
//   DIR/.s.PGSQL.<port>    the Unix socket
//   DIR/initdb.log, DIR/server.log
//
// Code that runs in a forked child before exec (spawn, the watchdog) sticks to system calls and
// malloc (which glibc keeps usable after fork); it never throws.
#include "pg/cluster.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "pg/connection.hpp"
#include "pg/sql_parse.hpp"

namespace weir::pg {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kMarker = "weir-cluster.json";
constexpr const char* kTempPrefix = "weir-pg-";
// sizeof(sockaddr_un::sun_path) is 108 and PostgreSQL needs the terminating NUL.
constexpr std::size_t kMaxSocketPath = 107;
constexpr std::size_t kSocketName = sizeof("/.s.PGSQL.65535") - 1;
constexpr int kStartTimeoutSeconds = 30;
constexpr int kStartAttempts = 3;  // a free port can be taken between probing and binding

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  s = s.substr(first, s.find_last_not_of(' ') - first + 1);
  if (s.size() > 400) s = s.substr(0, 400) + "...";
  return s;
}

[[noreturn]] void fail(const std::string& what) {
  throw ClusterError("pg cluster: " + one_line(what));
}

std::string errtext(int err) {
  return std::generic_category().message(err);
}

void sleep_briefly() {
  std::this_thread::sleep_for(5ms);
}

// --- files -----------------------------------------------------------------------------------

std::optional<std::string> read_small(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return text;
}

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

off_t file_size(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// The last non-empty line of a log from byte `from` on: what the user needs to see when a
// PostgreSQL program fails.
std::string last_line(const std::string& path, off_t from = 0) {
  auto text = read_small(path);
  if (!text || static_cast<std::size_t>(from) >= text->size()) return "(no output)";
  std::string tail = text->substr(static_cast<std::size_t>(from));
  auto end = tail.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "(no output)";
  auto start = tail.rfind('\n', end);
  return one_line(tail.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

// The server's last FATAL line in its log from byte `from` on (what stopped it: the lines after
// it only say that it stopped), else the last line.
std::string fatal_line(const std::string& path, off_t from) {
  auto text = read_small(path);
  if (text && static_cast<std::size_t>(from) < text->size()) {
    auto at = text->rfind("FATAL:");
    if (at != std::string::npos && at >= static_cast<std::size_t>(from))
      return one_line(text->substr(at, text->find('\n', at) - at));
  }
  return last_line(path, from);
}

// Everything a program wrote to a log from byte `from` on, as one line (pg_dump and psql
// spread one error over several lines).
std::string output_since(const std::string& path, off_t from) {
  auto text = read_small(path);
  if (!text || static_cast<std::size_t>(from) >= text->size()) return "(no output)";
  std::string out = one_line(text->substr(static_cast<std::size_t>(from)));
  return out.empty() ? "(no output)" : out;
}

std::string realpath_of(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

// Removes dir_fd/name and everything below it without following symlinks; returns 0 or the
// first errno met.
int remove_tree_at(int dir_fd, const char* name) noexcept {
  int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    if (errno != ENOTDIR && errno != ELOOP) return errno;
    return unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT ? 0 : errno;
  }
  DIR* d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    return err;
  }
  int err = 0;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    int sub = remove_tree_at(fd, e->d_name);
    if (!err) err = sub;
  }
  closedir(d);
  if (unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && !err) err = errno;
  return err;
}

int remove_tree(const std::string& path) noexcept {
  return remove_tree_at(AT_FDCWD, path.c_str());
}

// --- processes -------------------------------------------------------------------------------

// Fields of /proc/PID/stat after the command name: [0] is the state, [19] the start time.
std::vector<std::string> proc_stat(pid_t pid) {
  auto text = read_small("/proc/" + std::to_string(pid) + "/stat");
  std::vector<std::string> fields;
  if (!text) return fields;
  auto paren = text->rfind(')');
  if (paren == std::string::npos) return fields;
  std::string field;
  for (std::size_t i = paren + 1; i < text->size(); ++i) {
    char c = (*text)[i];
    if (c == ' ' || c == '\n') {
      if (!field.empty()) fields.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  if (!field.empty()) fields.push_back(field);
  return fields;
}

long long start_time(pid_t pid) {
  auto fields = proc_stat(pid);
  return fields.size() > 19 ? std::atoll(fields[19].c_str()) : 0;
}

// A zombie counts as gone: its sockets are closed and, if it is not our child, nobody may
// ever reap it (PID 1 in a container often doesn't). Our own children are reaped here.
bool process_gone(pid_t pid) noexcept {
  if (pid <= 0) return true;
  int status;
  if (waitpid(pid, &status, WNOHANG) == pid) return true;
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  auto fields = proc_stat(pid);
  return !fields.empty() && fields[0] == "Z";
}

// Whether the process that wrote a marker still runs; the start time tells a reused pid apart.
// When unsure, say alive: a leftover costs disk space, removing a live cluster costs a user's work.
bool owner_alive(long long pid, long long started) {
  if (pid <= 0 || pid > INT_MAX) return false;
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  auto fields = proc_stat(static_cast<pid_t>(pid));
  if (fields.empty()) return true;
  if (fields[0] == "Z") return false;
  return !(started > 0 && fields.size() > 19 && std::atoll(fields[19].c_str()) != started);
}

bool wait_gone(pid_t pid, Clock::duration limit) noexcept {
  auto deadline = Clock::now() + limit;
  while (!process_gone(pid)) {
    if (Clock::now() > deadline) return false;
    sleep_briefly();
  }
  return true;
}

// Immediate shutdown: the data is about to be thrown away, so there is nothing to flush.
void stop_server(pid_t pid) noexcept {
  if (process_gone(pid)) return;
  if (kill(pid, SIGQUIT) != 0) return;  // not ours to stop (EPERM)
  if (wait_gone(pid, 10s)) return;
  // The postmaster leads its own process group (spawn calls setsid), so this takes the
  // backends with it.
  if (getpgid(pid) == pid) kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  wait_gone(pid, 5s);
}

// The postmaster serving datadir, or 0. Checked through /proc/PID/cwd (the postmaster chdirs
// into its data directory) so that a stale postmaster.pid never gets an unrelated process
// killed.
pid_t running_postmaster(const std::string& datadir) noexcept {
  auto text = read_small(datadir + "/postmaster.pid");
  if (!text) return 0;
  long pid = std::strtol(text->c_str(), nullptr, 10);
  if (pid <= 0 || pid > INT_MAX || process_gone(static_cast<pid_t>(pid))) return 0;
  char cwd[PATH_MAX];
  std::string link = "/proc/" + std::to_string(pid) + "/cwd";
  ssize_t n = readlink(link.c_str(), cwd, sizeof cwd - 1);
  if (n <= 0) return 0;
  std::string real = realpath_of(datadir);
  return !real.empty() && real == std::string(cwd, static_cast<std::size_t>(n))
             ? static_cast<pid_t>(pid)
             : 0;
}

// Returns 0 when dir is gone, else the errno that kept it.
int stop_and_remove(const std::string& dir, pid_t known_server) noexcept {
  if (known_server > 0) stop_server(known_server);
  if (pid_t pid = running_postmaster(dir + "/data")) stop_server(pid);
  int err = remove_tree(dir);
  // A process we could not stop in time may still be adding files.
  for (int retry = 0; err == ENOTEMPTY && retry < 20; ++retry) {
    std::this_thread::sleep_for(50ms);
    err = remove_tree(dir);
  }
  return err;
}

int wait_child(pid_t pid) noexcept {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

// Closes every descriptor from 3 up except `keep` and `also` (-1: none), so that children hold
// nothing of ours: a watchdog holding another cluster's socket would keep that cluster alive.
void close_fds_except(int keep, int also, long max_fd) noexcept {
#ifdef SYS_close_range
  int low = also >= 3 && also < keep ? also : keep, high = also > keep ? also : keep;
  bool ok = true;
  if (low > 3) ok = syscall(SYS_close_range, 3u, static_cast<unsigned>(low - 1), 0u) == 0;
  if (ok && high > low + 1)
    ok = syscall(SYS_close_range, static_cast<unsigned>(low + 1), static_cast<unsigned>(high - 1),
                 0u) == 0;
  if (ok && syscall(SYS_close_range, static_cast<unsigned>(high + 1), ~0u, 0u) == 0) return;
#endif
  for (long fd = 3; fd < max_fd; ++fd)
    if (fd != keep && fd != also) close(static_cast<int>(fd));
}

// Moves fd out of 0..2, which a child is about to point at /dev/null or a log.
int above_stdio(int fd) noexcept {
  return fd >= 3 ? fd : fcntl(fd, F_DUPFD, 3);
}

void stdio_to(int in, int out) noexcept {
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
}

// Who runs initdb and postgres: they refuse to run as root, so root hands them to `postgres`.
struct ServerUser {
  bool switch_to = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string name;
};

ServerUser server_user() {
  ServerUser user;
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  if (geteuid() != 0) {
    getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found);
    user.name = found ? found->pw_name : std::to_string(geteuid());
    return user;
  }
  getpwnam_r("postgres", &pw, buf.data(), buf.size(), &found);
  if (!found)
    fail(
        "running as root, but there is no `postgres` OS user to run the server as (PostgreSQL "
        "refuses to run as root); create that user or run weir as an ordinary user");
  user.switch_to = true;
  user.uid = found->pw_uid;
  user.gid = found->pw_gid;
  user.name = found->pw_name;
  int count = 32;
  user.groups.resize(static_cast<std::size_t>(count));
  while (getgrouplist(found->pw_name, found->pw_gid, user.groups.data(), &count) < 0) {
    user.groups.resize(static_cast<std::size_t>(count) + 32);
    count = static_cast<int>(user.groups.size());
  }
  user.groups.resize(static_cast<std::size_t>(count));
  return user;
}

// Runs argv[0] as `user`, in cwd, with stdout and stderr appended to `log`, in this process's
// environment with `env` ("NAME=value" entries) set on top, and descriptor `pass` (-1: none)
// left open for it. A new session keeps the server out of the terminal's process group, so
// Ctrl-C in a REPL doesn't stop it.
pid_t spawn(const std::vector<std::string>& args, const ServerUser& user, const std::string& cwd,
            const std::string& log, bool new_session, const std::vector<std::string>& env = {},
            int pass = -1) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    bool replaced = false;
    for (const auto& set : env)
      replaced = replaced || std::strncmp(*e, set.c_str(), set.find('=') + 1) == 0;
    if (!replaced) envp.push_back(*e);
  }
  for (const auto& set : env)
    envp.push_back(const_cast<char*>(set.c_str()));
  envp.push_back(nullptr);
  long max_fd = sysconf(_SC_OPEN_MAX);
  std::string name = args[0].substr(args[0].rfind('/') + 1);

  // The child reports a failure before exec (which step, errno) on this pipe; EOF means exec ran.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) fail("cannot run " + name + ": " + errtext(errno));
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(report[0]);
    close(report[1]);
    fail("cannot run " + name + ": " + errtext(err));
  }
  if (pid == 0) {
    int out_fd = above_stdio(report[1]);
    int step = 0;
    auto failed = [&]() {
      int msg[2] = {step, errno};
      ssize_t ignored = write(out_fd, msg, sizeof msg);
      (void)ignored;
      _exit(127);
    };
    if (new_session) setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD})
      signal(sig, SIG_DFL);
    step = 1;
    if (user.switch_to && (setgroups(user.groups.size(), user.groups.data()) != 0 ||
                           setgid(user.gid) != 0 || setuid(user.uid) != 0))
      failed();
    step = 2;
    int in = open("/dev/null", O_RDONLY);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0) failed();
    stdio_to(in, out);
    close_fds_except(out_fd, pass, max_fd);
    if (pass >= 0 && fcntl(pass, F_SETFD, 0) != 0) failed();
    step = 3;
    if (chdir(cwd.c_str()) != 0) failed();
    step = 4;
    execve(argv[0], argv.data(), envp.data());
    failed();
  }
  close(report[1]);
  int msg[2];
  ssize_t n;
  do {
    n = read(report[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n != static_cast<ssize_t>(sizeof msg)) return pid;
  wait_child(pid);
  std::string what = msg[0] == 1   ? "cannot switch to OS user " + user.name
                     : msg[0] == 2 ? "cannot open " + log
                     : msg[0] == 3 ? "cannot enter " + cwd + " as OS user " + user.name
                                   : "cannot run " + args[0];
  fail(what + ": " + errtext(msg[1]));
}

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail("cannot find a free TCP port: " + errtext(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(s);
    fail("cannot find a free TCP port on 127.0.0.1: " + errtext(err));
  }
  close(s);
  return ntohs(addr.sin_port);
}

// Whether nothing listens on 127.0.0.1:port now.
bool port_free(int port) {
  if (port <= 0 || port > 65535) return false;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(s);
  return ok;
}

// --- the watchdog ----------------------------------------------------------------------------

// Waits for EOF on fd (the owner closed it or died), then stops the server and removes dir.
// The owner sends the pid of the child working in dir (initdb, then the postmaster; 0 once it
// is reaped), so that a child with no postmaster.pid yet is stopped too.
[[noreturn]] void run_watchdog(int fd, const std::string& dir, long max_fd) noexcept {
  // Ctrl-C and a closing terminal signal the owner's whole process group; we must outlive
  // the owner to clean up after it.
  setsid();
  prctl(PR_SET_NAME, "weir-watchdog");  // so that ps (and pkill -x <owner>) tell it apart
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU})
    signal(sig, SIG_IGN);
  signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int keep = above_stdio(fd);
  int null_fd = open("/dev/null", O_RDWR);
  if (null_fd >= 0) stdio_to(null_fd, null_fd);
  close_fds_except(keep, -1, max_fd);
  if (chdir("/") != 0) {
    // only keeps us from pinning the owner's working directory
  }
  pid_t server = 0;
  for (;;) {
    std::int32_t msg;
    ssize_t n = read(keep, &msg, sizeof msg);
    if (n == static_cast<ssize_t>(sizeof msg)) {
      server = msg;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  stop_and_remove(dir, server);
  _exit(0);
}

// Returns the watchdog's pid and the descriptor whose closing sets it off.
std::pair<pid_t, int> start_watchdog(const std::string& dir) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    fail("cannot start the watchdog: " + errtext(errno));
  long max_fd = sysconf(_SC_OPEN_MAX);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(sv[0]);
    close(sv[1]);
    fail("cannot start the watchdog: " + errtext(err));
  }
  if (pid == 0) {
    close(sv[0]);
    run_watchdog(sv[1], dir, max_fd);
  }
  close(sv[1]);
  return {pid, sv[0]};
}

void tell_watchdog(int fd, pid_t server) noexcept {
  if (fd < 0) return;
  std::int32_t msg = server;
  // MSG_NOSIGNAL: a killed watchdog must not take the owner down with SIGPIPE.
  ssize_t ignored = send(fd, &msg, sizeof msg, MSG_NOSIGNAL);
  (void)ignored;
}

// --- directories and the marker ----------------------------------------------------------------

std::string tmp_base() {
  const char* env = std::getenv("TMPDIR");
  std::string base = env && *env ? env : "/tmp";
  while (base.size() > 1 && base.back() == '/')
    base.pop_back();
  return base;
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) fail("cannot resolve " + path + ": " + errtext(errno));
  return std::string(cwd) + "/" + path;
}

void check_usable_path(const std::string& dir) {
  if (dir.size() + kSocketName > kMaxSocketPath)
    fail(dir + " is too long for a Unix socket directory (" + std::to_string(dir.size()) +
         " bytes, at most " + std::to_string(kMaxSocketPath - kSocketName) +
         "); use a shorter directory or TMPDIR");
  for (unsigned char c : dir)
    if (c < 0x20 || c == '"' || c == 0x7f)
      fail(one_line(dir) + " contains a character PostgreSQL cannot take in a socket directory");
}

bool dir_is_empty(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) fail("cannot read " + dir + ": " + errtext(errno));
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

void make_dirs(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string part = path.substr(0, slash);
    bool last = slash == std::string::npos;
    if (mkdir(part.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST)
      fail("cannot create " + part + ": " + errtext(errno));
    if (last) return;
  }
}

// Creates the cluster directory; returns its real absolute path.
std::string prepare_dir(const std::string& requested) {
  if (requested.empty()) {
    std::string base = tmp_base();
    std::string templ = absolute(base) + "/" + kTempPrefix + "XXXXXX";
    check_usable_path(templ);
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) fail("cannot create a directory in " + base + ": " + errtext(errno));
    return realpath_of(buf.data());
  }
  std::string path = absolute(requested);
  check_usable_path(path);
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) fail(requested + " exists and is not a directory");
    if (!dir_is_empty(path))
      fail(requested + " is not empty; give a new or an empty directory for the cluster");
  } else if (errno == ENOENT) {
    make_dirs(path);
  } else {
    fail("cannot use " + requested + ": " + errtext(errno));
  }
  std::string real = realpath_of(path);
  if (real.empty()) fail("cannot resolve " + requested + ": " + errtext(errno));
  return real;
}

std::optional<nlohmann::json> read_marker(const std::string& dir) {
  auto text = read_small(dir + "/" + kMarker);
  if (!text) return std::nullopt;
  auto marker = nlohmann::json::parse(*text, nullptr, false);
  if (marker.is_discarded() || !marker.is_object()) return std::nullopt;
  return marker;
}

void write_marker(const std::string& dir, const nlohmann::json& marker) {
  // Written aside and renamed, so a reader never sees half a file.
  std::string path = dir + "/" + kMarker;
  std::string temp = path + ".tmp";
  std::string text = marker.dump(2) + "\n";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  if (fd >= 0 && close(fd) != 0) ok = false;
  if (!ok || rename(temp.c_str(), path.c_str()) != 0)
    fail("cannot write " + path + ": " + errtext(ok ? errno : err));
}

std::string make_url(const std::string& socket_dir, int port) {
  std::string host;
  for (unsigned char c : socket_dir) {
    if (std::isalnum(c) || std::strchr("-._~/", c)) {
      host += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      host += hex;
    }
  }
  return "postgresql://postgres@/postgres?host=" + host + "&port=" + std::to_string(port);
}

// Waits until the server at url accepts connections (true) or the postmaster exits (false).
bool wait_until_ready(pid_t postmaster, const std::string& url, const std::string& log,
                      off_t log_start) {
  auto deadline = Clock::now() + std::chrono::seconds(kStartTimeoutSeconds);
  for (;;) {
    int status;
    if (waitpid(postmaster, &status, WNOHANG) == postmaster) return false;
    if (PQping(url.c_str()) == PQPING_OK) return true;
    if (Clock::now() > deadline)
      fail("the server did not accept connections within " + std::to_string(kStartTimeoutSeconds) +
           " s: " + last_line(log, log_start));
    std::this_thread::sleep_for(10ms);
  }
}

bool usable_bindir(const std::string& dir) {
  return !dir.empty() && access((dir + "/initdb").c_str(), X_OK) == 0 &&
         access((dir + "/postgres").c_str(), X_OK) == 0;
}

// Starts the postmaster of the cluster in dir on `preferred` when that port is free, else on a
// free one, retrying when another process takes the port between probing and binding. Sets
// server_pid as soon as there is a server (for the caller to stop on failure); returns the port.
int start_postmaster(const std::string& bindir, const std::string& dir, const ServerUser& user,
                     int preferred, pid_t& server_pid, int watchdog_fd) {
  std::string log = dir + "/server.log";
  for (int attempt = 1;; ++attempt) {
    int port = attempt == 1 && port_free(preferred) ? preferred : free_port();
    off_t log_start = file_size(log);
    server_pid =
        spawn({bindir + "/postgres", "-D", dir + "/data", "-p", std::to_string(port), "-c",
               "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=\"" + dir + "\"", "-c",
               "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"},
              user, dir, log, true);
    tell_watchdog(watchdog_fd, server_pid);
    if (wait_until_ready(server_pid, make_url(dir, port), log, log_start)) return port;
    server_pid = 0;
    tell_watchdog(watchdog_fd, 0);
    std::string tail = read_small(log).value_or("");
    tail = tail.substr(std::min(tail.size(), static_cast<std::size_t>(log_start)));
    bool port_taken = tail.find("could not bind") != std::string::npos ||
                      tail.find("Address already in use") != std::string::npos;
    if (!port_taken || attempt == kStartAttempts)
      fail("the server exited during startup: " + fatal_line(log, log_start));
  }
}

// --- which PostgreSQL ------------------------------------------------------------------------

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  return s;
}

// The first line a command prints ("" when it cannot run).
std::string command_output(const std::string& command) {
  std::string out;
  if (FILE* p = popen((command + " 2>/dev/null").c_str(), "r")) {
    char buf[PATH_MAX];
    while (std::fgets(buf, sizeof buf, p))
      out += buf;
    pclose(p);
  }
  return trimmed(out.substr(0, out.find('\n')));
}

// "15" from "15", "15.4", "PostgreSQL 15.4" or "postgres (PostgreSQL) 15.4 (Debian …)".
std::string major_of(const std::string& text) {
  auto digit = text.find_first_of("0123456789");
  if (digit == std::string::npos) return "";
  auto end = text.find_first_not_of("0123456789", digit);
  return text.substr(digit, end == std::string::npos ? std::string::npos : end - digit);
}

// "15 in /usr/lib/postgresql/15/bin, 16 in /usr/lib/postgresql/16/bin", or "none".
std::string listing(const std::vector<Installation>& found) {
  std::string out;
  for (const auto& i : found)
    out += (out.empty() ? "" : ", ") + i.version + " in " + i.bindir;
  return out.empty() ? "none" : out;
}

// --- the list of persistent clusters -------------------------------------------------------

// $XDG_STATE_HOME/weir/clusters, else ~/.local/state/weir/clusters; "" with neither.
std::string registry_path() {
  std::string base;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) {
    base = x;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    base = std::string(home) + "/.local/state";
  } else {
    return "";
  }
  return base + "/weir/clusters";
}

bool has_marker(const std::string& dir) {
  return exists(dir + "/" + kMarker);
}

// Reads the list, drops `remove` and directories that are no longer weir clusters, adds `add`,
// and writes it back under a lock; returns the entries. Best effort: the list only serves
// `weir pg list`, so a failure to keep it leaves the clusters themselves untouched.
std::vector<std::string> update_registry(const std::string& add, const std::string& remove) {
  std::vector<std::string> entries;
  std::string path = registry_path();
  if (path.empty()) return entries;
  std::string dir = path.substr(0, path.rfind('/'));
  for (std::size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    mkdir(dir.substr(0, slash).c_str(), 0755);
    if (slash == std::string::npos) break;
  }
  int lock = open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) return entries;
  while (flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  std::string text = read_small(path).value_or("");
  std::size_t from = 0;
  while (from < text.size()) {
    auto nl = text.find('\n', from);
    std::string line = text.substr(from, nl == std::string::npos ? std::string::npos : nl - from);
    from = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty() || line == remove || line == add || !has_marker(line)) continue;
    if (std::find(entries.begin(), entries.end(), line) == entries.end()) entries.push_back(line);
  }
  if (!add.empty()) entries.push_back(add);
  std::string out;
  for (const auto& e : entries)
    out += e + "\n";
  std::string temp = path + ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    bool ok = write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size());
    if (close(fd) == 0 && ok) rename(temp.c_str(), path.c_str());
  }
  close(lock);  // releases the flock
  return entries;
}

// Stops and removes one $TMPDIR/weir-pg-* directory if it is a non-persistent weir cluster
// whose owner is gone.
bool remove_leftover(const std::string& path) noexcept {
  try {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    // An ordinary user could not remove another user's cluster anyway.
    if (geteuid() != 0 && st.st_uid != geteuid()) return false;
    auto marker = read_marker(path);
    if (!marker || !marker->contains("pid")) return false;
    if (marker->value("persistent", true)) return false;
    if (owner_alive(marker->value("pid", 0LL), marker->value("pid_start", 0LL))) return false;
    return stop_and_remove(path, 0) == 0;
  } catch (const std::exception&) {
    return false;  // a damaged marker: not provably ours, leave it
  }
}

}  // namespace

// --- Cluster ---------------------------------------------------------------------------------

Cluster::Cluster(const ClusterOptions& options) : persistent_(options.persistent) {
  cleanup_leftovers();
  bindir_ = options.bindir.empty() ? find_bindir() : options.bindir;
  if (!usable_bindir(bindir_)) fail("no initdb and postgres programs in " + bindir_);
  ServerUser user = server_user();
  dir_ = prepare_dir(options.dir);
  try {
    if (user.switch_to && chown(dir_.c_str(), user.uid, user.gid) != 0)
      fail("cannot hand " + dir_ + " to OS user " + user.name + ": " + errtext(errno));
    if (chmod(dir_.c_str(), 0700) != 0) fail("cannot chmod " + dir_ + ": " + errtext(errno));
    nlohmann::json marker = {{"pid", getpid()},     {"pid_start", start_time(getpid())},
                             {"persistent", false}, {"port", 0},
                             {"bindir", bindir_},   {"user", user.name},
                             {"socket_dir", dir_},  {"data", dir_ + "/data"}};
    // Written before anything slow, so that cleanup_leftovers can recognise a run killed
    // mid-start; marked persistent only once the server is up, for the same reason.
    write_marker(dir_, marker);

    if (!persistent_) std::tie(watchdog_pid_, watchdog_fd_) = start_watchdog(dir_);

    std::string initdb_log = dir_ + "/initdb.log";
    pid_t initdb =
        spawn({bindir_ + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "--auth=trust", "-E",
               "UTF8", "--no-locale", "--no-sync", "--no-instructions"},
              user, dir_, initdb_log, false);
    // initdb goes on writing if we die; the watchdog must stop it before removing dir_.
    tell_watchdog(watchdog_fd_, initdb);
    int status = wait_child(initdb);
    tell_watchdog(watchdog_fd_, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail("initdb failed: " + last_line(initdb_log));

    port_ = start_postmaster(bindir_, dir_, user, 0, server_pid_, watchdog_fd_);

    marker["port"] = port_;
    marker["persistent"] = persistent_;
    write_marker(dir_, marker);
    if (persistent_) update_registry(dir_, "");
  } catch (const std::exception&) {
    shutdown();
    throw;
  }
}

Cluster::~Cluster() {
  if (!persistent_) shutdown();
}

void Cluster::shutdown() noexcept {
  if (watchdog_fd_ >= 0) {
    close(watchdog_fd_);  // EOF: the watchdog stops the server and removes dir_
    watchdog_fd_ = -1;
    wait_child(watchdog_pid_);
    watchdog_pid_ = 0;
  }
  // Also covers a watchdog someone killed and a persistent cluster that failed to start; and
  // reaps the postmaster, which is our child.
  if (server_pid_ > 0) {
    stop_server(server_pid_);
    server_pid_ = 0;
  }
  if (!dir_.empty() && exists(dir_)) stop_and_remove(dir_, 0);
}

std::string Cluster::url() const {
  return make_url(dir_, port_);
}

void Cluster::copy_schema_from(const std::string& source_url,
                               const std::vector<std::string>& data_schemas) {
  SchemaCopy copy{source_url, url(), data_schemas};
  copy.create_roles = true;  // a cluster of its own: the roles its copy needs are made there
  copy_schema(copy, bindir_);
}

std::string Cluster::url_for(const std::string& dir) {
  std::string real = realpath_of(dir);
  if (real.empty()) fail("no weir cluster in " + dir + ": " + errtext(errno));
  auto marker = read_marker(real);
  if (!marker) fail("no weir cluster in " + dir + " (no readable " + kMarker + ")");
  std::string url;
  try {
    int port = marker->value("port", 0);
    if (port <= 0) fail("the weir cluster in " + dir + " has not finished starting");
    url = make_url(marker->value("socket_dir", real), port);
  } catch (const nlohmann::json::exception&) {
    fail("no weir cluster in " + dir + " (" + kMarker + " is damaged)");
  }
  if (PQping(url.c_str()) != PQPING_OK) fail("the weir cluster in " + dir + " is not running");
  return url;
}

std::string Cluster::start_again(const std::string& dir, bool& already_running) {
  already_running = false;
  std::string real = realpath_of(dir);
  if (real.empty()) fail("no weir cluster in " + dir + ": " + errtext(errno));
  auto marker = read_marker(real);
  if (!marker) fail("no weir cluster in " + dir + " (no readable " + kMarker + ")");
  try {
    if (!marker->value("persistent", false)) {
      long long owner = marker->value("pid", 0LL);
      if (owner_alive(owner, marker->value("pid_start", 0LL)))
        fail(dir + " is the throwaway cluster of a running weir (pid " + std::to_string(owner) +
             "), removed when that ends; it cannot be started again");
      fail(dir + " is what is left of a throwaway cluster whose weir ended; remove it with: " +
           "weir pg stop " + dir);
    }
    std::string data = marker->value("data", real + "/data");
    if (running_postmaster(data)) {
      already_running = true;
      return url_for(real);
    }
    // A choice of PostgreSQL ($WEIR_PG_BINDIR: --pg-bindir, --pg-version) must be of the data
    // directory's major version; without one the cluster keeps the server it was made with.
    std::string version = major_of(read_small(data + "/PG_VERSION").value_or(""));
    std::string bindir = marker->value("bindir", "");
    const char* chosen = std::getenv("WEIR_PG_BINDIR");
    if (chosen && *chosen && chosen != bindir) {
      std::string chosen_version =
          major_of(command_output(std::string(chosen) + "/postgres --version"));
      if (chosen_version != version)
        fail("the cluster in " + dir + " holds PostgreSQL " + version + " data, which " + chosen +
             " (PostgreSQL " + (chosen_version.empty() ? "?" : chosen_version) + ") cannot start");
      bindir = chosen;
    }
    if (!usable_bindir(bindir))
      fail("the cluster in " + dir + " was made by PostgreSQL " + version + " in " + bindir +
           ", which is no longer there (installed: " + listing(installations()) + ")");
    // What a server that did not stop (a reboot, kill -9) leaves is stale, since no postmaster
    // serves this data directory (running_postmaster said so): postmaster.pid, and the socket
    // and its lock file, which name a pid that may live on as a zombie nobody reaps.
    unlink((data + "/postmaster.pid").c_str());
    if (DIR* d = opendir(real.c_str())) {
      while (dirent* e = readdir(d))
        if (std::strncmp(e->d_name, ".s.PGSQL.", 9) == 0) unlinkat(dirfd(d), e->d_name, 0);
      closedir(d);
    }
    ServerUser user = server_user();
    pid_t server = 0;
    int port = 0;
    try {
      port = start_postmaster(bindir, real, user, marker->value("port", 0), server, -1);
    } catch (const std::exception&) {
      if (server > 0) stop_server(server);
      throw;
    }
    (*marker)["port"] = port;
    (*marker)["bindir"] = bindir;
    write_marker(real, *marker);
    update_registry(real, "");
    return make_url(marker->value("socket_dir", real), port);
  } catch (const nlohmann::json::exception&) {
    fail("no weir cluster in " + dir + " (" + kMarker + " is damaged)");
  }
}

bool Cluster::stop(const std::string& dir, bool keep_data) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 && errno == ENOENT) {
    update_registry("", absolute(dir));
    return false;
  }
  std::string real = realpath_of(dir);
  if (real.empty()) fail("cannot stop a cluster in " + dir + ": " + errtext(errno));
  auto marker = read_marker(real);
  if (!marker) fail(dir + " is not a weir cluster (no " + kMarker + "); refusing to remove it");
  if (keep_data) {
    std::string data = real + "/data";
    if (marker->contains("data") && (*marker)["data"].is_string()) data = (*marker)["data"];
    if (pid_t pid = running_postmaster(data)) {
      // Fast shutdown writes a checkpoint: the next start needs no recovery.
      if (kill(pid, SIGINT) == 0 && !wait_gone(pid, 60s)) stop_server(pid);
    }
    return true;
  }
  if (int err = stop_and_remove(real, 0)) fail("cannot remove " + dir + ": " + errtext(err));
  update_registry("", real);
  return true;
}

bool Cluster::holds_cluster(const std::string& dir) {
  return has_marker(dir);
}

ClusterStatus Cluster::status(const std::string& dir) {
  std::string real = realpath_of(dir);
  if (real.empty()) fail("no weir cluster in " + dir + ": " + errtext(errno));
  auto marker = read_marker(real);
  if (!marker) fail("no weir cluster in " + dir + " (no readable " + kMarker + ")");
  ClusterStatus st;
  st.dir = real;
  try {
    st.persistent = marker->value("persistent", false);
    st.owner_pid = marker->value("pid", 0LL);
    st.port = marker->value("port", 0);
    st.bindir = marker->value("bindir", "");
    std::string data = marker->value("data", real + "/data");
    st.version = major_of(read_small(data + "/PG_VERSION").value_or(""));
    if (st.port > 0) st.url = make_url(marker->value("socket_dir", real), st.port);
    st.running =
        running_postmaster(data) != 0 && !st.url.empty() && PQping(st.url.c_str()) == PQPING_OK;
  } catch (const nlohmann::json::exception&) {
    fail("no weir cluster in " + dir + " (" + kMarker + " is damaged)");
  }
  return st;
}

std::vector<std::string> Cluster::known() {
  std::vector<std::string> dirs = update_registry("", "");
  std::string base = tmp_base();
  if (DIR* d = opendir(base.c_str())) {
    std::size_t prefix = std::strlen(kTempPrefix);
    while (dirent* e = readdir(d)) {
      std::string path = base + "/" + e->d_name;
      if (std::strncmp(e->d_name, kTempPrefix, prefix) != 0 || !has_marker(path)) continue;
      std::string real = realpath_of(path);
      if (!real.empty() && std::find(dirs.begin(), dirs.end(), real) == dirs.end())
        dirs.push_back(real);
    }
    closedir(d);
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::vector<Installation> Cluster::installations() {
  std::vector<Installation> found;
  if (DIR* d = opendir("/usr/lib/postgresql")) {
    while (dirent* e = readdir(d)) {
      std::string bin = std::string("/usr/lib/postgresql/") + e->d_name + "/bin";
      if (e->d_name[0] != '.' && usable_bindir(bin)) found.push_back({major_of(e->d_name), bin});
    }
    closedir(d);
  }
  // Debian's pg_config --bindir is /usr/bin, which has client programs but no initdb; a
  // PostgreSQL built from source has its server there.
  std::string config_bin = command_output("pg_config --bindir");
  std::string config_real = realpath_of(config_bin);
  bool listed = false;
  for (const auto& i : found)
    listed = listed || realpath_of(i.bindir) == config_real;
  if (!listed && usable_bindir(config_bin))
    found.push_back({major_of(command_output("pg_config --version")), config_bin});
  std::sort(found.begin(), found.end(), [](const Installation& a, const Installation& b) {
    return std::atoi(a.version.c_str()) < std::atoi(b.version.c_str());
  });
  return found;
}

std::string Cluster::check_bindir(const std::string& dir) {
  if (dir.empty()) fail("an empty directory name is no PostgreSQL bindir");
  std::string path = absolute(dir);
  if (usable_bindir(path)) return path;
  fail(dir + " has no initdb and postgres programs (installed: " + listing(installations()) + ")");
}

std::string Cluster::bindir_for_version(const std::string& version) {
  std::string major = major_of(version);
  bool plain = !major.empty() && version.compare(0, major.size(), major) == 0 &&
               (version.size() == major.size() || version[major.size()] == '.');
  if (!plain) fail("'" + version + "' is not a PostgreSQL version (a major version: 15, 16 …)");
  auto found = installations();
  for (const auto& i : found)
    if (i.version == major) return i.bindir;
  fail("PostgreSQL " + major + " is not installed (installed: " + listing(found) +
       "); install postgresql-" + major + " or give --pg-bindir");
}

std::string Cluster::find_bindir() {
  if (const char* dir = std::getenv("WEIR_PG_BINDIR"); dir && *dir) {
    if (usable_bindir(dir)) return dir;
    fail(std::string("$WEIR_PG_BINDIR: ") + dir + " has no initdb and postgres programs " +
         "(installed: " + listing(installations()) + ")");
  }
  if (const char* version = std::getenv("WEIR_PG_VERSION"); version && *version) {
    try {
      return bindir_for_version(version);
    } catch (const ClusterError& e) {
      fail(std::string("$WEIR_PG_VERSION: ") + (e.what() + std::strlen("pg cluster: ")));
    }
  }
  // `pg_config --bindir` when it has the server (a build from source), else the newest.
  std::string config_bin = command_output("pg_config --bindir");
  if (usable_bindir(config_bin)) return config_bin;
  auto found = installations();
  if (found.empty())
    fail(
        "no PostgreSQL server programs found (looked in `pg_config --bindir` and "
        "/usr/lib/postgresql/*/bin); install postgresql-15, or give --pg-bindir");
  return found.back().bindir;
}

int Cluster::cleanup_leftovers() {
  int removed = 0;
  try {
    std::string base = tmp_base();
    std::vector<std::string> candidates;
    if (DIR* d = opendir(base.c_str())) {
      std::size_t prefix = std::strlen(kTempPrefix);
      while (dirent* e = readdir(d))
        if (std::strncmp(e->d_name, kTempPrefix, prefix) == 0)
          candidates.push_back(base + "/" + e->d_name);
      closedir(d);
    }
    for (const auto& path : candidates) {
      if (remove_leftover(path)) ++removed;
    }
  } catch (const std::exception&) {
    // Out of memory listing $TMPDIR: nothing to clean this time.
  }
  return removed;
}

// --- copying a schema ------------------------------------------------------------------------

namespace {

// A pattern for pg_dump's --schema that matches exactly `name` (psql's pattern rules: inside
// double quotes every character is literal, "" is a quote).
std::string exact_pattern(const std::string& name) {
  std::string out = "\"";
  for (char c : name)
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A private directory for the dump, removed with everything in it however the copy ends.
struct WorkDir {
  std::string path;
  WorkDir() {
    std::string templ = absolute(tmp_base()) + "/weir-schema-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data()))
      fail("cannot create a directory in " + tmp_base() + ": " + errtext(errno));
    path = buf.data();
  }
  ~WorkDir() { remove_tree(path); }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
};

// Runs a client program (pg_dump, psql) against `target`: its settings reach the program in a
// service file it reads from a pipe (pg/connection.hpp: client_target), never on its command
// line, which `ps` shows every user, nor on disk.
void run_client(std::vector<std::string> args, const std::string& target, const WorkDir& work,
                const std::string& what) {
  ClientTarget client;
  int service = -1;
  try {
    client = client_target(target);
    if (!client.service_file.empty()) service = text_pipe(client.service_file);
  } catch (const std::exception& e) {
    fail(what + ": " + e.what());
  }
  struct Close {
    int fd;
    ~Close() {
      if (fd >= 0) close(fd);
    }
  } closing{service};
  if (service >= 0) client.env.push_back("PGSERVICEFILE=/dev/fd/" + std::to_string(service));
  args.push_back("--no-password");  // no prompt: the service file is read once
  args.insert(args.end(), client.args.begin(), client.args.end());
  std::string log = work.path + "/client.log";
  off_t from = file_size(log);
  int status = wait_child(spawn(args, ServerUser{}, work.path, log, false, client.env, service));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail(what + ": " + scrub_target(output_since(log, from), target));
}

// The roles the source database's objects name (owners, grantees, policies, default
// privileges: pg_shdepend, publications and subscriptions aside, which the copy leaves out) and
// the bootstrap superuser, which pg_shdepend does not record.
const char* const kReferencedRoles = R"(
  SELECT r.rolname FROM pg_catalog.pg_roles r
   WHERE r.oid = 10 OR r.oid IN (
     SELECT d.refobjid FROM pg_catalog.pg_shdepend d
      WHERE d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
        AND d.classid NOT IN ('pg_catalog.pg_publication'::pg_catalog.regclass,
                              'pg_catalog.pg_subscription'::pg_catalog.regclass)
        AND d.dbid = (SELECT oid FROM pg_catalog.pg_database
                       WHERE datname = pg_catalog.current_database()))
   ORDER BY 1)";

// What the copy's owners and grants need of the destination.
struct Roles {
  std::string source_database;       // for pg_dumpall's first connection
  std::vector<std::string> missing;  // roles the source's objects name that `to` lacks
  std::set<std::string> existing;    // every role `to` has
  bool superuser = false;            // `to`'s user may give objects to any role
};

// The roles `to`'s server has, and whether its user is a superuser.
Roles read_destination_roles(const SchemaCopy& copy) {
  Roles out;
  try {
    Connection to(copy.to);
    Result r = to.exec("SELECT rolname FROM pg_catalog.pg_roles");
    for (int i = 0; i < r.rows(); ++i)
      out.existing.insert(r.value(i, 0));
    out.superuser = std::string(to.exec("SELECT rolsuper FROM pg_catalog.pg_roles "
                                        "WHERE rolname = current_user")
                                    .value(0, 0)) == "t";
  } catch (const SqlError& e) {
    fail("reading the roles of the copy's server failed: " + e.line());
  } catch (const ConnectionError& e) {
    fail(std::string("reading the roles of the copy's server failed: ") + e.what());
  }
  return out;
}

// Fills in the roles the source database's objects name that `to`'s server lacks.
void read_source_roles(const SchemaCopy& copy, Roles& roles) {
  try {
    Connection from(copy.from);
    roles.source_database = from.exec("SELECT pg_catalog.current_database()").value(0, 0);
    Result r = from.exec(kReferencedRoles);
    for (int i = 0; i < r.rows(); ++i)
      if (!roles.existing.count(r.value(i, 0))) roles.missing.push_back(r.value(i, 0));
  } catch (const SqlError& e) {
    fail("reading the roles the target's objects name failed: " + e.line());
  } catch (const ConnectionError& e) {
    fail(std::string("reading the roles the target's objects name failed: ") + e.what());
  }
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The role a statement of pg_dumpall --roles-only is about ("" for SET and the like).
std::string role_of(const Statement& s) {
  const auto& t = s.tree;
  if (s.kind == "CreateRoleStmt") return t.value("role", "");
  if (s.kind == "AlterRoleStmt" || s.kind == "AlterRoleSetStmt")
    return t.contains("role") ? t["role"].value("rolename", "") : "";
  if ((s.kind == "CommentStmt" || s.kind == "SecLabelStmt") &&
      t.value("objtype", "") == "OBJECT_ROLE")
    return t.contains("object") && t["object"].contains("String")
               ? t["object"]["String"].value("sval", "")
               : "";
  return "";
}

// pg_dumpall --roles-only --no-role-passwords of the source, reduced to the roles `to` lacks
// (the statements about its own roles, its superuser among them, are left out: the copy never
// changes a role it did not create), loaded into `to`.
void create_roles(const SchemaCopy& copy, const Roles& roles, const std::string& bin,
                  const WorkDir& work) {
  std::string dump_file = work.path + "/roles-all.sql", load_file = work.path + "/roles.sql";
  try {
    run_client({bin + "/pg_dumpall", "--roles-only", "--no-role-passwords",
                "--database=" + roles.source_database, "--file=" + dump_file},
               copy.from, work, "pg_dumpall --roles-only of the target failed");
  } catch (const ClusterError& e) {
    std::string m = e.what();
    const std::string prefix = "pg cluster: ";
    if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
    fail("the target's owners and grants name roles the copy's cluster lacks (" +
         joined(roles.missing) + "), and they cannot be read from the target: " + m);
  }
  auto text = read_small(dump_file);
  if (!text) fail("cannot read " + dump_file + ": " + errtext(errno));
  // psql's \restrict and \unrestrict lines are not SQL; the rest is read by PostgreSQL's parser.
  std::string sql, line;
  for (std::size_t at = 0; at < text->size();) {
    std::size_t nl = text->find('\n', at);
    if (nl == std::string::npos) nl = text->size();
    line = text->substr(at, nl - at);
    if (line.rfind("\\restrict ", 0) != 0 && line.rfind("\\unrestrict ", 0) != 0)
      sql += line + "\n";
    at = nl + 1;
  }
  std::vector<Statement> statements;
  try {
    statements = parse_sql(sql);
  } catch (const SqlSyntaxError& e) {
    fail(std::string("pg_dumpall --roles-only of the target wrote SQL weir cannot read: ") +
         e.what());
  }
  std::set<std::string> created;
  std::string out;
  for (const auto& s : statements) {
    std::string role = role_of(s);
    if (s.kind == "CreateRoleStmt" && !roles.existing.count(role)) created.insert(role);
    if (!role.empty() && roles.existing.count(role)) continue;
    if (s.kind == "GrantRoleStmt") {
      // memberships: only those of the roles made here
      bool mine = false;
      for (const auto& g : s.tree.value("grantee_roles", nlohmann::json::array()))
        if (g.contains("RoleSpec") && created.count(g["RoleSpec"].value("rolename", "")))
          mine = true;
      if (!mine) continue;
    }
    out += s.text + ";\n";
  }
  int fd = open(load_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size());
  int err = errno;
  if (fd >= 0 && close(fd) != 0) ok = false;
  if (!ok) fail("cannot write " + load_file + ": " + errtext(err));
  run_client({bin + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--file=" + load_file}, copy.to,
             work, "creating the target's roles in the copy's cluster failed");
}

}  // namespace

void copy_schema(const SchemaCopy& copy, const std::string& bindir) {
  std::string bin = bindir.empty() ? Cluster::find_bindir() : bindir;
  // The client programs run as the calling user (pg_dump reads the caller's ~/.pgpass and PG*
  // variables); only a throwaway server runs as `postgres`.
  WorkDir work;
  // Privileges are copied (a copy without its grants is not the schema), so every role they and
  // the owners name must exist where the copy goes; owners are kept where the copy's user may
  // give objects away, otherwise it owns them all.
  Roles roles = read_destination_roles(copy);
  std::string schema_file = work.path + "/schema.sql", data_file = work.path + "/data.sql";
  std::vector<std::string> schema_args = {bin + "/pg_dump", "--schema-only", "--no-publications",
                                          "--no-subscriptions", "--file=" + schema_file};
  if (!roles.superuser) schema_args.push_back("--no-owner");
  run_client(schema_args, copy.from, work, "pg_dump --schema-only of the target failed");
  read_source_roles(copy, roles);
  if (!roles.missing.empty()) {
    if (!copy.create_roles)
      fail("the target's owners and grants name roles the copy's server lacks: " +
           joined(roles.missing) + " (create them there first)");
    create_roles(copy, roles, bin, work);
  }
  if (!copy.data_schemas.empty()) {
    std::vector<std::string> args = {bin + "/pg_dump", "--data-only", "--no-owner",
                                     "--no-privileges", "--file=" + data_file};
    for (const auto& name : copy.data_schemas)
      args.push_back("--schema=" + exact_pattern(name));
    run_client(args, copy.from, work, "pg_dump --data-only of the target's schemas failed");
  }
  run_client({bin + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--file=" + schema_file}, copy.to,
             work, "loading the target's schema into the copy failed");
  if (!copy.data_schemas.empty())
    run_client({bin + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--file=" + data_file}, copy.to,
               work, "loading the rows into the copy failed");
}

// --- dumps of tables ---------------------------------------------------------------------------

namespace {

// Runs fn, its ClusterError ("pg cluster: …") re-raised as "<who>: …".
template <typename F>
auto as(const char* who, F fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const ClusterError& e) {
    std::string m = e.what();
    const std::string prefix = "pg cluster: ";
    if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
    throw ClusterError(std::string(who) + ": " + m);
  }
}

// "schema.table" as a pg_dump --table pattern matching exactly that table.
std::string table_pattern(const std::string& name) {
  auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == name.size())
    fail("table " + one_line(name) + " must be written schema.table");
  return exact_pattern(name.substr(0, dot)) + "." + exact_pattern(name.substr(dot + 1));
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

long long dump_tables(const DumpSpec& spec, const std::string& bindir) {
  return as("weir.dump", [&]() -> long long {
    if (spec.file.empty()) fail("file must not be empty");
    std::vector<std::string> patterns;
    for (const auto& t : spec.tables)
      patterns.push_back(table_pattern(t));
    std::string file = absolute(spec.file);
    if (exists(file)) fail(spec.file + " exists already; a dump never replaces a file");
    std::string dir = parent_of(file);
    if (!exists(dir)) make_dirs(dir);
    std::string bin = bindir.empty() ? Cluster::find_bindir() : bindir;
    std::string partial = file + ".partial-" + std::to_string(getpid());
    WorkDir work;
    std::vector<std::string> args = {bin + "/pg_dump", "--format=custom", "--strict-names",
                                     "--file=" + partial};
    if (!spec.snapshot.empty()) args.push_back("--snapshot=" + spec.snapshot);
    for (const auto& p : patterns)
      args.push_back("--table=" + p);
    // pg_dump creates the file with the umask's mode: make it private before anything is in it.
    int fd = open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) fail("cannot create " + partial + ": " + errtext(errno));
    close(fd);
    try {
      run_client(args, spec.from, work, "pg_dump failed");
    } catch (const ClusterError&) {
      unlink(partial.c_str());
      throw;
    }
    // link, not rename: a file that appeared at `file` meanwhile is kept, and this one dropped
    if (link(partial.c_str(), file.c_str()) != 0) {
      int err = errno;
      unlink(partial.c_str());
      fail("cannot create " + spec.file + ": " + errtext(err));
    }
    unlink(partial.c_str());
    return static_cast<long long>(file_size(file));
  });
}

void restore_dump(const std::string& file, const std::string& to, const std::string& bindir) {
  as("weir.restore", [&]() {
    if (file.empty()) fail("file must not be empty");
    std::string path = absolute(file);
    if (access(path.c_str(), R_OK) != 0) fail("cannot read " + file + ": " + errtext(errno));
    std::string bin = bindir.empty() ? Cluster::find_bindir() : bindir;
    WorkDir work;
    run_client({bin + "/pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                "--single-transaction", path},
               to, work, "pg_restore of " + file + " failed");
  });
}

}  // namespace weir::pg
