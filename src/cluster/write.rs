//! Server-side apply (dry run or real) with field manager `openlsp` (the controller's own when it
//! writes), and deletion. Conflicts with other field managers come back per field, with the
//! manager's name.

use kube::Resource as _;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use serde_json::Value;

use super::{Cluster, ClusterError, Kind};
use crate::diff::{Conflict, ObjectId};

/// What a server-side apply returned.
#[derive(Debug)]
pub enum Applied {
    /// The object as the server has it (or would have it, for a dry run).
    Object(Value),
    /// Other managers own fields we set; nothing was written.
    Conflicts(Vec<Conflict>),
}

/// `conflict with "kubectl-edit" using apps/v1` → `kubectl-edit`.
fn manager_of(message: &str) -> String {
    message
        .split('"')
        .nth(1)
        .map_or_else(|| message.to_owned(), str::to_owned)
}

fn conflicts_of(status: &kube::core::Status) -> Vec<Conflict> {
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    let mut conflicts: Vec<Conflict> = causes
        .iter()
        .filter(|cause| !cause.field.is_empty())
        .map(|cause| Conflict {
            manager: manager_of(&cause.message),
            field: cause.field.clone(),
        })
        .collect();
    if conflicts.is_empty() {
        conflicts.push(Conflict {
            manager: manager_of(&status.message),
            field: status.message.clone(),
        });
    }
    conflicts
}

impl Cluster {
    pub(super) fn api(&self, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        match (kind.namespaced, namespace) {
            (true, Some(namespace)) => {
                Api::namespaced_with(self.client(), namespace, &kind.resource)
            }
            _ => Api::all_with(self.client(), &kind.resource),
        }
    }

    /// A request builder for a kind's endpoint. Responses are parsed straight into JSON, not
    /// through `DynamicObject`, whose flattened fields cost time and memory on big lists.
    pub(super) fn request(&self, kind: &Kind, namespace: Option<&str>) -> kube::core::Request {
        let namespace = if kind.namespaced { namespace } else { None };
        kube::core::Request::new(DynamicObject::url_path(&kind.resource, namespace))
    }

    /// Sends a built request and parses the JSON response.
    pub(super) async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<Value, kube::Error> {
        let request = request.map_err(kube::Error::BuildRequest)?;
        self.client().request::<Value>(request).await
    }

    /// Server-side applies `manifest`. Without `force`, fields owned by other managers are
    /// reported as conflicts instead of taken over.
    pub async fn apply_object(
        &self,
        kind: &Kind,
        manifest: &Value,
        dry_run: bool,
        force: bool,
    ) -> Result<Applied, ClusterError> {
        let id = ObjectId::of(manifest).expect("planned objects have an id");
        let mut params = PatchParams::apply(self.manager);
        params.dry_run = dry_run;
        params.force = force;
        let request = self.request(kind, id.namespace.as_deref()).patch(
            &id.name,
            &params,
            &Patch::Apply(manifest),
        );
        match self.send(request).await {
            Ok(object) => Ok(Applied::Object(with_type(object, kind))),
            Err(kube::Error::Api(status)) if status.code == 409 && !force => {
                Ok(Applied::Conflicts(conflicts_of(&status)))
            }
            Err(err) => Err(self.api_error(
                format!("{}apply {id}", if dry_run { "dry-run " } else { "" }),
                err,
            )),
        }
    }

    /// Deletes an object if it is still the one we saw (same uid); a missing object is fine.
    pub async fn delete_object(
        &self,
        kind: &Kind,
        id: &ObjectId,
        uid: Option<&str>,
    ) -> Result<(), ClusterError> {
        let mut params = DeleteParams::background();
        if let Some(uid) = uid {
            params = params.preconditions(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            });
        }
        match self
            .api(kind, id.namespace.as_deref())
            .delete(&id.name, &params)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => Err(self.api_error(format!("delete {id}"), err)),
        }
    }
}

/// An object with its apiVersion and kind set (list items come without them).
pub(super) fn with_type(mut value: Value, kind: &Kind) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "apiVersion".to_owned(),
            Value::String(kind.resource.api_version.clone()),
        );
        map.insert("kind".to_owned(), Value::String(kind.resource.kind.clone()));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_name_the_manager_and_field() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 409, "reason": "Conflict",
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
            "details": { "causes": [ {
                "reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-edit\" using apps/v1",
                "field": ".spec.replicas"
            } ] }
        }))
        .unwrap();
        assert_eq!(
            conflicts_of(&status),
            vec![Conflict {
                manager: "kubectl-edit".into(),
                field: ".spec.replicas".into()
            }]
        );
    }
}
