#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh), installs it on this machine with dpkg -i, and
# uses the installed weir as a user would, from a directory outside the source tree: --version,
# the manual pages, the completions, grammar/, `weir run --ephemeral -e`, and a project made by
# `weir init` + `weir new` taken up on a `weir pg start` cluster. Removes the package at the
# end, also when a check fails. Refuses to run where a weir is installed already. Root only
# (dpkg). Prints the package's size, Depends and Recommends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "test-package: run as root (dpkg -i)" >&2
  exit 1
fi
if dpkg-query -W -f='${Status}' weir 2>/dev/null | grep -q "install ok installed" ||
  [ -e /usr/bin/weir ]; then
  echo "test-package: a weir is installed already (/usr/bin/weir); not replacing it" >&2
  exit 1
fi

deb=$(bash "$root/scripts/package.sh")
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb --field "$deb" Package Version Installed-Size Depends Recommends

work=$(mktemp -d /tmp/weir-package-test.XXXXXX)
chmod 755 "$work"  # the throwaway server runs as `postgres` when we are root
cluster=""
cleanup() {
  [ -n "$cluster" ] && /usr/bin/weir pg stop "$cluster" >/dev/null 2>&1 || true
  dpkg -r weir >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

dpkg -i "$deb" >/dev/null
cd "$work"
fail() {
  echo "test-package: FAILED: $*" >&2
  exit 1
}
check() {  # DESCRIPTION COMMAND...: runs COMMAND, fails the test when it fails
  local what=$1
  shift
  "$@" >"$work/out" 2>"$work/err" || fail "$what: $(cat "$work/err")"
  echo "ok   $what"
}

check "weir --version is the installed binary" sh -c '[ "$(command -v weir)" = /usr/bin/weir ] && weir --version'
grep -q "^weir [0-9]" "$work/out" || fail "weir --version printed: $(cat "$work/out")"
size=$(stat -c %s /usr/bin/weir)
echo "     /usr/bin/weir: $size bytes ($(file -b /usr/bin/weir | grep -o 'stripped\|not stripped'))"

for name in weir $(weir completion commands | sed 's/^/weir-/'); do
  [ -f "/usr/share/man/man1/$name.1" ] || [ -f "/usr/share/man/man1/$name.1.gz" ] ||
    fail "no manual page $name(1)"
done
check "man finds weir-up(1) and it lists --to" sh -c 'man -P cat weir-up 2>/dev/null | grep -q -- "--to"'
[ -f /usr/share/bash-completion/completions/weir ] || fail "no bash completion"
[ -f /usr/share/zsh/vendor-completions/_weir ] || fail "no zsh completion"
[ -f /usr/share/fish/vendor_completions.d/weir.fish ] || fail "no fish completion"
[ -f /usr/share/weir/grammar/db.lua ] || fail "no grammar in /usr/share/weir/grammar"
[ -f /usr/share/doc/weir/install.md ] || fail "no docs in /usr/share/doc/weir"
echo "ok   manual pages, completions, grammar and docs are in place"

check "weir run --ephemeral -e" weir run --ephemeral -e 'print(db:value("SELECT 40 + 2"))'
[ "$(cat "$work/out")" = 42 ] || fail "weir run --ephemeral printed: $(cat "$work/out")"

cluster="$work/pg"
check "weir pg start" weir pg start --dir "$cluster"
url=$(cat "$work/out")
check "weir init" weir init project
grep -q "/usr/share/weir/grammar/db.lua" project/migrations/.luarc.json ||
  fail "migrations/.luarc.json does not point at /usr/share/weir/grammar"
cd project
check "weir new" weir new add_notes
sed -i 's|-- db:exec \[\[CREATE TABLE ... \]\]|db:exec [[CREATE TABLE notes (id bigint PRIMARY KEY)]]|' \
  migrations/001_add_notes.lua
check "weir up (a migration outside the source tree)" env DATABASE_URL="$url" weir up
check "the migration's table exists" env DATABASE_URL="$url" \
  weir run -e 'assert(db:value("SELECT to_regclass(\x27notes\x27)") ~= db.NULL, "no table notes")'
check "weir test runs the example test" env DATABASE_URL="$url" weir test
check "bash completes the project's targets" bash -c \
  'source /usr/share/bash-completion/completions/weir; COMP_LINE="weir up --to 001_add_notes:";
   COMP_POINT=${#COMP_LINE}; _weir; [ "${COMPREPLY[*]}" = expand ]'
echo "test-package: all checks passed; removing the package"
