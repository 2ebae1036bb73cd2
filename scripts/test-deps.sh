#!/usr/bin/env bash
# Install the real daemons the test suite uses to check rendered config files.
#
#   * From Debian bookworm (apt): tor, prometheus (for promtool), shellcheck,
#     tmux, curl, jq, openssl, man-db (the test of `man openlsp` after install.sh)
#     and the shared libraries Bitcoin Knots needs; rclone, inotify-tools and
#     busybox-static for the channel backup script (the backup container's image
#     has rclone and busybox: the tests run the script under busybox's shell and
#     applets, tests/backup.rs); PostgreSQL 15, which runs BTCPay's rendered database
#     setup (tests/btcpay.rs); rsync, which runs `openlsp bootstrap`'s rendered
#     copy script (tests/bootstrap.rs), and OpenSSH's server and client, the
#     source host of `bootstrap --from-host` (an sshd on loopback,
#     tests/bootstrap_ssh.rs; the package's service is never started).
#   * Bitcoin Knots from Debian unstable, WITHOUT switching the system to
#     unstable: bitcoin-knots, libc6, libstdc++6 and libgcc-s1 are fetched with
#     a private apt sources list / lists dir and unpacked with `dpkg -x` into
#     ${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}/bitcoin-knots/root. Small
#     wrappers in .../bin run the binaries through unstable's own dynamic
#     loader (ld-linux) with unstable's glibc/libstdc++ first on the library
#     path and bookworm's libevent/zmq/sqlite after it.
#   * kubectl v1.20.2, the API server's version, built from Debian's kubernetes
#     source package by scripts/test-cluster.sh (cached there): the tests and
#     scripts/bench.sh run this one, never whatever kubectl is on PATH.
#
#   * cargo-fuzz from crates.io (`cargo install --locked`, into ~/.cargo/bin),
#     for scripts/fuzz.sh; skipped when that version is already installed.
#
# At the end the script writes ${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}/test-deps.env
# (for `source`) and prints the same `export ...` lines on stdout. Progress
# messages go to stderr, prefixed "test-deps:".
#
# Re-running is fast: apt is skipped when every package is already installed
# and the Knots download is skipped when the cache is present and working.
# Set OPENLSP_TEST_DEPS_REFRESH=1 to re-download Knots anyway.
set -Eeuo pipefail

log() { printf 'test-deps: %s\n' "$*" >&2; }
die() {
	printf 'test-deps: ERROR: %s\n' "$*" >&2
	exit 1
}
trap 'die "command failed (line ${LINENO}): ${BASH_COMMAND}"' ERR

# --- cleanup of temporary things (staging dir, temporary policy-rc.d) --------
CLEANUP_PATHS=()
cleanup() {
	local p
	for p in "${CLEANUP_PATHS[@]}"; do
		if [[ "$p" == /usr/sbin/policy-rc.d ]]; then
			"${SUDO[@]}" rm -f -- "$p" || true
		else
			rm -rf -- "$p" || true
		fi
	done
}
trap cleanup EXIT

# --- privileges --------------------------------------------------------------
# sudo only when not root, and only needed when apt has something to install.
SUDO=()
if [[ "${EUID}" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
fi

# --- locations ---------------------------------------------------------------
CACHE_DIR="${OPENLSP_CACHE_DIR:-${HOME:?HOME is not set and OPENLSP_CACHE_DIR is not set}/.cache/openlsp}"
KNOTS_DIR="${CACHE_DIR}/bitcoin-knots"
KNOTS_ROOT="${KNOTS_DIR}/root"
BIN_DIR="${CACHE_DIR}/bin"
ENV_FILE="${CACHE_DIR}/test-deps.env"
TOR_BIN=/usr/bin/tor
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROMTOOL_BIN=/usr/bin/promtool
POSTGRES_BIN_DIR=/usr/lib/postgresql/15/bin
RCLONE_BIN=/usr/bin/rclone
INOTIFYWAIT_BIN=/usr/bin/inotifywait
BUSYBOX_BIN=/bin/busybox

mkdir -p -- "${CACHE_DIR}" "${KNOTS_DIR}" "${BIN_DIR}"

# One run at a time per cache dir (parallel test jobs may all call this).
if command -v flock >/dev/null 2>&1; then
	exec 9>"${CACHE_DIR}/.test-deps.lock"
	if ! flock -n 9; then
		log "another test-deps run holds ${CACHE_DIR}/.test-deps.lock; waiting"
		flock 9
	fi
fi

ARCH="$(dpkg --print-architecture)"
case "${ARCH}" in
amd64) TRIPLET=x86_64-linux-gnu ;;
arm64) TRIPLET=aarch64-linux-gnu ;;
i386) TRIPLET=i386-linux-gnu ;;
armhf) TRIPLET=arm-linux-gnueabihf ;;
ppc64el) TRIPLET=powerpc64le-linux-gnu ;;
s390x) TRIPLET=s390x-linux-gnu ;;
riscv64) TRIPLET=riscv64-linux-gnu ;;
*)
	if command -v dpkg-architecture >/dev/null 2>&1; then
		TRIPLET="$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
	else
		die "unknown architecture ${ARCH} (install dpkg-dev for dpkg-architecture)"
	fi
	;;
esac

# --- 1. bookworm packages ----------------------------------------------------
APT_PACKAGES=(
	tor prometheus shellcheck tmux curl jq openssl man-db debian-archive-keyring
	rclone inotify-tools busybox-static postgresql-15 postgresql-client-15
	rsync openssh-server openssh-client
	libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
	libevent-pthreads-2.1-7 libzmq5 libsqlite3-0
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
	[[ "${status}" == installed ]] || missing+=("${pkg}")
done

if ((${#missing[@]} == 0)); then
	log "apt: all ${#APT_PACKAGES[@]} packages already installed; skipping apt-get"
else
	log "apt: missing: ${missing[*]}"
	if [[ "${EUID}" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
		die "not root and sudo is not installed; run as root to install: ${missing[*]}"
	fi
	# tor and prometheus ship services; never start them from the package
	# scripts (no systemd here, and a running tor/prometheus would grab
	# ports the tests may want). Only add a policy-rc.d if there is none.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		log "apt: installing a temporary /usr/sbin/policy-rc.d (exit 101) so no service is started"
		CLEANUP_PATHS+=(/usr/sbin/policy-rc.d)
		printf '#!/bin/sh\n# temporary, from openlsp scripts/test-deps.sh\nexit 101\n' |
			"${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${SUDO[@]}" chmod 0755 /usr/sbin/policy-rc.d
	fi
	log "apt: apt-get update"
	if ! "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update >&2; then
		log "apt: WARNING: apt-get update reported errors; trying the install anyway"
	fi
	log "apt: apt-get install ${missing[*]}"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install failed for: ${missing[*]}"
fi

for tool in "${POSTGRES_BIN_DIR}/initdb" "${POSTGRES_BIN_DIR}/postgres" "${POSTGRES_BIN_DIR}/psql" /usr/sbin/runuser "${TOR_BIN}" "${PROMTOOL_BIN}" "${RCLONE_BIN}" "${INOTIFYWAIT_BIN}" "${BUSYBOX_BIN}" /usr/bin/rsync /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen /usr/bin/shellcheck /usr/bin/tmux /usr/bin/curl /usr/bin/jq /usr/bin/openssl /usr/bin/man; do
	[[ -x "${tool}" ]] || die "${tool} is missing after the apt install"
done
"${TOR_BIN}" --version >/dev/null 2>&1 || die "${TOR_BIN} --version failed"
"${PROMTOOL_BIN}" --version >/dev/null 2>&1 || die "${PROMTOOL_BIN} --version failed"
"${RCLONE_BIN}" version >/dev/null 2>&1 || die "${RCLONE_BIN} version failed"
"${BUSYBOX_BIN}" sh -c 'exit 0' || die "${BUSYBOX_BIN} has no shell"

# --- 2. Bitcoin Knots from unstable -----------------------------------------
UNSTABLE_PACKAGES=(bitcoin-knots libstdc++6 libgcc-s1 libc6)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Print the path of the dynamic loader inside an unpacked root.
find_ld_so() {
	local root="$1" dir f
	for dir in "usr/lib/${TRIPLET}" "lib/${TRIPLET}" usr/lib64 lib64 usr/lib lib; do
		for f in "${root}/${dir}"/ld-linux*.so.[0-9]; do
			if [[ -f "${f}" && -x "${f}" ]]; then
				printf '%s\n' "${f}"
				return 0
			fi
		done
	done
	return 1
}

# knots_cmd ROOT PROGRAM: the command line that runs ROOT/usr/bin/PROGRAM.
knots_cmd() {
	local root="$1" prog="$2" ld
	ld="$(find_ld_so "${root}")" || return 1
	printf '%s\0' "${ld}" --argv0 "${prog}" \
		--library-path "${root}/usr/lib/${TRIPLET}:/usr/lib/${TRIPLET}" \
		"${root}/usr/bin/${prog}"
}

# knots_version ROOT-or-"" PROGRAM: runs PROGRAM -version (through the wrapper
# when ROOT is empty) and checks that it is Bitcoin Knots.
knots_version_ok() {
	local out
	out="$("$@" -version 2>&1 | head -n 1)" || return 1
	[[ "${out}" == *"Bitcoin Knots"* ]] || return 1
	printf '%s\n' "${out}"
}

knots_programs() {
	local p
	for p in bitcoind bitcoin-cli; do
		[[ -x "${KNOTS_ROOT}/usr/bin/${p}" ]] && printf '%s\n' "${p}"
	done
	return 0
}

knots_cache_ok() {
	[[ -x "${KNOTS_ROOT}/usr/bin/bitcoind" ]] || return 1
	local p
	while read -r p; do
		[[ -x "${BIN_DIR}/${p}" ]] || return 1
		knots_version_ok "${BIN_DIR}/${p}" >/dev/null || return 1
	done < <(knots_programs)
}

write_wrappers() {
	local p a tmp args=()
	while read -r p; do
		args=()
		while IFS= read -r -d '' a; do args+=("${a}"); done < <(knots_cmd "${KNOTS_ROOT}" "${p}")
		((${#args[@]} > 0)) || die "no dynamic loader found under ${KNOTS_ROOT}"
		tmp="$(mktemp "${BIN_DIR}/.${p}.XXXXXX")"
		{
			printf '#!/bin/bash\n'
			printf '# Generated by openlsp scripts/test-deps.sh: Bitcoin Knots (%s) from Debian unstable,\n' "${p}"
			printf '# run through its own glibc loader. Do not edit; re-run the script instead.\n'
			printf 'exec'
			printf ' %q' "${args[@]}"
			printf ' "$@"\n'
		} >"${tmp}"
		chmod 0755 "${tmp}"
		mv -f -- "${tmp}" "${BIN_DIR}/${p}"
		log "knots: wrote ${BIN_DIR}/${p}"
	done < <(knots_programs)
	# A wrapper for a program the current package no longer ships must go.
	if [[ ! -x "${KNOTS_ROOT}/usr/bin/bitcoin-cli" ]]; then
		rm -f -- "${BIN_DIR}/bitcoin-cli"
	fi
}

install_knots() {
	local staging dl apt_opts deb ld version a
	# The unpacked root is staged next to its final place (same filesystem,
	# so the final rename is atomic); apt's lists and the .debs go to a temp
	# dir that apt's unprivileged _apt download user can reach (a root-run
	# apt cannot sandbox its downloads under a 0700 /root).
	# Leftovers of a killed run (we hold the lock, so none is in use).
	rm -rf -- "${KNOTS_DIR}"/.staging.*
	staging="$(mktemp -d "${KNOTS_DIR}/.staging.XXXXXX")"
	CLEANUP_PATHS+=("${staging}")
	dl="$(mktemp -d "${TMPDIR:-/tmp}/openlsp-test-deps.XXXXXX")"
	CLEANUP_PATHS+=("${dl}")
	chmod 0755 "${dl}"
	mkdir -p "${dl}/lists/partial" "${dl}/cache/archives/partial" "${dl}/debs" "${staging}/root"
	if [[ "${EUID}" -eq 0 ]] && id _apt >/dev/null 2>&1; then
		chown _apt "${dl}/debs"
	fi

	[[ -r "${KEYRING}" ]] || die "${KEYRING} is missing (package debian-archive-keyring)"
	printf 'deb [signed-by=%s] http://deb.debian.org/debian unstable main\n' "${KEYRING}" >"${dl}/sources.list"
	apt_opts=(
		-o "Dir::Etc::SourceList=${dl}/sources.list"
		-o "Dir::Etc::SourceParts=-"
		-o "Dir::State::Lists=${dl}/lists"
		-o "Dir::Cache=${dl}/cache"
		-o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
		-o "Acquire::Languages=none"
	)

	log "knots: apt-get update (private sources list: unstable main, signed-by ${KEYRING})"
	apt-get "${apt_opts[@]}" update >&2 ||
		die "apt-get update for unstable failed (network, or ${KEYRING} cannot verify unstable's Release)"
	# apt-get update exits 0 even when it fetched nothing; apt only keeps an
	# InRelease it could verify, so its presence is the real success check.
	compgen -G "${dl}/lists/*_dists_unstable_InRelease" >/dev/null ||
		die "apt-get update could not fetch/verify unstable's InRelease (network, or ${KEYRING} lacks the signing key)"

	log "knots: apt-get download ${UNSTABLE_PACKAGES[*]}"
	# pkg/unstable: never fall back to the (installed) bookworm version.
	(cd "${dl}/debs" && apt-get "${apt_opts[@]}" download "${UNSTABLE_PACKAGES[@]/%//unstable}" >&2) ||
		die "apt-get download from unstable failed"

	: >"${staging}/root/.versions"
	for deb in "${dl}"/debs/*.deb; do
		log "knots: dpkg -x $(basename "${deb}")"
		dpkg -x "${deb}" "${staging}/root"
		dpkg-deb -f "${deb}" Package Version | paste -sd ' ' >>"${staging}/root/.versions"
	done
	[[ -x "${staging}/root/usr/bin/bitcoind" ]] || die "bitcoin-knots did not ship usr/bin/bitcoind"
	ld="$(find_ld_so "${staging}/root")" || die "no ld-linux*.so found in unstable's libc6"
	log "knots: dynamic loader ${ld#"${staging}/root"}"

	# Check it runs before it replaces anything.
	local cmd=()
	while IFS= read -r -d '' a; do cmd+=("${a}"); done < <(knots_cmd "${staging}/root" bitcoind)
	version="$(knots_version_ok "${cmd[@]}")" ||
		die "unpacked bitcoind does not run: $("${cmd[@]}" -version 2>&1 | head -n 3)"
	log "knots: unpacked ${version}"

	# Swap into place with renames only, so an interrupted run never leaves a
	# half-filled root (at worst no root, and the next run starts over).
	if [[ -e "${KNOTS_ROOT}" ]]; then
		mv -- "${KNOTS_ROOT}" "${staging}/old-root"
	fi
	mv -- "${staging}/root" "${KNOTS_ROOT}"
	rm -rf -- "${staging}" "${dl}"
}

if [[ "${OPENLSP_TEST_DEPS_REFRESH:-0}" != 1 ]] && knots_cache_ok; then
	log "knots: cache at ${KNOTS_ROOT} is present and working; skipping download"
else
	if [[ -x "${KNOTS_ROOT}/usr/bin/bitcoind" && "${OPENLSP_TEST_DEPS_REFRESH:-0}" != 1 ]]; then
		# Root is fine but the wrappers may be missing/stale: try them first.
		write_wrappers
	fi
	if [[ "${OPENLSP_TEST_DEPS_REFRESH:-0}" == 1 ]] || ! knots_cache_ok; then
		install_knots
		write_wrappers
	fi
	knots_cache_ok || die "Bitcoin Knots wrappers in ${BIN_DIR} do not work"
fi
KNOTS_VERSION="$(knots_version_ok "${BIN_DIR}/bitcoind")"
log "knots: ${KNOTS_VERSION} ($(tr '\n' ';' 2>/dev/null <"${KNOTS_ROOT}/.versions" || true))"

# --- 3. cargo-fuzz ------------------------------------------------------------
CARGO_FUZZ_VERSION=0.13.2
if [[ "$(cargo fuzz --version 2>/dev/null || true)" == "cargo-fuzz ${CARGO_FUZZ_VERSION}" ]]; then
	log "cargo-fuzz ${CARGO_FUZZ_VERSION} is installed; skipping"
else
	log "cargo-fuzz: cargo install cargo-fuzz --locked --version ${CARGO_FUZZ_VERSION}"
	cargo install cargo-fuzz --locked --version "${CARGO_FUZZ_VERSION}" >&2 ||
		die "cargo install cargo-fuzz failed"
fi
# --- 4. kubectl, of the test API server's version ---------------------------
KUBECTL_BIN="$("${SCRIPT_DIR}/test-cluster.sh" kubectl)" || die "building kubectl failed"
[[ -x "${KUBECTL_BIN}" ]] || die "scripts/test-cluster.sh kubectl gave no kubectl (${KUBECTL_BIN})"
log "kubectl: ${KUBECTL_BIN} ($("${KUBECTL_BIN}" version --client --short))"

# --- 5. the environment file -------------------------------------------------
tmp_env="$(mktemp "${CACHE_DIR}/.test-deps.env.XXXXXX")"
CLEANUP_PATHS+=("${tmp_env}")
{
	printf '# Generated by openlsp scripts/test-deps.sh; source this file.\n'
	printf 'export OPENLSP_TEST_BITCOIND=%q\n' "${BIN_DIR}/bitcoind"
	if [[ -x "${BIN_DIR}/bitcoin-cli" ]]; then
		printf 'export OPENLSP_TEST_BITCOIN_CLI=%q\n' "${BIN_DIR}/bitcoin-cli"
	fi
	printf 'export OPENLSP_TEST_TOR=%q\n' "${TOR_BIN}"
	printf 'export OPENLSP_TEST_PROMTOOL=%q\n' "${PROMTOOL_BIN}"
	printf 'export OPENLSP_TEST_POSTGRES_BIN=%q\n' "${POSTGRES_BIN_DIR}"
	printf 'export OPENLSP_TEST_RCLONE=%q\n' "${RCLONE_BIN}"
	printf 'export OPENLSP_TEST_INOTIFYWAIT=%q\n' "${INOTIFYWAIT_BIN}"
	printf 'export OPENLSP_TEST_BUSYBOX=%q\n' "${BUSYBOX_BIN}"
	printf 'export OPENLSP_TEST_RSYNC=%q\n' /usr/bin/rsync
	printf 'export OPENLSP_TEST_SSHD=%q\n' /usr/sbin/sshd
	printf 'export OPENLSP_TEST_KUBECTL=%q\n' "${KUBECTL_BIN}"
} >"${tmp_env}"
chmod 0644 "${tmp_env}"
mv -f -- "${tmp_env}" "${ENV_FILE}"
log "wrote ${ENV_FILE}"
grep '^export ' "${ENV_FILE}"
