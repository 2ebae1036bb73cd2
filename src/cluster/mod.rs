//! The only code that talks to the Kubernetes API server: connecting, reading live state,
//! server-side apply (dry run and real), prune, waiting, the ApplySet parent and the lock, and
//! the pods of a workload or Job with their logs, and a command run in a pod's container.
//! Built-in kinds need no discovery (their group, version and plural come from k8s-openapi);
//! discovery (non-aggregated, so Kubernetes 1.20+ works) is used only for custom resources.

pub mod applyset;
mod connect;
pub mod exec;
mod lock;
mod pods;
mod proxy;
mod resources;
mod secrets;
mod site;
mod survey;
mod wait;
mod watch;
pub mod write;

use crate::diff::Conflict;

pub use applyset::ApplySet;
pub use connect::{ConnectOptions, REQUEST_TIMEOUT};
pub use lock::{LockGuard, Reconfirmed};
pub use proxy::ServicePort;
pub use resources::Kind;
pub use survey::{Desired, Survey};
pub use wait::readiness_of;
pub use watch::ReconcileFailed;

/// Field manager of every openlsp write from the command line.
pub const FIELD_MANAGER: &str = "openlsp";
/// Field manager of the controller's writes.
pub const CONTROLLER_FIELD_MANAGER: &str = "openlsp-controller";
/// Writes and reads in flight at once, per stage.
pub const CONCURRENCY: usize = 16;

/// A connected cluster.
pub struct Cluster {
    client: kube::Client,
    /// The connection settings, for `streams`.
    config: kube::Config,
    /// The same connection settings over HTTP/1.1 only, for exec's WebSocket upgrade; built on
    /// the first exec.
    streams: std::sync::OnceLock<kube::Client>,
    server: String,
    kinds: resources::KindCache,
    /// Who server-side applies: [`FIELD_MANAGER`], or the controller's.
    manager: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not running inside a cluster; on microk8s run: microk8s config > ~/.kube/config, or pass --kubeconfig FILE"
    )]
    NoConfig,
    #[error(
        "cannot use the kubeconfig: {0}\n  hint: check the file, or pick a context with --context NAME"
    )]
    Kubeconfig(String),
    #[error(
        "cannot reach the cluster at {server}: {reason}; is microk8s running? try: microk8s status"
    )]
    Unreachable { server: String, reason: String },
    #[error(
        "the cluster at {server} accepted the connection but sent no answer before the request timed out (stopped, hung or overloaded)\n  hint: see whether it is alive with microk8s status (or kubectl get --raw /readyz), then run the command again; a request waits at most 60s (apply: at most its --timeout)"
    )]
    NoAnswer { server: String },
    #[error(
        "TLS with the cluster at {server} failed: {reason}\n  hint: the kubeconfig's certificate-authority does not match the server; on microk8s run: microk8s config > ~/.kube/config"
    )]
    Tls { server: String, reason: String },
    #[error(
        "cannot get credentials for the cluster at {server}: {reason}\n  hint: check the user entry of the kubeconfig (token file, exec plugin)"
    )]
    Credentials { server: String, reason: String },
    #[error(
        "cannot use {what}, which the kubeconfig's user entry names: {reason}\n  hint: fix that path in the kubeconfig (or install the plugin); on microk8s run: microk8s config > ~/.kube/config"
    )]
    UserFile {
        /// `the token file /path`, `the exec plugin name`, ...
        what: String,
        reason: String,
    },
    #[error(
        "{server} is not a Kubernetes API server: GET /version answered {answer}\n  hint: check the cluster's server URL in the kubeconfig; on microk8s run: microk8s config > ~/.kube/config"
    )]
    NotKubernetes { server: String, answer: String },
    #[error(
        "lost the connection to the cluster at {server} mid-run, trying to {action}: {reason}\n  hint: once the cluster answers again (microk8s status), run the command again: openlsp looks at the cluster afresh"
    )]
    ConnectionLost {
        server: String,
        action: String,
        reason: String,
    },
    #[error(
        "the cluster at {server} rejected our credentials (401 Unauthorized)\n  hint: the kubeconfig's token or certificate is wrong or expired; on microk8s run: microk8s config > ~/.kube/config"
    )]
    Unauthorized { server: String },
    #[error(
        "the cluster refused to {action}: {message}\n  hint: openlsp needs rights to manage the site's namespace and its PersistentVolumes"
    )]
    Forbidden { action: String, message: String },
    #[error("cannot {action}: {message}")]
    Api {
        action: String,
        code: u16,
        message: String,
    },
    #[error("{}", render_conflicts(.0))]
    Conflicts(Vec<(String, Conflict)>),
    #[error(
        "another openlsp run holds the lock of namespace {namespace}: {holder} (it expires in {expires_in}s unless renewed)\n  hint: wait for it to finish; a crashed run's lock expires by itself"
    )]
    Locked {
        namespace: String,
        holder: String,
        expires_in: i64,
    },
    #[error("the site lock of namespace {namespace} is no longer this run's: {loss}")]
    LockLost { namespace: String, loss: String },
    #[error(
        "Secret {namespace}/{name} {owner}\n  hint: use another namespace for this site, or remove that Secret (and the ApplySet it stands for) first"
    )]
    ForeignParent {
        namespace: String,
        name: String,
        /// Whose it is instead, as the rest of the sentence.
        owner: String,
    },
    #[error("the cluster has no API for {kind} ({api_version})\n  hint: {hint}")]
    MissingKind {
        api_version: String,
        kind: String,
        hint: String,
    },
    #[error(
        "namespace {namespace} does not exist, but {object} belongs there\n  hint: enable the addon that owns it (microk8s enable observability for the observability namespace), or change the profile's namespace for it"
    )]
    MissingNamespace { namespace: String, object: String },
    #[error("{0}")]
    SharedDataPath(Box<PathClash>),
    #[error("no API was resolved for {0}; this is a bug in openlsp")]
    Unresolved(String),
}

/// A planned volume on a directory another volume has, holds or lies inside.
#[derive(Debug, thiserror::Error)]
#[error(
    "PersistentVolume {volume} would use {path}, but PersistentVolume {other}{claim} already uses {other_path}: two nodes on one data directory lose funds (a channel database run twice means a penalty close); nothing was changed\n  hint: {hint}"
)]
pub struct PathClash {
    pub volume: String,
    pub path: String,
    pub other: String,
    pub other_path: String,
    /// ` (bound to claim ns/name)`, or empty.
    pub claim: String,
    pub hint: String,
}

fn render_conflicts(conflicts: &[(String, Conflict)]) -> String {
    let mut text = String::from("another field manager owns fields openlsp sets:");
    for (object, conflict) in conflicts {
        text.push_str(&format!(
            "\n  {object} {} is owned by {:?}",
            conflict.field, conflict.manager
        ));
    }
    text.push_str(
        "\n  hint: undo the other change, or pass --force-conflicts to take the fields over",
    );
    text
}

impl Cluster {
    /// The same connection, writing (and dry-running) as field manager `manager`.
    pub fn writing_as(mut self, manager: &'static str) -> Self {
        self.manager = manager;
        self
    }

    /// The API server's URL, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn api_error(&self, action: String, err: kube::Error) -> ClusterError {
        connect::classify_mid_run(&self.server, action, err)
    }
}
