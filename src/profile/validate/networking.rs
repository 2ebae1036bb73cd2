//! `spec.networking`: which inbound P2P can work (none on a tor-only site, one host port per
//! kind and machine) and which addresses the nodes may advertise (public ones, that something
//! listens on).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::profile::check::{Checker, is_public_ip};
use crate::profile::site::{Inbound, Site, TorMode};

pub(super) fn check(checker: &mut Checker, site: &Site) {
    let networking = &site.spec.networking;
    let tor_only = site.spec.tor.mode == TorMode::TorOnly;
    if tor_only && networking.inbound != Inbound::None {
        checker.error(
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
            Err(_) => checker.error(
                &path,
                format!("{ip:?} is not an IP address"),
                "write the site's public IPv4 or IPv6 address, without a port",
            ),
            Ok(addr) if !is_public_ip(addr) => checker.error(
                &path,
                format!("{ip} is not a public address; peers on the internet cannot reach it"),
                "write the address peers reach the site at (your router's public address), or remove it",
            ),
            Ok(IpAddr::V6(_)) if !networking.ipv6 => checker.error(
                &path,
                format!("{ip} is an IPv6 address, but spec.networking.ipv6 is off"),
                "set spec.networking.ipv6: true so the nodes listen on IPv6 too",
            ),
            Ok(_) if tor_only => checker.error(
                &path,
                "advertising a clearnet address reveals a tor-only site",
                "remove externalIPs, or use spec.tor.mode: hybrid",
            ),
            Ok(_) if networking.inbound == Inbound::None => checker.error(
                &path,
                "the nodes would advertise this address, but spec.networking.inbound is none, so nothing listens there",
                "set spec.networking.inbound (hostPort on one machine), or remove externalIPs",
            ),
            Ok(_) => {}
        }
    }
    if networking.inbound == Inbound::HostPort {
        host_ports(checker, site);
    }
}

/// Two nodes of one kind on one machine would both claim the same host port.
fn host_ports(checker: &mut Checker, site: &Site) {
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
            Some(other) => checker.error(
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
