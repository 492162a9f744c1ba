// `weir pg start|stop|url`: a throwaway PostgreSQL that outlives the command, for CI scripts
// and interactive sessions. `start` prints the URL on stdout (so `export DATABASE_URL=$(weir pg
// start)` works) and where the cluster lives on stderr.
#include <cstdio>

#include "cli/commands.hpp"
#include "pg/cluster.hpp"

namespace weir::cli {

namespace {

const char* const kHelp =
    "Usage: weir pg start [--dir DIR]   start a throwaway PostgreSQL; print its URL\n"
    "       weir pg url [--dir] DIR     print the URL of the cluster in DIR\n"
    "       weir pg stop [--dir] DIR    stop the cluster in DIR and remove DIR\n"
    "\n"
    "The cluster listens on a unix socket in DIR and on a free port on 127.0.0.1, with\n"
    "settings for throwaway use (fsync off). Without --dir, DIR is a new directory under\n"
    "$TMPDIR (default /tmp). As root, the server runs as the `postgres` user.\n";

}  // namespace

int cmd_pg(Args& args) {
  if (args.done()) throw UsageError("pg: missing subcommand (start, stop or url)");
  std::string sub = args.next();
  if (sub == "-h" || sub == "--help") {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  // A ClusterError reaches main like any other error: one line, exit 1.
  if (sub == "start") {
    pg::ClusterOptions o;
    o.persistent = true;
    while (!args.done()) {
      std::string a = args.next();
      if (a == "-h" || a == "--help") {
        std::printf("%s", kHelp);
        return kExitOk;
      }
      if (a == "--dir" || a.rfind("--dir=", 0) == 0) {
        o.dir = args.value("--dir", a);
      } else {
        throw UsageError("pg start: unexpected argument '" + a + "'");
      }
    }
    pg::Cluster cluster(o);
    std::printf("%s\n", cluster.url().c_str());
    std::fprintf(stderr, "weir: PostgreSQL running in %s (stop it with: weir pg stop %s)\n",
                 cluster.dir().c_str(), cluster.dir().c_str());
    return kExitOk;
  }
  if (sub == "url" || sub == "stop") {
    if (args.done()) throw UsageError("pg " + sub + ": missing DIR");
    std::string dir = args.next();
    if (dir == "-h" || dir == "--help") {
      std::printf("%s", kHelp);
      return kExitOk;
    }
    // `--dir DIR` as with start, or DIR alone
    if (dir == "--dir" || dir.rfind("--dir=", 0) == 0) dir = args.value("--dir", dir);
    if (!args.done()) throw UsageError("pg " + sub + ": unexpected argument '" + args.peek() + "'");
    if (sub == "url") {
      std::printf("%s\n", pg::Cluster::url_for(dir).c_str());
    } else {
      pg::Cluster::stop(dir);
    }
    return kExitOk;
  }
  throw UsageError("pg: unknown subcommand '" + sub + "' (start, stop or url)");
}

}  // namespace weir::cli
