// Throwaway PostgreSQL clusters, in plain C++ (no Lua): initdb into a directory, start a server
// on a Unix socket in that directory and on a free TCP port of 127.0.0.1, hand out its URL.
//
// Contract: a non-persistent cluster is stopped and its directory removed when the Cluster is
// destroyed or the owning process ends in any way, SIGKILL included (a watchdog process does
// it). A persistent one (`weir pg start`) outlives the process; a marker file in its directory
// lets url_for() and stop() find it again. Leftovers of killed runs under $TMPDIR are removed
// the next time a cluster starts. Every failure throws ClusterError with one line that starts
// with `pg cluster:`. Linux only (it reads /proc to tell live processes from reused pids).
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace weir::pg {

struct ClusterError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ClusterOptions {
  // Empty: a fresh directory $TMPDIR/weir-pg-XXXXXX (TMPDIR defaults to /tmp).
  // Otherwise it must not exist (it is created, parents too) or be an empty directory.
  std::string dir;
  // The server outlives this object and the process; stop it with Cluster::stop(dir).
  bool persistent = false;
  // Where initdb and postgres live; empty: find_bindir().
  std::string bindir;
};

class Cluster {
 public:
  // initdb, start the server, wait until it accepts connections.
  explicit Cluster(const ClusterOptions& options = {});
  // Unless persistent: stop the server and remove the whole directory before returning.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::string& dir() const { return dir_; }  // absolute
  int port() const { return port_; }               // TCP port on 127.0.0.1
  // libpq URL over the Unix socket: postgresql://postgres@/postgres?host=<dir>&port=<port>
  std::string url() const;

  // Copies the schema of the database at source_url (no data, owners or privileges), and the
  // rows of data_schemas, into this cluster's `postgres` database: copy_schema with the
  // server's bindir. An empty source_url means libpq's defaults (PG* variables).
  void copy_schema_from(const std::string& source_url,
                        const std::vector<std::string>& data_schemas = {});

  // URL of a running cluster that weir made in dir.
  static std::string url_for(const std::string& dir);
  // Stop the weir cluster in dir (running or not) and remove dir; refuses any other directory.
  static void stop(const std::string& dir);
  // `pg_config --bindir` if it holds initdb, else the highest /usr/lib/postgresql/*/bin.
  static std::string find_bindir();
  // Stop and remove $TMPDIR/weir-pg-* clusters whose owning process is gone (never persistent
  // ones, never directories without weir's marker). Returns how many were removed. Never throws.
  static int cleanup_leftovers();

 private:
  void shutdown() noexcept;

  std::string dir_;
  std::string bindir_;
  int port_ = 0;
  bool persistent_ = false;
  pid_t server_pid_ = 0;    // the postmaster, a child of this process
  pid_t watchdog_pid_ = 0;  // non-persistent only
  int watchdog_fd_ = -1;    // closing it tells the watchdog to clean up
};

// What copy_schema copies, and where.
struct SchemaCopy {
  std::string from;                       // source database: URL or conninfo ("": PG* defaults)
  std::string to;                         // destination database, which must exist
  std::vector<std::string> data_schemas;  // schemas whose rows are copied too (must exist)
};

// pg_dump --schema-only of `from` (no owners, privileges, publications or subscriptions), then
// pg_dump --data-only of its data_schemas, each loaded into `to` with psql (ON_ERROR_STOP), all
// from `bindir` (empty: Cluster::find_bindir()), the dumps in a private directory under
// $TMPDIR removed afterwards. The settings of either target (password, sslpassword and every
// other) reach the programs in a service file read from a pipe (pg/connection.hpp:
// client_target), never on their command lines (which `ps` shows) nor on disk. Throws
// ClusterError naming the step, with secrets masked.
void copy_schema(const SchemaCopy& copy, const std::string& bindir = "");

}  // namespace weir::pg
