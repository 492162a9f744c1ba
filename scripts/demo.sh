#!/usr/bin/env bash
# weir's main job on the embedded default: build, start a throwaway PostgreSQL, run the
# example script against it, and remove the cluster again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
build=${WEIR_BUILD_DIR:-$root/build}
"$build/weir" run --ephemeral "$root/examples/types_tour.lua"
