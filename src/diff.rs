//! Pure comparison of planned and live objects: what `diff` shows and `apply` would do. Secret
//! values are masked here, before any text exists, so no caller can print one by mistake.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::object::APPLIED_HASH_ANNOTATION;
pub use crate::object::{Conflict, ObjectId};

/// Metadata the server owns; never part of a comparison.
pub const SERVER_METADATA: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
];
/// kubectl's client-side record of a Secret includes its values; masked like `data`.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
pub const MASK: &str = "***";

/// Why a planned object was not dry-run: the cluster does not serve its kind yet.
pub const AWAITS_CRD_NOTE: &str = "not dry-run: the cluster serves this kind only once the plan's CustomResourceDefinition is applied";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Change,
    Prune,
    /// In the cluster, no longer planned, but holds data: left alone.
    Keep,
    Unchanged,
}

/// What happens to one object. `before` and `after` are stripped and masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub id: ObjectId,
    pub action: Action,
    pub data: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// What the operator should know about this change (e.g. why it was not dry-run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    #[serde(skip)]
    pub before: Option<Value>,
    #[serde(skip)]
    pub after: Option<Value>,
}

/// What was observed of one planned or managed object.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    /// The planned manifest, if the plan has this object.
    pub planned: Option<&'a Value>,
    /// The object as the cluster has it now (not kept when provably unchanged).
    pub live: Option<Value>,
    /// The server's result of applying `planned` (dry run).
    pub dry_run: Option<Value>,
    /// The live object already has exactly what openlsp would send.
    pub unchanged: bool,
    pub conflicts: Vec<Conflict>,
    /// Objects holding data are never pruned.
    pub data: bool,
    /// Its kind is defined by a CustomResourceDefinition of the plan that the cluster does not
    /// serve yet, so the server could not dry-run it.
    pub awaits_crd: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub change: usize,
    pub prune: usize,
    pub kept: usize,
    pub unchanged: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Plan: {} to create, {} to change, {} to prune, {} kept (data), {} unchanged",
            self.create, self.change, self.prune, self.kept, self.unchanged
        )
    }
}

/// Every object's change, in apply order for planned objects, then prunes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
}

impl ChangeSet {
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::Create => summary.create += 1,
                Action::Change => summary.change += 1,
                Action::Prune => summary.prune += 1,
                Action::Keep => summary.kept += 1,
                Action::Unchanged => summary.unchanged += 1,
            }
        }
        summary
    }

    /// Whether applying would write anything (kept data objects are not a difference).
    pub fn has_differences(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c.action, Action::Create | Action::Change | Action::Prune))
    }

    pub fn conflicts(&self) -> impl Iterator<Item = (&ObjectId, &Conflict)> {
        self.changes
            .iter()
            .flat_map(|c| c.conflicts.iter().map(move |conflict| (&c.id, conflict)))
    }

    pub fn with_action(&self, action: Action) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.action == action)
    }
}

/// Removes what the server owns: status, server metadata, the applied hash.
pub fn strip(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_METADATA {
            metadata.remove(field);
        }
        let empty = match metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            Some(annotations) => {
                annotations.remove(APPLIED_HASH_ANNOTATION);
                annotations.is_empty()
            }
            None => false,
        };
        if empty {
            metadata.remove("annotations");
        }
    }
    object
}

fn secret_values(object: &Value) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    for field in ["data", "stringData"] {
        if let Some(map) = object.get(field).and_then(Value::as_object) {
            for (key, value) in map {
                values.insert(format!("{field}/{key}"), value.clone());
            }
        }
    }
    if let Some(last) = object.pointer(&format!(
        "/metadata/annotations/{}",
        LAST_APPLIED.replace('/', "~1")
    )) {
        values.insert("last-applied".to_owned(), last.clone());
    }
    values
}

/// Replaces Secret values in `before` and `after`: `***` where equal, `*** (before)` and
/// `*** (after)` where they differ.
pub fn mask_secrets(before: Option<&mut Value>, after: Option<&mut Value>) {
    let old = before.as_deref().map(secret_values).unwrap_or_default();
    let new = after.as_deref().map(secret_values).unwrap_or_default();
    let same = |key: &str| old.contains_key(key) && old.get(key) == new.get(key);
    let masked = |key: &str, suffix: &str| {
        Value::String(if same(key) {
            MASK.to_owned()
        } else {
            format!("{MASK} ({suffix})")
        })
    };
    let mask = |object: &mut Value, suffix: &str| {
        for field in ["data", "stringData"] {
            if let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) {
                for (key, value) in map.iter_mut() {
                    *value = masked(&format!("{field}/{key}"), suffix);
                }
            }
        }
        let pointer = format!("/metadata/annotations/{}", LAST_APPLIED.replace('/', "~1"));
        if let Some(value) = object.pointer_mut(&pointer) {
            *value = masked("last-applied", suffix);
        }
    };
    if let Some(object) = before {
        mask(object, "before");
    }
    if let Some(object) = after {
        mask(object, "after");
    }
}

/// Whether every field set in `desired` has the same value in `live`.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Null, _) => true,
        (Value::Object(want), Value::Object(have)) => want.iter().all(|(key, value)| {
            have.get(key).is_some_and(|h| is_subset(value, h)) || value.is_null()
        }),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| is_subset(w, h))
        }
        _ => desired == live,
    }
}

/// How much of each object a change set keeps for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Whole new objects and objects to prune too (`diff` prints them).
    Everything,
    /// Only the two sides of changed objects (`apply` lists creates and prunes by name).
    ChangesOnly,
}

/// Classifies each observation. Data objects the plan dropped are kept, not pruned.
pub fn compute(observations: &[(ObjectId, Observation<'_>)], detail: Detail) -> ChangeSet {
    let mut changes = Vec::new();
    for (id, observation) in observations {
        let is_secret = id.kind == "Secret";
        let Observation {
            planned,
            live,
            dry_run,
            unchanged,
            conflicts,
            data,
            awaits_crd,
        } = observation;
        let data = *data;
        let conflicts = conflicts.clone();
        let (action, mut before, mut after) = match (planned, live) {
            (Some(_), _) if *unchanged => (Action::Unchanged, None, None),
            (None, None) => continue,
            (None, Some(live)) => {
                let action = if data { Action::Keep } else { Action::Prune };
                let before = (detail == Detail::Everything).then(|| strip(live));
                (action, before, None)
            }
            (Some(planned), None) => (
                Action::Create,
                None,
                (detail == Detail::Everything).then(|| strip(dry_run.as_ref().unwrap_or(*planned))),
            ),
            (Some(_), Some(live)) => match dry_run {
                None if conflicts.is_empty() => (Action::Unchanged, None, None),
                None => (Action::Change, Some(strip(live)), None),
                Some(result) => {
                    let (before, after) = (strip(live), strip(result));
                    if before == after && conflicts.is_empty() {
                        (Action::Unchanged, None, None)
                    } else {
                        (Action::Change, Some(before), Some(after))
                    }
                }
            },
        };
        if is_secret {
            mask_secrets(before.as_mut(), after.as_mut());
        }
        changes.push(Change {
            id: id.clone(),
            action,
            data,
            conflicts,
            note: awaits_crd.then_some(AWAITS_CRD_NOTE),
            before,
            after,
        });
    }
    ChangeSet { changes }
}

/// Sorts object keys recursively, so YAML renderings of two versions line up.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted_map: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(
                sorted_map
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn yaml(value: Option<&Value>) -> String {
    value
        .map(|v| serde_yaml::to_string(&sorted(v)).expect("JSON values serialize to YAML"))
        .unwrap_or_default()
}

/// A unified diff of one change (`-` live, `+` planned); empty when nothing is to show.
pub fn unified(change: &Change) -> String {
    if !matches!(change.action, Action::Create | Action::Change) {
        return String::new();
    }
    let (before, after) = (yaml(change.before.as_ref()), yaml(change.after.as_ref()));
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("live {}", change.id),
            &format!("planned {}", change.id),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(kind: &str, name: &str) -> ObjectId {
        ObjectId {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    #[test]
    fn strip_removes_server_fields_and_the_hash() {
        let live = json!({
            "metadata": { "name": "a", "uid": "u", "resourceVersion": "1", "managedFields": [],
                          "annotations": { APPLIED_HASH_ANNOTATION: "h" } },
            "status": { "phase": "Active" }, "spec": { "x": 1 }
        });
        assert_eq!(
            strip(&live),
            json!({ "metadata": { "name": "a" }, "spec": { "x": 1 } })
        );
    }

    #[test]
    fn secrets_are_masked_by_comparison() {
        let mut before = json!({ "data": { "same": "c2FtZQ==", "old": "b2xk", "gone": "eA==" } });
        let mut after = json!({ "data": { "same": "c2FtZQ==", "old": "bmV3", "added": "eQ==" } });
        mask_secrets(Some(&mut before), Some(&mut after));
        assert_eq!(before["data"]["same"], "***");
        assert_eq!(after["data"]["same"], "***");
        assert_eq!(before["data"]["old"], "*** (before)");
        assert_eq!(after["data"]["old"], "*** (after)");
        assert_eq!(before["data"]["gone"], "*** (before)");
        assert_eq!(after["data"]["added"], "*** (after)");
        let text = format!("{before}{after}");
        for value in ["c2FtZQ==", "b2xk", "bmV3", "eA==", "eQ=="] {
            assert!(!text.contains(value));
        }
    }

    #[test]
    fn string_data_and_kubectls_last_applied_record_are_masked() {
        let record = r#"{"apiVersion":"v1","data":{"password":"c2VjcmV0"},"kind":"Secret"}"#;
        let mut before = json!({ "metadata": { "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": record } },
            "data": { "password": "c2VjcmV0" } });
        let mut after = json!({ "metadata": { "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": record } },
            "stringData": { "token": "plain-text-token" } });
        mask_secrets(Some(&mut before), Some(&mut after));
        let annotation = "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration";
        assert_eq!(before.pointer(annotation).unwrap(), "***");
        assert_eq!(after.pointer(annotation).unwrap(), "***");
        assert_eq!(after["stringData"]["token"], "*** (after)");
        let text = format!("{before}{after}");
        assert!(!text.contains("c2VjcmV0") && !text.contains("plain-text-token"));
    }

    #[test]
    fn an_object_awaiting_its_crd_is_a_create_that_says_why_it_was_not_dry_run() {
        let issuer = json!({ "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                             "metadata": { "name": "x", "namespace": "ns" }, "spec": {} });
        let set = compute(
            &[(
                ObjectId::of(&issuer).unwrap(),
                Observation {
                    planned: Some(&issuer),
                    awaits_crd: true,
                    ..Default::default()
                },
            )],
            Detail::Everything,
        );
        assert_eq!(set.changes[0].action, Action::Create);
        assert_eq!(set.changes[0].note, Some(AWAITS_CRD_NOTE));
        assert!(unified(&set.changes[0]).contains("+kind: Issuer"));
        let json = serde_json::to_value(&set).unwrap();
        assert_eq!(json["changes"][0]["note"], AWAITS_CRD_NOTE);
    }

    #[test]
    fn subset_ignores_server_defaults_but_not_changed_values() {
        let desired = json!({ "spec": { "replicas": 1, "ports": [ { "port": 1 } ] } });
        let live = json!({ "spec": { "replicas": 1, "revisionHistoryLimit": 10,
                                     "ports": [ { "port": 1, "protocol": "TCP" } ] } });
        assert!(is_subset(&desired, &live));
        let edited = json!({ "spec": { "replicas": 2, "ports": [ { "port": 1 } ] } });
        assert!(!is_subset(&desired, &edited));
        let fewer = json!({ "spec": { "replicas": 1, "ports": [] } });
        assert!(!is_subset(&desired, &fewer));
    }

    #[test]
    fn classification_and_summary() {
        let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "a" }, "data": { "k": "1" } });
        let cm2 = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "a" }, "data": { "k": "2" } });
        let set = compute(
            &[
                (
                    id("ConfigMap", "new"),
                    Observation {
                        planned: Some(&cm),
                        ..Default::default()
                    },
                ),
                (
                    id("ConfigMap", "same"),
                    Observation {
                        planned: Some(&cm),
                        unchanged: true,
                        ..Default::default()
                    },
                ),
                (
                    id("ConfigMap", "edit"),
                    Observation {
                        planned: Some(&cm2),
                        live: Some(cm.clone()),
                        dry_run: Some(cm2.clone()),
                        ..Default::default()
                    },
                ),
                (
                    id("ConfigMap", "old"),
                    Observation {
                        live: Some(cm.clone()),
                        ..Default::default()
                    },
                ),
                (
                    id("PersistentVolumeClaim", "data"),
                    Observation {
                        live: Some(cm.clone()),
                        data: true,
                        ..Default::default()
                    },
                ),
            ],
            Detail::Everything,
        );
        assert_eq!(
            set.summary().to_string(),
            "Plan: 1 to create, 1 to change, 1 to prune, 1 kept (data), 1 unchanged"
        );
        assert!(set.has_differences());
        let edit = set.changes.iter().find(|c| c.id.name == "edit").unwrap();
        let text = unified(edit);
        assert!(
            text.contains("-  k: '1'") && text.contains("+  k: '2'"),
            "{text}"
        );
    }

    #[test]
    fn kept_data_alone_is_not_a_difference() {
        let set = compute(
            &[(
                id("PersistentVolumeClaim", "data"),
                Observation {
                    live: Some(json!({})),
                    data: true,
                    ..Default::default()
                },
            )],
            Detail::ChangesOnly,
        );
        assert!(!set.has_differences());
    }
}
