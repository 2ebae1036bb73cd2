//! The site itself: what `templates/site/` renders the namespace with, and what every template
//! reads as `site`: names, labels, the data annotation, Pod Security, and networking (IPv6 and
//! inbound P2P, which every node's Services and configuration follow).

use std::collections::BTreeMap;

use serde::Serialize;

use super::shared::{LND_P2P_PORT, Labels, data_annotation, site_labels};
use crate::profile::{Inbound, Site, TorMode};

#[derive(Serialize)]
pub(crate) struct SiteContext {
    pub name: String,
    pub namespace: String,
    pub network: &'static str,
    pub chain: &'static str,
    pub labels: Labels,
    #[serde(rename = "dataAnnotation")]
    pub data_annotation: BTreeMap<&'static str, &'static str>,
    /// The namespace's Pod Security level: `restricted`, or `privileged` when inbound P2P
    /// uses host ports (baseline forbids them too); `warn` and `audit` stay `restricted`.
    #[serde(rename = "podSecurity")]
    pub pod_security: &'static str,
    pub networking: NetworkingContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetworkingContext {
    ipv6: bool,
    inbound: &'static str,
    host_port: bool,
    /// `PreferDualStack` with IPv6, else absent (the cluster's default family).
    ip_family_policy: Option<&'static str>,
    /// The wildcard address nodes listen on: `[::]` (both families) with IPv6.
    listen_all: &'static str,
    external_ips: Vec<String>,
}

pub(crate) fn context(site: &Site) -> SiteContext {
    let networking = &site.spec.networking;
    SiteContext {
        name: site.name().to_owned(),
        namespace: site.namespace().to_owned(),
        network: site.spec.network.as_str(),
        chain: site.spec.network.bitcoind_chain(),
        labels: site_labels(site),
        data_annotation: data_annotation(),
        pod_security: if networking.inbound == Inbound::HostPort {
            "privileged"
        } else {
            "restricted"
        },
        networking: NetworkingContext {
            ipv6: networking.ipv6,
            inbound: networking.inbound.as_str(),
            host_port: networking.inbound == Inbound::HostPort,
            ip_family_policy: networking.ipv6.then_some("PreferDualStack"),
            listen_all: if networking.ipv6 { "[::]" } else { "0.0.0.0" },
            external_ips: networking.external_ips.clone(),
        },
    }
}

/// The Service of one node for inbound P2P (`loadBalancer` or `ingress`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboundServiceContext {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `Local` for a LoadBalancer: peers' real addresses reach the node (ban scores work).
    external_traffic_policy: Option<&'static str>,
    port: u16,
}

/// How clearnet peers reach one node: a host port, or a Service (`templates/_shared/p2p-service.yaml.j2`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeInbound {
    host_port: bool,
    service: Option<InboundServiceContext>,
}

/// Inbound P2P of node `node`, which listens on `p2p_port`.
pub(crate) fn node_inbound(site: &Site, node: &str, p2p_port: u16) -> NodeInbound {
    let name = format!("{node}-p2p");
    let service = match site.spec.networking.inbound {
        Inbound::LoadBalancer => Some(InboundServiceContext {
            name,
            kind: "LoadBalancer",
            external_traffic_policy: Some("Local"),
            port: p2p_port,
        }),
        Inbound::Ingress => Some(InboundServiceContext {
            name,
            kind: "ClusterIP",
            external_traffic_policy: None,
            port: p2p_port,
        }),
        Inbound::HostPort | Inbound::None => None,
    };
    NodeInbound {
        host_port: site.spec.networking.inbound == Inbound::HostPort,
        service,
    }
}

/// Where peers reach a Lightning node's P2P port: its onion (when Tor serves it), then the
/// site's clearnet addresses.
pub(crate) fn p2p_addresses(site: &Site, onion: Option<&str>) -> Vec<String> {
    onion
        .map(|address| format!("{address}:{LND_P2P_PORT}"))
        .into_iter()
        .chain(
            clearnet_external_ips(site)
                .iter()
                .map(|ip| super::shared::with_port(ip, LND_P2P_PORT)),
        )
        .collect()
}

/// Clearnet addresses a node advertises: none in tor-only mode or without inbound.
pub(crate) fn clearnet_external_ips(site: &Site) -> &[String] {
    let clearnet =
        site.spec.tor.mode != TorMode::TorOnly && site.spec.networking.inbound != Inbound::None;
    if clearnet {
        &site.spec.networking.external_ips
    } else {
        &[]
    }
}

/// With `inbound: ingress`: the TCP routes the microk8s nginx addon needs, which openlsp does
/// not own.
pub(crate) fn warnings(site: &Site) -> Vec<String> {
    if site.spec.networking.inbound != Inbound::Ingress {
        return Vec::new();
    }
    let mut routes: Vec<String> = site
        .spec
        .bitcoin
        .iter()
        .map(|n| (n.name.as_str(), site.spec.network.p2p_port()))
        .chain(
            site.spec
                .lightning
                .iter()
                .map(|n| (n.name.as_str(), LND_P2P_PORT)),
        )
        .map(|(name, port)| format!("\"{port}\": \"{}/{name}-p2p:{port}\"", site.namespace()))
        .collect();
    routes.sort();
    vec![format!(
        "spec.networking.inbound: ingress needs TCP routes in the microk8s nginx addon, which openlsp does not own: add {} to ConfigMap ingress/nginx-ingress-tcp-microk8s-conf and the same ports to DaemonSet ingress/nginx-ingress-microk8s-controller (docs/rendering.md shows the commands)",
        routes.join(", ")
    )]
}
