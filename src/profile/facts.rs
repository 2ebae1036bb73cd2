//! What follows from an effective site without being written in it: the pods that run beside
//! its nodes, and the APIs it publishes by name. The checks and the plan both ask, so each answer
//! is worked out here, once.

use super::defaults::{
    BACKUP_CPU, CLN_EXPORTER_CPU, CLN_EXPORTER_MEMORY, CLN_INIT_CPU, CLN_INIT_MEMORY, DUMP_CPU,
    DUMP_MEMORY, EXPORTER_CPU, EXPORTER_MEMORY, HEADERS_EXPORTER_CPU, HEADERS_EXPORTER_MEMORY,
    LND_SIDECAR_CPU, LND_SIDECAR_MEMORY, LND_WALLET_INIT_MEMORY, LNDMON_CPU, LNDMON_MEMORY,
    NBXPLORER_CPU, NBXPLORER_MEMORY, POSTGRES_CPU, POSTGRES_MEMORY, TUNNEL_CPU, TUNNEL_MEMORY,
    backup_memory, backup_memory_for,
};
use super::quantity::{Bytes, Millicores};
use super::site::{Implementation, LndApi, Resources, Site};

/// Pods beside the nodes, with the machine they run on: Tor on the host, each exporter pod (the
/// exporter and its `headers` container) beside its bitcoind, each lndmon beside its LND, each
/// CLN exporter beside its CLN, the containers of each Lightning pod beside the daemon, and
/// BTCPay's three pods beside their disk (with a CLN node, the tunnel's two ends in its pod and
/// CLN's).
pub fn extra_pods(site: &Site) -> Vec<(&str, Resources)> {
    let mut pods = Vec::new();
    if site.spec.tor.enabled() {
        pods.push((site.spec.host.node_name.as_str(), site.spec.tor.resources));
    }
    let monitoring = &site.spec.monitoring;
    // btcd has no exporter (docs/rendering.md#monitoring).
    let exporters = site.bitcoind_nodes().map(|node| {
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
        .filter(|node| node.implementation == Implementation::Lnd)
        .map(|node| (&node.disk, LNDMON_MEMORY, LNDMON_CPU));
    let cln_exporters = site
        .spec
        .lightning
        .iter()
        .filter(|node| node.implementation == Implementation::Cln)
        .map(|node| (&node.disk, CLN_EXPORTER_MEMORY, CLN_EXPORTER_CPU));
    // Every LND pod also runs the lndinit sidecars that publish its macaroons and its channel
    // backup's cluster copy, and with backup targets the backup container. Its init containers
    // run one at a time before LND, so the pod needs max(wallet init, LND + sidecars): beyond
    // LND itself, the larger of the sidecars and what the wallet init needs above LND. A CLN
    // pod's init containers are small and run one at a time before lightningd: beyond it, the
    // larger of what they need above lightningd and its three sidecars (runes, publish,
    // scb-publish) with the backup container.
    let backup = backup_memory(site);
    let backup_cpu = if backup.0 > 0 { BACKUP_CPU.0 } else { 0 };
    let sidecars = site.spec.lightning.iter().map(move |node| {
        if node.implementation == Implementation::Cln {
            let above_cln = Bytes(CLN_INIT_MEMORY.0.saturating_sub(node.resources.memory.0));
            let running = Bytes(3 * LND_SIDECAR_MEMORY.0 + backup.0);
            let cpu = CLN_INIT_CPU
                .0
                .saturating_sub(node.resources.cpu.0)
                .max(3 * LND_SIDECAR_CPU.0 + backup_cpu);
            return (&node.disk, above_cln.max(running), Millicores(cpu));
        }
        let above_lnd = Bytes(
            LND_WALLET_INIT_MEMORY
                .0
                .saturating_sub(node.resources.memory.0),
        );
        let running = Bytes(2 * LND_SIDECAR_MEMORY.0 + backup.0);
        let cpu = 2 * LND_SIDECAR_CPU.0 + backup_cpu;
        (&node.disk, above_lnd.max(running), Millicores(cpu))
    });
    let beside_nodes = exporters
        .filter(|_| monitoring.enabled)
        .chain(lndmons.filter(|_| monitoring.enabled && monitoring.lndmon))
        .chain(cln_exporters.filter(|_| monitoring.enabled))
        .chain(sidecars);
    for (disk, memory, cpu) in beside_nodes {
        pods.push((site.machine_of_disk(disk), Resources { memory, cpu }));
    }
    // BTCPay's three pods run beside their disk.
    if let Some(btcpay) = &site.spec.btcpay {
        let machine = site.machine_of_disk(&btcpay.disk);
        pods.push((machine, btcpay.resources));
        for (memory, cpu) in [
            (NBXPLORER_MEMORY, NBXPLORER_CPU),
            (POSTGRES_MEMORY, POSTGRES_CPU),
        ] {
            pods.push((machine, Resources { memory, cpu }));
        }
        // With dump targets, PostgreSQL's pod also runs pg-dump and the backup container.
        if site.dumps_database() {
            let backup = backup_memory_for(site, btcpay.backup_targets.len());
            let memory = Bytes(DUMP_MEMORY.0 + backup.0);
            let cpu = Millicores(DUMP_CPU.0 + BACKUP_CPU.0);
            pods.push((machine, Resources { memory, cpu }));
        }
        // With a CLN node, each pod runs one end of the tunnel to its RPC socket.
        if let Some(cln) = site.btcpay_cln() {
            let tunnel = Resources {
                memory: TUNNEL_MEMORY,
                cpu: TUNNEL_CPU,
            };
            pods.push((machine, tunnel));
            pods.push((site.machine_of_disk(&cln.disk), tunnel));
        }
    }
    // Each UI keeps no data and runs where the scheduler puts it: counted on the site's host.
    for (_, app) in site.spec.apps.enabled() {
        pods.push((site.spec.host.node_name.as_str(), app.resources));
    }
    pods
}

/// One API a node publishes through an Ingress, as the profile names it.
pub(super) struct NodeIngress<'a> {
    /// Its field path, such as `spec.lightning[0].ingress.rest`.
    pub(super) path: String,
    pub(super) host: &'a str,
    /// What it is, such as `LND lnd's REST API`.
    pub(super) what: String,
    /// What still stands in the way of a stranger who reaches it.
    pub(super) guard: &'static str,
}

/// Every node API the profile names a public host for, Bitcoin nodes first, in profile order,
/// whether or not `spec.ingress` is there to publish them.
pub(super) fn node_ingresses(site: &Site) -> Vec<NodeIngress<'_>> {
    let bitcoin = site
        .spec
        .bitcoin
        .iter()
        .enumerate()
        .filter_map(|(i, node)| {
            let host = node.ingress.rpc.as_deref()?;
            Some(NodeIngress {
                path: format!("spec.bitcoin[{i}].ingress.rpc"),
                host,
                what: format!("bitcoind {}'s RPC", node.name),
                guard: "a macaroon or RPC password",
            })
        });
    let lightning = site
        .spec
        .lightning
        .iter()
        .enumerate()
        .flat_map(|(i, node)| {
            node.ingress.iter().map(move |(api, host)| NodeIngress {
                path: format!("spec.lightning[{i}].ingress.{}", api.as_str()),
                host,
                what: format!(
                    "{} {}'s {} API",
                    node.implementation.label(),
                    node.name,
                    match api {
                        LndApi::Rest => "REST",
                        LndApi::Grpc => "gRPC",
                    }
                ),
                guard: "a macaroon or RPC password",
            })
        });
    let apps = site
        .spec
        .apps
        .enabled()
        .into_iter()
        .filter_map(|(kind, app)| {
            Some(NodeIngress {
                path: format!("spec.apps.{}.host", kind.name()),
                host: app.host.as_deref()?,
                what: format!("{}'s UI (managing {})", kind.title(), app.nodes.join(", ")),
                guard: "its UI password",
            })
        });
    bitcoin.chain(lightning).chain(apps).collect()
}

/// Every API the profile exposes publicly by name, as (`field path`, description): each is a
/// warning in the plan.
pub fn public_exposures(site: &Site) -> Vec<(String, String)> {
    if !site.spec.ingress.enabled {
        return Vec::new();
    }
    node_ingresses(site)
        .into_iter()
        .map(|ingress| {
            let exposed = format!(
                "{} at https://{} is exposed publicly; anyone can reach it (it still needs {})",
                ingress.what, ingress.host, ingress.guard
            );
            (ingress.path, exposed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::defaults;
    use crate::profile::input::SiteInput;

    fn site(implementation: &str) -> Site {
        site_with(
            implementation,
            "  monitoring: {}\n  backup: { targets: [{ name: usb, path: /media/usb }] }\n",
        )
    }

    /// A Pi with bitcoind and one Lightning node `ln` of `implementation`, then `rest` of spec.
    fn site_with(implementation: &str, rest: &str) -> Site {
        let yaml = format!(
            r#"
apiVersion: openlsp.io/v1alpha1
kind: Site
metadata: {{ name: pi }}
spec:
  network: mainnet
  host: {{ nodeName: pi4, arch: arm64, memory: 8Gi, cpus: 4 }}
  disks:
    chain: {{ path: /srv/chain, size: 1Ti }}
    ln: {{ path: /srv/ln, size: 20Gi }}
  bitcoin: [{{ name: bitcoind, disk: chain }}]
  lightning: [{{ name: ln, implementation: {implementation}, bitcoin: bitcoind, disk: ln }}]
{rest}"#
        );
        let input: SiteInput = serde_yaml::from_str(&yaml).unwrap();
        defaults::resolve(&input)
    }

    /// The pods beside the Lightning node, without Tor and the bitcoind exporter.
    fn beside_lightning(site: &Site) -> Vec<Resources> {
        let everything = extra_pods(site);
        everything[2..].iter().map(|(_, r)| *r).collect()
    }

    #[test]
    fn a_cln_pod_counts_its_exporter_sidecars_and_backup_container_but_no_lndmon() {
        let lnd = site("lnd");
        let cln = site("cln");
        let backup = backup_memory(&cln);
        assert!(backup.0 > 0);
        // LND: lndmon, then the lndinit sidecars and the backup container.
        assert_eq!(
            beside_lightning(&lnd),
            vec![
                Resources {
                    memory: LNDMON_MEMORY,
                    cpu: LNDMON_CPU
                },
                Resources {
                    memory: Bytes(2 * LND_SIDECAR_MEMORY.0 + backup.0),
                    cpu: Millicores(2 * LND_SIDECAR_CPU.0 + BACKUP_CPU.0),
                },
            ]
        );
        // CLN: its exporter instead of lndmon; no lndinit init containers; its runes, publish
        // and scb-publish sidecars and the backup container (its small init containers run
        // before lightningd).
        assert_eq!(
            beside_lightning(&cln),
            vec![
                Resources {
                    memory: CLN_EXPORTER_MEMORY,
                    cpu: CLN_EXPORTER_CPU
                },
                Resources {
                    memory: Bytes(3 * LND_SIDECAR_MEMORY.0 + backup.0),
                    cpu: Millicores(3 * LND_SIDECAR_CPU.0 + BACKUP_CPU.0),
                }
            ]
        );
    }

    /// A store on CLN adds one end of the tunnel beside BTCPay (on its disk's machine) and one
    /// beside CLN; a store on LND, or on-chain only, adds none.
    #[test]
    fn a_store_on_cln_counts_both_ends_of_its_tunnel() {
        let tunnel = Resources {
            memory: TUNNEL_MEMORY,
            cpu: TUNNEL_CPU,
        };
        for (implementation, lightning, ends) in
            [("cln", "ln", 2), ("lnd", "ln", 0), ("cln", "~", 0)]
        {
            let site = site_with(
                implementation,
                &format!(
                    "  btcpay: {{ bitcoin: bitcoind, lightning: {lightning}, disk: chain }}\n"
                ),
            );
            let pods = extra_pods(&site);
            let count = pods.iter().filter(|(_, r)| *r == tunnel).count();
            assert_eq!(count, ends, "{implementation} {lightning:?}");
        }
    }
}
