//! `openlsp render`: print every object of the site, or write one file per object.

use anyhow::Context as _;

use super::Outcome;
use crate::cli::{GlobalArgs, RenderArgs};
use crate::plan::output::{self, SecretDisplay};
use crate::render_dir;
use crate::ui::Ui;

pub fn run(ui: &Ui, global: &GlobalArgs, args: &RenderArgs) -> anyhow::Result<Outcome> {
    let planned = super::build_plan(ui, global)?;
    let display = if args.show_secrets {
        SecretDisplay::Revealed
    } else {
        SecretDisplay::Masked
    };
    match &args.output_dir {
        Some(dir) => {
            let count = render_dir::write(&planned.plan, dir, display)
                .with_context(|| format!("writing manifests to {}", dir.display()))?;
            ui.success(&format!("wrote {count} objects to {}", dir.display()));
        }
        None => ui.stdout(&output::to_yaml_stream(&planned.plan, display)),
    }
    if display == SecretDisplay::Masked {
        ui.info("Secret values are shown as ***; pass --show-secrets to include them");
    }
    Ok(Outcome::Ok)
}
