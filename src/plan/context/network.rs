//! Who may connect to whom, as data. The site's namespace denies every connection in and out
//! (templates/site/network-policy.yaml.j2); each pod's context then declares a [`PodPolicy`]:
//! the clients of each of its ports and the places it connects to, which
//! `templates/_shared/network-policy.yaml.j2` renders as that pod's NetworkPolicy. A service
//! added later declares its own the same way; nothing it does not declare is open.
//!
//! Ports are numbers, not names: an egress rule's named port would be looked up on the
//! destination pod, which a policy cannot see.

use serde::Serialize;

use super::shared::{Labels, SITE_LABEL};
use crate::profile::Site;

/// The label Kubernetes (1.21+) puts on every namespace: its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The cluster DNS pods (CoreDNS in kube-system, as microk8s' `dns` addon and kubeadm label it).
const DNS_NAMESPACE: &str = "kube-system";
const DNS_POD_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
const DNS_PORT: u16 = 53;
/// Where a pod's connection to the API server arrives once the `kubernetes` Service's address is
/// translated: its port on the control-plane machine, 16443 on microk8s and 6443 elsewhere; 443
/// for plugins that check the Service's own port.
const API_SERVER_PORTS: [u16; 3] = [443, 6443, 16443];
/// The control plane's address is not known when rendering (plan is pure), so the rule admits
/// the private ranges it sits in on a home network or a cloud VPC (RFC 1918, IPv6 ULA), never a
/// public address: tor-only stays tor-only.
const API_SERVER_RANGES: [&str; 4] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

#[derive(Serialize, Clone, Copy)]
enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

/// A port of a NetworkPolicy rule.
#[derive(Serialize, Clone)]
pub(crate) struct PolicyPort {
    port: u16,
    protocol: Protocol,
}

/// A TCP port.
pub(crate) fn tcp(port: u16) -> PolicyPort {
    PolicyPort {
        port,
        protocol: Protocol::Tcp,
    }
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: Labels,
}

/// One end of a connection, as a NetworkPolicy peer.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Peer {
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace_selector: Option<Selector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_selector: Option<Selector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_block: Option<IpBlock>,
}

#[derive(Serialize, Clone)]
struct IpBlock {
    cidr: &'static str,
}

/// This site's pods that a workload's `selector` selects (another site's pods in the same
/// namespace carry another site label).
pub(crate) fn pods(site: &Site, selector: &Labels) -> Peer {
    let mut labels = selector.clone();
    labels.insert(SITE_LABEL, site.name().to_owned());
    Peer {
        namespace_selector: None,
        pod_selector: Some(Selector {
            match_labels: labels,
        }),
        ip_block: None,
    }
}

/// Every pod of namespace `name`.
pub(crate) fn namespace(name: &str) -> Peer {
    Peer {
        namespace_selector: Some(namespace_selector(name)),
        pod_selector: None,
        ip_block: None,
    }
}

fn namespace_selector(name: &str) -> Selector {
    Selector {
        match_labels: Labels::from([(NAMESPACE_NAME_LABEL, name.to_owned())]),
    }
}

/// Who may connect (ingress) or where to (egress), on which ports.
#[derive(Clone)]
pub(crate) struct Access {
    /// None: from or to anywhere, in or out of the cluster.
    peers: Option<Vec<Peer>>,
    /// Empty: every port.
    ports: Vec<PolicyPort>,
}

impl Access {
    /// `peers` on `ports`.
    pub(crate) fn from(peers: Vec<Peer>, ports: Vec<PolicyPort>) -> Self {
        Access {
            peers: Some(peers),
            ports,
        }
    }

    /// Anyone, in or out of the cluster, on `ports` (every port if empty).
    pub(crate) fn anywhere(ports: Vec<PolicyPort>) -> Self {
        Access { peers: None, ports }
    }

    /// The cluster DNS, over UDP and TCP.
    pub(crate) fn dns() -> Self {
        let (key, value) = DNS_POD_LABEL;
        Access::from(
            vec![Peer {
                namespace_selector: Some(namespace_selector(DNS_NAMESPACE)),
                pod_selector: Some(Selector {
                    match_labels: Labels::from([(key, value.to_owned())]),
                }),
                ip_block: None,
            }],
            vec![
                PolicyPort {
                    port: DNS_PORT,
                    protocol: Protocol::Udp,
                },
                tcp(DNS_PORT),
            ],
        )
    }

    /// The Kubernetes API server: its ports in the private ranges ([`API_SERVER_RANGES`]).
    pub(crate) fn api_server() -> Self {
        let ranges = API_SERVER_RANGES.map(|cidr| Peer {
            namespace_selector: None,
            pod_selector: None,
            ip_block: Some(IpBlock { cidr }),
        });
        Access::from(
            ranges.to_vec(),
            API_SERVER_PORTS.into_iter().map(tcp).collect(),
        )
    }
}

/// One rule of a NetworkPolicy, as Kubernetes writes it: `from` (ingress) or `to` (egress),
/// absent for anywhere, and `ports`, absent for every port.
#[derive(Serialize)]
struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<Vec<Peer>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<Vec<Peer>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<PolicyPort>,
}

/// One pod's NetworkPolicy (`templates/_shared/network-policy.yaml.j2`): who may reach it, and
/// where it may connect to. An empty list admits nothing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodPolicy {
    name: String,
    labels: Labels,
    /// The pod's workload selector.
    selector: Labels,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
}

impl PodPolicy {
    /// The policy `name`, labelled `labels`, of the pods `selector` selects. An access with no
    /// peers (a port nobody uses) is left out.
    pub(crate) fn new(
        name: impl Into<String>,
        labels: &Labels,
        selector: &Labels,
        ingress: Vec<Access>,
        egress: Vec<Access>,
    ) -> Self {
        let rules = |accesses: Vec<Access>, incoming: bool| -> Vec<Rule> {
            accesses
                .into_iter()
                .filter(|access| access.peers.as_ref().is_none_or(|p| !p.is_empty()))
                .map(|access| Rule {
                    from: if incoming { access.peers.clone() } else { None },
                    to: if incoming { None } else { access.peers },
                    ports: access.ports,
                })
                .collect()
        };
        PodPolicy {
            name: name.into(),
            labels: labels.clone(),
            selector: selector.clone(),
            ingress: rules(ingress, true),
            egress: rules(egress, false),
        }
    }

    /// A metrics exporter's policy: the monitoring namespace scrapes `metrics_ports`; the
    /// exporter reaches only its node (the pods `node` selects) on `node_port`, and the DNS.
    pub(crate) fn exporter(
        site: &Site,
        name: String,
        (labels, selector): (&Labels, &Labels),
        metrics_ports: Vec<PolicyPort>,
        node: &Labels,
        node_port: u16,
    ) -> Self {
        PodPolicy::new(
            name,
            labels,
            selector,
            vec![Access::from(
                vec![namespace(&site.spec.monitoring.namespace)],
                metrics_ports,
            )],
            vec![
                Access::from(vec![pods(site, node)], vec![tcp(node_port)]),
                Access::dns(),
            ],
        )
    }
}
