//! `openlsp secrets pull`: the state dir rebuilt from the site's Secrets in the cluster, for a
//! lost state dir, a second machine or `sudo`.

use std::collections::BTreeMap;

use anyhow::bail;

use super::write_restored;
use crate::cli::{GlobalArgs, PullArgs};
use crate::commands::{self, Outcome};
use crate::secrets::{catalog, pull};
use crate::ui::Ui;

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: &PullArgs) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let cluster = commands::connect_cluster(global).await?;
    if !cluster.namespace_exists(site.namespace()).await? {
        bail!(
            "site {} is not in the cluster (namespace {} does not exist); nothing to pull",
            site.name(),
            site.namespace()
        );
    }
    let live = cluster.live_secrets(site.namespace()).await?;
    let entries = catalog::catalog(site);
    // A pulled value is dated when the cluster last wrote its Secret.
    let mut written_at = BTreeMap::new();
    for secret in pull::sources(&entries) {
        if !live.contains_key(secret) {
            break; // the rebuild names it
        }
        if let Some(at) = cluster.secret_changed_at(site.namespace(), secret).await? {
            written_at.insert(secret.to_owned(), at);
        }
    }
    let restored = pull::rebuild(&entries, &live, &written_at, site.namespace())?;
    write_restored(ui, global, site, restored, args.force, "pull")?;
    Ok(Outcome::Ok)
}
