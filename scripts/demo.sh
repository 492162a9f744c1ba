#!/usr/bin/env bash
# weir's main job on the embedded default: build, start a throwaway PostgreSQL, load the
# feature-planner example's database (seed 001), show the plan, take the migration up (each
# phase verified), show its status, take it down again, and remove the cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
weir=${WEIR_BUILD_DIR:-$root/build}/weir
dir=$(mktemp -u /tmp/weir-demo-XXXXXX)
export DATABASE_URL
DATABASE_URL=$("$weir" pg start --dir "$dir")
trap '"$weir" pg stop "$dir"' EXIT
cd "$root/examples/feature-planner-schema"   # its weir.lua names the migrations directory
set -x
"$weir" run fixture.lua
"$weir" plan
"$weir" up
"$weir" status
"$weir" down 001_feature_planner_schema
"$weir" status
