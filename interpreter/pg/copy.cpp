// COPY between connections and COPY's text format (see copy.hpp).
#include "pg/copy.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
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

// ---- a plain copy's batches ----------------------------------------------------------------

namespace {

constexpr char kBinarySignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
constexpr size_t kBinaryHeader = 19;                     // signature, flags, extension length
const std::string kBinaryTrailer("\xff\xff", 2);

uint32_t be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

int16_t be16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<int16_t>((u[0] << 8) | u[1]);
}

std::runtime_error malformed(const char* what) {
  return std::runtime_error(std::string("COPY from the source: ") + what);
}

std::runtime_error null_key() {
  return std::runtime_error(
      "a source row has a NULL key: keyset batches cannot reach it (it was inserted after the "
      "copy checked for NULL keys)");
}

// One binary tuple at data[0, n): appends it to `out` without its last `k` fields, which go to
// `key` as text (their binary form is the text's bytes).
void split_binary_row(const char* data, size_t n, int k, std::string& out,
                      std::vector<std::string>& key) {
  if (n < 2) throw malformed("a truncated row");
  int16_t fields = be16(data);
  if (fields < k) throw malformed("a row without its key");
  size_t at = 2, keep_end = 0;
  key.clear();
  for (int i = 0; i < fields; ++i) {
    if (i == fields - k) keep_end = at;
    if (at + 4 > n) throw malformed("a truncated row");
    auto len = static_cast<int32_t>(be32(data + at));
    at += 4;
    if (len < 0) {
      if (i >= fields - k) throw null_key();
      continue;
    }
    if (at + static_cast<size_t>(len) > n) throw malformed("a truncated row");
    if (i >= fields - k) key.emplace_back(data + at, static_cast<size_t>(len));
    at += static_cast<size_t>(len);
  }
  if (k == 0) keep_end = at;
  auto kept = static_cast<uint16_t>(fields - k);
  out += static_cast<char>(kept >> 8);
  out += static_cast<char>(kept & 0xff);
  out.append(data + 2, keep_end - 2);
}

// One text line at data[0, n) (newline included): appends it to `out` without its last `k`
// fields, which go to `key` unescaped. A raw tab only ever separates fields.
void split_text_row(const char* data, size_t n, int k, std::string& out,
                    std::vector<std::string>& key) {
  size_t end = n;
  if (end > 0 && data[end - 1] == '\n') --end;
  size_t cut = end;
  for (int seen = 0; seen < k;) {
    if (cut == 0) throw malformed("a row without its key");
    if (data[--cut] == '\t') ++seen;
  }
  key.clear();
  if (k > 0) {
    for (auto& f : parse_text_line(data + cut + 1, end - cut - 1)) {
      if (!f) throw null_key();
      key.push_back(std::move(*f));
    }
  }
  out.append(data, cut);
  out += '\n';
}

}  // namespace

BatchReader::BatchReader(Connection& src, std::string copy_out_sql, Options options)
    : options_(options) {
  Connection* conn = &src;
  thread_ = std::thread([this, conn, sql = std::move(copy_out_sql)] { read_all(conn, sql); });
}

BatchReader::~BatchReader() {
  drop();
}

void BatchReader::read_all(Connection* src, std::string sql) {
  try {
    const bool binary = options_.binary;
    const int k = options_.key_fields;
    std::string header;
    Chunk chunk;
    long long in_batch = 0, in_piece = 0;
    std::vector<std::string> key;
    for (;;) {
      src->copy_out(sql);
      bool started = false;
      long long in_statement = 0;
      const char* buf = nullptr;
      for (long got; (got = src->read_copy(&buf)) >= 0;) {
        auto n = static_cast<size_t>(got);
        size_t at = 0;
        if (binary && !started) {
          if (n < kBinaryHeader || std::memcmp(buf, kBinarySignature, 11) != 0)
            throw malformed("no binary COPY header");
          size_t ext = be32(buf + 15);
          if (n < kBinaryHeader + ext) throw malformed("a truncated header");
          header.assign(buf, kBinaryHeader + ext);
          at = header.size();
        }
        started = true;
        if (at == n) continue;
        if (binary && n - at == 2 && be16(buf + at) == -1) continue;  // the trailer
        if (in_piece == 0 && binary) chunk.bytes += header;
        if (binary)
          split_binary_row(buf + at, n - at, k, chunk.bytes, key);
        else
          split_text_row(buf + at, n - at, k, chunk.bytes, key);
        ++in_statement;
        ++in_batch;
        ++in_piece;
        ++chunk.rows;
        bool batch_end = in_batch == options_.batch_rows;
        bool piece_end = batch_end || (options_.piece_rows > 0 && in_piece == options_.piece_rows);
        if (piece_end) {
          if (binary) chunk.bytes += kBinaryTrailer;
          chunk.piece_end = true;
          in_piece = 0;
        }
        if (batch_end) {
          chunk.batch_end = true;
          chunk.key = key;
          in_batch = 0;
        }
        if (piece_end || chunk.bytes.size() >= kBlock) {
          push(std::move(chunk));
          chunk = Chunk();
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (discard_) break;
      }
      if (options_.span <= 0 || in_statement < options_.span) break;
      // A full span: more rows may follow the last key.
      std::string cond;
      if (key.size() == 1) {
        cond = options_.key_list + " > " + src->quote_literal(key[0]);
      } else {
        cond = "(" + options_.key_list + ") > (";
        for (size_t i = 0; i < key.size(); ++i)
          cond += (i ? ", " : "") + src->quote_literal(key[i]);
        cond += ")";
      }
      sql = options_.next_prefix + cond + options_.next_suffix;
    }
    if (in_batch > 0) {
      if (binary) chunk.bytes += kBinaryTrailer;
      chunk.piece_end = chunk.batch_end = true;
      chunk.key = key;
      push(std::move(chunk));
    }
  } catch (const std::exception&) {  // no Lua on this thread: the sender rethrows it there
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

void BatchReader::push(Chunk&& chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return discard_ || unbounded_ || queued_ < kCap; });
  if (discard_) return;
  queued_ += chunk.bytes.size();
  chunks_.push_back(std::move(chunk));
  cv_.notify_all();
}

bool BatchReader::pop(Chunk& out) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_ || !chunks_.empty(); });
    if (chunks_.empty()) return false;
    out = std::move(chunks_.front());
    chunks_.pop_front();
    queued_ -= out.bytes.size();
  }
  cv_.notify_all();
  return true;
}

bool BatchReader::batch_ready() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_ || !chunks_.empty(); });
  if (!chunks_.empty()) return true;
  if (error_) std::rethrow_exception(error_);
  return false;
}

long long BatchReader::send_batch(Connection& dst, const std::string& first_sql,
                                  const std::string& again_sql) {
  batch_key_.clear();
  long long rows = 0;
  bool open = false, first = true;
  Chunk chunk;
  try {
    for (;;) {
      if (!pop(chunk)) {
        std::lock_guard<std::mutex> lock(mu_);
        if (error_) std::rethrow_exception(error_);
        throw malformed(first ? "no batch to send" : "the batch ended early");
      }
      if (!open) {
        dst.copy_in(first ? first_sql : again_sql);
        open = true;
        first = false;
      }
      dst.write_copy(chunk.bytes.data(), chunk.bytes.size());
      if (chunk.piece_end) {
        open = false;
        rows += dst.end_copy().affected();
      }
      if (chunk.batch_end) {
        batch_key_ = std::move(chunk.key);
        return rows;
      }
    }
  } catch (const std::exception&) {
    if (open) {
      try {
        dst.end_copy("copy aborted");
      } catch (const std::exception&) {
        // dst reports the abort itself; the first error is the one to show
      }
    }
    bool source_failed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      source_failed = static_cast<bool>(error_);
    }
    // The batch's last key, for whoever writes it again: read up to its end.
    if (!source_failed && !chunk.batch_end) {
      while (pop(chunk))
        if (chunk.batch_end) {
          batch_key_ = std::move(chunk.key);
          break;
        }
    } else if (chunk.batch_end) {
      batch_key_ = std::move(chunk.key);
    }
    throw;
  }
}

bool BatchReader::batch_complete(long long& rows, std::vector<std::string>& key, int& pieces) {
  std::lock_guard<std::mutex> lock(mu_);
  rows = 0;
  pieces = 0;
  for (const Chunk& c : chunks_) {
    rows += c.rows;
    if (c.piece_end) ++pieces;
    if (c.batch_end) {
      key = c.key;
      return true;
    }
  }
  return false;
}

long long BatchReader::send_whole_batch(Connection& dst, const std::string& sql) {
  batch_key_.clear();
  Chunk chunk;
  try {
    return dst.send_with_copies(sql, [&] {
      do {
        if (!pop(chunk)) throw malformed("the batch ended early");
        dst.write_copy(chunk.bytes.data(), chunk.bytes.size());
        if (chunk.batch_end) batch_key_ = chunk.key;
      } while (!chunk.piece_end);
    });
  } catch (const std::exception&) {
    if (!chunk.batch_end) {
      while (pop(chunk))
        if (chunk.batch_end) break;
    }
    if (chunk.batch_end) batch_key_ = chunk.key;
    throw;
  }
}

void BatchReader::wait_read() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    unbounded_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchReader::drop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    discard_ = true;
    chunks_.clear();
    queued_ = 0;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
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
