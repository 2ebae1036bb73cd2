//! The one table of container images, pinned by tag. Every image is a multi-arch release with
//! linux/arm64 (Raspberry Pi 4) and linux/amd64. A node may override its image in the profile.

/// Bitcoin Core (bitcoin/bitcoin on Docker Hub; Debian based, user `bitcoin` = 101:101).
pub const BITCOIND: &str = "bitcoin/bitcoin:31.1";
/// uid and gid of the `bitcoin` user in [`BITCOIND`].
pub const BITCOIND_UID: i64 = 101;

/// LND from Lightning Labs (Alpine based, built with the `monitoring` tag, runs as any uid).
pub const LND: &str = "lightninglabs/lnd:v0.21.3-beta";
/// openlsp runs LND as this unprivileged uid and gid; the image does not need root.
pub const LND_UID: i64 = 1000;

/// lndinit from Lightning Labs, built on the same LND release (`<lndinit>-lnd-<lnd>`): creates
/// the seed and wallet, and publishes the macaroons.
pub const LNDINIT: &str = "lightninglabs/lndinit:v0.1.37-beta-lnd-v0.21.3-beta";

/// Every pinned image by component name, for docs and tests.
pub const ALL: &[(&str, &str)] = &[("bitcoind", BITCOIND), ("lnd", LND), ("lndinit", LNDINIT)];
