#!/usr/bin/env bash
# Runs one script suite against the shared test cluster, in a database of its own so suites
# running in parallel cannot see each other's tables.
#   run_lua_test.sh WEIR CLUSTER_DIR SCRIPT [weir run options...]
set -euo pipefail
weir=$(readlink -f "$1") cluster=$2 script=$3
shift 3
base_url=$("$weir" pg url "$cluster")
dbname="t_$(basename "$script" .lua)"
"$weir" run --db "$base_url" -e "
  db:exec('DROP DATABASE IF EXISTS $dbname WITH (FORCE)')
  db:exec('CREATE DATABASE $dbname')"
url=${base_url/\/postgres\?//$dbname?}
export LUA_PATH="$(cd "$(dirname "$0")" && pwd)/?.lua;;"
export WEIR_TEST_URL=$url WEIR_TEST_BASE_URL=$base_url WEIR=$weir
exec "$weir" run --db "$url" "$@" "$script"
