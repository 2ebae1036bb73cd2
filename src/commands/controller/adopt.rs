//! `openlsp controller adopt`: a site applied from this machine becomes the controller's. Its
//! profile is written as the Site in its namespace; nothing else changes. Its secrets are
//! already in the cluster (apply put them there), so they are not moved or regenerated: the
//! state dir must agree with them, and every one the site needs must be there.

use anyhow::bail;

use crate::cluster::Cluster;
use crate::commands::Outcome;
use crate::secrets::credential_check::{self, Mismatch};
use crate::secrets::{catalog, in_cluster};
use crate::ui::Ui;

pub async fn run(ui: &Ui, global: &crate::cli::GlobalArgs) -> anyhow::Result<Outcome> {
    let profile = super::super::load_profile(ui, global)?;
    let site = &profile.site;
    let namespace = site.namespace();
    let cluster = super::super::connect_cluster(global).await?;
    if !cluster.serves_sites().await? {
        bail!(
            "the cluster {} does not serve Sites yet\n  hint: install the controller first: openlsp controller install",
            cluster.server()
        );
    }
    if let Some(existing) = cluster.site_in(namespace).await? {
        ui.success(&format!(
            "the controller already manages namespace {namespace} (Site {namespace}/{})",
            existing["metadata"]["name"].as_str().unwrap_or_default()
        ));
        return Ok(Outcome::Ok);
    }
    if !cluster.namespace_exists(namespace).await? {
        bail!(
            "namespace {namespace} does not exist: there is no site to adopt\n  hint: a new site needs no adoption: kubectl create namespace {namespace}, then kubectl apply -n {namespace} -f {}",
            profile.path.display()
        );
    }
    let lock = cluster.lock(namespace).await?;
    let result = adopt_locked(ui, global, &profile, &cluster).await;
    lock.release().await;
    result?;
    ui.success(&format!(
        "namespace {namespace} is the controller's now: Site {namespace}/{}; every secret stays as it was in the cluster",
        site.name()
    ));
    ui.info(&format!(
        "next: change the site with kubectl edit site {name} -n {namespace} (or kubectl apply -n {namespace} -f {path}); openlsp apply refuses it from now on; keep the state dir {state} as a backup",
        name = site.name(),
        path = profile.path.display(),
        state = super::super::state_dir_path(global, site.name())?.display(),
    ));
    Ok(Outcome::Ok)
}

async fn adopt_locked(
    ui: &Ui,
    global: &crate::cli::GlobalArgs,
    profile: &crate::profile::LoadedProfile,
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let site = &profile.site;
    let state = super::super::open_state(global, site.name())?;
    let present = state.load_present(&crate::secrets::requirements(site))?;
    let live = cluster.live_secrets(site.namespace()).await?;
    // The state dir and the cluster must agree: one of them would be wrong otherwise.
    let findings = credential_check::check(&catalog::catalog(site), &present, &live);
    if !findings.is_empty() {
        return Err(Mismatch {
            state_dir: state.root().display().to_string(),
            findings,
        }
        .into());
    }
    // Every value the site needs is in the cluster already; none is made here.
    let resolved = in_cluster::resolve(site, &live)?;
    if !resolved.generated.is_empty() {
        bail!(
            "the cluster lacks secrets the site needs ({}); nothing was changed\n  hint: run openlsp apply first to finish the site, then adopt it",
            resolved.generated.join(", ")
        );
    }
    let text = std::fs::read_to_string(&profile.path)?;
    let document: serde_json::Value = serde_yaml::from_str(&text)?;
    ui.info(&format!(
        "writing Site {}/{} from {}",
        site.namespace(),
        site.name(),
        profile.path.display()
    ));
    cluster.apply_site(site.namespace(), &document).await?;
    Ok(())
}
