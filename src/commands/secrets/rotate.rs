//! `openlsp secrets rotate`: RPC credentials in two phases without downtime (bitcoind accepts
//! the old and the new password, the clients switch, then the old one goes), certificates
//! reissued with the same names. The state dir is checked against the cluster under the site's
//! lock first, and every write goes through the deploy engine.

use std::collections::BTreeSet;

use anyhow::bail;

use super::{consumed_secrets, render, stamp};
use crate::cli::{GlobalArgs, RotateArgs};
use crate::cluster::{ApplySet, Cluster, Desired, LockGuard, Reconfirmed, readiness_of};
use crate::commands::{self, Outcome, WriteOptions};
use crate::deploy::{self, Interrupt, Report, Waited, WriteLimits};
use crate::diff::{self, ObjectId};
use crate::plan::names;
use crate::profile::Site;
use crate::secrets::catalog::{self, Entry, SecretKind};
use crate::secrets::{Secrets, StateDir, requirements, rotation};
use crate::ui::Ui;

fn secret_id(site: &Site, name: &str) -> ObjectId {
    ObjectId::secret(site.namespace(), name)
}

/// Planned workloads that consume any of `secrets`.
fn workloads_consuming(desired: &[Desired], secrets: &BTreeSet<String>) -> Vec<Desired> {
    desired
        .iter()
        .filter(|d| consumed_secrets(&d.manifest).any(|name| secrets.contains(&name)))
        .cloned()
        .collect()
}

struct Rotation<'a> {
    ui: &'a Ui,
    global: &'a GlobalArgs,
    args: &'a RotateArgs,
    site: &'a Site,
    cluster: &'a Cluster,
    state: &'a StateDir,
    set: ApplySet,
    interrupt: Interrupt,
    /// The site's lock, when the site is in the cluster.
    lock: Option<LockGuard>,
}

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &RotateArgs,
) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let cluster = commands::connect_cluster(global).await?;
    let namespace = profile.site.namespace().to_owned();
    if !args.dry_run {
        commands::refuse_controller_managed(&cluster, &namespace, commands::CliWrite::Rotate)
            .await?;
    }
    // Under the lock from the start: the state dir is checked against the cluster under it.
    let lock = if cluster.namespace_exists(&namespace).await? {
        Some(cluster.lock(&namespace).await?)
    } else {
        None
    };
    let planned = match commands::plan_with_cluster(ui, global, profile, &cluster, &[]).await {
        Ok(planned) => planned,
        Err(err) => {
            if let Some(lock) = lock {
                lock.release().await;
            }
            return Err(err);
        }
    };
    let site = &planned.profile.site;
    let mut rotation = Rotation {
        ui,
        global,
        args,
        site,
        cluster: &cluster,
        state: &planned.state,
        set: ApplySet::new(site.namespace()),
        interrupt: Interrupt::listen(),
        lock,
    };
    let result = rotation.run(&planned.secrets).await;
    if let Some(lock) = rotation.lock.take() {
        lock.release().await;
    }
    result
}

fn describe(targets: &[&Entry]) -> String {
    targets
        .iter()
        .map(|e| e.secret.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Rotation<'_> {
    async fn run(&mut self, secrets: &Secrets) -> anyhow::Result<Outcome> {
        let entries = catalog::catalog(self.site);
        let targets = rotation::select(
            &entries,
            &self.args.names,
            self.args.all,
            self.args.finish,
            secrets,
        )?;
        if targets.is_empty() {
            self.ui.success(if self.args.finish {
                "no rotation waits for --finish"
            } else {
                "nothing to rotate"
            });
            return Ok(Outcome::Ok);
        }
        if self.lock.is_none() {
            return self.state_only(&targets, secrets);
        }
        if self.args.finish {
            self.finish(&targets, secrets, true).await?;
        } else {
            self.start(&targets, secrets).await?;
        }
        Ok(Outcome::Ok)
    }

    fn lock(&self) -> anyhow::Result<&LockGuard> {
        self.lock
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the site lock is not held; this is a bug in openlsp"))
    }

    /// The site is not in the cluster yet: new values simply replace the old ones.
    fn state_only(&self, targets: &[&Entry], secrets: &Secrets) -> anyhow::Result<Outcome> {
        let step = rotation::replace(targets, secrets, &requirements(self.site))?;
        self.ui.info(&format!(
            "site {} is not in the cluster: {} simply get new values, which the first apply uses",
            self.site.name(),
            describe(targets)
        ));
        if self.args.dry_run {
            return Ok(Outcome::Ok);
        }
        if !self.args.yes && !self.ui.confirm("Replace them?", false, "pass --yes")? {
            bail!("rotation cancelled; nothing was changed");
        }
        self.state.commit(&stamp(), &step.history, &step.changes)?;
        self.state
            .audit(&format!("rotated {} (not applied yet)", describe(targets)))?;
        self.ui.success(&format!("rotated {}", describe(targets)));
        Ok(Outcome::Ok)
    }

    /// Shows what writing `desired` changes and asks (unless --yes); false on --dry-run.
    async fn show_and_confirm(
        &mut self,
        changes: &diff::ChangeSet,
        ask: bool,
    ) -> anyhow::Result<bool> {
        self.ui.show_changes(changes, false);
        let conflicts: Vec<_> = changes
            .conflicts()
            .map(|(id, c)| (id.to_string(), c.clone()))
            .collect();
        if !conflicts.is_empty() {
            return Err(crate::cluster::ClusterError::Conflicts(conflicts).into());
        }
        if self.args.dry_run {
            self.ui.info("dry run: nothing was changed");
            return Ok(false);
        }
        if ask {
            let options = WriteOptions {
                yes: self.args.yes,
                ..WriteOptions::default()
            };
            commands::confirm(
                self.ui,
                &options,
                self.site,
                changes,
                &[],
                self.cluster.server(),
            )
            .await?;
            let lock = self.lock.as_mut().ok_or_else(|| {
                anyhow::anyhow!("the site lock is not held; this is a bug in openlsp")
            })?;
            if lock.reconfirm().await? == Reconfirmed::Retaken {
                bail!(
                    "the site lock changed hands while the plan was shown, so it may no longer hold; nothing was changed\n  hint: run the same openlsp secrets rotate again"
                );
            }
        }
        Ok(true)
    }

    /// Writes the changes group by group, waiting for `waits[i]` after group `i`.
    async fn execute(
        &self,
        desired: &[Desired],
        survey: &crate::cluster::Survey<'_>,
        changes: &diff::ChangeSet,
        groups: &[BTreeSet<ObjectId>],
        waits: &[Vec<Desired>],
        resume: &str,
    ) -> anyhow::Result<Report> {
        let mut report = Report::default();
        let lock = self.lock()?;
        let failed = |err| commands::deploy_failed(err, "openlsp secrets rotate");
        let parent = deploy::open_parent(self.cluster, lock, &self.set, survey, desired)
            .await
            .map_err(failed)?;
        for (index, group) in groups.iter().enumerate() {
            let select = |id: &ObjectId| group.contains(id);
            deploy::write_changes(
                self.cluster,
                lock,
                self.ui,
                desired,
                survey,
                changes,
                &select,
                &WriteLimits {
                    force_conflicts: false,
                    timeout: self.args.timeout,
                },
                &self.interrupt,
                &mut report,
            )
            .await
            .map_err(failed)?;
            if let Some(stage) = report.stopped_before {
                bail!(
                    "interrupted before stage {}; applied so far: {}\n  hint: {resume}",
                    stage.number(),
                    report.describe()
                );
            }
            if let Some(workloads) = waits.get(index).filter(|w| !w.is_empty()) {
                let (_, waited) = deploy::wait_for_workloads(
                    self.cluster,
                    self.ui,
                    workloads,
                    self.args.timeout,
                    &self.interrupt,
                )
                .await
                .map_err(failed)?;
                // Not apply's "everything was applied": mid-rotation, it is not.
                match waited {
                    Waited::Ready => {}
                    Waited::TimedOut(waiting) => bail!(
                        "timed out after {:?} waiting for: {}\n  hint: {resume}",
                        self.args.timeout,
                        waiting.join(", ")
                    ),
                    Waited::Interrupted(waiting) => bail!(
                        "stopped waiting (interrupted); not ready yet: {}\n  hint: {resume}",
                        waiting.join(", ")
                    ),
                }
            }
        }
        deploy::finish_writes(
            self.cluster,
            lock,
            &self.set,
            desired,
            survey,
            changes,
            &parent,
            &mut report,
        )
        .await
        .map_err(failed)?;
        Ok(report)
    }

    /// Phase 1 (and, unless --no-wait, phase 2) of the rotation of `targets`. An RPC credential
    /// whose phase 1 was recorded but not completed (a timeout, Ctrl-C) is resumed: its values
    /// stay, and the same writes run again in the same order.
    async fn start(&mut self, targets: &[&Entry], secrets: &Secrets) -> anyhow::Result<()> {
        let begun = rotation::begin(targets, secrets, &requirements(self.site))?;
        let resumed = &begun.resumed;
        if !resumed.is_empty() {
            self.ui.info(&format!(
                "resuming phase 1 of {}: bitcoind with the old and the new password first, then the clients",
                describe(resumed)
            ));
        }
        let next = secrets.with_changes(&begun.step.changes);
        let desired = commands::desired_objects(render(self.global, self.site, &next)?, &self.set)?;

        // The rollout's groups as objects: the second group's Secrets and their consumers
        // after everything else, once the first group's consumers are ready.
        let rollout = rotation::rollout(targets);
        let rpc = &rollout.two_phase;
        let clients = workloads_consuming(&desired, &rollout.second);
        let second: BTreeSet<ObjectId> = rollout
            .second
            .iter()
            .map(|name| secret_id(self.site, name))
            .chain(clients.iter().map(|d| d.id.clone()))
            .collect();
        let all: BTreeSet<ObjectId> = desired.iter().map(|d| d.id.clone()).collect();
        let mut groups = vec![all.difference(&second).cloned().collect()];
        let mut waits: Vec<Vec<Desired>> = Vec::new();
        if !second.is_empty() {
            groups.push(second);
            waits.push(workloads_consuming(&desired, &rollout.ready_first));
        }
        if !self.args.no_wait {
            waits.push(workloads_consuming(&desired, &rollout.all));
        }

        let survey = self.cluster.survey(&self.set, &desired, false).await?;
        // Rotation rewrites workloads: it must not start a node a bootstrap holds stopped.
        deploy::stop::refuse_while_bootstrapping(&survey)
            .map_err(|err| commands::deploy_failed(err, "openlsp secrets rotate"))?;
        let preview = diff::compute(&survey.observations, diff::Detail::ChangesOnly);
        if !rpc.is_empty() {
            self.ui.info("phase 1: bitcoind accepts the old and the new password, then the clients switch to the new one; phase 2 then drops the old one");
        }
        if !self.show_and_confirm(&preview, true).await? {
            return Ok(());
        }
        if !begun.started.is_empty() {
            self.state
                .commit(&stamp(), &begun.step.history, &begun.step.changes)?;
            self.state
                .audit(&format!("rotation started: {}", describe(&begun.started)))?;
        }
        if !resumed.is_empty() {
            self.state
                .audit(&format!("rotation resumed: {}", describe(resumed)))?;
        }
        let resume = if rpc.is_empty() {
            "the new values are recorded in the state dir; openlsp apply writes the rest".to_owned()
        } else {
            format!(
                "phase 1 is recorded and bitcoind is written before LND, so LND is not locked out; resume with: openlsp secrets rotate {}",
                describe(rpc).replace(", ", " ")
            )
        };
        let report = self
            .execute(&desired, &survey, &preview, &groups, &waits, &resume)
            .await?;
        self.ui
            .success(&format!("rotation applied: {}", report.describe()));
        for entry in targets.iter().filter(|e| e.kind == SecretKind::Tls) {
            self.ui.warn(&format!(
                "{}'s certificate changed; clients that pinned the old one need the new one: wallets connected with `openlsp connect {}` (connect again), and anything reading Secret {} (the sidecar republishes tls.cert as LND restarts)",
                entry.node,
                entry.node,
                names::macaroons_secret(&entry.node)
            ));
        }
        for entry in targets.iter().filter(|e| e.kind == SecretKind::Tunnel) {
            self.ui.info(&format!(
                "the tunnel to {} has a new CA and both pairs; {} and BTCPay restart with them, and the store's Lightning pauses until both run",
                entry.node, entry.node
            ));
        }
        if rpc.is_empty() {
            return Ok(());
        }
        if self.args.no_wait {
            self.ui.info(&format!(
                "stopped after phase 1: bitcoind accepts both passwords. Once {} run with the new one, finish with: openlsp secrets rotate --finish",
                clients.iter().map(|c| c.id.to_string()).collect::<Vec<_>>().join(", ")
            ));
            return Ok(());
        }
        self.finish(rpc, &next, false).await
    }

    /// Phase 2: once every client runs with the new password, drop the old rpcauth lines.
    async fn finish(
        &mut self,
        targets: &[&Entry],
        secrets: &Secrets,
        ask: bool,
    ) -> anyhow::Result<()> {
        let current =
            commands::desired_objects(render(self.global, self.site, secrets)?, &self.set)?;
        let rollout = rotation::rollout(targets);
        let pointer = crate::object::annotation_pointer(
            "/spec/template/metadata",
            crate::object::CHECKSUM_ANNOTATION,
        );
        let pointer = pointer.as_str();
        for client in workloads_consuming(&current, &rollout.second) {
            let live = self.cluster.live(&client.id).await?;
            let running = live.as_ref().and_then(|l| l.pointer(pointer));
            let ready = live.as_ref().map(readiness_of);
            let rolled = running == client.manifest.pointer(pointer)
                && ready.as_ref().is_some_and(|r| r.is_ready());
            if !rolled {
                let applied = running == client.manifest.pointer(pointer);
                if ready.is_none() || !applied {
                    // Phase 1 stopped before the client got the new password (a timeout
                    // waiting for bitcoind, Ctrl-C): waiting will not help, resuming does.
                    bail!(
                        "{} still runs the old pod template ({}): phase 1 did not reach it; bitcoind keeps accepting the old password\n  hint: resume phase 1: openlsp secrets rotate {}",
                        client.id,
                        if ready.is_none() {
                            "not found"
                        } else {
                            "its pod template has the old password"
                        },
                        describe(targets).replace(", ", " ")
                    );
                }
                let detail = ready
                    .as_ref()
                    .map(|r| r.message().to_owned())
                    .unwrap_or_default();
                bail!(
                    "{} still runs the old pod template ({detail}); bitcoind keeps accepting the old password until it has rolled\n  hint: wait for the rollout (kubectl -n {} rollout status {}), then run openlsp secrets rotate --finish again",
                    client.id,
                    self.site.namespace(),
                    client.id.to_string().to_lowercase()
                );
            }
        }
        let step = rotation::finish_all(targets, secrets);
        let next = secrets.with_changes(&step.changes);
        let desired = commands::desired_objects(render(self.global, self.site, &next)?, &self.set)?;
        let waits = if self.args.no_wait {
            Vec::new()
        } else {
            vec![workloads_consuming(&desired, &rollout.ready_first)]
        };
        let survey = self.cluster.survey(&self.set, &desired, false).await?;
        // Rotation rewrites workloads: it must not start a node a bootstrap holds stopped.
        deploy::stop::refuse_while_bootstrapping(&survey)
            .map_err(|err| commands::deploy_failed(err, "openlsp secrets rotate"))?;
        let preview = diff::compute(&survey.observations, diff::Detail::ChangesOnly);
        if !self.show_and_confirm(&preview, ask).await? {
            return Ok(());
        }
        self.state.commit(&stamp(), &step.history, &step.changes)?;
        self.state
            .audit(&format!("rotation finished: {}", describe(targets)))?;
        let all: BTreeSet<ObjectId> = desired.iter().map(|d| d.id.clone()).collect();
        let resume = "the old password is already gone from the state dir; openlsp apply removes its rpcauth line from bitcoind";
        let report = self
            .execute(&desired, &survey, &preview, &[all], &waits, resume)
            .await?;
        self.ui.success(&format!(
            "phase 2 applied, bitcoind no longer accepts the old password: {}",
            report.describe()
        ));
        Ok(())
    }
}
