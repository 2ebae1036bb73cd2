//! `openlsp import kiln FILE…`: the profile from kiln's manifests, with its plain-text
//! credentials moved into the state dir. Checks everything before it writes anything.

use std::fs;

use anyhow::{Context, bail};

use super::Outcome;
use crate::cli::{GlobalArgs, KilnImportArgs, SiteImportArgs, SiteImportCommand};
use crate::fsutil;
use crate::kiln::{self, HostFacts, Manifest};
use crate::profile;
use crate::secrets::StateChange;
use crate::secrets::value_check::check_stored;
use crate::ui::Ui;

pub fn run(ui: &Ui, global: &GlobalArgs, args: &SiteImportArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        SiteImportCommand::Kiln(kiln) => import_kiln(ui, global, kiln),
    }
}

fn import_kiln(ui: &Ui, global: &GlobalArgs, args: &KilnImportArgs) -> anyhow::Result<Outcome> {
    let mut manifests = Vec::new();
    for file in &args.files {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        manifests.push(Manifest {
            file: file.display().to_string(),
            text,
        });
    }
    let host = HostFacts {
        node_name: args.node_name.clone(),
        arch: match std::env::consts::ARCH {
            "aarch64" => "arm64",
            _ => "amd64",
        },
        memory: args.memory.clone(),
        cpus: args.cpus,
        disk_dir: args.disk_dir.trim_end_matches('/').to_owned(),
        issuer: args.issuer.clone(),
    };
    let conversion = kiln::convert(&manifests, &host)?;
    let target = &global.profile;
    // The profile must be one openlsp accepts before anything is written.
    let loaded = profile::parse(target, &conversion.profile).map_err(|err| {
        anyhow::anyhow!("{err}\n  hint: the import made a profile openlsp refuses; check the flags (--memory, --cpus, --disk-dir)")
    })?;
    let needed = crate::secrets::requirements(&loaded.site);
    for moved in &conversion.moved {
        check_stored(&needed, &moved.path, &moved.value).map_err(|reason| {
            anyhow::anyhow!(
                "{}: {} cannot be used: {reason}; nothing was written\n  hint: leave it out of the files, and openlsp generates a new one",
                moved.place,
                moved.what
            )
        })?;
    }
    if target.exists() && !args.force {
        bail!(
            "{} exists; nothing was written\n  hint: write elsewhere with -p FILE, or replace it with --force",
            target.display()
        );
    }
    let state = super::open_state(global, &conversion.site)?;
    let mut replaced = Vec::new();
    let mut changes = Vec::new();
    for moved in &conversion.moved {
        match state.read(&moved.path)? {
            Some(existing) if existing == moved.value => continue,
            Some(_) if !args.force => bail!(
                "the state dir {} already holds a different {} ({}); nothing was written\n  hint: keep it and import without that credential, or replace it with --force (the old value goes to history/)",
                state.root().display(),
                moved.what,
                moved.path
            ),
            Some(_) => replaced.push(moved.path.clone()),
            None => {}
        }
        changes.push(StateChange::Write {
            path: moved.path.clone(),
            value: moved.value.clone(),
        });
    }
    if !changes.is_empty() {
        let stamp = crate::secrets::records::history_stamp(time::OffsetDateTime::now_utc());
        state.commit(&stamp, &replaced, &changes)?;
        state.audit(&format!(
            "import kiln: {}",
            conversion
                .moved
                .iter()
                .map(|m| m.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
    }
    fsutil::write_atomic(target, conversion.profile.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", target.display()))?;
    for moved in &conversion.moved {
        ui.warn(&format!(
            "{}: {} was in this file in plain text: it is now in the state dir ({}), never in the profile. Treat it as exposed: delete the file and its copies (git history too), and change the password once the site runs (docs/kiln.md)",
            moved.place, moved.what, moved.path
        ));
    }
    for note in &conversion.not_carried {
        ui.info(&format!("{}: {}: {}", note.place, note.field, note.why));
    }
    ui.success(&format!(
        "wrote {}: site {} from {} file(s); review spec.host and spec.disks, then run openlsp validate and openlsp apply",
        target.display(),
        conversion.site,
        manifests.len()
    ));
    Ok(Outcome::Ok)
}
