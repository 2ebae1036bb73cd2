//! `openlsp bootstrap <node> --utxo-snapshot FILE`: a Bitcoin node made usable in minutes from
//! an assumeutxo snapshot, in five steps that each show what they do and can be interrupted and
//! run again. 1. the preflight on this machine (bootstrap/snapshot.rs; changes nothing), 2. ask
//! the running bitcoind (bitcoin-cli in its container, with its cookie) and wait until its
//! headers reach the snapshot's base block, 3. copy the file into its volume with the copy Job,
//! 4. `loadtxoutset` and wait for `getchainstates` to show the snapshot's chainstate, then remove
//! the copy, 5. the summary. bitcoind keeps running throughout: loadtxoutset needs it running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::bootstrap::SnapshotCopy;
use crate::bootstrap::files;
use crate::bootstrap::snapshot::{self, Loadable, SnapshotError, SnapshotNode};
use crate::cli::{BootstrapArgs, GlobalArgs};
use crate::cluster::{Cluster, LockGuard};
use crate::commands::{self, Outcome};
use crate::deploy::{self, Interrupt, Transfer as _, Waited};
use crate::object::ObjectId;
use crate::plan::context::bootstrap::{SNAPSHOT_DIR, chain_mount, chain_path};
use crate::plan::{self, Plan};
use crate::profile::quantity::Bytes;
use crate::profile::{BitcoinNode, Site};
use crate::ui::Ui;

/// What the preflight read and decided.
struct Checked {
    file: PathBuf,
    size: u64,
    snapshot: Loadable,
    /// Bytes of an earlier run's copy already in the node's volume.
    copied: u64,
    /// What the disk needs free, and has.
    needed: u64,
    free: u64,
}

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &BootstrapArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let file = args
        .utxo_snapshot
        .as_deref()
        .context("clap requires one source option; this is a bug in openlsp")?;
    ui.info(&format!(
        "1/5 preflight: {} for {}, changing nothing",
        file.display(),
        args.node
    ));
    let (node, checked) = check(site, &args.node, file)?;
    show_preflight(ui, site, &node, &checked);
    let copy = SnapshotCopy {
        file: checked.file.display().to_string(),
        name: snapshot_name(&checked.snapshot),
        arguments: format!("--utxo-snapshot {}", checked.file.display()),
    };
    let templates = commands::template_set(global)?;
    let rendered = plan::render_snapshot_copy(site, &node, &copy, &templates)?;
    if super::job::preflight_only(ui, args.render, args.check, &rendered) {
        return Ok(Outcome::Ok);
    }

    let cluster = commands::connect_within(global, Some(REQUEST_LIMIT)).await?;
    let lock = super::lock_site(&cluster, site).await?;
    let result = bootstrap(
        ui, args, site, &cluster, &lock, &node, &checked, &copy, rendered, started,
    )
    .await;
    lock.release().await;
    result
}

/// How often bitcoind is asked while openlsp waits for it (each ask is an exec in its pod).
const POLL_EVERY: Duration = Duration::from_secs(2);

/// A request may take this long at most; the copy, the wait and the load are not limited by it.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// The snapshot's name in the node's volume: its height and base block.
fn snapshot_name(snapshot: &Loadable) -> String {
    format!(
        "utxo-{}-{}.dat",
        snapshot.height, snapshot.metadata.base_blockhash
    )
}

/// Step 1 on this machine: the file read and judged, the node found, its disk measured.
fn check(site: &Site, name: &str, file: &Path) -> anyhow::Result<(BitcoinNode, Checked)> {
    if site.is_btcd(name) {
        return Err(SnapshotError::Btcd {
            node: name.to_owned(),
        }
        .into());
    }
    let node = super::bitcoin_node(site, name)?.clone();
    let shown = file.display().to_string();
    let (head, size) = read_head(file).with_context(|| {
        format!(
            "--utxo-snapshot {shown}: cannot read it on this machine; nothing was changed\n  hint: name the file that bitcoin-cli dumptxoutset wrote, on the machine with {}'s disk",
            node.name
        )
    })?;
    let metadata = snapshot::parse_metadata(&shown, &head, size)?;
    let loadable = snapshot::check_snapshot(
        &shown,
        metadata,
        SnapshotNode {
            name: &node.name,
            network: site.spec.network,
            btcd: false,
            image: &node.image,
        },
    )?;
    let volume = super::local_volume(site, &node)?;
    let chain = PathBuf::from(chain_path(site, &node));
    let copied = std::fs::metadata(chain.join(SNAPSHOT_DIR).join(snapshot_name(&loadable)))
        .map(|meta| meta.len().min(size))
        .unwrap_or(0);
    // The chainstate bitcoind builds from the snapshot takes about the snapshot's size again,
    // unless an earlier run's load already built it.
    let chainstate = if chain.join("chainstate_snapshot").is_dir() {
        0
    } else {
        size
    };
    let needed = size - copied + chainstate;
    let free = files::free_space(&volume)?;
    if needed > free {
        bail!(
            "the snapshot needs {} free on {} but it has {} (the copy of {}, plus about as much for the chainstate bitcoind builds from it); nothing was changed\n  hint: make room on {}'s disk, or move the node to a bigger one",
            Bytes(needed).human(),
            volume.display(),
            Bytes(free).human(),
            Bytes(size).human(),
            node.name
        );
    }
    let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    Ok((
        node,
        Checked {
            file,
            size,
            snapshot: loadable,
            copied,
            needed,
            free,
        },
    ))
}

/// The file's first bytes (its metadata) and its size.
fn read_head(file: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    use std::io::Read as _;
    let opened = std::fs::File::open(file)?;
    let metadata = opened.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a file"));
    }
    let size = metadata.len();
    let mut head = Vec::with_capacity(snapshot::METADATA_LEN);
    opened
        .take(snapshot::METADATA_LEN as u64)
        .read_to_end(&mut head)?;
    Ok((head, size))
}

fn show_preflight(ui: &Ui, site: &Site, node: &BitcoinNode, checked: &Checked) {
    let metadata = &checked.snapshot.metadata;
    ui.info(&format!(
        "  snapshot: {} ({}, {} coins, base block {} at height {})",
        checked.file.display(),
        site.spec.network.as_str(),
        metadata.coins,
        metadata.base_blockhash,
        checked.snapshot.height
    ));
    ui.info(&format!(
        "  size: {}{}",
        Bytes(checked.size).human(),
        if checked.copied > 0 {
            format!(
                " ({} already in {}'s volume from an earlier run)",
                Bytes(checked.copied).human(),
                node.name
            )
        } else {
            String::new()
        }
    ));
    ui.info(&format!(
        "  disk: needs {} free (the copy, and the chainstate built from it), has {}",
        Bytes(checked.needed).human(),
        Bytes(checked.free).human()
    ));
    for note in &checked.snapshot.notes {
        ui.info(&format!("  note: {note}"));
    }
}

/// bitcoin-cli in the node's bitcoind container, as its readiness probe runs it (the cookie
/// is read in the container; nothing secret is passed or printed).
struct NodeRpc<'a> {
    cluster: &'a Cluster,
    namespace: String,
    pod: String,
    container: String,
    /// The probe's command without its method: `bitcoin-cli -datadir=… -chain=… -rpcport=…`.
    cli: Vec<String>,
}

impl NodeRpc<'_> {
    /// `method args…`: bitcoind's answer as JSON (a bare string when it is not JSON), or its
    /// error as bitcoin-cli printed it.
    async fn call(&self, extra: &[&str]) -> anyhow::Result<Result<Value, String>> {
        let mut command: Vec<&str> = self.cli.iter().map(String::as_str).collect();
        command.extend_from_slice(extra);
        let done = self
            .cluster
            .exec(&self.namespace, &self.pod, &self.container, &command)
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "{err}\n  hint: the snapshot is loaded into a running node: openlsp status shows whether {} runs; then run the same command again",
                    self.pod
                )
            })?;
        if done.code != 0 {
            let message = done.stderr.trim();
            return Ok(Err(if message.is_empty() {
                format!("bitcoin-cli exited with code {}", done.code)
            } else {
                message.replace('\n', " ")
            }));
        }
        Ok(Ok(serde_json::from_str(&done.stdout).unwrap_or_else(
            |_| Value::String(done.stdout.trim().to_owned()),
        )))
    }

    /// `method`, whose failure is an error naming the method.
    async fn require(&self, extra: &[&str]) -> anyhow::Result<Value> {
        self.call(extra).await?.map_err(|message| {
            anyhow::anyhow!(
                "bitcoind in pod {}/{} answered {} with: {message}\n  hint: openlsp status shows how the node is; run the same command again once it runs",
                self.namespace,
                self.pod,
                extra[0]
            )
        })
    }
}

/// The chainstate of `getchainstates` built from the snapshot with base `base`, if there is one.
fn snapshot_chainstate<'a>(chainstates: &'a Value, base: &str) -> Option<&'a Value> {
    chainstates["chainstates"]
        .as_array()?
        .iter()
        .find(|chainstate| chainstate["snapshot_blockhash"].as_str() == Some(base))
}

/// Steps 2 to 5, under the site's lock.
#[allow(clippy::too_many_arguments)]
async fn bootstrap(
    ui: &Ui,
    args: &BootstrapArgs,
    site: &Site,
    cluster: &Cluster,
    lock: &LockGuard,
    node: &BitcoinNode,
    checked: &Checked,
    copy: &SnapshotCopy,
    rendered: Plan,
    started: Instant,
) -> anyhow::Result<Outcome> {
    let again = format!("openlsp bootstrap {} {}", node.name, copy.arguments);
    let namespace = site.namespace().to_owned();
    let rpc = node_rpc(cluster, &namespace, node).await?;
    let base = checked.snapshot.metadata.base_blockhash.clone();
    let interrupt = Interrupt::listen();

    ui.info(&format!(
        "2/5 headers: {} keeps running; waiting until it knows block {} (height {})",
        node.name, base, checked.snapshot.height
    ));
    let height_before = rpc.require(&["getblockcount"]).await?.as_u64();
    let chainstates = rpc.require(&["getchainstates"]).await?;
    let loaded = snapshot_chainstate(&chainstates, &base).is_some();
    ui.info(&format!(
        "  bitcoind: {} chainstate(s), headers at {}",
        chainstates["chainstates"].as_array().map_or(0, Vec::len),
        chainstates["headers"]
    ));
    let mut copied = None;
    if loaded {
        ui.info("  the snapshot's chainstate is loaded already (an earlier run): nothing to copy or load");
    } else {
        wait_for_header(
            ui,
            &rpc,
            &base,
            checked.snapshot.height,
            args.timeout,
            &interrupt,
            &again,
        )
        .await?;
        ui.info(&format!(
            "3/5 copy: {} into {}'s volume with a Job on its machine",
            Bytes(checked.size - checked.copied).human(),
            node.name
        ));
        let words = super::job::CopyWords {
            node: &node.name,
            state: "runs on as before",
            source: "the snapshot",
            then: "load the snapshot",
        };
        copied = super::job::copy(
            ui,
            cluster,
            lock,
            rendered,
            &words,
            checked.size,
            args.timeout,
            &interrupt,
            &again,
        )
        .await?;
        ui.info(&format!(
            "4/5 load: loadtxoutset of {} coins (bitcoind's debug.log shows its progress)",
            checked.snapshot.metadata.coins
        ));
        let in_pod = format!("{}/{SNAPSHOT_DIR}/{}", chain_mount(site), copy.name);
        load(ui, &rpc, &in_pod, &interrupt, &again).await?;
    }
    wait_for_chainstate(ui, &rpc, &base, args.timeout, &interrupt).await?;
    let in_pod = format!("{}/{SNAPSHOT_DIR}", chain_mount(site));
    remove_copy(ui, &rpc, &in_pod).await?;

    let height_after = rpc.require(&["getblockcount"]).await?.as_u64();
    let show = |height: Option<u64>| height.map_or("unknown".to_owned(), |h| h.to_string());
    ui.info("5/5 summary");
    ui.info(&format!(
        "  height: {} before, {} after (the snapshot's: {})",
        show(height_before),
        show(height_after),
        checked.snapshot.height
    ));
    ui.info(&format!(
        "  copied: {}",
        match copied {
            Some(bytes) => format!("{} ({bytes} bytes)", Bytes(bytes).human()),
            None if loaded => "nothing (loaded by an earlier run)".to_owned(),
            None => "unknown: the copy Job left no result".to_owned(),
        }
    ));
    ui.info(&format!("  took: {}", super::took(started.elapsed())));
    ui.info(&format!(
        "  {} now follows the tip from the snapshot, and validates the chain up to it in the background",
        node.name
    ));
    ui.success(&format!(
        "{} runs from the snapshot at height {}",
        node.name, checked.snapshot.height
    ));
    Ok(Outcome::Ok)
}

/// The node's running pod and the bitcoin-cli its readiness probe runs, from the live
/// StatefulSet (refused while a `--from-dir` bootstrap keeps it stopped).
async fn node_rpc<'a>(
    cluster: &'a Cluster,
    namespace: &str,
    node: &BitcoinNode,
) -> anyhow::Result<NodeRpc<'a>> {
    let id = ObjectId {
        api_version: "apps/v1".to_owned(),
        kind: "StatefulSet".to_owned(),
        namespace: Some(namespace.to_owned()),
        name: node.name.clone(),
    };
    let Some(live) = cluster.live(&id).await? else {
        bail!(
            "{} is not in the cluster: no StatefulSet {} in namespace {namespace}; nothing was changed\n  hint: run openlsp apply first, so the node runs",
            node.name,
            node.name
        );
    };
    if let Some(stopped) = deploy::stop::stopped_by_bootstrap(&live) {
        bail!(
            "{} is stopped by `{}`, which has not finished; nothing was changed\n  hint: finish that bootstrap first (run it again); a snapshot is loaded into a running node",
            node.name,
            stopped.command()
        );
    }
    let containers = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (container, probe) = containers
        .iter()
        .find_map(|container| {
            let command = container["readinessProbe"]["exec"]["command"].as_array()?;
            let words: Vec<String> = command
                .iter()
                .filter_map(|word| word.as_str().map(str::to_owned))
                .collect();
            (words.first().map(String::as_str) == Some("bitcoin-cli"))
                .then(|| (container["name"].as_str().unwrap_or_default().to_owned(), words))
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "StatefulSet {namespace}/{} has no container probed with bitcoin-cli; nothing was changed\n  hint: run openlsp apply, so it is as openlsp renders it",
                node.name
            )
        })?;
    Ok(NodeRpc {
        cluster,
        namespace: namespace.to_owned(),
        pod: format!("{}-0", node.name),
        container,
        cli: probe[..probe.len() - 1].to_vec(),
    })
}

/// Step 2's wait: bitcoind refuses loadtxoutset until the base block's header is in its
/// headers chain, which it downloads from its peers.
async fn wait_for_header(
    ui: &Ui,
    rpc: &NodeRpc<'_>,
    base: &str,
    height: u64,
    timeout: Duration,
    interrupt: &Interrupt,
    again: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut display = Box::new(ui.transfer_display("headers", None));
    loop {
        if rpc.call(&["getblockheader", base]).await?.is_ok() {
            display.finish("the base block is known");
            return Ok(());
        }
        let headers = rpc.require(&["getblockchaininfo"]).await?["headers"].as_u64();
        let note = format!(
            "at {} of {height}",
            headers.map_or("?".to_owned(), |h| h.to_string())
        );
        display.update(None, &note);
        match deploy::pause(deadline, POLL_EVERY, interrupt, Vec::new()).await {
            None => {}
            Some(Waited::TimedOut(_) | Waited::Ready) => {
                display.finish("timed out");
                bail!(
                    "{} does not know the snapshot's base block {base} after {timeout:?}: its headers are {note}; nothing was copied or loaded\n  hint: it downloads headers from its peers (openlsp status shows them); run {again} again later, or with a longer --timeout",
                    rpc.pod
                );
            }
            Some(Waited::Interrupted(_)) => {
                display.finish("interrupted");
                bail!(
                    "interrupted while waiting for headers; nothing was copied or loaded\n  hint: run {again} to go on"
                );
            }
        }
    }
}

/// Step 4: `loadtxoutset`, one call that lasts as long as the load (no client timeout).
async fn load(
    ui: &Ui,
    rpc: &NodeRpc<'_>,
    in_pod: &str,
    interrupt: &Interrupt,
    again: &str,
) -> anyhow::Result<()> {
    let display = Box::new(ui.transfer_display("loadtxoutset", None));
    let method = ["-rpcclienttimeout=0", "loadtxoutset", in_pod];
    let answer = tokio::select! {
        answer = rpc.call(&method) => answer?,
        _ = interrupt.wait() => {
            display.finish("interrupted");
            bail!("interrupted: bitcoind goes on loading the snapshot by itself\n  hint: run {again} again: it waits for the load to finish");
        }
    };
    match answer {
        Ok(result) => {
            display.finish(&format!(
                "{} coins loaded",
                result["coins_loaded"]
                    .as_u64()
                    .map_or("all".to_owned(), |n| n.to_string())
            ));
            Ok(())
        }
        Err(message) => {
            display.finish("refused");
            bail!(
                "bitcoind refused loadtxoutset: {message}\n  hint: the copy stays in {in_pod}; fix the cause and run {again} again"
            )
        }
    }
}

/// Until `getchainstates` lists the snapshot's chainstate.
async fn wait_for_chainstate(
    ui: &Ui,
    rpc: &NodeRpc<'_>,
    base: &str,
    timeout: Duration,
    interrupt: &Interrupt,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut display = Box::new(ui.transfer_display("getchainstates", None));
    loop {
        let chainstates = rpc.require(&["getchainstates"]).await?;
        if let Some(chainstate) = snapshot_chainstate(&chainstates, base) {
            display.finish(&format!(
                "the snapshot's chainstate is at height {}",
                chainstate["blocks"]
            ));
            return Ok(());
        }
        display.update(None, "waiting for the snapshot's chainstate");
        match deploy::pause(deadline, POLL_EVERY, interrupt, Vec::new()).await {
            None => {}
            Some(Waited::TimedOut(_) | Waited::Ready) => {
                display.finish("timed out");
                bail!(
                    "getchainstates shows no chainstate of the snapshot (base {base}) after {timeout:?}\n  hint: bitcoind's debug.log says why; run the same command again to go on"
                );
            }
            Some(Waited::Interrupted(_)) => {
                display.finish("interrupted");
                bail!("stopped waiting (interrupted); bitcoind goes on by itself");
            }
        }
    }
}

/// The copy is no longer needed once loaded (the chainstate holds the coins): removed, in the
/// bitcoind container (the directory is the node's own).
async fn remove_copy(ui: &Ui, rpc: &NodeRpc<'_>, dir: &str) -> anyhow::Result<()> {
    let done = rpc
        .cluster
        .exec(
            &rpc.namespace,
            &rpc.pod,
            &rpc.container,
            &["rm", "-rf", "--", dir],
        )
        .await?;
    if done.code == 0 {
        ui.info(&format!(
            "  removed the copy ({dir}): the chainstate holds its coins"
        ));
    } else {
        ui.warn(&format!(
            "the copy in {dir} stays: rm failed ({}); remove it by hand to free its space",
            done.stderr.trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_chainstate_is_found_by_its_base_block() {
        let chainstates = serde_json::json!({
            "headers": 120,
            "chainstates": [
                { "blocks": 40, "validated": true },
                { "blocks": 120, "validated": false, "snapshot_blockhash": "00ab" },
            ],
        });
        assert_eq!(
            snapshot_chainstate(&chainstates, "00ab").map(|c| &c["blocks"]),
            Some(&serde_json::json!(120))
        );
        assert!(snapshot_chainstate(&chainstates, "00cd").is_none());
        assert!(snapshot_chainstate(&serde_json::json!({}), "00ab").is_none());
    }
}
