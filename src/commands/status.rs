//! `openlsp status`.

use super::Outcome;
use crate::cli::{GlobalArgs, StatusArgs};
use crate::ui::Ui;

pub async fn run(_ui: &Ui, _global: &GlobalArgs, _args: &StatusArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet")
}
