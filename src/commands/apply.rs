//! `openlsp apply`: show the plan, confirm, then under the site's lock apply in stages with
//! server-side apply (only objects that change), prune what the profile dropped (never data
//! unless asked), keep the ApplySet parent current, and wait for workloads with progress.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::{StreamExt, TryStreamExt, stream};
use tokio::sync::Notify;

use crate::Outcome;
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::cluster::applyset::{ApplySet, Membership, ParentState};
use crate::cluster::write::Applied;
use crate::cluster::{CONCURRENCY, Cluster, ClusterError, Desired, LockGuard, Survey};
use crate::diff::{self, Action, ChangeSet, ObjectId};
use crate::plan::Stage;
use crate::profile::Site;
use crate::ui::Ui;

/// Set by Ctrl-C: stop waiting, or stop at the next stage boundary; never mid-write.
#[derive(Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    pub fn listen() -> Self {
        let interrupt = Interrupt::default();
        let handle = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                handle.flag.store(true, Ordering::SeqCst);
                handle.notify.notify_waiters();
            }
        });
        interrupt
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub async fn wait(&self) {
        if !self.is_set() {
            self.notify.notified().await;
        }
    }
}

/// What a run wrote.
#[derive(Debug, Default)]
pub struct Report {
    pub created: Vec<ObjectId>,
    pub changed: Vec<ObjectId>,
    pub pruned: Vec<ObjectId>,
    pub kept: usize,
    pub stopped_before: Option<Stage>,
}

/// How writes are confirmed and made.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub yes: bool,
    pub force_conflicts: bool,
    pub prune_data: bool,
    pub confirm_site: Option<String>,
}

impl From<&ApplyArgs> for WriteOptions {
    fn from(args: &ApplyArgs) -> Self {
        WriteOptions {
            yes: args.yes,
            force_conflicts: args.force_conflicts,
            prune_data: args.prune_data,
            confirm_site: args.confirm_site.clone(),
        }
    }
}

impl Report {
    pub fn describe(&self) -> String {
        format!(
            "{} created, {} changed, {} pruned, {} kept (data)",
            self.created.len(),
            self.changed.len(),
            self.pruned.len(),
            self.kept
        )
    }
}

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

/// Asks before writing: `--yes`, or a question on a terminal; data deletion needs the site
/// name typed (or `--confirm-site`).
pub fn confirm(
    ui: &Ui,
    args: &WriteOptions,
    site: &Site,
    changes: &ChangeSet,
    server: &str,
) -> anyhow::Result<()> {
    let prunes_data = changes.with_action(Action::Prune).any(|c| c.data);
    if prunes_data {
        let typed = match &args.confirm_site {
            Some(name) => name == site.name(),
            None => ui.confirm_typed(
                &format!(
                    "--prune-data deletes volumes, claims and credential Secrets of site {}",
                    site.name()
                ),
                site.name(),
                "pass --confirm-site <site name>",
            )?,
        };
        if !typed {
            bail!("the site name was not confirmed; nothing was changed");
        }
    }
    if args.yes {
        return Ok(());
    }
    if !ui.confirm(
        &format!("Apply these changes to {server}?"),
        false,
        "pass --yes to apply without asking",
    )? {
        bail!("apply cancelled; nothing was changed");
    }
    Ok(())
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
    let cluster = super::connect(global).await?;
    let planned = super::plan_profile(ui, global, profile)?;
    let site = &planned.profile.site;
    let set = ApplySet::new(site.namespace());
    let desired = super::desired_objects(planned.plan, &set);
    let interrupt = Interrupt::listen();

    let mut lock = None;
    if cluster.namespace_exists(site.namespace()).await? {
        lock = Some(cluster.lock(site.namespace()).await?);
    }
    let result = apply_under_lock(
        ui, args, site, &cluster, &set, &desired, &mut lock, &interrupt,
    )
    .await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    let report = result?;
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
    wait_for_workloads(ui, &cluster, &desired, args.timeout, &interrupt).await?;
    Ok(Outcome::Ok)
}

#[allow(clippy::too_many_arguments)]
async fn apply_under_lock(
    ui: &Ui,
    args: &ApplyArgs,
    site: &Site,
    cluster: &Cluster,
    set: &ApplySet,
    desired: &[Desired],
    lock: &mut Option<LockGuard>,
    interrupt: &Interrupt,
) -> anyhow::Result<Report> {
    let survey = cluster.survey(set, desired, false).await?;
    let changes = with_data_pruned(
        diff::compute(&survey.observations, diff::Detail::ChangesOnly),
        args.prune_data,
    );
    super::diff::show_changes(ui, &changes, false);
    let conflicts: Vec<(String, diff::Conflict)> = changes
        .conflicts()
        .map(|(id, conflict)| (id.to_string(), conflict.clone()))
        .collect();
    if !conflicts.is_empty() && !args.force_conflicts {
        return Err(ClusterError::Conflicts(conflicts).into());
    }
    if !changes.has_differences() {
        if survey.namespace_exists {
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
    confirm(
        ui,
        &WriteOptions::from(args),
        site,
        &changes,
        cluster.server(),
    )?;

    let mut report = Report::default();
    let (survey, changes) = if lock.is_some() {
        (survey, changes)
    } else {
        // A new site: create its namespace, then take the lock and look again.
        let namespaces: Vec<&Desired> = desired
            .iter()
            .filter(|d| d.stage == Stage::Namespaces)
            .collect();
        for object in namespaces {
            let kind = survey.resolved(&object.id)?;
            apply_one(cluster, kind, object, args.force_conflicts).await?;
            report.created.push(object.id.clone());
        }
        *lock = Some(cluster.lock(site.namespace()).await?);
        drop(survey);
        let again = cluster.survey(set, desired, false).await?;
        let now = with_data_pruned(
            diff::compute(&again.observations, diff::Detail::ChangesOnly),
            args.prune_data,
        );
        if !same_plan(&changes, &now) {
            bail!(
                "the cluster changed while the plan was shown; nothing else was changed\n  hint: run openlsp apply again"
            );
        }
        (again, now)
    };
    let parent = open_parent(cluster, set, &survey, desired).await?;
    write_changes(
        ui,
        cluster,
        desired,
        &survey,
        &changes,
        &|_| true,
        &WriteLimits {
            force_conflicts: args.force_conflicts,
            timeout: args.timeout,
        },
        interrupt,
        &mut report,
    )
    .await?;
    if report.stopped_before.is_none() {
        finish_writes(
            cluster,
            set,
            desired,
            &survey,
            &changes,
            &parent,
            &mut report,
        )
        .await?;
    }
    ui.success(&format!(
        "applied to {}: {}",
        cluster.server(),
        report.describe()
    ));
    Ok(report)
}

async fn apply_one(
    cluster: &Cluster,
    kind: &crate::cluster::Kind,
    object: &Desired,
    force: bool,
) -> anyhow::Result<()> {
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
        )
        .into()),
    }
}

/// Before writing: the parent lists old and new members, so an interrupted run orphans
/// nothing. Returns the parent as it now is.
pub async fn open_parent(
    cluster: &Cluster,
    set: &ApplySet,
    survey: &Survey<'_>,
    desired: &[Desired],
) -> anyhow::Result<ParentState> {
    let union = survey.parent.membership.union(&Membership::of(
        &set.namespace,
        desired.iter().map(|d| &d.id),
    ));
    cluster.write_parent(set, &survey.parent, &union).await?;
    Ok(ParentState {
        exists: true,
        membership: union,
        tooling: Some(ApplySet::tooling()),
    })
}

/// How far writes may go: take over conflicting fields, and how long to wait for stage 2's
/// CustomResourceDefinitions.
#[derive(Debug, Clone, Copy)]
pub struct WriteLimits {
    pub force_conflicts: bool,
    pub timeout: Duration,
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

/// Creates and changes the `selected` objects that differ, stage by stage, concurrently within
/// a stage. After stage 2 it waits for the new CustomResourceDefinitions and for the cluster to
/// serve their kinds. Stops at a stage boundary when interrupted.
#[allow(clippy::too_many_arguments)]
pub async fn write_changes(
    ui: &Ui,
    cluster: &Cluster,
    desired: &[Desired],
    survey: &Survey<'_>,
    changes: &ChangeSet,
    selected: &dyn Fn(&ObjectId) -> bool,
    limits: &WriteLimits,
    interrupt: &Interrupt,
    report: &mut Report,
) -> anyhow::Result<()> {
    for (stage, batch) in stage_batches(desired, changes, selected, report) {
        if interrupt.is_set() {
            report.stopped_before = Some(stage);
            return Ok(());
        }
        ui.info(&format!(
            "stage {} ({stage:?}): applying {} object(s)",
            stage.number(),
            batch.len()
        ));
        stream::iter(batch.iter().map(|object| async move {
            let kind = match survey.kind_of(&object.id) {
                Some(kind) => kind.clone(),
                // Served since stage 2 (see settle_crds); discovery has it cached.
                None if survey.is_pending(&object.id) => {
                    cluster
                        .kind(&object.id.api_version, &object.id.kind)
                        .await?
                }
                None => return Err(ClusterError::Unresolved(object.id.to_string()).into()),
            };
            apply_one(cluster, &kind, object, limits.force_conflicts).await
        }))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
        for object in &batch {
            match action_of(changes, &object.id) {
                Action::Create => report.created.push(object.id.clone()),
                _ => report.changed.push(object.id.clone()),
            }
        }
        if stage == Stage::Crds {
            settle_crds(
                ui,
                cluster,
                survey,
                &batch,
                limits.timeout,
                interrupt,
                report,
            )
            .await?;
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
    ui: &Ui,
    cluster: &Cluster,
    survey: &Survey<'_>,
    written: &[&Desired],
    timeout: Duration,
    interrupt: &Interrupt,
    report: &Report,
) -> anyhow::Result<()> {
    let mut crds = Vec::new();
    for object in written.iter().filter(|d| d.id.is_crd()) {
        crds.push((object.id.clone(), survey.resolved(&object.id)?.clone()));
    }
    if !crds.is_empty() {
        ui.info(&format!(
            "waiting for {} CustomResourceDefinition(s) to be established",
            crds.len()
        ));
        match wait_until_ready(ui, cluster, &crds, timeout, interrupt).await? {
            Waited::Ready => {}
            Waited::Interrupted(_) => return Ok(()),
            Waited::TimedOut(waiting) => bail!(
                "timed out after {timeout:?} waiting for {} to be established; applied so far: {}\n  hint: kubectl describe crd shows why (a name another CustomResourceDefinition uses is a common cause)",
                waiting.join(", "),
                report.describe()
            ),
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
            bail!(
                "timed out after {timeout:?} waiting for the cluster to serve {}; applied so far: {}\n  hint: check the versions the plan's CustomResourceDefinitions serve",
                missing.join(", "),
                report.describe()
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = interrupt.wait() => return Ok(()),
        }
    }
}

/// Prunes what the plan dropped (never data unless it was turned into a prune) and sets the
/// parent to the exact set of members that remain.
pub async fn finish_writes(
    cluster: &Cluster,
    set: &ApplySet,
    desired: &[Desired],
    survey: &Survey<'_>,
    changes: &ChangeSet,
    parent: &ParentState,
    report: &mut Report,
) -> anyhow::Result<()> {
    let prunes: Vec<&diff::Change> = changes.with_action(Action::Prune).collect();
    stream::iter(prunes.iter().map(|change| async move {
        let kind = survey.resolved(&change.id)?;
        cluster
            .delete_object(
                kind,
                &change.id,
                survey.uids.get(&change.id).map(String::as_str),
            )
            .await
            .map_err(anyhow::Error::from)
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    report.pruned = prunes.iter().map(|c| c.id.clone()).collect();
    report.kept = changes.summary().kept;
    let pruned: BTreeSet<ObjectId> = report.pruned.iter().cloned().collect();
    cluster
        .write_parent(
            set,
            parent,
            &survey.membership_after(&set.namespace, desired, &pruned),
        )
        .await?;
    Ok(())
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    Ready,
    /// Each object not ready, with its state.
    TimedOut(Vec<String>),
    Interrupted(Vec<String>),
}

/// Polls `objects` every second, showing each one's state, until all are ready, `timeout`
/// passes, or Ctrl-C.
pub async fn wait_until_ready(
    ui: &Ui,
    cluster: &Cluster,
    objects: &[(ObjectId, crate::cluster::Kind)],
    timeout: Duration,
    interrupt: &Interrupt,
) -> anyhow::Result<Waited> {
    let names: Vec<String> = objects.iter().map(|(id, _)| id.to_string()).collect();
    let mut display = ui.wait_display(&names);
    let deadline = Instant::now() + timeout;
    loop {
        let states = futures::future::try_join_all(
            objects.iter().map(|(id, kind)| cluster.readiness(kind, id)),
        )
        .await?;
        for (index, state) in states.iter().enumerate() {
            display.update(index, state.is_ready(), state.message());
        }
        let waiting: Vec<String> = states
            .iter()
            .zip(&names)
            .filter(|(state, _)| !state.is_ready())
            .map(|(state, name)| format!("{name} ({})", state.message()))
            .collect();
        if waiting.is_empty() {
            display.finish();
            return Ok(Waited::Ready);
        }
        if Instant::now() >= deadline {
            display.finish();
            return Ok(Waited::TimedOut(waiting));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = interrupt.wait() => {
                display.finish();
                return Ok(Waited::Interrupted(waiting));
            }
        }
    }
}

/// Waits until every planned workload is ready, showing each one's state.
pub async fn wait_for_workloads(
    ui: &Ui,
    cluster: &Cluster,
    desired: &[Desired],
    timeout: Duration,
    interrupt: &Interrupt,
) -> anyhow::Result<()> {
    let mut workloads = Vec::new();
    for object in desired
        .iter()
        .filter(|d| matches!(d.id.kind.as_str(), "StatefulSet" | "Deployment"))
    {
        workloads.push((
            object.id.clone(),
            cluster
                .kind(&object.id.api_version, &object.id.kind)
                .await?,
        ));
    }
    if workloads.is_empty() {
        return Ok(());
    }
    match wait_until_ready(ui, cluster, &workloads, timeout, interrupt).await? {
        Waited::Ready => {
            ui.success(&format!("all {} workloads are ready", workloads.len()));
            Ok(())
        }
        Waited::TimedOut(waiting) => bail!(
            "timed out after {timeout:?} waiting for: {}\n  hint: everything was applied; look at the pods with kubectl get pods -n {}",
            waiting.join(", "),
            workloads[0].0.namespace.as_deref().unwrap_or("default")
        ),
        Waited::Interrupted(waiting) => bail!(
            "stopped waiting (interrupted); everything was applied; not ready yet: {}",
            waiting.join(", ")
        ),
    }
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

    #[test]
    fn prune_data_never_turns_a_crd_into_a_prune() {
        let crd = object("CustomResourceDefinition", "issuers", Stage::Crds);
        let claim = object("PersistentVolumeClaim", "data", Stage::Storage);
        let changes = ChangeSet {
            changes: vec![
                change(&crd.id, Action::Keep),
                change(&claim.id, Action::Keep),
            ],
        };
        let pruned = with_data_pruned(changes, true);
        assert_eq!(pruned.changes[0].action, Action::Keep);
        assert_eq!(pruned.changes[1].action, Action::Prune);
    }
}
