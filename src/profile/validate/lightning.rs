//! `spec.lightning[]`: each Lightning node's backend, disk, alias, colour, image and the extra
//! names of its TLS certificate, and what cannot apply to the implementation it runs.

use std::net::IpAddr;

use super::{bitcoin, disks};
use crate::profile::check::{Checker, is_dns_subdomain, is_hex_color};
use crate::profile::site::{Implementation, LightningNode, Site};

/// LND rejects longer aliases; lightningd-config(5) allows "up to 32 bytes" too.
const MAX_ALIAS_BYTES: usize = 32;

pub(super) fn check(checker: &mut Checker, site: &Site) {
    for (i, node) in site.spec.lightning.iter().enumerate() {
        let base = format!("spec.lightning[{i}]");
        match bitcoin::check_ref(checker, site, &format!("{base}.bitcoin"), &node.bitcoin) {
            Some(backend) if backend.prune.is_some() => checker.warn(
                &format!("{base}.bitcoin"),
                format!(
                    "{} uses the pruned node {:?}; it works, but fetches old blocks from peers and is slower",
                    node.implementation.label(),
                    backend.name
                ),
                "for a routing node keep the full chain (remove `prune`)",
            ),
            _ => {}
        }
        disks::check_ref(checker, site, &format!("{base}.disk"), &node.disk);
        checker.check_resources(&format!("{base}.resources"), node.resources);
        if node.alias.len() > MAX_ALIAS_BYTES || node.alias.is_empty() {
            checker.error(
                &format!("{base}.alias"),
                format!(
                    "alias {:?} must be 1 to {MAX_ALIAS_BYTES} bytes",
                    node.alias
                ),
                "shorten it",
            );
        }
        if node.alias.chars().any(char::is_control) {
            checker.error(
                &format!("{base}.alias"),
                "alias contains a control character",
                "use plain text on one line",
            );
        }
        if !is_hex_color(&node.color) {
            checker.error(
                &format!("{base}.color"),
                format!("color {:?} is not a #rrggbb colour", node.color),
                "write it like \"#3399ff\" (quoted, since # starts a YAML comment)",
            );
        }
        checker.check_image(&format!("{base}.image"), &node.image);
        if node.implementation == Implementation::Cln {
            check_cln(checker, &base, node);
        }
        for (j, domain) in node.tls_extra_domains.iter().enumerate() {
            let bare = domain.strip_prefix("*.").unwrap_or(domain);
            if !is_dns_subdomain(bare) {
                checker.error(
                    &format!("{base}.tlsExtraDomains[{j}]"),
                    format!("{domain:?} is not a DNS name"),
                    "write a lowercase host name such as node.example.com",
                );
            }
        }
        for (j, ip) in node.tls_extra_ips.iter().enumerate() {
            if ip.parse::<IpAddr>().is_err() {
                checker.error(
                    &format!("{base}.tlsExtraIps[{j}]"),
                    format!("{ip:?} is not an IP address"),
                    "write an IPv4 or IPv6 address such as 192.168.1.10",
                );
            }
        }
    }
}

/// The Lightning node `name` that the field at `path` refers to, or an error naming the known
/// ones; `otherwise` ends the hint with what else the operator may do.
pub(super) fn check_ref<'a>(
    checker: &mut Checker,
    site: &'a Site,
    path: &str,
    name: &str,
    otherwise: &str,
) -> Option<&'a LightningNode> {
    let node = site.lightning_node(name);
    if node.is_none() {
        let known: Vec<&str> = site
            .spec
            .lightning
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        let hint = if known.is_empty() {
            format!("declare an LND or CLN node under spec.lightning{otherwise}")
        } else {
            format!("known: {}{otherwise}", known.join(", "))
        };
        checker.error(path, format!("no lightning node named {name:?}"), hint);
    }
    node
}

/// What a CLN node cannot have: extra names for a certificate openlsp does not make. lightningd
/// writes its own gRPC and clnrest certificates on first start, for the name `cln`.
fn check_cln(checker: &mut Checker, base: &str, node: &LightningNode) {
    for (field, given) in [
        ("tlsExtraDomains", !node.tls_extra_domains.is_empty()),
        ("tlsExtraIps", !node.tls_extra_ips.is_empty()),
    ] {
        if given {
            checker.error(
                &format!("{base}.{field}"),
                "cannot apply to CLN: lightningd makes its own certificates, for the name `cln`",
                "remove it; clients of CLN's gRPC override the TLS server name to `cln`",
            );
        }
    }
}
