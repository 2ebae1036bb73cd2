//! `openlsp apply`: show the plan, confirm, then under the site's lock write it in stages
//! (deploy/), prune what the profile dropped (never data unless asked), and wait for the
//! workloads with progress.

use std::collections::BTreeSet;

use anyhow::bail;

use super::{Outcome, WriteOptions};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::cluster::{ApplySet, Cluster, ClusterError, Desired, LockGuard, Reconfirmed, Survey};
use crate::deploy::{self, Interrupt, Report, WriteLimits};
use crate::diff::{self, Action, ChangeSet};
use crate::object::{ObjectId, Stage};
use crate::ui::Ui;

/// Prune data too when asked: kept objects become prunes, except CustomResourceDefinitions,
/// which openlsp never deletes.
fn with_data_pruned(mut changes: ChangeSet, prune_data: bool) -> ChangeSet {
    if prune_data {
        for change in &mut changes.changes {
            if change.action == Action::Keep && !change.id.is_crd() {
                change.action = Action::Prune;
            }
        }
    }
    changes
}

fn same_plan(confirmed: &ChangeSet, now: &ChangeSet) -> bool {
    let key = |set: &ChangeSet| -> Vec<(ObjectId, Action)> {
        set.changes
            .iter()
            .filter(|c| c.id.kind != "Namespace")
            .map(|c| (c.id.clone(), c.action))
            .collect()
    };
    key(confirmed) == key(now)
}

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let cluster = super::connect_within(global, Some(args.timeout)).await?;
    let namespace = profile.site.namespace().to_owned();
    super::refuse_controller_managed(&cluster, &namespace, super::CliWrite::Apply).await?;
    // The lock first: the credentials are checked against the cluster under it.
    let mut lock = None;
    if cluster.namespace_exists(&namespace).await? {
        lock = Some(cluster.lock(&namespace).await?);
    }
    let interrupt = Interrupt::listen();
    let result = plan_and_apply(ui, global, args, profile, &cluster, &mut lock, &interrupt).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    let (report, desired) = result?;
    if let Some(stage) = report.stopped_before {
        bail!(
            "interrupted: stopped before stage {} ({stage:?}); applied so far: {}\n  hint: run openlsp apply again to finish",
            stage.number(),
            report.describe()
        );
    }
    if args.no_wait {
        return Ok(Outcome::Ok);
    }
    match deploy::wait_for_workloads(&cluster, ui, &desired, args.timeout, &interrupt)
        .await
        .map_err(|err| {
            let err = err.lost_while(
                "while waiting for the workloads",
                "every write had been made",
            );
            super::deploy_failed(err, "openlsp apply")
        })? {
        (0, _) => {}
        (count, deploy::Waited::Ready) => ui.success(&format!("all {count} workloads are ready")),
        (_, deploy::Waited::TimedOut(waiting)) => bail!(
            "timed out after {:?} waiting for: {}\n  hint: everything was applied; look at the pods with kubectl get pods -n {namespace}",
            args.timeout,
            waiting.join(", ")
        ),
        (_, deploy::Waited::Interrupted(waiting)) => bail!(
            "stopped waiting (interrupted); everything was applied; not ready yet: {}",
            waiting.join(", ")
        ),
    }
    Ok(Outcome::Ok)
}

async fn plan_and_apply(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ApplyArgs,
    profile: crate::profile::LoadedProfile,
    cluster: &Cluster,
    lock: &mut Option<LockGuard>,
    interrupt: &Interrupt,
) -> anyhow::Result<(Report, Vec<Desired>)> {
    let mut planned =
        super::plan_with_cluster(ui, global, profile, cluster, &args.replace_secrets).await?;
    let set = ApplySet::new(planned.profile.site.namespace());
    let desired = super::desired_objects(std::mem::take(&mut planned.plan), &set)?;
    let report =
        apply_under_lock(ui, args, &planned, cluster, &set, &desired, lock, interrupt).await?;
    Ok((report, desired))
}

/// Surveys the cluster for `desired` and the changes `apply` would make.
async fn survey_changes<'d>(
    cluster: &Cluster,
    set: &ApplySet,
    desired: &'d [Desired],
    prune_data: bool,
) -> anyhow::Result<(Survey<'d>, ChangeSet)> {
    let survey = cluster.survey(set, desired, false).await?;
    survey.check_volume_paths(desired)?;
    deploy::stop::refuse_while_bootstrapping(&survey)
        .map_err(|err| super::deploy_failed(err, "openlsp apply"))?;
    let changes = with_data_pruned(
        diff::compute(&survey.observations, diff::Detail::ChangesOnly),
        prune_data,
    );
    Ok((survey, changes))
}

#[allow(clippy::too_many_arguments)]
async fn apply_under_lock(
    ui: &Ui,
    args: &ApplyArgs,
    planned: &super::Planned,
    cluster: &Cluster,
    set: &ApplySet,
    desired: &[Desired],
    lock: &mut Option<LockGuard>,
    interrupt: &Interrupt,
) -> anyhow::Result<Report> {
    let site = &planned.profile.site;
    let (survey, changes) = survey_changes(cluster, set, desired, args.prune_data).await?;
    ui.show_changes(&changes, false);
    let conflicts: Vec<(String, diff::Conflict)> = changes
        .conflicts()
        .map(|(id, conflict)| (id.to_string(), conflict.clone()))
        .collect();
    if !conflicts.is_empty() && !args.force_conflicts {
        return Err(ClusterError::Conflicts(conflicts).into());
    }
    if !changes.has_differences() {
        if survey.namespace_exists
            && let Some(lock) = lock.as_ref()
        {
            lock.held()?;
            let membership = survey.membership_after(&set.namespace, desired, &BTreeSet::new());
            cluster
                .write_parent(set, &survey.parent, &membership)
                .await?;
        }
        ui.success("no changes: the cluster matches the profile");
        return Ok(Report {
            kept: changes.summary().kept,
            ..Report::default()
        });
    }
    for finding in &planned.replacing {
        ui.warn(&format!("--replace-secrets: {finding}"));
    }
    super::confirm(
        ui,
        &WriteOptions::from(args),
        site,
        &changes,
        &planned.replacing,
        cluster.server(),
    )
    .await?;

    let mut report = Report::default();
    let (survey, changes) = match lock.as_mut() {
        Some(held) => match held.reconfirm().await? {
            Reconfirmed::Unchanged => (survey, changes),
            Reconfirmed::Retaken => {
                ui.info("the site lock changed hands while the plan was shown: looking again");
                drop(survey);
                resurvey(cluster, planned, set, desired, &changes, args.prune_data).await?
            }
        },
        None => {
            // A new site: create its namespace, then take the lock and look again.
            let namespaces: Vec<&Desired> = desired
                .iter()
                .filter(|d| d.stage == Stage::Namespaces)
                .collect();
            for object in namespaces {
                let kind = survey.resolved(&object.id)?;
                deploy::apply_one(cluster, kind, object, args.force_conflicts).await?;
                report.created.push(object.id.clone());
            }
            *lock = Some(cluster.lock(site.namespace()).await?);
            drop(survey);
            resurvey(cluster, planned, set, desired, &changes, args.prune_data).await?
        }
    };
    let lock = lock
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the site lock is not held; this is a bug in openlsp"))?;
    if !planned.replace_generations.is_empty() {
        lock.held()?;
        planned.state.commit(
            &crate::secrets::records::history_stamp(time::OffsetDateTime::now_utc()),
            &[],
            &planned.replace_generations,
        )?;
        let names: Vec<&str> = planned
            .replacing
            .iter()
            .map(|f| f.secret.as_str())
            .collect();
        planned.state.audit(&format!(
            "replaced in the cluster with the state dir's values: {}",
            names.join(", ")
        ))?;
    }
    let written = deploy::converge(
        cluster,
        lock,
        ui,
        set,
        desired,
        &survey,
        &changes,
        &WriteLimits {
            force_conflicts: args.force_conflicts,
            timeout: args.timeout,
        },
        interrupt,
    )
    .await
    .map_err(|err| super::deploy_failed(err, "openlsp apply"))?;
    // A new site's namespace was created above, before the lock.
    report.created.extend(written.created);
    report.changed = written.changed;
    report.pruned = written.pruned;
    report.kept = written.kept;
    report.stopped_before = written.stopped_before;
    // Interrupted: the caller says what was and was not applied, as an error; no success line.
    if report.stopped_before.is_none() {
        ui.success(&format!(
            "applied to {}: {}",
            cluster.server(),
            report.describe()
        ));
    }
    Ok(report)
}

/// After the lock was (re)taken: the credentials and the plan again. Anything different from
/// what the operator confirmed stops the run before it writes.
async fn resurvey<'d>(
    cluster: &Cluster,
    planned: &super::Planned,
    set: &ApplySet,
    desired: &'d [Desired],
    confirmed: &ChangeSet,
    prune_data: bool,
) -> anyhow::Result<(Survey<'d>, ChangeSet)> {
    super::recheck_credentials(cluster, planned).await?;
    let (again, now) = survey_changes(cluster, set, desired, prune_data).await?;
    if !same_plan(confirmed, &now) {
        bail!(
            "the cluster changed while the plan was shown; nothing else was changed\n  hint: run openlsp apply again"
        );
    }
    Ok((again, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Change;
    use crate::object::ObjectId;

    fn change(kind: &str, action: Action) -> Change {
        let api_version = if kind == "CustomResourceDefinition" {
            "apiextensions.k8s.io/v1"
        } else {
            "v1"
        };
        let manifest = serde_json::json!({ "apiVersion": api_version, "kind": kind,
                                           "metadata": { "name": "x", "namespace": "ns" } });
        Change {
            id: ObjectId::of(&manifest).unwrap(),
            action,
            data: false,
            conflicts: Vec::new(),
            note: None,
            before: None,
            after: None,
        }
    }

    #[test]
    fn prune_data_never_turns_a_crd_into_a_prune() {
        let changes = ChangeSet {
            changes: vec![
                change("CustomResourceDefinition", Action::Keep),
                change("PersistentVolumeClaim", Action::Keep),
            ],
        };
        let pruned = with_data_pruned(changes, true);
        assert_eq!(pruned.changes[0].action, Action::Keep);
        assert_eq!(pruned.changes[1].action, Action::Prune);
    }
}
