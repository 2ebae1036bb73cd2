//! `openlsp status [--watch]`: how the site is doing, with or without the controller. Reads
//! the site's workloads, pods, claims and volumes, its onion keys and ApplySet parent, and the
//! Site that manages it if there is one, and, when monitoring is on, each bitcoind's sync state
//! from the monitoring addon's Prometheus; health.rs says what that means. Exit 0 healthy, 1
//! degraded.

use std::time::Duration;

use super::Outcome;
use crate::cli::{GlobalArgs, StatusArgs};
use crate::cluster::{ApplySet, Cluster, ServicePort, applyset::PARENT_NAME};
use crate::deploy::Interrupt;
use crate::health::{self, Health};
use crate::plan::names;
use crate::profile::Site;
use crate::secrets::in_cluster::onion_addresses;
use crate::ui::Ui;

/// How often `--watch` looks again.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The Service prometheus-operator makes for every Prometheus in its namespace, and its port
/// (prometheus-operator pkg/prometheus: `governingServiceName`, port `web`).
const PROMETHEUS_SERVICE: &str = "prometheus-operated";
const PROMETHEUS_PORT: &str = "web";

/// How long status waits for Prometheus before it leaves the chain out.
const PROMETHEUS_PATIENCE: Duration = Duration::from_secs(5);

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let cluster = super::connect_cluster(global).await?;
    let title = format!(
        "site {} (namespace {}) on {}",
        site.name(),
        site.namespace(),
        cluster.server()
    );
    let interrupt = if args.watch {
        Some(Interrupt::listen())
    } else {
        None
    };
    let mut shown = String::new();
    loop {
        let health = look(&cluster, site).await?;
        let now = format!(
            "{:?}{:?}{:?}",
            health.components, health.conditions, health.chain
        );
        if now != shown {
            ui.site_health(&title, &health);
            shown = now;
        }
        let Some(interrupt) = &interrupt else {
            return Ok(if health.healthy() {
                Outcome::Ok
            } else {
                Outcome::Degraded
            });
        };
        tokio::select! {
            () = interrupt.wait() => return Ok(Outcome::Ok),
            () = tokio::time::sleep(WATCH_EVERY) => {}
        }
    }
}

async fn look(cluster: &Cluster, site: &Site) -> anyhow::Result<Health> {
    let namespace = site.namespace();
    let set = ApplySet::new(namespace);
    let member = |object: &serde_json::Value| {
        object["metadata"]["labels"][crate::cluster::applyset::PART_OF_LABEL] == set.id.as_str()
    };
    let mut workloads = Vec::new();
    for kind in ["StatefulSet", "Deployment"] {
        workloads.extend(
            cluster
                .list_objects("apps/v1", kind, namespace)
                .await?
                .into_iter()
                .filter(member),
        );
    }
    let pods = cluster.list_objects("v1", "Pod", namespace).await?;
    let claims = cluster
        .list_objects("v1", "PersistentVolumeClaim", namespace)
        .await?;
    let volumes = cluster
        .list_objects("v1", "PersistentVolume", namespace)
        .await?;
    let secrets = cluster.list_objects("v1", "Secret", namespace).await?;
    let parent = secrets
        .iter()
        .find(|s| s["metadata"]["name"] == PARENT_NAME);
    let managing = cluster.site_in(namespace).await?;
    let live = cluster.live_secrets(namespace).await?;
    let lightning_nodes: Vec<(String, &str)> = site
        .spec
        .lightning
        .iter()
        .map(|node| {
            (
                node.name.clone(),
                crate::channel_backup::backup_file(node.implementation),
            )
        })
        .collect();
    let targets: Vec<String> = site
        .spec
        .backup
        .targets
        .iter()
        .map(|target| target.name.clone())
        .collect();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut health = health::assess(
        &health::Observed {
            namespace,
            workloads: &workloads,
            pods: &pods,
            claims: &claims,
            volumes: &volumes,
            parent,
            site: managing.as_ref(),
        },
        onion_addresses(site, &live),
    );
    health.backups = health::channel_backups(&lightning_nodes, &targets, &secrets, now);
    health.chain = chain_sync(cluster, site).await;
    Ok(health)
}

/// Each bitcoind's sync state, from an instant query to the monitoring addon's Prometheus
/// through the API server; nothing when monitoring is off or Prometheus does not answer in
/// time (not installed, not allowed, not ready), as `status` leaves out what it cannot know.
async fn chain_sync(cluster: &Cluster, site: &Site) -> Vec<String> {
    let monitoring = &site.spec.monitoring;
    // btcd has no exporter, so no metrics to ask for.
    if !monitoring.enabled || site.bitcoind_nodes().next().is_none() {
        return Vec::new();
    }
    let nodes: Vec<(String, String)> = site
        .bitcoind_nodes()
        .map(|node| (node.name.clone(), names::bitcoind_exporter(&node.name)))
        .collect();
    let query = format!(
        "{{__name__=~\"{}\",namespace=\"{}\"}}",
        health::CHAIN_METRICS.join("|"),
        site.namespace()
    );
    let path = format!(
        "/api/v1/query?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &query)
            .finish()
    );
    let prometheus = ServicePort {
        scheme: "http",
        namespace: &monitoring.namespace,
        service: PROMETHEUS_SERVICE,
        port: PROMETHEUS_PORT,
    };
    let asked = cluster.proxy(&prometheus, http::Method::GET, &path, &[], None);
    match tokio::time::timeout(PROMETHEUS_PATIENCE, asked).await {
        Ok(Ok(text)) => match serde_json::from_str(&text) {
            Ok(answer) => health::chain_sync(&nodes, &answer),
            Err(err) => {
                tracing::info!("Prometheus's answer is not JSON: {err}");
                Vec::new()
            }
        },
        Ok(Err(err)) => {
            tracing::info!("no chain sync state: {err}");
            Vec::new()
        }
        Err(_) => {
            tracing::info!("no chain sync state: Prometheus did not answer in time");
            Vec::new()
        }
    }
}
