//! The runtime layer: a plan written into the cluster in stages, under the site's lock. Stages
//! in apply order, concurrent batches within a stage, CRD settling after stage 2, prune of what
//! the plan dropped (never data unless asked), waiting for workloads, Ctrl-C at stage
//! boundaries, and a fence that stops a run which lost its lock. `apply`, `delete` and
//! `secrets rotate` use it (and later verbs will); it reports through [`Progress`] and returns
//! typed outcomes, so each caller words its own hints.

mod converge;
mod interrupt;
mod progress;
mod stages;
mod wait;

pub use converge::converge;
pub use interrupt::Interrupt;
pub use progress::{Progress, WaitProgress};
pub use stages::{
    WriteLimits, apply_one, delete_in_reverse_stages, finish_writes, open_parent, write_changes,
};
pub use wait::{Waited, wait_for_workloads};

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
            DeployError::Cluster(_) => None,
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
