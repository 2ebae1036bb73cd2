//! `openlsp backup status [NODE]`: every target of every Lightning node, from the status its pod
//! publishes with the cluster copy: when it was last verified, its checksum, whether that is the
//! cluster's latest copy, and whether it is fresh. Exit 1 when anything is stale or failing.

use time::OffsetDateTime;

use super::{ClusterCopy, date, short_sha};
use crate::channel_backup::{self, age, parse_status, sha256_hex};
use crate::cli::{BackupStatusArgs, GlobalArgs};
use crate::commands::{self, Outcome};
use crate::plan::names;
use crate::ui::Ui;

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &BackupStatusArgs,
) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let nodes = match &args.node {
        Some(name) => vec![commands::lightning_node(site, Some(name))?],
        None => site.spec.lightning.iter().collect(),
    };
    if nodes.is_empty() {
        anyhow::bail!(
            "site {} has no Lightning node: nothing to back up",
            site.name()
        );
    }
    let cluster = commands::connect_cluster(global).await?;
    let targets: Vec<String> = site
        .spec
        .backup
        .targets
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for node in nodes {
        let copy = ClusterCopy::read(&cluster, site, node).await?;
        let backup = copy.backup();
        rows.push(vec![
            node.name.clone(),
            "(cluster copy)".to_owned(),
            copy.written.map_or("-".to_owned(), date),
            copy.written
                .map_or("-".to_owned(), |at| age(now - at.unix_timestamp())),
            backup.map_or("-".to_owned(), |b| short_sha(&sha256_hex(b))),
            "-".to_owned(),
            if backup.is_some() {
                "latest"
            } else {
                "missing"
            }
            .to_owned(),
        ]);
        if backup.is_none() {
            problems.push(format!(
                "{}: Secret {}/{} has no {} yet: the node's pod writes it once the node runs (kubectl -n {} get pods)",
                node.name,
                site.namespace(),
                copy.secret,
                copy.file,
                site.namespace()
            ));
        }
        let status = copy
            .data
            .get(names::SCB_STATUS_KEY)
            .map(|text| parse_status(&String::from_utf8_lossy(text)));
        for report in channel_backup::judge(&targets, backup, status.as_ref(), now) {
            rows.push(vec![
                node.name.clone(),
                report.target.clone(),
                report
                    .verified
                    .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
                    .map_or("never".to_owned(), date),
                report.verified.map_or("-".to_owned(), |at| age(now - at)),
                report.sha256.as_deref().map_or("-".to_owned(), short_sha),
                match report.matches_cluster {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                }
                .to_owned(),
                report.verdict.word().to_owned(),
            ]);
            if let Some(reason) = report.verdict.reason() {
                problems.push(format!(
                    "{}/{}: {}: {reason}",
                    node.name,
                    report.target,
                    report.verdict.word()
                ));
            }
        }
    }
    if targets.is_empty() {
        problems.push(
            "no backup target: the channel backups are only in the cluster, on this machine; add spec.backup.targets (docs/backup.md)"
                .to_owned(),
        );
    }
    ui.table(
        &[
            "NODE",
            "TARGET",
            "VERIFIED",
            "AGE",
            "CHECKSUM",
            "IS CLUSTER COPY",
            "STATE",
        ],
        &rows,
    );
    if problems.is_empty() {
        ui.success("every channel backup is fresh: each target holds the latest, verified");
        return Ok(Outcome::Ok);
    }
    for problem in &problems {
        ui.warn(problem);
    }
    Ok(Outcome::Stale)
}
