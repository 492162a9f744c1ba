#!/usr/bin/env bash
# Measures `weir run --ephemeral` from start to first query result and teardown, against the
# baseline of doing the same by hand with PostgreSQL's own tools (initdb --no-sync, pg_ctl
# start -w, psql -c 'SELECT 1', pg_ctl stop -m immediate, rm -rf), in the same run.
#   scripts/bench_ephemeral.sh [RUNS]     (default 5; build first with scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
weir=${WEIR:-$root/build/weir}
runs=${1:-5}
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)

now() { date +%s.%N; }

baseline_once() {
  local dir
  dir=$(mktemp -d /tmp/bench-pg-XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  local port=$((20000 + RANDOM % 20000))
  "${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale \
    --no-sync >/dev/null
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -s \
    -o "-p $port -k $dir -c listen_addresses='' -c fsync=off" start >/dev/null
  psql -h "$dir" -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -s stop >/dev/null
  rm -rf "$dir"
}

weir_once() { "$weir" run --ephemeral -e 'assert(db:value("SELECT 1") == 1)'; }

measure() {
  local fn=$1 start end
  start=$(now)
  for _ in $(seq "$runs"); do "$fn"; done
  end=$(now)
  echo "scale=3; ($end - $start) / $runs" | bc
}

command -v bc >/dev/null || { echo "bench: needs bc (apt-get install bc)" >&2; exit 1; }
b=$(measure baseline_once)
w=$(measure weir_once)
echo "runs: $runs"
echo "baseline (initdb + pg_ctl + psql + stop): ${b}s per run"
echo "weir run --ephemeral (start, first query, teardown): ${w}s per run"
echo "ratio weir/baseline: $(echo "scale=2; $w / $b" | bc)"
