//! `openlsp secrets pull`: the state dir rebuilt from the site's Secrets in the cluster, for a
//! lost state dir, a second machine or `sudo`.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use time::OffsetDateTime;

use super::{Restored, restore};
use crate::cli::{GlobalArgs, PullArgs};
use crate::commands::{self, Outcome};
use crate::secrets::catalog::{self, Source};
use crate::secrets::{self as state, rpcauth};
use crate::ui::Ui;

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: &PullArgs) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let cluster = commands::connect(global).await?;
    if !cluster.namespace_exists(site.namespace()).await? {
        bail!(
            "site {} is not in the cluster (namespace {} does not exist); nothing to pull",
            site.name(),
            site.namespace()
        );
    }
    let live = cluster.live_secrets(site.namespace()).await?;
    let mut generations = BTreeMap::new();
    let mut secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut values: Vec<(String, Vec<u8>)> = Vec::new();
    // A pulled value is dated when the cluster last wrote its Secret.
    let mut written_at: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    let mut dates: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    for entry in catalog::catalog(site) {
        if let Some(secret) = live.get(&entry.secret).filter(|_| !entry.values.is_empty()) {
            generations.insert(entry.secret.clone(), secret.generation);
        }
        for (path, source) in &entry.values {
            let secret_name = match source {
                Source::Key { secret, .. } | Source::RpcauthSalt { secret, .. } => secret,
            };
            if !secrets.contains_key(secret_name) {
                let data = live.get(secret_name).map(|s| s.data.clone()).with_context(|| {
                    format!("Secret {}/{secret_name} is not in the cluster; was the site applied with this profile?", site.namespace())
                })?;
                secrets.insert(secret_name.clone(), data);
                if let Some(at) = cluster
                    .secret_changed_at(site.namespace(), secret_name)
                    .await?
                {
                    written_at.insert(secret_name.clone(), at);
                }
            }
            if let Some(at) = written_at.get(secret_name) {
                dates.insert(path.clone(), *at);
            }
            let data = &secrets[secret_name];
            let value = match source {
                Source::Key { key, .. } => data
                    .get(*key)
                    .cloned()
                    .with_context(|| format!("Secret {secret_name} has no key {key}"))?,
                Source::RpcauthSalt { user, password, .. } => {
                    let password = values
                        .iter()
                        .find(|(p, _)| p == password)
                        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                        .context("the password comes before its salt; this is a bug in openlsp")?;
                    let conf = String::from_utf8_lossy(
                        data.get("rpcauth.conf")
                            .map(Vec::as_slice)
                            .unwrap_or_default(),
                    )
                    .into_owned();
                    // Phase 1 of a rotation: the old line's password is only in the state dir
                    // that started it, and a pulled state would drop that line.
                    let lines = rpcauth::lines_of(&conf, user).len();
                    if lines > 1 {
                        bail!(
                            "{} is being rotated: bitcoind has {lines} rpcauth lines for {user} (phase 1), and the old password is not in the cluster; nothing was written\n  hint: finish the rotation first with the state dir that started it (openlsp secrets rotate --finish), then pull",
                            entry.secret
                        );
                    }
                    rpcauth::matching_salt(&conf, user, &password)
                        .with_context(|| {
                            format!(
                                "no rpcauth line of {user} in {secret_name} matches its password"
                            )
                        })?
                        .into_bytes()
                }
            };
            values.push((path.clone(), value));
        }
    }
    let state = commands::open_state(global, site.name())?;
    let restored = Restored {
        values,
        dates,
        generations,
        ..Restored::default()
    };
    restore(
        ui,
        &state,
        &state::requirements(site),
        restored,
        args.force,
        "pull",
    )?;
    Ok(Outcome::Ok)
}
