#!/usr/bin/env bash
# test-cluster.sh — build, cache, start and stop a real, local Kubernetes
# control plane (etcd + kube-apiserver v1.20.2 + kube-controller-manager) on
# loopback, for openlsp's integration tests.
#
# Everything comes from Debian's package archive: Go 1.19, etcd and the
# kubernetes source package (1.20.5+really1.20.2, vendor/ included). No
# docker, no downloads from anywhere else.
#
# Usage:
#   scripts/test-cluster.sh build          build + cache the binaries (once)
#   scripts/test-cluster.sh up [DIR]       start a cluster with state in DIR
#   scripts/test-cluster.sh down [DIR]     stop it and remove DIR
#   scripts/test-cluster.sh status [DIR]   exit 0 if it is up and healthy
#
# Environment:
#   OPENLSP_CACHE_DIR         cache root (default: $HOME/.cache/openlsp)
#   OPENLSP_TEST_CLUSTER_DIR  default DIR (default: /tmp/openlsp-test-cluster)
#
# After `up`, DIR/kubeconfig is an admin kubeconfig (bearer token,
# insecure-skip-tls-verify, context "openlsp-test") and DIR/env exports
# OPENLSP_TEST_KUBECONFIG pointing at it. The last line `up` prints on stdout
# is the kubeconfig path; progress goes to stderr, prefixed "test-cluster:".
#
# Service CIDRs are dual-stack (IPv4 + IPv6, IPv6DualStack gate), so Services
# with ipFamilyPolicy: PreferDualStack get both families.
# Known 1.20 limitation (fixed upstream in 1.21): server-side apply rejects a
# Service/Pod port without an explicit `protocol` ("associative list with keys
# has an element that omits key field "protocol"").

set -euo pipefail

readonly K8S_VERSION=v1.20.2
readonly K8S_MAJOR=1
readonly K8S_MINOR=20
readonly GO_BIN=/usr/lib/go-1.19/bin/go
readonly CACHE_ROOT=${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}
readonly CACHE_DIR=$CACHE_ROOT/k8s-$K8S_VERSION
readonly BIN_DIR=$CACHE_DIR/bin
readonly DEFAULT_DIR=${OPENLSP_TEST_CLUSTER_DIR:-/tmp/openlsp-test-cluster}
readonly SRC_LIST=/etc/apt/sources.list.d/openlsp-bookworm-src.sources
readonly MARKER=.openlsp-test-cluster
# Service CIDRs: IPv4 primary plus an IPv6 secondary (dual-stack, needs the
# IPv6DualStack feature gate on 1.20) so Services with
# ipFamilyPolicy: PreferDualStack get both families.
readonly SERVICE_CIDRS=10.96.0.0/16,fd00:10:96::/112
readonly FEATURE_GATES=IPv6DualStack=true
# Order matters: started left to right, stopped right to left.
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager)

if [[ $EUID -eq 0 ]]; then
  SUDO=""
else
  SUDO="sudo"
fi

log() { printf 'test-cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [[ -n $SUDO ]]; then
    "$SUDO" env DEBIAN_FRONTEND=noninteractive "$@"
  else
    DEBIAN_FRONTEND=noninteractive "$@"
  fi
}

usage() {
  cat >&2 <<EOF
usage: $0 build | up [DIR] | down [DIR] | status [DIR]
  build   install Debian packages and build kube-apiserver/kube-controller-manager
          $K8S_VERSION into $BIN_DIR (once; cached)
  up      start etcd + kube-apiserver + kube-controller-manager on free loopback
          ports, state in DIR (default $DEFAULT_DIR); prints the kubeconfig path
  down    stop the processes and remove DIR
  status  exit 0 if the cluster in DIR is up and healthy
EOF
}

# ---------------------------------------------------------------------------
# packages

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_updated=0
apt_update() {
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
}

# apt_install PKG... — install whichever of PKG are missing. Services that a
# package's postinst might start are blocked with a temporary policy-rc.d
# (unless one is already in place); there is no init system to run them and we
# start etcd ourselves.
apt_install() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  apt_update
  log "apt-get install ${missing[*]}"
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || rc=$?
  if [[ $made_policy -eq 1 ]]; then
    as_root rm -f /usr/sbin/policy-rc.d
  fi
  [[ $rc -eq 0 ]] || die "apt-get install ${missing[*]} failed (exit $rc)"
}

ensure_deb_src() {
  if [[ ! -f $SRC_LIST ]]; then
    log "adding deb-src for bookworm main: $SRC_LIST"
    as_root tee "$SRC_LIST" >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_updated=0
  fi
  apt_update
}

# Packages needed to run a cluster (etcd, key generation, health checks).
ensure_runtime_packages() {
  local need=(etcd-server openssl curl)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  apt_install "${need[@]}"
}

# ---------------------------------------------------------------------------
# build

cached_ok() {
  [[ -x $BIN_DIR/kube-apiserver && -x $BIN_DIR/kube-controller-manager ]] || return 1
  "$BIN_DIR/kube-apiserver" --version 2>/dev/null | grep -qw "$K8S_VERSION" || return 1
  "$BIN_DIR/kube-controller-manager" --version 2>/dev/null | grep -qw "$K8S_VERSION"
}

build_work=""
cleanup_build() {
  if [[ -n $build_work && -d $build_work ]]; then
    # Go's module/build cache files are read-only; make them removable.
    chmod -R u+w "$build_work" 2>/dev/null || true
    rm -rf "$build_work"
  fi
}

cmd_build() {
  if cached_ok; then
    log "cached: $BIN_DIR ($("$BIN_DIR/kube-apiserver" --version))"
    return 0
  fi
  local t0=$SECONDS
  log "building Kubernetes $K8S_VERSION into $BIN_DIR (takes several minutes)"

  ensure_deb_src
  apt_install golang-1.19-go etcd-server golang-github-modern-go-reflect2-dev \
    golang-github-json-iterator-go-dev ca-certificates openssl curl
  [[ -x $GO_BIN ]] || die "$GO_BIN not found after installing golang-1.19-go"

  mkdir -p "$CACHE_DIR"
  # One build at a time; whoever waited may find the cache filled meanwhile.
  exec 9>"$CACHE_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build is running; waiting for its lock"
    flock 9
  fi
  if cached_ok; then
    log "cached: $BIN_DIR (built by a concurrent run)"
    return 0
  fi
  # Left over from an interrupted build (safe: we hold the lock).
  local old
  for old in "$CACHE_DIR"/build.*; do
    [[ -d $old ]] || continue
    log "removing leftover $old"
    chmod -R u+w "$old" 2>/dev/null || true
    rm -rf "$old"
  done
  # Work inside the cache dir so the final rename is on the same filesystem.
  build_work=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
  trap cleanup_build EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local src=$build_work/gopath/src/k8s.io/kubernetes

  log "downloading the kubernetes source package (apt-get source)"
  (cd "$build_work" && apt-get source --download-only kubernetes >&2)
  local orig
  orig=$(find "$build_work" -maxdepth 1 -name 'kubernetes_*really1.20.2.orig.tar.*' | head -n1)
  [[ -n $orig ]] || die "no kubernetes_*really1.20.2.orig tarball was downloaded: $(ls "$build_work")"
  log "unpacking $(basename "$orig")"
  mkdir -p "$build_work/unpack" "$(dirname "$src")"
  tar -xf "$orig" -C "$build_work/unpack"
  local top
  top=$(find "$build_work/unpack" -mindepth 1 -maxdepth 1 -type d | head -n1)
  [[ -n $top && -d $top/vendor && -d $top/cmd/kube-apiserver ]] \
    || die "unexpected tarball layout in $orig"
  mv "$top" "$src"

  # reflect2 v1.0.1 (vendored) breaks under Go >= 1.18: the apiserver dies with
  # "fatal error: fault" on the first custom-resource write. Use Debian's
  # newer reflect2 + json-iterator sources instead.
  log "replacing vendored modern-go/reflect2 and json-iterator/go with Debian's"
  local d
  for d in github.com/modern-go/reflect2 github.com/json-iterator/go; do
    [[ -d /usr/share/gocode/src/$d ]] || die "missing /usr/share/gocode/src/$d"
    rm -rf "${src:?}/vendor/$d"
    cp -rL "/usr/share/gocode/src/$d" "$src/vendor/$d"
    find "$src/vendor/$d" -name '*_test.go' -delete
  done

  export GOPATH=$build_work/gopath GO111MODULE=off CGO_ENABLED=0 GOFLAGS=""
  export PATH=/usr/lib/go-1.19/bin:$PATH
  cd "$src"

  log "building openapi-gen"
  "$GO_BIN" build -o "$build_work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen

  log "generating pkg/generated/openapi/zz_generated.openapi.go"
  local inputs
  inputs=$(grep -R -l --include='*.go' '^// +k8s:openapi-gen=true' pkg cmd vendor/k8s.io \
    | xargs -n1 dirname | sort -u \
    | grep -v -E '^vendor/k8s\.io/(code-generator|sample-apiserver|gengo|kube-openapi)(/|$)' \
    | grep -v -E '(^|/)testdata(/|$)' \
    | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  [[ -n $inputs ]] || die "found no packages tagged +k8s:openapi-gen=true"
  log "openapi-gen over $(tr ',' '\n' <<<"$inputs" | wc -l) packages"
  "$build_work/openapi-gen" \
    -i "$inputs" \
    -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r /dev/null >&2
  [[ -s pkg/generated/openapi/zz_generated.openapi.go ]] || die "openapi-gen produced nothing"

  local ldflags="-s -w" pkg
  for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
    k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$K8S_MAJOR"
    ldflags+=" -X $pkg.gitMinor=$K8S_MINOR -X $pkg.gitTreeState=clean"
  done
  mkdir -p "$build_work/bin"
  local c
  for c in kube-apiserver kube-controller-manager; do
    log "go build ./cmd/$c"
    "$GO_BIN" build -ldflags "$ldflags" -o "$build_work/bin/$c" "./cmd/$c"
  done
  "$build_work/bin/kube-apiserver" --version | grep -qw "$K8S_VERSION" \
    || die "built kube-apiserver does not report $K8S_VERSION"
  cd /

  # Atomic swap: the new bin/ appears in one rename.
  if [[ -d $BIN_DIR ]]; then
    mv -T "$BIN_DIR" "$build_work/old-bin"
  fi
  mv -T "$build_work/bin" "$BIN_DIR"
  cleanup_build
  build_work=""
  trap - EXIT INT TERM
  exec 9>&-
  log "built in $((SECONDS - t0))s: $BIN_DIR ($("$BIN_DIR/kube-apiserver" --version))"
}

# ---------------------------------------------------------------------------
# cluster helpers

# free_ports N — print N distinct free TCP ports on 127.0.0.1.
free_ports() {
  local n=$1
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  else
    local ports=() p
    while [[ ${#ports[@]} -lt $n ]]; do
      p=$((20000 + RANDOM % 40000))
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null \
        && [[ " ${ports[*]} " != *" $p "* ]]; then
        ports+=("$p")
      fi
    done
    echo "${ports[*]}"
  fi
}

# pid_of DIR NAME — print the recorded pid if that process is still alive and
# still the program we started (guards against pid reuse).
pid_of() {
  local dir=$1 name=$2 pid exe
  [[ -f $dir/$name.pid ]] || return 1
  pid=$(<"$dir/$name.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  [[ -z $exe || $(basename "${exe% (deleted)}") == "$name" ]] || return 1
  # A zombie is not running.
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z) != Z ]] || return 1
  echo "$pid"
}

start_bg() { # start_bg DIR NAME CMD... — detached, survives this script
  local dir=$1 name=$2
  shift 2
  log "starting $name (log: $dir/logs/$name.log)"
  setsid "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
  local pid=$! deadline=$((SECONDS + 60))
  echo "$pid" >"$dir/$name.pid"
  # Wait for the exec so pid_of's program-name check holds from now on (on a busy machine the
  # fork and two execs can take seconds; a name check before then would call it dead).
  while [[ $(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo x)") != "$name" ]]; do
    kill -0 "$pid" 2>/dev/null || fail_start "$dir" "$name" "$name exited right after it was started"
    ((SECONDS < deadline)) || fail_start "$dir" "$name" "$name did not start within 60s (pid $pid still runs $(readlink "/proc/$pid/exe" 2>/dev/null || echo '?'))"
    sleep 0.1
  done
}

fail_start() { # fail_start DIR NAME MSG
  local dir=$1 name=$2
  log "error: $3"
  log "---- last 40 lines of $dir/logs/$name.log ----"
  tail -n 40 "$dir/logs/$name.log" >&2 || true
  log "---- end of log; stopping what was started (logs kept in $dir/logs) ----"
  stop_all "$dir"
  exit 1
}

api_get() { # api_get DIR PATH — curl the apiserver with the admin token
  local dir=$1 path=$2
  curl -ksSf --max-time 5 -H "Authorization: Bearer $(<"$dir/token")" \
    "https://127.0.0.1:$(<"$dir/apiserver.port")$path"
}

# wait_for DIR NAME SECONDS DESC CMD... — poll CMD until it succeeds, failing
# early (with NAME's log) if NAME's process dies.
wait_for() {
  local dir=$1 name=$2 timeout=$3 desc=$4
  shift 4
  local deadline=$((SECONDS + timeout))
  log "waiting for $desc (up to ${timeout}s)"
  until "$@" >/dev/null 2>&1; do
    pid_of "$dir" "$name" >/dev/null || fail_start "$dir" "$name" "$name exited while waiting for $desc"
    ((SECONDS < deadline)) || fail_start "$dir" "$name" "timed out after ${timeout}s waiting for $desc"
    sleep 1
  done
}

stop_all() { # stop_all DIR — stop every recorded process, newest first
  local dir=$1 i name pid
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    name=${COMPONENTS[i]}
    if pid=$(pid_of "$dir" "$name"); then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      local n=0
      while pid_of "$dir" "$name" >/dev/null && ((n < 150)); do
        sleep 0.1
        n=$((n + 1))
      done
      if pid_of "$dir" "$name" >/dev/null; then
        log "$name (pid $pid) did not exit after 15s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        n=0
        while pid_of "$dir" "$name" >/dev/null && ((n < 50)); do
          sleep 0.1
          n=$((n + 1))
        done
      fi
    fi
    rm -f "$dir/$name.pid"
  done
}

etcd_healthy() { # etcd_healthy DIR
  local out
  out=$(curl -sS --max-time 3 "http://127.0.0.1:$(<"$1/etcd.port")/health") || return 1
  [[ $out == *'"health":"true"'* ]]
}

api_ready() { # api_ready DIR — /readyz answers "ok"
  local out
  out=$(api_get "$1" /readyz) || return 1
  [[ $out == ok ]]
}

healthy() { # healthy DIR — all three processes alive and /readyz ok
  local dir=$1 name
  [[ -f $dir/$MARKER && -f $dir/token && -f $dir/apiserver.port ]] || return 1
  for name in "${COMPONENTS[@]}"; do
    pid_of "$dir" "$name" >/dev/null || return 1
  done
  api_ready "$dir" 2>/dev/null
}

abs_dir() { # make DIR absolute without requiring it to exist
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

# ---------------------------------------------------------------------------
# commands

cmd_status() {
  local dir
  dir=$(abs_dir "${1:-$DEFAULT_DIR}")
  if healthy "$dir"; then
    log "healthy: $dir (apiserver https://127.0.0.1:$(<"$dir/apiserver.port"))"
    return 0
  fi
  log "not running or not healthy: $dir"
  return 1
}

cmd_down() {
  local dir
  dir=$(abs_dir "${1:-$DEFAULT_DIR}")
  if [[ ! -e $dir ]]; then
    log "nothing to stop: $dir does not exist"
    return 0
  fi
  if [[ ! -f $dir/$MARKER ]]; then
    if [[ -d $dir && -z $(ls -A "$dir") ]]; then
      rmdir "$dir"
      return 0
    fi
    die "$dir is not a test-cluster directory (no $MARKER); refusing to remove it"
  fi
  stop_all "$dir"
  log "removing $dir"
  rm -rf "${dir:?}"
  log "down"
}

cmd_up() {
  local dir
  dir=$(abs_dir "${1:-$DEFAULT_DIR}")
  if healthy "$dir"; then
    log "already up and healthy in $dir"
    echo "$dir/kubeconfig"
    return 0
  fi
  if [[ -e $dir ]]; then
    if [[ -f $dir/$MARKER ]]; then
      log "found a stale cluster in $dir; cleaning it up"
      stop_all "$dir"
      rm -rf "${dir:?}"
    elif [[ -d $dir && -z $(ls -A "$dir") ]]; then
      :
    else
      die "$dir exists and is not a test-cluster directory; refusing to use it"
    fi
  fi

  # (not `cached_ok || cmd_build`: errexit is off inside a `||` operand)
  if ! cached_ok; then
    cmd_build
  fi
  ensure_runtime_packages
  command -v etcd >/dev/null 2>&1 || die "etcd not found on PATH"

  local t0=$SECONDS
  mkdir -p "$dir/logs" "$dir/certs"
  chmod 700 "$dir"
  touch "$dir/$MARKER"

  local ports etcd_port peer_port api_port
  ports=$(free_ports 3)
  read -r etcd_port peer_port api_port <<<"$ports"
  echo "$etcd_port" >"$dir/etcd.port"
  echo "$api_port" >"$dir/apiserver.port"
  log "ports: etcd=$etcd_port etcd-peer=$peer_port apiserver=$api_port"

  local token
  token=$(openssl rand -hex 24)
  echo "$token" >"$dir/token"
  echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  chmod 600 "$dir/token" "$dir/tokens.csv" "$dir/sa.key"

  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: openlsp-test
  cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
users:
- name: openlsp-test-admin
  user:
    token: $token
contexts:
- name: openlsp-test
  context:
    cluster: openlsp-test
    user: openlsp-test-admin
    namespace: default
current-context: openlsp-test
EOF
  chmod 600 "$dir/kubeconfig"
  echo "export OPENLSP_TEST_KUBECONFIG=$dir/kubeconfig" >"$dir/env"

  start_bg "$dir" etcd etcd \
    --name default \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" \
    --initial-cluster-state new
  wait_for "$dir" etcd 30 "etcd /health" etcd_healthy "$dir"

  start_bg "$dir" kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --secure-port="$api_port" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --cert-dir="$dir/certs" \
    --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/sa.pub" \
    --service-account-signing-key-file="$dir/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDRS" \
    --feature-gates="$FEATURE_GATES"
  wait_for "$dir" kube-apiserver 90 "kube-apiserver /readyz" api_ready "$dir"

  start_bg "$dir" kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$dir/kubeconfig" \
    --service-account-private-key-file="$dir/sa.key" \
    --root-ca-file="$dir/certs/apiserver.crt" \
    --leader-elect=false \
    --port=0 \
    --secure-port=0 \
    --feature-gates="$FEATURE_GATES" \
    --controllers='*,-nodeipam,-nodelifecycle,-ttl,-csrsigning,-csrapproving,-bootstrapsigner,-tokencleaner,-cloud-node-lifecycle'
  wait_for "$dir" kube-apiserver 60 "namespace default" \
    api_get "$dir" /api/v1/namespaces/default
  wait_for "$dir" kube-controller-manager 90 "ServiceAccount default/default (controller-manager)" \
    api_get "$dir" /api/v1/namespaces/default/serviceaccounts/default

  healthy "$dir" || fail_start "$dir" kube-apiserver "cluster is not healthy after start"
  log "up in $((SECONDS - t0))s: apiserver https://127.0.0.1:$api_port, state in $dir"
  log "kubeconfig: $dir/kubeconfig  (source $dir/env for OPENLSP_TEST_KUBECONFIG)"
  echo "$dir/kubeconfig"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    build) [[ $# -eq 0 ]] || { usage; exit 2; }; cmd_build ;;
    up) [[ $# -le 1 ]] || { usage; exit 2; }; cmd_up "$@" ;;
    down) [[ $# -le 1 ]] || { usage; exit 2; }; cmd_down "$@" ;;
    status) [[ $# -le 1 ]] || { usage; exit 2; }; cmd_status "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
