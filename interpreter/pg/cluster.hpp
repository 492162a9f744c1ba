// Throwaway PostgreSQL clusters, in plain C++ (no Lua): initdb into a directory, start a server
// on a Unix socket in that directory and on a free TCP port of 127.0.0.1, hand out its URL.
//
// Contract: a non-persistent cluster is stopped and its directory removed when the Cluster is
// destroyed or the owning process ends in any way, SIGKILL included (a watchdog process does
// it). A persistent one (`weir pg start`) outlives the process; a marker file in its directory
// lets url_for(), status(), start_again() and stop() find it again, and a list of them in
// $XDG_STATE_HOME/weir/clusters (~/.local/state/weir/clusters) lets known() list them. Leftovers
// of killed runs under $TMPDIR are removed the next time a cluster starts. Every failure throws
// ClusterError with one line that starts with `pg cluster:`. Linux only (it reads /proc to tell
// live processes from reused pids).
//
// Which PostgreSQL: $WEIR_PG_BINDIR, else $WEIR_PG_VERSION (/usr/lib/postgresql/N/bin), else
// `pg_config --bindir` when it holds initdb, else the newest /usr/lib/postgresql/*/bin
// (find_bindir); a choice that is not installed fails naming the versions that are.
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

// A PostgreSQL server installation: its major version ("15") and where its programs are.
struct Installation {
  std::string version;
  std::string bindir;
};

// What status() finds in a cluster directory.
struct ClusterStatus {
  std::string dir;       // absolute
  bool running = false;  // a postmaster serves its data directory and accepts connections
  bool persistent = false;
  long long owner_pid = 0;  // the weir process a non-persistent cluster belongs to
  int port = 0;
  std::string url;
  std::string bindir;
  std::string version;  // the data directory's PG_VERSION
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

  // Copies the schema of the database at source_url (with its owners and privileges; no data),
  // and the rows of data_schemas, into this cluster's `postgres` database: copy_schema with the
  // server's bindir, making the roles the copy needs (create_roles). An empty source_url means
  // libpq's defaults (PG* variables).
  void copy_schema_from(const std::string& source_url,
                        const std::vector<std::string>& data_schemas = {});

  // URL of a running cluster that weir made in dir.
  static std::string url_for(const std::string& dir);
  // Starts the server of the stopped persistent weir cluster in dir again (after a reboot, or
  // `stop --keep`), on its old port when that is free, else on a free one; returns its URL.
  // `already_running` says whether it was running (then nothing is started). Uses the
  // cluster's own bindir unless $WEIR_PG_BINDIR names another of the same major version.
  static std::string start_again(const std::string& dir, bool& already_running);
  // Stop the weir cluster in dir (running or not) and remove dir; refuses any other directory.
  // With keep_data, stops the server cleanly and keeps everything (start_again starts it).
  // Returns false, doing nothing, when dir does not exist.
  static bool stop(const std::string& dir, bool keep_data = false);
  // Whether dir holds a weir cluster (its marker file), running or not.
  static bool holds_cluster(const std::string& dir);
  // The weir cluster in dir; throws when dir is not one.
  static ClusterStatus status(const std::string& dir);
  // The directories of the weir clusters this user has: persistent ones that `weir pg start`
  // recorded and that still exist, and every weir-pg-* cluster under $TMPDIR; sorted.
  static std::vector<std::string> known();
  // $WEIR_PG_BINDIR, else $WEIR_PG_VERSION's, else `pg_config --bindir` if it holds initdb,
  // else the newest /usr/lib/postgresql/*/bin.
  static std::string find_bindir();
  // The PostgreSQL servers installed: `pg_config --bindir` and /usr/lib/postgresql/*/bin
  // holding initdb and postgres, by version.
  static std::vector<Installation> installations();
  // dir, made absolute, if it holds initdb and postgres; else fails naming the installations.
  static std::string check_bindir(const std::string& dir);
  // The bindir of PostgreSQL `version` (a major version: "15"); else fails naming the
  // installations.
  static std::string bindir_for_version(const std::string& version);
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
  bool create_roles = false;  // make the roles `to`'s server lacks (a throwaway cluster only)
};

// pg_dump --schema-only of `from` with its privileges (owners too when `to`'s user is a
// superuser; no publications or subscriptions), then pg_dump --data-only of its data_schemas,
// each loaded into `to` with psql (ON_ERROR_STOP). Every role the source database's objects
// name (pg_shdepend, and the bootstrap superuser) must exist on `to`'s server: with
// create_roles the missing ones are made from pg_dumpall --roles-only --no-role-passwords of
// `from` (statements about roles `to` has are left out), else it is an error naming them. All
// from `bindir` (empty: Cluster::find_bindir()), the dumps in a private directory under
// $TMPDIR removed afterwards. The settings of either target (password, sslpassword and every
// other) reach the programs in a service file read from a pipe (pg/connection.hpp:
// client_target), never on their command lines (which `ps` shows) nor on disk. Throws
// ClusterError naming the step, with secrets masked.
void copy_schema(const SchemaCopy& copy, const std::string& bindir = "");

// A pg_dump archive of some tables (or of the whole database) written to a file.
struct DumpSpec {
  std::string from;                 // the database: URL or conninfo ("": PG* defaults)
  std::string file;                 // the archive to create; it must not exist
  std::vector<std::string> tables;  // "schema.table", each must exist; empty: every table
  std::string snapshot;             // pg_export_snapshot() of a transaction kept open meanwhile:
                                    // the rows as that transaction sees them ("": pg_dump's own)
};

// pg_dump --format=custom (schema and rows of the tables, with their indexes, constraints,
// owned sequences, comments; --strict-names, so a table that does not exist fails it) into a
// file beside `file` that only this user may read (0600), linked to `file` once complete: a
// failed or killed dump never leaves `file` half written, and an existing `file` is never
// replaced (it is an error, before pg_dump runs). The directory is created (0700) when missing.
// The password reaches pg_dump in PGPASSWORD only. Returns the archive's size in bytes. Throws
// ClusterError "weir.dump: …", secrets masked.
long long dump_tables(const DumpSpec& spec, const std::string& bindir = "");

// pg_restore --no-owner --no-privileges --exit-on-error --single-transaction of the archive
// `file` into the existing database `to`: all of it or nothing. The password reaches
// pg_restore in PGPASSWORD only. Throws ClusterError "weir.restore: …", secrets masked.
void restore_dump(const std::string& file, const std::string& to, const std::string& bindir = "");

}  // namespace weir::pg
