// The data path of the copy module: COPY between two connections, COPY's text format for rows
// that pass through a transform, and the worker processes of a copy split over key ranges. No
// Lua here; stdlib/copy.lua drives batches, checkpoints and quarantine over these.
//
// Workers never outlive weir: the kernel kills each one when the weir that started it dies,
// however it dies (PR_SET_PDEATHSIG, set in the child before exec), and a worker's output is a
// pipe, so there is no file to clean up on any exit path (tests/cli/copy_kill_test.lua kills the
// parent with SIGKILL and SIGTERM and checks that no worker process and no file remain).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace weir::pg {

class Connection;

using Field = std::optional<std::string>;  // nullopt is NULL
using Row = std::vector<Field>;

// Streams `COPY (select) TO STDOUT` on `src` into `COPY … FROM STDIN` on `dst` without looking
// at the rows (both statements name the same format, binary or text). Returns the row count
// the source reported. On any failure both COPYs are ended before the error propagates, so
// both connections stay usable (dst's transaction is then aborted, as with any failed
// statement).
long long pipe_copy(Connection& src, const std::string& copy_out_sql, Connection& dst,
                    const std::string& copy_in_sql);

// One line of COPY's text format (without the newline) → fields. Throws std::runtime_error on
// a malformed line.
Row parse_text_line(const char* data, size_t n);

// One field's bytes escaped as COPY's text format writes them (backslash, tab, newline, CR,
// backspace, form feed, vertical tab), appended to `out`.
void append_copy_text(std::string& out, const char* s, size_t n);

// Fields → one line of COPY's text format, newline included, appended to `out`.
void append_text_line(const Row& row, std::string& out);

// A child process running `argv` (argv[0] is the program's path) with this process's
// environment plus `env` ("NAME=value", replacing a variable of the same name), its stdout a
// pipe this process reads. Killed with SIGKILL by the kernel if this process dies first.
// Destroying a worker that was not joined kills it (SIGKILL) and reaps it.
class Worker {
 public:
  Worker(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  pid_t pid() const { return pid_; }
  bool joined() const { return joined_; }

 private:
  friend struct WorkerJoin;
  pid_t pid_ = -1;
  int out_fd_ = -1;  // read end of the stdout pipe; -1 once at EOF
  bool joined_ = false;
  bool stopped_ = false;  // SIGTERM sent
  std::string output_;
  int code_ = 0;
};

struct WorkerResult {
  int code;            // exit status, or 128 + the signal that ended it
  std::string output;  // everything it wrote to stdout
};

// Waits for every worker to end, reading their stdout as it comes (a worker never blocks on a
// full pipe) and reaping them. `stop()` is asked before waiting and whenever the wait wakes (a
// signal, output, or once a second); once it is true each worker still running gets SIGTERM,
// so a weir asked to stop stops its workers instead of waiting for them to finish the copy.
std::vector<WorkerResult> join_workers(const std::vector<Worker*>& workers,
                                       const std::function<bool()>& stop);

}  // namespace weir::pg
