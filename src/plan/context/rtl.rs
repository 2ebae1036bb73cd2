//! Ride The Lightning (`spec.apps.rtl`, docs/apps.md): what `templates/rtl/` renders with.
//! RTL-Config.json lists every node it manages (LND over REST with the directory of its admin
//! macaroon, Core Lightning over clnrest with a rune file) and the login password as RTL's own
//! hash (`multiPassHashed`: SHA-256 in hex, as RTL's login compares it). RTL rewrites its
//! config file at every start, so an init container copies it from the Secret into the pod's
//! memory, and writes each CLN node's rune file (`LIGHTNING_RUNE="…"`) there from the node's
//! Secret; nothing of a credential is in a manifest.
//!
//! Keys: Ride-The-Lightning/RTL v0.15.11, .github/docs/Application_configurations.md, and
//! server/utils/config.ts for `multiPassHashed` and the per-node settings.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::shared::{CLN_REST_PORT, LND_REST_PORT, UI_PORT, b64, service_host};
use super::ui::{self, NODES_DIR, UiContext};
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{AppKind, Implementation, Site};
use crate::secrets::Secrets;

/// The config file's name, in the Secret and in [`STATE_DIR`].
pub(crate) const CONFIG_KEY: &str = "RTL-Config.json";
/// RTL's writable directory (`RTL_CONFIG_PATH`): its config, logs, database, channel backups and
/// the CLN rune files. In memory: the config holds the password's hash.
const STATE_DIR: &str = "/var/lib/rtl";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtlContext {
    /// None without `spec.apps.rtl`.
    rtl: Option<RtlApp>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtlApp {
    #[serde(flatten)]
    ui: UiContext,
    config_key: &'static str,
    config_b64: String,
    state_dir: &'static str,
    nodes: Vec<NodeMount>,
}

/// What the pod mounts of a node: LND's admin macaroon at `dir`, or CLN's admin rune at `dir`,
/// from which the init container writes `rune_file`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeMount {
    name: String,
    cln: bool,
    dir: String,
    secret: String,
    key: &'static str,
    rune_file: Option<String>,
}

/// RTL-Config.json.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    port: String,
    default_node_index: usize,
    db_directory_path: String,
    #[serde(rename = "SSO")]
    sso: Sso,
    multi_pass_hashed: String,
    nodes: Vec<ConfigNode>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sso {
    /// 0: RTL's own login.
    #[serde(rename = "rtlSSO")]
    rtl_sso: u8,
    rtl_cookie_path: String,
    logout_redirect_link: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigNode {
    index: usize,
    ln_node: String,
    ln_implementation: &'static str,
    authentication: Authentication,
    settings: Settings,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Authentication {
    #[serde(skip_serializing_if = "Option::is_none")]
    macaroon_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rune_path: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    user_persona: &'static str,
    theme_mode: &'static str,
    theme_color: &'static str,
    channel_backup_path: String,
    log_level: &'static str,
    /// Off: fiat rates would come from an outside service.
    fiat_conversion: bool,
    unannounced_channels: bool,
    ln_server_url: String,
}

pub(crate) fn context(site: &Site, secrets: &Secrets) -> Result<RtlContext, PlanError> {
    let Some(app) = &site.spec.apps.rtl else {
        return Ok(RtlContext { rtl: None });
    };
    let nodes: Vec<_> = app
        .nodes
        .iter()
        .filter_map(|name| site.lightning_node(name))
        .collect();
    let port = |cln: bool| if cln { CLN_REST_PORT } else { LND_REST_PORT };
    let connects = nodes
        .iter()
        .map(|node| ui::to_node(site, node, port(node.implementation == Implementation::Cln)))
        .collect();
    let ui = ui::context(site, secrets, AppKind::Rtl, app, connects)?;
    let password = ui::password(secrets, AppKind::Rtl)?;
    let mounts: Vec<NodeMount> = nodes
        .iter()
        .map(|node| {
            let cln = node.implementation == Implementation::Cln;
            NodeMount {
                name: node.name.clone(),
                cln,
                dir: format!("{NODES_DIR}/{}", node.name),
                secret: names::macaroons_secret(&node.name),
                key: if cln {
                    names::CLN_ADMIN_RUNE
                } else {
                    "admin.macaroon"
                },
                rune_file: cln.then(|| format!("{STATE_DIR}/runes/{}.env", node.name)),
            }
        })
        .collect();
    let file = ConfigFile {
        port: UI_PORT.to_string(),
        default_node_index: 1,
        db_directory_path: format!("{STATE_DIR}/database"),
        sso: Sso {
            rtl_sso: 0,
            rtl_cookie_path: String::new(),
            logout_redirect_link: String::new(),
        },
        multi_pass_hashed: hex::encode(Sha256::digest(password.as_bytes())),
        nodes: mounts
            .iter()
            .zip(&nodes)
            .enumerate()
            .map(|(i, (mount, node))| ConfigNode {
                index: i + 1,
                ln_node: mount.name.clone(),
                ln_implementation: if mount.cln { "CLN" } else { "LND" },
                authentication: Authentication {
                    macaroon_path: (!mount.cln).then(|| mount.dir.clone()),
                    rune_path: mount.rune_file.clone(),
                },
                settings: Settings {
                    user_persona: "OPERATOR",
                    theme_mode: "DAY",
                    theme_color: "PURPLE",
                    channel_backup_path: format!("{STATE_DIR}/channels-backup/node-{}", i + 1),
                    log_level: "ERROR",
                    fiat_conversion: false,
                    unannounced_channels: false,
                    ln_server_url: format!(
                        "https://{}:{}",
                        service_host(site, &node.name),
                        port(mount.cln)
                    ),
                },
            })
            .collect(),
    };
    let config = serde_json::to_string_pretty(&file)
        .map_err(|err| PlanError::Bug(format!("RTL's config file: {err}")))?;
    Ok(RtlContext {
        rtl: Some(RtlApp {
            ui,
            config_key: CONFIG_KEY,
            config_b64: b64(config.as_bytes()),
            state_dir: STATE_DIR,
            nodes: mounts,
        }),
    })
}
