//! Channel backups (`spec.backup`, docs/backup.md). For each node with a backup file, what its
//! pod runs beside the node: the `backup` container that copies the file to every target and
//! verifies each copy, and the `scb-publish` container that keeps the node's cluster copy (Secret
//! `<node>-scb`); and once per site (`templates/backup/`), the Secrets with the rclone configs
//! the operator gave. The watched file, its node and its Secret come from the node's own context
//! ([`WatchedFile`]): LND's channel.backup today, Core Lightning's emergency.recover the same way.
//! BTCPay's PostgreSQL pod runs the same `backup` container on its dump ([`database_backup`]),
//! to the targets `spec.btcpay.backupTargets` names, without a cluster copy.

use serde::Serialize;

use super::shared::{
    BACKUP_METRICS_PORT, Labels, b64, component_labels, secret as secret_value, site_labels,
};
use crate::channel_backup;
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{self, Site};
use crate::secrets::Secrets;
use crate::secrets::provided;

/// Where the backup container mounts the script and its settings.
const SCRIPT_DIR: &str = "/etc/openlsp/backup";
/// Where it mounts a path target (`<dir>/<target>`) and an rclone config (`<dir>/<secret>`).
const TARGETS_DIR: &str = "/backup";
const RCLONE_DIR: &str = "/etc/openlsp/rclone";
/// Its private, memory-backed directory, and the one it shares with `scb-publish`.
const RUN_DIR: &str = "/run/backup";
const STATUS_DIR: &str = "/run/backup-status";
/// A large source's snapshots and read-back copies, on the node's disk.
const WORK_DIR: &str = "/var/tmp/backup";

/// The file a node keeps its channel backup in, as its pod sees it.
pub(crate) struct WatchedFile {
    /// The directory, in the node's container (LND: `/data/data/chain/bitcoin/<network>`).
    pub(crate) dir: String,
    /// The file's name (LND: `channel.backup`).
    pub(crate) file: &'static str,
    /// The node's data volume in its pod, mounted read-only by both containers.
    pub(crate) volume: &'static str,
    /// Where the node's container mounts that volume (the same path in both containers).
    pub(crate) mount_path: &'static str,
    /// The projected volume with the API token of the lndinit containers.
    pub(crate) token_volume: &'static str,
}

/// One target, as the script reads it: `target <name> <destination> <rclone config>`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TargetContext {
    name: String,
    destination: String,
    /// The rclone config file in the container, or `-` for a directory.
    config: String,
}

/// A host directory (a path target).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PathVolume {
    volume: String,
    host_path: String,
    mount_path: String,
}

/// An rclone config Secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigVolume {
    volume: String,
    secret: String,
    key: &'static str,
    mount_path: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackupMetrics {
    port: u16,
    service: String,
    labels: Labels,
    selector: Labels,
}

/// What one node's pod and its backup objects render with (`node.backup`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeBackupContext {
    node: String,
    file: &'static str,
    source_dir: String,
    source: String,
    data_volume: &'static str,
    data_mount_path: &'static str,
    token_volume: &'static str,
    scb_secret: String,
    config_map: String,
    keep: u32,
    recheck_seconds: u64,
    script_dir: &'static str,
    run_dir: &'static str,
    status_dir: &'static str,
    status_key: &'static str,
    image: &'static str,
    memory: String,
    cpu: String,
    publisher_image: &'static str,
    publisher_memory: String,
    publisher_cpu: String,
    /// Empty without targets: then only the cluster copy is kept.
    targets: Vec<TargetContext>,
    path_volumes: Vec<PathVolume>,
    config_volumes: Vec<ConfigVolume>,
    /// Its metrics Service and ServiceMonitor, with monitoring on and targets to watch.
    metrics: Option<BackupMetrics>,
    /// Whether `scb-publish` keeps a cluster copy (a channel backup; never a database dump).
    publish: bool,
    /// The backup container's uid when not the pod's: it writes path targets, which belong to
    /// the Lightning nodes' uid.
    uid: Option<i64>,
    /// A file whose content is when its source was last written, even unchanged (a dump's).
    written: Option<String>,
    /// A disk-backed directory for the snapshot and read-back copies of a large source (a
    /// dump), instead of the memory-backed run directory.
    work_dir: Option<&'static str>,
}

/// The database dump BTCPay's PostgreSQL pod writes, for [`database_backup`].
pub(crate) struct DumpFile {
    pub(crate) watched: WatchedFile,
    /// The file holding when the last dump succeeded, in `watched.dir`.
    pub(crate) written: &'static str,
    /// The targets it goes to, by name.
    pub(crate) targets: Vec<String>,
}

/// The backup of a database dump: the `backup` container only, as the path targets' owner
/// ([`images::LND_UID`], which is CLN's too), to the dump's targets; no cluster copy, as a
/// dump is no small file for a Secret and holds the store's data.
pub(crate) fn database_backup(site: &Site, node: &str, dump: DumpFile) -> NodeBackupContext {
    let written = format!("{}/{}", dump.watched.dir, dump.written);
    let mut backup = backup_to(site, node, dump.watched, |name| {
        dump.targets.iter().any(|t| t == name)
    });
    backup.memory = profile::backup_memory_for(site, dump.targets.len()).to_string();
    backup.publish = false;
    backup.uid = Some(images::LND_UID);
    backup.written = Some(written);
    backup.work_dir = Some(WORK_DIR);
    backup
}

/// The backup of node `node`'s `watched` file.
pub(crate) fn node_backup(site: &Site, node: &str, watched: WatchedFile) -> NodeBackupContext {
    backup_to(site, node, watched, |_| true)
}

/// The backup of `watched` to the targets `wanted` takes, by name.
fn backup_to(
    site: &Site,
    node: &str,
    watched: WatchedFile,
    wanted: impl Fn(&str) -> bool,
) -> NodeBackupContext {
    let backup = &site.spec.backup;
    let mut targets = Vec::new();
    let mut path_volumes = Vec::new();
    let mut config_volumes: Vec<ConfigVolume> = Vec::new();
    for target in backup.targets.iter().filter(|t| wanted(&t.name)) {
        let under = format!("{}/{node}", site.name());
        if let Some(path) = &target.path {
            let mount_path = format!("{TARGETS_DIR}/{}", target.name);
            targets.push(TargetContext {
                name: target.name.clone(),
                destination: format!("{mount_path}/{under}"),
                config: "-".to_owned(),
            });
            path_volumes.push(PathVolume {
                volume: format!("backup-{}", target.name),
                host_path: path.clone(),
                mount_path,
            });
        } else if let Some(rclone) = &target.rclone {
            let mount_path = format!("{RCLONE_DIR}/{}", rclone.config);
            let destination = match rclone.remote.strip_suffix(':') {
                Some(name) => format!("{name}:{under}"),
                None => format!("{}/{under}", rclone.remote),
            };
            targets.push(TargetContext {
                name: target.name.clone(),
                destination,
                config: format!("{mount_path}/{}", provided::RCLONE_CONFIG_KEY),
            });
            if !config_volumes.iter().any(|v| v.secret == rclone.config) {
                config_volumes.push(ConfigVolume {
                    volume: format!("rclone-{}", rclone.config),
                    secret: rclone.config.clone(),
                    key: provided::RCLONE_CONFIG_KEY,
                    mount_path,
                });
            }
        }
    }
    let metrics = (site.spec.monitoring.enabled && !targets.is_empty()).then(|| {
        let (mut labels, mut selector) =
            component_labels(site, "openlsp-backup", node, "channel-backup");
        labels.insert("openlsp.io/metrics", "backup".to_owned());
        selector.insert("openlsp.io/metrics", "backup".to_owned());
        BackupMetrics {
            port: BACKUP_METRICS_PORT,
            service: names::backup_metrics_service(node),
            labels,
            selector,
        }
    });
    NodeBackupContext {
        node: node.to_owned(),
        file: watched.file,
        source: format!("{}/{}", watched.dir, watched.file),
        source_dir: watched.dir,
        data_volume: watched.volume,
        data_mount_path: watched.mount_path,
        token_volume: watched.token_volume,
        scb_secret: names::scb_secret(node),
        config_map: names::backup_config_map(node),
        keep: backup.keep,
        recheck_seconds: channel_backup::RECHECK.as_secs(),
        script_dir: SCRIPT_DIR,
        run_dir: RUN_DIR,
        status_dir: STATUS_DIR,
        status_key: names::SCB_STATUS_KEY,
        image: images::RCLONE,
        memory: profile::backup_memory(site).to_string(),
        cpu: profile::BACKUP_CPU.to_string(),
        publisher_image: images::LNDINIT,
        publisher_memory: profile::LND_SIDECAR_MEMORY.to_string(),
        publisher_cpu: profile::LND_SIDECAR_CPU.to_string(),
        targets,
        path_volumes,
        config_volumes,
        metrics,
        publish: true,
        uid: None,
        written: None,
        work_dir: None,
    }
}

/// One rclone config the operator gave, as its Secret carries it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RcloneSecret {
    name: String,
    key: &'static str,
    config_b64: String,
}

/// Once per site (`templates/backup/`): the Secrets of the rclone configs the targets name.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackupSecretsContext {
    labels: Labels,
    rclone_secrets: Vec<RcloneSecret>,
}

pub(crate) fn context(site: &Site, secrets: &Secrets) -> Result<BackupSecretsContext, PlanError> {
    let mut labels = site_labels(site);
    labels.insert("app.kubernetes.io/component", "channel-backup".to_owned());
    let mut rclone_secrets = Vec::new();
    if !site.spec.lightning.is_empty() || site.dumps_database() {
        for (_, name) in site.spec.backup.rclone_configs() {
            rclone_secrets.push(RcloneSecret {
                name: name.to_owned(),
                key: provided::RCLONE_CONFIG_KEY,
                config_b64: b64(secret_value(secrets, &provided::path(name))?),
            });
        }
    }
    Ok(BackupSecretsContext {
        labels,
        rclone_secrets,
    })
}
