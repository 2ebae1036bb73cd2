//! `openlsp secrets password <app>`: where a channel management UI's login password is, and,
//! after the UI's name is typed, the password once. openlsp made it and keeps it in the state
//! dir; a site the controller manages has it only in the Secret `<app>-password`. The reveal is
//! recorded in the audit log.

use anyhow::bail;

use crate::cli::{GlobalArgs, PasswordArgs};
use crate::commands::{self, Outcome};
use crate::plan::names;
use crate::profile::{AppKind, Site};
use crate::secrets::fingerprint::fingerprint;
use crate::secrets::paths;
use crate::ui::Ui;

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &PasswordArgs,
) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let kind = app(site, &args.app)?;
    let secret = names::app_password_secret(kind.name());
    let path = paths::app_password(kind.name());
    let state = commands::open_state(global, site.name()).ok();
    let from_state = match &state {
        Some(state) => state.read(&path)?,
        None => None,
    };
    let (password, place) = match (from_state, &state) {
        (Some(value), Some(state)) => (value, state.root().join(&path).display().to_string()),
        _ => {
            let cluster = commands::connect_cluster(global).await?;
            let data = cluster
                .secret_data(site.namespace(), &secret)
                .await?
                .unwrap_or_default();
            let Some(value) = data.get(names::APP_PASSWORD_KEY) else {
                bail!(
                    "{} has no password yet: neither the state dir nor Secret {}/{secret} holds one\n  hint: `openlsp apply` makes it",
                    kind.title(),
                    site.namespace()
                );
            };
            (
                value.clone(),
                format!("Secret {}/{secret}", site.namespace()),
            )
        }
    };
    if !args.reveal {
        ui.stdout(&format!(
            "The password of {} is in {place} ({}), and in Secret {}/{secret}.\nPrint it with: openlsp secrets password {} --reveal\n",
            kind.title(),
            fingerprint([password.as_slice()]),
            site.namespace(),
            kind.name()
        ));
        return Ok(Outcome::Ok);
    }
    let confirmed = match &args.confirm_app {
        Some(name) => name == kind.name(),
        None => ui.confirm_typed(
            &format!(
                "This prints the login password of {}: whoever has it manages the channels of {}. Nobody watching, no screen sharing?",
                kind.title(),
                site.spec
                    .apps
                    .get(kind)
                    .map(|a| a.nodes.join(", "))
                    .unwrap_or_default()
            ),
            kind.name(),
            "pass --confirm-app <app>",
        )?,
    };
    if !confirmed {
        bail!("the UI's name was not confirmed; the password was not shown");
    }
    ui.stdout(&format!("{}\n", String::from_utf8_lossy(&password)));
    if let Some(state) = &state {
        state.audit(&format!("password of {} revealed", kind.name()))?;
        ui.info("the reveal was recorded in the state dir's audit log");
    }
    Ok(Outcome::Ok)
}

/// The UI `name` names, which the profile must turn on.
fn app(site: &Site, name: &str) -> anyhow::Result<AppKind> {
    let Some(kind) = AppKind::ALL.into_iter().find(|k| k.name() == name) else {
        bail!("no UI named {name:?}\n  hint: the UIs are rtl and thunderhub (spec.apps)");
    };
    if site.spec.apps.get(kind).is_none() {
        bail!(
            "the profile has no {} (spec.apps.{name})\n  hint: add it to spec.apps and run openlsp apply",
            kind.title()
        );
    }
    Ok(kind)
}
