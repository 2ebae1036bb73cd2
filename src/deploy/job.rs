//! A one-off Job run to its end: followed through its pod's log as progress, and reported as
//! succeeded (with its container's termination message), failed (and why), or still running
//! when the operator interrupted the wait. Afterwards it is deleted with its pods.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{DeployError, Interrupt, Transfer};
use crate::cluster::{Cluster, Desired, LockGuard};
use crate::object::ObjectId;

/// Where a Job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    Failed(String),
}

/// How waiting for a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// With the termination message of its container, if it left one.
    Succeeded(Option<String>),
    /// Why, and the termination message of its last pod.
    Failed(String, Option<String>),
    /// Ctrl-C: the Job goes on in the cluster.
    Interrupted,
}

/// The state of a live Job, from its conditions.
pub fn job_state(job: &Value) -> JobState {
    let conditions = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == kind && c["status"] == "True")
    };
    if holds("Complete").is_some() {
        return JobState::Succeeded;
    }
    if let Some(failed) = holds("Failed") {
        let why = [&failed["reason"], &failed["message"]]
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(": ");
        return JobState::Failed(if why.is_empty() {
            "failed".to_owned()
        } else {
            why
        });
    }
    JobState::Running
}

/// The labels of a Job's pods.
fn pod_labels(job: &Value) -> BTreeMap<String, String> {
    job.pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// The termination message `container` left in the newest of `pods` that has one.
fn termination_message(pods: &[Value], container: &str) -> Option<String> {
    let mut pods: Vec<&Value> = pods.iter().collect();
    pods.sort_by_key(|pod| {
        pod["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    pods.iter().rev().find_map(|pod| {
        pod["status"]["containerStatuses"]
            .as_array()?
            .iter()
            .find(|status| status["name"] == container)?
            .pointer("/state/terminated/message")?
            .as_str()
            .map(|message| message.trim().to_owned())
    })
}

/// Turns a line a Job's pod logged into bytes done (when it says) and a note to show.
pub type LineReader = dyn Fn(&str) -> Option<(Option<u64>, String)>;

/// Follows Job `job` until it succeeds or fails. Every two seconds the last lines its running
/// pod logged go through `read`, which turns a line into bytes done and a note for `transfer`.
pub async fn wait_for_job(
    cluster: &Cluster,
    job: &Desired,
    container: &str,
    transfer: &mut dyn Transfer,
    read: &LineReader,
    interrupt: &Interrupt,
) -> Result<JobEnd, DeployError> {
    let namespace = job.id.namespace.clone().unwrap_or_default();
    let labels = pod_labels(&job.manifest);
    loop {
        let live = cluster.live(&job.id).await?;
        let pods = cluster.pods_labelled(&namespace, &labels).await?;
        match live.as_ref().map(job_state) {
            Some(JobState::Succeeded) => {
                return Ok(JobEnd::Succeeded(termination_message(&pods, container)));
            }
            Some(JobState::Failed(why)) => {
                return Ok(JobEnd::Failed(why, termination_message(&pods, container)));
            }
            Some(JobState::Running) => {}
            None => {
                return Ok(JobEnd::Failed("the Job was deleted".to_owned(), None));
            }
        }
        let running = pods.iter().find(|pod| pod["status"]["phase"] == "Running");
        match running {
            Some(pod) => {
                let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                let tail = cluster.log_tail(&namespace, name, container, 5).await?;
                let latest = tail
                    .as_deref()
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .find_map(read);
                if let Some((done, note)) = latest {
                    transfer.update(done, &note);
                }
            }
            None => {
                let phase = pods
                    .iter()
                    .filter_map(|pod| pod["status"]["phase"].as_str())
                    .next_back()
                    .unwrap_or("not created yet");
                transfer.update(None, &format!("the copy pod is {}", phase.to_lowercase()));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = interrupt.wait() => return Ok(JobEnd::Interrupted),
        }
    }
}

/// Deletes Job `job` (its pods with it), then waits up to `timeout` until its pods are gone,
/// so nothing holds the data volume any more. False when a pod remains.
pub async fn delete_job(
    cluster: &Cluster,
    lock: &LockGuard,
    job: &ObjectId,
    timeout: Duration,
) -> Result<bool, DeployError> {
    let labels = match cluster.live(job).await? {
        Some(live) => pod_labels(&live),
        None => BTreeMap::new(),
    };
    let kind = cluster.kind(&job.api_version, &job.kind).await?;
    lock.held()?;
    cluster.delete_object(&kind, job, None).await?;
    if labels.is_empty() {
        return Ok(true);
    }
    let namespace = job.namespace.clone().unwrap_or_default();
    let deadline = Instant::now() + timeout;
    loop {
        if cluster.pods_labelled(&namespace, &labels).await?.is_empty() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The live state of Job `id`, None when there is none.
pub async fn live_job(cluster: &Cluster, id: &ObjectId) -> Result<Option<JobState>, DeployError> {
    Ok(cluster.live(id).await?.map(|job| job_state(&job)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_is_done_by_its_conditions() {
        assert_eq!(
            job_state(&json!({ "status": { "active": 1 } })),
            JobState::Running
        );
        assert_eq!(
            job_state(
                &json!({ "status": { "conditions": [ { "type": "Complete", "status": "True" } ] } })
            ),
            JobState::Succeeded
        );
        assert_eq!(
            job_state(
                &json!({ "status": { "conditions": [ { "type": "Failed", "status": "True",
                "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit" } ] } })
            ),
            JobState::Failed(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            )
        );
    }

    #[test]
    fn the_newest_pod_has_the_result() {
        let pod = |created: &str, message: &str| {
            json!({
            "metadata": { "creationTimestamp": created },
            "status": { "containerStatuses": [ { "name": "copy",
                "state": { "terminated": { "exitCode": 0, "message": message } } } ] } })
        };
        let pods = [
            pod("2026-01-01T00:00:02Z", "copied 7\n"),
            pod("2026-01-01T00:00:01Z", "failed"),
        ];
        assert_eq!(
            termination_message(&pods, "copy").as_deref(),
            Some("copied 7")
        );
        assert_eq!(termination_message(&pods, "other"), None);
    }
}
