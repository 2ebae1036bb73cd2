//! `openlsp controller`: run the controller that keeps Sites as declared, and hand it a site.

mod adopt;
mod install;
mod run;

use super::Outcome;
use crate::cli::{ControllerArgs, ControllerCommand, GlobalArgs};
use crate::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ControllerArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        ControllerCommand::Run(run_args) => run::run(ui, global, run_args).await,
        ControllerCommand::Install(install_args) => install::run(ui, global, install_args).await,
        ControllerCommand::Adopt => adopt::run(ui, global).await,
    }
}
