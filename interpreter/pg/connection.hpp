// A PostgreSQL connection over libpq, in plain C++ (no Lua): connect, run statements with bound
// parameters, report errors with every field the server sent, describe result types.
//
// weir talks to libpq directly rather than through libpqxx 6.4: that version's sql_error keeps
// only the message and SQLSTATE (DETAIL, HINT and POSITION are lost), and its COPY streams are
// text-only. libpq gives every error field, binary parameters, COPY passthrough and cancel.
//
// Contract: every failure throws — SqlError for a statement the server rejected,
// ConnectionError for anything about reaching the server. Messages are one line and never
// contain a password.
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "pg/types.hpp"

namespace weir::pg {

// A statement the server rejected, with the fields of its ErrorResponse.
struct SqlError : std::runtime_error {
  std::string severity, sqlstate, message, detail, hint, context, query;
  int position = 0;  // 1-based character offset into `query`, 0 when the server gave none
  SqlError(std::string sqlstate, std::string message, std::string query);
  // One readable line: `42P01 relation "x" does not exist (hint: …) in: SELECT …`
  std::string line() const;
};

// The server could not be reached, the connection was lost, or the URL is unusable.
struct ConnectionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An owned PGresult.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r, &PQclear) {}
  PGresult* get() const { return r_.get(); }
  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  int columns() const { return r_ ? PQnfields(r_.get()) : 0; }
  const char* column_name(int c) const { return PQfname(r_.get(), c); }
  Oid column_type(int c) const { return PQftype(r_.get(), c); }
  bool is_null(int row, int c) const { return PQgetisnull(r_.get(), row, c) != 0; }
  const char* value(int row, int c) const { return PQgetvalue(r_.get(), row, c); }
  int length(int row, int c) const { return PQgetlength(r_.get(), row, c); }
  // Rows affected by INSERT/UPDATE/DELETE/MERGE/SELECT/COPY…, 0 for other commands.
  long long affected() const;
  std::string command() const { return r_ ? PQcmdStatus(r_.get()) : ""; }

 private:
  std::shared_ptr<PGresult> r_;
};

// One bound parameter. Text-format values are passed as they are; binary ones as raw bytes.
struct Param {
  bool null = false;
  bool binary = false;
  Oid type = 0;  // 0 lets the server infer the type from context
  std::string value;
};

// Connection facts for banners and messages (never the password).
struct ConnInfo {
  std::string database, user, host, port, server_version, url;
};

// What to do with server notices (RAISE NOTICE, "relation already exists, skipping" …).
using NoticeSink = void (*)(void* ctx, const std::string& severity, const std::string& message);

class Connection {
 public:
  // `target` is a URL (postgresql://…), a key=value conninfo string, or empty for libpq's
  // defaults (PG* variables, .pgpass). Throws ConnectionError with a redacted one-line message.
  // Connecting gives up after kDefaultConnectTimeoutSeconds (libpq's connect_timeout: per host
  // tried, covering the server's reply too) unless `target` or $PGCONNECT_TIMEOUT sets one, so
  // a server that accepts TCP and never answers cannot hang weir.
  // While it waits for the server, the attempt asks the set_connect_interrupt function every
  // 100 ms, and gives up ("… : interrupted") when it says so.
  static constexpr int kDefaultConnectTimeoutSeconds = 10;
  explicit Connection(const std::string& target);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements with the simple protocol (no parameters); the last result wins.
  Result exec(const std::string& sql);
  // Runs one statement with bound parameters (extended protocol, text results).
  Result exec_params(const std::string& sql, const std::vector<Param>& params);

  // COPY streaming. copy_out starts `COPY … TO STDOUT`; read_copy then hands out one row's
  // bytes at a time (*buf is libpq's, valid until the next call) and returns -1 at the end,
  // after checking the command's result. copy_in starts `COPY … FROM STDIN`; write_copy sends
  // bytes; end_copy finishes it (with `error`, aborts it) and returns the command's result.
  // Each throws SqlError/ConnectionError like exec.
  void copy_out(const std::string& sql);
  long read_copy(const char** buf);
  void copy_in(const std::string& sql);
  void write_copy(const char* data, size_t n);
  Result end_copy(const char* error = nullptr);
  // All of `data` in chunks, then end_copy; a failed write aborts the COPY before rethrowing.
  Result send_copy(const char* data, size_t n);
  // Several statements at once, COPY … FROM STDIN among them: send_query sends them without
  // waiting; next_result hands out each one's result in turn (a COPY … FROM STDIN's is
  // PGRES_COPY_IN: write_copy its rows, then copy_done, and the next call gives the COPY's end)
  // and an empty Result after the last. A failed statement throws SqlError once the results
  // after it have been read (the server skips the statements after a failed one).
  void send_query(const std::string& sql);
  Result next_result();
  // Ends the COPY … FROM STDIN in progress (with `error`, aborts it) without waiting.
  void copy_done(const char* error = nullptr);
  // send_query(sql), then every result in turn: each COPY … FROM STDIN among the statements
  // gets its rows from `rows` (which write_copy's them; copy_done follows). Returns the rows
  // the COPYs took. On a failure, a COPY in progress is aborted and the results left are read
  // before the first error is rethrown.
  long long send_with_copies(const std::string& sql, const std::function<void()>& rows);
  // Rows the last COPY … TO STDOUT reported once read_copy reached its end.
  long long copied_out() const { return copied_out_; }

  // True inside a transaction block (also when the block is aborted and awaits ROLLBACK).
  bool in_transaction() const;
  // Describes each column's type, asking pg_catalog.pg_type once for types it does not know.
  std::vector<const TypeDesc*> describe_columns(const Result& r);
  const TypeDesc& describe_type(Oid type);

  std::string quote_ident(const std::string& name) const;
  std::string quote_literal(const std::string& text) const;
  ConnInfo info() const;
  // A URL for this connection with the password masked.
  const std::string& safe_url() const { return safe_url_; }
  PGconn* raw() const { return conn_; }
  // Asks the server to cancel the running statement; safe to call from another thread.
  void cancel() const;
  // Work another thread is doing on this connection (copy.table reading its next batch ahead,
  // or writing its last batch while the transform takes the next): `wait` waits for it to end.
  // Every use from Lua (mod_db's live()) and the destructor call wait_background() first, so
  // nothing else touches the connection while that thread does. `for_use` is true when a
  // statement is about to run on the connection (live()), false from the destructor: a wait
  // may then prepare the connection for that statement, or throw to refuse it.
  void set_background(std::function<void(bool for_use)> wait) { background_ = std::move(wait); }
  void wait_background(bool for_use = false) {
    if (!background_) return;
    std::function<void(bool)> wait = std::move(background_);
    background_ = nullptr;
    wait(for_use);
  }
  void set_notice_sink(NoticeSink sink, void* ctx) {
    sink_ = sink;
    sink_ctx_ = ctx;
  }

 private:
  Result check(PGresult* r, const std::string& sql);
  void resolve_types(const std::vector<Oid>& oids);
  static void on_notice(void* self, const PGresult* r);

  PGconn* conn_ = nullptr;
  PGcancel* cancel_ = nullptr;  // for cancel_running_statement(), made once at connect
  std::string safe_url_;
  std::string copy_sql_;      // the COPY in progress, for error messages
  char* copy_buf_ = nullptr;  // the last row read_copy handed out
  long long copied_out_ = 0;
  std::unordered_map<Oid, TypeDesc> types_;
  NoticeSink sink_ = nullptr;
  void* sink_ctx_ = nullptr;
  std::function<void(bool)> background_;
};

// What a connection attempt asks while it waits for the server: true ends it with a
// ConnectionError ("… : interrupted"). weir's signal handling installs its stop flag here
// (lua/interrupt.cpp), so one SIGINT/SIGTERM ends weir.connect to a server that accepts TCP
// and never answers at once instead of after connect_timeout (forever with connect_timeout=0).
void set_connect_interrupt(bool (*stop)());

// Asks the server to cancel the statement this process is waiting on (the one blocking call
// into libpq in progress, if any). Async-signal-safe: meant for a SIGINT handler, so Ctrl-C
// ends a long query at once instead of after it. Returns whether a request was sent.
bool cancel_running_statement() noexcept;

// Replaces every secret of a connection target with "***" (for display), whatever its shape:
// a URL of any scheme, misspelt ones included (the user:password part and password or
// sslpassword query parameters, percent-encoded keys too), or key=value conninfo
// (password=, sslpassword=, quoted or not, any case). Errs towards masking too much.
std::string mask_password(const std::string& target);
// The password libpq would send for `target` (its own parse), else the first secret found
// as mask_password finds it; "" when none.
std::string password_of(const std::string& target);
// A connection target handed to a client program (pg_dump, psql) with none of its settings on
// the program's command line, which every user of the machine can read (`ps`), and none on
// disk: every setting libpq reads from `target` goes in a service file (section [weir]) that
// the program reads from a pipe — PGSERVICEFILE=/dev/fd/N in its environment (text_pipe) —
// and its command line says only `--dbname=service=weir`. A value a service file cannot hold
// (a line break, white space at its end, a line over 1,000 bytes) goes in the setting's
// environment variable instead (password: PGPASSWORD). A target that names a service of the
// user's (service=NAME, and nothing else) gets PGSERVICE=NAME. An empty target (libpq's
// defaults) needs nothing. Throws ConnectionError, the target masked, when libpq cannot parse
// the target or a setting can go neither way.
struct ClientTarget {
  std::vector<std::string> args;  // for the command line: "--dbname=service=weir", or nothing
  std::vector<std::string> env;   // NAME=VALUE for the program's environment only
  std::string service_file;       // the service file's text, "" when none is needed
};
ClientTarget client_target(const std::string& target);

// A pipe already holding `text` (at most 64 KB, a pipe's capacity), its write end closed: a
// child that inherits the read end reads the text at /dev/fd/N as from a file, and nothing is
// written to disk. Returns the read end, above 2 and close-on-exec (the spawner keeps it open
// in the child). Throws ConnectionError.
int text_pipe(const std::string& text);

// Replaces every occurrence of `secret` in `message` with "***".
std::string scrub(std::string message, const std::string& secret);
// `message` with `target` shown masked and every secret of it (raw and percent-decoded)
// replaced with "***": for messages libpq wrote about that target.
std::string scrub_target(std::string message, const std::string& target);

}  // namespace weir::pg
