//! `spec.btcpay`: the store's references by name (its Bitcoin node, its Lightning node, LND or
//! CLN, its disk), its public host only with spec.ingress and never on a tor-only site, its onion only
//! with Tor, and names of its own that no node takes.

use super::{bitcoin, disks, lightning};
use crate::images;
use crate::profile::check::{Checker, is_public_host};
use crate::profile::facts::node_ingresses;
use crate::profile::site::{BTCPAY_OBJECTS, Implementation, Network, Site, TorMode};

pub(super) fn check(checker: &mut Checker, site: &Site) {
    let Some(btcpay) = &site.spec.btcpay else {
        return;
    };
    bitcoin::check_ref(checker, site, "spec.btcpay.bitcoin", &btcpay.bitcoin);
    if site.spec.network == Network::Testnet4 {
        checker.error(
            "spec.btcpay",
            "BTCPay Server and NBXplorer do not run on testnet4 (NBXplorer's networks: mainnet, testnet, regtest, signet)",
            "remove spec.btcpay, or run the site on testnet, signet or regtest",
        );
    }
    let node = btcpay.lightning.as_ref().and_then(|name| {
        lightning::check_ref(
            checker,
            site,
            "spec.btcpay.lightning",
            name,
            "; or remove this line to take on-chain payments only",
        )
    });
    // A CLN node is reached through openlsp's mutual-TLS tunnel (docs/btcpay.md, "Core
    // Lightning"), which runs openlsp's own image.
    if let Some(node) = node
        && node.implementation == Implementation::Cln
        && btcpay.tunnel_image == images::CONTROLLER_PLACEHOLDER
    {
        checker.warn(
            "spec.btcpay.tunnelImage",
            format!(
                "BTCPay reaches {} (Core Lightning) through a tunnel that runs openlsp's own image, and openlsp publishes none: the tunnel's containers cannot pull the placeholder, so the store takes no Lightning payments",
                node.name
            ),
            "build the Containerfile, push it to a registry the cluster pulls from and set spec.btcpay.tunnelImage (docs/controller.md)",
        );
    }
    disks::check_ref(checker, site, "spec.btcpay.disk", &btcpay.disk);
    checker.check_resources("spec.btcpay.resources", btcpay.resources);
    for (field, image) in [
        ("image", &btcpay.image),
        ("nbxplorerImage", &btcpay.nbxplorer_image),
        ("postgresImage", &btcpay.postgres_image),
        ("tunnelImage", &btcpay.tunnel_image),
    ] {
        checker.check_image(&format!("spec.btcpay.{field}"), image);
    }
    if let Some(host) = &btcpay.host {
        if !site.spec.ingress.enabled {
            checker.error(
                "spec.btcpay.host",
                "the store's Ingress needs spec.ingress (ingress class, cert-manager email)",
                "add `spec.ingress: { email: you@example.com }`, or remove host and reach the store by its onion address or kubectl port-forward",
            );
        } else if site.spec.tor.mode == TorMode::TorOnly {
            checker.error(
                "spec.btcpay.host",
                "a public Ingress exposes a tor-only site on clearnet",
                "remove host and use `onion: true`, or use spec.tor.mode: hybrid",
            );
        }
        if !is_public_host(host) {
            checker.error(
                "spec.btcpay.host",
                format!("{host:?} is not a public host name"),
                "write a lowercase DNS name such as pay.example.com",
            );
        }
        let mut used: Vec<(String, &str)> = node_ingresses(site)
            .into_iter()
            .map(|ingress| (ingress.path, ingress.host))
            .collect();
        if let Some(grafana) = &site.spec.ingress.grafana {
            used.push(("spec.ingress.grafana".to_owned(), grafana));
        }
        let taken = used.into_iter().find(|(_, used)| used == host);
        if let Some((path, _)) = taken {
            checker.error(
                "spec.btcpay.host",
                format!("host {host} is already used by {path}"),
                "give the store its own host name",
            );
        }
    }
    if btcpay.onion && !site.spec.tor.enabled() {
        checker.error(
            "spec.btcpay.onion",
            "an onion address for the store needs Tor, and spec.tor.mode is off",
            "set spec.tor.mode: hybrid (or tor-only), or remove onion",
        );
    }
    let nodes = site
        .spec
        .bitcoin
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("spec.bitcoin[{i}].name"), &n.name))
        .chain(
            site.spec
                .lightning
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("spec.lightning[{i}].name"), &n.name)),
        );
    for (path, name) in nodes {
        if BTCPAY_OBJECTS.contains(&name.as_str()) {
            checker.error(
                &path,
                format!("{name:?} is the name of one of BTCPay's own objects"),
                format!(
                    "rename the node: {} are BTCPay's",
                    BTCPAY_OBJECTS.join(", ")
                ),
            );
        }
    }
}
