#!/usr/bin/env bash
# test-cluster.sh — build, cache, start and stop a real, local Kubernetes
# control plane (etcd + kube-apiserver v1.20.2 + kube-controller-manager) for
# openlsp's integration tests, optionally with a real node that runs pods.
#
# Everything comes from Debian's package archive: Go 1.19, etcd and the
# kubernetes source package (1.20.5+really1.20.2, vendor/ included), which also
# gives the tests their kubectl; the node's containerd, runc, CNI plugins and
# dnsmasq; the stand-in images (scripts/test-images.sh). No docker, no downloads
# from anywhere else.
#
# Usage:
#   scripts/test-cluster.sh build                  build + cache every binary (once)
#   scripts/test-cluster.sh kubectl                build + cache kubectl alone; print its path
#   scripts/test-cluster.sh up [--with-node] [DIR] start a cluster with state in DIR
#   scripts/test-cluster.sh down [DIR]             stop it, undo its host changes, remove DIR
#   scripts/test-cluster.sh status [DIR]           exit 0 if it is up and healthy
#   scripts/test-cluster.sh smoke [DIR]            with a node: a pod resolves Service names
#                                                  and reaches https://kubernetes.default.svc
#   scripts/test-cluster.sh host-clean [--fix]     exit 1 listing what a test node left on
#                                                  this host; --fix removes it
#   scripts/test-cluster.sh kill-apiserver DIR     fault injection for the tests: SIGKILL
#   scripts/test-cluster.sh stop-apiserver DIR       SIGSTOP (alive, answers nothing)
#   scripts/test-cluster.sh cont-apiserver DIR       SIGCONT
#   scripts/test-cluster.sh restart-apiserver DIR    start it again with the same flags and
#                                                    data, and wait until it is ready
#
# Environment:
#   OPENLSP_CACHE_DIR         cache root (default: $HOME/.cache/openlsp)
#   OPENLSP_TEST_CLUSTER_DIR  default DIR (default: /tmp/openlsp-test-cluster)
#   OPENLSP_TEST_NODE_WAIT    seconds `up --with-node` waits for another run's node
#                             to go away (default 1800; 0: fail at once)
#   OPENLSP_TEST_OPENLSP_BIN  openlsp binary for the openlsp.test/openlsp:local image
#                             (none: that image is not built)
#
# After `up`, DIR/kubeconfig is an admin kubeconfig (bearer token,
# insecure-skip-tls-verify, context "openlsp-test") and DIR/env exports
# OPENLSP_TEST_KUBECONFIG pointing at it. The last line `up` prints on stdout
# is the kubeconfig path; progress goes to stderr, prefixed "test-cluster:".
# The tests' kubectl is built from the same source (`kubectl`, which
# scripts/test-deps.sh runs and names in its env file as OPENLSP_TEST_KUBECTL).
#
# Without --with-node the cluster has no node and listens on 127.0.0.1 only.
#
# With --with-node (see docs/testing.md) the API server advertises the node's
# address, NODE_IP below, which `up` puts on the loopback device, and socat
# forwards that address's port to it: pods reach it through the `kubernetes`
# Service, the kubeconfig stays on 127.0.0.1, and no test traffic ever uses the
# machine's external address. The node "openlsp-node" is containerd + runc + the
# CNI bridge plugin, and kubelet, kube-scheduler and kube-proxy built from the same
# source tree as the API server; cluster DNS is dnsmasq fed by scripts/cluster-dns.py.
# Pods reach the pod network, the Service network and the node address, nothing
# else (a raw-table rule drops the rest), and containerd's registry traffic goes
# to a closed port: an image that is not one of the stand-ins is never pulled, its
# pod stays in ImagePullBackOff. DIR/env then also exports OPENLSP_TEST_NODE (the
# node name), OPENLSP_TEST_NODE_DISKS (a directory for the profiles' disks),
# OPENLSP_TEST_NODE_IMAGES (the stand-in references, space separated),
# OPENLSP_TEST_IMAGE_TOOLBOX / _PROMETHEUS / _OPENLSP.
# One node per host: the bridge, iptables chains and node address are host-wide,
# so `up --with-node` takes the lock NODE_LOCK for as long as the node lives, and
# first removes whatever a crashed run left. `down` undoes every host change:
# processes, mounts, network namespaces, cgroups, iptables chains, the bridge, the
# loopback address, the sysctls the kubelet and the CNI plugins set, and the host
# directories the kubelet and containerd create. `host-clean` checks.
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
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly MARKER=.openlsp-test-cluster
# Service CIDRs: IPv4 primary plus an IPv6 secondary (dual-stack, needs the
# IPv6DualStack feature gate on 1.20) so Services with
# ipFamilyPolicy: PreferDualStack get both families.
readonly SERVICE_CIDRS=10.96.0.0/16,fd00:10:96::/112
readonly FEATURE_GATES=IPv6DualStack=true
# Order matters: started left to right, stopped right to left.
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager)
readonly CONTROL_PLANE_BINS=(kube-apiserver kube-controller-manager)
# The client the tests run, of the same version as the server, so no other
# kubectl on the machine stands in for it (scripts/test-deps.sh names it).
readonly CLIENT_BINS=(kubectl)

# The node. Its names and addresses are host-wide, hence the lock; they are also
# how `host-clean` recognises what a crashed run left behind.
readonly NODE_BINS=(kubelet kube-scheduler kube-proxy)
readonly PAUSE_VERSION=3.4.1
readonly NODE_NAME=openlsp-node
# Lab-owned addresses (never the machine's own): the node and API server address,
# put on the loopback device (the kubelet refuses 127.0.0.0/8, and this kind of
# machine has no dummy links), and the pod network behind the node's bridge.
readonly NODE_IP=10.89.7.1
readonly POD_CIDR=10.89.8.0/24
readonly BRIDGE=openlsp0
readonly BRIDGE_IP=10.89.8.1
readonly SERVICE_CIDR_V4=${SERVICE_CIDRS%%,*}
readonly NODE_LOCK=/run/lock/openlsp-test-node.lock
readonly NODE_WAIT=${OPENLSP_TEST_NODE_WAIT:-1800}
# What `up --with-node` saved about the host before changing it (owner, sysctls,
# which host directories existed); `down` restores it and removes the directory.
readonly HOST_STATE=/run/openlsp-test-node
# Every process the node starts carries this variable (containerd passes it on to
# its shims), so leftovers are found even when their pid files are gone.
readonly NODE_MARK=OPENLSP_TEST_NODE_DIR
# iptables chains: ours, the kubelet's and kube-proxy's, and the CNI plugins'.
readonly NODE_CHAINS='OPENLSP-|KUBE-|CNI-'
# The sysctls the kubelet (kernel tunables), kube-proxy (route_localnet) and the
# bridge plugin (forwarding) change; saved before and restored after.
readonly NODE_SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Host paths the kubelet, containerd and the CNI plugins use whatever they are
# configured with; removed at `down` unless they existed before `up`.
readonly NODE_HOST_PATHS=(/var/log/pods /var/log/containers /run/netns /var/lib/cni
  /run/containerd /var/lib/kubelet /run/xtables.lock)
# Started left to right after the control plane, stopped right to left before it.
readonly NODE_COMPONENTS=(containerd api-forward kube-proxy kube-scheduler cluster-dns dnsmasq kubelet)

if [[ $EUID -eq 0 ]]; then
  SUDO=""
else
  SUDO="sudo"
fi

log() { printf 'test-cluster: %s\n' "$*" >&2; }
log_lines() { # log_lines PREFIX TEXT — log each line of TEXT after PREFIX
  local line
  while IFS= read -r line; do log "$1$line"; done <<<"$2"
}
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
usage: $0 build | kubectl | up [--with-node] [DIR] | down [DIR] | status [DIR] | smoke [DIR] | host-clean [--fix]
       $0 kill-apiserver | stop-apiserver | cont-apiserver | restart-apiserver DIR
  build       install Debian packages and build kube-apiserver, kube-controller-manager,
              kubectl, kubelet, kube-scheduler, kube-proxy $K8S_VERSION and pause into $BIN_DIR
              (once; cached)
  kubectl     build kubectl $K8S_VERSION alone (once; cached) and print its path
  up          start etcd + kube-apiserver + kube-controller-manager on free loopback
              ports, state in DIR (default $DEFAULT_DIR); prints the kubeconfig path
  up --with-node
              the same, plus the real node $NODE_NAME ($NODE_IP) that runs the
              stand-in images (scripts/test-images.sh); one node per host
  down        stop the processes, undo the node's host changes and remove DIR
  status      exit 0 if the cluster in DIR is up and healthy (and its node Ready)
  smoke       with a node: a pod resolves Service names and reaches the API server
              through the kubernetes Service
  host-clean  exit 1 listing whatever a test node left on this host; --fix removes it
              (only while no node is up)
  kill-apiserver, stop-apiserver, cont-apiserver
              send kube-apiserver SIGKILL, SIGSTOP or SIGCONT (fault injection, for tests
              that start a cluster of their own)
  restart-apiserver
              start kube-apiserver again with the same flags and data; wait until ready
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

# Packages the node runs on (the container runtime, CNI plugins, iptables for
# the kubelet and kube-proxy, dnsmasq for cluster DNS) and the image builds need.
ensure_node_packages() {
  apt_install containerd runc containernetworking-plugins iptables conntrack \
    dnsmasq-base socat nftables iproute2 procps util-linux debootstrap debian-archive-keyring binutils
}

# ---------------------------------------------------------------------------
# build

reports_version() { # reports_version PATH — the Kubernetes binary at PATH says it is K8S_VERSION
  local out
  case ${1##*/} in
    kubectl) out=$("$1" version --client --short 2>/dev/null) ;;
    *) out=$("$1" --version 2>/dev/null) ;;
  esac
  grep -qw "$K8S_VERSION" <<<"$out"
}

bins_ok() { # bins_ok NAME... — each is in BIN_DIR and reports K8S_VERSION
  local c
  for c in "$@"; do
    [[ -x $BIN_DIR/$c ]] || return 1
    reports_version "$BIN_DIR/$c" || return 1
  done
}

cached_ok() { bins_ok "${CONTROL_PLANE_BINS[@]}" "${CLIENT_BINS[@]}"; }

pause_ok() { [[ -x $BIN_DIR/pause ]] && "$BIN_DIR/pause" -v 2>&1 | grep -qw "v$PAUSE_VERSION"; }

node_cached_ok() { bins_ok "${NODE_BINS[@]}" && pause_ok; }

missing_bins() { # missing_bins NAME... — print those of NAME that BIN_DIR lacks
  local c
  for c in "$@"; do
    if [[ $c == pause ]]; then
      pause_ok || echo pause
    else
      bins_ok "$c" || echo "$c"
    fi
  done
}

build_work=""
cleanup_build() {
  if [[ -n $build_work && -d $build_work ]]; then
    # Go's module/build cache files are read-only; make them removable.
    chmod -R u+w "$build_work" 2>/dev/null || true
    rm -rf "$build_work"
  fi
}

# cmd_build [--control-plane | --client] — build whatever is missing of the
# control plane binaries, kubectl and (without an option) the node's, or of
# kubectl alone (--client), all from one source tree.
cmd_build() {
  local wanted=("${CONTROL_PLANE_BINS[@]}" "${CLIENT_BINS[@]}")
  case ${1:-} in
    --control-plane) ;;
    --client) wanted=("${CLIENT_BINS[@]}") ;;
    *) wanted+=("${NODE_BINS[@]}" pause) ;;
  esac
  local missing=() c
  mapfile -t missing < <(missing_bins "${wanted[@]}")
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "cached: $BIN_DIR (${wanted[*]}: $K8S_VERSION)"
    return 0
  fi
  local t0=$SECONDS
  log "building Kubernetes $K8S_VERSION (${missing[*]}) into $BIN_DIR (takes several minutes)"

  ensure_deb_src
  apt_install golang-1.19-go etcd-server golang-github-modern-go-reflect2-dev \
    golang-github-json-iterator-go-dev ca-certificates openssl curl
  [[ " ${missing[*]} " != *" pause "* ]] || apt_install gcc libc6-dev
  [[ -x $GO_BIN ]] || die "$GO_BIN not found after installing golang-1.19-go"

  mkdir -p "$CACHE_DIR"
  # One build at a time; whoever waited may find the cache filled meanwhile.
  exec 9>"$CACHE_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build is running; waiting for its lock"
    flock 9
  fi
  mapfile -t missing < <(missing_bins "${missing[@]}")
  if [[ ${#missing[@]} -eq 0 ]]; then
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
  "$GO_BIN" build -trimpath -o "$build_work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen

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
  # -trimpath keeps the build directory out of Go's cache keys: the build tree
  # has a new name every time, and without it a later build (the node's
  # binaries after the control plane's) would find nothing in the Go cache.
  for c in "${missing[@]}"; do
    if [[ $c == pause ]]; then
      # The pod sandbox's pause process, from the same source tree (C, static).
      log "gcc build/pause/linux/pause.c"
      gcc -Os -Wall -static -DVERSION="v$PAUSE_VERSION" -o "$build_work/bin/pause" build/pause/linux/pause.c
      strip "$build_work/bin/pause"
      continue
    fi
    log "go build ./cmd/$c"
    local t1=$SECONDS
    "$GO_BIN" build -trimpath -ldflags "$ldflags" -o "$build_work/bin/$c" "./cmd/$c"
    reports_version "$build_work/bin/$c" || die "built $c does not report $K8S_VERSION"
    log "built $c in $((SECONDS - t1))s"
  done
  cd /

  # Each binary appears in BIN_DIR in one rename, next to those already cached.
  mkdir -p "$BIN_DIR"
  for c in "${missing[@]}"; do
    mv -f "$build_work/bin/$c" "$BIN_DIR/$c"
  done
  cleanup_build
  build_work=""
  trap - EXIT INT TERM
  exec 9>&-
  log "built in $((SECONDS - t0))s: ${missing[*]} in $BIN_DIR"
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

# prog_of NAME — the program a component runs as (a glob), when not its name.
prog_of() {
  case $1 in
    node-lock) echo sleep ;;
    api-forward) echo socat ;;
    cluster-dns) echo 'python3*' ;;
    *) echo "$1" ;;
  esac
}

# pid_of DIR NAME — print the recorded pid if that process is still alive and
# still the program we started (guards against pid reuse).
pid_of() {
  local dir=$1 name=$2 pid exe prog
  [[ -f $dir/$name.pid ]] || return 1
  pid=$(<"$dir/$name.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  prog=$(prog_of "$name")
  # shellcheck disable=SC2053 # prog is a glob
  [[ -z $exe || $(basename "${exe% (deleted)}") == $prog ]] || return 1
  # A zombie is not running.
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z) != Z ]] || return 1
  echo "$pid"
}

start_bg() { # start_bg DIR NAME CMD... — detached, survives this script
  local dir=$1 name=$2
  shift 2
  log "starting $name (log: $dir/logs/$name.log)"
  setsid "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
  local pid=$! deadline=$((SECONDS + 60)) prog
  echo "$pid" >"$dir/$name.pid"
  prog=$(prog_of "$name")
  # Wait for the exec so pid_of's program-name check holds from now on (on a busy machine the
  # fork and two execs can take seconds; a name check before then would call it dead).
  # shellcheck disable=SC2053 # prog is a glob
  while [[ $(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo x)") != $prog ]]; do
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
    "$(api_url "$dir")$path"
}

api_url() { echo "https://127.0.0.1:$(<"$1/apiserver.port")"; }

# api DIR METHOD PATH [BODY] — any request; BODY is JSON, or a merge patch for
# PATCH. Prints the response; fails on an HTTP error, with the server's message.
api() {
  local dir=$1 method=$2 path=$3 body=${4:-} type=application/json out
  [[ $method == PATCH ]] && type=application/merge-patch+json
  local args=(-ksS --max-time 30 -X "$method" -H "Authorization: Bearer $(<"$dir/token")"
    -H "Content-Type: $type" -w '\n%{http_code}')
  [[ -n $body ]] && args+=(--data-binary "$body")
  out=$(curl "${args[@]}" "$(api_url "$dir")$path") || return 1
  if [[ ${out##*$'\n'} != 2?? ]]; then
    log "$method $path: HTTP ${out##*$'\n'}: ${out%$'\n'*}"
    return 1
  fi
  printf '%s\n' "${out%$'\n'*}"
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

stop_one() { # stop_one DIR NAME — TERM, wait up to 15 s, then KILL
  local dir=$1 name=$2 pid n=0
  if pid=$(pid_of "$dir" "$name"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
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
}

stop_all() { # stop_all DIR — stop the node (if any), then every control plane process, newest first
  local dir=$1 i
  node_down "$dir"
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_one "$dir" "${COMPONENTS[i]}"
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
# the node: host lock, host state, leftovers

node_owner() { # who holds the node: the DIR recorded when its lock was taken
  if [[ -f $HOST_STATE/owner ]]; then
    echo "the cluster in $(<"$HOST_STATE/owner") (since $(date -r "$HOST_STATE/owner" '+%F %T'))"
  else
    echo "another run"
  fi
}

# node_acquire DIR — take the host's node lock (waiting up to NODE_WAIT seconds
# for another run's node), remove what a crashed run left, record the host state
# that `down` restores, and put the node address on the loopback device.
node_acquire() {
  local dir=$1 fd deadline waited=0 left
  deadline=$((SECONDS + NODE_WAIT))
  while :; do
    exec {fd}>>"$NODE_LOCK"
    # `down` removes the lock file while it still holds it: a lock taken on a
    # file that is no longer NODE_LOCK is no lock, so check and start over.
    if flock -n "$fd" \
      && [[ $(stat -c %i "$NODE_LOCK" 2>/dev/null) == "$(stat -L -c %i "/dev/fd/$fd")" ]]; then
      break
    fi
    exec {fd}>&-
    if ((waited == 0)); then
      log "one test node per host, and $(node_owner) has it; waiting up to ${NODE_WAIT}s (OPENLSP_TEST_NODE_WAIT)"
    fi
    ((SECONDS < deadline)) || die "the test node is still in use by $(node_owner), which holds $NODE_LOCK. Wait for that run to end, or, if it is gone, stop it: $0 down $(cat "$HOST_STATE/owner" 2>/dev/null || echo '<its DIR>')"
    waited=1
    sleep 2
  done
  # A small process inherits the locked descriptor and holds it as long as the
  # node lives, whatever happens to this script; `down` ends it last.
  start_bg "$dir" node-lock sleep infinity
  exec {fd}>&-

  local foreign
  if foreign=$(foreign_kubelet); then
    node_release "$dir"
    die "$foreign; the test node would fight it, so it does not start on this host"
  fi
  left=$(host_leftovers --mine)
  if [[ -n $left ]]; then
    log "a previous test node left these on this host; removing them:"
    log_lines '  ' "$left"
    host_cleanup
    left=$(host_leftovers --mine)
    if [[ -n $left ]]; then
      node_release "$dir"
      die "could not clean up after the previous test node: $(paste -sd ';' <<<"$left")"
    fi
  fi

  # Saved before anything changes; `down` (or the next run, after a crash) restores it.
  mkdir -m 0700 "$HOST_STATE"
  local k p
  for k in "${NODE_SYSCTLS[@]}"; do
    sysctl -n "$k" >/dev/null 2>&1 && echo "$k=$(sysctl -n "$k")"
  done >"$HOST_STATE/sysctl.saved"
  for p in "${NODE_HOST_PATHS[@]}"; do
    if [[ -e $p ]]; then echo "$p existed"; else echo "$p new"; fi
  done >"$HOST_STATE/paths"
  # iptables (nf_tables backend) creates a table when a chain is first added to
  # it, and removing the chains leaves the table: note which ones exist now.
  nft list tables >"$HOST_STATE/nft-tables" 2>/dev/null || true
  echo "$dir" >"$HOST_STATE/owner"
  ip addr add "$NODE_IP/32" dev lo
}

# new_nft_tables — "FAMILY NAME" of the nf_tables tables created since node_acquire.
new_nft_tables() {
  [[ -f $HOST_STATE/nft-tables ]] && command -v nft >/dev/null 2>&1 || return 0
  nft list tables 2>/dev/null | grep -vxF -f "$HOST_STATE/nft-tables" | awk '{print $2, $3}' || true
}

# node_release DIR — give the host's node lock back (after host_cleanup).
node_release() {
  # Remove the file while its lock is still held (see node_acquire), then end the holder.
  rm -f "$NODE_LOCK"
  stop_one "$1" node-lock
}

# marked_pids [COMM] — processes the node started (they carry NODE_MARK), or
# those of them named COMM.
marked_pids() {
  local f pid
  grep -lzs "^$NODE_MARK=" /proc/[0-9]*/environ 2>/dev/null | while read -r f; do
    pid=${f#/proc/}
    pid=${pid%/environ}
    [[ -z ${1:-} || $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] && echo "$pid"
  done
  return 0
}

kill_wait() { # kill_wait PID... — TERM, up to 10 s, then KILL
  [[ $# -gt 0 ]] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local n=0 p alive
  while ((n < 100)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
    n=$((n + 1))
  done
  kill -KILL "$@" 2>/dev/null || true
  sleep 0.5
}

# The kubelet (cgroupfs driver) puts every pod under /kubepods in each hierarchy.
kubepods_cgroups() { compgen -G '/sys/fs/cgroup/*/kubepods' || true; }

kubepods_pids() {
  local c
  for c in $(kubepods_cgroups); do
    find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}

# Mounts the node makes: under DIR/openlsp-node (pod volumes, container root
# filesystems, since containerd's state is there) and the pods' network namespaces.
node_mounts() {
  awk '$2 ~ /\/openlsp-node(\/|$)/ || $2 ~ /^\/run\/netns\/cni-/ {print $2}' /proc/mounts | sort -r
}

# foreign_kubelet — say so (exit 0) if a kubelet that is not a test node's runs
# here, or ran and left pods: its pods are in the same kubepods cgroups, so the
# test node's cleanup would kill them. The saved host state or a marked process
# is the evidence that kubepods is ours.
foreign_kubelet() {
  [[ -d $HOST_STATE || -n $(marked_pids) ]] && return 1
  local p
  for p in $(pgrep -x kubelet || true); do
    echo "a kubelet that is not the test node's runs here (pid $p)"
    return 0
  done
  [[ -n $(kubepods_cgroups) ]] || return 1
  echo "kubepods cgroups exist, and no test node made them: another kubelet runs pods here"
}

# iptables_node_rules V TABLE — the iptables-restore lines that remove the
# node's chains (ours, the kubelet's, kube-proxy's, the CNI plugins') and every
# jump to them from the built-in chains; nothing else in the table is touched.
iptables_node_rules() {
  local v=$1 t=$2 save chains jumps c
  save=$("$v-save" -t "$t" 2>/dev/null) || return 0
  chains=$(sed -n -E "s/^:(($NODE_CHAINS)[^ ]*) .*/\1/p" <<<"$save")
  jumps=$(grep -E "^-A .* -[jg] ($NODE_CHAINS)" <<<"$save" | grep -vE "^-A ($NODE_CHAINS)" | sed 's/^-A /-D /' || true)
  [[ -n $chains || -n $jumps ]] || return 0
  echo "*$t"
  [[ -z $jumps ]] || echo "$jumps"
  for c in $chains; do echo "-F $c"; done
  for c in $chains; do echo "-X $c"; done
  echo COMMIT
}

# host_leftovers [--mine] — one line per thing a test node changed on this host
# that is still there; nothing when the host is clean. --mine: the caller holds
# the node lock, so the lock and its holder do not count.
host_leftovers() {
  local mine=${1:-} p c m v t n k want have path state
  if [[ -z $mine && -e $NODE_LOCK ]]; then
    if flock -n "$NODE_LOCK" true; then
      echo "lock file $NODE_LOCK (stale)"
    else
      echo "a test node is up: $(node_owner) holds $NODE_LOCK"
    fi
  fi
  for p in $(marked_pids); do
    echo "process $p ($(cat "/proc/$p/comm" 2>/dev/null))"
  done
  for c in $(kubepods_cgroups); do
    n=$(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | wc -l)
    echo "cgroup $c ($n processes)"
  done
  for m in $(node_mounts); do echo "mount $m"; done
  for m in /run/netns/cni-*; do [[ -e $m ]] && echo "network namespace $m"; done
  for v in iptables ip6tables; do
    command -v "$v-save" >/dev/null 2>&1 || continue
    for t in raw mangle nat filter; do
      n=$(iptables_node_rules "$v" "$t" | grep -c '^-[DX]' || true)
      ((n == 0)) || echo "$v -t $t: $n of the node's chains and jumps ($(iptables_node_rules "$v" "$t" | sed -n 's/^-X //p' | head -n 3 | paste -sd ' ')...)"
    done
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && echo "link $BRIDGE"
  ip -4 addr show dev lo | grep -q " $NODE_IP/" && echo "address $NODE_IP on lo"
  if [[ -d $HOST_STATE ]]; then
    echo "node state $HOST_STATE (of $(cat "$HOST_STATE/owner" 2>/dev/null || echo '?'))"
    if [[ -f $HOST_STATE/sysctl.saved ]]; then
      while IFS='=' read -r k want; do
        have=$(sysctl -n "$k" 2>/dev/null || true)
        [[ $have == "$want" ]] || echo "sysctl $k=$have (was $want)"
      done <"$HOST_STATE/sysctl.saved"
    fi
    if [[ -f $HOST_STATE/paths ]]; then
      while read -r path state; do
        [[ $state == new && -e $path ]] && echo "path $path (created by the node)"
      done <"$HOST_STATE/paths"
    fi
    while read -r k want; do
      [[ -n $want ]] && echo "nf_tables table $k $want (created by the node)"
    done < <(new_nft_tables)
  fi
  # What only a kubelet writes, whatever the saved state says.
  for p in /var/log/pods/* /var/log/containers/* /var/lib/cni/results/"$NODE_NAME"-* \
    /var/lib/kubelet/device-plugins/kubelet.sock; do
    [[ -e $p || -L $p ]] && echo "path $p"
  done
  return 0
}

# host_cleanup — undo every host change of a test node, whether its run ended
# well or not. The caller holds the node lock. Safe to repeat.
host_cleanup() {
  local p m path state k v t n foreign
  if foreign=$(foreign_kubelet); then
    die "$foreign; not cleaning up for it"
  fi
  # The kubelet first (it would restart containers), then the containers (by
  # cgroup: they do not carry the mark), then containerd, its shims and the rest.
  # shellcheck disable=SC2046 # pids
  kill_wait $(marked_pids kubelet)
  # shellcheck disable=SC2046
  kill -KILL $(kubepods_pids) 2>/dev/null || true
  # shellcheck disable=SC2046
  kill_wait $(marked_pids)
  for ((n = 0; n < 50; n++)); do
    [[ -z $(kubepods_pids) ]] && break
    # shellcheck disable=SC2046
    kill -KILL $(kubepods_pids) 2>/dev/null || true
    sleep 0.1
  done
  for m in $(kubepods_cgroups); do
    find "$m" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  for m in $(node_mounts); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
  done
  rm -f /run/netns/cni-*
  for v in iptables ip6tables; do
    command -v "$v-restore" >/dev/null 2>&1 || continue
    for t in raw mangle nat filter; do
      iptables_node_rules "$v" "$t" | "$v-restore" --noflush 2>/dev/null \
        || log "warning: could not remove the node's $v rules from table $t"
    done
  done
  if command -v conntrack >/dev/null 2>&1; then # the pods' connections, not expired yet
    conntrack -D -s "$POD_CIDR" >/dev/null 2>&1 || true
    conntrack -D -d "$POD_CIDR" >/dev/null 2>&1 || true
  fi
  ip link del "$BRIDGE" 2>/dev/null || true
  ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
  local family table
  while read -r family table; do
    # Only a table with nothing but empty chains left: never someone else's rules.
    [[ -n $table ]] || continue
    if nft list table "$family" "$table" | awk '$1 !~ /^(table|chain|type|})$/ && NF {found = 1} END {exit found}'; then
      nft delete table "$family" "$table"
    else
      log "warning: nf_tables table $family $table has rules that are not the node's; left in place"
    fi
  done < <(new_nft_tables)
  if [[ -f $HOST_STATE/paths ]]; then
    while read -r path state; do
      if [[ $state == new ]]; then
        rm -rf --one-file-system "$path"
      elif [[ -d $path && $path == /var/* ]]; then
        # What the node added to a kubelet directory that was there before. Not in
        # /run/containerd, where a system containerd (docker's) keeps its own.
        find "$path" -mindepth 1 -maxdepth 1 -newer "$HOST_STATE/owner" -exec rm -rf --one-file-system {} +
      fi
    done <"$HOST_STATE/paths"
  fi
  if [[ -f $HOST_STATE/sysctl.saved ]]; then
    while IFS='=' read -r k v; do
      sysctl -qw "$k=$v" 2>/dev/null || log "warning: cannot restore sysctl $k=$v"
    done <"$HOST_STATE/sysctl.saved"
  fi
  rm -rf "$HOST_STATE"
}

# ---------------------------------------------------------------------------
# the node: start and stop

node_bg() { # node_bg DIR NAME CMD... — start_bg with the node's mark in the environment
  local dir=$1 name=$2
  shift 2
  start_bg "$dir" "$name" env "$NODE_MARK=$dir" "$@"
}

node_ctr() { # node_ctr DIR ARGS... — ctr on the node's containerd, namespace k8s.io (the CRI's)
  local dir=$1
  shift
  ctr --address "$dir/openlsp-node/run/containerd.sock" --namespace k8s.io "$@"
}

node_json() { # node_json DIR PYTHON-EXPR — evaluate EXPR on the Node object `n`
  api_get "$1" "/api/v1/nodes/$NODE_NAME" 2>/dev/null \
    | python3 -c 'import json, sys; n = json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}

node_ready() {
  [[ $(node_json "$1" '[c["status"] for c in n["status"].get("conditions", []) if c["type"] == "Ready"]') == "['True']" ]]
}

node_write_configs() { # node_write_configs DIR SANDBOX-IMAGE
  local dir=$1 nd=$1/openlsp-node sandbox=$2
  cat >"$nd/containerd.toml" <<EOF
# containerd for the openlsp test node (scripts/test-cluster.sh up --with-node).
version = 2
root = "$nd/containerd/root"
state = "$nd/containerd/state"
[grpc]
  address = "$nd/run/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$nd/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox"
  stream_server_address = "127.0.0.1"
  disable_apparmor = true
  # This kind of machine lacks CAP_SYS_RESOURCE, so nothing may lower an
  # oom_score_adj: the pause container's -998 failed every sandbox with "can't get
  # final child's PID from pipe: EOF". Clamp to containerd's own score instead.
  restrict_oom_score_adj = true
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nd/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$nd/runc"
EOF
  # No ipMasq: pods only talk to addresses of this machine, which route back to
  # the bridge. hostPorts are mapped on the node address only, never on every
  # local address (the portmap plugin's default would take e.g. 127.0.0.1:8333
  # from whatever else runs here).
  cat >"$nd/cni/net.d/10-openlsp-node.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$NODE_NAME",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$nd/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$BRIDGE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}, "conditionsV4": ["-d", "$NODE_IP/32"]}
  ]
}
EOF
  # The pods' upstream resolver (dnsPolicy Default) is cluster DNS too: no query
  # leaves the machine, and no search domain of the host's leaks in.
  echo "nameserver $BRIDGE_IP" >"$nd/resolv.conf"
  cat >"$nd/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
# On the node address: the API server reaches the kubelet (logs, exec) there,
# as its InternalIP (--kubelet-preferred-address-types).
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: $NODE_IP
healthzPort: 10248
# The API server has no kubelet client certificate; nothing but it and the pods
# can reach this address, and the pods are kept off these ports.
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
clusterDNS: ["$BRIDGE_IP"]
clusterDomain: cluster.local
resolvConf: $nd/resolv.conf
serializeImagePulls: false
# The stand-in images are imported, never pulled: no disk-pressure eviction and
# no image garbage collection on a shared machine's disk.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Quicker than the defaults, for tests: ConfigMap/Secret volume updates and the
# node's first Ready.
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 4s
EOF
}

# node_up DIR IMAGES — start the node; IMAGES is test-images.sh's "REF<TAB>ARCHIVE" list.
# The caller holds the node lock (node_acquire) and the control plane is up.
node_up() {
  local dir=$1 images=$2 nd=$1/openlsp-node t0=$SECONDS t1 ref archive sandbox
  mkdir -p "$nd"/{containerd,run,runc,kubelet,cni/net.d,cni/ipam,dns} "$dir/disks"
  sandbox=$(awk -F'\t' '$1 ~ /\/pause:/ {print $1}' <<<"$images")
  [[ -n $sandbox ]] || die "test-images.sh built no pause image"
  node_write_configs "$dir" "$sandbox"

  # The bridge exists before the first pod, so dnsmasq listens on it from the start.
  ip link add "$BRIDGE" type bridge
  ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Pods reach the pod network, the Services and the node address (the API server,
  # NodePorts, hostPorts), nothing else: no test traffic leaves the machine, and
  # the kubelet's and kube-proxy's ports stay closed to them.
  iptables -t raw -N OPENLSP-NODE-EGRESS
  iptables -t raw -A OPENLSP-NODE-EGRESS -d "$POD_CIDR" -j RETURN
  iptables -t raw -A OPENLSP-NODE-EGRESS -d "$SERVICE_CIDR_V4" -j RETURN
  iptables -t raw -A OPENLSP-NODE-EGRESS -d "$NODE_IP/32" -p tcp -m multiport --dports 10248:10250,10256 -j DROP
  iptables -t raw -A OPENLSP-NODE-EGRESS -d "$NODE_IP/32" -j RETURN
  iptables -t raw -A OPENLSP-NODE-EGRESS -j DROP
  iptables -t raw -A PREROUTING -s "$POD_CIDR" -j OPENLSP-NODE-EGRESS
  # Pod to Service traffic is forwarded through the host (kube-proxy's DNAT).
  sysctl -qw net.ipv4.ip_forward=1

  # containerd's registry requests go to a closed port on the node address: an
  # image that is not imported is never fetched from anywhere.
  node_bg "$dir" containerd env HTTP_PROXY="http://$NODE_IP:9" HTTPS_PROXY="http://$NODE_IP:9" \
    NO_PROXY= containerd --config "$nd/containerd.toml"
  wait_for "$dir" containerd 30 "containerd" node_ctr "$dir" version

  t1=$SECONDS
  # Imported without unpacking: the CRI unpacks an image when a pod first uses it.
  while IFS=$'\t' read -r ref archive; do
    node_ctr "$dir" images import --no-unpack "$archive" >/dev/null \
      || fail_start "$dir" containerd "importing $archive ($ref) failed"
    echo "$ref" >>"$nd/images"
  done <<<"$images"
  log "imported $(wc -l <"$nd/images") images in $((SECONDS - t1))s"

  # The API server listens on 127.0.0.1 (one --bind-address, and never the
  # machine's external address); pods reach it on the node address, which it
  # advertises as the kubernetes Service's endpoint.
  local port
  port=$(<"$dir/apiserver.port")
  node_bg "$dir" api-forward socat "TCP-LISTEN:$port,bind=$NODE_IP,reuseaddr,fork" "TCP:127.0.0.1:$port"
  node_bg "$dir" kube-proxy "$BIN_DIR/kube-proxy" \
    --kubeconfig="$dir/kubeconfig" \
    --hostname-override="$NODE_NAME" \
    --proxy-mode=iptables \
    --cluster-cidr="$POD_CIDR" \
    --bind-address="$NODE_IP" \
    --nodeport-addresses="$NODE_IP/32" \
    --metrics-bind-address="$NODE_IP:10249" \
    --healthz-bind-address="$NODE_IP:10256" \
    --oom-score-adj=0 \
    --conntrack-max-per-core=0 \
    --conntrack-tcp-timeout-established=0 \
    --conntrack-tcp-timeout-close-wait=0
  node_bg "$dir" kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig="$dir/kubeconfig" \
    --leader-elect=false \
    --port=0 \
    --secure-port=0
  node_bg "$dir" cluster-dns python3 "$SCRIPT_DIR/cluster-dns.py" \
    "$(api_url "$dir")" "$dir/token" "$nd/dns/services.hosts"
  node_bg "$dir" dnsmasq dnsmasq \
    --keep-in-foreground --conf-file=/dev/null --pid-file= --user=root --group=root \
    --listen-address="$BRIDGE_IP" --bind-interfaces \
    --no-resolv --no-hosts --hostsdir="$nd/dns" --local=/cluster.local/ \
    --log-facility=-
  node_bg "$dir" kubelet "$BIN_DIR/kubelet" \
    --config="$nd/kubelet.yaml" \
    --kubeconfig="$dir/kubeconfig" \
    --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" \
    --root-dir="$nd/kubelet" \
    --cert-dir="$nd/kubelet/pki" \
    --volume-plugin-dir="$nd/kubelet/volume-plugins" \
    --container-runtime=remote \
    --container-runtime-endpoint="unix://$nd/run/containerd.sock"
  t1=$SECONDS
  wait_for "$dir" kubelet 120 "node $NODE_NAME Ready" node_ready "$dir"
  log "node $NODE_NAME Ready after $((SECONDS - t1))s"
  # The node lifecycle controller, which lifts the not-ready taint the kubelet
  # registers with, is not running (nothing here could evict pods anyway).
  local taints
  taints=$(node_json "$dir" 'json.dumps({"spec": {"taints": [t for t in n["spec"].get("taints", []) if t["key"] != "node.kubernetes.io/not-ready"] or None}})')
  api "$dir" PATCH "/api/v1/nodes/$NODE_NAME" "$taints" >/dev/null \
    || fail_start "$dir" kubelet "could not remove the not-ready taint"
  log "node up in $((SECONDS - t0))s"
}

# node_down DIR — stop DIR's node (if it has one) and, if DIR owns the host's
# node, undo every host change and give the lock back.
host_dirty=0
node_down() {
  local dir=$1 i
  [[ -d $dir/openlsp-node || -f $dir/node-lock.pid ]] || return 0
  for ((i = ${#NODE_COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_one "$dir" "${NODE_COMPONENTS[i]}"
  done
  if [[ $(cat "$HOST_STATE/owner" 2>/dev/null) == "$dir" ]]; then
    local fd="" left
    if ! pid_of "$dir" node-lock >/dev/null; then
      # The lock's holder is gone (killed?), so the lock is free: take it.
      exec {fd}>>"$NODE_LOCK"
      flock -n "$fd" || die "the host's node lock is held, yet its state names $dir; see: $0 host-clean"
    fi
    log "undoing the node's host changes"
    host_cleanup
    # Checked while the lock is still ours: afterwards the host may hold another run's node.
    left=$(host_leftovers --mine)
    node_release "$dir"
    [[ -z $fd ]] || exec {fd}>&-
    if [[ -n $left ]]; then
      log "error: the node's host changes were not all undone:"
      log_lines '  ' "$left"
      host_dirty=1
    fi
  fi
  rm -f "$dir/node-lock.pid"
}

node_healthy() { # node_healthy DIR — every node process alive and the node Ready
  local dir=$1 name
  [[ -d $dir/openlsp-node ]] || return 1
  for name in "${NODE_COMPONENTS[@]}" node-lock; do
    pid_of "$dir" "$name" >/dev/null || return 1
  done
  node_ready "$dir"
}

# ---------------------------------------------------------------------------
# commands

cmd_status() {
  local dir
  dir=$(abs_dir "${1:-$DEFAULT_DIR}")
  if healthy "$dir"; then
    if [[ -d $dir/openlsp-node ]]; then
      node_healthy "$dir" || { log "the control plane is healthy, its node $NODE_NAME is not: $dir"; return 1; }
      log "healthy: $dir (apiserver $(api_url "$dir"), node $NODE_NAME Ready)"
    else
      log "healthy: $dir (apiserver $(api_url "$dir"))"
    fi
    return 0
  fi
  log "not running or not healthy: $dir"
  return 1
}

# remove_dir DIR — rm -rf, but never through a mount: a pod's hostPath or local
# volume is a bind mount of a real directory under DIR/openlsp-node.
remove_dir() {
  local dir=$1 mounted
  mounted=$(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts)
  [[ -z $mounted ]] || die "not removing $dir: still mounted under it: $(paste -sd ' ' <<<"$mounted")"
  rm -rf --one-file-system "${dir:?}"
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
  remove_dir "$dir"
  ((host_dirty == 0)) || die "down: the host is not clean (see above; scripts/test-cluster.sh host-clean --fix)"
  log "down"
}

cmd_up() {
  local dir with_node=0
  if [[ ${1:-} == --with-node ]]; then
    with_node=1
    shift
  fi
  dir=$(abs_dir "${1:-$DEFAULT_DIR}")
  if healthy "$dir"; then
    if ((with_node)) && ! node_healthy "$dir"; then
      die "$dir is up without a (healthy) node; stop it first: $0 down $dir"
    fi
    log "already up and healthy in $dir"
    echo "$dir/kubeconfig"
    return 0
  fi
  if [[ -e $dir ]]; then
    if [[ -f $dir/$MARKER ]]; then
      log "found a stale cluster in $dir; cleaning it up"
      stop_all "$dir"
      remove_dir "$dir"
    elif [[ -d $dir && -z $(ls -A "$dir") ]]; then
      :
    else
      die "$dir exists and is not a test-cluster directory; refusing to use it"
    fi
  fi

  # (not `cached_ok || cmd_build`: errexit is off inside a `||` operand)
  if ((with_node)); then
    if ! cached_ok || ! node_cached_ok; then
      cmd_build
    fi
  elif ! cached_ok; then
    cmd_build --control-plane
  fi
  ensure_runtime_packages
  command -v etcd >/dev/null 2>&1 || die "etcd not found on PATH"

  local t0=$SECONDS images="" advertise=127.0.0.1
  if ((with_node)); then
    [[ $EUID -eq 0 ]] || die "--with-node needs root (containerd, iptables, mounts)"
    ensure_node_packages
    # Before the node lock: a cold image build takes minutes and needs no lock.
    local image_args=(--pause "$BIN_DIR/pause")
    [[ -z ${OPENLSP_TEST_OPENLSP_BIN:-} ]] || image_args+=(--openlsp "$OPENLSP_TEST_OPENLSP_BIN")
    images=$("$SCRIPT_DIR/test-images.sh" build "${image_args[@]}")
    [[ -n $images ]] || die "test-images.sh built no images"
    t0=$SECONDS
  fi

  mkdir -p "$dir/logs" "$dir/certs"
  chmod 700 "$dir"
  touch "$dir/$MARKER"

  if ((with_node)); then
    node_acquire "$dir"
    # The kubernetes Service's endpoint: the node address, where pods reach the
    # API server (node_up forwards it to 127.0.0.1, where it listens as without
    # a node, so the kubeconfig is the same in both modes).
    advertise=$NODE_IP
  fi

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

  # With a node, the API server reaches the kubelet at the node's InternalIP
  # (its Hostname, tried first by default, resolves nowhere).
  local node_flags=()
  ((with_node)) && node_flags+=(--kubelet-preferred-address-types=InternalIP)
  local apiserver=("$BIN_DIR/kube-apiserver"
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --secure-port="$api_port" \
    --bind-address=127.0.0.1 \
    --advertise-address="$advertise" \
    "${node_flags[@]}" \
    --cert-dir="$dir/certs" \
    --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/sa.pub" \
    --service-account-signing-key-file="$dir/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDRS" \
    --feature-gates="$FEATURE_GATES")
  # Kept for restart-apiserver, one argument per NUL-terminated field.
  printf '%s\0' "${apiserver[@]}" >"$dir/kube-apiserver.args"
  start_bg "$dir" kube-apiserver "${apiserver[@]}"
  wait_for "$dir" kube-apiserver 90 "kube-apiserver /readyz" api_ready "$dir"

  # With a node, a claim created in the same batch as its volume is bound within
  # a second or two, not at the binder's next 15 s pass: pods start sooner.
  local kcm_node_flags=()
  ((with_node)) && kcm_node_flags+=(--pvclaimbinder-sync-period=2s)
  start_bg "$dir" kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$dir/kubeconfig" \
    --service-account-private-key-file="$dir/sa.key" \
    --root-ca-file="$dir/certs/apiserver.crt" \
    --leader-elect=false \
    --port=0 \
    --secure-port=0 \
    --feature-gates="$FEATURE_GATES" \
    --controllers='*,-nodeipam,-nodelifecycle,-ttl,-csrsigning,-csrapproving,-bootstrapsigner,-tokencleaner,-cloud-node-lifecycle' \
    "${kcm_node_flags[@]}"
  wait_for "$dir" kube-apiserver 60 "namespace default" \
    api_get "$dir" /api/v1/namespaces/default
  wait_for "$dir" kube-controller-manager 90 "ServiceAccount default/default (controller-manager)" \
    api_get "$dir" /api/v1/namespaces/default/serviceaccounts/default

  healthy "$dir" || fail_start "$dir" kube-apiserver "cluster is not healthy after start"
  if ((with_node)); then
    node_up "$dir" "$images"
    local refs toolbox prometheus openlsp_ref
    refs=$(cut -f1 <<<"$images" | paste -sd ' ')
    toolbox=$(tr ' ' '\n' <<<"$refs" | grep '/toolbox:' || true)
    prometheus=$(tr ' ' '\n' <<<"$refs" | grep '/prometheus:' || true)
    openlsp_ref=$(tr ' ' '\n' <<<"$refs" | grep '/openlsp:' || true)
    {
      echo "export OPENLSP_TEST_NODE=$NODE_NAME"
      echo "export OPENLSP_TEST_NODE_DISKS=$dir/disks"
      echo "export OPENLSP_TEST_NODE_IMAGES='$refs'"
      echo "export OPENLSP_TEST_IMAGE_TOOLBOX=$toolbox"
      echo "export OPENLSP_TEST_IMAGE_PROMETHEUS=$prometheus"
      [[ -z $openlsp_ref ]] || echo "export OPENLSP_TEST_IMAGE_OPENLSP=$openlsp_ref"
    } >>"$dir/env"
  fi
  log "up in $((SECONDS - t0))s: apiserver https://127.0.0.1:$api_port, state in $dir"
  log "kubeconfig: $dir/kubeconfig  (source $dir/env for OPENLSP_TEST_KUBECONFIG)"
  echo "$dir/kubeconfig"
}

# cmd_smoke [DIR] — the node runs a pod that resolves Service names through
# cluster DNS, calls the API server through the kubernetes Service with TLS
# verified against the service account's CA (as in-cluster clients do), and
# cannot reach the machine's external address.
cmd_smoke() {
  local dir ns=openlsp-smoke t0=$SECONDS toolbox phase="" n log_text external
  dir=$(abs_dir "${1:-$DEFAULT_DIR}")
  node_healthy "$dir" || die "no healthy node in $dir (up --with-node first)"
  toolbox=$(grep '/toolbox:' "$dir/openlsp-node/images" || true)
  [[ -n $toolbox ]] || die "no toolbox image on the node"
  # The source address of the default route (a documentation address is looked
  # up, nothing is sent): the machine's external address.
  external=$(ip -4 route get 203.0.113.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  api "$dir" DELETE "/api/v1/namespaces/$ns" >/dev/null 2>&1 || true
  for ((n = 0; n < 60; n++)); do
    api_get "$dir" "/api/v1/namespaces/$ns" >/dev/null 2>&1 || break
    sleep 1
  done
  api "$dir" POST /api/v1/namespaces "{\"metadata\": {\"name\": \"$ns\"}}" >/dev/null
  wait_for "$dir" kube-controller-manager 60 "ServiceAccount $ns/default" \
    api_get "$dir" "/api/v1/namespaces/$ns/serviceaccounts/default"
  # curl tells a refused connection (exit 7: the packet got there) from one that
  # timed out (28: dropped on the way).
  # shellcheck disable=SC2016 # expanded in the pod
  local script='set -u
getent hosts kubernetes.default.svc.cluster.local || exit 1
sa=/var/run/secrets/kubernetes.io/serviceaccount
curl -sS --fail --max-time 10 --cacert $sa/ca.crt -H "Authorization: Bearer $(cat $sa/token)" https://kubernetes.default.svc/version || exit 1
echo
curl -s --connect-timeout 3 http://$NODE_IP:9/; rc=$?
[ $rc = 7 ] || { echo "node address: curl exit $rc, expected 7 (refused)"; exit 1; }
if [ -n "$EXTERNAL" ]; then
  curl -s --connect-timeout 3 http://$EXTERNAL:9/; rc=$?
  [ $rc = 28 ] || { echo "external address $EXTERNAL: curl exit $rc, expected 28 (dropped)"; exit 1; }
  echo "the external address $EXTERNAL is out of reach"
fi
echo smoke-ok'
  api "$dir" POST "/api/v1/namespaces/$ns/pods" "$(python3 -c '
import json, sys
print(json.dumps({"metadata": {"name": "smoke"}, "spec": {"restartPolicy": "Never", "containers": [{
    "name": "smoke", "image": sys.argv[1], "imagePullPolicy": "Never",
    "command": ["bash", "-c", sys.argv[2]],
    "env": [{"name": "NODE_IP", "value": sys.argv[3]}, {"name": "EXTERNAL", "value": sys.argv[4]}],
    "securityContext": {"runAsUser": 65534, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}}]}}))
' "$toolbox" "$script" "$NODE_IP" "$external")" >/dev/null
  for ((n = 0; n < 120; n++)); do
    phase=$(api_get "$dir" "/api/v1/namespaces/$ns/pods/smoke" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"].get("phase", ""))')
    [[ $phase == Succeeded || $phase == Failed ]] && break
    sleep 1
  done
  log_text=$(api_get "$dir" "/api/v1/namespaces/$ns/pods/smoke/log" || true)
  log_lines 'smoke: ' "$log_text"
  api "$dir" DELETE "/api/v1/namespaces/$ns" >/dev/null || true
  [[ $phase == Succeeded && $log_text == *smoke-ok* ]] || die "smoke test failed (pod phase: ${phase:-none})"
  log "smoke test passed in $((SECONDS - t0))s"
}

# cmd_host_clean [--fix] — list what a test node left on this host (exit 1 if
# anything); --fix removes it, unless a node is up.
cmd_host_clean() {
  local fix=0 left fd
  [[ ${1:-} == --fix ]] && fix=1
  left=$(host_leftovers)
  if [[ -z $left ]]; then
    log "clean: no test node and nothing left by one"
    return 0
  fi
  if ((fix)); then
    exec {fd}>>"$NODE_LOCK"
    flock -n "$fd" || die "a test node is up ($(node_owner)); stop it with down, not host-clean"
    log "removing:"
    log_lines '  ' "$left"
    host_cleanup
    rm -f "$NODE_LOCK"
    exec {fd}>&-
    left=$(host_leftovers)
    [[ -z $left ]] && { log "clean"; return 0; }
  fi
  log "not clean:"
  printf '  %s\n' "${left//$'\n'/$'\n  '}"
  return 1
}

# cmd_apiserver ACTION DIR — fault injection on the API server of a cluster `up` started, for
# the tests that need one (tests/e2e/faults.rs; they start a cluster of their own for it):
# kill (SIGKILL, a crash), stop (SIGSTOP: alive and connected, but nothing answers), cont
# (SIGCONT), restart (start it again with the flags and etcd data it had, and wait for /readyz).
cmd_apiserver() {
  local action=$1 dir pid n=0 args=()
  dir=$(abs_dir "${2:-$DEFAULT_DIR}")
  [[ -f $dir/$MARKER && -f $dir/kube-apiserver.args ]] \
    || die "$dir is not a cluster that this script started (up)"
  case $action in
    kill | stop | cont)
      pid=$(pid_of "$dir" kube-apiserver) || die "kube-apiserver is not running in $dir"
      case $action in
        kill) kill -KILL "$pid" ;;
        stop) kill -STOP "$pid" ;;
        cont) kill -CONT "$pid" ;;
      esac
      log "kube-apiserver (pid $pid): SIG${action^^}"
      if [[ $action == kill ]]; then
        while pid_of "$dir" kube-apiserver >/dev/null && ((n < 100)); do
          sleep 0.1
          n=$((n + 1))
        done
        ! pid_of "$dir" kube-apiserver >/dev/null || die "kube-apiserver (pid $pid) survived SIGKILL"
      fi
      ;;
    restart)
      if pid=$(pid_of "$dir" kube-apiserver); then
        kill -CONT "$pid" 2>/dev/null || true
        stop_one "$dir" kube-apiserver
      fi
      mapfile -d '' args <"$dir/kube-apiserver.args"
      start_bg "$dir" kube-apiserver "${args[@]}"
      wait_for "$dir" kube-apiserver 90 "kube-apiserver /readyz" api_ready "$dir"
      ;;
  esac
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    build) [[ $# -eq 0 ]] || { usage; exit 2; }; cmd_build ;;
    kubectl) [[ $# -eq 0 ]] || { usage; exit 2; }; cmd_build --client; echo "$BIN_DIR/kubectl" ;;
    up)
      if [[ ${1:-} == --with-node ]]; then
        [[ $# -le 2 ]] || { usage; exit 2; }
      else
        [[ $# -le 1 && ${1:-} != -* ]] || { usage; exit 2; }
      fi
      cmd_up "$@"
      ;;
    down) [[ $# -le 1 ]] || { usage; exit 2; }; cmd_down "$@" ;;
    status) [[ $# -le 1 ]] || { usage; exit 2; }; cmd_status "$@" ;;
    smoke) [[ $# -le 1 ]] || { usage; exit 2; }; cmd_smoke "$@" ;;
    host-clean) [[ $# -eq 0 || ($# -eq 1 && $1 == --fix) ]] || { usage; exit 2; }; cmd_host_clean "$@" ;;
    kill-apiserver | stop-apiserver | cont-apiserver | restart-apiserver)
      [[ $# -eq 1 ]] || { usage; exit 2; }
      cmd_apiserver "${cmd%-apiserver}" "$1"
      ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
