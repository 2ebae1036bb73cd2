//! `openlsp secrets`: credentials after day one. `list` shows every secret without a value;
//! `rotate` replaces RPC credentials in two phases without downtime and reissues
//! certificates; `pull` rebuilds the state dir from the cluster; `export`/`import` make and
//! restore encrypted offline backups; `seed` reveals an LND seed once, after confirmation.

mod backup;
mod list;
mod pull;
mod rotate;
mod seed;

use std::collections::BTreeMap;

use anyhow::bail;
use time::OffsetDateTime;

use crate::cli::{GlobalArgs, SecretsArgs, SecretsCommand};
use crate::commands::{self, Outcome};
use crate::plan::{self, Plan};
use crate::profile::Site;
use crate::secrets::{self as state, Secrets, StateChange, StateDir, records, value_check};
use crate::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &SecretsArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        SecretsCommand::List(args) => list::run(ui, global, args).await,
        SecretsCommand::Rotate(args) => rotate::run(ui, global, args).await,
        SecretsCommand::Pull(args) => pull::run(ui, global, args).await,
        SecretsCommand::Export(args) => backup::export(ui, global, args),
        SecretsCommand::Import(args) => backup::import(ui, global, args),
        SecretsCommand::Seed(args) => seed::run(ui, global, args).await,
    }
}

fn render(global: &GlobalArgs, site: &Site, secrets: &Secrets) -> anyhow::Result<Plan> {
    Ok(plan::render_site(
        site,
        secrets,
        &commands::template_set(global)?,
    )?)
}

fn stamp() -> String {
    records::history_stamp(OffsetDateTime::now_utc())
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
