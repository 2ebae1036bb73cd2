//! What both channel management UIs (`spec.apps`: RTL, ThunderHub) render alike: their
//! password Secret (data), Service, NetworkPolicy, Ingress and onion key, and how each reaches a
//! node's credentials at run time. `rtl.rs` and `thunderhub.rs` add their own configuration.

use serde::Serialize;

use super::ingress::{self, NodeIngressContext};
use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{
    Labels, ResourcesContext, UI_COMPONENT, UI_PORT, b64, component_labels, lightning_selector,
    resources, secret_text,
};
use super::tor::{self, OnionSecretContext};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{App, AppKind, LightningNode, Site};
use crate::secrets::{Secrets, paths};

/// Where a UI's pod mounts each node's credentials: `<dir>/<node>/`.
pub(crate) const NODES_DIR: &str = "/etc/openlsp/nodes";
/// Where it mounts its configuration Secret.
pub(crate) const CONFIG_DIR: &str = "/etc/openlsp/config";

/// The parts of a UI's context both UIs share.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UiContext {
    name: &'static str,
    title: &'static str,
    image: String,
    uid: i64,
    port: u16,
    resources: ResourcesContext,
    labels: Labels,
    selector: Labels,
    policy: PodPolicy,
    password_secret: String,
    password_key: &'static str,
    password_b64: String,
    config_secret: String,
    config_dir: &'static str,
    ingress: Option<NodeIngressContext>,
    onion: Option<OnionSecretContext>,
}

/// The UI `kind`, configured as `app`; `connects` is where it reaches each of its nodes (the
/// node's pods and port), for its policy.
pub(crate) fn context(
    site: &Site,
    secrets: &Secrets,
    kind: AppKind,
    app: &App,
    connects: Vec<Access>,
) -> Result<UiContext, PlanError> {
    let name = kind.name();
    let (labels, selector) = component_labels(site, name, name, UI_COMPONENT);
    let password = secret_text(secrets, &paths::app_password(name))?;
    let mut clients = Vec::new();
    if app.host.is_some() && site.spec.ingress.enabled {
        clients.push(network::namespace(&site.spec.ingress.controller_namespace));
    }
    if app.onion && site.spec.tor.enabled() {
        clients.push(tor::peer(site));
    }
    let mut egress = connects;
    egress.push(Access::dns());
    let policy = PodPolicy::new(
        name,
        &labels,
        &selector,
        vec![Access::from(clients, vec![tcp(UI_PORT)])],
        egress,
    );
    Ok(UiContext {
        name,
        title: kind.title(),
        image: app.image.clone(),
        uid: images::NODE_APP_UID,
        port: UI_PORT,
        resources: resources(site, app.resources),
        labels,
        selector,
        policy,
        password_secret: names::app_password_secret(name),
        password_key: names::APP_PASSWORD_KEY,
        password_b64: b64(password.as_bytes()),
        config_secret: names::app_config_secret(name),
        config_dir: CONFIG_DIR,
        ingress: app
            .host
            .as_ref()
            .and_then(|host| ingress::node_ingress(site, name, "ui", host, UI_PORT, "HTTP")),
        onion: if app.onion && site.spec.tor.enabled() {
            Some(tor::onion_secret(secrets, name)?)
        } else {
            None
        },
    })
}

/// The UI's password, from the secrets snapshot.
pub(crate) fn password(secrets: &Secrets, kind: AppKind) -> Result<&str, PlanError> {
    secret_text(secrets, &paths::app_password(kind.name()))
}

/// Access to `node`'s pods on `port`.
pub(crate) fn to_node(site: &Site, node: &LightningNode, port: u16) -> Access {
    Access::from(
        vec![network::pods(site, &lightning_selector(site, node))],
        vec![tcp(port)],
    )
}
