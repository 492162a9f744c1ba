#!/usr/bin/env bash
# Builds weir's Debian package: a Release build (no tests) in build-package/ (or
# $WEIR_PACKAGE_DIR), its binary stripped, with the manual pages, shell completions, grammar/
# and docs that `cmake --install` lays out under /usr; CPack writes the .deb, whose Depends
# dpkg-shlibdeps derives from the libraries weir links. Prints the .deb's path on stdout.
# scripts/test-package.sh installs it and tries it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${WEIR_PACKAGE_DIR:-$root/build-package}
bash "$root/scripts/setup.sh" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX=/usr >&2
cmake --build "$build" -j"$(nproc)" >&2
rm -f "$build"/weir_*.deb
(cd "$build" && cpack -G DEB >&2)
ls "$build"/weir_*.deb
