#!/usr/bin/env bash
# Runs one script suite against the shared test cluster, in a database of its own so suites
# running in parallel cannot see each other's tables. A suite whose first lines say
# `-- test: own cluster` gets a throwaway cluster of its own instead (for suites that count or
# drop what is on the whole server, such as weir test's databases), removed when it ends.
#   run_lua_test.sh WEIR CLUSTER_DIR SCRIPT [weir run options...]
set -euo pipefail
weir=$(readlink -f "$1") cluster=$2 script=$3
shift 3
if head -n 5 "$script" | grep -q '^-- test: own cluster'; then
  own=$(mktemp -d "${TMPDIR:-/tmp}/weir-suite-XXXXXX")
  chmod 755 "$own"  # as root, the server runs as postgres, which must reach it
  trap '"$weir" pg stop "$own/pg" >/dev/null 2>&1 || true; rm -rf "$own"' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  "$weir" pg start --dir "$own/pg" >/dev/null
  cluster=$own/pg
fi
base_url=$("$weir" pg url "$cluster")
dbname="t_$(basename "$script" .lua)"
"$weir" run --db "$base_url" -e "
  db:exec('DROP DATABASE IF EXISTS $dbname WITH (FORCE)')
  db:exec('CREATE DATABASE $dbname')"
url=${base_url/\/postgres\?//$dbname?}
export LUA_PATH="$(cd "$(dirname "$0")" && pwd)/?.lua;;"
export WEIR_TEST_URL=$url WEIR_TEST_BASE_URL=$base_url WEIR=$weir
if [ -n "${own:-}" ]; then
  "$weir" run --db "$url" "$@" "$script"
else
  exec "$weir" run --db "$url" "$@" "$script"
fi
