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

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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

// A plain copy's source rows, cut into batches as they come: `COPY (SELECT columns…, key::text…
// … ORDER BY key LIMIT span) TO STDOUT` statements read on a thread of its own (at most kCap
// bytes waiting), each row's trailing `key_fields` fields (the key as text) taken off and kept
// as the row's key, every `batch_rows` rows a batch, cut again every `piece_rows` rows (0:
// never) into COPYs of their own (binary pieces get the stream's header and trailer). A
// statement that returned `span` rows is followed at once by the next, after its last key:
// next_prefix + `key_list > literal` (a row comparison for several columns) + next_suffix.
// The source connection is the thread's until a statement returns fewer rows, so the target
// gets batch after batch with no query on the source in between.
class BatchReader {
 public:
  static constexpr size_t kBlock = size_t{1} << 16;
  static constexpr size_t kCap = size_t{16} << 20;
  struct Options {
    bool binary = false;
    int key_fields = 1;
    long long batch_rows = 1;
    long long piece_rows = 0;
    long long span = 0;  // rows per statement (0: one statement)
    std::string next_prefix, next_suffix, key_list;
  };
  BatchReader(Connection& src, std::string copy_out_sql, Options options);
  ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // Waits until the next batch has a row or the statement has ended: whether there is one.
  // Throws the source's error when the statement failed before the next batch's first row.
  bool batch_ready();
  // Writes the next batch into dst: `first_sql` (COPY … FROM STDIN, maybe after a BEGIN)
  // starts it, `again_sql` each further piece. Returns the rows dst took. On a failure the
  // COPY is ended (dst's transaction then aborted) and, when the source is not what failed,
  // the rest of the batch is read so that batch_key() names its last key.
  long long send_batch(Connection& dst, const std::string& first_sql, const std::string& again_sql);
  // When the next batch has been read to its end (its rows wait in memory): its rows, its last
  // key and how many COPYs it makes (pieces); else false (its rows are still coming).
  bool batch_complete(long long& rows, std::vector<std::string>& key, int& pieces);
  // Writes the next batch, read to its end, with one query: `sql` holds a COPY … FROM STDIN
  // for each of its pieces and whatever goes with them (BEGIN, the checkpoint, COMMIT), so the
  // target never waits for the next statement inside a batch. Returns the rows the COPYs took.
  // On a failure every result is read (dst's transaction is then aborted) before it throws.
  long long send_whole_batch(Connection& dst, const std::string& sql);
  // The last key of the batch send_batch sent or failed on (empty when the source failed).
  const std::vector<std::string>& batch_key() const { return batch_key_; }
  // Waits for the thread to read everything (the rows stay queued: memory holds them).
  void wait_read();
  // Nobody will send the rest: waits for the thread, dropping what it reads.
  void drop();

 private:
  struct Chunk {
    std::string bytes;
    long long rows = 0;
    bool piece_end = false;
    bool batch_end = false;
    std::vector<std::string> key;  // with batch_end: the batch's last key
  };
  void read_all(Connection* src, std::string sql);
  void push(Chunk&& chunk);
  // Waits for the next chunk; false when the statement ended and nothing is left.
  bool pop(Chunk& out);

  Options options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> chunks_;
  size_t queued_ = 0;
  bool done_ = false;
  bool discard_ = false;
  bool unbounded_ = false;
  std::exception_ptr error_;
  std::vector<std::string> batch_key_;
};

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
