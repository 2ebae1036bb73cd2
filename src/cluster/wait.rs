//! Whether a workload has rolled out and is ready, by the rules kubectl rollout status uses,
//! and whether a CustomResourceDefinition is established (its kind can be served).

use serde_json::Value;

use super::{Cluster, ClusterError, Kind};
use crate::diff::ObjectId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready(String),
    Waiting(String),
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready(_))
    }

    pub fn message(&self) -> &str {
        match self {
            Readiness::Ready(m) | Readiness::Waiting(m) => m,
        }
    }
}

fn number(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// StatefulSet: observedGeneration ≥ generation, updatedReplicas = readyReplicas = replicas.
fn stateful_set(object: &Value) -> Readiness {
    let want = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let observed =
        number(object, "/status/observedGeneration") >= number(object, "/metadata/generation");
    let updated = number(object, "/status/updatedReplicas");
    let ready = number(object, "/status/readyReplicas");
    let message = format!("{ready}/{want} ready, {updated}/{want} updated");
    if observed && updated == want && ready == want {
        Readiness::Ready(message)
    } else if !observed {
        Readiness::Waiting(format!("{message}, controller has not seen the new spec"))
    } else {
        Readiness::Waiting(message)
    }
}

/// Deployment: observedGeneration ≥ generation and condition Available.
fn deployment(object: &Value) -> Readiness {
    let observed =
        number(object, "/status/observedGeneration") >= number(object, "/metadata/generation");
    match condition(object, "Available") {
        Some(condition) if observed && condition["status"] == "True" => {
            Readiness::Ready("available".to_owned())
        }
        Some(condition) => Readiness::Waiting(
            condition["message"]
                .as_str()
                .unwrap_or("not available yet")
                .to_owned(),
        ),
        None => Readiness::Waiting("no status yet".to_owned()),
    }
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
}

/// CustomResourceDefinition: condition Established; a refused name says why it never will be.
fn custom_resource_definition(object: &Value) -> Readiness {
    if condition(object, "Established").is_some_and(|c| c["status"] == "True") {
        return Readiness::Ready("established".to_owned());
    }
    match condition(object, "NamesAccepted") {
        Some(names) if names["status"] == "False" => Readiness::Waiting(format!(
            "names not accepted: {}",
            names["message"].as_str().unwrap_or("no reason given")
        )),
        _ => Readiness::Waiting("not established yet".to_owned()),
    }
}

/// Readiness of a workload or CustomResourceDefinition as the server reports it.
pub fn readiness_of(object: &Value) -> Readiness {
    match object["kind"].as_str() {
        Some("StatefulSet") => stateful_set(object),
        Some("Deployment") => deployment(object),
        Some("CustomResourceDefinition") => custom_resource_definition(object),
        _ => Readiness::Ready("not a workload".to_owned()),
    }
}

impl Cluster {
    pub async fn readiness(&self, kind: &Kind, id: &ObjectId) -> Result<Readiness, ClusterError> {
        let request = self
            .request(kind, id.namespace.as_deref())
            .get(&id.name, &Default::default());
        match self.send(request).await {
            Ok(object) => Ok(readiness_of(&super::write::with_type(object, kind))),
            Err(kube::Error::Api(status)) if status.code == 404 => {
                Ok(Readiness::Waiting("not found".to_owned()))
            }
            Err(err) => Err(self.api_error(format!("read {id}"), err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stateful_set_needs_every_replica_updated_and_ready() {
        let mut sts = json!({ "kind": "StatefulSet", "metadata": { "generation": 2 }, "spec": { "replicas": 1 },
                              "status": { "observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 0 } });
        assert_eq!(
            readiness_of(&sts),
            Readiness::Waiting("0/1 ready, 1/1 updated".into())
        );
        sts["status"]["readyReplicas"] = json!(1);
        assert!(readiness_of(&sts).is_ready());
        sts["metadata"]["generation"] = json!(3);
        assert!(!readiness_of(&sts).is_ready());
    }

    #[test]
    fn a_crd_is_ready_once_established_and_says_why_not() {
        let mut crd = json!({ "kind": "CustomResourceDefinition", "status": { "conditions": [
            { "type": "NamesAccepted", "status": "False", "message": "\"Thing\" is already in use" },
            { "type": "Established", "status": "False" } ] } });
        assert_eq!(
            readiness_of(&crd),
            Readiness::Waiting("names not accepted: \"Thing\" is already in use".into())
        );
        crd["status"] = json!({});
        assert_eq!(
            readiness_of(&crd),
            Readiness::Waiting("not established yet".into())
        );
        crd["status"] = json!({ "conditions": [ { "type": "Established", "status": "True" } ] });
        assert!(readiness_of(&crd).is_ready());
    }

    #[test]
    fn deployment_needs_available() {
        let dep = json!({ "kind": "Deployment", "metadata": { "generation": 1 },
                          "status": { "observedGeneration": 1, "conditions": [ { "type": "Available", "status": "True" } ] } });
        assert!(readiness_of(&dep).is_ready());
    }
}
