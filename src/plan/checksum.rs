//! Rolls pods when their configuration changes: each workload's pod template gets a SHA-256
//! over the ConfigMaps and Secrets it consumes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::planned::PlannedObject;
use crate::object::CHECKSUM_ANNOTATION;

const WORKLOADS: [&str; 4] = ["StatefulSet", "Deployment", "DaemonSet", "Job"];

/// ConfigMaps and Secrets a pod spec references, as (kind, name).
pub fn consumed_objects(pod_spec: &Value) -> BTreeSet<(&'static str, String)> {
    let mut found = BTreeSet::new();
    let mut add = |kind: &'static str, name: Option<&Value>| {
        if let Some(name) = name.and_then(Value::as_str) {
            found.insert((kind, name.to_owned()));
        }
    };
    for volume in array(pod_spec.get("volumes")) {
        add("ConfigMap", volume.pointer("/configMap/name"));
        add("Secret", volume.pointer("/secret/secretName"));
        for source in array(volume.pointer("/projected/sources")) {
            add("ConfigMap", source.pointer("/configMap/name"));
            add("Secret", source.pointer("/secret/name"));
        }
    }
    let containers = array(pod_spec.get("containers"))
        .into_iter()
        .chain(array(pod_spec.get("initContainers")));
    for container in containers {
        for env in array(container.get("env")) {
            add("ConfigMap", env.pointer("/valueFrom/configMapKeyRef/name"));
            add("Secret", env.pointer("/valueFrom/secretKeyRef/name"));
        }
        for source in array(container.get("envFrom")) {
            add("ConfigMap", source.pointer("/configMapRef/name"));
            add("Secret", source.pointer("/secretRef/name"));
        }
    }
    found
}

fn array(value: Option<&Value>) -> Vec<&Value> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
        .unwrap_or_default()
}

/// Hash of the data of the consumed objects that the plan contains, in a canonical order.
fn checksum(
    consumed: &BTreeSet<(&str, String)>,
    objects: &[PlannedObject],
    namespace: Option<&str>,
) -> String {
    let mut hasher = Sha256::new();
    for (kind, name) in consumed {
        let Some(object) = objects
            .iter()
            .find(|o| o.kind == *kind && o.name == *name && o.namespace.as_deref() == namespace)
        else {
            continue;
        };
        hasher.update(format!("{kind}/{name}\n"));
        for field in ["data", "binaryData", "stringData"] {
            if let Some(Value::Object(map)) = object.manifest.get(field) {
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                hasher.update(field);
                hasher.update(serde_json::to_vec(&sorted).expect("JSON values serialize"));
            }
        }
    }
    hex::encode(hasher.finalize())
}

/// Sets the checksum annotation on every workload's pod template.
pub fn annotate_workloads(objects: &mut [PlannedObject]) {
    let updates: Vec<(usize, String)> = objects
        .iter()
        .enumerate()
        .filter(|(_, object)| WORKLOADS.contains(&object.kind.as_str()))
        .filter_map(|(i, object)| {
            let pod_spec = object.manifest.pointer("/spec/template/spec")?;
            let consumed = consumed_objects(pod_spec);
            Some((i, checksum(&consumed, objects, object.namespace.as_deref())))
        })
        .collect();
    for (i, sum) in updates {
        let Some(template) = objects[i].manifest.pointer_mut("/spec/template") else {
            continue;
        };
        let Some(template) = template.as_object_mut() else {
            continue;
        };
        let metadata = template
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(metadata) = metadata.as_object_mut() {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert(CHECKSUM_ANNOTATION.to_owned(), Value::String(sum));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_every_kind_of_reference() {
        let pod = json!({
            "volumes": [
                { "name": "a", "configMap": { "name": "cm" } },
                { "name": "b", "secret": { "secretName": "s1" } },
                { "name": "c", "projected": { "sources": [ { "secret": { "name": "s2" } } ] } }
            ],
            "containers": [ {
                "env": [ { "name": "P", "valueFrom": { "secretKeyRef": { "name": "s3", "key": "k" } } } ],
                "envFrom": [ { "configMapRef": { "name": "cm2" } } ]
            } ]
        });
        let found: Vec<_> = consumed_objects(&pod).into_iter().collect();
        assert_eq!(
            found,
            vec![
                ("ConfigMap", "cm".to_owned()),
                ("ConfigMap", "cm2".to_owned()),
                ("Secret", "s1".to_owned()),
                ("Secret", "s2".to_owned()),
                ("Secret", "s3".to_owned()),
            ]
        );
    }
}
