//! The runtime layer: a plan written into the cluster in stages, under the site's lock. Stages
//! in apply order, concurrent batches within a stage, CRD settling after stage 2, prune of what
//! the plan dropped (never data unless asked), waiting for workloads, Ctrl-C at stage
//! boundaries, and a fence that stops a run which lost its lock. `apply`, `delete` and
//! `secrets rotate` use it (and later verbs will); it reports through [`Progress`] and returns
//! typed outcomes, so each caller words its own hints. `bootstrap` stops a workload and starts
//! it again ([`stop`]) around a one-off Job ([`job`]); while it holds one stopped, no staged
//! write runs.

mod converge;
mod interrupt;
pub mod job;
mod progress;
mod stages;
pub mod stop;
mod wait;

pub use converge::converge;
pub use interrupt::Interrupt;
pub use progress::{Progress, Transfer, WaitProgress};
pub use stages::{
    WriteLimits, apply_one, delete_in_reverse_stages, finish_writes, open_parent, write_changes,
};
pub use wait::{Waited, pause, wait_for_workloads};

use std::time::Duration;

use crate::cluster::{ApplySet, ClusterError, Desired};
use crate::object::{ObjectId, Stage};
use crate::plan::Plan;

/// What a run wrote.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub created: Vec<ObjectId>,
    pub changed: Vec<ObjectId>,
    pub pruned: Vec<ObjectId>,
    pub kept: usize,
    /// Ctrl-C stopped the run before this stage.
    pub stopped_before: Option<Stage>,
}

impl Report {
    pub fn describe(&self) -> String {
        format!(
            "{} created, {} changed, {} pruned, {} kept (data)",
            self.created.len(),
            self.changed.len(),
            self.pruned.len(),
            self.kept
        )
    }
}

/// Why a staged write stopped early. The messages say what happened and what was written;
/// callers add the next step.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(
        "{loss}; stopped before {before} and wrote nothing more; applied so far: {}",
        .report.describe()
    )]
    LockLost {
        loss: Box<ClusterError>,
        before: String,
        report: Box<Report>,
    },
    #[error(
        "{loss}; stopped in stage {} ({stage:?}), whose other writes may have been made; nothing more was written; applied before it: {}",
        .stage.number(),
        .report.describe()
    )]
    LockLostMidStage {
        loss: Box<ClusterError>,
        stage: Stage,
        report: Box<Report>,
    },
    #[error("lost the connection to the cluster at {server} {during}: {reason}; {applied}")]
    ConnectionLost {
        server: String,
        reason: String,
        /// When: `in stage 4 (Config), whose writes may or may not have been made`.
        during: String,
        /// What had been written: `applied before that: 3 created, 0 changed, ...`.
        applied: String,
    },
    #[error(
        "timed out after {timeout:?} waiting for {} to be established; applied so far: {}",
        .waiting.join(", "),
        .report.describe()
    )]
    CrdsNotEstablished {
        timeout: Duration,
        waiting: Vec<String>,
        report: Box<Report>,
    },
    #[error(
        "timed out after {timeout:?} waiting for the cluster to serve {}; applied so far: {}",
        .missing.join(", "),
        .report.describe()
    )]
    KindsNotServed {
        timeout: Duration,
        missing: Vec<String>,
        report: Box<Report>,
    },
    #[error(
        "{}: a bootstrap of its data has not finished; nothing was changed",
        .0.iter().map(|s| format!("{} is stopped by `{}`", s.workload, s.command())).collect::<Vec<_>>().join("; ")
    )]
    Bootstrapping(Vec<stop::Stopped>),
}

impl DeployError {
    /// What the engine knows about the way out, where the cause is its own business.
    pub fn engine_hint(&self) -> Option<&'static str> {
        match self {
            DeployError::CrdsNotEstablished { .. } => Some(
                "kubectl describe crd shows why (a name another CustomResourceDefinition uses is a common cause)",
            ),
            DeployError::KindsNotServed { .. } => {
                Some("check the versions the plan's CustomResourceDefinitions serve")
            }
            DeployError::LockLost { .. } | DeployError::LockLostMidStage { .. } => {
                Some("run it again: it looks at the cluster afresh")
            }
            DeployError::ConnectionLost { .. } => {
                Some("once the cluster answers again, run it again: it looks at the cluster afresh")
            }
            DeployError::Bootstrapping(_) => Some(
                "run that command again to finish the bootstrap (it resumes the copy); until it ends, the node stays stopped",
            ),
            DeployError::Cluster(_) => None,
        }
    }
}

impl DeployError {
    /// `err` with what `report` says was written, when it is a connection lost mid-run
    /// (`during` says when); any other error unchanged.
    pub fn lost_during(err: ClusterError, during: impl Into<String>, report: &Report) -> Self {
        DeployError::Cluster(err).lost_while(
            during,
            format!("applied before that: {}", report.describe()),
        )
    }

    /// `self` saying when the connection was lost and what had been `applied`, when it is a
    /// connection lost mid-run; any other error unchanged.
    pub fn lost_while(self, during: impl Into<String>, applied: impl Into<String>) -> Self {
        match self {
            DeployError::Cluster(ClusterError::ConnectionLost { server, reason, .. }) => {
                DeployError::ConnectionLost {
                    server,
                    reason,
                    during: during.into(),
                    applied: applied.into(),
                }
            }
            other => other,
        }
    }
}

/// The plan's objects as openlsp sends them: ApplySet member label and applied hash added.
pub fn desired_objects(plan: Plan, set: &ApplySet) -> Result<Vec<Desired>, DesiredError> {
    plan.objects
        .into_iter()
        .map(|object| {
            let template = object.template.clone();
            let manifest =
                set.desired(object.manifest)
                    .map_err(|source| DesiredError::Metadata {
                        template: template.clone(),
                        source,
                    })?;
            let id = ObjectId::of(&manifest).ok_or(DesiredError::NoName { template })?;
            Ok(Desired {
                id,
                data: crate::object::is_data(&manifest),
                stage: object.stage,
                manifest,
            })
        })
        .collect()
}

/// A planned object openlsp cannot send; the plan checks these, so each is a bug.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error("template {template}: {source}")]
    Metadata {
        template: String,
        source: ClusterError,
    },
    #[error("template {template} rendered an object without a name; this is a bug in openlsp")]
    NoName { template: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> ClusterError {
        ClusterError::ConnectionLost {
            server: "https://h:1".into(),
            action: "apply Secret/lnd-tls".into(),
            reason: "connection refused".into(),
        }
    }

    #[test]
    fn a_connection_lost_mid_run_says_when_and_what_was_applied_on_one_line() {
        let namespace = ObjectId {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: "home".into(),
        };
        let report = Report {
            created: vec![namespace],
            ..Report::default()
        };
        let err = DeployError::lost_during(
            lost(),
            "in stage 4 (Config), whose writes may or may not have been made",
            &report,
        );
        assert_eq!(
            err.to_string(),
            "lost the connection to the cluster at https://h:1 in stage 4 (Config), whose writes may or may not have been made: connection refused; applied before that: 1 created, 0 changed, 0 pruned, 0 kept (data)"
        );
        let waiting = DeployError::Cluster(lost()).lost_while(
            "while waiting for the workloads",
            "every write had been made",
        );
        assert_eq!(
            waiting.to_string(),
            "lost the connection to the cluster at https://h:1 while waiting for the workloads: connection refused; every write had been made"
        );
        // Any other error is left as it is.
        let other = DeployError::lost_during(ClusterError::NoConfig, "in stage 1", &report);
        assert!(matches!(
            other,
            DeployError::Cluster(ClusterError::NoConfig)
        ));
    }
}
