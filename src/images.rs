//! The one table of container images, pinned by tag. Every image is a multi-arch release with
//! linux/arm64 (Raspberry Pi 4) and linux/amd64. A node may override its image in the profile.

/// Bitcoin Core (bitcoin/bitcoin on Docker Hub; Debian based, user `bitcoin` = 101:101).
pub const BITCOIND: &str = "bitcoin/bitcoin:31.1";
/// uid and gid of the `bitcoin` user in [`BITCOIND`].
pub const BITCOIND_UID: i64 = 101;

/// btcd (btcsuite/btcd v0.26.0: .github/workflows/dimagespub.yml pushes tag `v*` to
/// ghcr.io/btcsuite/btcd for linux/amd64, arm64, arm and 386 from .github/workflows/Dockerfile:
/// alpine:3.15, no USER, `ENTRYPOINT ["btcd"]`). The binaries are cross-compiled with `go
/// install`, which puts a foreign architecture's in `/go/bin/<os>_<arch>/`, so on arm64 btcd may
/// be `/bin/linux_arm64/btcd`: openlsp's start command looks in both places.
pub const BTCD: &str = "ghcr.io/btcsuite/btcd:v0.26.0";
/// openlsp runs btcd as this unprivileged uid and gid, with `HOME`, its data, logs and config
/// on mounted paths; no user of the image's /etc/passwd has it.
pub const BTCD_UID: i64 = 1000;

/// LND from Lightning Labs (Alpine based, built with the `monitoring` tag, runs as any uid).
pub const LND: &str = "lightninglabs/lnd:v0.21.3-beta";
/// openlsp runs LND as this unprivileged uid and gid; the image does not need root.
pub const LND_UID: i64 = 1000;

/// Core Lightning from Blockstream (ElementsProject/lightning's Dockerfile at v26.06.6:
/// debian:bookworm-slim, published for amd64, arm64 and arm/v7). It holds lightningd,
/// lightning-cli, lightning-hsmtool and bitcoin-cli for the bcli plugin. Its entrypoint
/// (tools/docker-entrypoint.sh) can bridge the admin RPC socket to TCP with `EXPOSE_TCP`:
/// openlsp never uses it and runs `lightningd` itself.
pub const CLN: &str = "elementsproject/lightningd:v26.06.6";
/// The image declares no user (root by default); openlsp runs lightningd as this unprivileged
/// uid and gid, with its data in `/data`, which needs nothing of root.
pub const CLN_UID: i64 = 1000;

/// lndinit from Lightning Labs, built on the same LND release (`<lndinit>-lnd-<lnd>`): creates
/// the seed and wallet, and publishes the macaroons.
pub const LNDINIT: &str = "lightninglabs/lndinit:v0.1.37-beta-lnd-v0.21.3-beta";

/// Tor from btcpayserver/dockerfile-deps (`Tor/0.4.9.13`: a static tor on
/// debian:bookworm-slim, published as one manifest for amd64, arm64/v8 and arm/v7). Its
/// entrypoint needs root (gosu), so openlsp runs `tor -f /etc/tor/torrc` itself.
pub const TOR: &str = "btcpayserver/tor:0.4.9.13";
/// openlsp runs Tor as this uid and gid: the image's `tor` user (Debian's `useradd -r`, the
/// first system uid). Any uid works: openlsp's init container creates the 0700 directories
/// Tor insists on, owned by whatever uid the pod runs as.
pub const TOR_UID: i64 = 999;

/// jvstein/bitcoin-prometheus-exporter (python:alpine; its release Makefile builds with
/// buildx for linux/amd64, linux/arm64, arm/v6, arm/v7 and more). Needs no root and no disk.
pub const BITCOIN_EXPORTER: &str = "jvstein/bitcoin-prometheus-exporter:v0.7.0";
/// lndmon from Lightning Labs (its release workflow pushes linux/amd64 and linux/arm64).
pub const LNDMON: &str = "lightninglabs/lndmon:v0.2.7";
/// The exporters run as `nobody`: they only talk to RPC and serve /metrics.
pub const NOBODY_UID: i64 = 65534;

/// The controller's image: a placeholder the operator overrides with `controller install
/// --image`. There is no published image: build one from the Containerfile and push it to a
/// registry the cluster can pull from (docs/controller.md). `.invalid` is a reserved name
/// (RFC 2606), so a forgotten `--image` fails to pull, saying so, instead of running a stranger's.
pub const CONTROLLER_PLACEHOLDER: &str = concat!(
    "registry.invalid/openlsp/openlsp:",
    env!("CARGO_PKG_VERSION")
);
/// The user of openlsp's image (the Containerfile's distroless `nonroot`): the controller and
/// each CLN node's exporter run as it.
pub const OPENLSP_UID: i64 = 65532;
/// rclone (rclone/rclone on Docker Hub; its Dockerfile: alpine:latest with ca-certificates,
/// fuse3 and tzdata, rclone in /usr/local/bin; published for linux/amd64, arm64, arm/v7, arm/v6
/// and 386). The channel backup container runs openlsp's script with its busybox `sh`, applets
/// (`sha256sum`, `stat`, `mkfifo`, `inotifyd`) and rclone; it runs as the node's uid.
pub const RCLONE: &str = "rclone/rclone:1.75.0";

/// BTCPay Server (btcpayserver/btcpayserver; the tag btcpayserver-docker's
/// docker-fragments/btcpayserver.yml pins; its Dockerfile: mcr.microsoft.com/dotnet/aspnet on
/// Ubuntu noble, published for amd64, arm64 and arm/v7, app in /app, data in /datadir). The image
/// declares no user; openlsp runs `dotnet BTCPayServer.dll` itself as [`DOTNET_APP_UID`], with
/// its plugins and temporary files on writable volumes, instead of the entrypoint, which only
/// appends to /etc/hosts.
pub const BTCPAY: &str = "btcpayserver/btcpayserver:2.4.0";
/// NBXplorer (the tag of btcpayserver-docker's docker-fragments/nbxplorer.yml; the same .NET base
/// and architectures): BTCPay's wallet indexer, with its index in PostgreSQL.
pub const NBXPLORER: &str = "nicolasdorier/nbxplorer:2.6.8";
/// The `app` user of Microsoft's .NET images, which BTCPay and NBXplorer run as.
pub const DOTNET_APP_UID: i64 = 1654;
/// PostgreSQL (the official `postgres` image, Debian based, every architecture; docker-library's
/// versions.json for 18). From 18 its data lives in `/var/lib/postgresql/18/docker`.
pub const POSTGRES: &str = "postgres:18.3";
/// The image's `postgres` user (Debian variant).
pub const POSTGRES_UID: i64 = 999;

/// rsync and the OpenSSH client on Alpine (instrumentisto/rsync-ssh; tag `alpine3.23-r3` of
/// instrumentisto/rsync-ssh-docker-image, its CI pushing linux/amd64, arm64v8, arm32v6, arm32v7
/// and more as one manifest), for `openlsp bootstrap`'s copy Job, which runs busybox `sh` and
/// rsync in it as root with only CHOWN, DAC_OVERRIDE and FOWNER.
pub const RSYNC: &str = "instrumentisto/rsync-ssh:alpine3.23-r3";

/// Ride The Lightning (Ride-The-Lightning/RTL; its docker-release workflow publishes
/// `shahanafarooqui/rtl:<tag>` for amd64, arm64 and arm/v7; Dockerfile: node:22-alpine, app in
/// /RTL, no USER). openlsp runs it as the node image's `node` user, [`NODE_APP_UID`]; v0.15.7
/// fixed its hang on a CLN node without peers.
pub const RTL: &str = "shahanafarooqui/rtl:v0.15.11";
/// ThunderHub (apotdevin/thunderhub; its docker-release workflow publishes `<version>` without a
/// `v`, for amd64 and arm64; Dockerfile: node:24-alpine, app in /app, `USER node`). The plain
/// tag serves at `/` (the `base-` tags have `/thub` built in).
pub const THUNDERHUB: &str = "apotdevin/thunderhub:0.18.4";
/// The `node` user of the Node.js images (nodejs/docker-node's Dockerfiles).
pub const NODE_APP_UID: i64 = 1000;

/// Every pinned image by component name, for tests.
#[cfg(test)]
const ALL: &[(&str, &str)] = &[
    ("bitcoind", BITCOIND),
    ("btcd", BTCD),
    ("lnd", LND),
    ("cln", CLN),
    ("lndinit", LNDINIT),
    ("tor", TOR),
    ("bitcoin-exporter", BITCOIN_EXPORTER),
    ("lndmon", LNDMON),
    ("openlsp-controller", CONTROLLER_PLACEHOLDER),
    ("rclone", RCLONE),
    ("btcpay", BTCPAY),
    ("nbxplorer", NBXPLORER),
    ("postgres", POSTGRES),
    ("rtl", RTL),
    ("thunderhub", THUNDERHUB),
    ("rsync", RSYNC),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Each image has an explicit version (a tag other than `latest`, so kubelet's pull policy
    /// is IfNotPresent and a node with the image never reaches for a registry), and the list
    /// names every image constant of this file.
    #[test]
    fn every_image_is_pinned_and_listed() {
        for (component, image) in ALL {
            let (_, tag) = image
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("{component}: {image} has no tag"));
            assert!(!tag.is_empty() && tag != "latest", "{component}: {image}");
            assert!(
                !tag.contains('/'),
                "{component}: {image} has a port, not a tag"
            );
        }
        let source = include_str!("images.rs");
        let constants = source
            .lines()
            .filter(|line| line.starts_with("pub const") && line.contains(": &str ="))
            .count();
        assert_eq!(
            constants,
            ALL.len(),
            "an image constant is missing from ALL"
        );
    }
}
