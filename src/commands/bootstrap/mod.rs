//! `openlsp bootstrap <node> --from-dir PATH | --from-host USER@HOST:PATH`: copy a chain into a
//! Bitcoin node, in five steps that each show what they do and can be interrupted and run again
//! (`--utxo-snapshot` is snapshot.rs; the copy Job both run is job.rs). 1. the preflight on this
//! machine (bootstrap/'s rules; changes nothing), 2. stop the node (deploy/stop.rs), 3. copy with
//! a Job on the node's disk (plan/'s templates/bootstrap/, deploy/job.rs), 4. start it again as
//! `apply` would and wait for its height, 5. the summary.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::Outcome;
use crate::bootstrap::files::{self, Chain};
use crate::bootstrap::preflight::{self, CopyPlan, NodeChain, Target};
use crate::bootstrap::remote::{self, RemoteError, RemoteSource};
use crate::bootstrap::{CopyJob, RemoteCopy};
use crate::cli::{BootstrapArgs, GlobalArgs};
use crate::cluster::{ApplySet, Cluster, Desired, LockGuard};
use crate::deploy::{self, Interrupt, Transfer as _, Waited};
use crate::plan::context::bootstrap::{chain_path, volume_path};
use crate::plan::{self, Plan};
use crate::profile::quantity::Bytes;
use crate::profile::{BitcoinNode, Site};
use crate::secrets::provided::{BOOTSTRAP_SSH, BOOTSTRAP_SSH_PATH};
use crate::ui::Ui;

mod job;
mod snapshot;

/// What the preflight read and decided.
struct Checked {
    source: Chain,
    target: Target,
    plan: CopyPlan,
    /// The node's height before, from its debug.log.
    height_before: Option<u64>,
}

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &BootstrapArgs) -> anyhow::Result<Outcome> {
    if args.utxo_snapshot.is_some() {
        return snapshot::run(ui, global, args).await;
    }
    let started = Instant::now();
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let node = bitcoin_node(site, &args.node)?.clone();
    let arguments = arguments(args);
    let source = Source::of(args, global, site)?;

    ui.info(&format!(
        "1/5 preflight: {} and {}, changing nothing",
        source.name(),
        node.name
    ));
    let checked = check(site, &node, &source, args.delete)?;
    show_preflight(ui, site, &node, &checked);
    let job = CopyJob {
        source: checked.source.dir.clone(),
        remote: source.remote_copy(),
        dirs: checked.plan.dirs.clone(),
        absent: checked.plan.absent.clone(),
        delete: args.delete,
        bwlimit: args.bwlimit,
        arguments: arguments.clone(),
    };
    let templates = super::template_set(global)?;
    let rendered = plan::render_bootstrap(site, &node, &job, &templates)?;
    if job::preflight_only(ui, args.render, args.check, &rendered) {
        return Ok(Outcome::Ok);
    }

    let cluster = super::connect_within(global, Some(args.timeout.min(REQUEST_LIMIT))).await?;
    let lock = lock_site(&cluster, site).await?;
    let result = bootstrap(
        ui, global, args, profile, &cluster, &lock, &node, &checked, rendered, started,
    )
    .await;
    lock.release().await;
    result
}

/// The site's lock, once the site is the command line's (not the controller's) and applied.
async fn lock_site(cluster: &Cluster, site: &Site) -> anyhow::Result<LockGuard> {
    let namespace = site.namespace();
    super::refuse_controller_managed(cluster, namespace, super::CliWrite::Bootstrap).await?;
    if !cluster.namespace_exists(namespace).await? {
        bail!(
            "namespace {namespace} does not exist: {} has never been applied; nothing was changed\n  hint: run openlsp apply first, then bootstrap the node",
            site.name()
        );
    }
    Ok(cluster.lock(namespace).await?)
}

/// A request may take this long at most; the copy itself is not limited.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// Steps 2 to 5, under the site's lock.
#[allow(clippy::too_many_arguments)]
async fn bootstrap(
    ui: &Ui,
    global: &GlobalArgs,
    args: &BootstrapArgs,
    profile: crate::profile::LoadedProfile,
    cluster: &Cluster,
    lock: &LockGuard,
    node: &BitcoinNode,
    checked: &Checked,
    rendered: Plan,
    started: Instant,
) -> anyhow::Result<Outcome> {
    let again = format!("openlsp bootstrap {} {}", node.name, arguments(args));
    let mut planned = super::plan_with_cluster(ui, global, profile, cluster, &[]).await?;
    let site = planned.profile.site.clone();
    let set = ApplySet::new(site.namespace());
    let desired = super::desired_objects(std::mem::take(&mut planned.plan), &set)?;
    let workload = desired
        .iter()
        .find(|d| d.id.kind == "StatefulSet" && d.id.name == node.name)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the plan has no StatefulSet {}; this is a bug in openlsp",
                node.name
            )
        })?
        .clone();
    let Some(live) = cluster.live(&workload.id).await? else {
        bail!(
            "{} is not in the cluster: {} has no StatefulSet {} in namespace {}; nothing was changed\n  hint: run openlsp apply first, so the node and its volume exist",
            node.name,
            site.name(),
            workload.id.name,
            site.namespace()
        );
    };
    let resuming = deploy::stop::stopped_by_bootstrap(&live).is_some();
    confirm(ui, args, node, checked, resuming).await?;
    let interrupt = Interrupt::listen();

    ui.info(&format!(
        "2/5 stop: {} scaled to 0 until the copy is done",
        node.name
    ));
    let clients: Vec<&str> = site
        .clients_of(&node.name)
        .map(|client| client.name.as_str())
        .collect();
    if !clients.is_empty() {
        ui.info(&format!(
            "  {} keep{} running: {} reconnect{} when {} is back",
            clients.join(", "),
            if clients.len() == 1 { "s" } else { "" },
            if clients.len() == 1 { "it" } else { "they" },
            if clients.len() == 1 { "s" } else { "" },
            node.name
        ));
    }
    let stopped = deploy::stop::stop_workload(
        cluster,
        lock,
        ui,
        &workload,
        &arguments(args),
        args.timeout,
        &interrupt,
    )
    .await
    .map_err(|err| super::deploy_failed(err, &again))?;
    match stopped {
        Waited::Ready => {}
        Waited::TimedOut(left) => bail!(
            "{} did not stop within {:?}: {} still there; it stays marked as stopped and nothing was copied\n  hint: kubectl get pods -n {} shows why; run {again} again to go on",
            node.name,
            args.timeout,
            left.join(", "),
            site.namespace()
        ),
        Waited::Interrupted(_) => bail!(
            "interrupted while {} stopped; nothing was copied and it stays stopped\n  hint: run {again} to go on",
            node.name
        ),
    }

    ui.info(&format!(
        "3/5 copy: {} with a Job on {}'s disk",
        checked.plan.dirs.join(", "),
        node.name
    ));
    let words = job::CopyWords {
        node: &node.name,
        state: "stays stopped",
        source: "the source",
        then: "start the node",
    };
    let copied = job::copy(
        ui,
        cluster,
        lock,
        rendered,
        &words,
        checked.plan.source_bytes,
        args.timeout,
        &interrupt,
        &again,
    )
    .await?;

    ui.info(&format!("4/5 start: {} as apply has it", node.name));
    let target_dir = PathBuf::from(chain_path(&site, node));
    let log_from = files::log_length(&target_dir);
    deploy::stop::start_workload(cluster, lock, &workload)
        .await
        .map_err(|err| super::deploy_failed(err, "openlsp apply"))?;
    let height_after = if args.no_wait {
        None
    } else {
        wait_for_height(
            ui,
            cluster,
            &workload,
            &target_dir,
            log_from,
            checked.source.tip,
            args.timeout,
            &interrupt,
        )
        .await?
    };

    let show = |height: Option<u64>| height.map_or("unknown".to_owned(), |h| h.to_string());
    ui.info("5/5 summary");
    ui.info(&format!(
        "  height: {} before, {} after (the source's: {})",
        show(checked.height_before),
        if args.no_wait {
            "not waited for (--no-wait)".to_owned()
        } else {
            show(height_after)
        },
        show(checked.source.tip)
    ));
    ui.info(&format!(
        "  copied: {}",
        match copied {
            Some(bytes) => format!("{} ({bytes} bytes)", Bytes(bytes).human()),
            None => "unknown: the copy Job left no result".to_owned(),
        }
    ));
    ui.info(&format!("  took: {}", took(started.elapsed())));
    ui.success(&format!("{} is bootstrapped and running", node.name));
    Ok(Outcome::Ok)
}

/// Step 4's wait: the StatefulSet ready, then bitcoind's log naming a height at least the
/// source's (any height when the source's is unknown), or the timeout.
#[allow(clippy::too_many_arguments)]
async fn wait_for_height(
    ui: &Ui,
    cluster: &Cluster,
    workload: &Desired,
    target_dir: &Path,
    log_from: u64,
    wanted: Option<u64>,
    timeout: Duration,
    interrupt: &Interrupt,
) -> anyhow::Result<Option<u64>> {
    let deadline = Instant::now() + timeout;
    let (_, waited) = deploy::wait_for_workloads(
        cluster,
        ui,
        std::slice::from_ref(workload),
        timeout,
        interrupt,
    )
    .await
    .map_err(|err| super::deploy_failed(err, "openlsp apply"))?;
    match waited {
        Waited::Ready => {}
        Waited::TimedOut(left) => bail!(
            "the copy is done and {} was started, but it is not ready after {timeout:?}: {}\n  hint: openlsp status shows why (verifying the copied blocks can take a while on a Pi)",
            workload.id.name,
            left.join(", ")
        ),
        Waited::Interrupted(_) => bail!(
            "stopped waiting (interrupted); the copy is done and {} was started",
            workload.id.name
        ),
    }
    let log = target_dir.join("debug.log");
    let mut display = Box::new(ui.transfer_display(&format!("{} height", workload.id.name), None));
    loop {
        let height = files::read_log_tip(&log, log_from);
        if let Some(height) = height
            && wanted.is_none_or(|wanted| height >= wanted)
        {
            display.finish(&format!("at height {height}"));
            return Ok(Some(height));
        }
        display.update(
            None,
            &match (height, wanted) {
                (Some(height), Some(wanted)) => format!("at height {height} of {wanted}"),
                _ => "waiting for bitcoind to log its height".to_owned(),
            },
        );
        match deploy::pause(deadline, Duration::from_secs(1), interrupt, Vec::new()).await {
            None => {}
            Some(Waited::TimedOut(_) | Waited::Ready) => {
                display.finish("timed out");
                bail!(
                    "the copy is done and {} runs, but its debug.log named no height{} within {timeout:?}\n  hint: openlsp status and {} show how it is doing",
                    workload.id.name,
                    wanted
                        .map(|w| format!(" of at least {w}"))
                        .unwrap_or_default(),
                    log.display()
                );
            }
            Some(Waited::Interrupted(_)) => {
                display.finish("interrupted");
                bail!(
                    "stopped waiting (interrupted); the copy is done and {} runs",
                    workload.id.name
                );
            }
        }
    }
}

/// Where the chain comes from.
enum Source {
    Dir(PathBuf),
    Host(Box<HostSource>),
}

/// `--from-host`: the source, its address and port, the key and the known_hosts lines.
struct HostSource {
    source: RemoteSource,
    address: IpAddr,
    port: u16,
    key_file: PathBuf,
    key: Vec<u8>,
    known_hosts_file: PathBuf,
    known_hosts: String,
}

impl Source {
    /// The source the options name; for a host, the key and its host key found, or why not.
    fn of(args: &BootstrapArgs, global: &GlobalArgs, site: &Site) -> anyhow::Result<Self> {
        if let Some(dir) = &args.from_dir {
            return Ok(Self::Dir(dir.clone()));
        }
        let text = args
            .from_host
            .as_deref()
            .context("clap requires one source option; this is a bug in openlsp")?;
        let source = RemoteSource::parse(text)
            .map_err(|why| anyhow::anyhow!("--from-host: {why}; nothing was changed"))?;
        let state = super::open_state(global, site.name())?;
        let Some(key) = state.read(BOOTSTRAP_SSH_PATH)? else {
            bail!(
                "--from-host needs the SSH key openlsp logs in to {} with, and the state dir has none; nothing was changed\n  hint: openlsp secrets set {BOOTSTRAP_SSH} --from-file ~/.ssh/openlsp-bootstrap (a key without a passphrase whose .pub is in {}'s authorized_keys; docs/bootstrap.md)",
                source.host,
                source.user
            );
        };
        let port = args.ssh_port;
        let known_hosts_file = args
            .known_hosts
            .clone()
            .unwrap_or_else(remote::default_known_hosts);
        let name = source.known_hosts_name(port);
        let known_hosts = remote::known_hosts_entries(&known_hosts_file, &name)?;
        if known_hosts.is_empty() {
            return Err(RemoteError::UnknownHost {
                name,
                known_hosts: known_hosts_file.display().to_string(),
                port,
                user: source.user.clone(),
                host: source.host.clone(),
            }
            .into());
        }
        let address = remote::resolve(&source.host, port)?;
        Ok(Self::Host(Box::new(HostSource {
            key_file: state.root().join(BOOTSTRAP_SSH_PATH),
            source,
            address,
            port,
            key,
            known_hosts_file,
            known_hosts,
        })))
    }

    fn name(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::Host(host) => host.source.to_string(),
        }
    }

    /// The source's chain, read where it is.
    fn read_chain(&self, network: crate::profile::Network) -> anyhow::Result<Chain> {
        match self {
            Self::Dir(from) => {
                if !from.is_dir() {
                    bail!(
                        "--from-dir {}: no such directory on this machine; nothing was changed\n  hint: name the datadir that holds blocks/ and chainstate/ (or its network's directory, such as .../regtest)",
                        from.display()
                    );
                }
                Ok(files::read_local_chain(from, network)?)
            }
            Self::Host(host) => Ok(remote::Session {
                source: &host.source,
                address: host.address,
                port: host.port,
                key_file: &host.key_file,
                known_hosts_file: &host.known_hosts_file,
            }
            .read_chain(network)?),
        }
    }

    fn remote_copy(&self) -> Option<RemoteCopy> {
        match self {
            Self::Dir(_) => None,
            Self::Host(host) => Some(RemoteCopy {
                user: host.source.user.clone(),
                host: host.source.host.clone(),
                address: host.address,
                port: host.port,
                key: host.key.clone(),
                known_hosts: host.known_hosts.clone(),
            }),
        }
    }
}

/// Step 1 on this machine: both sides read, and bootstrap/'s rules applied.
fn check(site: &Site, node: &BitcoinNode, from: &Source, delete: bool) -> anyhow::Result<Checked> {
    let network = site.spec.network;
    let volume = local_volume(site, node)?;
    let target_dir = PathBuf::from(chain_path(site, node));
    let source = from.read_chain(network)?;
    let canonical =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (a, b) = (canonical(Path::new(&source.dir)), canonical(&volume));
    if matches!(from, Source::Dir(_)) && (a.starts_with(&b) || b.starts_with(&a)) {
        bail!(
            "the source {} and {}'s volume {} overlap; nothing was changed\n  hint: copy from another node's datadir",
            source.dir,
            node.name,
            volume.display()
        );
    }
    let target = Target {
        dir: target_dir.display().to_string(),
        files: files::read_local_files(&target_dir)?,
        free: files::free_space(&volume)?,
    };
    let node_chain = NodeChain {
        network,
        prune: node.prune,
        txindex: node.txindex,
    };
    let plan = preflight::check_copy(&node.name, node_chain, &source, &target, delete)?;
    Ok(Checked {
        height_before: files::read_local_tip(&target_dir),
        source,
        target,
        plan,
    })
}

/// The node's volume on this machine (`<disk path>/<node>`), or why it is not here.
fn local_volume(site: &Site, node: &BitcoinNode) -> anyhow::Result<PathBuf> {
    let volume = PathBuf::from(volume_path(site, node));
    if !volume.is_dir() {
        let disk = &site.spec.disks[&node.disk];
        bail!(
            "{} is not on this machine: {} (spec.disks.{}.path {} + the node's name) does not exist; nothing was changed\n  hint: run openlsp bootstrap on {}, the machine with the disk, once openlsp apply has created the node",
            node.name,
            volume.display(),
            node.disk,
            disk.path,
            disk.node_name
        );
    }
    Ok(volume)
}

fn show_preflight(ui: &Ui, site: &Site, node: &BitcoinNode, checked: &Checked) {
    let Checked {
        source,
        target,
        plan,
        ..
    } = checked;
    ui.info(&format!(
        "  source: {} ({} chain, {})",
        source.dir,
        site.spec.network.as_str(),
        source
            .tip
            .map_or("tip unknown: no debug.log".to_owned(), |h| format!(
                "tip at height {h}"
            ))
    ));
    ui.info(&format!(
        "  copies: {} in {}",
        Bytes(plan.source_bytes).human(),
        plan.dirs.join(", ")
    ));
    ui.info(&format!(
        "  target: {} ({} there now)",
        target.dir,
        Bytes(target.files.total()).human()
    ));
    ui.info(&format!(
        "  disk: needs {} free, has {}",
        Bytes(plan.needed).human(),
        Bytes(plan.free).human()
    ));
    if !plan.extra.is_empty() {
        ui.warn(&format!(
            "--delete removes {} file(s) of {} that the source lacks ({}{})",
            plan.extra.len(),
            node.name,
            plan.extra
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if plan.extra.len() > 3 { ", …" } else { "" }
        ));
    }
    for note in &plan.notes {
        ui.info(&format!("  note: {note}"));
    }
}

/// Stopping the node, and deleting its files with --delete, need a yes.
async fn confirm(
    ui: &Ui,
    args: &BootstrapArgs,
    node: &BitcoinNode,
    checked: &Checked,
    resuming: bool,
) -> anyhow::Result<()> {
    if args.yes {
        return Ok(());
    }
    let deleting = if checked.plan.extra.is_empty() && checked.plan.absent.is_empty() {
        String::new()
    } else {
        format!(
            ", and delete {} file(s) of its {} that the source lacks",
            checked.plan.extra.len(),
            ["blocks", "chainstate", "indexes"].join(", ")
        )
    };
    let question = format!(
        "{} {} and copy {} into it{deleting}?",
        if resuming { "Keep stopped" } else { "Stop" },
        node.name,
        Bytes(checked.plan.source_bytes).human()
    );
    let ui = ui.clone();
    let confirmed = tokio::task::spawn_blocking(move || {
        ui.confirm(&question, false, "pass --yes to bootstrap without asking")
    })
    .await??;
    if !confirmed {
        bail!("bootstrap cancelled; nothing was changed");
    }
    Ok(())
}

fn bitcoin_node<'a>(site: &'a Site, name: &str) -> anyhow::Result<&'a BitcoinNode> {
    if site.is_btcd(name) {
        bail!(
            "{name} is btcd, whose data directory (ffldb) is not bitcoind's blocks/ and chainstate/; nothing was changed\n  hint: bootstrap copies bitcoind's chain; a btcd node syncs by itself (a simnet chain takes seconds)"
        );
    }
    site.bitcoin_node(name).with_context(|| {
        format!(
            "no Bitcoin node named {name:?} in spec.bitcoin; nothing was changed\n  hint: known: {}",
            site.spec
                .bitcoin
                .iter()
                .map(|node| node.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The arguments that repeat this bootstrap (without --yes).
fn arguments(args: &BootstrapArgs) -> String {
    let mut words: Vec<String> = args
        .from_dir
        .iter()
        .map(|dir| format!("--from-dir {}", dir.display()))
        .chain(
            args.from_host
                .iter()
                .map(|host| format!("--from-host {host}")),
        )
        .collect();
    if args.from_host.is_some() && args.ssh_port != 22 {
        words.push(format!("--ssh-port {}", args.ssh_port));
    }
    if let Some(file) = &args.known_hosts {
        words.push(format!("--known-hosts {}", file.display()));
    }
    if args.delete {
        words.push("--delete".to_owned());
    }
    if let Some(limit) = args.bwlimit {
        words.push(format!("--bwlimit {limit}"));
    }
    words.join(" ")
}

/// `1h 02m 03s`, `4m 05s`, `6s`.
fn took(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    match (seconds / 3600, seconds / 60 % 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}
