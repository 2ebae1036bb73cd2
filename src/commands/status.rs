//! `openlsp status [--watch]`: how the site is doing, with or without the controller. Reads
//! the site's workloads, pods, claims and volumes, its onion keys and ApplySet parent, and the
//! Site that manages it if there is one; health.rs says what that means. Exit 0 healthy, 1
//! degraded.

use std::time::Duration;

use super::Outcome;
use crate::cli::{GlobalArgs, StatusArgs};
use crate::cluster::{ApplySet, Cluster, applyset::PARENT_NAME};
use crate::deploy::Interrupt;
use crate::health::{self, Health};
use crate::profile::Site;
use crate::secrets::in_cluster::onion_addresses;
use crate::ui::Ui;

/// How often `--watch` looks again.
const WATCH_EVERY: Duration = Duration::from_secs(2);

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
        let now = format!("{:?}{:?}", health.components, health.conditions);
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
    let lnd_nodes: Vec<String> = site
        .spec
        .lightning
        .iter()
        .filter(|node| node.implementation == crate::profile::Implementation::Lnd)
        .map(|node| node.name.clone())
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
    health.backups = health::channel_backups(&lnd_nodes, &targets, &secrets, now);
    Ok(health)
}
