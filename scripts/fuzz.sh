#!/usr/bin/env bash
# Fuzz openlsp with cargo fuzz (libFuzzer), on the stable toolchain:
#   scripts/fuzz.sh [--seconds N] [TARGET...]
# Targets (fuzz/fuzz_targets): `profile` (any bytes through validate) and `render` (a valid
# example profile, mutated, through validate and render). Without TARGET, both; N seconds in
# all (default 600: the 10-minute fuzz), split evenly between them. scripts/test.sh runs
# `--seconds 20`.
#
# Each target starts from its committed corpus, fuzz/corpus/TARGET (the example profiles and the
# bad-profile cases of tests/profile_errors.rs for `profile`), and adds what it finds to a working
# corpus under the cache, so the checkout stays clean and later runs go on from there. A crash, a
# panic, an input slower than 10 s or one that needs more than 2 GiB fails the run; libFuzzer
# writes the input to fuzz/artifacts/TARGET/ and prints how to reproduce it.
#
# How it runs on stable (docs/testing.md): `-s none`, no sanitizer. cargo fuzz then passes only
# stable flags (the SanitizerCoverage passes, --cfg fuzzing); AddressSanitizer would need
# -Zsanitizer, i.e. nightly or RUSTC_BOOTSTRAP=1, and buys little for a crate that forbids
# unsafe code. The build goes to a cached target dir: cold it takes many minutes (kube and
# k8s-openapi, optimised and instrumented), warm only openlsp itself is rebuilt.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

seconds=600
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) [ $# -ge 2 ] || die "--seconds needs a number"; seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (try --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  die "--seconds takes a positive number, not $seconds"
fi
((${#targets[@]} > 0)) || targets=(profile render)

cache_dir=${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}
cargo fuzz --version >/dev/null 2>&1 || die "cargo fuzz is not installed; scripts/test-deps.sh installs it"

export CARGO_TARGET_DIR=$cache_dir/fuzz-target
export OPENLSP_FUZZ_STATE=$cache_dir/fuzz-state
fuzz_args=(--sanitizer none --target-dir "$CARGO_TARGET_DIR")

log "building the fuzz targets (cargo fuzz build, target dir $CARGO_TARGET_DIR)"
t0=$SECONDS
(cd fuzz && cargo fuzz build "${fuzz_args[@]}") || die "cargo fuzz build failed"
log "built in $((SECONDS - t0))s"

each=$((seconds / ${#targets[@]}))
((each > 0)) || each=1
status=0
for target in "${targets[@]}"; do
  [[ -d fuzz/corpus/$target ]] || die "no corpus fuzz/corpus/$target"
  work=$cache_dir/fuzz-corpus/$target
  artifacts=$PWD/fuzz/artifacts/$target
  mkdir -p "$work" "$artifacts"
  out=$(mktemp "${TMPDIR:-/tmp}/openlsp-fuzz-$target.XXXXXX")
  log "$target: ${each}s from fuzz/corpus/$target ($(find "fuzz/corpus/$target" -type f | wc -l) inputs) and $work"
  rc=0
  (cd fuzz && cargo fuzz run "${fuzz_args[@]}" "$target" "$work" "corpus/$target" -- \
    -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/") >"$out" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -n 1)
  crashes=$(grep -c -E '^==[0-9]+== ERROR: libFuzzer|panicked at|^SUMMARY: libFuzzer' "$out" || true)
  timeouts=$(grep -c 'ERROR: libFuzzer: timeout' "$out" || true)
  if ((rc == 0)); then
    log "$target: ok: ${execs:-?} runs (${rate:-?}/s), 0 crashes, 0 timeouts"
  else
    status=1
    log "$target: FAILED (exit $rc) after ${execs:-?} runs: crashes ${crashes}, timeouts ${timeouts}; input in $artifacts"
    tail -n 40 "$out" >&2
  fi
  rm -f "$out"
done
exit "$status"
