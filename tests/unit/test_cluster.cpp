// Throwaway clusters (pg/cluster.hpp): start and query, removal on destruction and when the
// owner is killed, persistent clusters found again by directory, cleanup of leftovers, and
// option checks. Each test starts real servers, so it needs PostgreSQL server binaries; run as
// root, the servers run as the `postgres` OS user.
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "pg/cluster.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using weir::pg::Cluster;
using weir::pg::ClusterError;
using weir::pg::ClusterOptions;

namespace {

// A scratch directory that the `postgres` OS user can traverse when we run as root.
struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/tmp/weir-test-XXXXXX";
    REQUIRE(mkdtemp(templ) != nullptr);
    path = templ;
    chmod(path.c_str(), 0711);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Stops a persistent cluster the test left running because an assertion failed half-way.
struct StopGuard {
  std::string dir;
  ~StopGuard() {
    if (dir.empty() || !fs::exists(dir)) return;
    try {
      Cluster::stop(dir);
    } catch (const std::exception&) {
    }
  }
};

struct ScopedTmpdir {
  std::string old;
  bool had;
  explicit ScopedTmpdir(const std::string& dir) {
    const char* env = std::getenv("TMPDIR");
    had = env != nullptr;
    if (had) old = env;
    setenv("TMPDIR", dir.c_str(), 1);
  }
  ~ScopedTmpdir() {
    if (had)
      setenv("TMPDIR", old.c_str(), 1);
    else
      unsetenv("TMPDIR");
  }
};

// The first value of the first row, or "ERROR: …".
std::string query(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = std::string("ERROR: ") + PQerrorMessage(conn);
  } else {
    PGresult* res = PQexec(conn, sql.c_str());
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
      out = PQgetvalue(res, 0, 0);
    else
      out = std::string("ERROR: ") + PQerrorMessage(conn);
    PQclear(res);
  }
  PQfinish(conn);
  return out;
}

std::string tcp_url(int port) {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres";
}

std::string cluster_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ClusterError& e) {
    return e.what();
  }
  return "(no ClusterError)";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

pid_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

// Polls until cond() holds or the time is up.
bool eventually(const std::function<bool()>& cond, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace

TEST_CASE("cluster: starts, answers queries and is removed on destruction") {
  std::string dir, url;
  int port = 0;
  {
    auto started = std::chrono::steady_clock::now();
    Cluster cluster;
    REQUIRE(query(cluster.url(), "SELECT 1") == "1");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    INFO("start to first query: " << ms << " ms");
    CHECK(ms < 10000);

    dir = cluster.dir();
    url = cluster.url();
    port = cluster.port();
    CHECK(fs::is_directory(dir + "/data"));
    CHECK_THAT(url, StartsWith("postgresql://postgres@/postgres?host=/"));
    CHECK(query(url, "SHOW fsync") == "off");
    CHECK(query(url, "SHOW synchronous_commit") == "off");
    CHECK(query(url, "SELECT current_user") == "postgres");
    CHECK(query(tcp_url(port), "SELECT 2") == "2");
  }
  CHECK_FALSE(fs::exists(dir));
  CHECK(PQping(url.c_str()) == PQPING_NO_RESPONSE);
  CHECK(PQping(tcp_url(port).c_str()) == PQPING_NO_RESPONSE);
}

TEST_CASE("cluster: persistent clusters outlive their object and are found by directory") {
  TempDir base;
  std::string dir = base.path + "/nested/cluster";
  StopGuard guard{dir};
  {
    ClusterOptions options;
    options.dir = dir;
    options.persistent = true;
    Cluster cluster(options);
    CHECK(cluster.dir() == dir);
  }
  REQUIRE(fs::exists(dir + "/data"));
  std::string url = Cluster::url_for(dir);
  CHECK(query(url, "SELECT 41 + 1") == "42");

  Cluster::stop(dir);
  CHECK_FALSE(fs::exists(dir));
  CHECK(PQping(url.c_str()) == PQPING_NO_RESPONSE);
  std::string gone = cluster_error([&] { Cluster::url_for(dir); });
  CHECK_THAT(gone, StartsWith("pg cluster: "));

  std::string plain = base.path + "/plain";
  fs::create_directory(plain);
  write_file(plain + "/keep.txt", "mine\n");
  std::string refused = cluster_error([&] { Cluster::stop(plain); });
  CHECK_THAT(refused, StartsWith("pg cluster: ") && Contains("not a weir cluster"));
  CHECK(refused.find('\n') == std::string::npos);
  CHECK(fs::exists(plain + "/keep.txt"));
  CHECK_THAT(cluster_error([&] { Cluster::url_for(plain); }), StartsWith("pg cluster: "));
}

TEST_CASE("cluster: a killed owner leaves nothing behind") {
  // SIGKILL gives the owner no chance at all; SIGINT to the owner's process group is Ctrl-C in
  // a terminal, which the watchdog must survive.
  int sig = GENERATE(SIGKILL, SIGINT);
  INFO("signal " << sig);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(fds[0]);
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);  // not Catch's handler: die like a plain program
    std::string msg;
    try {
      Cluster cluster;
      msg = cluster.dir() + "\n" + std::to_string(cluster.port()) + "\n";
      if (write(fds[1], msg.data(), msg.size()) < 0) _exit(2);
      for (;;)
        pause();
    } catch (const std::exception& e) {
      msg = std::string("ERROR ") + e.what() + "\n";
      if (write(fds[1], msg.data(), msg.size()) < 0) _exit(2);
    }
    _exit(1);
  }
  close(fds[1]);
  std::string got;
  pollfd pfd{fds[0], POLLIN, 0};
  char buf[512];
  while (std::count(got.begin(), got.end(), '\n') < 2 && poll(&pfd, 1, 60000) > 0) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  auto nl = got.find('\n');
  REQUIRE(nl != std::string::npos);
  std::string dir = got.substr(0, nl);
  REQUIRE_THAT(dir, StartsWith("/"));
  int port = std::atoi(got.c_str() + nl + 1);
  REQUIRE(fs::exists(dir + "/data"));
  REQUIRE(PQping(tcp_url(port).c_str()) == PQPING_OK);

  REQUIRE(kill(sig == SIGKILL ? child : -child, sig) == 0);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(eventually([&] { return !fs::exists(dir); }, std::chrono::seconds(10)));
  CHECK(eventually([&] { return PQping(tcp_url(port).c_str()) == PQPING_NO_RESPONSE; },
                   std::chrono::seconds(10)));
}

TEST_CASE("cluster: cleanup_leftovers removes dead owners' clusters and nothing else") {
  TempDir base;
  ScopedTmpdir tmpdir(base.path);
  pid_t dead = dead_pid();
  std::string dead_marker =
      "{\"pid\": " + std::to_string(dead) + ", \"persistent\": false, \"port\": 0}\n";

  // A running server whose owner died: start it persistent (no watchdog), then mark it as a
  // dead process's throwaway cluster. Started first, since the constructor cleans up too.
  std::string running, url;
  {
    ClusterOptions options;
    options.persistent = true;
    Cluster cluster(options);
    running = cluster.dir();
    url = cluster.url();
  }
  StopGuard guard{running};
  CHECK_THAT(running, StartsWith(fs::canonical(base.path).string() + "/weir-pg-"));
  write_file(running + "/weir-cluster.json", dead_marker);
  REQUIRE(PQping(url.c_str()) == PQPING_OK);

  std::string fake = base.path + "/weir-pg-dead01";
  fs::create_directories(fake + "/data");
  write_file(fake + "/weir-cluster.json", dead_marker);
  write_file(fake + "/data/junk", "x");

  std::string unmarked = base.path + "/weir-pg-plain1";
  fs::create_directories(unmarked);
  write_file(unmarked + "/file", "x");

  std::string persistent = base.path + "/weir-pg-keep01";
  fs::create_directories(persistent);
  write_file(persistent + "/weir-cluster.json",
             "{\"pid\": " + std::to_string(dead) + ", \"persistent\": true, \"port\": 0}\n");

  std::string live = base.path + "/weir-pg-live01";
  fs::create_directories(live);
  write_file(live + "/weir-cluster.json",
             "{\"pid\": " + std::to_string(getpid()) + ", \"persistent\": false, \"port\": 0}\n");

  CHECK(Cluster::cleanup_leftovers() == 2);
  CHECK_FALSE(fs::exists(fake));
  CHECK_FALSE(fs::exists(running));
  CHECK(PQping(url.c_str()) == PQPING_NO_RESPONSE);
  CHECK(fs::exists(unmarked + "/file"));
  CHECK(fs::exists(persistent + "/weir-cluster.json"));
  CHECK(fs::exists(live + "/weir-cluster.json"));
}

TEST_CASE("cluster: options are checked before anything starts") {
  TempDir base;
  ClusterOptions options;

  std::string full = base.path + "/full";
  fs::create_directory(full);
  write_file(full + "/keep.txt", "mine\n");
  options.dir = full;
  std::string msg = cluster_error([&] { Cluster c(options); });
  CHECK_THAT(msg, StartsWith("pg cluster: ") && Contains("is not empty"));
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(fs::exists(full + "/keep.txt"));

  options.dir = full + "/keep.txt";
  CHECK_THAT(cluster_error([&] { Cluster c(options); }),
             StartsWith("pg cluster: ") && Contains("not a directory"));

  options.dir = base.path + "/" + std::string(100, 'x');
  CHECK_THAT(cluster_error([&] { Cluster c(options); }),
             StartsWith("pg cluster: ") && Contains("too long"));
  CHECK_FALSE(fs::exists(options.dir));

  options.dir = base.path + "/fresh";
  options.bindir = base.path;
  CHECK_THAT(cluster_error([&] { Cluster c(options); }),
             StartsWith("pg cluster: ") && Contains("no initdb"));
}

TEST_CASE("cluster: find_bindir finds the server programs") {
  std::string bindir = Cluster::find_bindir();
  CHECK(access((bindir + "/initdb").c_str(), X_OK) == 0);
  CHECK(access((bindir + "/postgres").c_str(), X_OK) == 0);
}

TEST_CASE("cluster: two clusters in one process are independent") {
  // Each watchdog and server must hold no descriptor of the other cluster, or destroying the
  // first would wait for the second.
  auto first = std::make_unique<Cluster>();
  Cluster second;
  std::string first_dir = first->dir();
  auto started = std::chrono::steady_clock::now();
  first.reset();
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  CHECK_FALSE(fs::exists(first_dir));
  CHECK(query(second.url(), "SELECT 1") == "1");
}

TEST_CASE("cluster: a failed start is one line and leaves nothing behind") {
  TempDir base;
  std::string bindir = base.path + "/bin";
  fs::create_directory(bindir);
  auto script = [&](const std::string& name, const std::string& body) {
    write_file(bindir + "/" + name, "#!/bin/sh\n" + body);
    chmod((bindir + "/" + name).c_str(), 0755);
  };
  ClusterOptions options;
  options.bindir = bindir;
  options.dir = base.path + "/cluster";

  script("initdb", "echo 'creating things'\necho 'initdb: error: disk on fire' >&2\nexit 1\n");
  script("postgres", "exit 1\n");
  std::string msg = cluster_error([&] { Cluster c(options); });
  CHECK(msg == "pg cluster: initdb failed: initdb: error: disk on fire");
  CHECK_FALSE(fs::exists(options.dir));

  script("initdb", "mkdir \"$2\"\n");
  script("postgres", "echo 'FATAL:  first line'\necho 'FATAL:  bad setting'\nexit 1\n");
  msg = cluster_error([&] { Cluster c(options); });
  CHECK(msg == "pg cluster: the server exited during startup: FATAL:  bad setting");
  CHECK_FALSE(fs::exists(options.dir));
}

TEST_CASE("cluster: a port taken between probing and binding is retried") {
  TempDir base;
  std::string real = Cluster::find_bindir();
  std::string bindir = base.path + "/bin";
  fs::create_directory(bindir);
  auto script = [&](const std::string& name, const std::string& body) {
    write_file(bindir + "/" + name, "#!/bin/sh\n" + body);
    chmod((bindir + "/" + name).c_str(), 0755);
  };
  script("initdb", "exec " + real + "/initdb \"$@\"\n");
  // Fails like a lost race for the port until the `attempts` count (kept in its working
  // directory, the cluster directory) reaches `limit`.
  auto fake_postgres = [&](int limit) {
    script("postgres",
           "n=$(($(cat attempts 2>/dev/null || echo 0) + 1)); echo $n > attempts\n"
           "if [ $n -lt " +
               std::to_string(limit) +
               " ]; then\n"
               "  echo 'LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use'\n"
               "  echo 'FATAL:  could not create any TCP/IP sockets'\n"
               "  exit 1\n"
               "fi\n"
               "exec " +
               real + "/postgres \"$@\"\n");
  };
  ClusterOptions options;
  options.bindir = bindir;
  options.dir = base.path + "/cluster";

  fake_postgres(3);
  {
    Cluster cluster(options);
    CHECK(query(cluster.url(), "SELECT 1") == "1");
    std::ifstream attempts(cluster.dir() + "/attempts");
    int n = 0;
    attempts >> n;
    CHECK(n == 3);
  }
  CHECK_FALSE(fs::exists(options.dir));

  fake_postgres(4);
  CHECK(cluster_error([&] { Cluster c(options); }) ==
        "pg cluster: the server exited during startup: FATAL:  could not create any TCP/IP "
        "sockets");
  CHECK_FALSE(fs::exists(options.dir));
}
