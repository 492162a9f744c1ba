// COPY between connections and COPY's text format (see copy.hpp).
#include "pg/copy.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "pg/connection.hpp"

namespace weir::pg {

long long pipe_copy(Connection& src, const std::string& copy_out_sql, Connection& dst,
                    const std::string& copy_in_sql) {
  dst.copy_in(copy_in_sql);
  try {
    src.copy_out(copy_out_sql);
  } catch (const std::exception&) {
    try {
      dst.end_copy("the source query failed");
    } catch (const std::exception&) {
      // dst reports the abort itself; the source's error is the one to show
    }
    throw;
  }
  try {
    const char* buf = nullptr;
    for (long n; (n = src.read_copy(&buf)) >= 0;)
      dst.write_copy(buf, static_cast<size_t>(n));
  } catch (const std::exception&) {
    try {
      const char* rest = nullptr;
      while (src.read_copy(&rest) >= 0) {
      }
    } catch (const std::exception&) {
    }
    try {
      dst.end_copy("copy aborted");
    } catch (const std::exception&) {
    }
    throw;
  }
  Result done = dst.end_copy();
  return done.affected();
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Row parse_text_line(const char* data, size_t n) {
  if (n > 0 && data[n - 1] == '\n') --n;
  Row row;
  std::string field;
  bool null = false;
  auto finish = [&]() {
    if (null)
      row.emplace_back(std::nullopt);
    else
      row.emplace_back(std::move(field));
    field.clear();
    null = false;
  };
  for (size_t i = 0; i < n; ++i) {
    char c = data[i];
    if (c == '\t') {
      finish();
      continue;
    }
    if (c != '\\') {
      field += c;
      continue;
    }
    if (++i >= n) throw std::runtime_error("COPY text: a line ends in a backslash");
    char e = data[i];
    switch (e) {
      case 'N':
        if (!field.empty()) throw std::runtime_error("COPY text: \\N inside a value");
        null = true;
        break;
      case 'b':
        field += '\b';
        break;
      case 'f':
        field += '\f';
        break;
      case 'n':
        field += '\n';
        break;
      case 'r':
        field += '\r';
        break;
      case 't':
        field += '\t';
        break;
      case 'v':
        field += '\v';
        break;
      case 'x': {
        int v = 0, digits = 0;
        while (digits < 2 && i + 1 < n && hex_value(data[i + 1]) >= 0) {
          v = v * 16 + hex_value(data[++i]);
          ++digits;
        }
        if (digits == 0) {
          field += 'x';
        } else {
          field += static_cast<char>(v);
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0', digits = 1;
          while (digits < 3 && i + 1 < n && data[i + 1] >= '0' && data[i + 1] <= '7') {
            v = v * 8 + (data[++i] - '0');
            ++digits;
          }
          field += static_cast<char>(v);
        } else {
          field += e;
        }
    }
  }
  finish();
  return row;
}

void append_copy_text(std::string& out, const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        out += c;
    }
  }
}

void append_text_line(const Row& row, std::string& out) {
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) out += '\t';
    if (!row[i]) {
      out += "\\N";
      continue;
    }
    append_copy_text(out, row[i]->data(), row[i]->size());
  }
  out += '\n';
}

// ---- worker processes ----------------------------------------------------------------------

extern "C" char** environ;

namespace {

std::runtime_error os_error(const std::string& what, int err) {
  return std::runtime_error("copy workers: " + what + ": " + std::strerror(err));
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

Worker::Worker(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  // Everything the child needs is built before fork: after it, the child only makes system calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    bool replaced = false;
    for (const auto& add : env) {
      size_t eq = add.find('=');
      if (eq != std::string::npos && std::strncmp(*e, add.c_str(), eq + 1) == 0) replaced = true;
    }
    if (!replaced) env_strings.emplace_back(*e);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp, args;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy)
    args.push_back(a.data());
  args.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw os_error("cannot create a pipe", errno);
  // No signal handler of this process may run in the child before exec (one cancels this
  // process's running query): signals are blocked across fork, and reset in the child.
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    // Dies with this process; if that already happened, the child was adopted: stop now.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    if (dup2(fds[1], STDOUT_FILENO) < 0) _exit(127);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    throw os_error("cannot start a worker", fork_errno);
  }
  pid_ = pid;
  out_fd_ = fds[0];
}

Worker::~Worker() {
  close_fd(out_fd_);
  if (!joined_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

struct WorkerJoin {
  static std::vector<WorkerResult> run(const std::vector<Worker*>& workers,
                                       const std::function<bool()>& stop) {
    bool stopping = false;
    auto check_stop = [&] {
      if (stopping || !stop()) return;
      stopping = true;
      for (Worker* w : workers)
        if (!w->joined_ && !w->stopped_) {
          kill(w->pid_, SIGTERM);
          w->stopped_ = true;
        }
    };
    check_stop();
    // Read every pipe until EOF (the worker exited or closed its stdout).
    for (;;) {
      std::vector<pollfd> fds;
      std::vector<Worker*> owners;
      for (Worker* w : workers)
        if (!w->joined_ && w->out_fd_ >= 0) {
          fds.push_back(pollfd{w->out_fd_, POLLIN, 0});
          owners.push_back(w);
        }
      if (fds.empty()) break;
      int n = poll(fds.data(), fds.size(), 1000);
      check_stop();
      if (n <= 0) continue;  // a timeout or a signal (EINTR): stop was asked again above
      for (size_t i = 0; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        char buf[4096];
        ssize_t got = read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          owners[i]->output_.append(buf, static_cast<size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          close_fd(owners[i]->out_fd_);
        }
      }
    }
    std::vector<WorkerResult> results;
    for (Worker* w : workers) {
      if (!w->joined_) {
        int status = 0;
        pid_t r;
        while ((r = waitpid(w->pid_, &status, 0)) < 0 && errno == EINTR)
          check_stop();
        w->code_ = r == w->pid_ ? exit_code(status) : 1;
        w->joined_ = true;
      }
      results.push_back(WorkerResult{w->code_, w->output_});
    }
    return results;
  }
};

std::vector<WorkerResult> join_workers(const std::vector<Worker*>& workers,
                                       const std::function<bool()>& stop) {
  return WorkerJoin::run(workers, stop);
}

}  // namespace weir::pg
