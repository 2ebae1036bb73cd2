//! One module per verb. Commands orchestrate: they call the pipeline and hand results to the ui.

pub mod completions;
pub mod init;
pub mod render;
pub mod validate;

use anyhow::Context as _;

use crate::cli::GlobalArgs;
use crate::plan::{self, Plan, Secrets, StateDir, TemplateSet};
use crate::profile::{self, LoadedProfile};
use crate::ui::Ui;

/// Loads the profile and shows its warnings.
pub fn load_profile(ui: &Ui, global: &GlobalArgs) -> anyhow::Result<LoadedProfile> {
    let loaded = profile::load(&global.profile)?;
    for warning in &loaded.warnings {
        ui.warn_diagnostic(warning);
    }
    Ok(loaded)
}

/// Opens the state dir of the site: `--state-dir`, else the per-site default.
pub fn open_state(global: &GlobalArgs, site: &str) -> anyhow::Result<StateDir> {
    let dir = match &global.state_dir {
        Some(dir) => dir.clone(),
        None => plan::state::default_state_dir(site)?,
    };
    Ok(StateDir::open(&dir, site)?)
}

pub fn template_set(global: &GlobalArgs) -> anyhow::Result<TemplateSet> {
    Ok(match &global.templates {
        Some(dir) => TemplateSet::with_overrides(dir)?,
        None => TemplateSet::builtin(),
    })
}

/// Everything the offline pipeline produces for a site.
pub struct Planned {
    pub profile: LoadedProfile,
    pub state: StateDir,
    pub secrets: Secrets,
    pub plan: Plan,
}

/// Profile → state (generating what is missing) → plan.
pub fn build_plan(ui: &Ui, global: &GlobalArgs) -> anyhow::Result<Planned> {
    let profile = load_profile(ui, global)?;
    let site = &profile.site;
    let state = open_state(global, site.name())?;
    let needed = plan::state::requirements(site);
    let generated = state
        .ensure(&needed)
        .with_context(|| format!("preparing the state dir {}", state.root().display()))?;
    if !generated.is_empty() {
        ui.info(&format!(
            "generated {} new secret value{} in {}: {}",
            generated.len(),
            if generated.len() == 1 { "" } else { "s" },
            state.root().display(),
            generated.join(", ")
        ));
    }
    let secrets = state.load(&needed)?;
    let templates = template_set(global)?;
    let plan = plan::render_site(site, &secrets, &templates)?;
    Ok(Planned {
        profile,
        state,
        secrets,
        plan,
    })
}
