//! One reconcile of one Site: the pipeline `apply` runs (profile, secrets, plan, diff, deploy)
//! with the profile read from the Site and the credentials from the cluster's Secrets, under
//! the site's lock, without prompts; then what it saw as the Site's status. Data is never
//! pruned, a credential the cluster has is never replaced, and a Site that fails its checks
//! changes nothing.

use serde_json::Value;

use super::status::{Component, Observed, Reconciled};
use crate::cluster::{ApplySet, Cluster, ClusterError, Desired, Kind, LockGuard};
use crate::deploy::{self, DeployError, Interrupt, Progress, WriteLimits};
use crate::diff;
use crate::object::Stage;
use crate::plan::TemplateSet;
use crate::profile::ProfileError;
use crate::secrets::in_cluster::{self, InClusterError};

/// How long a reconcile waits for the CustomResourceDefinitions it wrote to be established.
const CRD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a reconcile stopped. Each one leaves the site as it was or at a stage boundary.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Site fails openlsp's checks (the same messages and field paths as the CLI).
    #[error("{0}")]
    Invalid(#[from] ProfileError),
    /// The cluster's Secrets disagree with each other; nothing was generated or written.
    #[error("{0}")]
    Credentials(#[from] InClusterError),
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    Deploy(#[from] DeployError),
}

impl ReconcileError {
    /// The status reason: a word a person or `kubectl wait` can match.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Invalid(_) => "InvalidSpec",
            ReconcileError::Credentials(InClusterError::NotProvided { .. }) => "SecretNotProvided",
            ReconcileError::Credentials(_) => "CredentialsInconsistent",
            ReconcileError::Plan(_) => "RenderFailed",
            ReconcileError::Cluster(ClusterError::Conflicts(_)) => "Conflicts",
            ReconcileError::Cluster(_) => "ClusterError",
            ReconcileError::Deploy(_) => "ApplyFailed",
        }
    }

    /// Whether the Site itself must change before another try can succeed. A Secret the
    /// operator gives is not the Site's, and no watch sees it arrive: that is tried again.
    pub fn needs_a_person(&self) -> bool {
        match self {
            ReconcileError::Credentials(InClusterError::NotProvided { .. }) => false,
            ReconcileError::Invalid(_)
            | ReconcileError::Credentials(_)
            | ReconcileError::Plan(_) => true,
            _ => false,
        }
    }
}

/// The Site's namespace and name, as `namespace/name`.
pub fn site_label(site: &Value) -> String {
    format!(
        "{}/{}",
        site["metadata"]["namespace"].as_str().unwrap_or_default(),
        site["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Reconciles `site` (the Site object as the API server returned it) once.
pub async fn reconcile(
    cluster: &Cluster,
    site: &Value,
    templates: &TemplateSet,
    progress: &dyn Progress,
    interrupt: &Interrupt,
) -> Result<Reconciled, ReconcileError> {
    let namespace = site["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let label = format!("Site {}", site_label(site));
    let profile = crate::profile::from_resource(&label, &namespace, site)?;
    let lock = cluster.lock(&namespace).await?;
    let result = reconcile_locked(
        cluster,
        &profile.site,
        templates,
        &lock,
        progress,
        interrupt,
    )
    .await;
    lock.release().await;
    result
}

async fn reconcile_locked(
    cluster: &Cluster,
    site: &crate::profile::Site,
    templates: &TemplateSet,
    lock: &LockGuard,
    progress: &dyn Progress,
    interrupt: &Interrupt,
) -> Result<Reconciled, ReconcileError> {
    let live = cluster.live_secrets(site.namespace()).await?;
    let resolved = in_cluster::resolve(site, &live)?;
    let plan = crate::plan::render_site(site, &resolved.secrets, templates)
        .map_err(|err| ReconcileError::Plan(err.to_string()))?;
    let set = ApplySet::new(site.namespace());
    let desired =
        deploy::desired_objects(plan, &set).map_err(|err| ReconcileError::Plan(err.to_string()))?;
    let survey = cluster.survey(&set, &desired, false).await?;
    survey.check_volume_paths(&desired)?;
    // Never --prune-data: data the plan dropped is kept.
    let changes = diff::compute(&survey.observations, diff::Detail::ChangesOnly);
    // The Site is the declaration: a field another manager took is taken back.
    let limits = WriteLimits {
        force_conflicts: true,
        timeout: CRD_TIMEOUT,
    };
    let report = deploy::converge(
        cluster, lock, progress, &set, &desired, &survey, &changes, &limits, interrupt,
    )
    .await?;
    let components = components(cluster, &desired).await?;
    Ok(Reconciled {
        report,
        generated: resolved.generated,
        observed: Observed {
            components,
            onions: in_cluster::onion_addresses(site, &live),
        },
    })
}

/// The readiness of each workload the plan holds, read as it is now.
async fn components(
    cluster: &Cluster,
    desired: &[Desired],
) -> Result<Vec<Component>, ClusterError> {
    let mut components = Vec::new();
    for object in desired.iter().filter(|d| d.stage == Stage::Workloads) {
        let kind: Kind = cluster
            .kind(&object.id.api_version, &object.id.kind)
            .await?;
        let readiness = cluster.readiness(&kind, &object.id).await?;
        components.push(Component {
            name: object.id.name.clone(),
            kind: object.id.kind.clone(),
            ready: readiness.is_ready(),
            message: readiness.message().to_owned(),
        });
    }
    Ok(components)
}
