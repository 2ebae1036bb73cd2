//! The controller's life: win the leader election (a Lease, so two replicas never both write),
//! watch Sites and what they own, reconcile each on its events, write status and Events, and
//! on SIGTERM or a lost leadership finish the stage in hand and stop.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::reconcile;
use super::status::{self, Ending, Reconciled};
use crate::cluster::{Cluster, ClusterError, Kind, LockGuard, ReconcileFailed};
use crate::deploy::{Interrupt, Progress, WaitProgress};
use crate::object::Stage;
use crate::plan::TemplateSet;

/// The leader election Lease, in the controller's namespace.
pub const LEADER_LEASE: &str = "openlsp-controller-leader";

/// What the controller tells its operator, line by line (never a secret value).
pub trait ControllerLog: Send + Sync {
    fn info(&self, line: &str);
    fn warn(&self, line: &str);
}

/// How the controller runs.
pub struct Options {
    /// Where the leader election Lease lives.
    pub namespace: String,
    /// Only the Sites of this namespace, or of every one.
    pub watch_namespace: Option<String>,
    /// Every Site is reconciled this long after its last reconcile, even without an event.
    pub resync: Duration,
}

/// Runs until `interrupt` (SIGTERM, Ctrl-C) or until the leadership is lost.
pub async fn run(
    cluster: Cluster,
    options: Options,
    templates: TemplateSet,
    interrupt: Interrupt,
    log: Arc<dyn ControllerLog>,
) -> Result<(), ClusterError> {
    let Some(leader) = lead(&cluster, &options.namespace, &interrupt, log.as_ref()).await? else {
        return Ok(());
    };
    log.info(&format!(
        "leading (Lease {}/{LEADER_LEASE}); watching Sites",
        options.namespace
    ));
    let leader = Arc::new(leader);
    let kinds = watched_kinds(&cluster).await?;
    let shutdown = {
        let leader = Arc::clone(&leader);
        let interrupt = interrupt.clone();
        async move {
            loop {
                if interrupt.is_set() {
                    return;
                }
                if leader.held().is_err() {
                    interrupt.set();
                    return;
                }
                tokio::select! {
                    () = interrupt.wait() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    };
    // The watch runtime wants Send futures, and the deploy engine's are not: reconciles run
    // here, one at a time, handed over by the watch.
    let (queue, mut queued) = mpsc::channel::<(Value, Reply)>(1);
    let watching = cluster.watch_sites(
        options.watch_namespace.as_deref(),
        &kinds,
        options.resync,
        shutdown,
        move |site| {
            let queue = queue.clone();
            async move {
                let (reply, replied) = oneshot::channel();
                if queue.send((site, reply)).await.is_err() {
                    return Ok(());
                }
                replied.await.unwrap_or(Ok(()))
            }
        },
    );
    let working = async {
        while let Some((site, reply)) = queued.recv().await {
            let result = if interrupt.is_set() || leader.held().is_err() {
                Ok(())
            } else {
                reconcile_and_report(&cluster, &site, &templates, &interrupt, log.as_ref()).await
            };
            let _ = reply.send(result);
        }
    };
    tokio::join!(watching, working);
    let lost = leader.held().err();
    match Arc::try_unwrap(leader) {
        Ok(leader) => leader.release().await,
        Err(_) => log.warn("the leader Lease is still in use; it expires by itself"),
    }
    match lost {
        Some(loss) => Err(loss),
        None => {
            log.info("stopped");
            Ok(())
        }
    }
}

type Reply = oneshot::Sender<Result<(), ReconcileFailed>>;

/// Waits to become the leader; None when stopped first.
async fn lead(
    cluster: &Cluster,
    namespace: &str,
    interrupt: &Interrupt,
    log: &dyn ControllerLog,
) -> Result<Option<LockGuard>, ClusterError> {
    let mut said = false;
    loop {
        match cluster.lease_lock(namespace, LEADER_LEASE).await {
            Ok(guard) => return Ok(Some(guard)),
            Err(ClusterError::Locked {
                holder, expires_in, ..
            }) => {
                if !said {
                    log.info(&format!(
                        "another controller leads ({holder}); standing by (its Lease expires in {expires_in}s unless renewed)"
                    ));
                    said = true;
                }
                let pause = Duration::from_secs(u64::try_from(expires_in.clamp(1, 5)).unwrap_or(5));
                tokio::select! {
                    () = interrupt.wait() => return Ok(None),
                    () = tokio::time::sleep(pause) => {}
                }
            }
            Err(other) => return Err(other),
        }
    }
}

/// The built-in kinds whose ApplySet members wake a Site's reconcile. Not Namespaces,
/// CustomResourceDefinitions or Leases: a Lease renews all the time, and the others are
/// cluster-wide plumbing that a reconcile checks anyway.
async fn watched_kinds(cluster: &Cluster) -> Result<Vec<Kind>, ClusterError> {
    let mut kinds = Vec::new();
    for info in crate::plan::kinds::all().iter().filter(|k| {
        !k.custom && !["Namespace", "CustomResourceDefinition", "Lease"].contains(&k.kind)
    }) {
        kinds.push(cluster.kind(info.api_version, info.kind).await?);
    }
    Ok(kinds)
}

/// One reconcile, then the Site's status (only when it changed) and Events.
async fn reconcile_and_report(
    cluster: &Cluster,
    site: &Value,
    templates: &TemplateSet,
    interrupt: &Interrupt,
    log: &dyn ControllerLog,
) -> Result<(), ReconcileFailed> {
    let label = reconcile::site_label(site);
    let generation = site["metadata"]["generation"].as_i64().unwrap_or_default();
    let narrated = Narrated { label: &label, log };
    let result = reconcile::reconcile(cluster, site, templates, &narrated, interrupt).await;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let previous = &site["status"];
    let (next, failure) = match &result {
        Ok(done) => (
            status::site_status(previous, generation, &Ending::Reconciled(done), &now),
            None,
        ),
        Err(err) => {
            let message = err.to_string();
            let ending = Ending::Failed {
                reason: err.reason(),
                message: message.clone(),
            };
            (
                status::site_status(previous, generation, &ending, &now),
                Some((err.reason(), message)),
            )
        }
    };
    if let Ok(done) = &result {
        report_writes(cluster, site, &label, done, log).await;
        if let Some(stage) = done.report.stopped_before {
            log.info(&format!(
                "Site {label}: stopped before stage {} ({stage:?}) to shut down",
                stage.number()
            ));
        } else if !done.wrote() {
            log.info(&format!("Site {label}: reconciled: no changes"));
        }
    }
    if &next != previous {
        if let Some((reason, message)) = &failure {
            log.warn(&format!("Site {label}: {reason}: {message}"));
            record(cluster, site, "Warning", reason, message, log).await;
        }
        if let Err(err) = cluster
            .patch_site_status(
                site["metadata"]["namespace"].as_str().unwrap_or_default(),
                site["metadata"]["name"].as_str().unwrap_or_default(),
                &next,
            )
            .await
        {
            log.warn(&format!("Site {label}: cannot write its status: {err}"));
        }
    }
    match result {
        Err(err) if !err.needs_a_person() => Err(ReconcileFailed(err.to_string())),
        _ => Ok(()),
    }
}

async fn report_writes(
    cluster: &Cluster,
    site: &Value,
    label: &str,
    done: &Reconciled,
    log: &dyn ControllerLog,
) {
    // Values are in the cluster once stage 4 (Config) was written.
    let stored = done
        .report
        .stopped_before
        .is_none_or(|stage| stage > Stage::Config);
    if stored && !done.generated.is_empty() {
        let message = format!(
            "generated {} secret value(s) into the cluster: {}",
            done.generated.len(),
            done.generated.join(", ")
        );
        log.info(&format!("Site {label}: {message}"));
        record(cluster, site, "Normal", "SecretsGenerated", &message, log).await;
    }
    if done.wrote() {
        let names: Vec<String> = done
            .report
            .created
            .iter()
            .chain(&done.report.changed)
            .chain(&done.report.pruned)
            .map(ToString::to_string)
            .collect();
        let message = format!("applied: {}: {}", done.report.describe(), names.join(", "));
        log.info(&format!("Site {label}: {message}"));
        record(cluster, site, "Normal", "Applied", &message, log).await;
    }
}

async fn record(
    cluster: &Cluster,
    site: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    log: &dyn ControllerLog,
) {
    if let Err(err) = cluster.record_event(site, kind, reason, message).await {
        log.warn(&format!("cannot record an Event: {err}"));
    }
}

/// The staged write's progress as log lines, one per stage.
struct Narrated<'a> {
    label: &'a str,
    log: &'a dyn ControllerLog,
}

impl Progress for Narrated<'_> {
    fn stage(&self, stage: Stage, objects: usize) {
        self.log.info(&format!(
            "Site {}: stage {} ({stage:?}): writing {objects} object(s)",
            self.label,
            stage.number()
        ));
    }
    fn note(&self, message: &str) {
        self.log.info(&format!("Site {}: {message}", self.label));
    }
    fn waiting(&self, _names: &[String]) -> Box<dyn WaitProgress> {
        Box::new(Unshown)
    }
}

/// Readiness goes into the Site's status, not the log.
struct Unshown;

impl WaitProgress for Unshown {
    fn update(&mut self, _index: usize, _ready: bool, _message: &str) {}
    fn finish(self: Box<Self>) {}
}
