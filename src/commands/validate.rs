//! `openlsp validate`: check the profile; with --show-effective print it with every default.

use super::Outcome;
use crate::cli::{GlobalArgs, ValidateArgs};
use crate::ui::Ui;

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ValidateArgs) -> anyhow::Result<Outcome> {
    let loaded = super::load_profile(ui, global)?;
    let site = &loaded.site;
    if args.show_effective {
        ui.stdout(&serde_yaml::to_string(site)?);
    }
    ui.success(&format!(
        "{}: site {} is valid ({} network, {} bitcoin node{}, {} lightning node{}, namespace {})",
        loaded.path.display(),
        site.name(),
        site.spec.network.as_str(),
        site.spec.bitcoin.len(),
        if site.spec.bitcoin.len() == 1 {
            ""
        } else {
            "s"
        },
        site.spec.lightning.len(),
        if site.spec.lightning.len() == 1 {
            ""
        } else {
            "s"
        },
        site.namespace()
    ));
    Ok(Outcome::Ok)
}
