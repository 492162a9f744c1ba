// `weir pg start|url|status|list|stop`: throwaway PostgreSQL clusters that outlive the command,
// for CI scripts and interactive sessions. `start` prints the URL on stdout (so `export
// DATABASE_URL=$(weir pg start)` works) and where the cluster lives on stderr; on a stopped
// cluster (a reboot, `stop --keep`) it starts the server again.
#include <cstdio>

#include "cli/commands.hpp"
#include "pg/cluster.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kPgOptions = {
    {"--dir", nullptr, "DIR", "the cluster's directory (start: default a new one under $TMPDIR)",
     Complete::dir},
    {"--keep", nullptr, nullptr, "stop: stop the server but keep DIR, to start it again later"},
};

}  // namespace

const CommandSpec kPgSpec{
    "pg",
    "start, stop, list or locate throwaway PostgreSQL clusters",
    "weir pg start [[--dir] DIR] [--pg-version N | --pg-bindir DIR]\n"
    "weir pg url [--dir] DIR\n"
    "weir pg status [[--dir] DIR]\n"
    "weir pg list\n"
    "weir pg stop [--keep] [--dir] DIR",
    "start    initdb a new cluster in DIR (which must not exist or be empty; default: a new\n"
    "         directory under $TMPDIR, default /tmp), start it and print its URL. On DIR\n"
    "         holding a weir cluster whose server stopped (a reboot, stop --keep), start that\n"
    "         server again, on its old port when that is free; on a running one, print its URL.\n"
    "url      print the URL of the running cluster in DIR.\n"
    "status   say whether the cluster in DIR (default: every one `list` shows) runs, its URL,\n"
    "         PostgreSQL version and programs; exit 1 when one is not running.\n"
    "list     one line per weir cluster: the ones `pg start` made (recorded in\n"
    "         $XDG_STATE_HOME/weir/clusters) and the ones under $TMPDIR.\n"
    "stop     stop the cluster in DIR and remove DIR (with --keep: stop it only). A DIR that\n"
    "         does not exist is nothing to stop (exit 0); a directory that is not a weir\n"
    "         cluster is refused.\n"
    "\n"
    "The cluster listens on a unix socket in DIR and on a free port on 127.0.0.1, with\n"
    "settings for throwaway use (fsync off: after a power loss its data may be lost). As root,\n"
    "the server runs as the `postgres` user.",
    {{"Options", &kPgOptions}, {"Throwaway PostgreSQL", &kClusterOptions}},
    Complete::choice,
    "start url status list stop",
};

namespace {

void print_status(const pg::ClusterStatus& st) {
  std::printf("%s: %s\n", st.dir.c_str(), st.running ? "running" : "stopped");
  if (!st.url.empty()) std::printf("  url:      %s\n", st.url.c_str());
  std::printf("  version:  PostgreSQL %s (%s)\n", st.version.empty() ? "?" : st.version.c_str(),
              st.bindir.c_str());
  if (st.persistent)
    std::printf("  kept:     until `weir pg stop %s`\n", st.dir.c_str());
  else
    std::printf("  kept:     while weir (pid %lld) runs\n", st.owner_pid);
}

}  // namespace

int cmd_pg(Args& args) {
  if (args.done()) throw UsageError("pg: missing subcommand (start, url, status, list or stop)");
  Arg sub = next_arg(args, kPgSpec);
  if (sub.option)
    throw UsageError("pg: the subcommand comes first (start, url, status, list or stop), got '" +
                     sub.text + "'");
  const std::string& what = sub.text;
  if (what != "start" && what != "url" && what != "status" && what != "list" && what != "stop")
    throw UsageError("pg: unknown subcommand '" + what + "' (start, url, status, list or stop)");
  std::string dir;
  bool keep = false;
  ConnectionOptions ignored;
  while (!args.done()) {
    Arg a = next_arg(args, kPgSpec);
    if (!a.option || a.is("--dir")) {
      if (!dir.empty()) throw UsageError("pg " + what + ": unexpected argument '" + a.text + "'");
      dir = a.option ? a.value : a.text;
    } else if (a.is("--keep")) {
      if (what != "stop") throw UsageError("pg " + what + ": --keep goes with pg stop");
      keep = true;
    } else if (a.is("--pg-bindir") || a.is("--pg-version")) {
      if (what != "start") throw UsageError("pg " + what + ": " + a.text + " goes with pg start");
      apply_common_option(a, ignored);
    } else {
      unhandled(a);
    }
  }
  if (dir.empty() && (what == "url" || what == "stop"))
    throw UsageError("pg " + what + ": missing DIR");
  if (!dir.empty() && what == "list")
    throw UsageError("pg list: unexpected argument '" + dir + "'");

  // A ClusterError reaches main like any other error: one line, exit 1.
  if (what == "start") {
    if (!dir.empty() && pg::Cluster::holds_cluster(dir)) {
      bool running = false;
      std::string url = pg::Cluster::start_again(dir, running);
      std::printf("%s\n", url.c_str());
      std::fprintf(stderr, "weir: PostgreSQL %s in %s (stop it with: weir pg stop %s)\n",
                   running ? "already running" : "started again", dir.c_str(), dir.c_str());
      return kExitOk;
    }
    pg::ClusterOptions o;
    o.persistent = true;
    o.dir = dir;
    pg::Cluster cluster(o);
    std::printf("%s\n", cluster.url().c_str());
    std::fprintf(stderr, "weir: PostgreSQL running in %s (stop it with: weir pg stop %s)\n",
                 cluster.dir().c_str(), cluster.dir().c_str());
    return kExitOk;
  }
  if (what == "url") {
    std::printf("%s\n", pg::Cluster::url_for(dir).c_str());
    return kExitOk;
  }
  if (what == "stop") {
    if (!pg::Cluster::stop(dir, keep))
      std::fprintf(stderr, "weir: %s does not exist: no cluster to stop\n", dir.c_str());
    return kExitOk;
  }
  if (what == "list") {
    for (const auto& d : pg::Cluster::known()) {
      try {
        auto st = pg::Cluster::status(d);
        std::printf("%-8s PostgreSQL %-3s %s  %s\n", st.running ? "running" : "stopped",
                    st.version.c_str(), st.dir.c_str(),
                    st.running ? st.url.c_str() : (st.persistent ? "" : "(being removed)"));
      } catch (const pg::ClusterError&) {
        continue;  // removed while listing
      }
    }
    return kExitOk;
  }
  // status
  std::vector<std::string> dirs;
  if (dir.empty())
    dirs = pg::Cluster::known();
  else
    dirs.push_back(dir);
  bool all_running = true;
  for (const auto& d : dirs) {
    auto st = pg::Cluster::status(d);
    print_status(st);
    all_running = all_running && st.running;
  }
  if (dirs.empty()) std::printf("no weir clusters\n");
  return all_running ? kExitOk : kExitError;
}

}  // namespace weir::cli
