//! The staged write: creates and changes in stage order, concurrently within a stage, CRDs
//! settled after stage 2, then prune and the ApplySet parent's final membership. Every write
//! first asks the site's lock whether it is still this run's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};

use super::wait::{Waited, wait_until_ready};
use super::{DeployError, Interrupt, Progress, Report};
use crate::cluster::applyset::{ApplySet, Membership, ParentState};
use crate::cluster::write::Applied;
use crate::cluster::{CONCURRENCY, Cluster, ClusterError, Desired, Kind, LockGuard, Survey};
use crate::diff::{Action, Change, ChangeSet};
use crate::object::{ObjectId, Stage};

/// How far writes may go: take over conflicting fields, and how long to wait for stage 2's
/// CustomResourceDefinitions.
#[derive(Debug, Clone, Copy)]
pub struct WriteLimits {
    pub force_conflicts: bool,
    pub timeout: Duration,
}

/// Stops before the next step (`before`: "stage 4 (Config)") unless the lock is still ours.
fn fence(lock: &LockGuard, before: &str, report: &Report) -> Result<(), DeployError> {
    lock.held().map_err(|loss| DeployError::LockLost {
        loss: Box::new(loss),
        before: before.to_owned(),
        report: Box::new(report.clone()),
    })
}

/// Server-side applies one object; conflicts with other managers are an error.
pub async fn apply_one(
    cluster: &Cluster,
    kind: &Kind,
    object: &Desired,
    force: bool,
) -> Result<(), ClusterError> {
    match cluster
        .apply_object(kind, &object.manifest, false, force)
        .await?
    {
        Applied::Object(_) => Ok(()),
        Applied::Conflicts(conflicts) => Err(ClusterError::Conflicts(
            conflicts
                .into_iter()
                .map(|c| (object.id.to_string(), c))
                .collect(),
        )),
    }
}

/// Before writing: the parent lists old and new members, so an interrupted run orphans
/// nothing. Returns the parent as it now is.
pub async fn open_parent(
    cluster: &Cluster,
    lock: &LockGuard,
    set: &ApplySet,
    survey: &Survey<'_>,
    desired: &[Desired],
) -> Result<ParentState, DeployError> {
    fence(lock, "the first write", &Report::default())?;
    let union = survey.parent.membership.union(&Membership::of(
        &set.namespace,
        desired.iter().map(|d| &d.id),
    ));
    cluster
        .write_parent(set, &survey.parent, &union)
        .await
        .map_err(|err| {
            DeployError::lost_during(
                err,
                "writing the ApplySet parent, before any object",
                &Report::default(),
            )
        })?;
    Ok(ParentState {
        exists: true,
        membership: union,
        tooling: Some(ApplySet::tooling()),
    })
}

/// The objects to write, grouped by stage in apply order: the creates and changes that
/// `selected` picks and that `report` does not list as written already.
pub fn stage_batches<'d>(
    desired: &'d [Desired],
    changes: &ChangeSet,
    selected: &dyn Fn(&ObjectId) -> bool,
    report: &Report,
) -> Vec<(Stage, Vec<&'d Desired>)> {
    let actions: HashMap<&ObjectId, Action> =
        changes.changes.iter().map(|c| (&c.id, c.action)).collect();
    let mut batches: BTreeMap<Stage, Vec<&Desired>> = BTreeMap::new();
    for object in desired {
        let writes = matches!(
            actions.get(&object.id),
            Some(Action::Create | Action::Change)
        );
        let written = report.created.contains(&object.id) || report.changed.contains(&object.id);
        if writes && !written && selected(&object.id) {
            batches.entry(object.stage).or_default().push(object);
        }
    }
    batches.into_iter().collect()
}

/// A stage's objects in the order they can be written: RoleBindings after everything else. The
/// API server checks a binding against its Role (unless the writer may `bind`, which the
/// controller may not), so a binding written beside its new Role fails, and the failure cancels
/// the Role's write.
fn waves<'a>(batch: &[&'a Desired]) -> Vec<Vec<&'a Desired>> {
    let (bindings, first): (Vec<&Desired>, Vec<&Desired>) =
        batch.iter().copied().partition(|object| {
            matches!(
                object.id.kind.as_str(),
                "RoleBinding" | "ClusterRoleBinding"
            )
        });
    [first, bindings]
        .into_iter()
        .filter(|wave| !wave.is_empty())
        .collect()
}

/// Creates and changes the `selected` objects that differ, stage by stage, concurrently within
/// a stage (in [`waves`]). After stage 2 it waits for the new CustomResourceDefinitions and for the cluster to
/// serve their kinds. Stops at a stage boundary when interrupted (`report.stopped_before`), and
/// writes nothing more once the lock is lost.
#[allow(clippy::too_many_arguments)]
pub async fn write_changes(
    cluster: &Cluster,
    lock: &LockGuard,
    progress: &dyn Progress,
    desired: &[Desired],
    survey: &Survey<'_>,
    changes: &ChangeSet,
    selected: &dyn Fn(&ObjectId) -> bool,
    limits: &WriteLimits,
    interrupt: &Interrupt,
    report: &mut Report,
) -> Result<(), DeployError> {
    for (stage, batch) in stage_batches(desired, changes, selected, report) {
        if interrupt.is_set() {
            report.stopped_before = Some(stage);
            return Ok(());
        }
        fence(
            lock,
            &format!("stage {} ({stage:?})", stage.number()),
            report,
        )?;
        progress.stage(stage, batch.len());
        let mut written = Ok(());
        for wave in waves(&batch) {
            written = stream::iter(wave.into_iter().map(|object| async move {
                let kind = match survey.kind_of(&object.id) {
                    Some(kind) => kind.clone(),
                    // Served since stage 2 (see settle_crds); discovery has it cached.
                    None if survey.is_pending(&object.id) => {
                        cluster
                            .kind(&object.id.api_version, &object.id.kind)
                            .await?
                    }
                    None => return Err(ClusterError::Unresolved(object.id.to_string())),
                };
                // A run paused mid-stage past its lease writes none of the rest.
                lock.held()?;
                apply_one(cluster, &kind, object, limits.force_conflicts).await
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ());
            if written.is_err() {
                break;
            }
        }
        match written {
            Ok(_) => {}
            Err(loss @ ClusterError::LockLost { .. }) => {
                return Err(DeployError::LockLostMidStage {
                    loss: Box::new(loss),
                    stage,
                    report: Box::new(report.clone()),
                });
            }
            Err(err) => {
                return Err(DeployError::lost_during(
                    err,
                    format!(
                        "in stage {} ({stage:?}), whose writes may or may not have been made",
                        stage.number()
                    ),
                    report,
                ));
            }
        }
        for object in &batch {
            match action_of(changes, &object.id) {
                Action::Create => report.created.push(object.id.clone()),
                _ => report.changed.push(object.id.clone()),
            }
        }
        if stage == Stage::Crds {
            settle_crds(
                cluster,
                progress,
                survey,
                &batch,
                limits.timeout,
                interrupt,
                report,
            )
            .await
            .map_err(|err| {
                err.lost_while(
                    "after stage 2 (Crds), waiting for its CustomResourceDefinitions",
                    format!(
                        "nothing after stage 2 was written; applied before that: {}",
                        report.describe()
                    ),
                )
            })?;
        }
    }
    Ok(())
}

fn action_of(changes: &ChangeSet, id: &ObjectId) -> Action {
    changes
        .changes
        .iter()
        .find(|c| &c.id == id)
        .map_or(Action::Unchanged, |c| c.action)
}

/// After stage 2: waits until every CustomResourceDefinition it wrote is Established, then
/// until discovery serves every kind the plan was waiting for. Returns early when interrupted
/// (the caller stops before the next stage).
async fn settle_crds(
    cluster: &Cluster,
    progress: &dyn Progress,
    survey: &Survey<'_>,
    written: &[&Desired],
    timeout: Duration,
    interrupt: &Interrupt,
    report: &Report,
) -> Result<(), DeployError> {
    let mut crds = Vec::new();
    for object in written.iter().filter(|d| d.id.is_crd()) {
        crds.push((object.id.clone(), survey.resolved(&object.id)?.clone()));
    }
    if !crds.is_empty() {
        progress.note(&format!(
            "waiting for {} CustomResourceDefinition(s) to be established",
            crds.len()
        ));
        match wait_until_ready(cluster, progress, &crds, timeout, interrupt).await? {
            Waited::Ready => {}
            Waited::Interrupted(_) => return Ok(()),
            Waited::TimedOut(waiting) => {
                return Err(DeployError::CrdsNotEstablished {
                    timeout,
                    waiting,
                    report: Box::new(report.clone()),
                });
            }
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        cluster.refresh_discovery();
        let mut missing = Vec::new();
        for (api_version, kind) in &survey.pending {
            if cluster.served_kind(api_version, kind).await?.is_none() {
                missing.push(format!("{kind} ({api_version})"));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DeployError::KindsNotServed {
                timeout,
                missing,
                report: Box::new(report.clone()),
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = interrupt.wait() => return Ok(()),
        }
    }
}

/// Deletes `doomed` members concurrently, each with a precondition on the uid the survey saw;
/// nothing once the lock is lost.
async fn delete_batch(
    cluster: &Cluster,
    lock: &LockGuard,
    survey: &Survey<'_>,
    doomed: &[&Change],
) -> Result<(), ClusterError> {
    stream::iter(doomed.iter().map(|change| async move {
        lock.held()?;
        let kind = survey.resolved(&change.id)?;
        cluster
            .delete_object(
                kind,
                &change.id,
                survey.uids.get(&change.id).map(String::as_str),
            )
            .await
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    Ok(())
}

/// The stage an object of `id`'s kind is applied in (custom resources last).
fn stage_of(id: &ObjectId) -> Stage {
    crate::plan::kinds::lookup(&id.api_version, &id.kind)
        .map_or(Stage::CustomResources, |info| info.stage)
}

/// Deletes `doomed` in the reverse of the apply order: workloads first, the namespace last.
/// Returns what it deleted.
pub async fn delete_in_reverse_stages(
    cluster: &Cluster,
    lock: &LockGuard,
    survey: &Survey<'_>,
    doomed: &[&Change],
) -> Result<Vec<ObjectId>, DeployError> {
    let mut by_stage: BTreeMap<std::cmp::Reverse<Stage>, Vec<&Change>> = BTreeMap::new();
    for change in doomed {
        by_stage
            .entry(std::cmp::Reverse(stage_of(&change.id)))
            .or_default()
            .push(change);
    }
    let mut deleted = Report::default();
    for (std::cmp::Reverse(stage), batch) in &by_stage {
        fence(
            lock,
            &format!("deleting stage {}", stage.number()),
            &deleted,
        )?;
        delete_batch(cluster, lock, survey, batch).await?;
        deleted
            .pruned
            .extend(batch.iter().map(|change| change.id.clone()));
    }
    Ok(deleted.pruned)
}

/// Prunes what the plan dropped (never data unless it was turned into a prune) and sets the
/// parent to the exact set of members that remain.
#[allow(clippy::too_many_arguments)]
pub async fn finish_writes(
    cluster: &Cluster,
    lock: &LockGuard,
    set: &ApplySet,
    desired: &[Desired],
    survey: &Survey<'_>,
    changes: &ChangeSet,
    parent: &ParentState,
    report: &mut Report,
) -> Result<(), DeployError> {
    let prunes: Vec<&Change> = changes.with_action(Action::Prune).collect();
    fence(lock, "the prune", report)?;
    delete_batch(cluster, lock, survey, &prunes)
        .await
        .map_err(|err| {
            DeployError::lost_during(
                err,
                "while pruning, whose deletes may or may not have been made",
                report,
            )
        })?;
    report.pruned = prunes.iter().map(|c| c.id.clone()).collect();
    report.kept = changes.summary().kept;
    let pruned: BTreeSet<ObjectId> = report.pruned.iter().cloned().collect();
    fence(lock, "the ApplySet parent's last write", report)?;
    cluster
        .write_parent(
            set,
            parent,
            &survey.membership_after(&set.namespace, desired, &pruned),
        )
        .await
        .map_err(|err| {
            DeployError::lost_during(
                err,
                "at the ApplySet parent's last write (the next run completes it)",
                report,
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Change;

    fn object(kind: &str, name: &str, stage: Stage) -> Desired {
        let api_version = match kind {
            "StatefulSet" => "apps/v1",
            "CustomResourceDefinition" => "apiextensions.k8s.io/v1",
            "Issuer" => "cert-manager.io/v1",
            _ => "v1",
        };
        let manifest = serde_json::json!({ "apiVersion": api_version, "kind": kind,
                                           "metadata": { "name": name, "namespace": "ns" } });
        Desired {
            id: ObjectId::of(&manifest).unwrap(),
            manifest,
            stage,
            data: false,
        }
    }

    fn change(id: &ObjectId, action: Action) -> Change {
        Change {
            id: id.clone(),
            action,
            data: false,
            conflicts: Vec::new(),
            note: None,
            before: None,
            after: None,
        }
    }

    #[test]
    fn role_bindings_are_written_after_the_roles_they_bind() {
        let batch = [
            object("RoleBinding", "lnd-lndinit", Stage::Rbac),
            object("Role", "lnd-lndinit", Stage::Rbac),
            object("ServiceAccount", "lnd-lndinit", Stage::Rbac),
        ];
        let refs: Vec<&Desired> = batch.iter().collect();
        let kinds: Vec<Vec<&str>> = waves(&refs)
            .iter()
            .map(|wave| wave.iter().map(|o| o.id.kind.as_str()).collect())
            .collect();
        assert_eq!(kinds, [vec!["Role", "ServiceAccount"], vec!["RoleBinding"]]);
        let no_bindings: Vec<&Desired> = batch[1..].iter().collect();
        assert_eq!(waves(&no_bindings).len(), 1);
    }

    #[test]
    fn batches_follow_the_stage_order_whatever_the_plan_order() {
        // Deliberately out of order: a custom resource first, the namespace last.
        let desired = [
            object("Issuer", "issuer", Stage::CustomResources),
            object("StatefulSet", "lnd", Stage::Workloads),
            object("Service", "lnd", Stage::Services),
            object("PersistentVolumeClaim", "data", Stage::Storage),
            object("ConfigMap", "config", Stage::Config),
            object("ServiceAccount", "sa", Stage::Rbac),
            object("CustomResourceDefinition", "issuers", Stage::Crds),
            object("Namespace", "ns", Stage::Namespaces),
            object("Secret", "same", Stage::Config),
        ];
        let changes = ChangeSet {
            changes: desired
                .iter()
                .map(|d| {
                    let action = if d.id.name == "same" {
                        Action::Unchanged
                    } else {
                        Action::Create
                    };
                    change(&d.id, action)
                })
                .collect(),
        };
        let batches = stage_batches(&desired, &changes, &|_| true, &Report::default());
        let order: Vec<(u8, Vec<&str>)> = batches
            .iter()
            .map(|(stage, objects)| {
                (
                    stage.number(),
                    objects.iter().map(|d| d.id.kind.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                (1, vec!["Namespace"]),
                (2, vec!["CustomResourceDefinition"]),
                (3, vec!["ServiceAccount"]),
                (4, vec!["ConfigMap"]),
                (5, vec!["PersistentVolumeClaim"]),
                (6, vec!["Service"]),
                (7, vec!["StatefulSet"]),
                (8, vec!["Issuer"]),
            ]
        );

        // Written already (the namespace of a new site) or not selected: left out.
        let report = Report {
            created: vec![desired[7].id.clone()],
            ..Report::default()
        };
        let only_config = |id: &ObjectId| id.kind != "StatefulSet";
        let batches = stage_batches(&desired, &changes, &only_config, &report);
        assert_eq!(batches.first().unwrap().0, Stage::Crds);
        assert!(batches.iter().all(|(stage, _)| *stage != Stage::Workloads));
    }
}
