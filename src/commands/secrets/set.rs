//! `openlsp secrets set NAME --from-file FILE`: a secret only the operator can give (a backup
//! target's rclone config, bootstrap's SSH key), checked and kept in the state dir (the old value to history) one
//! generation on, so `apply` writes it over the cluster's copy and an older state dir cannot.

use std::io::Read as _;

use anyhow::{Context as _, bail};

use super::stamp;
use crate::cli::{GlobalArgs, SetArgs};
use crate::commands::{self, Outcome};
use crate::secrets::provided::{self, MAX_SIZE};
use crate::secrets::{Requirement, StateChange, requirements};
use crate::ui::Ui;

pub(super) fn run(ui: &Ui, global: &GlobalArgs, args: &SetArgs) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    if args.name == provided::BOOTSTRAP_SSH {
        return set_ssh_key(ui, global, site.name(), args);
    }
    let needed = requirements(site);
    let given: Vec<(&String, &String, &Vec<provided::Use>)> = needed
        .iter()
        .filter_map(|r| match r {
            Requirement::Provided { path, secret, uses } => Some((path, secret, uses)),
            _ => None,
        })
        .collect();
    let Some((path, secret, uses)) = given.iter().find(|(_, s, _)| **s == args.name) else {
        let known: Vec<&str> = given.iter().map(|(_, s, _)| s.as_str()).collect();
        bail!(
            "the profile names no secret {:?} to give; nothing was changed\n  hint: {}",
            args.name,
            if known.is_empty() {
                format!(
                    "only a backup target's rclone config (spec.backup.targets[].rclone.config) and {}, the SSH key of bootstrap --from-host, are given this way; openlsp makes every other secret itself",
                    provided::BOOTSTRAP_SSH
                )
            } else {
                format!(
                    "secrets this profile expects from you: {}; and {} for bootstrap --from-host",
                    known.join(", "),
                    provided::BOOTSTRAP_SSH
                )
            }
        );
    };
    let value = read_value(args)?;
    let what = source_name(args);
    let remotes = provided::remotes(&value)
        .map_err(|reason| anyhow::anyhow!("{what}: {reason}; nothing was changed"))?;
    for used in uses.iter() {
        match provided::unusable(&remotes, &value, used) {
            Some(provided::Unusable::Missing) => bail!(
                "{what} defines no remote {:?}, which {}.remote uses (it defines: {}); nothing was changed\n  hint: add the remote with rclone config, or fix the remote's name in the profile",
                used.remote,
                used.field,
                remotes.join(", ")
            ),
            Some(provided::Unusable::NotEncrypted(kind)) => bail!(
                "{what}: remote {:?} is of type {kind:?}, and {} gets BTCPay's database dump, which must go to an rclone crypt remote; nothing was changed\n  hint: {}",
                used.remote,
                used.field,
                provided::ENCRYPT_HINT
            ),
            None => {}
        }
    }
    let Some(generation) = store(ui, global, site.name(), secret, path, value)? else {
        return Ok(Outcome::Ok);
    };
    ui.success(&format!(
        "{secret} set (0600; remotes {}; generation {generation})",
        remotes.join(", ")
    ));
    ui.info("openlsp apply writes it to the cluster, and the LND pods restart to read it");
    Ok(Outcome::Ok)
}

/// `secrets set bootstrap-ssh`: the key `bootstrap --from-host` logs in with. No profile field
/// names it, and apply never writes it: the copy Job's Secret holds it while it copies.
fn set_ssh_key(
    ui: &Ui,
    global: &GlobalArgs,
    site: &str,
    args: &SetArgs,
) -> anyhow::Result<Outcome> {
    let value = read_value(args)?;
    let key = provided::ssh_key(&value).map_err(|reason| {
        anyhow::anyhow!("{}: {reason}; nothing was changed", source_name(args))
    })?;
    let path = provided::BOOTSTRAP_SSH_PATH.to_owned();
    let Some(generation) = store(ui, global, site, provided::BOOTSTRAP_SSH, &path, value)? else {
        return Ok(Outcome::Ok);
    };
    ui.success(&format!(
        "{} set (0600; {} key {}; generation {generation})",
        provided::BOOTSTRAP_SSH,
        key.algorithm,
        key.fingerprint
    ));
    ui.info("openlsp bootstrap NODE --from-host USER@HOST:PATH logs in with it; the source host's authorized_keys must have its public key");
    Ok(Outcome::Ok)
}

fn source_name(args: &SetArgs) -> String {
    if args.from_file.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        args.from_file.display().to_string()
    }
}

/// Keeps `value` at `path` one generation on, or says it is unchanged (None).
fn store(
    ui: &Ui,
    global: &GlobalArgs,
    site: &str,
    secret: &str,
    path: &String,
    value: Vec<u8>,
) -> anyhow::Result<Option<u64>> {
    let state = commands::open_state(global, site)?;
    if state.read(path)?.as_deref() == Some(value.as_slice()) {
        ui.success(&format!(
            "{secret} is unchanged in {}",
            state.root().display()
        ));
        return Ok(None);
    }
    let generation = state.generations()?.get(secret).copied().unwrap_or(0) + 1;
    let changes = [
        StateChange::Write {
            path: path.clone(),
            value,
        },
        StateChange::Generation {
            secret: secret.to_owned(),
            generation,
        },
    ];
    state.commit(&stamp(), std::slice::from_ref(path), &changes)?;
    state.audit(&format!("set {secret} (generation {generation})"))?;
    ui.info(&format!("kept in {}", state.root().display()));
    Ok(Some(generation))
}

/// The value, from the file or standard input, refused when larger than a config can be.
fn read_value(args: &SetArgs) -> anyhow::Result<Vec<u8>> {
    let mut value = Vec::new();
    let limit = u64::try_from(MAX_SIZE).unwrap_or(u64::MAX) + 1;
    if args.from_file.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut value)
            .context("reading standard input")?;
    } else {
        std::fs::File::open(&args.from_file)
            .and_then(|file| file.take(limit).read_to_end(&mut value))
            .with_context(|| format!("reading {}", args.from_file.display()))?;
    }
    Ok(value)
}
