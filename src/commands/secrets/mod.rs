//! `openlsp secrets`: credentials after day one. `list` shows every secret without a value;
//! `rotate` replaces RPC credentials in two phases without downtime and reissues
//! certificates; `pull` rebuilds the state dir from the cluster; `export`/`import` make and
//! restore encrypted offline backups; `seed` reveals an LND seed once, after confirmation; `set`
//! takes a secret only the operator can give (a backup target's rclone config).

mod backup;
mod list;
mod password;
mod pull;
mod rotate;
mod seed;
mod set;

use serde_json::Value;
use time::OffsetDateTime;

use crate::cli::{GlobalArgs, SecretsArgs, SecretsCommand};
use crate::commands::{self, Outcome};
use crate::plan::{self, Plan, checksum};
use crate::profile::Site;
use crate::secrets::restore::{self, Restored};
use crate::secrets::{Secrets, records, requirements};
use crate::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &SecretsArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        SecretsCommand::List(args) => list::run(ui, global, args).await,
        SecretsCommand::Rotate(args) => rotate::run(ui, global, args).await,
        SecretsCommand::Pull(args) => pull::run(ui, global, args).await,
        SecretsCommand::Export(args) => backup::export(ui, global, args),
        SecretsCommand::Import(args) => backup::import(ui, global, args),
        SecretsCommand::Seed(args) => seed::run(ui, global, args).await,
        SecretsCommand::Set(args) => set::run(ui, global, args),
        SecretsCommand::Password(args) => password::run(ui, global, args).await,
    }
}

fn render(global: &GlobalArgs, site: &Site, secrets: &Secrets) -> anyhow::Result<Plan> {
    Ok(plan::render_site(
        site,
        secrets,
        &commands::template_set(global)?,
    )?)
}

/// The Secrets a workload's pod template consumes (none for any other object).
fn consumed_secrets(manifest: &Value) -> impl Iterator<Item = String> {
    manifest
        .pointer("/spec/template/spec")
        .map(checksum::consumed_objects)
        .unwrap_or_default()
        .into_iter()
        .filter(|(kind, _)| *kind == "Secret")
        .map(|(_, name)| name)
}

fn stamp() -> String {
    records::history_stamp(OffsetDateTime::now_utc())
}

/// Writes restored values into the site's state dir as [`restore::plan`] says, and merges the
/// audit logs of an export.
fn write_restored(
    ui: &Ui,
    global: &GlobalArgs,
    site: &Site,
    restored: Restored,
    force: bool,
    what: &str,
) -> anyhow::Result<()> {
    let state = commands::open_state(global, site.name())?;
    let planned = restore::plan(&state, &requirements(site), &restored, force, what)?;
    state.commit(&stamp(), &planned.replaced, &planned.changes)?;
    state.restore_dates(&planned.dated)?;
    // Before this restore's own line, so that line comes last even within the same second.
    for lines in &restored.logs {
        let added = state.merge_audit(lines)?;
        ui.info(&format!(
            "audit log: {added} line(s) from the export added to {}",
            records::AUDIT_LOG
        ));
    }
    let same = planned.same;
    state.audit(&format!(
        "{what}: {} written, {} replaced, {same} unchanged",
        planned.written,
        planned.replaced.len()
    ))?;
    ui.success(&format!(
        "{what}: {} value(s) written ({} replaced), {same} already matched, in {}",
        planned.written,
        planned.replaced.len(),
        state.root().display()
    ));
    Ok(())
}
