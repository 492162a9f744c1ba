#!/usr/bin/env bash
# Installs the Debian packages weir needs (scripts/setup.sh), then configures and builds
# weir and its tests into build/ (or $WEIR_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${WEIR_BUILD_DIR:-$root/build}
bash "$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
