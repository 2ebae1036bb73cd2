//! `openlsp backup pull <node> -o FILE`: the node's latest channel backup, from its cluster copy
//! (read through the API, no exec), to a new file on this machine (0600).

use anyhow::{Context as _, bail};

use super::{ClusterCopy, date, short_sha};
use crate::channel_backup::{check_backup_file, sha256_hex};
use crate::cli::{BackupPullArgs, GlobalArgs};
use crate::commands::{self, Outcome};
use crate::fsutil::{PRIVATE_FILE, create_atomic};
use crate::ui::Ui;

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &BackupPullArgs,
) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let node = commands::lightning_node(site, Some(&args.node))?;
    let cluster = commands::connect_cluster(global).await?;
    let copy = ClusterCopy::read(&cluster, site, node).await?;
    let Some(backup) = copy.backup() else {
        bail!(
            "Secret {}/{} has no {}: the node's pod writes it once the node runs; nothing was written\n  hint: kubectl -n {} get pods",
            site.namespace(),
            copy.secret,
            copy.file,
            site.namespace()
        );
    };
    check_backup_file(node.implementation, backup).map_err(|reason| {
        anyhow::anyhow!(
            "the cluster copy in {} is not a channel backup: {reason}; nothing was written",
            copy.secret
        )
    })?;
    let created = create_atomic(&args.output, backup, PRIVATE_FILE)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if !created {
        bail!(
            "{} exists; choose a new file (a pull never overwrites)",
            args.output.display()
        );
    }
    ui.success(&format!(
        "wrote {} (0600): {}'s {} from Secret {}/{}, {} bytes, {}, written {}",
        args.output.display(),
        node.name,
        copy.file,
        site.namespace(),
        copy.secret,
        backup.len(),
        short_sha(&sha256_hex(backup)),
        copy.written.map_or("at an unknown time".to_owned(), date)
    ));
    Ok(Outcome::Ok)
}
