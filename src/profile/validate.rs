//! Semantic checks on the effective site: references, names, disks, memory. Every problem is
//! reported with its location and a next step; all of them at once, not just the first.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Component, Path};

use super::diagnostic::{Diagnostic, Severity};
use super::quantity::Bytes;
use super::site::{API_VERSION, KIND, Network, Site};
use super::source_map::SourceMap;

/// Longest node name: StatefulSet pod names and derived object names need room for suffixes.
pub const MAX_NODE_NAME: usize = 48;
/// LND rejects longer aliases.
pub const MAX_ALIAS_BYTES: usize = 32;
/// bitcoind refuses a smaller prune target.
pub const MIN_PRUNE_MIB: u64 = 550;
/// Mainnet chain size for a full (unpruned) node, November 2026, with room to grow for a year.
pub const MAINNET_FULL_NODE: Bytes = Bytes::gib(850);
/// Extra room the transaction index needs on mainnet.
pub const MAINNET_TXINDEX: Bytes = Bytes::gib(70);
const RESERVED_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// Whether `name` is a DNS-1123 label: lowercase alphanumerics and '-', at most 63 characters.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Whether `name` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Whether `path` is absolute and already normal (no `.`, `..`, `//` or trailing `/`).
pub fn is_normal_absolute_path(path: &str) -> bool {
    let as_path = Path::new(path);
    as_path.is_absolute()
        && !path.ends_with('/')
        && !path.contains("//")
        && as_path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

pub(super) struct Checker<'a> {
    file: &'a Path,
    map: &'a SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a Path, map: &'a SourceMap) -> Self {
        Checker {
            file,
            map,
            diagnostics: Vec::new(),
        }
    }

    fn push(&mut self, severity: Severity, path: &str, message: String, hint: Option<String>) {
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            location: self.map.value_location(path),
            path: path.to_owned(),
            message,
            hint,
        });
    }

    pub(super) fn error(
        &mut self,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, path, message.into(), Some(hint.into()));
    }

    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message.into(), Some(hint.into()));
    }

    pub fn check(&mut self, site: &Site) {
        self.check_header(site);
        self.check_host(site);
        self.check_disks(site);
        self.check_names(site);
        self.check_bitcoin(site);
        self.check_lightning(site);
        self.check_disk_sharing(site);
        self.check_stack(site);
        self.check_capacity(site);
    }

    fn check_header(&mut self, site: &Site) {
        if site.api_version != API_VERSION {
            self.error(
                "apiVersion",
                format!("unsupported apiVersion {:?}", site.api_version),
                format!("use `apiVersion: {API_VERSION}`"),
            );
        }
        if site.kind != KIND {
            self.error(
                "kind",
                format!("unsupported kind {:?}", site.kind),
                format!("use `kind: {KIND}`"),
            );
        }
        self.check_label("metadata.name", site.name(), "site name");
        let namespace = site.namespace();
        self.check_label("spec.namespace", namespace, "namespace");
        if RESERVED_NAMESPACES.contains(&namespace) {
            self.error(
                "spec.namespace",
                format!("{namespace:?} belongs to Kubernetes itself"),
                "pick a namespace of your own, for example `openlsp`",
            );
        }
    }

    fn check_label(&mut self, path: &str, name: &str, what: &str) {
        if !is_dns_label(name) {
            self.error(
                path,
                format!("{what} {name:?} is not a valid DNS-1123 label"),
                "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            );
        }
    }

    fn check_host(&mut self, site: &Site) {
        let host = &site.spec.host;
        if !is_dns_subdomain(&host.node_name) {
            self.error(
                "spec.host.nodeName",
                format!("{:?} is not a valid Kubernetes node name", host.node_name),
                "use the name `kubectl get nodes` shows (lowercase, digits, '-' and '.')",
            );
        }
        if host.memory < Bytes::gib(1) {
            self.error(
                "spec.host.memory",
                format!("{} is too little memory for a Bitcoin node", host.memory),
                "write the host's memory with a unit, for example `memory: 8Gi`",
            );
        }
        if host.cpus == 0 {
            self.error(
                "spec.host.cpus",
                "a host needs at least one CPU",
                "write the number of cores, for example `cpus: 4`",
            );
        }
        if host.reserved_memory >= host.memory {
            self.error(
                "spec.host.reservedMemory",
                format!(
                    "reserving {} leaves nothing of the host's {}",
                    host.reserved_memory, host.memory
                ),
                "lower reservedMemory, or leave it out for the default (a quarter, at least 1.5Gi)",
            );
        }
    }

    fn check_disks(&mut self, site: &Site) {
        let mut by_machine: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for (name, disk) in &site.spec.disks {
            let path = format!("spec.disks.{name}");
            self.check_label(&path, name, "disk name");
            if !Path::new(&disk.path).is_absolute() {
                self.error(
                    &format!("{path}.path"),
                    format!("disk path {:?} is relative", disk.path),
                    "use the absolute mount point, for example `/srv/blockchain`",
                );
            } else if disk.path == "/" {
                self.error(
                    &format!("{path}.path"),
                    "the root filesystem cannot be a disk",
                    "mount a separate disk, for example at /srv/blockchain",
                );
            } else if !is_normal_absolute_path(&disk.path) {
                self.error(
                    &format!("{path}.path"),
                    format!("disk path {:?} is not in normal form", disk.path),
                    "write it without '.', '..', '//' or a trailing '/'",
                );
            }
            if disk.size.0 == 0 {
                self.error(
                    &format!("{path}.size"),
                    "a disk needs a size",
                    "write its size with a unit, for example `size: 1Ti`",
                );
            }
            if !is_dns_subdomain(&disk.node_name) {
                self.error(
                    &format!("{path}.nodeName"),
                    format!("{:?} is not a valid Kubernetes node name", disk.node_name),
                    "use the name `kubectl get nodes` shows",
                );
            }
            by_machine
                .entry(disk.node_name.as_str())
                .or_default()
                .push((name.as_str(), disk.path.as_str()));
        }
        for disks in by_machine.values() {
            for (i, (name, path)) in disks.iter().enumerate() {
                for (other, other_path) in &disks[..i] {
                    let nested = Path::new(path).starts_with(other_path)
                        || Path::new(other_path).starts_with(path);
                    if nested {
                        self.error(
                            &format!("spec.disks.{name}.path"),
                            format!(
                                "disk {name:?} ({path}) overlaps disk {other:?} ({other_path}) on the same machine"
                            ),
                            "give each disk its own mount point; nodes can share one disk entry instead",
                        );
                    }
                }
            }
        }
    }

    fn check_names(&mut self, site: &Site) {
        let mut seen: HashMap<&str, String> = HashMap::new();
        let nodes = site
            .spec
            .bitcoin
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("spec.bitcoin[{i}]"), n.name.as_str()))
            .chain(
                site.spec
                    .lightning
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("spec.lightning[{i}]"), n.name.as_str())),
            );
        for (node_path, name) in nodes {
            let path = format!("{node_path}.name");
            let valid = is_dns_label(name)
                && name.len() <= MAX_NODE_NAME
                && name.starts_with(|c: char| c.is_ascii_lowercase());
            if !valid {
                self.error(
                    &path,
                    format!("node name {name:?} is not a valid DNS-1123 label that starts with a letter"),
                    format!(
                        "use at most {MAX_NODE_NAME} lowercase letters, digits and '-', starting with a letter; it names Services and StatefulSets"
                    ),
                );
            }
            if let Some(first) = seen.get(name) {
                let first = first.clone();
                self.error(
                    &path,
                    format!("node name {name:?} is already used by {first}"),
                    "every Bitcoin and Lightning node needs its own name",
                );
            } else {
                seen.insert(name, node_path);
            }
        }
    }

    fn check_disk_ref(&mut self, site: &Site, path: &str, disk: &str) {
        if !site.spec.disks.contains_key(disk) {
            let known: Vec<&str> = site.spec.disks.keys().map(String::as_str).collect();
            let hint = if known.is_empty() {
                format!(
                    "declare it under spec.disks, for example `{disk}: {{ path: /srv/{disk}, size: 1Ti }}`"
                )
            } else {
                format!(
                    "use one of: {}; or declare {disk:?} under spec.disks",
                    known.join(", ")
                )
            };
            self.error(path, format!("no disk named {disk:?}"), hint);
        }
    }

    fn check_bitcoin(&mut self, site: &Site) {
        for (i, node) in site.spec.bitcoin.iter().enumerate() {
            let base = format!("spec.bitcoin[{i}]");
            self.check_disk_ref(site, &format!("{base}.disk"), &node.disk);
            if let Some(prune) = node.prune {
                if node.txindex {
                    self.error(
                        &format!("{base}.prune"),
                        "prune and txindex exclude each other: a pruned node has no old blocks to index",
                        "remove `prune` to keep the full chain, or remove `txindex`",
                    );
                }
                if prune < MIN_PRUNE_MIB {
                    self.error(
                        &format!("{base}.prune"),
                        format!("prune target {prune} MiB is below bitcoind's minimum of {MIN_PRUNE_MIB} MiB"),
                        format!("use `prune: {MIN_PRUNE_MIB}` or more (the value is in MiB)"),
                    );
                } else if let Some(disk) = site.spec.disks.get(&node.disk)
                    && prune > disk.size.as_mib()
                {
                    self.error(
                        &format!("{base}.prune"),
                        format!(
                            "prune target {prune} MiB is more than disk {:?} holds ({}, {} MiB): bitcoind would fill it before pruning",
                            node.disk,
                            disk.size,
                            disk.size.as_mib()
                        ),
                        "the value is in MiB: keep it well below the disk's size, beside the chain state (`prune: 550` keeps only recent blocks)",
                    );
                }
            }
            if !(4..=65536).contains(&node.dbcache) {
                self.error(
                    &format!("{base}.dbcache"),
                    format!("dbcache {} MiB is outside 4..65536", node.dbcache),
                    "leave it out to size it from the host's memory",
                );
            }
            if node.maxmempool < 5 {
                self.error(
                    &format!("{base}.maxmempool"),
                    format!(
                        "maxmempool {} MiB is below bitcoind's minimum of 5",
                        node.maxmempool
                    ),
                    "leave it out for the default of 300",
                );
            }
            self.check_image(&format!("{base}.image"), &node.image);
            for (j, range) in node.rpc_allow_ip.iter().enumerate() {
                if !is_ip_or_cidr(range) {
                    self.error(
                        &format!("{base}.rpcAllowIp[{j}]"),
                        format!("{range:?} is not an IP address or CIDR range"),
                        "write ranges like 10.0.0.0/8 or fd00::/8",
                    );
                }
            }
            let floor = node.dbcache + node.maxmempool + 256;
            if node.resources.memory < Bytes::mib(floor) {
                self.error(
                    &format!("{base}.resources.memory"),
                    format!(
                        "{} is too little for dbcache {} MiB plus maxmempool {} MiB; bitcoind would be killed for running out of memory",
                        node.resources.memory, node.dbcache, node.maxmempool
                    ),
                    format!("give it at least {}, or lower dbcache", Bytes::mib(floor)),
                );
            }
        }
    }

    pub(super) fn check_image(&mut self, path: &str, image: &str) {
        let valid = !image.is_empty()
            && !image.chars().any(char::is_whitespace)
            && !image.ends_with(':')
            && !image.starts_with(['/', ':', '@']);
        if !valid {
            self.error(
                path,
                format!("{image:?} is not an image reference"),
                "write repository:tag, for example `lightninglabs/lnd:v0.19.3-beta`",
            );
        }
    }

    fn check_lightning(&mut self, site: &Site) {
        for (i, node) in site.spec.lightning.iter().enumerate() {
            let base = format!("spec.lightning[{i}]");
            match site.bitcoin_node(&node.bitcoin) {
                None => {
                    let known: Vec<&str> =
                        site.spec.bitcoin.iter().map(|b| b.name.as_str()).collect();
                    let hint = if known.is_empty() {
                        "declare a Bitcoin node under spec.bitcoin first".to_owned()
                    } else {
                        format!("known: {}", known.join(", "))
                    };
                    self.error(
                        &format!("{base}.bitcoin"),
                        format!("no bitcoin node named {:?}", node.bitcoin),
                        hint,
                    );
                }
                Some(backend) if backend.prune.is_some() => self.warn(
                    &format!("{base}.bitcoin"),
                    format!(
                        "LND uses the pruned node {:?}; it works, but fetches old blocks from peers and is slower",
                        backend.name
                    ),
                    "for a routing node keep the full chain (remove `prune`)",
                ),
                Some(_) => {}
            }
            self.check_disk_ref(site, &format!("{base}.disk"), &node.disk);
            if node.alias.len() > MAX_ALIAS_BYTES || node.alias.is_empty() {
                self.error(
                    &format!("{base}.alias"),
                    format!(
                        "alias {:?} must be 1 to {MAX_ALIAS_BYTES} bytes",
                        node.alias
                    ),
                    "shorten it",
                );
            }
            if node.alias.chars().any(char::is_control) {
                self.error(
                    &format!("{base}.alias"),
                    "alias contains a control character",
                    "use plain text on one line",
                );
            }
            if !is_hex_color(&node.color) {
                self.error(
                    &format!("{base}.color"),
                    format!("color {:?} is not a #rrggbb colour", node.color),
                    "write it like \"#3399ff\" (quoted, since # starts a YAML comment)",
                );
            }
            self.check_image(&format!("{base}.image"), &node.image);
            for (j, domain) in node.tls_extra_domains.iter().enumerate() {
                let bare = domain.strip_prefix("*.").unwrap_or(domain);
                if !is_dns_subdomain(bare) {
                    self.error(
                        &format!("{base}.tlsExtraDomains[{j}]"),
                        format!("{domain:?} is not a DNS name"),
                        "write a lowercase host name such as node.example.com",
                    );
                }
            }
            for (j, ip) in node.tls_extra_ips.iter().enumerate() {
                if ip.parse::<IpAddr>().is_err() {
                    self.error(
                        &format!("{base}.tlsExtraIps[{j}]"),
                        format!("{ip:?} is not an IP address"),
                        "write an IPv4 or IPv6 address such as 192.168.1.10",
                    );
                }
            }
        }
    }

    fn check_disk_sharing(&mut self, site: &Site) {
        for (i, node) in site.spec.lightning.iter().enumerate() {
            let Some(disk) = site.spec.disks.get(&node.disk) else {
                continue;
            };
            if disk.allow_bitcoin_and_lightning {
                continue;
            }
            if let Some(chain) = site.spec.bitcoin.iter().find(|b| b.disk == node.disk) {
                self.error(
                    &format!("spec.lightning[{i}].disk"),
                    format!(
                        "disk {:?} also holds the chain of {:?}; a full chain disk would stop LND from writing channel state",
                        node.disk, chain.name
                    ),
                    format!(
                        "give Lightning its own disk, or set `spec.disks.{}.allowBitcoinAndLightning: true` to accept the risk",
                        node.disk
                    ),
                );
            }
        }
    }

    fn check_capacity(&mut self, site: &Site) {
        let host = &site.spec.host;
        let budget = site.memory_budget();
        let mut per_machine: BTreeMap<&str, (Bytes, u64)> = BTreeMap::new();
        let nodes = site
            .spec
            .bitcoin
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("spec.bitcoin[{i}]"), &n.disk, n.resources))
            .chain(
                site.spec
                    .lightning
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("spec.lightning[{i}]"), &n.disk, n.resources)),
            )
            .collect::<Vec<_>>();
        for (base, disk, resources) in &nodes {
            if resources.memory > budget {
                self.error(
                    &format!("{base}.resources.memory"),
                    format!(
                        "the node needs {} of memory but the host has {} for pods ({} minus {} reserved)",
                        resources.memory, budget, host.memory, host.reserved_memory
                    ),
                    "lower resources.memory (and dbcache), or describe a bigger host",
                );
            }
            let machine = site.machine_of_disk(disk);
            let entry = per_machine.entry(machine).or_insert((Bytes(0), 0));
            entry.0 = Bytes(entry.0.0 + resources.memory.0);
            entry.1 += resources.cpu.0;
        }
        // Tor, the exporters, lndmon and the lndinit sidecars run beside the nodes and count too.
        for (machine, resources) in super::stack::extra_pods(site) {
            let entry = per_machine.entry(machine).or_insert((Bytes(0), 0));
            entry.0 = Bytes(entry.0.0 + resources.memory.0);
            entry.1 += resources.cpu.0;
        }
        for (machine, (memory, cpu)) in per_machine {
            if memory > budget {
                self.error(
                    "spec.host.memory",
                    format!(
                        "the pods on {machine} need {memory} of memory together, but the host has {budget} for pods ({} minus {} reserved)",
                        host.memory, host.reserved_memory
                    ),
                    "lower dbcache or resources.memory, move nodes to another machine, or reduce reservedMemory",
                );
            }
            if cpu > u64::from(host.cpus) * 1000 {
                self.error(
                    "spec.host.cpus",
                    format!(
                        "the pods on {machine} request {} CPUs together, but the host has {}",
                        super::quantity::Millicores(cpu),
                        host.cpus
                    ),
                    "lower resources.cpu on some nodes",
                );
            }
        }
        self.check_chain_size(site);
    }

    fn check_chain_size(&mut self, site: &Site) {
        if site.spec.network != Network::Mainnet {
            return;
        }
        for (i, node) in site.spec.bitcoin.iter().enumerate() {
            let Some(disk) = site.spec.disks.get(&node.disk) else {
                continue;
            };
            if node.prune.is_some() {
                continue;
            }
            let needed = mainnet_chain_size(node.txindex);
            if disk.size < needed {
                self.warn(
                    &format!("spec.bitcoin[{i}].disk"),
                    format!(
                        "disk {:?} ({}) is smaller than a full mainnet chain{} needs (about {})",
                        node.disk,
                        disk.size,
                        if node.txindex { " with txindex" } else { "" },
                        needed
                    ),
                    "use a bigger disk, or set `prune: 550` (or more) to keep only recent blocks",
                );
            }
        }
    }
}

/// Disk space a full mainnet node needs.
pub fn mainnet_chain_size(txindex: bool) -> Bytes {
    if txindex {
        Bytes(MAINNET_FULL_NODE.0 + MAINNET_TXINDEX.0)
    } else {
        MAINNET_FULL_NODE
    }
}

fn is_hex_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn is_ip_or_cidr(text: &str) -> bool {
    match text.split_once('/') {
        None => text.parse::<IpAddr>().is_ok(),
        Some((ip, bits)) => match (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(bits)) => bits <= 32,
            (Ok(IpAddr::V6(_)), Ok(bits)) => bits <= 128,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("lnd-2"));
        assert!(is_dns_label("a"));
        assert!(!is_dns_label("LND"));
        assert!(!is_dns_label("-lnd"));
        assert!(!is_dns_label("lnd-"));
        assert!(!is_dns_label("lnd_2"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_subdomain("pi4.local"));
    }

    #[test]
    fn normal_paths() {
        assert!(is_normal_absolute_path("/srv/blockchain"));
        assert!(!is_normal_absolute_path("srv/blockchain"));
        assert!(!is_normal_absolute_path("/srv/../etc"));
        assert!(!is_normal_absolute_path("/srv/"));
        assert!(!is_normal_absolute_path("/srv//x"));
    }

    #[test]
    fn ip_ranges() {
        assert!(is_ip_or_cidr("10.0.0.0/8"));
        assert!(is_ip_or_cidr("fd00::/8"));
        assert!(is_ip_or_cidr("127.0.0.1"));
        assert!(!is_ip_or_cidr("10.0.0.0/33"));
        assert!(!is_ip_or_cidr("cluster"));
    }
}
