//! `openlsp controller run`: the controller in the foreground (in its Deployment, or locally
//! against a kubeconfig), logging what it does to stderr.

use std::sync::Arc;

use crate::cli::{ControllerRunArgs, GlobalArgs};
use crate::cluster::CONTROLLER_FIELD_MANAGER;
use crate::commands::Outcome;
use crate::controller::run::{ControllerLog, Options};
use crate::deploy::Interrupt;
use crate::ui::Ui;

/// Where the leader election Lease lives when neither --namespace nor the pod says.
const DEFAULT_NAMESPACE: &str = "openlsp-system";
/// The namespace of the pod the controller runs in, as Kubernetes mounts it.
const POD_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

struct Log(Ui);

impl ControllerLog for Log {
    fn info(&self, line: &str) {
        self.0.info(line);
    }
    fn warn(&self, line: &str) {
        self.0.warn(line);
    }
}

pub async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ControllerRunArgs,
) -> anyhow::Result<Outcome> {
    let namespace = match &args.namespace {
        Some(namespace) => namespace.clone(),
        None => std::fs::read_to_string(POD_NAMESPACE_FILE)
            .map(|text| text.trim().to_owned())
            .unwrap_or_else(|_| DEFAULT_NAMESPACE.to_owned()),
    };
    let cluster = super::super::connect_cluster(global)
        .await?
        .writing_as(CONTROLLER_FIELD_MANAGER);
    if !cluster.serves_sites().await? {
        anyhow::bail!(
            "the cluster {} does not serve Sites (openlsp.io/v1alpha1)\n  hint: install the CRD with openlsp controller install, or kubectl apply -f <(openlsp schema --crd)",
            cluster.server()
        );
    }
    ui.info(&format!(
        "openlsp controller against {}; leader election in namespace {namespace}",
        cluster.server()
    ));
    let templates = super::super::template_set(global)?;
    crate::controller::run::run(
        cluster,
        Options {
            namespace,
            watch_namespace: args.watch_namespace.clone(),
            resync: args.resync,
        },
        templates,
        Interrupt::listen_with_terminate(),
        Arc::new(Log(ui.clone())),
    )
    .await?;
    Ok(Outcome::Ok)
}
