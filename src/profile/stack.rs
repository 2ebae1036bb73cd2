//! Checks for the sections around the nodes: `spec.tor`, `spec.networking`, `spec.monitoring`
//! and `spec.ingress`, and the per-node `onion` and `ingress` opt-ins. Kept apart from the node
//! checks in validate.rs because they are about how the site meets the outside world: what is
//! public, what goes through Tor, and which addon objects the site needs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::defaults::{
    EXPORTER_CPU, EXPORTER_MEMORY, HEADERS_EXPORTER_CPU, HEADERS_EXPORTER_MEMORY, LNDMON_CPU,
    LNDMON_MEMORY,
};
use super::quantity::Bytes;
use super::quantity::Millicores;
use super::site::{Inbound, Network, Resources, Site, TorMode};
use super::validate::{Checker, is_dns_label, is_dns_subdomain};

/// Pods beside the nodes, with the machine they run on: Tor on the host, each exporter pod (the
/// exporter and its `headers` container) beside its bitcoind, each lndmon beside its LND.
pub fn extra_pods(site: &Site) -> Vec<(&str, Resources)> {
    let mut pods = Vec::new();
    if site.spec.tor.enabled() {
        pods.push((site.spec.host.node_name.as_str(), site.spec.tor.resources));
    }
    let monitoring = &site.spec.monitoring;
    let exporters = site.spec.bitcoin.iter().map(|node| {
        (
            &node.disk,
            Bytes(EXPORTER_MEMORY.0 + HEADERS_EXPORTER_MEMORY.0),
            Millicores(EXPORTER_CPU.0 + HEADERS_EXPORTER_CPU.0),
        )
    });
    let lndmons = site
        .spec
        .lightning
        .iter()
        .map(|node| (&node.disk, LNDMON_MEMORY, LNDMON_CPU));
    // Every LND pod also runs the lndinit sidecar that publishes its macaroons. Its init
    // containers run one at a time before LND, so the pod needs max(wallet init, LND + sidecar):
    // beyond LND itself, the larger of the sidecar and what the wallet init needs above LND.
    let sidecars = site.spec.lightning.iter().map(|node| {
        let above_lnd = Bytes(
            super::defaults::LND_WALLET_INIT_MEMORY
                .0
                .saturating_sub(node.resources.memory.0),
        );
        (
            &node.disk,
            above_lnd.max(super::defaults::LND_SIDECAR_MEMORY),
            super::defaults::LND_SIDECAR_CPU,
        )
    });
    let beside_nodes = exporters
        .filter(|_| monitoring.enabled)
        .chain(lndmons.filter(|_| monitoring.enabled && monitoring.lndmon))
        .chain(sidecars);
    for (disk, memory, cpu) in beside_nodes {
        pods.push((site.machine_of_disk(disk), Resources { memory, cpu }));
    }
    pods
}

/// Every API the profile exposes publicly by name, as (`field path`, description): each is a
/// warning in the plan.
pub fn public_exposures(site: &Site) -> Vec<(String, String)> {
    let mut exposed = Vec::new();
    if !site.spec.ingress.enabled {
        return exposed;
    }
    for (i, node) in site.spec.bitcoin.iter().enumerate() {
        if let Some(host) = &node.ingress.rpc {
            exposed.push((
                format!("spec.bitcoin[{i}].ingress.rpc"),
                format!("bitcoind {}'s RPC at https://{host}", node.name),
            ));
        }
    }
    for (i, node) in site.spec.lightning.iter().enumerate() {
        for (api, host) in &node.ingress {
            exposed.push((
                format!("spec.lightning[{i}].ingress.{}", api.as_str()),
                format!(
                    "LND {}'s {} API at https://{host}",
                    node.name,
                    match api {
                        super::site::LndApi::Rest => "REST",
                        super::site::LndApi::Grpc => "gRPC",
                    }
                ),
            ));
        }
    }
    exposed
}

/// A Prometheus label value: what the operator's `release` selector can match.
fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && value
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_alphanumeric())
}

/// Whether peers on the internet can reach `ip`: bitcoind refuses or silently drops an
/// `externalip` that is private, loopback, link-local, shared (CGNAT), documentation,
/// multicast or reserved.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    // Global unicast is 2000::/3; ULAs (fc00::/7), link-local and multicast lie outside it.
    (first & 0xe000) == 0x2000 && !documentation
}

/// A public host name: a DNS subdomain with at least two labels.
fn is_public_host(host: &str) -> bool {
    is_dns_subdomain(host) && host.contains('.')
}

impl Checker<'_> {
    pub(super) fn check_stack(&mut self, site: &Site) {
        self.check_tor(site);
        self.check_networking(site);
        self.check_monitoring(site);
        self.check_ingress(site);
    }

    fn check_tor(&mut self, site: &Site) {
        self.check_image("spec.tor.image", &site.spec.tor.image);
        for (i, node) in site.spec.lightning.iter().enumerate() {
            if !node.onion.is_empty() && !site.spec.tor.enabled() {
                self.error(
                    &format!("spec.lightning[{i}].onion"),
                    "an onion service for LND's APIs needs Tor, but spec.tor.mode is off",
                    "set spec.tor.mode to hybrid or tor-only, or remove `onion`",
                );
            }
        }
    }

    fn check_networking(&mut self, site: &Site) {
        let networking = &site.spec.networking;
        let tor_only = site.spec.tor.mode == TorMode::TorOnly;
        if tor_only && networking.inbound != Inbound::None {
            self.error(
                "spec.networking.inbound",
                format!(
                    "inbound {} opens a clearnet port, but spec.tor.mode is tor-only",
                    networking.inbound.as_str()
                ),
                "remove `inbound` (tor-only nodes are reached through their onion services), or use spec.tor.mode: hybrid",
            );
        }
        for (i, ip) in networking.external_ips.iter().enumerate() {
            let path = format!("spec.networking.externalIPs[{i}]");
            match ip.parse::<IpAddr>() {
                Err(_) => self.error(
                    &path,
                    format!("{ip:?} is not an IP address"),
                    "write the site's public IPv4 or IPv6 address, without a port",
                ),
                Ok(addr) if !is_public_ip(addr) => self.error(
                    &path,
                    format!("{ip} is not a public address; peers on the internet cannot reach it"),
                    "write the address peers reach the site at (your router's public address), or remove it",
                ),
                Ok(IpAddr::V6(_)) if !networking.ipv6 => self.error(
                    &path,
                    format!("{ip} is an IPv6 address, but spec.networking.ipv6 is off"),
                    "set spec.networking.ipv6: true so the nodes listen on IPv6 too",
                ),
                Ok(_) if tor_only => self.error(
                    &path,
                    "advertising a clearnet address reveals a tor-only site",
                    "remove externalIPs, or use spec.tor.mode: hybrid",
                ),
                Ok(_) if networking.inbound == Inbound::None => self.error(
                    &path,
                    "the nodes would advertise this address, but spec.networking.inbound is none, so nothing listens there",
                    "set spec.networking.inbound (hostPort on one machine), or remove externalIPs",
                ),
                Ok(_) => {}
            }
        }
        if networking.inbound == Inbound::HostPort {
            self.check_host_ports(site);
        }
    }

    /// Two nodes of one kind on one machine would both claim the same host port.
    fn check_host_ports(&mut self, site: &Site) {
        let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        let nodes = site
            .spec
            .bitcoin
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("spec.bitcoin[{i}].name"), "bitcoin", n))
            .map(|(path, kind, n)| (path, kind, n.name.as_str(), n.disk.as_str()))
            .chain(site.spec.lightning.iter().enumerate().map(|(i, n)| {
                (
                    format!("spec.lightning[{i}].name"),
                    "lightning",
                    n.name.as_str(),
                    n.disk.as_str(),
                )
            }))
            .collect::<Vec<_>>();
        for (path, kind, name, disk) in nodes {
            let machine = site.machine_of_disk(disk);
            match seen.get(&(machine, kind)) {
                Some(other) => self.error(
                    &path,
                    format!(
                        "{name:?} and {other:?} run on {machine} and would both need the same host port for inbound P2P"
                    ),
                    "set spec.networking.inbound: loadBalancer (one address per node) or none, or move one node to another machine",
                ),
                None => {
                    seen.insert((machine, kind), name);
                }
            }
        }
    }

    fn check_monitoring(&mut self, site: &Site) {
        let monitoring = &site.spec.monitoring;
        if !is_label_value(&monitoring.release) || monitoring.release.is_empty() {
            self.error(
                "spec.monitoring.release",
                format!("{:?} is not a Kubernetes label value", monitoring.release),
                "use the Helm release name of kube-prometheus-stack, kube-prom-stack on microk8s",
            );
        }
        if !is_dns_label(&monitoring.namespace) {
            self.error(
                "spec.monitoring.namespace",
                format!("{:?} is not a valid namespace name", monitoring.namespace),
                "use the namespace Grafana runs in, observability on microk8s",
            );
        }
        self.check_image("spec.monitoring.exporterImage", &monitoring.exporter_image);
        self.check_image("spec.monitoring.lndmonImage", &monitoring.lndmon_image);
        let lndmon_network = matches!(
            site.spec.network,
            Network::Mainnet | Network::Testnet | Network::Regtest
        );
        if monitoring.enabled
            && monitoring.lndmon
            && !lndmon_network
            && !site.spec.lightning.is_empty()
        {
            self.error(
                "spec.monitoring.lndmon",
                format!(
                    "lndmon knows only mainnet, testnet and regtest, not {}",
                    site.spec.network.as_str()
                ),
                "set spec.monitoring.lndmon: false; LND's own metrics are still scraped",
            );
        }
    }

    fn check_ingress(&mut self, site: &Site) {
        let ingress = &site.spec.ingress;
        let tor_only = site.spec.tor.mode == TorMode::TorOnly;
        let mut hosts: Vec<(String, &str)> = Vec::new();
        for (i, node) in site.spec.bitcoin.iter().enumerate() {
            if let Some(host) = &node.ingress.rpc {
                hosts.push((format!("spec.bitcoin[{i}].ingress.rpc"), host));
            }
        }
        for (i, node) in site.spec.lightning.iter().enumerate() {
            for (api, host) in &node.ingress {
                hosts.push((
                    format!("spec.lightning[{i}].ingress.{}", api.as_str()),
                    host,
                ));
            }
        }
        for (path, _) in &hosts {
            if !ingress.enabled {
                self.error(
                    path,
                    "an Ingress needs spec.ingress (ingress class, cert-manager email)",
                    "add `spec.ingress: { email: you@example.com }`, or remove this entry",
                );
            } else if tor_only {
                self.error(
                    path,
                    "a public Ingress exposes a tor-only site on clearnet",
                    "remove it (use `onion: [rest, grpc]` for remote wallets), or use spec.tor.mode: hybrid",
                );
            }
        }
        if let Some(host) = &ingress.grafana {
            hosts.push(("spec.ingress.grafana".to_owned(), host));
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (path, host) in &hosts {
            if !is_public_host(host) {
                self.error(
                    path,
                    format!("{host:?} is not a public host name"),
                    "write a lowercase DNS name such as node.example.com",
                );
            }
            if let Some(first) = seen.get(host) {
                self.error(
                    path,
                    format!("host {host} is already used by {first}"),
                    "give every Ingress its own host name",
                );
            } else {
                seen.insert(host, path);
            }
        }
        if !ingress.enabled {
            return;
        }
        // Not refused like a node API: Grafana is the addon's, keeps its own login and serves
        // no node. But it puts the site's dashboards at a clearnet name of this machine.
        if let (true, Some(host)) = (tor_only, &ingress.grafana) {
            self.warn(
                "spec.ingress.grafana",
                format!(
                    "Grafana at https://{host} is public on clearnet, but spec.tor.mode is tor-only: its dashboards (height, peers, channels, balances) tie this machine's address to the site's onion nodes"
                ),
                format!(
                    "remove it and reach Grafana with `microk8s kubectl port-forward -n {} svc/{}-grafana 3000:80`, or keep it if that link is acceptable",
                    site.spec.monitoring.namespace, site.spec.monitoring.release
                ),
            );
        }
        if !is_dns_subdomain(&ingress.class_name) {
            self.error(
                "spec.ingress.className",
                format!("{:?} is not an ingress class name", ingress.class_name),
                "use public on microk8s, or the name `kubectl get ingressclass` shows",
            );
        }
        match &ingress.email {
            None => self.error(
                "spec.ingress",
                "Let's Encrypt needs an email address for the site's certificates",
                "add `email: you@example.com` under spec.ingress",
            ),
            Some(email) => {
                let valid = email
                    .split_once('@')
                    .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
                    && !email.chars().any(char::is_whitespace);
                if !valid {
                    self.error(
                        "spec.ingress.email",
                        format!("{email:?} is not an email address"),
                        "write an address Let's Encrypt can send expiry notices to",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for public in ["81.2.69.160", "2a02:c207::1", "8.8.8.8"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
        for private in [
            "10.1.2.3",
            "192.168.1.1",
            "100.64.0.1",
            "203.0.113.5",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::1",
            "ff02::1",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn label_values_and_hosts() {
        assert!(is_label_value("kube-prom-stack"));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value("a b"));
        assert!(is_public_host("node.example.com"));
        assert!(!is_public_host("localhost"));
        assert!(!is_public_host("Node.example.com"));
    }
}
