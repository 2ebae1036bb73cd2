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
use crate::cluster::{CONCURRENCY, Cluster, ClusterError, Desired, LockGuard, Reconfirmed, Survey};
use crate::diff::{self, Action, ChangeSet, ObjectId};
use crate::plan::Stage;
use crate::plan::credential_check::Finding;
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

/// Asks before writing: `--yes`, or a question on a terminal. Deleting data or replacing live
/// credentials needs the site name typed (or `--confirm-site`). Questions are asked off the
/// runtime's thread, so the site's lock keeps being renewed while the operator reads.
pub async fn confirm(
    ui: &Ui,
    args: &WriteOptions,
    site: &Site,
    changes: &ChangeSet,
    replacing: &[Finding],
    server: &str,
) -> anyhow::Result<()> {
    let prunes_data = changes.with_action(Action::Prune).any(|c| c.data);
    let mut dangers = Vec::new();
    if prunes_data {
        dangers.push("--prune-data deletes volumes, claims and credential Secrets".to_owned());
    }
    if !replacing.is_empty() {
        let names: Vec<&str> = replacing.iter().map(|f| f.secret.as_str()).collect();
        dangers.push(format!(
            "--replace-secrets writes the state dir's {} over the cluster's",
            names.join(", ")
        ));
    }
    if !dangers.is_empty() {
        let typed = match &args.confirm_site {
            Some(name) => name == site.name(),
            None => {
                let (ui, site_name) = (ui.clone(), site.name().to_owned());
                let prompt = format!("{} of site {site_name}", dangers.join("; "));
                tokio::task::spawn_blocking(move || {
                    ui.confirm_typed(&prompt, &site_name, "pass --confirm-site <site name>")
                })
                .await??
            }
        };
        if !typed {
            bail!("the site name was not confirmed; nothing was changed");
        }
    }
    if args.yes {
        return Ok(());
    }
    let (ui, question) = (ui.clone(), format!("Apply these changes to {server}?"));
    let confirmed = tokio::task::spawn_blocking(move || {
        ui.confirm(&question, false, "pass --yes to apply without asking")
    })
    .await??;
    if !confirmed {
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
    let namespace = profile.site.namespace().to_owned();
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
    wait_for_workloads(ui, &cluster, &desired, args.timeout, &interrupt).await?;
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
    super::diff::show_changes(ui, &changes, false);
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
    confirm(
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
                apply_one(cluster, kind, object, args.force_conflicts).await?;
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
            &crate::plan::state::history_stamp(time::OffsetDateTime::now_utc()),
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
    lock.held()?;
    let parent = open_parent(cluster, set, &survey, desired).await?;
    write_changes(
        ui,
        cluster,
        lock,
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
            lock,
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
    lock: &LockGuard,
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
        fence(
            lock,
            &format!("stage {} ({stage:?})", stage.number()),
            report,
        )?;
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
            // A run paused mid-stage past its lease writes none of the rest.
            lock.held()?;
            apply_one(cluster, &kind, object, limits.force_conflicts).await
        }))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map_err(|err| stopped_mid_stage(err, stage, report))?;
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

/// Stops before the next step (`before`: "stage 4 (Config)") unless the site lock is still
/// this run's.
fn fence(lock: &LockGuard, before: &str, report: &Report) -> anyhow::Result<()> {
    lock.held().map_err(|lost| {
        anyhow::anyhow!(
            "{lost}; stopped before {before} and wrote nothing more; applied so far: {}\n  hint: run openlsp apply again: it looks at the cluster afresh",
            report.describe()
        )
    })
}

/// A stage that failed part-way because the lock was lost says so, and what came before it.
fn stopped_mid_stage(err: anyhow::Error, stage: Stage, report: &Report) -> anyhow::Error {
    match err.downcast_ref::<ClusterError>() {
        Some(ClusterError::LockLost { .. }) => anyhow::anyhow!(
            "{err}; stopped in stage {} ({stage:?}), whose other writes may have been made; nothing more was written; applied before it: {}\n  hint: run openlsp apply again: it looks at the cluster afresh",
            stage.number(),
            report.describe()
        ),
        _ => err,
    }
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
) -> anyhow::Result<()> {
    let prunes: Vec<&diff::Change> = changes.with_action(Action::Prune).collect();
    fence(lock, "the prune", report)?;
    stream::iter(prunes.iter().map(|change| async move {
        lock.held()?;
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
    lock.held()?;
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
