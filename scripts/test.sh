#!/usr/bin/env bash
# The whole test suite, the one command the README and CI run:
#   1. install what the tests need (scripts/test-deps.sh: bitcoind, tor, promtool, shellcheck,
#      and kubectl of the test API server's version, built from the same Debian source),
#   2. start two real Kubernetes control planes (scripts/test-cluster.sh): one with a real node
#      that runs pods from stand-in images (docs/testing.md), which the tests also install addon
#      CRDs into, and a bare one that never gets them (missing-addon errors),
#   3. run rustfmt, clippy, shellcheck, a short fuzz (scripts/fuzz.sh --dev --seconds 20: both cargo
#      fuzz targets from their committed corpus) and every test; only the tests that need the addon CRDs
#      from ../shared/crds (not ours to install) may skip, with a warning,
#   4. end with the count of skipped tests (each test that skips writes `SKIP <test>: <reason>`
#      to $OPENLSP_TEST_SKIP_LOG; cargo would hide it, as it hides a passing test's output),
#   5. tear the control planes down, whatever happened; after a passing run, `down` also checks
#      that the node left nothing behind on the host, and fails the run if it did.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'test: %s\n' "$*" >&2; }

cache_dir=${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}

log "installing test dependencies"
scripts/test-deps.sh >/dev/null
# shellcheck source=/dev/null
source "$cache_dir/test-deps.env"
export OPENLSP_TEST_BITCOIND OPENLSP_TEST_BITCOIN_CLI OPENLSP_TEST_TOR OPENLSP_TEST_PROMTOOL \
    OPENLSP_TEST_POSTGRES_BIN \
    OPENLSP_TEST_KUBECTL OPENLSP_TEST_RCLONE OPENLSP_TEST_INOTIFYWAIT OPENLSP_TEST_BUSYBOX \
    OPENLSP_TEST_RSYNC OPENLSP_TEST_SSHD
# The tests run $OPENLSP_TEST_KUBECTL, never `kubectl` from PATH: a client newer than the
# server would hide version skew, and a fresh CI machine has none.
log "kubectl: $OPENLSP_TEST_KUBECTL ($("$OPENLSP_TEST_KUBECTL" version --client --short))"

log "checking formatting and lints"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
shellcheck install.sh scripts/*.sh .ci/run src/bootstrap/inspect.sh

# Everything the tests run, built first: target/debug/openlsp is then the very binary the tests
# run (with the features the dev-dependencies unify), and the node gets it as its
# openlsp.test/openlsp:local image. A release build here would add minutes to every run.
log "building the tests"
cargo test --locked --all-targets --no-run
export OPENLSP_TEST_OPENLSP_BIN=$PWD/target/debug/openlsp

# Seconds of fuzzing, not the 10 minutes of scripts/fuzz.sh: a regression of a found input (the
# committed corpus is replayed first) or a quick new find fails the run here. A dev build: cold,
# the release build of the fuzz targets alone would take a quarter of an hour.
log "fuzzing briefly"
scripts/fuzz.sh --dev --seconds 20

cluster_dir=$(mktemp -u "${TMPDIR:-/tmp}/openlsp-test-cluster.XXXXXX")
bare_dir=$(mktemp -u "${TMPDIR:-/tmp}/openlsp-test-cluster-bare.XXXXXX")
skip_log=$(mktemp "${TMPDIR:-/tmp}/openlsp-test-skips.XXXXXX")
tests_ran=""
# The count of skips the tests logged, each with its reason, whether they passed or not.
report_skips() {
  if [ -n "$tests_ran" ]; then
    log "$(sort -u "$skip_log" | grep -c . || true) skipped"
    sort -u "$skip_log" | sed 's/^/test:   /' >&2
  fi
  rm -f "$skip_log"
}
no_kubectl_dir=""
cleanup() {
  report_skips
  [ -z "$no_kubectl_dir" ] || rm -rf "$no_kubectl_dir"
  scripts/test-cluster.sh down "$cluster_dir" || true
  scripts/test-cluster.sh down "$bare_dir" || true
}
trap cleanup EXIT

log "starting the test control plane and its node in $cluster_dir"
kubeconfig=$(scripts/test-cluster.sh up --with-node "$cluster_dir" | tail -n 1)
[ -s "$kubeconfig" ] || { log "error: the control plane did not start"; exit 1; }
# OPENLSP_TEST_KUBECONFIG, OPENLSP_TEST_NODE, OPENLSP_TEST_NODE_DISKS, OPENLSP_TEST_NODE_IMAGES,
# OPENLSP_TEST_IMAGE_TOOLBOX and OPENLSP_TEST_IMAGE_OPENLSP (see docs/testing.md).
# shellcheck source=/dev/null
source "$cluster_dir/env"
scripts/test-cluster.sh smoke "$cluster_dir"
# CRDs are cluster-wide: the missing-addon tests need a control plane no test installs them in.
log "starting the bare control plane (no addon CRDs) in $bare_dir"
bare_kubeconfig=$(scripts/test-cluster.sh up "$bare_dir" | tail -n 1)
[ -s "$bare_kubeconfig" ] || { log "error: the bare control plane did not start"; exit 1; }
export OPENLSP_TEST_KUBECONFIG_BARE=$bare_kubeconfig
# Every test that needs a real daemon or the API server must run, not skip.
export OPENLSP_TEST_REQUIRE_ALL=1
# The addon CRDs are not ours to install: without them the tests that need them skip, loudly.
crd_dir=${OPENLSP_TEST_CRDS:-$PWD/../shared/crds}
if [ ! -d "$crd_dir/cert-manager" ] || [ ! -d "$crd_dir/prometheus-operator" ]; then
    log "warning: no cert-manager/prometheus-operator CRDs in $crd_dir; the tests that apply them will skip (set OPENLSP_TEST_CRDS)"
fi
export CI=${CI:-true}
export OPENLSP_TEST_SKIP_LOG=$skip_log

# A kubectl first on the tests' PATH that fails: a test that ran `kubectl` from PATH instead of
# $OPENLSP_TEST_KUBECTL would pass on a machine that happens to have one, and fail on CI.
no_kubectl_dir=$(mktemp -d "${TMPDIR:-/tmp}/openlsp-test-no-kubectl.XXXXXX")
# shellcheck disable=SC2016 # $0 is the shim's own path, expanded when it runs
printf '#!/bin/sh\necho "kubectl from PATH ($0) run by a test: use OPENLSP_TEST_KUBECTL" >&2\nexit 127\n' \
    >"$no_kubectl_dir/kubectl"
chmod 755 "$no_kubectl_dir/kubectl"

log "running the tests"
tests_ran=1
PATH="$no_kubectl_dir:$PATH" cargo test --locked --all-targets
rm -rf "$no_kubectl_dir"

trap - EXIT
report_skips
log "stopping the control planes"
scripts/test-cluster.sh down "$bare_dir"
scripts/test-cluster.sh down "$cluster_dir"
