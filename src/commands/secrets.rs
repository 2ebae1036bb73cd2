//! `openlsp secrets`: credentials after day one. `list` shows every secret without a value;
//! `rotate` replaces RPC credentials in two phases without downtime and reissues
//! certificates; `pull` rebuilds the state dir from the cluster; `export`/`import` make and
//! restore encrypted offline backups; `seed` reveals an LND seed once, after confirmation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::Outcome;
use super::WriteOptions;
use crate::cli::{
    ExportArgs, GlobalArgs, ImportArgs, PullArgs, RotateArgs, SecretsArgs, SecretsCommand,
    SecretsListArgs, SeedArgs,
};
use crate::cluster::{ApplySet, Cluster, Desired, LockGuard, Reconfirmed, readiness_of};
use crate::deploy::{self, Interrupt, Report, Waited, WriteLimits};
use crate::diff::{self, ObjectId};
use crate::plan::{self, Plan, checksum, names};
use crate::profile::Site;
use crate::secrets::catalog::{self, Entry, SecretKind, Source};
use crate::secrets::{self as state, Secrets, StateChange, StateDir};
use crate::secrets::{backup, records, rotation, rpcauth, tls, value_check};
use crate::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &SecretsArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        SecretsCommand::List(args) => list(ui, global, args).await,
        SecretsCommand::Rotate(args) => rotate(ui, global, args).await,
        SecretsCommand::Pull(args) => pull(ui, global, args).await,
        SecretsCommand::Export(args) => export(ui, global, args),
        SecretsCommand::Import(args) => import(ui, global, args),
        SecretsCommand::Seed(args) => seed(ui, global, args).await,
    }
}

/// `sha256:` and the first 16 hex digits of the hash of `values`, in order.
fn fingerprint<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for value in values {
        hasher.update(value);
    }
    format!("sha256:{}", &hex::encode(hasher.finalize())[..16])
}

/// A certificate's fingerprint (over its DER) and its expiry.
fn certificate(pem_text: &[u8]) -> Option<(String, OffsetDateTime)> {
    let cert = tls::read_certificate(pem_text).ok()?;
    Some((fingerprint([cert.der.as_slice()]), cert.not_after))
}

fn date(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// Workloads (`Kind/name`) that consume each Secret of the plan, directly or through a
/// Secret derived from it.
fn consumers(plan: &Plan) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for object in &plan.objects {
        if let Some(pod) = object.manifest.pointer("/spec/template/spec") {
            for (kind, name) in checksum::consumed_objects(pod) {
                if kind == "Secret" {
                    found.entry(name).or_default().insert(object.display_name());
                }
            }
        }
    }
    found
}

fn consumers_of(entry: &Entry, map: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    std::iter::once(&entry.secret)
        .chain(&entry.derived)
        .filter_map(|secret| map.get(secret))
        .flatten()
        .cloned()
        .collect()
}

async fn list(ui: &Ui, global: &GlobalArgs, args: &SecretsListArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let dir = super::state_dir_path(global, site.name())?;
    if !dir.exists() {
        ui.info(&format!(
            "no secrets yet: {} does not exist; openlsp render or apply generates them",
            dir.display()
        ));
        return Ok(Outcome::Ok);
    }
    let state = StateDir::open(&dir, site.name())?;
    let entries = catalog::catalog(site);
    let needed = state::requirements(site);
    let consumer_map = match state.load(&needed) {
        Ok(secrets) => consumers(&plan::render_site(
            site,
            &secrets,
            &super::template_set(global)?,
        )?),
        Err(_) => BTreeMap::new(),
    };
    let cluster = if args.offline {
        None
    } else {
        match super::connect(global).await {
            Ok(cluster) => Some(cluster),
            Err(err) => {
                ui.warn(&format!("seed and macaroons are not shown: {err}"));
                None
            }
        }
    };
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let now = OffsetDateTime::now_utc();
    for entry in &entries {
        let users = consumers_of(entry, &consumer_map);
        let users = if users.is_empty() {
            match entry.kind {
                SecretKind::Macaroons => format!(
                    "wallets, dashboards (published by {}'s sidecar)",
                    entry.node
                ),
                _ => "-".to_owned(),
            }
        } else {
            users.into_iter().collect::<Vec<_>>().join(", ")
        };
        let (changed, print, expiry) = if entry.values.is_empty() {
            cluster_row(cluster.as_ref(), site, entry).await?
        } else {
            let mut values = Vec::new();
            for path in entry.state_paths() {
                values.push(state.read(&path)?.unwrap_or_default());
            }
            let changed = state
                .modified(&entry.values[0].0)
                .map_or("-".to_owned(), date);
            match entry.kind {
                SecretKind::Tls => match certificate(&values[0]) {
                    Some((print, expires)) => {
                        let days = (expires - now).whole_days();
                        if days < 30 {
                            warnings.push(format!(
                                "certificate {} expires in {days} days ({}); renew it: openlsp secrets rotate {}",
                                entry.secret,
                                date(expires),
                                entry.secret
                            ));
                        }
                        (changed, print, format!("{} ({days} days)", date(expires)))
                    }
                    None => (changed, "unreadable".to_owned(), "-".to_owned()),
                },
                // An onion key's address is public and says more than a hash.
                SecretKind::OnionKey => {
                    let address = crate::secrets::OnionKey::from_secret_file(&values[0])
                        .map_or_else(|_| "unreadable".to_owned(), |key| key.address());
                    (changed, address, "-".to_owned())
                }
                _ => (
                    changed,
                    fingerprint(values.iter().map(Vec::as_slice)),
                    "-".to_owned(),
                ),
            }
        };
        let mut kind = entry.kind.to_string();
        if state
            .read(&state::paths::previous(
                &entry
                    .values
                    .first()
                    .map(|v| v.0.clone())
                    .unwrap_or_default(),
            ))?
            .is_some()
        {
            kind.push_str(" (rotating: run openlsp secrets rotate --finish)");
        }
        rows.push(vec![
            entry.secret.clone(),
            kind,
            users,
            changed,
            print,
            expiry,
        ]);
    }
    ui.table(
        &[
            "NAME",
            "KIND",
            "CONSUMERS",
            "CHANGED",
            "FINGERPRINT",
            "EXPIRES",
        ],
        &rows,
    );
    for warning in warnings {
        ui.warn(&warning);
    }
    Ok(Outcome::Ok)
}

/// The row of a secret that only the cluster holds.
async fn cluster_row(
    cluster: Option<&Cluster>,
    site: &Site,
    entry: &Entry,
) -> anyhow::Result<(String, String, String)> {
    let Some(cluster) = cluster else {
        return Ok((
            "-".to_owned(),
            "(in the cluster; not read)".to_owned(),
            "-".to_owned(),
        ));
    };
    let data = cluster.secret_data(site.namespace(), &entry.secret).await?;
    let changed = cluster
        .secret_changed_at(site.namespace(), &entry.secret)
        .await?
        .map_or("-".to_owned(), date);
    let print = match (entry.kind, data) {
        (SecretKind::Seed, Some(data)) => data.get(names::SEED_KEY).map_or_else(
            || "(not created yet)".to_owned(),
            |seed| fingerprint([seed.as_slice()]),
        ),
        (SecretKind::Macaroons, Some(data)) => {
            let macaroons: Vec<&Vec<u8>> = data
                .iter()
                .filter(|(key, _)| key.ends_with(".macaroon"))
                .map(|(_, value)| value)
                .collect();
            if macaroons.is_empty() {
                "(not published yet)".to_owned()
            } else {
                format!(
                    "{} ({} macaroons)",
                    fingerprint(macaroons.iter().map(|m| m.as_slice())),
                    macaroons.len()
                )
            }
        }
        _ => "(not in the cluster)".to_owned(),
    };
    Ok((changed, print, "-".to_owned()))
}

/// The entries `rotate` works on: named, `--all` rotatable ones, or `--finish` pending ones.
fn selected<'a>(
    entries: &'a [Entry],
    args: &RotateArgs,
    secrets: &Secrets,
) -> anyhow::Result<Vec<&'a Entry>> {
    if args.finish {
        return Ok(entries
            .iter()
            .filter(|e| rotation::is_pending(e, secrets))
            .collect());
    }
    if args.all {
        return Ok(entries.iter().filter(|e| e.is_rotatable()).collect());
    }
    let mut chosen: Vec<&Entry> = Vec::new();
    for name in &args.names {
        let matching: Vec<&Entry> = entries.iter().filter(|e| &e.secret == name).collect();
        if matching.is_empty() {
            let known: BTreeSet<&str> = entries
                .iter()
                .filter(|e| e.is_rotatable())
                .map(|e| e.secret.as_str())
                .collect();
            bail!(
                "no secret named {name:?}\n  hint: rotatable secrets of this site: {}",
                known.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        match matching.iter().find(|e| e.is_rotatable()) {
            Some(entry) => chosen.push(entry),
            None => {
                rotation::start(matching[0], secrets, &[])?;
            }
        }
    }
    Ok(chosen)
}

fn secret_id(site: &Site, name: &str) -> ObjectId {
    ObjectId::secret(site.namespace(), name)
}

/// Planned workloads that consume any of `secrets`.
fn workloads_consuming<'a>(desired: &'a [Desired], secrets: &BTreeSet<String>) -> Vec<&'a Desired> {
    desired
        .iter()
        .filter(|d| {
            d.manifest
                .pointer("/spec/template/spec")
                .is_some_and(|pod| {
                    checksum::consumed_objects(pod)
                        .iter()
                        .any(|(kind, name)| *kind == "Secret" && secrets.contains(name))
                })
        })
        .collect()
}

fn render(global: &GlobalArgs, site: &Site, secrets: &Secrets) -> anyhow::Result<Plan> {
    Ok(plan::render_site(
        site,
        secrets,
        &super::template_set(global)?,
    )?)
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

async fn rotate(ui: &Ui, global: &GlobalArgs, args: &RotateArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let cluster = super::connect(global).await?;
    let namespace = profile.site.namespace().to_owned();
    // Under the lock from the start: the state dir is checked against the cluster under it.
    let lock = if cluster.namespace_exists(&namespace).await? {
        Some(cluster.lock(&namespace).await?)
    } else {
        None
    };
    let planned = match super::plan_with_cluster(ui, global, profile, &cluster, &[]).await {
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

fn stamp() -> String {
    records::history_stamp(OffsetDateTime::now_utc())
}

impl Rotation<'_> {
    async fn run(&mut self, secrets: &Secrets) -> anyhow::Result<Outcome> {
        let entries = catalog::catalog(self.site);
        let targets = selected(&entries, self.args, secrets)?;
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
        let requirements = state::requirements(self.site);
        let mut changes = Vec::new();
        for entry in targets {
            let previous: BTreeSet<String> = entry
                .state_paths()
                .iter()
                .map(|p| state::paths::previous(p))
                .collect();
            changes.extend(
                rotation::start(entry, secrets, &requirements)?
                    .into_iter()
                    .filter(|c| c.path().is_none_or(|p| !previous.contains(p))),
            );
        }
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
        let paths: Vec<String> = targets.iter().flat_map(|e| e.state_paths()).collect();
        self.state.commit(&stamp(), &paths, &changes)?;
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
            super::confirm(
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
        let failed = |err| super::deploy_failed(err, "openlsp secrets rotate");
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
        let requirements = state::requirements(self.site);
        let mut changes = Vec::new();
        let mut resumed = Vec::new();
        for entry in targets {
            if rotation::is_pending(entry, secrets) {
                resumed.push(*entry);
                continue;
            }
            changes.extend(rotation::start(entry, secrets, &requirements)?);
        }
        if !resumed.is_empty() {
            self.ui.info(&format!(
                "resuming phase 1 of {}: bitcoind with the old and the new password first, then the clients",
                describe(&resumed)
            ));
        }
        let next = secrets.with_changes(&changes);
        let desired = super::desired_objects(render(self.global, self.site, &next)?, &self.set)?;

        // Clients switch to a new password only once bitcoind accepts it: bitcoind's side
        // first, then the clients' credentials and pods.
        let rpc: Vec<&Entry> = targets
            .iter()
            .copied()
            .filter(|e| e.kind == SecretKind::RpcCredential)
            .collect();
        let credentials: BTreeSet<String> = rpc.iter().map(|e| e.secret.clone()).collect();
        let derived: BTreeSet<String> = rpc.iter().flat_map(|e| e.derived.clone()).collect();
        let clients: Vec<Desired> = workloads_consuming(&desired, &credentials)
            .into_iter()
            .cloned()
            .collect();
        let second: BTreeSet<ObjectId> = credentials
            .iter()
            .map(|name| secret_id(self.site, name))
            .chain(clients.iter().map(|d| d.id.clone()))
            .collect();
        let all: BTreeSet<ObjectId> = desired.iter().map(|d| d.id.clone()).collect();
        let mut groups = vec![all.difference(&second).cloned().collect()];
        let mut waits: Vec<Vec<Desired>> = Vec::new();
        if !second.is_empty() {
            groups.push(second);
            waits.push(
                workloads_consuming(&desired, &derived)
                    .into_iter()
                    .cloned()
                    .collect(),
            );
        }
        if !self.args.no_wait {
            let every: BTreeSet<String> = targets.iter().map(|e| e.secret.clone()).collect();
            waits.push(
                workloads_consuming(&desired, &every)
                    .into_iter()
                    .cloned()
                    .collect(),
            );
        }

        let survey = self.cluster.survey(&self.set, &desired, false).await?;
        let preview = diff::compute(&survey.observations, diff::Detail::ChangesOnly);
        if !rpc.is_empty() {
            self.ui.info("phase 1: bitcoind accepts the old and the new password, then the clients switch to the new one; phase 2 then drops the old one");
        }
        if !self.show_and_confirm(&preview, true).await? {
            return Ok(());
        }
        let started: Vec<&Entry> = targets
            .iter()
            .copied()
            .filter(|e| !resumed.contains(e))
            .collect();
        if !started.is_empty() {
            let paths: Vec<String> = started.iter().flat_map(|e| e.state_paths()).collect();
            self.state.commit(&stamp(), &paths, &changes)?;
            self.state
                .audit(&format!("rotation started: {}", describe(&started)))?;
        }
        if !resumed.is_empty() {
            self.state
                .audit(&format!("rotation resumed: {}", describe(&resumed)))?;
        }
        let resume = if rpc.is_empty() {
            "the new values are recorded in the state dir; openlsp apply writes the rest".to_owned()
        } else {
            format!(
                "phase 1 is recorded and bitcoind is written before LND, so LND is not locked out; resume with: openlsp secrets rotate {}",
                describe(&rpc).replace(", ", " ")
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
        self.finish(&rpc, &next, false).await
    }

    /// Phase 2: once every client runs with the new password, drop the old rpcauth lines.
    async fn finish(
        &mut self,
        targets: &[&Entry],
        secrets: &Secrets,
        ask: bool,
    ) -> anyhow::Result<()> {
        let current = super::desired_objects(render(self.global, self.site, secrets)?, &self.set)?;
        let credentials: BTreeSet<String> = targets.iter().map(|e| e.secret.clone()).collect();
        let pointer = crate::object::annotation_pointer(
            "/spec/template/metadata",
            crate::object::CHECKSUM_ANNOTATION,
        );
        let pointer = pointer.as_str();
        for client in workloads_consuming(&current, &credentials) {
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
        let changes: Vec<StateChange> = targets
            .iter()
            .flat_map(|e| rotation::finish(e, secrets))
            .collect();
        let next = secrets.with_changes(&changes);
        let desired = super::desired_objects(render(self.global, self.site, &next)?, &self.set)?;
        let derived: BTreeSet<String> = targets.iter().flat_map(|e| e.derived.clone()).collect();
        let waits = if self.args.no_wait {
            Vec::new()
        } else {
            vec![
                workloads_consuming(&desired, &derived)
                    .into_iter()
                    .cloned()
                    .collect(),
            ]
        };
        let survey = self.cluster.survey(&self.set, &desired, false).await?;
        let preview = diff::compute(&survey.observations, diff::Detail::ChangesOnly);
        if !self.show_and_confirm(&preview, ask).await? {
            return Ok(());
        }
        let previous: Vec<String> = targets
            .iter()
            .flat_map(|e| {
                e.state_paths()
                    .into_iter()
                    .map(|p| state::paths::previous(&p))
            })
            .collect();
        self.state.commit(&stamp(), &previous, &changes)?;
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

/// Reads `path`'s passphrase file, or asks.
fn passphrase(ui: &Ui, file: Option<&Path>, confirm: bool) -> anyhow::Result<String> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the passphrase from {}", path.display()))?;
            Ok(text.lines().next().unwrap_or_default().to_owned())
        }
        None => Ok(ui.passphrase(
            "Passphrase for the backup",
            confirm,
            "pass --passphrase-file FILE",
        )?),
    }
}

fn export(ui: &Ui, global: &GlobalArgs, args: &ExportArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let dir = super::state_dir_path(global, site.name())?;
    if !dir.exists() {
        bail!("nothing to export: {} does not exist", dir.display());
    }
    let state = StateDir::open(&dir, site.name())?;
    if args.to.exists() {
        bail!(
            "{} exists; choose a new file (an export never overwrites)",
            args.to.display()
        );
    }
    let files = state.all_files()?;
    let count = files.len();
    let archive = backup::Archive::new(site.name(), files);
    let secret = passphrase(ui, args.passphrase_file.as_deref(), true)?;
    let cipher = backup::encrypt(&archive, &secret)?;
    crate::fsutil::create_atomic(&args.to, &cipher, crate::fsutil::PRIVATE_FILE)
        .with_context(|| format!("writing {}", args.to.display()))?;
    state.audit(&format!("exported to {}", args.to.display()))?;
    ui.success(&format!(
        "exported {count} files of site {} to {} (encrypted, 0600)",
        site.name(),
        args.to.display()
    ));
    Ok(Outcome::Ok)
}

/// What `pull` or `import` brings into the state dir.
#[derive(Default)]
struct Restored {
    values: Vec<(String, Vec<u8>)>,
    /// Audit logs of an export: merged, never compared.
    logs: Vec<(String, Vec<u8>)>,
    /// When each value was really changed.
    dates: BTreeMap<String, OffsetDateTime>,
    /// The generation of each Secret, as its source records it.
    generations: BTreeMap<String, u64>,
}

/// Writes restored values into the state dir, after checking each is what openlsp generates;
/// values that differ from existing ones need `force` and go to history first.
fn restore(
    ui: &Ui,
    state: &StateDir,
    needed: &[state::Requirement],
    restored: Restored,
    force: bool,
    what: &str,
) -> anyhow::Result<()> {
    let mut writes = Vec::new();
    let mut replaced = Vec::new();
    let mut same = 0;
    for (path, value) in restored.values {
        if let Err(reason) = value_check::check_stored(needed, &path, &value) {
            bail!("{what}: the value for {path} is damaged: {reason}; nothing was written");
        }
        match state.read(&path)? {
            Some(existing) if existing == value => same += 1,
            Some(_) => {
                replaced.push(path.clone());
                writes.push(StateChange::Write { path, value });
            }
            None => writes.push(StateChange::Write { path, value }),
        }
    }
    if !replaced.is_empty() && !force {
        bail!(
            "{what} would replace {} value(s) that differ: {}\n  hint: pass --force to replace them; the current values are kept in {}/history/",
            replaced.len(),
            replaced.join(", "),
            state.root().display()
        );
    }
    let known = state.generations()?;
    let generations = restored
        .generations
        .iter()
        .filter(|(secret, generation)| known.get(*secret).copied().unwrap_or(0) != **generation)
        .map(|(secret, generation)| StateChange::Generation {
            secret: secret.clone(),
            generation: *generation,
        });
    let changes: Vec<StateChange> = writes.iter().cloned().chain(generations).collect();
    state.commit(&stamp(), &replaced, &changes)?;
    // A restored value keeps the date it was generated or rotated, not today's.
    let dated: Vec<(String, OffsetDateTime)> = writes
        .iter()
        .filter_map(|w| {
            let path = w.path()?;
            Some((path.to_owned(), *restored.dates.get(path)?))
        })
        .collect();
    state.restore_dates(&dated)?;
    // Before this restore's own line, so that line comes last even within the same second.
    for (_, lines) in &restored.logs {
        let added = state.merge_audit(lines)?;
        ui.info(&format!(
            "audit log: {added} line(s) from the export added to {}",
            records::AUDIT_LOG
        ));
    }
    state.audit(&format!(
        "{what}: {} written, {} replaced, {same} unchanged",
        writes.len(),
        replaced.len()
    ))?;
    ui.success(&format!(
        "{what}: {} value(s) written ({} replaced), {same} already matched, in {}",
        writes.len(),
        replaced.len(),
        state.root().display()
    ));
    Ok(())
}

fn import(ui: &Ui, global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let cipher =
        std::fs::read(&args.from).with_context(|| format!("reading {}", args.from.display()))?;
    let secret = passphrase(ui, args.passphrase_file.as_deref(), false)?;
    let archive = backup::decrypt(&cipher, &secret)
        .with_context(|| format!("{}: nothing was written", args.from.display()))?;
    if archive.site != site.name() {
        bail!(
            "{} is an export of site {:?}, not {:?}; nothing was written\n  hint: use the profile of that site (-p), or another export",
            args.from.display(),
            archive.site,
            site.name()
        );
    }
    let mut restored = Restored::default();
    for (path, value) in archive.files()? {
        let text = || String::from_utf8_lossy(&value).into_owned();
        match path.as_str() {
            records::AUDIT_LOG => restored.logs.push((path, value)),
            records::CHANGED => restored.dates = records::parse_dates(&text()),
            records::GENERATIONS => restored.generations = records::parse_generations(&text()),
            _ => restored.values.push((path, value)),
        }
    }
    let state = super::open_state(global, site.name())?;
    let needed = state::requirements(site);
    restore(ui, &state, &needed, restored, args.force, "import")?;
    Ok(Outcome::Ok)
}

async fn pull(ui: &Ui, global: &GlobalArgs, args: &PullArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let cluster = super::connect(global).await?;
    if !cluster.namespace_exists(site.namespace()).await? {
        bail!(
            "site {} is not in the cluster (namespace {} does not exist); nothing to pull",
            site.name(),
            site.namespace()
        );
    }
    let live = cluster.live_secrets(site.namespace()).await?;
    let mut generations = BTreeMap::new();
    let mut secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut values: Vec<(String, Vec<u8>)> = Vec::new();
    // A pulled value is dated when the cluster last wrote its Secret.
    let mut written_at: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    let mut dates: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    for entry in catalog::catalog(site) {
        if let Some(secret) = live.get(&entry.secret).filter(|_| !entry.values.is_empty()) {
            generations.insert(entry.secret.clone(), secret.generation);
        }
        for (path, source) in &entry.values {
            let secret_name = match source {
                Source::Key { secret, .. } | Source::RpcauthSalt { secret, .. } => secret,
            };
            if !secrets.contains_key(secret_name) {
                let data = live.get(secret_name).map(|s| s.data.clone()).with_context(|| {
                    format!("Secret {}/{secret_name} is not in the cluster; was the site applied with this profile?", site.namespace())
                })?;
                secrets.insert(secret_name.clone(), data);
                if let Some(at) = cluster
                    .secret_changed_at(site.namespace(), secret_name)
                    .await?
                {
                    written_at.insert(secret_name.clone(), at);
                }
            }
            if let Some(at) = written_at.get(secret_name) {
                dates.insert(path.clone(), *at);
            }
            let data = &secrets[secret_name];
            let value = match source {
                Source::Key { key, .. } => data
                    .get(*key)
                    .cloned()
                    .with_context(|| format!("Secret {secret_name} has no key {key}"))?,
                Source::RpcauthSalt { user, password, .. } => {
                    let password = values
                        .iter()
                        .find(|(p, _)| p == password)
                        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                        .context("the password comes before its salt; this is a bug in openlsp")?;
                    let conf = String::from_utf8_lossy(
                        data.get("rpcauth.conf")
                            .map(Vec::as_slice)
                            .unwrap_or_default(),
                    )
                    .into_owned();
                    // Phase 1 of a rotation: the old line's password is only in the state dir
                    // that started it, and a pulled state would drop that line.
                    let lines = rpcauth::lines_of(&conf, user).len();
                    if lines > 1 {
                        bail!(
                            "{} is being rotated: bitcoind has {lines} rpcauth lines for {user} (phase 1), and the old password is not in the cluster; nothing was written\n  hint: finish the rotation first with the state dir that started it (openlsp secrets rotate --finish), then pull",
                            entry.secret
                        );
                    }
                    rpcauth::matching_salt(&conf, user, &password)
                        .with_context(|| {
                            format!(
                                "no rpcauth line of {user} in {secret_name} matches its password"
                            )
                        })?
                        .into_bytes()
                }
            };
            values.push((path.clone(), value));
        }
    }
    let state = super::open_state(global, site.name())?;
    let restored = Restored {
        values,
        dates,
        generations,
        ..Restored::default()
    };
    restore(
        ui,
        &state,
        &state::requirements(site),
        restored,
        args.force,
        "pull",
    )?;
    Ok(Outcome::Ok)
}

async fn seed(ui: &Ui, global: &GlobalArgs, args: &SeedArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let node = super::lightning_node(site, args.node.as_deref())?;
    let cluster = super::connect(global).await?;
    let wallet = names::wallet_secret(&node.name);
    let data = cluster
        .secret_data(site.namespace(), &wallet)
        .await?
        .unwrap_or_default();
    let Some(words) = data.get(names::SEED_KEY) else {
        bail!(
            "{} has no seed yet: lndinit creates it when the LND pod first starts\n  hint: kubectl -n {} get pods",
            node.name,
            site.namespace()
        );
    };
    if !args.reveal {
        ui.stdout(&format!(
            "The seed of {} is in Secret {}/{wallet} (key seed, {}).\nPrint it with: openlsp secrets seed {} --reveal\n",
            node.name,
            site.namespace(),
            fingerprint([words.as_slice()]),
            node.name
        ));
        return Ok(Outcome::Ok);
    }
    let confirmed = match &args.confirm_node {
        Some(name) => name == &node.name,
        None => ui.confirm_typed(
            &format!("This prints the seed of {}: whoever sees it owns the funds. Nobody watching, no screen sharing?", node.name),
            &node.name,
            "pass --confirm-node <node>",
        )?,
    };
    if !confirmed {
        bail!("the node name was not confirmed; the seed was not shown");
    }
    let text = String::from_utf8_lossy(words).into_owned();
    let mut out = format!(
        "Seed of {} (write the words down on paper, in order):\n\n",
        node.name
    );
    for (index, word) in text.split_whitespace().enumerate() {
        out.push_str(&format!("{:>3}. {word:<10}", index + 1));
        if (index + 1) % 4 == 0 {
            out.push('\n');
        }
    }
    out.push('\n');
    ui.stdout(&out);
    let now = stamp();
    cluster
        .annotate_secret(
            site.namespace(),
            &wallet,
            crate::object::SEED_REVEALED_ANNOTATION,
            &now,
        )
        .await?;
    if let Ok(state) = super::open_state(global, site.name()) {
        state.audit(&format!("seed of {} revealed", node.name))?;
    }
    ui.info(&format!(
        "the reveal was recorded (annotation {} on the wallet Secret)",
        crate::object::SEED_REVEALED_ANNOTATION
    ));
    Ok(Outcome::Ok)
}
