#!/usr/bin/env bash
# Builds openlsp from this checkout and installs the binary, shell completions and man pages.
#   ./install.sh [--prefix DIR] [--dry-run]
# The default prefix is /usr/local as root, ~/.local otherwise. Running it again rebuilds
# and replaces the same files; nothing else changes.
set -euo pipefail

cd "$(dirname "$0")"

dry_run=false
if [ "$(id -u)" -eq 0 ]; then prefix=/usr/local; else prefix=$HOME/.local; fi

usage() {
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
              prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

run() {
  printf 'install: %s\n' "$*"
  if [ "$dry_run" = false ]; then "$@"; fi
}

if ! command -v cargo >/dev/null 2>&1; then
  echo "install: cargo is not installed; install Rust from https://rustup.rs (or your distribution) and run ./install.sh again" >&2
  exit 1
fi

run cargo install --locked --force --path . --root "$prefix"
completions=$prefix/share/bash-completion/completions
run mkdir -p "$completions"
printf 'install: %s > %s\n' "$prefix/bin/openlsp completions bash" "$completions/openlsp"
if [ "$dry_run" = false ]; then
  "$prefix/bin/openlsp" completions bash >"$completions/openlsp"
fi

mandir=$prefix/share/man/man1
run mkdir -p "$mandir"
printf 'install: %s\n' "$prefix/bin/openlsp man --out-dir $mandir"
if [ "$dry_run" = false ]; then
  "$prefix/bin/openlsp" --quiet man --out-dir "$mandir"
fi

if [ "$dry_run" = true ]; then
  echo "install: dry run; nothing was changed"
  exit 0
fi
echo "install: installed $("$prefix/bin/openlsp" --version) to $prefix/bin/openlsp; manual: man openlsp"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "install: $prefix/bin is not on your PATH; add it, e.g.: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
