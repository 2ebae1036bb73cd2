//! `openlsp secrets list`: every secret of the site, with its consumers, when it changed, a
//! fingerprint (never a value) and when a certificate expires.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::{consumed_secrets, render};
use crate::cli::{GlobalArgs, SecretsListArgs};
use crate::cluster::Cluster;
use crate::commands::{self, Outcome};
use crate::plan::Plan;
use crate::profile::Site;
use crate::secrets::catalog::{self, Entry, SecretKind};
use crate::secrets::{Secrets, StateDir, fingerprint, paths, provided, requirements, rotation};
use crate::ui::Ui;

use crate::commands::utc_minute as date;

/// Workloads (`Kind/name`) that consume each Secret of the plan, directly or through a
/// Secret derived from it.
fn consumers(plan: &Plan) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for object in &plan.objects {
        for name in consumed_secrets(&object.manifest) {
            found.entry(name).or_default().insert(object.display_name());
        }
    }
    found
}

fn consumers_of(entry: &Entry, map: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    std::iter::once(&entry.secret)
        .chain(&entry.derived)
        .filter_map(|secret| map.get(secret))
        .flatten()
        .cloned()
        .collect()
}

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &SecretsListArgs,
) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let dir = commands::state_dir_path(global, site.name())?;
    if !dir.exists() {
        ui.info(&format!(
            "no secrets yet: {} does not exist; openlsp render or apply generates them",
            dir.display()
        ));
        return Ok(Outcome::Ok);
    }
    let state = StateDir::open(&dir, site.name())?;
    let entries = catalog::catalog(site);
    let needed = requirements(site);
    let consumer_map = match state.load(&needed) {
        Ok(secrets) => consumers(&render(global, site, &secrets)?),
        Err(_) => BTreeMap::new(),
    };
    let cluster = if args.offline {
        None
    } else {
        match commands::connect_cluster(global).await {
            Ok(cluster) => Some(cluster),
            Err(err) => {
                ui.warn(&format!("seed, macaroons and runes are not shown: {err}"));
                None
            }
        }
    };
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let now = OffsetDateTime::now_utc();
    for entry in &entries {
        let users = consumers_of(entry, &consumer_map);
        let users = if users.is_empty() {
            match entry.kind {
                SecretKind::Macaroons | SecretKind::Runes => format!(
                    "wallets, dashboards (published by {}'s sidecar)",
                    entry.node
                ),
                _ => "-".to_owned(),
            }
        } else {
            users.into_iter().collect::<Vec<_>>().join(", ")
        };
        let not_given =
            entry.kind == SecretKind::RcloneConfig && state.read(&entry.values[0].0)?.is_none();
        let (changed, print, expiry) = if entry.values.is_empty() {
            cluster_row(cluster.as_ref(), site, entry).await?
        } else if not_given {
            warnings.push(format!(
                "{} is not given yet: openlsp secrets set {} --from-file rclone.conf",
                entry.secret, entry.secret
            ));
            ("-".to_owned(), "(not given)".to_owned(), "-".to_owned())
        } else {
            let mut values = Vec::new();
            for path in entry.state_paths() {
                values.push(state.read(&path)?.unwrap_or_default());
            }
            let changed = state
                .modified(&entry.values[0].0)
                .map_or("-".to_owned(), date);
            let identity = fingerprint::of_values(entry.kind, &values);
            let expiry = identity.expires.map_or("-".to_owned(), |expires| {
                let days = (expires - now).whole_days();
                if days < fingerprint::RENEW_WITHIN_DAYS {
                    warnings.push(format!(
                        "certificate {} expires in {days} days ({}); renew it: openlsp secrets rotate {}",
                        entry.secret,
                        date(expires),
                        entry.secret
                    ));
                }
                format!("{} ({days} days)", date(expires))
            });
            (changed, identity.print, expiry)
        };
        let mut kind = entry.kind.to_string();
        let mut previous = Secrets::default();
        for path in entry.state_paths().iter().map(|p| paths::previous(p)) {
            if let Some(value) = state.read(&path)? {
                previous.insert(path, value);
            }
        }
        if rotation::is_pending(entry, &previous) {
            kind.push_str(" (rotating: run openlsp secrets rotate --finish)");
        }
        rows.push(vec![
            entry.secret.clone(),
            kind,
            users,
            changed,
            print,
            expiry,
        ]);
    }
    if let Some(key) = state.read(provided::BOOTSTRAP_SSH_PATH)? {
        rows.push(vec![
            provided::BOOTSTRAP_SSH.to_owned(),
            "ssh key (given)".to_owned(),
            "openlsp bootstrap --from-host, while it copies".to_owned(),
            state
                .modified(provided::BOOTSTRAP_SSH_PATH)
                .map_or("-".to_owned(), date),
            provided::ssh_key(&key)
                .map_or_else(|why| format!("(unusable: {why})"), |info| info.fingerprint),
            "-".to_owned(),
        ]);
    }
    ui.table(
        &[
            "NAME",
            "KIND",
            "CONSUMERS",
            "CHANGED",
            "FINGERPRINT",
            "EXPIRES",
        ],
        &rows,
    );
    for warning in warnings {
        ui.warn(&warning);
    }
    Ok(Outcome::Ok)
}

/// The row of a secret that only the cluster holds.
async fn cluster_row(
    cluster: Option<&Cluster>,
    site: &Site,
    entry: &Entry,
) -> anyhow::Result<(String, String, String)> {
    let Some(cluster) = cluster else {
        return Ok((
            "-".to_owned(),
            "(in the cluster; not read)".to_owned(),
            "-".to_owned(),
        ));
    };
    let data = cluster.secret_data(site.namespace(), &entry.secret).await?;
    let changed = cluster
        .secret_changed_at(site.namespace(), &entry.secret)
        .await?
        .map_or("-".to_owned(), date);
    let print = fingerprint::of_cluster_data(entry.kind, data.as_ref());
    Ok((changed, print, "-".to_owned()))
}
