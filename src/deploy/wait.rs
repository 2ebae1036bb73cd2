//! Waiting for objects to become ready (CRDs Established, workloads rolled out), with their
//! states shown as they change, bounded by a timeout and by Ctrl-C.

use std::time::{Duration, Instant};

use super::{DeployError, Interrupt, Progress};
use crate::cluster::{Cluster, Desired, Kind};
use crate::object::ObjectId;

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    Ready,
    /// Each object not ready, with its state.
    TimedOut(Vec<String>),
    Interrupted(Vec<String>),
}

/// Polls `objects` every second, showing each one's state, until all are ready, `timeout`
/// passes, or Ctrl-C.
pub async fn wait_until_ready(
    cluster: &Cluster,
    progress: &dyn Progress,
    objects: &[(ObjectId, Kind)],
    timeout: Duration,
    interrupt: &Interrupt,
) -> Result<Waited, DeployError> {
    let names: Vec<String> = objects.iter().map(|(id, _)| id.to_string()).collect();
    let mut display = progress.waiting(&names);
    let deadline = Instant::now() + timeout;
    loop {
        let states = futures::future::try_join_all(
            objects.iter().map(|(id, kind)| cluster.readiness(kind, id)),
        )
        .await?;
        for (index, state) in states.iter().enumerate() {
            display.update(index, state.is_ready(), state.message());
        }
        let waiting: Vec<String> = states
            .iter()
            .zip(&names)
            .filter(|(state, _)| !state.is_ready())
            .map(|(state, name)| format!("{name} ({})", state.message()))
            .collect();
        if waiting.is_empty() {
            display.finish();
            return Ok(Waited::Ready);
        }
        if let Some(ended) = pause(deadline, EVERY, interrupt, waiting).await {
            display.finish();
            return Ok(ended);
        }
    }
}

/// Between two polls that left `waiting` not ready: a pause of `every`, unless `deadline` has
/// passed (timed out) or Ctrl-C comes during it (interrupted), which end the wait.
pub async fn pause(
    deadline: Instant,
    every: Duration,
    interrupt: &Interrupt,
    waiting: Vec<String>,
) -> Option<Waited> {
    if Instant::now() >= deadline {
        return Some(Waited::TimedOut(waiting));
    }
    tokio::select! {
        _ = tokio::time::sleep(every) => None,
        _ = interrupt.wait() => Some(Waited::Interrupted(waiting)),
    }
}

/// How often the waits of deploy poll.
pub(super) const EVERY: Duration = Duration::from_secs(1);

/// Waits until every workload among `desired` is ready (a StatefulSet rolled out, a
/// Deployment available). Returns how many there were with how the wait ended.
pub async fn wait_for_workloads(
    cluster: &Cluster,
    progress: &dyn Progress,
    desired: &[Desired],
    timeout: Duration,
    interrupt: &Interrupt,
) -> Result<(usize, Waited), DeployError> {
    let mut workloads = Vec::new();
    for object in desired
        .iter()
        .filter(|d| matches!(d.id.kind.as_str(), "StatefulSet" | "Deployment"))
    {
        workloads.push((
            object.id.clone(),
            cluster
                .kind(&object.id.api_version, &object.id.kind)
                .await?,
        ));
    }
    if workloads.is_empty() {
        return Ok((0, Waited::Ready));
    }
    let waited = wait_until_ready(cluster, progress, &workloads, timeout, interrupt).await?;
    Ok((workloads.len(), waited))
}
