//! Reading Secrets that exist only in the cluster (the seed, the macaroons) and the Secrets
//! `secrets pull` rebuilds the state dir from; recording that a seed was revealed.

use std::collections::BTreeMap;

use base64::Engine as _;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::{Cluster, ClusterError, Kind};
use crate::diff::ObjectId;
use crate::object::{GENERATION_ANNOTATION, annotation};
use crate::secrets::credential_check::LiveSecret;

/// Field manager of annotations openlsp records outside the plan, so `apply` leaves them.
pub const RECORD_MANAGER: &str = "openlsp-record";

/// A Secret's `data`, decoded.
fn decode_data(
    secret: &Value,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, ClusterError> {
    let mut data = BTreeMap::new();
    if let Some(map) = secret.get("data").and_then(Value::as_object) {
        for (key, value) in map {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap_or_default())
                .map_err(|err| ClusterError::Api {
                    action: format!("read Secret {namespace}/{name}"),
                    code: 0,
                    message: format!("key {key} is not base64: {err}"),
                })?;
            data.insert(key.clone(), decoded);
        }
    }
    Ok(data)
}

impl Cluster {
    async fn secret_kind(&self) -> Result<Kind, ClusterError> {
        self.kind("v1", "Secret").await
    }

    /// Every Secret of `namespace` (none if it does not exist), decoded, with its generation.
    pub async fn live_secrets(
        &self,
        namespace: &str,
    ) -> Result<BTreeMap<String, LiveSecret>, ClusterError> {
        let kind = self.secret_kind().await?;
        let mut secrets = BTreeMap::new();
        for secret in self.list_kind(&kind, namespace).await? {
            let Some(name) = secret.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let generation = annotation(&secret, GENERATION_ANNOTATION)
                .and_then(|text| text.parse().ok())
                .unwrap_or(0);
            let data = decode_data(&secret, namespace, name)?;
            secrets.insert(name.to_owned(), LiveSecret { data, generation });
        }
        Ok(secrets)
    }

    /// A Secret's keys and decoded values, or None if it does not exist.
    pub async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, ClusterError> {
        let Some(secret) = self
            .get_object(&self.secret_kind().await?, namespace, name)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(decode_data(&secret, namespace, name)?))
    }

    /// When a Secret was last written: the latest time in its managedFields, else its
    /// creationTimestamp. None if it does not exist or carries neither.
    pub async fn secret_changed_at(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<time::OffsetDateTime>, ClusterError> {
        let Some(secret) = self
            .get_object(&self.secret_kind().await?, namespace, name)
            .await?
        else {
            return Ok(None);
        };
        let parse = |value: &Value| {
            value.as_str().and_then(|text| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .ok()
            })
        };
        let metadata = &secret["metadata"];
        let written = metadata["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| parse(&entry["time"]))
            .max();
        Ok(written.or_else(|| parse(&metadata["creationTimestamp"])))
    }

    /// An object as the server has it, or None.
    pub async fn get_object(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let request = self
            .request(kind, Some(namespace))
            .get(name, &Default::default());
        match self.send(request).await {
            Ok(object) => Ok(Some(super::write::with_type(object, kind))),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(err) => Err(self.api_error(format!("read {}/{name}", kind.resource.kind), err)),
        }
    }

    /// Sets an annotation on a Secret under openlsp's record manager (not the plan's manager,
    /// so `apply` neither removes nor reports it).
    pub async fn annotate_secret(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ClusterError> {
        let kind = self.secret_kind().await?;
        let patch = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": name, "namespace": namespace, "annotations": { key: value } },
        });
        let params = PatchParams::apply(RECORD_MANAGER).force();
        let request =
            self.request(&kind, Some(namespace))
                .patch(name, &params, &Patch::Apply(&patch));
        self.send(request)
            .await
            .map(drop)
            .map_err(|err| self.api_error(format!("annotate Secret {namespace}/{name}"), err))
    }

    /// The live object of `id`, resolving its kind.
    pub async fn live(&self, id: &ObjectId) -> Result<Option<Value>, ClusterError> {
        let kind = self.kind(&id.api_version, &id.kind).await?;
        self.get_object(&kind, id.namespace.as_deref().unwrap_or_default(), &id.name)
            .await
    }
}
