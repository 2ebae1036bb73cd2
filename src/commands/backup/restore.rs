//! `openlsp backup restore <node> --from FILE`: gives a running LND a channel backup, which asks
//! every peer in it to force-close, so the funds in those channels come back on chain (lnd's
//! docs/recovery.md, "Recovering Using SCBs"). Everything that can be checked first is: the file,
//! the cluster copy it is compared with, the seed in the wallet Secret, the node's state, and
//! LND's own verdict that the backup is for its seed (VerifyChanBackup); then a typed
//! confirmation, and RestoreChannelBackups. LND is reached through the API server's proxy to
//! its REST port, with the admin macaroon its pod published.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{ClusterCopy, short_sha};
use crate::channel_backup::{check_backup_file, sha256_hex};
use crate::cli::{BackupRestoreArgs, GlobalArgs};
use crate::cluster::{Cluster, ServicePort};
use crate::commands::{self, Outcome};
use crate::plan::names;
use crate::profile::Implementation;
use crate::ui::Ui;

/// LND's REST port, as its Service names it.
const REST_PORT: &str = "rest";
/// The macaroon LND's REST API reads (lnd's docs/rest: the `Grpc-Metadata-macaroon` header).
const MACAROON_HEADER: &str = "Grpc-Metadata-macaroon";

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &BackupRestoreArgs,
) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let node = commands::lightning_node(site, Some(&args.node))?;
    let namespace = site.namespace();
    if node.implementation == Implementation::Cln {
        let network = crate::plan::context::cln::cln_network(site.spec.network);
        bail!(
            "{} runs Core Lightning, whose emergencyrecover reads emergency.recover from its own data directory: openlsp cannot hand the file over through the API; nothing was sent\n  hint: on a node made from the same 12 words, put the file at /data/{network}/emergency.recover in pod {}-0 and run `lightning-cli --lightning-dir=/data --network={network} emergencyrecover` there (docs/backup.md, \"Core Lightning: getting the funds back\")",
            node.name,
            node.name
        );
    }
    let file = args.from.display();
    let backup =
        std::fs::read(&args.from).with_context(|| format!("reading {file}; nothing was sent"))?;
    check_backup_file(Implementation::Lnd, &backup).map_err(|reason| {
        anyhow::anyhow!("{file} is not a channel backup: {reason}; nothing was sent")
    })?;
    let sha = sha256_hex(&backup);
    let cluster = commands::connect_cluster(global).await?;

    let copy = ClusterCopy::read(&cluster, site, node).await?;
    match copy.backup() {
        Some(latest) if sha256_hex(latest) == sha => ui.info(&format!(
            "{file} ({}) is the cluster's latest copy of {}'s channel backup",
            short_sha(&sha),
            node.name
        )),
        Some(latest) => ui.warn(&format!(
            "{file} ({}) is not the cluster's latest copy ({}): restore the newest backup you have, an older one misses the channels opened since",
            short_sha(&sha),
            short_sha(&sha256_hex(latest))
        )),
        None => ui.info(&format!(
            "the cluster has no copy of {}'s channel backup to compare {file} with",
            node.name
        )),
    }

    let wallet = names::wallet_secret(&node.name);
    let has_seed = cluster
        .secret_data(namespace, &wallet)
        .await?
        .is_some_and(|data| data.contains_key(names::SEED_KEY));
    if !has_seed {
        bail!(
            "Secret {namespace}/{wallet} has no seed: {} does not run a wallet made from the seed this backup needs; nothing was sent\n  hint: on a new machine, put the seed in the wallet Secret before LND first starts (docs/backup.md, \"Getting the funds back on a new machine\")",
            node.name
        );
    }
    let macaroons = names::macaroons_secret(&node.name);
    let admin = cluster
        .secret_data(namespace, &macaroons)
        .await?
        .and_then(|mut data| data.remove("admin.macaroon"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "Secret {namespace}/{macaroons} has no admin.macaroon: the node's pod publishes it once LND runs; nothing was sent\n  hint: kubectl -n {namespace} get pods"
            )
        })?;
    let lnd = Lnd {
        cluster: &cluster,
        namespace,
        service: &node.name,
        macaroon: hex::encode(admin),
    };

    let state = lnd
        .call(http::Method::GET, "/v1/state", None)
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "cannot reach LND {} through the API server: {err}; nothing was sent\n  hint: is its pod running and ready? kubectl -n {namespace} get pods",
                node.name
            )
        })?;
    let state = state["state"].as_str().unwrap_or("UNKNOWN");
    if state != "SERVER_ACTIVE" {
        bail!(
            "LND {} is {state}, not running with its wallet unlocked; nothing was sent\n  hint: wait until it is ready (kubectl -n {namespace} get pods), then run this again",
            node.name
        );
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&backup);
    let verify = json!({ "multi_chan_backup": { "multi_chan_backup": encoded } });
    lnd.call(
        http::Method::POST,
        "/v1/channels/backup/verify",
        Some(verify),
    )
    .await
    .map_err(|err| {
        anyhow::anyhow!(
            "LND {} refuses {file}: {err}; it was made with another seed, or it is damaged; nothing was restored",
            node.name
        )
    })?;
    ui.info(&format!(
        "LND {} can read {file}: it was made with this node's seed",
        node.name
    ));

    ui.warn(&format!(
        "restoring asks every peer in the backup to force-close its channel with {}; the funds come back on chain once the closes confirm, and the channels are gone. Never restore while the node that made the backup might still run with its channel database: a peer would punish its old state",
        node.name
    ));
    let confirmed = match &args.confirm_node {
        Some(name) => name == &node.name,
        None => ui.confirm_typed(
            &format!("Restore {file} to {}", node.name),
            &node.name,
            "pass --confirm-node <node>",
        )?,
    };
    if !confirmed {
        bail!("the node name was not confirmed; nothing was restored");
    }
    lnd.call(
        http::Method::POST,
        "/v1/channels/backup/restore",
        Some(json!({ "multi_chan_backup": encoded })),
    )
    .await
    .map_err(|err| anyhow::anyhow!("LND {} did not restore {file}: {err}", node.name))?;
    if let Ok(state) = commands::open_state(global, site.name()) {
        state.audit(&format!(
            "channel backup {} restored to {}",
            short_sha(&sha),
            node.name
        ))?;
    }
    ui.success(&format!(
        "LND {} has the channels of {file}; it now asks their peers to close them",
        node.name
    ));
    ui.info(&format!(
        "watch the closes: kubectl -n {namespace} exec {}-0 -c lnd -- lncli --lnddir=/data --network={} --tlscertpath=/etc/lnd/tls/tls.cert pendingchannels",
        node.name,
        site.spec.network.as_str()
    ));
    Ok(Outcome::Ok)
}

/// LND's REST API through the API server's proxy, with the admin macaroon.
struct Lnd<'a> {
    cluster: &'a Cluster,
    namespace: &'a str,
    service: &'a str,
    macaroon: String,
}

impl Lnd<'_> {
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let body = body.map(|b| b.to_string().into_bytes());
        let text = self
            .cluster
            .proxy(
                &ServicePort {
                    scheme: "https",
                    namespace: self.namespace,
                    service: self.service,
                    port: REST_PORT,
                },
                method,
                path,
                &[(MACAROON_HEADER, &self.macaroon)],
                body,
            )
            .await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
