//! Pods of a workload or a Job: listing them by label, and the tail of a container's log.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;

use super::{Cluster, ClusterError};

/// `key=value,...`, as a label selector.
fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Cluster {
    fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client(), namespace)
    }

    /// The pods of `namespace` that carry every label of `labels`, as JSON.
    pub async fn pods_labelled(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Value>, ClusterError> {
        let params = ListParams::default().labels(&selector(labels));
        let list = self
            .pods(namespace)
            .list(&params)
            .await
            .map_err(|err| self.api_error(format!("list pods in {namespace}"), err))?;
        Ok(list
            .items
            .iter()
            .map(|pod| serde_json::to_value(pod).unwrap_or_default())
            .collect())
    }

    /// The last `lines` lines a container logged; None while it has not started.
    pub async fn log_tail(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        lines: i64,
    ) -> Result<Option<String>, ClusterError> {
        let params = LogParams {
            container: Some(container.to_owned()),
            tail_lines: Some(lines),
            ..LogParams::default()
        };
        match self.pods(namespace).logs(pod, &params).await {
            Ok(text) => Ok(Some(text)),
            // 400: the container is still being created; 404: the pod is gone.
            Err(kube::Error::Api(status)) if matches!(status.code, 400 | 404) => Ok(None),
            Err(err) => Err(self.api_error(format!("read the log of pod {namespace}/{pod}"), err)),
        }
    }
}
