#!/usr/bin/env bash
# test-images.sh — the container images the test node runs: stand-ins built from Debian
# packages, without docker or a registry, tagged with the exact references openlsp's images
# table (src/images.rs) pins, so the manifests openlsp renders run unmodified.
#
# Usage:
#   scripts/test-images.sh build [--pause BIN] [--openlsp BIN]
#       build whatever is not cached; prints one line per image on stdout: REF<TAB>ARCHIVE
#       (a `docker save` style archive for `ctr images import`)
#   scripts/test-images.sh list
#       the table below, with each reference as this checkout pins it
#
# The images (the one table is `image_names` and the `recipe_*` functions below):
#   bitcoind  BITCOIND from src/images.rs  Debian sid minbase + bitcoin-knots (Bitcoin Core's
#             config and RPC), user bitcoin with BITCOIND_UID, bitcoind/bitcoin-cli on PATH
#   tor       TOR from src/images.rs       Debian bookworm minbase + tor, user tor with TOR_UID
#   rclone    RCLONE from src/images.rs (or, without a pin, docker.io/rclone/rclone:<the
#             upstream version Debian packages>); bookworm minbase + rclone + inotify-tools +
#             busybox-static, whose applets come first on PATH (/usr/local/bin) as busybox's
#             are the tools of upstream's alpine base: the backup script runs under busybox sh
#             with busybox's sed, awk, sha256sum, stat and mkfifo (tests/backup.rs runs it so);
#             entrypoint rclone as upstream's
#   toolbox   openlsp.test/toolbox:bookworm  bookworm minbase + curl, ca-certificates and
#             netcat-openbsd: the client in test pods (curl with a CA, nc, getent)
#   prometheus openlsp.test/prometheus:bookworm  bookworm minbase + prometheus, as nobody: the
#             monitoring addon's Prometheus that `openlsp status` queries (tests/e2e/status.rs)
#   pause     openlsp.test/pause:<version>  kubernetes' pause.c, built by test-cluster.sh (--pause)
#   openlsp   openlsp.test/openlsp:local   this checkout's openlsp binary and the shared
#             libraries it links (--openlsp), for the controller's Deployment
#             and CLN's exporter
# openlsp.test is a reserved name (RFC 2606): no registry can ever serve it, so those images
# can only be the local ones. Nothing here stands in for a program Debian does not package
# (lnd, lndinit, CLN, BTCPay, NBXplorer, RTL, ThunderHub, the exporters): their pods stay in
# ImagePullBackOff and the tests say so.
#
# Cache: ${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}/images/<name>/<key>.tar, with the
# package list that went in beside it (<key>.packages). The key is a hash of the recipe (the
# bash functions that lay the tree out, and image-archive.py) and of the versions of the
# requested packages as the suite offers them. Those versions come from a private apt lists dir
# per suite, refreshed when older than OPENLSP_IMAGES_MAX_AGE seconds (default one day) or when
# OPENLSP_IMAGES_REFRESH=1. debootstrap keeps its .debs in the cache too.
# Cold: about 100 s per debootstrap tree. Warm: no network, a second or two.
#
# Progress goes to stderr, prefixed "test-images:".

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly IMAGES_RS=$REPO_ROOT/src/images.rs
readonly ARCHIVER=$REPO_ROOT/scripts/image-archive.py
readonly CACHE_ROOT=${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}
readonly IMG_CACHE=$CACHE_ROOT/images
readonly MIRROR=${OPENLSP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly MAX_AGE=${OPENLSP_IMAGES_MAX_AGE:-86400}
readonly LOCAL_REGISTRY=openlsp.test

log() { printf 'test-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2
}

# ---------------------------------------------------------------------------
# the images table

# Images with a recipe, in build order. pause and openlsp need a binary (--pause, --openlsp).
image_names() { printf '%s\n' pause toolbox prometheus bitcoind tor rclone openlsp; }

# images_rs NAME — the value of `pub const NAME` in src/images.rs (empty if there is none).
images_rs() {
  sed -n -E "s/^pub const $1: (&str|i64) = \"?([^\";]*)\"?;.*/\2/p" "$IMAGES_RS" | head -n 1
}

# normalize_ref REF — the full reference containerd stores (as the kubelet asks for it).
normalize_ref() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then
    ref=docker.io/library/$ref
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    ref=docker.io/$ref
  fi
  [[ ${ref##*/} == *:* || $ref == *@* ]] || ref+=:latest
  printf '%s\n' "$ref"
}

arch() { dpkg --print-architecture; }

# Each recipe_NAME sets: ref, suite (a Debian suite for debootstrap, or "" for a tree made
# from files), packages (what the suite must install), and the image config (user, cmd,
# entrypoint). layout_NAME TREE then makes the tree what the pod expects.
recipe_bitcoind() {
  local uid
  uid=$(images_rs BITCOIND_UID)
  [[ $uid =~ ^[0-9]+$ ]] || die "no BITCOIND_UID in $IMAGES_RS"
  ref=$(normalize_ref "$(images_rs BITCOIND)")
  suite=sid packages=(bitcoin-knots) user=$uid:$uid cmd='["bitcoind"]' entrypoint=''
}
layout_bitcoind() {
  local tree=$1 uid=${user%%:*}
  add_user "$tree" bitcoin "$uid" /home/bitcoin
  # bitcoind's default data dir, for a container run without -datadir.
  install -d -o "$uid" -g "$uid" -m 0700 "$tree/home/bitcoin/.bitcoin"
  require_files "$tree" usr/bin/bitcoind usr/bin/bitcoin-cli
}

recipe_tor() {
  local uid
  uid=$(images_rs TOR_UID)
  [[ $uid =~ ^[0-9]+$ ]] || die "no TOR_UID in $IMAGES_RS"
  ref=$(normalize_ref "$(images_rs TOR)")
  suite=bookworm packages=(tor) user=$uid:$uid cmd='["tor"]' entrypoint=''
}
layout_tor() {
  local tree=$1 uid=${user%%:*}
  # The pod runs as TOR_UID (upstream's `tor` user); its init container runs sh, mkdir, cp
  # and chmod, and the main container `tor -f ...` from PATH.
  add_user "$tree" tor "$uid" /home/tor
  require_files "$tree" usr/bin/tor bin/sh bin/mkdir bin/cp bin/chmod
}

recipe_rclone() {
  local pinned version
  pinned=$(images_rs RCLONE)
  suite=bookworm packages=(rclone inotify-tools busybox-static) user='' cmd='' entrypoint='["rclone"]'
  if [[ -n $pinned ]]; then
    ref=$(normalize_ref "$pinned")
  else
    # Until the images table pins one: upstream's name for the version Debian packages.
    version=$(suite_version bookworm rclone)
    version=${version#*:}
    ref=docker.io/rclone/rclone:${version%%[+~-]*}
  fi
}
layout_rclone() {
  local tree=$1 applet
  require_files "$tree" usr/bin/rclone usr/bin/inotifywait bin/busybox
  # Upstream's alpine base: sh and the text tools are busybox's applets.
  install -d "$tree/usr/local/bin"
  for applet in $("$tree/bin/busybox" --list); do
    ln -sf /bin/busybox "$tree/usr/local/bin/$applet"
  done
  require_files "$tree" usr/local/bin/sh usr/local/bin/sha256sum usr/local/bin/mkfifo
}

recipe_toolbox() {
  ref=$LOCAL_REGISTRY/toolbox:bookworm
  suite=bookworm packages=(curl ca-certificates netcat-openbsd) user='' cmd='["bash"]' entrypoint=''
}
layout_toolbox() {
  require_files "$1" usr/bin/curl bin/nc bin/bash usr/bin/getent
}

recipe_prometheus() {
  ref=$LOCAL_REGISTRY/prometheus:bookworm
  suite=bookworm packages=(prometheus) user='65534:65534' cmd='' entrypoint='["/usr/bin/prometheus"]'
}
layout_prometheus() {
  require_files "$1" usr/bin/prometheus
}

recipe_pause() {
  [[ -n $pause_bin ]] || return 1
  # Tagged with the version the binary reports ("pause.c v3.4.1").
  local version
  version=$("$pause_bin" -v 2>&1 | awk '{print $2}')
  ref=$LOCAL_REGISTRY/pause:${version#v}
  suite='' packages=() user='65535:65535' cmd='' entrypoint='["/pause"]'
  source_key="pause $(sha256sum <"$pause_bin")"
}
layout_pause() {
  install -d "$1"/{proc,sys,dev}
  install -m 0755 "$pause_bin" "$1/pause"
}

recipe_openlsp() {
  [[ -n $openlsp_bin ]] || return 1
  ref=$LOCAL_REGISTRY/openlsp:local
  suite='' packages=() user='65532:65532' cmd='' entrypoint='["/usr/local/bin/openlsp"]'
  source_key="openlsp $(sha256sum <"$openlsp_bin") libc6 $(dpkg-query -W -f='${Version}' libc6)"
}
layout_openlsp() {
  local tree=$1 lib
  install -d "$tree"/{usr/local/bin,etc,tmp,proc,sys,dev}
  chmod 1777 "$tree/tmp"
  # Without debug info: a debug build's binary is mostly that (a release build has none).
  strip --strip-debug -o "$tree/usr/local/bin/openlsp" "$openlsp_bin"
  chmod 0755 "$tree/usr/local/bin/openlsp"
  # The binary and exactly the shared libraries it links (glibc, libgcc_s): nothing else.
  while read -r lib; do
    install -D -m 0755 "$lib" "$tree$lib"
  done < <(ldd "$openlsp_bin" | grep -oE '/[^ ]+' | sort -u)
  printf 'root:x:0:0:root:/root:/sbin/nologin\nopenlsp:x:65532:65532:openlsp:/nonexistent:/sbin/nologin\n' >"$tree/etc/passwd"
  printf 'root:x:0:\nopenlsp:x:65532:\n' >"$tree/etc/group"
  "$tree/usr/local/bin/openlsp" --version >/dev/null || die "$openlsp_bin does not run"
}

# ---------------------------------------------------------------------------
# helpers for the layouts

# add_user TREE NAME UID HOME — user and group NAME with UID:GID UID. A package may have made
# NAME already with another (dynamic) uid, as sid's bitcoin-knots does: it is renumbered, with
# the files it owns, so the image matches upstream's user. A different user holding UID is an
# error.
add_user() {
  local tree=$1 name=$2 uid=$3 home=$4 old
  local holder
  holder=$(awk -F: -v u="$uid" '$3 == u {print $1}' "$tree/etc/passwd" "$tree/etc/group" | sort -u | paste -sd ' ')
  [[ -z $holder || $holder == "$name" ]] || die "uid/gid $uid is already taken in the tree by: $holder"
  old=$(awk -F: -v n="$name" '$1 == n {print $3}' "$tree/etc/passwd")
  if [[ -z $old ]]; then
    printf '%s:x:%s:%s::%s:/usr/sbin/nologin\n' "$name" "$uid" "$uid" "$home" >>"$tree/etc/passwd"
    if [[ -f $tree/etc/shadow ]]; then printf '%s:!:19000::::::\n' "$name" >>"$tree/etc/shadow"; fi
  else
    # shellcheck disable=SC2016 # an awk program
    rewrite "$tree/etc/passwd" -v n="$name" -v u="$uid" -v h="$home" '$1 == n {$3 = u; $4 = u; $6 = h} 1'
    if [[ $old != "$uid" ]]; then
      find "$tree" -xdev -uid "$old" -exec chown -h "$uid" {} +
      find "$tree" -xdev -gid "$old" -exec chgrp -h "$uid" {} +
    fi
  fi
  if grep -q "^$name:" "$tree/etc/group"; then
    # shellcheck disable=SC2016 # an awk program
    rewrite "$tree/etc/group" -v n="$name" -v u="$uid" '$1 == n {$3 = u} 1'
  else
    printf '%s:x:%s:\n' "$name" "$uid" >>"$tree/etc/group"
  fi
  # No supplementary groups, as in upstream's image (sid's bitcoin-knots puts its
  # user in debian-tor, for a local tor's control cookie).
  # shellcheck disable=SC2016 # an awk program
  rewrite "$tree/etc/group" -v n="$name" '{
    m = ""; k = split($4, members, ",")
    for (i = 1; i <= k; i++) if (members[i] != n) m = m (m == "" ? "" : ",") members[i]
    $4 = m } 1'
  install -d -o "$uid" -g "$uid" -m 0755 "$tree$home"
}

rewrite() { # rewrite FILE AWK-ARGS... — edit a colon-separated file in place with awk
  local file=$1
  shift
  awk -F: -v OFS=: "$@" "$file" >"$file.new" && cat "$file.new" >"$file" && rm -f "$file.new"
}

require_files() {
  local tree=$1 f
  shift
  for f in "$@"; do
    # -L too: a link into /etc/alternatives resolves in the image, not here.
    [[ -e $tree/$f || -L $tree/$f ]] || die "the $ref tree has no /$f"
  done
}

# trim_tree TREE — what a container never uses: docs, apt's lists and caches, logs, and the
# build machine's resolv.conf and hostname, which debootstrap copies in (the kubelet mounts
# the pod's own).
trim_tree() {
  local tree=$1
  rm -rf "${tree:?}"/usr/share/{doc,man,info,locale,lintian} \
    "$tree"/var/cache/apt/* "$tree"/var/lib/apt/lists/* "$tree"/var/cache/debconf/*-old \
    "$tree"/var/log/* "$tree"/etc/resolv.conf "$tree"/etc/hostname
  install -d "$tree/usr/share/doc"
}

# ---------------------------------------------------------------------------
# package versions, from a private apt lists dir per suite (the host's apt is not touched)

apt_opts() { # apt_opts SUITE — options for apt-get/apt-cache that see only SUITE
  local dir=$IMG_CACHE/apt/$1
  printf '%s\n' -o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=-" \
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" \
    -o "Dir::State::status=/dev/null" -o "Dir::Etc::Preferences=/dev/null" \
    -o "Dir::Etc::PreferencesParts=-" -o "Acquire::Languages=none" \
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
}

lists_fresh=()
suite_lists() { # suite_lists SUITE — make sure SUITE's package lists are there and recent
  local suite=$1 dir=$IMG_CACHE/apt/$1 opts stamp age
  [[ " ${lists_fresh[*]} " == *" $suite "* ]] && return 0
  mapfile -t opts < <(apt_opts "$suite")
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$suite" >"$dir/sources.list"
  stamp=$(compgen -G "$dir/lists/*_dists_${suite}_InRelease" | head -n 1 || true)
  age=$MAX_AGE
  [[ -n $stamp ]] && age=$(($(date +%s) - $(stat -c %Y "$stamp")))
  if [[ ${OPENLSP_IMAGES_REFRESH:-0} == 1 || -z $stamp || $age -ge $MAX_AGE ]]; then
    log "apt-get update for $suite (private lists in $dir)"
    # The _apt sandbox user must be able to write there.
    if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then chown -R _apt "$dir/lists" "$dir/cache"; fi
    if apt-get "${opts[@]}" update >&2 && compgen -G "$dir/lists/*_dists_${suite}_InRelease" >/dev/null; then
      touch "$(compgen -G "$dir/lists/*_dists_${suite}_InRelease" | head -n 1)"
    elif [[ -n $stamp ]]; then
      log "warning: could not refresh $suite's lists; using the ones from $(date -r "$stamp" +%F)"
    else
      die "could not fetch $suite's package lists from $MIRROR (network?)"
    fi
  fi
  lists_fresh+=("$suite")
}

suite_version() { # suite_version SUITE PKG — the version SUITE offers
  local opts v
  suite_lists "$1"
  mapfile -t opts < <(apt_opts "$1")
  v=$(apt-cache "${opts[@]}" show --no-all-versions "$2" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
  [[ -n $v ]] || die "$1 has no package $2"
  printf '%s\n' "$v"
}

# ---------------------------------------------------------------------------
# building

build_dir=""
cleanup() {
  [[ -n $build_dir && -d $build_dir ]] || return 0
  # debootstrap unmounts what it mounted, unless it was killed: never leave a mount behind.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done \
    < <(awk -v d="$build_dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
  rm -rf "$build_dir"
}

# image_key NAME — the cache key: the recipe's code and the inputs' versions, hashed.
image_key() {
  local name=$1 p
  {
    printf 'ref %s suite %s user %s cmd %s entrypoint %s arch %s\n' "$ref" "$suite" "$user" "$cmd" "$entrypoint" "$(arch)"
    declare -f "layout_$name" add_user trim_tree
    sha256sum <"$ARCHIVER"
    for p in "${packages[@]}"; do printf '%s %s\n' "$p" "$(suite_version "$suite" "$p")"; done
    printf '%s\n' "$source_key"
  } | sha256sum | cut -c1-16
}

build_image() { # build_image NAME KEY OUT — make the tree, lay it out, write the archive
  local name=$1 key=$2 out=$3 tree t0=$SECONDS label=""
  build_dir=$(mktemp -d "$IMG_CACHE/build.XXXXXX")
  tree=$build_dir/tree
  if [[ -n $suite ]]; then
    mkdir -p "$IMG_CACHE/debs/$suite"
    log "$name: debootstrap --variant=minbase $suite + ${packages[*]} (about 100 s)"
    debootstrap --variant=minbase --components=main --include="$(IFS=,; echo "${packages[*]}")" \
      --cache-dir="$IMG_CACHE/debs/$suite" --keyring="$KEYRING" \
      "$suite" "$tree" "$MIRROR" >"$build_dir/debootstrap.log" 2>&1 \
      || { tail -n 20 "$build_dir/debootstrap.log" >&2; die "$name: debootstrap failed"; }
    dpkg-query --admindir="$tree/var/lib/dpkg" -W -f='${Package} ${Version}\n' >"$build_dir/packages"
    local p
    for p in "${packages[@]}"; do label+="$(grep "^$p " "$build_dir/packages" | tr ' ' '='),"; done
    trim_tree "$tree"
  else
    mkdir -p "$tree"
    printf '%s\n' "$source_key" >"$build_dir/packages"
    label="$source_key,"
  fi
  "layout_$name" "$tree"
  local args=(--arch "$(arch)" --user "$user" --label "org.openlsp.test.stand-in=$name"
    --label "org.openlsp.test.packages=${label%,}")
  [[ -n $cmd ]] && args+=(--cmd "$cmd")
  [[ -n $entrypoint ]] && args+=(--entrypoint "$entrypoint")
  python3 "$ARCHIVER" "$tree" "$ref" "$build_dir/image.tar" "${args[@]}"
  # The cache keeps the newest build of each image only.
  rm -f "$IMG_CACHE/$name"/*.tar "$IMG_CACHE/$name"/*.packages
  mv "$build_dir/packages" "${out%.tar}.packages"
  mv "$build_dir/image.tar" "$out"
  cleanup
  build_dir=""
  log "$name: built $ref in $((SECONDS - t0))s ($(du -m "$out" | cut -f1) MiB)"
}

cmd_build() {
  local name key out ref suite user cmd entrypoint source_key packages=()
  [[ $EUID -eq 0 ]] || die "building images needs root (debootstrap, file ownership in the trees)"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/test-cluster.sh installs it)"
  mkdir -p "$IMG_CACHE"
  # One build at a time per cache; a waiter finds the images the other one built.
  exec 8>"$IMG_CACHE/.lock"
  if ! flock -n 8; then
    log "another image build holds $IMG_CACHE/.lock; waiting"
    flock 8
  fi
  rm -rf "$IMG_CACHE"/build.* # left by a killed run (we hold the lock)
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  while read -r name; do
    source_key='' packages=()
    if ! "recipe_$name"; then
      log "$name: skipped (no --$name binary given)"
      continue
    fi
    key=$(image_key "$name")
    out=$IMG_CACHE/$name/$key.tar
    mkdir -p "$IMG_CACHE/$name"
    if [[ -f $out ]]; then
      log "$name: cached $ref ($out)"
    else
      build_image "$name" "$key" "$out"
    fi
    printf '%s\t%s\n' "$ref" "$out"
  done < <(image_names)
}

cmd_list() {
  local name ref suite user cmd entrypoint source_key packages=()
  while read -r name; do
    source_key='' packages=()
    if "recipe_$name" 2>/dev/null; then
      printf '%-9s %-45s %s\n' "$name" "$ref" "${suite:-files}${packages[*]:+: ${packages[*]}}"
    else
      printf '%-9s %-45s %s\n' "$name" "-" "needs --$name BIN"
    fi
  done < <(image_names)
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  pause_bin='' openlsp_bin=''
  while [[ $# -gt 0 ]]; do
    case $1 in
      --pause) pause_bin=$(realpath "${2:?--pause needs a file}"); shift 2 ;;
      --openlsp) openlsp_bin=$(realpath "${2:?--openlsp needs a file}"); shift 2 ;;
      *) usage; exit 2 ;;
    esac
  done
  for f in "$pause_bin" "$openlsp_bin"; do
    [[ -z $f || -x $f ]] || die "$f is not an executable file"
  done
  case $cmd in
    build) cmd_build ;;
    list) cmd_list ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
