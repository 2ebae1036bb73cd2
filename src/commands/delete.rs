//! `openlsp delete`: remove the site's objects from the cluster, under its lock. Data
//! (namespace, volumes, claims, credential Secrets) stays unless --purge, which needs the site
//! name typed. Files on the disks are never touched: volumes use reclaim policy Retain.

use std::collections::BTreeSet;

use anyhow::bail;

use super::Outcome;
use crate::cli::{DeleteArgs, GlobalArgs};
use crate::cluster::{ApplySet, Cluster, LockGuard, Reconfirmed};
use crate::diff::{self, Action, Change, ChangeSet, ObjectId};
use crate::profile::Site;
use crate::ui::Ui;

/// Asks off the runtime's thread, so the site's lock keeps being renewed meanwhile.
async fn confirm(ui: &Ui, args: &DeleteArgs, site: &Site, server: &str) -> anyhow::Result<()> {
    let (ui, name, server) = (ui.clone(), site.name().to_owned(), server.to_owned());
    let confirmed = if args.purge {
        match &args.confirm_site {
            Some(typed) => typed == &name,
            None => tokio::task::spawn_blocking(move || {
                ui.confirm_typed(
                    &format!(
                        "--purge deletes every object of site {name} from {server}, including volumes, claims, credential Secrets and the namespace"
                    ),
                    &name,
                    "pass --confirm-site <site name>",
                )
            })
            .await??,
        }
    } else {
        args.yes
            || tokio::task::spawn_blocking(move || {
                ui.confirm(
                    &format!("Delete site {name} from {server} (data is kept)?"),
                    false,
                    "pass --yes to delete without asking",
                )
            })
            .await??
    };
    if !confirmed {
        bail!("delete cancelled; nothing was changed");
    }
    Ok(())
}

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &DeleteArgs) -> anyhow::Result<Outcome> {
    let loaded = super::load_profile(ui, global)?;
    let site = &loaded.site;
    let cluster = super::connect_cluster(global).await?;
    if !cluster.namespace_exists(site.namespace()).await? {
        ui.success(&format!(
            "nothing to delete: namespace {} does not exist",
            site.namespace()
        ));
        return Ok(Outcome::Ok);
    }
    super::refuse_controller_managed(&cluster, site.namespace(), super::CliWrite::Delete).await?;
    let set = ApplySet::new(site.namespace());
    let mut lock = cluster.lock(site.namespace()).await?;
    let result = delete_under_lock(ui, args, site, &cluster, &set, &mut lock).await;
    lock.release().await;
    result?;
    Ok(Outcome::Ok)
}

async fn delete_under_lock(
    ui: &Ui,
    args: &DeleteArgs,
    site: &Site,
    cluster: &Cluster,
    set: &ApplySet,
    lock: &mut LockGuard,
) -> anyhow::Result<()> {
    let survey = cluster.survey(set, &[], false).await?;
    let mut changes = diff::compute(&survey.observations, diff::Detail::ChangesOnly);
    if args.purge {
        // CustomResourceDefinitions stay: deleting one deletes every object of its kind.
        for change in changes.changes.iter_mut().filter(|c| !c.id.is_crd()) {
            change.action = Action::Prune;
        }
    }
    for change in &changes.changes {
        ui.change_line(change);
    }
    ui.summary(&changes.summary());
    let doomed: Vec<&Change> = changes.with_action(Action::Prune).collect();
    if doomed.is_empty() {
        ui.success("nothing to delete (data objects are kept; --purge deletes them)");
        return Ok(());
    }
    confirm(ui, args, site, cluster.server()).await?;
    if lock.reconfirm().await? == Reconfirmed::Retaken {
        bail!(
            "the site lock changed hands while the plan was shown, so it may no longer hold; nothing was deleted\n  hint: run openlsp delete again"
        );
    }

    let deleted: BTreeSet<ObjectId> =
        crate::deploy::delete_in_reverse_stages(cluster, lock, &survey, &doomed)
            .await
            .map_err(|err| super::deploy_failed(err, "openlsp delete"))?
            .into_iter()
            .collect();
    if !args.purge {
        lock.held()?;
        let kept = survey.membership_after(&set.namespace, &[], &deleted);
        cluster.write_parent(set, &survey.parent, &kept).await?;
    }
    ui.success(&format!(
        "deleted {} object(s) of site {}; {}",
        deleted.len(),
        site.name(),
        kept_note(&changes, args.purge)
    ));
    Ok(())
}

fn kept_note(changes: &ChangeSet, purge: bool) -> String {
    let (crds, data): (Vec<&Change>, Vec<&Change>) = changes
        .with_action(Action::Keep)
        .partition(|c| c.id.is_crd());
    let mut note = if purge {
        "files on the disks are kept (reclaim policy Retain); remove them by hand if you mean to"
            .to_owned()
    } else {
        format!(
            "{} data object(s) kept; openlsp delete --purge removes them",
            data.len()
        )
    };
    if !crds.is_empty() {
        let names: Vec<&str> = crds.iter().map(|c| c.id.name.as_str()).collect();
        note.push_str(&format!(
            "; CustomResourceDefinitions are kept even by --purge (deleting one deletes every object of its kind): kubectl delete crd {}",
            names.join(" ")
        ));
    }
    note
}
