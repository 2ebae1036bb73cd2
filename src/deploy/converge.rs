//! A surveyed change set written without questions: the staged write, prune and the ApplySet
//! parent when something differs, only the parent's membership when nothing does. The
//! controller's reconcile and `controller install` use it; `apply` adds its prompts around the
//! same steps.

use std::collections::BTreeSet;

use super::{DeployError, Interrupt, Progress, Report, WriteLimits};
use super::{finish_writes, open_parent, write_changes};
use crate::cluster::{ApplySet, Cluster, Desired, LockGuard, Survey};
use crate::diff::ChangeSet;

#[allow(clippy::too_many_arguments)]
pub async fn converge(
    cluster: &Cluster,
    lock: &LockGuard,
    progress: &dyn Progress,
    set: &ApplySet,
    desired: &[Desired],
    survey: &Survey<'_>,
    changes: &ChangeSet,
    limits: &WriteLimits,
    interrupt: &Interrupt,
) -> Result<Report, DeployError> {
    let mut report = Report::default();
    if !changes.has_differences() {
        report.kept = changes.summary().kept;
        lock.held()?;
        let membership = survey.membership_after(&set.namespace, desired, &BTreeSet::new());
        cluster
            .write_parent(set, &survey.parent, &membership)
            .await
            .map_err(|err| {
                DeployError::lost_during(err, "writing the ApplySet parent, nothing else", &report)
            })?;
        return Ok(report);
    }
    let parent = open_parent(cluster, lock, set, survey, desired).await?;
    write_changes(
        cluster,
        lock,
        progress,
        desired,
        survey,
        changes,
        &|_| true,
        limits,
        interrupt,
        &mut report,
    )
    .await?;
    if report.stopped_before.is_none() {
        finish_writes(
            cluster,
            lock,
            set,
            desired,
            survey,
            changes,
            &parent,
            &mut report,
        )
        .await?;
    }
    Ok(report)
}
