//! Fills in every default so that later stages never guess: namespace, memory sizing from the
//! host, images, aliases. The rules are documented in docs/profile.md.

use std::collections::BTreeMap;

use super::input::{
    AppInput, BitcoinInput, BtcpayInput, LightningInput, ResourcesInput, SiteInput, SpecInput,
};
use super::quantity::{Bytes, Millicores};
use super::site::{
    Acme, App, Apps, Backup, BackupTarget, BitcoinImplementation, BitcoinIngress, BitcoinNode,
    Btcpay, Disk, Host, Implementation, Inbound, Ingress, LightningNode, LndApi, Metadata,
    Monitoring, Networking, Rclone, Resources, Site, SiteSpec, Tor, TorMode,
};
use crate::images;

/// bitcoind's own default mempool limit, kept on hosts of 8 GiB and more.
const DEFAULT_MAXMEMPOOL_MIB: u64 = 300;
/// Below 8 GiB (a 4 GiB Pi) every MiB counts: a smaller mempool and a smaller share for dbcache.
const SMALL_HOST_MEMORY: Bytes = Bytes::gib(8);
/// Still room for many blocks' worth of transactions; fee estimation works from blocks.
const SMALL_HOST_MAXMEMPOOL_MIB: u64 = 128;
/// Smallest and largest dbcache openlsp picks by itself; more only helps the initial sync
/// marginally, less makes it crawl.
const MIN_AUTO_DBCACHE_MIB: u64 = 256;
const MAX_AUTO_DBCACHE_MIB: u64 = 4096;
/// bitcoind's memory beyond dbcache and mempool: block index, peers, RPC, txindex.
const BITCOIND_BASE_MIB: u64 = 640;
const LND_MEMORY: Bytes = Bytes::gib(1);
/// The memory limit of the lndinit sidecar beside every LND.
pub const LND_SIDECAR_MEMORY: Bytes = Bytes::mib(64);
/// The memory of lndinit's `wallet` init container (file mode). btcwallet derives each wallet
/// key with scrypt N=2^18, r=8, p=1 (waddrmgr's DefaultScryptOptions), one 128*N*r = 256 MiB
/// buffer at a time. Creating a wallet derives two keys back to back, and Go's collector may not
/// free the first buffer before the second is taken, so 512 MiB, plus 128 MiB for the Go
/// runtime, bbolt and the aezeed seed (scrypt, 32 MiB).
pub const LND_WALLET_INIT_MEMORY: Bytes = Bytes::mib(640);
/// Its CPU request.
pub const LND_SIDECAR_CPU: Millicores = Millicores(10);
/// The channel backup container: busybox's shell and applets, and rclone. Each rclone process
/// (one per target at once, and `rclone serve http` for metrics) takes about 45 MiB resident
/// (rclone 1.60 copying to SFTP, measured); 64 MiB each leaves room for newer releases.
pub const BACKUP_BASE_MEMORY: Bytes = Bytes::mib(32);
pub const BACKUP_RCLONE_MEMORY: Bytes = Bytes::mib(64);
pub const BACKUP_CPU: Millicores = Millicores(10);
/// Core Lightning on a Pi: lightningd, its subdaemons (one channeld per peer) and the plugins
/// it starts by default (bcli, cln-grpc, clnrest, askrene, xpay, ...).
const CLN_MEMORY: Bytes = Bytes::mib(768);
const CLN_CPU: Millicores = Millicores(250);
/// Each of the CLN pod's init containers (the config composer, the hsm_secret writer): a shell
/// and one small program, one at a time before lightningd.
pub const CLN_INIT_MEMORY: Bytes = Bytes::mib(64);
pub const CLN_INIT_CPU: Millicores = Millicores(10);
const BITCOIND_CPU: Millicores = Millicores(500);
/// btcd's memory: its UTXO cache at the default `utxocachemaxsize` (250 MiB) and the Go heap
/// around it while it verifies blocks.
const BTCD_MEMORY: Bytes = Bytes::mib(1536);
const LND_CPU: Millicores = Millicores(250);
/// LND's own default node colour.
pub const DEFAULT_COLOR: &str = "#3399ff";
/// Private ranges: pod networks of microk8s (10.1.0.0/16), k3s, kubeadm and IPv6 ULAs.
pub const DEFAULT_RPC_ALLOW_IP: [&str; 4] =
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

/// The Tor daemon: a client with a handful of onion services.
const TOR_MEMORY: Bytes = Bytes::mib(256);
const TOR_CPU: Millicores = Millicores(100);
/// The bitcoind exporter: python decoding the latest block (`getblock <hash> 2`).
pub const EXPORTER_MEMORY: Bytes = Bytes::mib(192);
pub const EXPORTER_CPU: Millicores = Millicores(50);
/// The exporter pod's `headers` container: one small python HTTP server, one RPC per scrape
/// (about 22 MiB resident with CPython 3.11).
pub const HEADERS_EXPORTER_MEMORY: Bytes = Bytes::mib(48);
pub const HEADERS_EXPORTER_CPU: Millicores = Millicores(10);
pub const LNDMON_MEMORY: Bytes = Bytes::mib(128);
/// BTCPay Server (ASP.NET): a small store on a Pi stays well under this.
pub const BTCPAY_MEMORY: Bytes = Bytes::mib(512);
pub const BTCPAY_CPU: Millicores = Millicores(250);
/// NBXplorer, which keeps its index in PostgreSQL.
pub const NBXPLORER_MEMORY: Bytes = Bytes::mib(256);
pub const NBXPLORER_CPU: Millicores = Millicores(100);
/// PostgreSQL with the two databases (shared_buffers stays at its 128MB default).
pub const POSTGRES_MEMORY: Bytes = Bytes::mib(256);
pub const POSTGRES_CPU: Millicores = Millicores(100);
/// A channel management UI (a Node.js server); ThunderHub and RTL stay well under this.
pub const APP_MEMORY: Bytes = Bytes::mib(256);
pub const APP_CPU: Millicores = Millicores(100);
/// The pg-dump container beside PostgreSQL: pg_dump streaming through gzip.
pub const DUMP_MEMORY: Bytes = Bytes::mib(128);
pub const DUMP_CPU: Millicores = Millicores(50);
pub const LNDMON_CPU: Millicores = Millicores(50);
/// CLN's exporter: openlsp itself on one thread, four small JSON answers per refresh (about
/// 3 MiB of its own; the rest is the binary's pages, which the cgroup counts too).
pub const CLN_EXPORTER_MEMORY: Bytes = Bytes::mib(48);
pub const CLN_EXPORTER_CPU: Millicores = Millicores(20);
/// Each end of the tunnel from BTCPay to a CLN node's RPC socket (`openlsp tunnel`): openlsp on
/// one thread, copying bytes.
pub const TUNNEL_MEMORY: Bytes = Bytes::mib(32);
pub const TUNNEL_CPU: Millicores = Millicores(10);
/// microk8s' observability addon: Helm release `kube-prom-stack` in namespace `observability`.
const MONITORING_RELEASE: &str = "kube-prom-stack";
const MONITORING_NAMESPACE: &str = "observability";
/// The ingress class of microk8s' nginx ingress addon.
const INGRESS_CLASS: &str = "public";
/// The microk8s `ingress` addon's namespace.
const INGRESS_CONTROLLER_NAMESPACE: &str = "ingress";
/// Timestamped copies of a channel backup kept on each target: a month of daily changes.
const BACKUP_KEEP: u32 = 30;

/// Memory of each Lightning pod's backup container: rclone for every target at once, and one
/// more serving the metrics with monitoring on; none without targets (no container).
pub fn backup_memory(site: &Site) -> Bytes {
    backup_memory_for(site, site.spec.backup.targets.len())
}

/// Memory of a backup container that copies to `targets` targets.
pub fn backup_memory_for(site: &Site, targets: usize) -> Bytes {
    if targets == 0 {
        return Bytes(0);
    }
    let rclones = targets as u64 + u64::from(site.spec.monitoring.enabled);
    Bytes(BACKUP_BASE_MEMORY.0 + rclones * BACKUP_RCLONE_MEMORY.0)
}

/// Memory kept for the OS, microk8s and its addons: a quarter of the host, at least 1.5 GiB.
fn default_reserved_memory(host_memory: Bytes) -> Bytes {
    Bytes((host_memory.0 / 4).max(Bytes::mib(1536).0))
}

/// dbcache from the host's memory: an eighth of it (three thirty-seconds below 8 GiB, less the
/// channel backup containers on the machine), shared by the Bitcoin nodes on that machine,
/// between 256 MiB and 4 GiB. An 8 GiB Pi gets 1 GiB, a 4 GiB one 384 MiB (256 MiB with a
/// backup target), so that bitcoind, LND, Tor and the backups fit beside the OS.
fn default_dbcache_mib(host_memory: Bytes, bitcoin_nodes_on_machine: usize, backups: Bytes) -> u64 {
    let host = host_memory.as_mib();
    let share = if host_memory.0 < SMALL_HOST_MEMORY.0 {
        (host * 3 / 32).saturating_sub(backups.as_mib())
    } else {
        host / 8
    };
    (share / bitcoin_nodes_on_machine.max(1) as u64)
        .clamp(MIN_AUTO_DBCACHE_MIB, MAX_AUTO_DBCACHE_MIB)
}

/// maxmempool from the host's memory: bitcoind's default, or 128 MiB below 8 GiB.
fn default_maxmempool_mib(host_memory: Bytes) -> u64 {
    if host_memory.0 < SMALL_HOST_MEMORY.0 {
        SMALL_HOST_MAXMEMPOOL_MIB
    } else {
        DEFAULT_MAXMEMPOOL_MIB
    }
}

/// Pod memory for bitcoind: caches plus base, rounded up to 128 MiB. Saturates rather than
/// wraps: the checks refuse caches this large, and must see them as large.
fn bitcoind_memory(dbcache_mib: u64, maxmempool_mib: u64) -> Bytes {
    let mib = dbcache_mib
        .saturating_add(maxmempool_mib)
        .saturating_add(BITCOIND_BASE_MIB);
    Bytes::mib(mib.div_ceil(128).saturating_mul(128))
}

/// Resolves the operator's profile into the effective site. Never fails: broken references
/// keep their names and are reported by validation.
pub fn resolve(input: &SiteInput) -> Site {
    let spec = &input.spec;
    let host = Host {
        node_name: spec.host.node_name.clone(),
        arch: spec.host.arch,
        memory: spec.host.memory,
        cpus: spec.host.cpus,
        reserved_memory: spec
            .host
            .reserved_memory
            .unwrap_or_else(|| default_reserved_memory(spec.host.memory)),
    };
    let disks = spec
        .disks
        .iter()
        .map(|(name, disk)| {
            let resolved = Disk {
                path: disk.path.clone(),
                size: disk.size,
                node_name: disk
                    .node_name
                    .clone()
                    .unwrap_or_else(|| host.node_name.clone()),
                allow_bitcoin_and_lightning: disk.allow_bitcoin_and_lightning.unwrap_or(false),
                allow_root_filesystem: disk.allow_root_filesystem.unwrap_or(false),
            };
            (name.clone(), resolved)
        })
        .collect();
    let mut site = Site {
        api_version: input.api_version.clone(),
        kind: input.kind.clone(),
        metadata: Metadata {
            name: input.metadata.name.clone(),
        },
        spec: SiteSpec {
            network: spec.network,
            namespace: spec
                .namespace
                .clone()
                .unwrap_or_else(|| input.metadata.name.clone()),
            host,
            disks,
            bitcoin: Vec::new(),
            lightning: Vec::new(),
            tor: resolve_tor(spec),
            networking: Networking {
                ipv6: false,
                inbound: Inbound::None,
                external_ips: Vec::new(),
            },
            monitoring: resolve_monitoring(spec),
            ingress: resolve_ingress(spec),
            backup: resolve_backup(spec),
            btcpay: spec
                .btcpay
                .as_ref()
                .map(|btcpay| resolve_btcpay(btcpay, spec)),
            apps: resolve_apps(spec),
        },
    };
    // Lightning first: bitcoind's default cache leaves room for the Lightning pods' backups.
    site.spec.lightning = spec.lightning.iter().map(resolve_lightning).collect();
    let bitcoin = spec
        .bitcoin
        .iter()
        .map(|node| resolve_bitcoin(&site, &spec.bitcoin, node))
        .collect();
    site.spec.bitcoin = bitcoin;
    site.spec.networking = resolve_networking(&site, spec);
    site
}

fn resolve_tor(spec: &SpecInput) -> Tor {
    let input = spec.tor.clone().unwrap_or_default();
    let resources = input.resources.unwrap_or_default();
    Tor {
        mode: input.mode.unwrap_or(TorMode::Hybrid),
        image: input.image.unwrap_or_else(|| images::TOR.to_owned()),
        resources: Resources {
            memory: resources.memory.unwrap_or(TOR_MEMORY),
            cpu: resources.cpu.unwrap_or(TOR_CPU),
        },
    }
}

/// `hostPort` when it can work: clearnet allowed, and at most one Bitcoin and one Lightning
/// node per machine (two nodes of a kind would claim the same port). Otherwise `none`.
fn default_inbound(site: &Site) -> Inbound {
    if site.spec.tor.mode == TorMode::TorOnly {
        return Inbound::None;
    }
    let mut per_machine: BTreeMap<(&str, bool), usize> = BTreeMap::new();
    let nodes = site
        .spec
        .bitcoin
        .iter()
        .map(|n| (n.disk.as_str(), true))
        .chain(site.spec.lightning.iter().map(|n| (n.disk.as_str(), false)));
    for (disk, is_bitcoin) in nodes {
        *per_machine
            .entry((site.machine_of_disk(disk), is_bitcoin))
            .or_default() += 1;
    }
    if per_machine.values().all(|count| *count <= 1) {
        Inbound::HostPort
    } else {
        Inbound::None
    }
}

fn resolve_networking(site: &Site, spec: &SpecInput) -> Networking {
    let input = spec.networking.clone().unwrap_or_default();
    Networking {
        ipv6: input.ipv6.unwrap_or(false),
        inbound: input.inbound.unwrap_or_else(|| default_inbound(site)),
        external_ips: input.external_ips.unwrap_or_default(),
    }
}

/// Off without the section; on (with the addon's names) when the section is written.
fn resolve_monitoring(spec: &SpecInput) -> Monitoring {
    let input = spec.monitoring.clone();
    let present = input.is_some();
    let input = input.unwrap_or_default();
    Monitoring {
        enabled: input.enabled.unwrap_or(present),
        release: input
            .release
            .unwrap_or_else(|| MONITORING_RELEASE.to_owned()),
        namespace: input
            .namespace
            .unwrap_or_else(|| MONITORING_NAMESPACE.to_owned()),
        lndmon: input.lndmon.unwrap_or(true),
        exporter_image: input
            .exporter_image
            .unwrap_or_else(|| images::BITCOIN_EXPORTER.to_owned()),
        lndmon_image: input
            .lndmon_image
            .unwrap_or_else(|| images::LNDMON.to_owned()),
        cln_exporter_image: input
            .cln_exporter_image
            .unwrap_or_else(|| images::CONTROLLER_PLACEHOLDER.to_owned()),
    }
}

/// Off without the section; on when it is written.
fn resolve_ingress(spec: &SpecInput) -> Ingress {
    let input = spec.ingress.clone();
    let present = input.is_some();
    let input = input.unwrap_or_default();
    Ingress {
        enabled: input.enabled.unwrap_or(present),
        class_name: input.class_name.unwrap_or_else(|| INGRESS_CLASS.to_owned()),
        controller_namespace: input
            .controller_namespace
            .unwrap_or_else(|| INGRESS_CONTROLLER_NAMESPACE.to_owned()),
        email: input.email,
        acme: input.acme.unwrap_or(Acme::Production),
        grafana: input.grafana,
    }
}

fn resolve_apps(spec: &SpecInput) -> Apps {
    let apps = spec.apps.clone().unwrap_or_default();
    Apps {
        rtl: apps.rtl.as_ref().map(|app| resolve_app(app, images::RTL)),
        thunderhub: apps
            .thunderhub
            .as_ref()
            .map(|app| resolve_app(app, images::THUNDERHUB)),
    }
}

fn resolve_app(input: &AppInput, image: &str) -> App {
    let resources = input.resources.clone().unwrap_or_default();
    App {
        nodes: input.nodes.clone(),
        host: input.host.clone(),
        onion: input.onion.unwrap_or(false),
        resources: Resources {
            memory: resources.memory.unwrap_or(APP_MEMORY),
            cpu: resources.cpu.unwrap_or(APP_CPU),
        },
        image: input.image.clone().unwrap_or_else(|| image.to_owned()),
    }
}

fn resolve_btcpay(input: &BtcpayInput, spec: &SpecInput) -> Btcpay {
    let resources = input.resources.clone().unwrap_or_default();
    let every_target = || {
        spec.backup
            .iter()
            .flat_map(|backup| &backup.targets)
            .map(|target| target.name.clone())
            .collect()
    };
    Btcpay {
        bitcoin: input.bitcoin.clone(),
        lightning: input.lightning.clone(),
        disk: input.disk.clone(),
        host: input.host.clone(),
        onion: input.onion.unwrap_or(false),
        resources: Resources {
            memory: resources.memory.unwrap_or(BTCPAY_MEMORY),
            cpu: resources.cpu.unwrap_or(BTCPAY_CPU),
        },
        image: input
            .image
            .clone()
            .unwrap_or_else(|| images::BTCPAY.to_owned()),
        nbxplorer_image: input
            .nbxplorer_image
            .clone()
            .unwrap_or_else(|| images::NBXPLORER.to_owned()),
        postgres_image: input
            .postgres_image
            .clone()
            .unwrap_or_else(|| images::POSTGRES.to_owned()),
        backup_targets: input.backup_targets.clone().unwrap_or_else(every_target),
        tunnel_image: input
            .tunnel_image
            .clone()
            .unwrap_or_else(|| images::CONTROLLER_PLACEHOLDER.to_owned()),
    }
}

fn resolve_backup(spec: &SpecInput) -> Backup {
    let input = spec.backup.clone().unwrap_or_default();
    Backup {
        targets: input
            .targets
            .iter()
            .map(|target| BackupTarget {
                name: target.name.clone(),
                path: target.path.clone(),
                rclone: target.rclone.as_ref().map(|rclone| Rclone {
                    remote: rclone.remote.clone(),
                    config: rclone.config.clone(),
                }),
            })
            .collect(),
        keep: input.keep.unwrap_or(BACKUP_KEEP),
    }
}

fn resolve_bitcoin(site: &Site, all: &[BitcoinInput], node: &BitcoinInput) -> BitcoinNode {
    let machine = site.machine_of_disk(&node.disk);
    let on_machine = all
        .iter()
        .filter(|other| site.machine_of_disk(&other.disk) == machine)
        .count();
    // The backup and cluster-copy containers of the Lightning pods on this machine.
    let backups = if site.spec.backup.targets.is_empty() {
        Bytes(0)
    } else {
        let lightning_here = site
            .spec
            .lightning
            .iter()
            .filter(|l| site.machine_of_disk(&l.disk) == machine)
            .count() as u64;
        Bytes(lightning_here * (backup_memory(site).0 + LND_SIDECAR_MEMORY.0))
    };
    let dbcache = node
        .dbcache
        .unwrap_or_else(|| default_dbcache_mib(site.spec.host.memory, on_machine, backups));
    let maxmempool = node
        .maxmempool
        .unwrap_or_else(|| default_maxmempool_mib(site.spec.host.memory));
    let resources = node.resources.clone().unwrap_or_default();
    let implementation = node.implementation.unwrap_or_default();
    let (image, memory) = match implementation {
        BitcoinImplementation::Bitcoind => (images::BITCOIND, bitcoind_memory(dbcache, maxmempool)),
        BitcoinImplementation::Btcd => (images::BTCD, BTCD_MEMORY),
    };
    BitcoinNode {
        name: node.name.clone(),
        implementation,
        disk: node.disk.clone(),
        txindex: node.txindex.unwrap_or(false),
        prune: node.prune,
        dbcache,
        maxmempool,
        image: node.image.clone().unwrap_or_else(|| image.to_owned()),
        resources: Resources {
            memory: resources.memory.unwrap_or(memory),
            cpu: resources.cpu.unwrap_or(BITCOIND_CPU),
        },
        rpc_allow_ip: node.rpc_allow_ip.clone().unwrap_or_else(|| {
            DEFAULT_RPC_ALLOW_IP
                .iter()
                .map(|range| (*range).to_owned())
                .collect()
        }),
        ingress: BitcoinIngress {
            rpc: node.ingress.clone().unwrap_or_default().rpc,
        },
        tls: node.tls.clone(),
    }
}

fn resolve_lightning(node: &LightningInput) -> LightningNode {
    let resources: ResourcesInput = node.resources.clone().unwrap_or_default();
    let implementation = node.implementation.unwrap_or_default();
    let (image, memory, cpu) = match implementation {
        Implementation::Lnd => (images::LND, LND_MEMORY, LND_CPU),
        Implementation::Cln => (images::CLN, CLN_MEMORY, CLN_CPU),
    };
    LightningNode {
        name: node.name.clone(),
        implementation,
        bitcoin: node.bitcoin.clone(),
        disk: node.disk.clone(),
        alias: node.alias.clone().unwrap_or_else(|| node.name.clone()),
        color: node
            .color
            .clone()
            .unwrap_or_else(|| DEFAULT_COLOR.to_owned())
            .to_ascii_lowercase(),
        image: node.image.clone().unwrap_or_else(|| image.to_owned()),
        resources: Resources {
            memory: resources.memory.unwrap_or(memory),
            cpu: resources.cpu.unwrap_or(cpu),
        },
        tls_extra_domains: node.tls_extra_domains.clone(),
        tls_extra_ips: node.tls_extra_ips.clone(),
        onion: {
            let mut apis = node.onion.clone();
            apis.sort();
            apis.dedup();
            apis
        },
        ingress: {
            let input = node.ingress.clone().unwrap_or_default();
            [(LndApi::Rest, input.rest), (LndApi::Grpc, input.grpc)]
                .into_iter()
                .filter_map(|(api, host)| host.map(|host| (api, host)))
                .collect()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_8_gib_pi_gets_a_1_gib_dbcache_and_fits_lnd() {
        let host = Bytes::gib(8);
        assert_eq!(default_dbcache_mib(host, 1, Bytes(0)), 1024);
        assert_eq!(default_reserved_memory(host), Bytes::gib(2));
        let bitcoind = bitcoind_memory(1024, DEFAULT_MAXMEMPOOL_MIB);
        assert_eq!(bitcoind, Bytes::gib(2));
        assert!(bitcoind.0 + LND_MEMORY.0 <= host.0 - default_reserved_memory(host).0);
    }

    #[test]
    fn a_4_gib_pi_gets_smaller_caches_that_leave_room_for_lnd_and_tor() {
        let host = Bytes::gib(4);
        assert_eq!(default_dbcache_mib(host, 1, Bytes(0)), 384);
        // A backup target's containers (160 MiB) come out of the cache, down to its minimum.
        assert_eq!(default_dbcache_mib(host, 1, Bytes::mib(160)), 256);
        assert_eq!(default_maxmempool_mib(host), SMALL_HOST_MAXMEMPOOL_MIB);
        let bitcoind = bitcoind_memory(384, SMALL_HOST_MAXMEMPOOL_MIB);
        assert_eq!(bitcoind, Bytes::mib(1152));
        let lnd = LND_MEMORY.0 + LND_SIDECAR_MEMORY.0;
        assert!(bitcoind.0 + lnd + TOR_MEMORY.0 <= host.0 - default_reserved_memory(host).0);
        assert_eq!(
            default_maxmempool_mib(Bytes::gib(8)),
            DEFAULT_MAXMEMPOOL_MIB
        );
    }

    #[test]
    fn small_hosts_get_the_smallest_dbcache_and_big_ones_are_capped() {
        assert_eq!(
            default_dbcache_mib(Bytes::gib(2), 1, Bytes(0)),
            MIN_AUTO_DBCACHE_MIB
        );
        assert_eq!(
            default_dbcache_mib(Bytes::gib(128), 1, Bytes(0)),
            MAX_AUTO_DBCACHE_MIB
        );
        assert_eq!(default_dbcache_mib(Bytes::gib(16), 2, Bytes(0)), 1024);
        assert_eq!(default_reserved_memory(Bytes::gib(4)), Bytes::mib(1536));
    }

    #[test]
    fn a_node_runs_lnd_unless_it_asks_for_cln_which_gets_its_own_image_and_size() {
        let input = |implementation| LightningInput {
            name: "ln".to_owned(),
            implementation,
            bitcoin: "bitcoind".to_owned(),
            disk: "lightning".to_owned(),
            alias: None,
            color: None,
            image: None,
            resources: None,
            tls_extra_domains: Vec::new(),
            tls_extra_ips: Vec::new(),
            onion: Vec::new(),
            ingress: None,
        };
        let lnd = resolve_lightning(&input(None));
        assert_eq!(lnd.implementation, Implementation::Lnd);
        assert_eq!(lnd.image, images::LND);
        assert_eq!(lnd.resources.memory, LND_MEMORY);
        let cln = resolve_lightning(&input(Some(Implementation::Cln)));
        assert_eq!(cln.implementation, Implementation::Cln);
        assert_eq!(cln.image, images::CLN);
        assert_eq!(cln.resources.memory, CLN_MEMORY);
        assert_eq!(cln.resources.cpu, CLN_CPU);
    }

    #[test]
    fn absurd_caches_saturate_instead_of_wrapping() {
        // 2^44 MiB is 2^64 bytes: it once wrapped to a 4736Mi limit.
        assert_eq!(bitcoind_memory(4096, 17_592_186_044_416), Bytes(u64::MAX));
        assert_eq!(bitcoind_memory(u64::MAX, u64::MAX), Bytes(u64::MAX));
    }
}
