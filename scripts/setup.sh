#!/usr/bin/env bash
# Installs every Debian package weir needs to build, test and run, on a fresh Debian 12 machine
# (zsh and fish: the tests run weir's completions in them; dpkg-dev, from build-essential,
# gives scripts/package.sh its dpkg-shlibdeps).
# Idempotent: packages already present are skipped; apt-get runs only when something is missing.
# Must run as root (or with sudo available). Used by the README commands and by .ci/run.
set -euo pipefail

# What each is for: docs/install.md. weir links libpq directly (not libpqxx). libpg_query carries
# its own protobuf runtime, but its scanner header includes <protobuf-c/protobuf-c.h>, which only
# libprotobuf-c-dev ships: the build needs that header, the binary links no libprotobuf-c.
packages=(
  build-essential cmake pkg-config git
  liblua5.4-dev lua5.4
  libpq-dev libssl-dev
  nlohmann-json3-dev
  catch2
  postgresql-15 postgresql-client-15 postgresql-contrib
  libpg-query-dev libprotobuf-c-dev
  libedit-dev
  libpcre2-dev
  json-schema-test-suite
  libxml2-utils
  clang-format
  tmux
  bc
  zsh fish
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
