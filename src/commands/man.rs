//! `openlsp man`: the manual page, generated from the command-line definitions (clap_mangen), so
//! it never disagrees with `--help`. `install.sh` writes every page with `--out-dir`.

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::Outcome;
use crate::cli::{Cli, ManArgs};
use crate::ui::Ui;

pub fn run(ui: &Ui, args: &ManArgs) -> anyhow::Result<Outcome> {
    let command = Cli::command();
    match &args.out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("rendering the man page")?;
            ui.stdout(&String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            // openlsp.1, and openlsp-<command>.1 for every command and sub-command.
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("writing the man pages to {}", dir.display()))?;
            ui.success(&format!("wrote the man pages to {}", dir.display()));
        }
    }
    Ok(Outcome::Ok)
}
