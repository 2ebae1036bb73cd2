//! What every layer calls a Kubernetes object: its id, its apply stage, whether it holds data,
//! a conflict over one of its fields, and the annotations openlsp sets. A leaf: it imports
//! nothing from the rest of the crate.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Marks an object that holds data (credentials): prune keeps it unless told otherwise.
pub const DATA_ANNOTATION: &str = "openlsp.io/data";
/// On a pod template: a hash of the ConfigMaps and Secrets it consumes, so it rolls when they
/// change.
pub const CHECKSUM_ANNOTATION: &str = "openlsp.io/config-checksum";
/// Hash of what openlsp last applied, used to skip unchanged objects; hidden from diffs.
pub const APPLIED_HASH_ANNOTATION: &str = "openlsp.io/applied-hash";
/// On a Secret: how many times its values were replaced (rotated), so an older copy of the
/// state dir is recognised.
pub const GENERATION_ANNOTATION: &str = "openlsp.io/generation";
/// On LND's wallet Secret: when `secrets seed --reveal` last showed the seed.
pub const SEED_REVEALED_ANNOTATION: &str = "openlsp.io/seed-revealed-at";

/// On a Bitcoin node's StatefulSet that `openlsp bootstrap` stopped, and on its copy Job: the
/// arguments of that bootstrap, so `apply` refuses to start the node while it runs and says
/// which command resumes it.
pub const BOOTSTRAP_ANNOTATION: &str = "openlsp.io/bootstrap";

/// Kinds whose objects always hold data: the namespace, volumes and claims.
pub const DATA_KINDS: [(&str, &str); 3] = [
    ("v1", "Namespace"),
    ("v1", "PersistentVolume"),
    ("v1", "PersistentVolumeClaim"),
];

/// A JSON pointer to annotation `key` under `prefix` (`/metadata`, `/spec/template/metadata`).
pub fn annotation_pointer(prefix: &str, key: &str) -> String {
    format!(
        "{prefix}/annotations/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// The value of annotation `key` on `object`'s metadata.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer(&annotation_pointer("/metadata", key))
        .and_then(Value::as_str)
}

/// Whether an object holds data that prune must keep: kinds that always do (the Namespace,
/// volumes and claims) and objects annotated `openlsp.io/data: "true"` (credential Secrets).
pub fn is_data(manifest: &Value) -> bool {
    let text = |pointer: &str| manifest.pointer(pointer).and_then(Value::as_str);
    let always = match (text("/apiVersion"), text("/kind")) {
        (Some(api_version), Some(kind)) => DATA_KINDS.contains(&(api_version, kind)),
        _ => false,
    };
    always || annotation(manifest, DATA_ANNOTATION) == Some("true")
}

/// The order `apply` creates objects in; see docs/cluster.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Namespaces = 1,
    Crds = 2,
    Rbac = 3,
    Config = 4,
    Storage = 5,
    Services = 6,
    Workloads = 7,
    CustomResources = 8,
}

impl Stage {
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// Identifies one object in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    /// The id of a manifest, from its apiVersion, kind and metadata.
    pub fn of(manifest: &Value) -> Option<Self> {
        let text = |pointer: &str| manifest.pointer(pointer).and_then(Value::as_str);
        Some(ObjectId {
            api_version: text("/apiVersion")?.to_owned(),
            kind: text("/kind")?.to_owned(),
            namespace: text("/metadata/namespace").map(str::to_owned),
            name: text("/metadata/name")?.to_owned(),
        })
    }

    /// A namespaced Secret's id.
    pub fn secret(namespace: &str, name: &str) -> Self {
        ObjectId {
            api_version: "v1".to_owned(),
            kind: "Secret".to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// The API group, empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// A CustomResourceDefinition: deleting one deletes every object of its kind, in every
    /// namespace, so openlsp never deletes them (as Helm never does).
    pub fn is_crd(&self) -> bool {
        self.kind == "CustomResourceDefinition" && self.group() == "apiextensions.k8s.io"
    }
}

impl fmt::Display for ObjectId {
    /// `Kind/name`, as kubectl prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Another field manager owns a field openlsp wants to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub manager: String,
    pub field: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_is_a_kind_or_an_annotation() {
        assert!(is_data(
            &json!({ "apiVersion": "v1", "kind": "PersistentVolume" })
        ));
        assert!(!is_data(&json!({ "apiVersion": "v1", "kind": "Secret" })));
        assert!(is_data(&json!({ "apiVersion": "v1", "kind": "Secret",
            "metadata": { "annotations": { "openlsp.io/data": "true" } } })));
    }

    #[test]
    fn annotation_pointers_escape_the_slash() {
        assert_eq!(
            annotation_pointer("/spec/template/metadata", CHECKSUM_ANNOTATION),
            "/spec/template/metadata/annotations/openlsp.io~1config-checksum"
        );
    }
}
