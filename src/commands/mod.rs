//! One module per verb. Commands orchestrate: they call the pipeline and hand results to the ui.

pub mod apply;
pub mod completions;
pub mod connect;
pub mod delete;
pub mod diff;
pub mod init;
pub mod render;
pub mod secrets;
pub mod validate;

use anyhow::Context as _;

use crate::cli::GlobalArgs;
use crate::cluster::{ApplySet, Cluster, ConnectOptions, Desired};
use crate::diff::ObjectId;
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

/// The state dir of the site: `--state-dir`, else the per-site default.
pub fn state_dir_path(global: &GlobalArgs, site: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(match &global.state_dir {
        Some(dir) => dir.clone(),
        None => plan::state::default_state_dir(site)?,
    })
}

/// Opens (creating if needed) the state dir of the site.
pub fn open_state(global: &GlobalArgs, site: &str) -> anyhow::Result<StateDir> {
    Ok(StateDir::open(&state_dir_path(global, site)?, site)?)
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
    plan_profile(ui, global, profile)
}

/// State (generating what is missing) → plan, for a loaded profile.
pub fn plan_profile(
    ui: &Ui,
    global: &GlobalArgs,
    profile: LoadedProfile,
) -> anyhow::Result<Planned> {
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
    for warning in &plan.warnings {
        ui.warn(warning);
    }
    Ok(Planned {
        profile,
        state,
        secrets,
        plan,
    })
}

/// The Lightning node named `name`, or the site's only one; errors list the known names.
pub fn lightning_node<'a>(
    site: &'a crate::profile::Site,
    name: Option<&str>,
) -> anyhow::Result<&'a crate::profile::LightningNode> {
    let nodes = &site.spec.lightning;
    let known = || {
        nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            anyhow::anyhow!(
                "no Lightning node named {name:?}\n  hint: known: {}",
                known()
            )
        }),
        None if nodes.len() == 1 => Ok(&nodes[0]),
        None => anyhow::bail!(
            "the site has {} Lightning nodes; name one: {}",
            nodes.len(),
            known()
        ),
    }
}

/// Connects to the cluster named by --kubeconfig/--context (or the defaults).
pub async fn connect(global: &GlobalArgs) -> anyhow::Result<Cluster> {
    let options = ConnectOptions {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
    };
    Ok(Cluster::connect(&options).await?)
}

/// The plan's objects as openlsp sends them: ApplySet member label and applied hash added.
pub fn desired_objects(plan: Plan, set: &ApplySet) -> Vec<Desired> {
    plan.objects
        .into_iter()
        .map(|object| {
            let manifest = set.desired(object.manifest);
            Desired {
                id: ObjectId::of(&manifest).expect("planned objects have an id"),
                data: crate::plan::is_data(&manifest),
                stage: object.stage,
                manifest,
            }
        })
        .collect()
}
