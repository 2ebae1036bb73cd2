//! The ApplySet (KEP-3659) that makes openlsp's objects a set kubectl recognises: a parent
//! Secret in the site namespace, and the `part-of` label on every member. Prune deletes only
//! members, so nothing openlsp did not create is ever touched.

use std::collections::BTreeSet;

use base64::Engine as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Cluster, ClusterError};
use crate::object::{APPLIED_HASH_ANNOTATION, ObjectId};

pub const PARENT_NAME: &str = "openlsp-applyset";
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
pub const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
pub const TOOLING_PREFIX: &str = "openlsp/";

/// The ApplySet of one site namespace.
#[derive(Debug, Clone)]
pub struct ApplySet {
    pub namespace: String,
    pub id: String,
}

/// What the parent lists: the kinds of its members, and the namespaces other than its own
/// that members live in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub group_kinds: BTreeSet<String>,
    pub additional_namespaces: BTreeSet<String>,
}

impl Membership {
    /// The kinds and namespaces of `ids`, for the set in `namespace`.
    pub fn of<'a>(namespace: &str, ids: impl IntoIterator<Item = &'a ObjectId>) -> Self {
        let mut membership = Membership::default();
        for id in ids {
            membership.group_kinds.insert(group_kind(id));
            if let Some(other) = id.namespace.as_deref().filter(|ns| *ns != namespace) {
                membership.additional_namespaces.insert(other.to_owned());
            }
        }
        membership
    }

    pub fn union(&self, other: &Membership) -> Membership {
        Membership {
            group_kinds: self
                .group_kinds
                .union(&other.group_kinds)
                .cloned()
                .collect(),
            additional_namespaces: self
                .additional_namespaces
                .union(&other.additional_namespaces)
                .cloned()
                .collect(),
        }
    }
}

/// What the cluster has of the parent.
#[derive(Debug, Clone, Default)]
pub struct ParentState {
    pub exists: bool,
    pub membership: Membership,
    pub tooling: Option<String>,
}

fn joined(items: &BTreeSet<String>) -> String {
    items.iter().cloned().collect::<Vec<_>>().join(",")
}

fn split(list: Option<&String>) -> BTreeSet<String> {
    list.map(|list| {
        list.split(',')
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// `Kind.group`, or just `Kind` for the core group.
pub fn group_kind(id: &ObjectId) -> String {
    match id.group() {
        "" => id.kind.clone(),
        group => format!("{}.{group}", id.kind),
    }
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

impl ApplySet {
    /// `applyset-<base64url(sha256("<name>.<namespace>.Secret."))>-v1`; the core group is empty,
    /// so the hashed text ends with a dot.
    pub fn new(namespace: &str) -> Self {
        let digest = Sha256::digest(format!("{PARENT_NAME}.{namespace}.Secret.").as_bytes());
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        ApplySet {
            namespace: namespace.to_owned(),
            id: format!("applyset-{encoded}-v1"),
        }
    }

    pub fn tooling() -> String {
        format!("{TOOLING_PREFIX}{}", env!("CARGO_PKG_VERSION"))
    }

    /// The parent Secret listing `membership`.
    pub fn parent_manifest(&self, membership: &Membership) -> Value {
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            TOOLING_ANNOTATION.to_owned(),
            Value::String(Self::tooling()),
        );
        annotations.insert(
            GROUP_KINDS_ANNOTATION.to_owned(),
            Value::String(joined(&membership.group_kinds)),
        );
        if !membership.additional_namespaces.is_empty() {
            annotations.insert(
                NAMESPACES_ANNOTATION.to_owned(),
                Value::String(joined(&membership.additional_namespaces)),
            );
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": PARENT_NAME,
                "namespace": self.namespace,
                "labels": {
                    ID_LABEL: self.id,
                    "app.kubernetes.io/managed-by": "openlsp",
                },
                "annotations": annotations,
            },
            "type": "Opaque",
        })
    }

    /// The manifest as openlsp sends it: the member label, and the hash of everything else,
    /// which lets a later run skip objects that provably did not change. The plan checked that
    /// metadata, labels and annotations are maps; anything else is reported, never a panic.
    pub fn desired(&self, planned: Value) -> Result<Value, ClusterError> {
        fn map<'a>(
            parent: &'a mut serde_json::Map<String, Value>,
            key: &str,
        ) -> Result<&'a mut serde_json::Map<String, Value>, ClusterError> {
            parent
                .entry(key)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .ok_or_else(|| {
                    ClusterError::Unresolved(format!("an object whose metadata.{key} is not a map"))
                })
        }
        let mut manifest = planned;
        let Some(object) = manifest.as_object_mut() else {
            return Err(ClusterError::Unresolved(
                "an object that is not a map".to_owned(),
            ));
        };
        let metadata = map(object, "metadata")?;
        map(metadata, "labels")?.insert(PART_OF_LABEL.to_owned(), Value::String(self.id.clone()));
        let hash = hex::encode(Sha256::digest(
            serde_json::to_vec(&canonical(&manifest)).unwrap_or_default(),
        ));
        if let Some(object) = manifest.as_object_mut() {
            let metadata = map(object, "metadata")?;
            map(metadata, "annotations")?
                .insert(APPLIED_HASH_ANNOTATION.to_owned(), Value::String(hash));
        }
        Ok(manifest)
    }

    /// Whether a live object is a member of this set.
    pub fn is_member(&self, live: &Value) -> bool {
        live.pointer(&format!(
            "/metadata/labels/{}",
            PART_OF_LABEL.replace('/', "~1")
        ))
        .and_then(Value::as_str)
            == Some(self.id.as_str())
    }
}

impl Cluster {
    fn secrets(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client(),
            namespace,
            &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        )
    }

    /// Reads the parent; refuses one another tool owns.
    pub async fn read_parent(&self, set: &ApplySet) -> Result<ParentState, ClusterError> {
        let found = self
            .secrets(&set.namespace)
            .get_opt(PARENT_NAME)
            .await
            .map_err(|err| {
                self.api_error(format!("read Secret {}/{PARENT_NAME}", set.namespace), err)
            })?;
        let Some(parent) = found else {
            return Ok(ParentState::default());
        };
        let annotations = parent.metadata.annotations.clone().unwrap_or_default();
        let tooling = annotations.get(TOOLING_ANNOTATION).cloned();
        let id = parent
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(ID_LABEL))
            .cloned();
        let ours = tooling
            .as_deref()
            .is_some_and(|t| t.starts_with(TOOLING_PREFIX))
            && id.as_deref() == Some(set.id.as_str());
        if !ours {
            return Err(ClusterError::ForeignParent {
                namespace: set.namespace.clone(),
                name: PARENT_NAME.to_owned(),
                owner: match tooling {
                    Some(tooling) if !tooling.starts_with(TOOLING_PREFIX) => {
                        format!("is the ApplySet parent of {tooling:?}, not openlsp")
                    }
                    Some(_) => format!(
                        "is an openlsp ApplySet parent, but of another set (label {ID_LABEL} is {:?}, not {:?})",
                        id.unwrap_or_default(),
                        set.id
                    ),
                    None => format!(
                        "is not an ApplySet parent openlsp made (it has no {TOOLING_ANNOTATION} annotation)"
                    ),
                },
            });
        }
        let membership = Membership {
            group_kinds: split(annotations.get(GROUP_KINDS_ANNOTATION)),
            additional_namespaces: split(annotations.get(NAMESPACES_ANNOTATION)),
        };
        Ok(ParentState {
            exists: true,
            membership,
            tooling,
        })
    }

    /// Server-side applies the parent listing `membership`, unless it already says exactly that.
    /// Returns whether it wrote.
    pub async fn write_parent(
        &self,
        set: &ApplySet,
        current: &ParentState,
        membership: &Membership,
    ) -> Result<bool, ClusterError> {
        let up_to_date = current.exists
            && current.membership == *membership
            && current.tooling.as_deref() == Some(ApplySet::tooling().as_str());
        if up_to_date {
            return Ok(false);
        }
        let params = PatchParams::apply(self.manager).force();
        self.secrets(&set.namespace)
            .patch(
                PARENT_NAME,
                &params,
                &Patch::Apply(&set.parent_manifest(membership)),
            )
            .await
            .map_err(|err| {
                self.api_error(
                    format!("update the ApplySet parent {}/{PARENT_NAME}", set.namespace),
                    err,
                )
            })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_kep_3659() {
        let set = ApplySet::new("openlsp");
        let digest = Sha256::digest(b"openlsp-applyset.openlsp.Secret.");
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        assert_eq!(set.id, format!("applyset-{expected}-v1"));
        assert!(!set.id.contains('='));
    }

    #[test]
    fn desired_adds_the_label_and_a_stable_hash() {
        let set = ApplySet::new("ns");
        let a = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "x", "namespace": "ns" }, "data": { "a": "1", "b": "2" } });
        let b = json!({ "kind": "ConfigMap", "apiVersion": "v1", "data": { "b": "2", "a": "1" }, "metadata": { "namespace": "ns", "name": "x" } });
        let (da, db) = (set.desired(a).unwrap(), set.desired(b).unwrap());
        assert_eq!(da, db, "key order must not change the hash");
        assert!(set.is_member(&da));
        let changed = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "x", "namespace": "ns" }, "data": { "a": "1", "b": "3" } });
        assert_ne!(
            da["metadata"]["annotations"][APPLIED_HASH_ANNOTATION],
            set.desired(changed).unwrap()["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
        );
    }

    #[test]
    fn desired_reports_metadata_that_is_not_a_map_instead_of_panicking() {
        let set = ApplySet::new("ns");
        for bad in [
            json!({ "metadata": { "name": "x", "labels": "app" } }),
            json!({ "metadata": { "name": "x", "annotations": ["a"] } }),
            json!({ "metadata": "x" }),
            json!("x"),
        ] {
            assert!(set.desired(bad).is_err());
        }
        let empty = set.desired(json!({ "metadata": { "name": "x" } })).unwrap();
        assert!(set.is_member(&empty));
    }

    #[test]
    fn membership_lists_kinds_and_other_namespaces() {
        let id = |api_version: &str, kind: &str, namespace: Option<&str>| ObjectId {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: "x".into(),
        };
        let ids = [
            id("v1", "ConfigMap", Some("site")),
            id("v1", "ConfigMap", Some("observability")),
            id("v1", "PersistentVolume", None),
        ];
        let membership = Membership::of("site", ids.iter());
        assert_eq!(
            membership.group_kinds,
            ["ConfigMap", "PersistentVolume"].map(String::from).into()
        );
        assert_eq!(
            membership.additional_namespaces,
            ["observability"].map(String::from).into()
        );
        let manifest = ApplySet::new("site").parent_manifest(&membership);
        assert_eq!(
            manifest["metadata"]["annotations"][NAMESPACES_ANNOTATION],
            "observability"
        );
        let without = ApplySet::new("site").parent_manifest(&Membership::default());
        assert!(
            without["metadata"]["annotations"]
                .get(NAMESPACES_ANNOTATION)
                .is_none()
        );
    }

    #[test]
    fn union_lists_old_and_new_kinds_and_namespaces() {
        let set = |kinds: &[&str], namespaces: &[&str]| Membership {
            group_kinds: kinds.iter().map(|k| k.to_string()).collect(),
            additional_namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        };
        let old = set(&["ConfigMap", "Deployment.apps"], &["observability"]);
        let new = set(&["ConfigMap", "StatefulSet.apps"], &[]);
        let union = old.union(&new);
        assert_eq!(
            union,
            set(
                &["ConfigMap", "Deployment.apps", "StatefulSet.apps"],
                &["observability"]
            )
        );
        assert_eq!(union, new.union(&old), "order does not matter");
        assert_eq!(new.union(&new), new);
        let manifest = ApplySet::new("site").parent_manifest(&union);
        assert_eq!(
            manifest["metadata"]["annotations"][GROUP_KINDS_ANNOTATION],
            "ConfigMap,Deployment.apps,StatefulSet.apps"
        );
        assert_eq!(
            manifest["metadata"]["annotations"][NAMESPACES_ANNOTATION],
            "observability"
        );
    }

    #[test]
    fn group_kinds_use_the_applyset_spelling() {
        let id = |api_version: &str, kind: &str| ObjectId {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: None,
            name: "x".into(),
        };
        assert_eq!(group_kind(&id("v1", "Secret")), "Secret");
        assert_eq!(
            group_kind(&id("apps/v1", "StatefulSet")),
            "StatefulSet.apps"
        );
    }
}
