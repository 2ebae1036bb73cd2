//! `openlsp backup`: the channel backups of the site's Lightning nodes. `status` judges every
//! target from the node's cluster copy; `pull` writes the latest backup to a file; `restore`
//! gives a running node a backup, so the funds in its channels come back on chain.

mod pull;
mod restore;
mod status;

use std::collections::BTreeMap;

use crate::channel_backup::backup_file;
use crate::cli::{BackupArgs, BackupCommand, GlobalArgs};
use crate::cluster::Cluster;
use crate::commands::Outcome;
use crate::plan::names;
use crate::profile::{LightningNode, Site};
use crate::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &BackupArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        BackupCommand::Status(args) => status::run(ui, global, args).await,
        BackupCommand::Pull(args) => pull::run(ui, global, args).await,
        BackupCommand::Restore(args) => restore::run(ui, global, args).await,
    }
}

/// A node's cluster copy as the cluster has it: its keys (none if the Secret does not exist)
/// and when it was last written.
struct ClusterCopy {
    secret: String,
    /// The node's backup file, and its key in the Secret.
    file: &'static str,
    data: BTreeMap<String, Vec<u8>>,
    written: Option<time::OffsetDateTime>,
}

impl ClusterCopy {
    async fn read(cluster: &Cluster, site: &Site, node: &LightningNode) -> anyhow::Result<Self> {
        let secret = names::scb_secret(&node.name);
        let data = cluster
            .secret_data(site.namespace(), &secret)
            .await?
            .unwrap_or_default();
        let written = cluster.secret_changed_at(site.namespace(), &secret).await?;
        Ok(ClusterCopy {
            secret,
            file: backup_file(node.implementation),
            data,
            written,
        })
    }

    /// The backup file (LND's channel.backup, CLN's emergency.recover), once the pod wrote it.
    fn backup(&self) -> Option<&[u8]> {
        self.data.get(self.file).map(Vec::as_slice)
    }
}

/// `sha256:` and the first 16 hex digits, as `secrets list` shows fingerprints.
fn short_sha(hex: &str) -> String {
    format!("sha256:{}", &hex[..hex.len().min(16)])
}

pub(super) use crate::commands::utc_minute as date;
