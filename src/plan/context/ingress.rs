//! Ingress and cert-manager, once per site (`templates/ingress/`, read as `site.ingress`): the
//! Let's Encrypt ClusterIssuers and Grafana's Ingress; and the Ingress of one node API, which
//! that node's context carries (`templates/_shared/node-ingress.yaml.j2`).

use serde::Serialize;

use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{GRAFANA_PORT, Labels, site_labels};
use crate::profile::{Acme, LightningNode, LndApi, Site};

/// cert-manager's HTTP-01 solver pods, which it starts in the namespace of each Ingress whose
/// certificate it orders: their label and port (cert-manager's pkg/apis/acme/v1/types.go
/// `SolverIdentificationLabelKey`, pkg/issuer/acme/http/http.go `acmeSolverListenPort`).
const ACME_SOLVER_LABEL: &str = "acme.cert-manager.io/http01-solver";
const ACME_SOLVER_PORT: u16 = 8089;

/// Let's Encrypt's ACME v2 directories.
pub(crate) const LETSENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub(crate) const LETSENCRYPT_STAGING: &str =
    "https://acme-staging-v02.api.letsencrypt.org/directory";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuerContext {
    name: String,
    server: &'static str,
    account_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrafanaIngressContext {
    name: String,
    host: String,
    namespace: String,
    service: String,
    port: u16,
    tls_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IngressContext {
    enabled: bool,
    class_name: String,
    email: String,
    issuers: Vec<IssuerContext>,
    /// The issuer the Ingresses ask for.
    issuer: String,
    grafana: Option<GrafanaIngressContext>,
    /// With a node API published: Let's Encrypt's challenge reaches the solver pods through
    /// the ingress controller.
    solver_policy: Option<PodPolicy>,
}

pub(crate) fn context(site: &Site) -> IngressContext {
    let ingress = &site.spec.ingress;
    let issuers = [
        (Acme::Production, LETSENCRYPT_PRODUCTION),
        (Acme::Staging, LETSENCRYPT_STAGING),
    ]
    .into_iter()
    .map(|(acme, server)| IssuerContext {
        name: issuer_name(site, acme),
        server,
        account_secret: format!("{}-account-key", issuer_name(site, acme)),
    })
    .collect();
    IngressContext {
        enabled: ingress.enabled,
        class_name: ingress.class_name.clone(),
        email: ingress.email.clone().unwrap_or_default(),
        issuers,
        issuer: issuer_name(site, ingress.acme),
        grafana: ingress.grafana.as_ref().map(|host| GrafanaIngressContext {
            name: format!("openlsp-{}-grafana", site.name()),
            host: host.clone(),
            namespace: site.spec.monitoring.namespace.clone(),
            // kube-prometheus-stack names Grafana's Service `<release>-grafana`, port 80.
            service: format!("{}-grafana", site.spec.monitoring.release),
            port: GRAFANA_PORT,
            tls_secret: format!("openlsp-{}-grafana-tls", site.name()),
        }),
        solver_policy: (!crate::profile::public_exposures(site).is_empty()).then(|| {
            PodPolicy::new(
                "acme-http01-solver",
                &site_labels(site),
                &Labels::from([(ACME_SOLVER_LABEL, "true".to_owned())]),
                vec![Access::from(
                    vec![network::namespace(&ingress.controller_namespace)],
                    vec![tcp(ACME_SOLVER_PORT)],
                )],
                Vec::new(),
            )
        }),
    }
}

/// The ClusterIssuers' names: cluster-wide, so they carry the site's name.
fn issuer_name(site: &Site, acme: Acme) -> String {
    let which = match acme {
        Acme::Production => "production",
        Acme::Staging => "staging",
    };
    format!("openlsp-{}-letsencrypt-{which}", site.name())
}

/// The public Ingress of one API of one node.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeIngressContext {
    api: &'static str,
    name: String,
    host: String,
    port: u16,
    /// nginx `backend-protocol`: LND serves TLS itself.
    backend_protocol: &'static str,
    tls_secret: String,
}

/// The Ingress of `node`'s `api` at `host`, which the node serves on `port`; none while the
/// site has no `spec.ingress`.
/// The Ingresses of a Lightning node's APIs that the profile names: REST serves HTTPS (LND's
/// REST, clnrest), gRPC is gRPC over TLS.
pub(crate) fn api_ingresses(site: &Site, node: &LightningNode) -> Vec<NodeIngressContext> {
    node.ingress
        .iter()
        .filter_map(|(api, host)| {
            let protocol = match api {
                LndApi::Rest => "HTTPS",
                LndApi::Grpc => "GRPCS",
            };
            node_ingress(
                site,
                &node.name,
                api.as_str(),
                host,
                super::shared::api_port(node, *api),
                protocol,
            )
        })
        .collect()
}

pub(crate) fn node_ingress(
    site: &Site,
    node: &str,
    api: &'static str,
    host: &str,
    port: u16,
    backend_protocol: &'static str,
) -> Option<NodeIngressContext> {
    site.spec.ingress.enabled.then(|| NodeIngressContext {
        api,
        name: format!("{node}-{api}"),
        host: host.to_owned(),
        port,
        backend_protocol,
        tls_secret: format!("{node}-{api}-ingress-tls"),
    })
}

/// Each node API the profile publishes: anyone can reach it.
pub(crate) fn warnings(site: &Site) -> Vec<String> {
    crate::profile::public_exposures(site)
        .into_iter()
        .map(|(path, what)| format!("{path}: {what}"))
        .collect()
}
