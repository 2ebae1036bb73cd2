//! `openlsp controller`.

use super::Outcome;
use crate::cli::{ControllerArgs, GlobalArgs};
use crate::ui::Ui;

pub async fn run(
    _ui: &Ui,
    _global: &GlobalArgs,
    _args: &ControllerArgs,
) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet")
}
