//! `openlsp completions <shell>`: print a completion script.

use clap::CommandFactory as _;

use super::Outcome;
use crate::cli::{Cli, CompletionsArgs};
use crate::ui::Ui;

pub fn run(ui: &Ui, args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "openlsp", &mut script);
    ui.stdout(&String::from_utf8_lossy(&script));
    Ok(Outcome::Ok)
}
