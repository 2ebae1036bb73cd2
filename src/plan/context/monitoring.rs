//! Monitoring, once per site (`templates/monitoring/`, read as `site.monitoring`): the alerts,
//! the dashboards, the scrape jobs they query, and the labels the addon's Prometheus selects.
//! Each node's own exporter or metrics Service is part of that node's context.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::shared::{DATABASE_DUMP_INTERVAL, Labels, site_labels};
use crate::plan::names;
use crate::profile::{Implementation, Site};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DiskWatch {
    name: String,
    mountpoint: String,
    /// The Kubernetes node the disk is attached to: node-exporter reports every machine's
    /// mount points, so the same path elsewhere must not count.
    machine: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScrapeJob {
    node: String,
    job: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DashboardContext {
    name: String,
    uid: String,
    key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MonitoringContext {
    enabled: bool,
    release: String,
    namespace: String,
    lndmon: bool,
    /// Labels of ServiceMonitors and rules: the release Prometheus selects.
    monitor_labels: Labels,
    rules_name: &'static str,
    exporters: Vec<ScrapeJob>,
    lnd_jobs: Vec<ScrapeJob>,
    lndmon_jobs: Vec<ScrapeJob>,
    /// Each CLN node's exporter (`openlsp exporter cln`).
    cln_jobs: Vec<ScrapeJob>,
    /// The backup containers' metrics, one job per Lightning node, when there are targets.
    backup_jobs: Vec<ScrapeJob>,
    /// The backup container of BTCPay's PostgreSQL dump, when it has targets.
    dump_jobs: Vec<ScrapeJob>,
    /// Seconds between two dumps, for the stale-dump alert.
    dump_interval_seconds: u64,
    disks: Vec<DiskWatch>,
    lightning_disks: Vec<DiskWatch>,
    /// Regex of every disk's mount point, for the dashboards.
    disk_regex: String,
    /// Regex of the machines the disks are attached to, for the dashboards.
    machine_regex: String,
    bitcoind_dashboard: DashboardContext,
    lnd_dashboard: DashboardContext,
    /// Rendered only when the site has a CLN node.
    cln_dashboard: DashboardContext,
}

pub(crate) fn context(site: &Site) -> MonitoringContext {
    let monitoring = &site.spec.monitoring;
    let mut monitor_labels = site_labels(site);
    monitor_labels.insert("release", monitoring.release.clone());
    let disks: Vec<DiskWatch> = site
        .spec
        .disks
        .keys()
        .map(|name| disk_watch(site, name))
        .collect();
    let mut lightning_disks: Vec<DiskWatch> = Vec::new();
    for node in &site.spec.lightning {
        if !lightning_disks.iter().any(|d| d.name == node.disk) {
            lightning_disks.push(disk_watch(site, &node.disk));
        }
    }
    let disk_regex = alternation(disks.iter().map(|d| d.mountpoint.as_str()));
    let machine_regex = alternation(disks.iter().map(|d| d.machine.as_str()));
    let dashboard = |kind: &str| DashboardContext {
        name: format!("openlsp-{}-{kind}-dashboard", site.name()),
        uid: dashboard_uid(site, kind),
        key: format!("openlsp-{}-{kind}.json", site.name()),
    };
    // LND's metrics and lndmon; a CLN node has its own exporter instead (its backup container is
    // below).
    let lnds: Vec<&String> = site
        .spec
        .lightning
        .iter()
        .filter(|n| n.implementation == Implementation::Lnd)
        .map(|n| &n.name)
        .collect();
    let lndmon = monitoring.lndmon && !lnds.is_empty();
    let clns = site
        .spec
        .lightning
        .iter()
        .filter(|n| n.implementation == Implementation::Cln)
        .map(|n| &n.name);
    MonitoringContext {
        enabled: monitoring.enabled,
        release: monitoring.release.clone(),
        namespace: monitoring.namespace.clone(),
        lndmon,
        monitor_labels,
        rules_name: "openlsp-alerts",
        exporters: scrape_jobs(site.bitcoind_nodes().map(|n| &n.name), "exporter"),
        lnd_jobs: scrape_jobs(lnds.iter().copied(), "metrics"),
        lndmon_jobs: if lndmon {
            scrape_jobs(lnds.iter().copied(), "lndmon")
        } else {
            Vec::new()
        },
        cln_jobs: scrape_jobs(clns, "exporter"),
        backup_jobs: if site.spec.backup.targets.is_empty() {
            Vec::new()
        } else {
            scrape_jobs(site.spec.lightning.iter().map(|n| &n.name), "backup")
        },
        dump_jobs: if site.dumps_database() {
            scrape_jobs([names::BTCPAY_POSTGRES.to_owned()].iter(), "backup")
        } else {
            Vec::new()
        },
        dump_interval_seconds: DATABASE_DUMP_INTERVAL.as_secs(),
        disks,
        lightning_disks,
        disk_regex,
        machine_regex,
        bitcoind_dashboard: dashboard("bitcoind"),
        lnd_dashboard: dashboard("lnd"),
        cln_dashboard: dashboard("cln"),
    }
}

/// The mount point node-exporter reports for a disk: its path, or `/` for a directory on the
/// root filesystem.
fn mountpoint(site: &Site, disk: &str) -> String {
    match site.spec.disks.get(disk) {
        Some(d) if !d.allow_root_filesystem => d.path.clone(),
        _ => "/".to_owned(),
    }
}

fn disk_watch(site: &Site, disk: &str) -> DiskWatch {
    DiskWatch {
        name: disk.to_owned(),
        mountpoint: mountpoint(site, disk),
        machine: site.machine_of_disk(disk).to_owned(),
    }
}

/// `a|b|c` of the distinct values, each escaped, for a Prometheus `=~` matcher.
fn alternation<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut values: Vec<&str> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
        .into_iter()
        .map(regex_escape)
        .collect::<Vec<_>>()
        .join("|")
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Grafana dashboard uid: at most 40 characters, unique per site namespace.
fn dashboard_uid(site: &Site, kind: &str) -> String {
    let digest = hex::encode(Sha256::digest(site.namespace().as_bytes()));
    format!("openlsp-{}-{kind}", &digest[..12])
}

/// The Prometheus job of each node's `<node>-<suffix>` Service (the job label is the Service).
fn scrape_jobs<'a>(nodes: impl Iterator<Item = &'a String>, suffix: &str) -> Vec<ScrapeJob> {
    nodes
        .map(|node| ScrapeJob {
            node: node.clone(),
            job: format!("{node}-{suffix}"),
        })
        .collect()
}

/// Without lndmon nothing reports whether LND is synced to the chain.
pub(crate) fn warnings(site: &Site) -> Vec<String> {
    let monitoring = &site.spec.monitoring;
    let any_lnd = site
        .spec
        .lightning
        .iter()
        .any(|n| n.implementation == Implementation::Lnd);
    if monitoring.enabled && !monitoring.lndmon && any_lnd {
        vec![
            "spec.monitoring.lndmon: off, so no alert fires when LND falls behind the chain (LndNotSyncedToChain reads lndmon's lnd_chain_synced; LND's own metrics are gRPC statistics only) and the LND dashboard shows no chain, channel, balance or peer data; set lndmon: true (mainnet, testnet and regtest) or watch LND's sync yourself"
                .to_owned(),
        ]
    } else {
        Vec::new()
    }
}
