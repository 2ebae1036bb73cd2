//! The copy Job of `openlsp bootstrap`, once per request (never part of the site's plan): what
//! `templates/bootstrap/` renders with. `job` is the Job with its names, the node's volume and
//! uid, the source directory (or snapshot file) it mounts read-only and what its script copies.

use std::collections::BTreeMap;

use serde::Serialize;

use super::shared::{Labels, b64, component_labels, storage};
use crate::bootstrap::network::network_dir;
use crate::bootstrap::remote::{self, KEY_FILE, KNOWN_HOSTS_FILE, RemoteSource, SSH_MOUNT};
use crate::bootstrap::{CopyJob, RemoteCopy, SnapshotCopy};
use crate::images;
use crate::object::BOOTSTRAP_ANNOTATION;
use crate::profile::{BitcoinNode, Site};

/// Where the data volume and the source are mounted in the Job's pod.
const DATA_MOUNT: &str = "/data";
const SOURCE_MOUNT: &str = "/source";
/// The Job's only container: its termination message is the copy's result.
pub(crate) const CONTAINER: &str = "copy";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BootstrapContext {
    job: JobContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobContext {
    name: String,
    node: String,
    container: &'static str,
    image: &'static str,
    /// The node's uid: the copied files' owner.
    uid: i64,
    pvc: String,
    node_name: String,
    cpu_limit: String,
    labels: Labels,
    /// The bootstrap's arguments, under [`BOOTSTRAP_ANNOTATION`].
    annotations: BTreeMap<&'static str, String>,
    data_mount: &'static str,
    /// The node's network directory in the pod (`/data/regtest`).
    target: String,
    /// The host directory mounted read-only at `source`.
    host_path: String,
    /// Where the script reads: the mount of `host_path`, or the chain's path on the source host.
    source: String,
    dirs: Vec<&'static str>,
    absent: Vec<&'static str>,
    delete: bool,
    bwlimit: Option<u64>,
    /// `Directory`, or `File` for a snapshot.
    host_path_type: &'static str,
    /// The snapshot's directory in the chain directory, and its file's name there.
    snapshot_dir: &'static str,
    snapshot_file: Option<String>,
    /// Set for a source host: the Job's Secret, NetworkPolicy and rsync's ssh.
    remote: Option<RemoteContext>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RemoteContext {
    /// The key and known_hosts, mounted at `mount`.
    secret: String,
    mount: &'static str,
    key_file: &'static str,
    known_hosts_file: &'static str,
    key_b64: String,
    known_hosts_b64: String,
    /// `user@address` (IPv6 in brackets), what rsync's source starts with.
    login: String,
    /// ssh's options, with the key and known_hosts under `$ssh_dir` of the copy script.
    ssh_options: Vec<String>,
    network_policy: String,
    /// The only address the Job's pod may connect to, as a CIDR, and its port.
    cidr: String,
    port: u16,
}

/// Where a UTXO snapshot is copied: this directory of the node's chain directory.
pub(crate) const SNAPSHOT_DIR: &str = "utxo-snapshot";

/// The name of node `node`'s copy Job.
pub(crate) fn job_name(node: &str) -> String {
    format!("{node}-bootstrap")
}

fn remote_context(node: &str, remote: &RemoteCopy, path: &str) -> RemoteContext {
    let source = RemoteSource {
        user: remote.user.clone(),
        host: remote.host.clone(),
        path: path.to_owned(),
    };
    let (login, cidr) = match remote.address {
        std::net::IpAddr::V4(v4) => (format!("{}@{v4}", remote.user), format!("{v4}/32")),
        std::net::IpAddr::V6(v6) => (format!("{}@[{v6}]", remote.user), format!("{v6}/128")),
    };
    RemoteContext {
        secret: format!("{}-ssh", job_name(node)),
        mount: SSH_MOUNT,
        key_file: KEY_FILE,
        known_hosts_file: KNOWN_HOSTS_FILE,
        key_b64: b64(&remote.key),
        known_hosts_b64: b64(remote.known_hosts.as_bytes()),
        login,
        ssh_options: remote::ssh_options(
            &source,
            remote.port,
            &format!("$ssh_dir/{KEY_FILE}"),
            &format!("$ssh_dir/{KNOWN_HOSTS_FILE}"),
        ),
        network_policy: job_name(node),
        cidr,
        port: remote.port,
    }
}

/// The directory of node `node`'s volume on the machine that has its disk: `<disk path>/<node>`.
pub(crate) fn volume_path(site: &Site, node: &BitcoinNode) -> String {
    storage(site, &node.name, &node.disk).path().to_owned()
}

/// The node's chain directory in its volume: the network's directory (`regtest`), or the
/// volume itself on mainnet.
pub(crate) fn chain_path(site: &Site, node: &BitcoinNode) -> String {
    match network_dir(site.spec.network) {
        "" => volume_path(site, node),
        sub => format!("{}/{sub}", volume_path(site, node)),
    }
}

/// The node's chain directory as its pods mount it (`/data/regtest`).
pub(crate) fn chain_mount(site: &Site) -> String {
    match network_dir(site.spec.network) {
        "" => DATA_MOUNT.to_owned(),
        sub => format!("{DATA_MOUNT}/{sub}"),
    }
}

/// The Job that copies a UTXO snapshot into the node's chain directory, [`SNAPSHOT_DIR`].
pub(crate) fn snapshot_context(
    site: &Site,
    node: &BitcoinNode,
    copy: &SnapshotCopy,
) -> BootstrapContext {
    let job = CopyJob {
        source: copy.file.clone(),
        remote: None,
        dirs: Vec::new(),
        absent: Vec::new(),
        delete: false,
        bwlimit: None,
        arguments: copy.arguments.clone(),
    };
    let mut context = context(site, node, &job);
    context.job.host_path_type = "File";
    context.job.snapshot_file = Some(copy.name.clone());
    context
}

pub(crate) fn context(site: &Site, node: &BitcoinNode, job: &CopyJob) -> BootstrapContext {
    let (labels, _) = component_labels(site, "openlsp-bootstrap", &node.name, "chain-bootstrap");
    let target = chain_mount(site);
    let storage = storage(site, &node.name, &node.disk);
    BootstrapContext {
        job: JobContext {
            name: job_name(&node.name),
            node: node.name.clone(),
            container: CONTAINER,
            image: images::RSYNC,
            uid: images::BITCOIND_UID,
            pvc: storage.pvc().to_owned(),
            node_name: storage.node_name().to_owned(),
            cpu_limit: site.spec.host.cpus.to_string(),
            labels,
            annotations: BTreeMap::from([(BOOTSTRAP_ANNOTATION, job.arguments.clone())]),
            data_mount: DATA_MOUNT,
            target,
            host_path: job.source.clone(),
            source: match job.remote {
                Some(_) => job.source.clone(),
                None => SOURCE_MOUNT.to_owned(),
            },
            dirs: job.dirs.clone(),
            absent: job.absent.clone(),
            delete: job.delete,
            bwlimit: job.bwlimit,
            host_path_type: "Directory",
            snapshot_dir: SNAPSHOT_DIR,
            snapshot_file: None,
            remote: job
                .remote
                .as_ref()
                .map(|remote| remote_context(&node.name, remote, &job.source)),
        },
    }
}
