//! `openlsp secrets export` and `import`: the whole state dir, history and audit log included,
//! in one file encrypted with a passphrase; an import is checked and decrypted before anything
//! is written.

use std::path::Path;

use anyhow::{Context as _, bail};

use super::write_restored;
use crate::cli::{ExportArgs, GlobalArgs, ImportArgs};
use crate::commands::{self, Outcome};
use crate::secrets::{StateDir, backup};
use crate::ui::Ui;

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

pub(super) fn export(ui: &Ui, global: &GlobalArgs, args: &ExportArgs) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let dir = commands::state_dir_path(global, site.name())?;
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

pub(super) fn import(ui: &Ui, global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
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
    let restored = archive.restored()?;
    write_restored(ui, global, site, restored, args.force, "import")?;
    Ok(Outcome::Ok)
}
