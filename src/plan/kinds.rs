//! The Kubernetes kinds openlsp renders: their apply stage, scope, and a check that a rendered
//! document really is that kind (deserializes into its k8s-openapi type, with no unknown fields).

use std::any::TypeId;
use std::sync::LazyLock;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::{NamespaceResourceScope, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::object::Stage;

pub struct KindInfo {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// Lowercase plural used in API paths.
    pub plural: &'static str,
    pub namespaced: bool,
    pub stage: Stage,
    /// A custom resource: the cluster serves it only when its CRD is installed (by an addon),
    /// so it is always looked up with discovery.
    pub custom: bool,
    check: fn(&Value) -> Result<(), String>,
}

impl KindInfo {
    /// Checks `document` against the kind's schema.
    pub fn check(&self, document: &Value) -> Result<(), String> {
        (self.check)(document)
    }

    /// The API group, empty for the core group.
    pub fn group(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }
}

fn builtin<T>(stage: Stage) -> KindInfo
where
    T: Resource + DeserializeOwned + Serialize + 'static,
    T::Scope: 'static,
{
    KindInfo {
        api_version: T::API_VERSION,
        kind: T::KIND,
        plural: T::URL_PATH_SEGMENT,
        namespaced: TypeId::of::<T::Scope>() == TypeId::of::<NamespaceResourceScope>(),
        stage,
        custom: false,
        check: check_typed::<T>,
    }
}

/// A custom resource kind; its `spec` is checked by the API server against the CRD's schema.
fn custom(
    api_version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> KindInfo {
    KindInfo {
        api_version,
        kind,
        plural,
        namespaced,
        stage: Stage::CustomResources,
        custom: true,
        check: check_custom,
    }
}

/// apiVersion, kind, typed metadata and an object `spec` (or `data`, for PrometheusRule-like
/// kinds that have none), and nothing else at the top level.
fn check_custom(document: &Value) -> Result<(), String> {
    let map = document.as_object().ok_or("a document must be a mapping")?;
    for key in map.keys() {
        if !["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str()) {
            return Err(format!("unknown field {key}"));
        }
    }
    let metadata = map.get("metadata").ok_or("metadata is missing")?;
    let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
        serde_path_to_error::deserialize(metadata)
            .map_err(|err| format!("metadata.{}: {}", err.path(), err.inner()))?;
    let round_trip = serde_json::to_value(&typed).map_err(|err| err.to_string())?;
    let mut unknown = Vec::new();
    find_unknown_fields(metadata, &round_trip, "metadata", &mut unknown);
    if let Some(field) = unknown.first() {
        return Err(format!("unknown field {field}"));
    }
    match map.get("spec") {
        Some(Value::Object(_)) => Ok(()),
        Some(_) => Err("spec must be a mapping".to_owned()),
        None => Err("spec is missing".to_owned()),
    }
}

static KINDS: LazyLock<Vec<KindInfo>> = LazyLock::new(|| {
    vec![
        builtin::<Namespace>(Stage::Namespaces),
        builtin::<CustomResourceDefinition>(Stage::Crds),
        builtin::<ServiceAccount>(Stage::Rbac),
        builtin::<Role>(Stage::Rbac),
        builtin::<RoleBinding>(Stage::Rbac),
        builtin::<ConfigMap>(Stage::Config),
        builtin::<Secret>(Stage::Config),
        builtin::<PersistentVolume>(Stage::Storage),
        builtin::<PersistentVolumeClaim>(Stage::Storage),
        builtin::<Service>(Stage::Services),
        builtin::<NetworkPolicy>(Stage::Services),
        builtin::<StatefulSet>(Stage::Workloads),
        builtin::<Deployment>(Stage::Workloads),
        builtin::<Job>(Stage::Workloads),
        builtin::<Ingress>(Stage::CustomResources),
        builtin::<Lease>(Stage::Config),
        custom(
            "monitoring.coreos.com/v1",
            "ServiceMonitor",
            "servicemonitors",
            true,
        ),
        custom(
            "monitoring.coreos.com/v1",
            "PodMonitor",
            "podmonitors",
            true,
        ),
        custom(
            "monitoring.coreos.com/v1",
            "PrometheusRule",
            "prometheusrules",
            true,
        ),
        custom(
            "cert-manager.io/v1",
            "ClusterIssuer",
            "clusterissuers",
            false,
        ),
        custom("cert-manager.io/v1", "Issuer", "issuers", true),
        custom("cert-manager.io/v1", "Certificate", "certificates", true),
    ]
});

/// Every kind openlsp knows.
pub fn all() -> &'static [KindInfo] {
    &KINDS
}

/// The kind of a rendered document, if openlsp knows it.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|info| info.api_version == api_version && info.kind == kind)
}

fn check_typed<T: DeserializeOwned + Serialize>(document: &Value) -> Result<(), String> {
    let typed: T = serde_path_to_error::deserialize(document)
        .map_err(|err| format!("{}: {}", err.path(), err.inner()))?;
    let round_trip = serde_json::to_value(&typed).map_err(|err| err.to_string())?;
    let mut unknown = Vec::new();
    find_unknown_fields(document, &round_trip, "", &mut unknown);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unknown field{} {}",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", ")
        ))
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Fields present in `written` that the typed round trip dropped: typos and misplaced keys.
fn find_unknown_fields(written: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (written, typed) {
        (Value::Object(written), Value::Object(typed)) => {
            for (key, value) in written {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match typed.get(key) {
                    Some(typed_value) => find_unknown_fields(value, typed_value, &child, out),
                    None if is_empty(value) => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(written), Value::Array(typed)) => {
            for (i, (value, typed_value)) in written.iter().zip(typed).enumerate() {
                find_unknown_fields(value, typed_value, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_misspelt_field_is_reported_with_its_path() {
        let info = lookup("v1", "ConfigMap").unwrap();
        let document = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "x", "namespace": "y", "lables": { "a": "b" } },
            "data": { "k": "v" }
        });
        assert_eq!(
            info.check(&document).unwrap_err(),
            "unknown field metadata.lables"
        );
    }

    #[test]
    fn a_wrong_type_is_reported_with_its_path() {
        let info = lookup("apps/v1", "StatefulSet").unwrap();
        let document = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": { "name": "x" },
            "spec": { "replicas": "one", "selector": {}, "serviceName": "x", "template": {} }
        });
        let err = info.check(&document).unwrap_err();
        assert!(err.starts_with("spec.replicas: invalid type"), "{err}");
    }

    #[test]
    fn custom_resources_get_a_structural_check() {
        let info = lookup("monitoring.coreos.com/v1", "ServiceMonitor").unwrap();
        assert!(info.custom);
        let good = json!({ "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                           "metadata": { "name": "x", "namespace": "y" }, "spec": { "endpoints": [] } });
        assert!(info.check(&good).is_ok());
        let mut typo = good.clone();
        typo["metadata"]["lables"] = json!({ "a": "b" });
        assert_eq!(
            info.check(&typo).unwrap_err(),
            "unknown field metadata.lables"
        );
        let mut stray = good;
        stray["sepc"] = json!({});
        assert_eq!(info.check(&stray).unwrap_err(), "unknown field sepc");
    }

    #[test]
    fn stages_follow_the_documented_apply_order() {
        let stage = |api_version: &str, kind: &str| lookup(api_version, kind).unwrap().stage;
        let table = [
            (stage("v1", "Namespace"), 1),
            (
                stage("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
                2,
            ),
            (stage("v1", "ServiceAccount"), 3),
            (stage("rbac.authorization.k8s.io/v1", "Role"), 3),
            (stage("rbac.authorization.k8s.io/v1", "RoleBinding"), 3),
            (stage("v1", "ConfigMap"), 4),
            (stage("v1", "Secret"), 4),
            (stage("v1", "PersistentVolume"), 5),
            (stage("v1", "PersistentVolumeClaim"), 5),
            (stage("v1", "Service"), 6),
            (stage("apps/v1", "StatefulSet"), 7),
            (stage("apps/v1", "Deployment"), 7),
            (stage("networking.k8s.io/v1", "Ingress"), 8),
            (stage("monitoring.coreos.com/v1", "ServiceMonitor"), 8),
            (stage("cert-manager.io/v1", "Issuer"), 8),
        ];
        for (stage, number) in table {
            assert_eq!(stage.number(), number, "{stage:?}");
        }
        assert!(Stage::Namespaces < Stage::Crds && Stage::Crds < Stage::Rbac);
        assert!(Stage::Workloads < Stage::CustomResources);
        // Every custom resource waits for stage 2, where CRDs are applied.
        assert!(
            all()
                .iter()
                .filter(|k| k.custom)
                .all(|k| k.stage > Stage::Crds)
        );
    }

    #[test]
    fn kinds_know_their_scope_and_group() {
        assert!(!lookup("v1", "PersistentVolume").unwrap().namespaced);
        assert!(lookup("v1", "Secret").unwrap().namespaced);
        assert_eq!(lookup("apps/v1", "StatefulSet").unwrap().group(), "apps");
        assert_eq!(lookup("v1", "Secret").unwrap().group(), "");
        assert_eq!(lookup("v1", "Secret").unwrap().plural, "secrets");
    }
}
