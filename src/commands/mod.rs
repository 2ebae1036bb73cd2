//! One module per verb. Commands orchestrate: they call the pipeline and hand results to the ui.

pub mod apply;
pub mod backup;
pub mod bootstrap;
pub mod completions;
pub mod connect;
pub mod controller;
pub mod delete;
pub mod diff;
pub mod exporter;
pub mod import;
pub mod init;
pub mod man;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod status;
pub mod tunnel;
pub mod validate;

use anyhow::{Context as _, bail};

use crate::cli::{ApplyArgs, GlobalArgs};
use crate::cluster::{ApplySet, Cluster, ConnectOptions, Desired};
use crate::diff::{Action, ChangeSet};
use crate::plan::{self, Plan, TemplateSet};
use crate::profile::Site;
use crate::profile::{self, LoadedProfile};
use crate::secrets::credential_check::{self, Finding};
use crate::secrets::{Requirement, Secrets, StateChange, StateDir, catalog};
use crate::ui::Ui;

/// What a successful command reports, mapped to the exit codes of `kubectl diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: done, or no differences.
    Ok,
    /// Exit 1: the plan differs from the cluster.
    DiffFound,
    /// Exit 1: `status` found the site degraded.
    Degraded,
    /// Exit 1: a channel backup is stale or failing.
    Stale,
}

/// Loads the profile and shows its warnings.
pub fn load_profile(ui: &Ui, global: &GlobalArgs) -> anyhow::Result<LoadedProfile> {
    let loaded = profile::load(&global.profile)?;
    for warning in &loaded.warnings {
        ui.warn_diagnostic(warning);
    }
    Ok(loaded)
}

/// The state dir of the site: `--state-dir`, else the per-site default.
pub fn state_dir_path(global: &GlobalArgs, site: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(match &global.state_dir {
        Some(dir) => dir.clone(),
        None => crate::secrets::store::default_state_dir(site)?,
    })
}

/// Opens (creating if needed) the state dir of the site.
pub fn open_state(global: &GlobalArgs, site: &str) -> anyhow::Result<StateDir> {
    Ok(StateDir::open(&state_dir_path(global, site)?, site)?)
}

/// The built-in templates, overlaid with `--templates DIR`.
pub fn template_set(global: &GlobalArgs) -> anyhow::Result<TemplateSet> {
    let builtin = TemplateSet::builtin();
    Ok(match &global.templates {
        Some(dir) => builtin.with_overrides(crate::template_dir::read(dir)?)?,
        None => builtin,
    })
}

/// Everything the pipeline produces for a site.
pub struct Planned {
    pub profile: LoadedProfile,
    pub state: StateDir,
    pub secrets: Secrets,
    pub plan: Plan,
    /// Credentials `--replace-secrets` writes over the cluster's, and the generations to record
    /// for them once the operator confirms.
    pub replacing: Vec<Finding>,
    pub replace_generations: Vec<StateChange>,
}

/// Offline: profile → state (generating what is missing) → plan. `render` cannot see the
/// cluster, so it says what it generated; `apply` checks those values against the cluster.
pub fn build_plan(ui: &Ui, global: &GlobalArgs) -> anyhow::Result<Planned> {
    let profile = load_profile(ui, global)?;
    let site = &profile.site;
    let state = open_state(global, site.name())?;
    let needed = crate::secrets::requirements(site);
    state.load_present(&needed)?;
    generate_missing(ui, &state, &needed, true)?;
    let secrets = state.load(&needed)?;
    finish_plan(ui, global, profile, state, secrets, Vec::new(), Vec::new())
}

/// Online: the state dir is checked against the site's Secrets in the cluster first. A value
/// is generated only when neither has it; one the cluster has and the state dir lacks, or has
/// differently, or has from before a rotation, stops the command before anything is written,
/// unless `replace` names its Secret.
pub async fn plan_with_cluster(
    ui: &Ui,
    global: &GlobalArgs,
    profile: LoadedProfile,
    cluster: &Cluster,
    replace: &[String],
) -> anyhow::Result<Planned> {
    let site = &profile.site;
    let state = open_state(global, site.name())?;
    let needed = crate::secrets::requirements(site);
    let present = state.load_present(&needed)?;
    let live = cluster.live_secrets(site.namespace()).await?;
    let entries = catalog::catalog(site);
    credential_check::check_names(&entries, replace)?;
    let (replacing, blocking): (Vec<Finding>, Vec<Finding>) =
        credential_check::check(&entries, &present, &live)
            .into_iter()
            .partition(|finding| replace.contains(&finding.secret));
    refuse_mismatch(&state, blocking)?;
    generate_missing(ui, &state, &needed, false)?;
    let loaded = state.load(&needed)?;
    let replace_generations = credential_check::replacement_generations(&replacing, &loaded, &live);
    let secrets = loaded.with_changes(&replace_generations);
    finish_plan(
        ui,
        global,
        profile,
        state,
        secrets,
        replacing,
        replace_generations,
    )
}

fn refuse_mismatch(state: &StateDir, findings: Vec<Finding>) -> anyhow::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    Err(credential_check::Mismatch {
        state_dir: state.root().display().to_string(),
        findings,
    }
    .into())
}

/// The credential check of [`plan_with_cluster`] again, on the cluster as it is now: for a run
/// that (re)took the site's lock after planning.
pub async fn recheck_credentials(cluster: &Cluster, planned: &Planned) -> anyhow::Result<()> {
    let site = &planned.profile.site;
    let live = cluster.live_secrets(site.namespace()).await?;
    let findings = credential_check::check(&catalog::catalog(site), &planned.secrets, &live)
        .into_iter()
        .filter(|finding| !planned.replacing.iter().any(|r| r.secret == finding.secret))
        .collect();
    refuse_mismatch(&planned.state, findings)
}

/// Generates what `needed` lists and the state dir lacks, and says so.
fn generate_missing(
    ui: &Ui,
    state: &StateDir,
    needed: &[Requirement],
    offline: bool,
) -> anyhow::Result<()> {
    let generated = state
        .ensure(needed)
        .with_context(|| format!("preparing the state dir {}", state.root().display()))?;
    if !generated.is_empty() {
        ui.info(&format!(
            "generated {} new secret value{} in {}: {}",
            generated.len(),
            if generated.len() == 1 { "" } else { "s" },
            state.root().display(),
            generated.join(", ")
        ));
        if offline {
            ui.info("render cannot see the cluster: if this site already runs, take its values with openlsp secrets pull instead; apply refuses values that differ from the cluster's");
        }
    }
    Ok(())
}

fn finish_plan(
    ui: &Ui,
    global: &GlobalArgs,
    profile: LoadedProfile,
    state: StateDir,
    secrets: Secrets,
    replacing: Vec<Finding>,
    replace_generations: Vec<StateChange>,
) -> anyhow::Result<Planned> {
    let templates = template_set(global)?;
    let plan = plan::render_site(&profile.site, &secrets, &templates)?;
    for warning in &plan.warnings {
        ui.warn(warning);
    }
    Ok(Planned {
        profile,
        state,
        secrets,
        plan,
        replacing,
        replace_generations,
    })
}

/// The Lightning node named `name`, or the site's only one; errors list the known names.
pub fn lightning_node<'a>(
    site: &'a crate::profile::Site,
    name: Option<&str>,
) -> anyhow::Result<&'a crate::profile::LightningNode> {
    let nodes = &site.spec.lightning;
    let known = || {
        nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            anyhow::anyhow!(
                "no Lightning node named {name:?}\n  hint: known: {}",
                known()
            )
        }),
        None if nodes.len() == 1 => Ok(&nodes[0]),
        None => anyhow::bail!(
            "the site has {} Lightning nodes; name one: {}",
            nodes.len(),
            known()
        ),
    }
}

/// Connects to the cluster named by --kubeconfig/--context (or the defaults).
pub async fn connect_cluster(global: &GlobalArgs) -> anyhow::Result<Cluster> {
    connect_within(global, None).await
}

/// [`connect_cluster`], where no single request may take longer than `timeout` (a command's
/// `--timeout`): a server that stops answering fails the run within it.
pub async fn connect_within(
    global: &GlobalArgs,
    timeout: Option<std::time::Duration>,
) -> anyhow::Result<Cluster> {
    let options = ConnectOptions {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        request_timeout: timeout.map(|t| t.min(crate::cluster::REQUEST_TIMEOUT)),
    };
    Ok(Cluster::connect(&options).await?)
}

/// A CLI write that the controller would fight: `apply`, `delete`, `secrets rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliWrite {
    Apply,
    Delete,
    Rotate,
    Bootstrap,
}

/// One writer: a site whose namespace holds a Site custom resource is the controller's, and
/// a CLI write refuses, before it writes anything, with the next step.
pub async fn refuse_controller_managed(
    cluster: &Cluster,
    namespace: &str,
    write: CliWrite,
) -> anyhow::Result<()> {
    let Some(site) = cluster.site_in(namespace).await? else {
        return Ok(());
    };
    let name = site["metadata"]["name"].as_str().unwrap_or_default();
    let hand_back = format!(
        "kubectl delete site {name} -n {namespace} hands the site back to the command line (it deletes nothing, the site keeps running)"
    );
    let (verb, hint) = match write {
        CliWrite::Apply => (
            "apply",
            format!(
                "change the site with kubectl edit site {name} -n {namespace} (or kubectl apply -f openlsp.yaml -n {namespace}); kubectl get site {name} -n {namespace} shows how it is doing"
            ),
        ),
        CliWrite::Delete => (
            "delete",
            format!(
                "the controller would make the site again; {hand_back}, then run openlsp delete again"
            ),
        ),
        CliWrite::Bootstrap => (
            "bootstrap",
            format!(
                "the controller would start the node in the middle of the copy; {hand_back}, then run openlsp bootstrap again, and openlsp controller adopt gives it back"
            ),
        ),
        CliWrite::Rotate => (
            "secrets rotate",
            format!(
                "{hand_back}; then openlsp secrets pull, openlsp secrets rotate, and openlsp controller adopt gives it to the controller again"
            ),
        ),
    };
    bail!(
        "the openlsp controller manages namespace {namespace} (Site {namespace}/{name}); openlsp {verb} changed nothing\n  hint: {hint}"
    )
}

/// The plan's objects as openlsp sends them (see [`crate::deploy::desired_objects`]).
pub fn desired_objects(plan: Plan, set: &ApplySet) -> anyhow::Result<Vec<Desired>> {
    Ok(crate::deploy::desired_objects(plan, set)?)
}

/// A deploy error with the next step: `again` is the command to run again.
pub fn deploy_failed(err: crate::deploy::DeployError, again: &str) -> anyhow::Error {
    use crate::deploy::DeployError;
    let hint = match &err {
        DeployError::Cluster(_) => return err.into(),
        DeployError::LockLost { .. } | DeployError::LockLostMidStage { .. } => {
            format!("run {again} again: it looks at the cluster afresh")
        }
        DeployError::ConnectionLost { .. } => format!(
            "once the cluster answers again (microk8s status), run {again} again: it looks at the cluster afresh"
        ),
        other => other.engine_hint().unwrap_or_default().to_owned(),
    };
    anyhow::anyhow!("{err}\n  hint: {hint}")
}

/// How writes are confirmed and made.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub yes: bool,
    pub confirm_site: Option<String>,
}

impl From<&ApplyArgs> for WriteOptions {
    fn from(args: &ApplyArgs) -> Self {
        WriteOptions {
            yes: args.yes,
            confirm_site: args.confirm_site.clone(),
        }
    }
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

/// A time as the tables show it: `2026-12-02 17:00 UTC`.
pub(crate) fn utc_minute(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}
