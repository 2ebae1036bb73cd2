//! Which API endpoint serves a kind. Kinds openlsp renders itself are known from k8s-openapi
//! (no request needed); custom resources are looked up with non-aggregated discovery, one API
//! group at a time, and cached for the run.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};

use super::ClusterError;
use crate::plan::kinds;

/// A kind the cluster serves.
#[derive(Debug, Clone)]
pub struct Kind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Built-in kinds by (group, kind), from the plan's kind table.
fn builtin(group: &str, kind: &str) -> Option<Kind> {
    kinds::all()
        .iter()
        .find(|info| !info.custom && info.kind == kind && info.group() == group)
        .map(|info| {
            let (group, version) = split_api_version(info.api_version);
            Kind {
                resource: ApiResource {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    api_version: info.api_version.to_owned(),
                    kind: info.kind.to_owned(),
                    plural: info.plural.to_owned(),
                },
                namespaced: info.namespaced,
            }
        })
}

pub(super) struct KindCache {
    client: kube::Client,
    discovered: Mutex<HashMap<String, Discovery>>,
}

impl KindCache {
    pub fn new(client: kube::Client) -> Self {
        KindCache {
            client,
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets discovered groups, after CRDs were installed.
    pub fn refresh(&self) {
        self.discovered.lock().expect("kind cache lock").clear();
    }

    async fn discover(&self, group: &str) -> Result<(), kube::Error> {
        if self
            .discovered
            .lock()
            .expect("kind cache lock")
            .contains_key(group)
        {
            return Ok(());
        }
        let discovery = Discovery::new(self.client.clone())
            .filter(&[group])
            .run()
            .await?;
        self.discovered
            .lock()
            .expect("kind cache lock")
            .insert(group.to_owned(), discovery);
        Ok(())
    }

    /// The kind for `apiVersion` + `kind`, if the cluster serves it.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Kind>, kube::Error> {
        let (group, version) = split_api_version(api_version);
        if let Some(found) = builtin(group, kind).filter(|k| k.resource.version == version) {
            return Ok(Some(found));
        }
        self.discover(group).await?;
        let cache = self.discovered.lock().expect("kind cache lock");
        let gvk = GroupVersionKind::gvk(group, version, kind);
        Ok(cache
            .get(group)
            .and_then(|d| d.resolve_gvk(&gvk))
            .map(|(resource, caps)| Kind {
                resource,
                namespaced: caps.scope == Scope::Namespaced,
            }))
    }

    /// The kind for an ApplySet group-kind (`StatefulSet.apps`), at the preferred version.
    pub async fn resolve_group_kind(&self, group_kind: &str) -> Result<Option<Kind>, kube::Error> {
        let (kind, group) = group_kind.split_once('.').unwrap_or((group_kind, ""));
        if let Some(found) = builtin(group, kind) {
            return Ok(Some(found));
        }
        self.discover(group).await?;
        let cache = self.discovered.lock().expect("kind cache lock");
        let found = cache.get(group).and_then(|discovery| {
            discovery.get(group).and_then(|api_group| {
                api_group
                    .recommended_resources()
                    .into_iter()
                    .find(|(resource, _)| resource.kind == kind)
            })
        });
        Ok(found.map(|(resource, caps)| Kind {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        }))
    }
}

impl super::Cluster {
    /// The kind of a manifest; an error names the addon to install when the cluster lacks it.
    pub async fn kind(&self, api_version: &str, kind: &str) -> Result<Kind, ClusterError> {
        self.served_kind(api_version, kind)
            .await?
            .ok_or_else(|| missing_kind(api_version, kind))
    }

    /// The kind of a manifest, or None while the cluster does not serve it.
    pub async fn served_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Kind>, ClusterError> {
        self.kinds
            .resolve(api_version, kind)
            .await
            .map_err(|err| self.api_error(format!("discover {api_version}"), err))
    }

    pub async fn kind_of_group_kind(&self, group_kind: &str) -> Result<Option<Kind>, ClusterError> {
        self.kinds
            .resolve_group_kind(group_kind)
            .await
            .map_err(|err| self.api_error(format!("discover {group_kind}"), err))
    }

    pub fn refresh_discovery(&self) {
        self.kinds.refresh();
    }
}

pub fn missing_kind(api_version: &str, kind: &str) -> ClusterError {
    ClusterError::MissingKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        hint: missing_kind_hint(api_version),
    }
}

/// What to install for a missing API group.
pub fn missing_kind_hint(api_version: &str) -> String {
    let group = split_api_version(api_version).0;
    match group {
        "monitoring.coreos.com" => {
            "install the Prometheus operator: microk8s enable observability".to_owned()
        }
        "cert-manager.io" | "acme.cert-manager.io" => {
            "install cert-manager: microk8s enable cert-manager".to_owned()
        }
        _ => format!("install the CustomResourceDefinitions of the {group} API group"),
    }
}
