#!/usr/bin/env bash
# Builds weir and runs the whole test suite with ctest (unit tests, script suites against a
# throwaway PostgreSQL, command-line tests). Exit code is ctest's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
build=${WEIR_BUILD_DIR:-$root/build}
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 600
