#!/usr/bin/env bash
# weir's main job on the embedded default: build, start a throwaway PostgreSQL, take the
# example migration up (each phase verified), show its status, take it down again, and
# remove the cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
weir=${WEIR_BUILD_DIR:-$root/build}/weir
dir=$(mktemp -u /tmp/weir-demo-XXXXXX)
export DATABASE_URL
DATABASE_URL=$("$weir" pg start --dir "$dir")
trap '"$weir" pg stop "$dir"' EXIT
cd "$root/examples/quickstart"
set -x
"$weir" up
"$weir" status
"$weir" down 001_projects
"$weir" status
