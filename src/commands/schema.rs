//! `openlsp schema`: the profile's JSON Schema for editors, or with `--crd` the Site
//! CustomResourceDefinition for GitOps tools that install CRDs themselves.

use super::Outcome;
use crate::cli::SchemaArgs;
use crate::ui::Ui;

pub fn run(ui: &Ui, args: &SchemaArgs) -> anyhow::Result<Outcome> {
    // JSON for the CRD too: it is YAML that every parser reads alike (YAML 1.1 tools, kubectl
    // among them, read an unquoted `off` as false).
    let schema = if args.crd {
        crate::controller::resource::crd()
    } else {
        crate::profile::schema::editor_schema()
    };
    let mut text = serde_json::to_string_pretty(&schema)?;
    text.push('\n');
    ui.stdout(&text);
    Ok(Outcome::Ok)
}
