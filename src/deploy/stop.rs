//! Taking a workload out of service while something works on its data (a chain bootstrap),
//! and putting it back. Stopping applies the planned manifest with 0 replicas and the
//! bootstrap's arguments in an annotation, under openlsp's own field manager, so the fields stay
//! openlsp's; starting applies the planned manifest as it is, which is `apply`'s state. While the
//! annotation is there, no staged write starts the workload again.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::wait::Waited;
use super::{DeployError, Interrupt, Progress, apply_one};
use crate::cluster::{Cluster, ClusterError, Desired, LockGuard, Survey};
use crate::object::{BOOTSTRAP_ANNOTATION, ObjectId, annotation};

/// A workload a bootstrap stopped, with that bootstrap's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub workload: ObjectId,
    pub arguments: String,
}

impl Stopped {
    /// The command that stopped it, which also resumes it.
    pub fn command(&self) -> String {
        format!(
            "openlsp bootstrap {} {}",
            self.workload.name, self.arguments
        )
    }
}

/// The workload of a live object that a bootstrap stopped, if it is one.
pub fn stopped_by_bootstrap(live: &Value) -> Option<Stopped> {
    let arguments = annotation(live, BOOTSTRAP_ANNOTATION)?;
    let workload = ObjectId::of(live)?;
    (workload.kind == "StatefulSet").then(|| Stopped {
        workload,
        arguments: arguments.to_owned(),
    })
}

/// The surveyed workloads a bootstrap holds stopped.
pub fn stopped_workloads(survey: &Survey<'_>) -> Vec<Stopped> {
    survey
        .observations
        .iter()
        .filter_map(|(_, observation)| observation.live.as_ref())
        .filter_map(stopped_by_bootstrap)
        .collect()
}

/// Refuses a write while a bootstrap holds any of the site's workloads stopped: starting one
/// would run bitcoind on a data directory that is being copied into.
pub fn refuse_while_bootstrapping(survey: &Survey<'_>) -> Result<(), DeployError> {
    let stopped = stopped_workloads(survey);
    if stopped.is_empty() {
        Ok(())
    } else {
        Err(DeployError::Bootstrapping(stopped))
    }
}

/// The planned manifest of a workload, stopped: no replicas, and marked with the bootstrap's
/// arguments.
pub fn stopped_manifest(planned: &Value, arguments: &str) -> Value {
    let mut manifest = planned.clone();
    manifest["spec"]["replicas"] = Value::from(0);
    if !manifest["metadata"]["annotations"].is_object() {
        manifest["metadata"]["annotations"] = Value::Object(serde_json::Map::new());
    }
    manifest["metadata"]["annotations"][BOOTSTRAP_ANNOTATION] = Value::from(arguments);
    manifest
}

/// The labels of a workload's pods: its selector.
fn pod_labels(manifest: &Value) -> std::collections::BTreeMap<String, String> {
    manifest
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// Stops `workload` (a planned StatefulSet) and waits until its last pod is gone.
pub async fn stop_workload(
    cluster: &Cluster,
    lock: &LockGuard,
    progress: &dyn Progress,
    workload: &Desired,
    arguments: &str,
    timeout: Duration,
    interrupt: &Interrupt,
) -> Result<Waited, DeployError> {
    let kind = cluster
        .kind(&workload.id.api_version, &workload.id.kind)
        .await?;
    let stopped = Desired {
        manifest: stopped_manifest(&workload.manifest, arguments),
        ..workload.clone()
    };
    lock.held()?;
    apply_one(cluster, &kind, &stopped, false).await?;
    let namespace = workload.id.namespace.clone().unwrap_or_default();
    let labels = pod_labels(&workload.manifest);
    let mut display = progress.waiting(&[format!("{} pods", workload.id)]);
    let deadline = Instant::now() + timeout;
    loop {
        let pods = cluster.pods_labelled(&namespace, &labels).await?;
        let names: Vec<String> = pods
            .iter()
            .map(|pod| {
                let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                let state = if pod["metadata"]["deletionTimestamp"].is_string() {
                    "terminating"
                } else {
                    pod["status"]["phase"].as_str().unwrap_or("pending")
                };
                format!("{name} ({state})")
            })
            .collect();
        if names.is_empty() {
            display.update(0, true, "no pod left");
            display.finish();
            return Ok(Waited::Ready);
        }
        display.update(0, false, &names.join(", "));
        if let Some(ended) =
            super::wait::pause(deadline, super::wait::EVERY, interrupt, names).await
        {
            display.finish();
            return Ok(ended);
        }
    }
}

/// Starts `workload` again as the plan has it (replicas and all), which removes the mark.
pub async fn start_workload(
    cluster: &Cluster,
    lock: &LockGuard,
    workload: &Desired,
) -> Result<(), DeployError> {
    let kind = cluster
        .kind(&workload.id.api_version, &workload.id.kind)
        .await?;
    lock.held()?;
    apply_one(cluster, &kind, workload, false)
        .await
        .map_err(|err: ClusterError| err.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stopped_workload_has_no_replicas_and_names_its_bootstrap() {
        let planned = json!({ "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": { "name": "bitcoind", "namespace": "ns" },
            "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "b" } } } });
        assert_eq!(stopped_by_bootstrap(&planned), None);
        let stopped = stopped_manifest(&planned, "--from-dir /mnt/usb");
        assert_eq!(stopped["spec"]["replicas"], 0);
        let found = stopped_by_bootstrap(&stopped).unwrap();
        assert_eq!(
            found.command(),
            "openlsp bootstrap bitcoind --from-dir /mnt/usb"
        );
        assert_eq!(
            pod_labels(&planned).get("app").map(String::as_str),
            Some("b")
        );
        let mut job = stopped.clone();
        job["kind"] = json!("Job");
        assert_eq!(
            stopped_by_bootstrap(&job),
            None,
            "only workloads are stopped"
        );
    }
}
