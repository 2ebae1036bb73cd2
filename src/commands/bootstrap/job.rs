//! The copy Job that every source runs (a chain's directories, a snapshot's file): taken from
//! what plan/ rendered, created (or followed, when an earlier run left it running), followed
//! with rsync's progress until it ends, and deleted once it succeeded.

use std::time::Duration;

use anyhow::bail;

use crate::bootstrap::{copied_of, progress_of};
use crate::cluster::{Cluster, Desired, LockGuard};
use crate::deploy::job::{JobEnd, JobState};
use crate::deploy::{self, Interrupt, Transfer as _};
use crate::object::ObjectId;
use crate::plan::Plan;
use crate::plan::context::bootstrap::CONTAINER;
use crate::plan::output::{self, SecretDisplay};
use crate::ui::{TransferDisplay, Ui};

/// `--render` prints the Job and `--check` stops after the preflight: true when one did, and
/// nothing more is to be done.
pub(super) fn preflight_only(ui: &Ui, render: bool, check: bool, rendered: &Plan) -> bool {
    if render {
        ui.stdout(&output::to_yaml_stream(rendered, SecretDisplay::Masked));
    } else if check {
        ui.success("the preflight passed; nothing was changed");
    }
    render || check
}

/// How the errors of a copy speak of the node and the source.
pub(super) struct CopyWords<'a> {
    pub node: &'a str,
    /// While the copy has not ended: `stays stopped`.
    pub state: &'a str,
    /// `the source`.
    pub source: &'a str,
    /// What a re-run does once the copy is done: `start the node`.
    pub then: &'a str,
}

/// Step 3 of a bootstrap: the Job of `rendered` copies `total` bytes into the node's volume.
/// Returns the bytes it copied, when it says.
#[allow(clippy::too_many_arguments)]
pub(super) async fn copy(
    ui: &Ui,
    cluster: &Cluster,
    lock: &LockGuard,
    rendered: Plan,
    words: &CopyWords<'_>,
    total: u64,
    timeout: Duration,
    interrupt: &Interrupt,
    again: &str,
) -> anyhow::Result<Option<u64>> {
    let CopyWords {
        node,
        state,
        source,
        then,
    } = words;
    let failed = |err| crate::commands::deploy_failed(err, again);
    let (job, beside, end, display) = run(
        ui, cluster, lock, rendered, node, total, timeout, interrupt, again,
    )
    .await?;
    // A source host's key and the Job's NetworkPolicy go once the Job has ended.
    let remove_beside = || async {
        for object in &beside {
            let kind = cluster
                .kind(&object.id.api_version, &object.id.kind)
                .await?;
            lock.held()?;
            cluster.delete_object(&kind, &object.id, None).await?;
        }
        anyhow::Ok(())
    };
    let namespace = job.id.namespace.clone().unwrap_or_default();
    match end {
        JobEnd::Succeeded(message) => {
            display.finish("done");
            let gone = deploy::job::delete_job(cluster, lock, &job.id, timeout)
                .await
                .map_err(failed)?;
            if !gone {
                bail!(
                    "the copy is done, but the pod of {} still holds {node}'s volume after {timeout:?}; {node} {state}\n  hint: kubectl get pods -n {namespace} shows it; run {again} again to {then}",
                    job.id,
                );
            }
            remove_beside().await?;
            Ok(message.as_deref().and_then(copied_of))
        }
        JobEnd::Failed(why, message) => {
            display.finish("failed");
            remove_beside().await?;
            bail!(
                "the copy failed: {why}{}; {node} {state} and {source} was only read\n  hint: kubectl logs -n {namespace} job/{} shows rsync's output; fix the cause and run {again} again: it resumes the copy",
                message
                    .map(|m| format!(" ({})", m.trim()))
                    .unwrap_or_default(),
                job.id.name
            )
        }
        JobEnd::Interrupted => {
            display.finish("interrupted");
            bail!(
                "interrupted: the copy Job {} goes on in the cluster and {node} {state}\n  hint: run {again} again to follow it and {then} when it is done; kubectl delete job -n {namespace} {} stops the copy (a re-run resumes it)",
                job.id.name,
                job.id.name
            )
        }
    }
}

/// The Job created or followed, and followed until it ends: it, the objects created before it
/// (from a host: its Secret and NetworkPolicy), how it ended and its progress display, still
/// open.
#[allow(clippy::too_many_arguments)]
async fn run(
    ui: &Ui,
    cluster: &Cluster,
    lock: &LockGuard,
    rendered: Plan,
    node: &str,
    total: u64,
    timeout: Duration,
    interrupt: &Interrupt,
    again: &str,
) -> anyhow::Result<(Desired, Vec<Desired>, JobEnd, Box<TransferDisplay>)> {
    let failed = |err| crate::commands::deploy_failed(err, again);
    let (jobs, beside): (Vec<Desired>, Vec<Desired>) = rendered
        .objects
        .into_iter()
        .map(|object| Desired {
            id: ObjectId::of(&object.manifest).expect("a rendered object has an id"),
            manifest: object.manifest,
            stage: object.stage,
            data: false,
        })
        .partition(|object| object.id.kind == "Job");
    let job = jobs.into_iter().next().ok_or_else(|| {
        anyhow::anyhow!("templates/bootstrap/ rendered no Job; this is a bug in openlsp")
    })?;
    for object in &beside {
        let kind = cluster
            .kind(&object.id.api_version, &object.id.kind)
            .await?;
        lock.held()?;
        deploy::apply_one(cluster, &kind, object, false).await?;
    }
    let kind = cluster.kind(&job.id.api_version, &job.id.kind).await?;
    match deploy::job::live_job(cluster, &job.id)
        .await
        .map_err(failed)?
    {
        Some(JobState::Running) => ui.info(&format!(
            "  {} is still copying from an earlier run: following it",
            job.id
        )),
        Some(_) => {
            // An earlier run's Job that ended: a new one copies what is still missing.
            deploy::job::delete_job(cluster, lock, &job.id, timeout)
                .await
                .map_err(failed)?;
            lock.held()?;
            deploy::apply_one(cluster, &kind, &job, false).await?;
        }
        None => {
            lock.held()?;
            deploy::apply_one(cluster, &kind, &job, false).await?;
        }
    }
    let mut display = Box::new(ui.transfer_display(&format!("copy into {node}"), Some(total)));
    let read = |line: &str| -> Option<(Option<u64>, String)> {
        match progress_of(line) {
            Some((bytes, percent)) => Some((Some(bytes), format!("{percent}%"))),
            None => line
                .strip_prefix("openlsp-bootstrap: ")
                .map(|note| (None, note.to_owned())),
        }
    };
    let end =
        deploy::job::wait_for_job(cluster, &job, CONTAINER, display.as_mut(), &read, interrupt)
            .await
            .map_err(failed)?;
    Ok((job, beside, end, display))
}
