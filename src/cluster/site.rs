//! The `Site` custom resources: finding the one that manages a namespace, writing its status
//! (the status subresource, so a report never bumps the generation), creating one from a
//! profile, and the Events the controller records on it.

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{Cluster, ClusterError};
use crate::controller::resource;

/// Who the controller's Events name as their source.
pub const EVENT_COMPONENT: &str = "openlsp-controller";

impl Cluster {
    pub(super) fn sites(&self, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = resource::api_resource();
        match namespace {
            Some(namespace) => Api::namespaced_with(self.client(), namespace, &resource),
            None => Api::all_with(self.client(), &resource),
        }
    }

    /// Whether the cluster serves Sites (the CRD is installed).
    pub async fn serves_sites(&self) -> Result<bool, ClusterError> {
        Ok(self
            .served_kind(
                &format!("{}/{}", resource::GROUP, resource::VERSION),
                resource::KIND,
            )
            .await?
            .is_some())
    }

    /// The Site in `namespace`, if the cluster serves Sites and one is there.
    pub async fn site_in(&self, namespace: &str) -> Result<Option<Value>, ClusterError> {
        if !self.serves_sites().await? {
            return Ok(None);
        }
        let list = self
            .sites(Some(namespace))
            .list(&ListParams::default())
            .await
            .map_err(|err| self.api_error(format!("list Sites in {namespace}"), err))?;
        Ok(list
            .items
            .into_iter()
            .next()
            .map(|site| serde_json::to_value(site).unwrap_or_default()))
    }

    /// Every object of `kind` in `namespace` (every one, for a cluster-scoped kind), as `status`
    /// reads them.
    pub async fn list_objects(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let kind = self.kind(api_version, kind).await?;
        self.list_kind(&kind, namespace).await
    }

    /// Merges `status` into a Site's status.
    pub async fn patch_site_status(
        &self,
        namespace: &str,
        name: &str,
        status: &Value,
    ) -> Result<(), ClusterError> {
        self.sites(Some(namespace))
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": status })),
            )
            .await
            .map(drop)
            .map_err(|err| {
                self.api_error(format!("update the status of Site {namespace}/{name}"), err)
            })
    }

    /// Creates or updates a Site from a profile document (server-side apply).
    pub async fn apply_site(&self, namespace: &str, document: &Value) -> Result<(), ClusterError> {
        let name = document["metadata"]["name"].as_str().unwrap_or_default();
        let mut manifest = document.clone();
        manifest["metadata"]["namespace"] = Value::String(namespace.to_owned());
        self.sites(Some(namespace))
            .patch(
                name,
                &PatchParams::apply(self.manager),
                &Patch::Apply(&manifest),
            )
            .await
            .map(drop)
            .map_err(|err| self.api_error(format!("apply Site {namespace}/{name}"), err))
    }

    /// Records an Event on `site` (`kind` is `Normal` or `Warning`), as `kubectl describe`
    /// shows them.
    pub async fn record_event(
        &self,
        site: &Value,
        kind: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), ClusterError> {
        let namespace = site["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = site["metadata"]["name"].as_str().unwrap_or_default();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": { "generateName": format!("{name}."), "namespace": namespace },
            "involvedObject": {
                "apiVersion": site["apiVersion"],
                "kind": site["kind"],
                "name": name,
                "namespace": namespace,
                "uid": site["metadata"]["uid"],
                "resourceVersion": site["metadata"]["resourceVersion"],
            },
            "reason": reason,
            // The API server refuses longer messages.
            "message": message.chars().take(1000).collect::<String>(),
            "type": kind,
            "source": { "component": EVENT_COMPONENT },
            "reportingComponent": EVENT_COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        let event: k8s_openapi::api::core::v1::Event =
            serde_json::from_value(event).map_err(|err| ClusterError::Api {
                action: format!("record an Event on Site {namespace}/{name}"),
                code: 0,
                message: err.to_string(),
            })?;
        Api::<k8s_openapi::api::core::v1::Event>::namespaced(self.client(), namespace)
            .create(&PostParams::default(), &event)
            .await
            .map(drop)
            .map_err(|err| {
                self.api_error(format!("record an Event on Site {namespace}/{name}"), err)
            })
    }
}
