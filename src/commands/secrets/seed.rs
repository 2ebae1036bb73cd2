//! `openlsp secrets seed`: where a node's seed is, and, after the node's name is typed, its words
//! once. LND's seed is in the cluster (lndinit made it); the reveal is recorded on the wallet
//! Secret and in the audit log. A Core Lightning node's 12 words are in the state dir (openlsp
//! made them); the reveal is recorded in the audit log.

use anyhow::bail;

use super::stamp;
use crate::cli::{GlobalArgs, SeedArgs};
use crate::commands::{self, Outcome};
use crate::plan::names;
use crate::profile::{Implementation, LightningNode};
use crate::secrets::fingerprint::fingerprint;
use crate::secrets::paths;
use crate::ui::Ui;

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: &SeedArgs) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let node = commands::lightning_node(site, args.node.as_deref())?;
    if node.implementation == Implementation::Cln {
        return cln_words(ui, global, args, site.name(), node);
    }
    let cluster = commands::connect_cluster(global).await?;
    let wallet = names::wallet_secret(&node.name);
    let data = cluster
        .secret_data(site.namespace(), &wallet)
        .await?
        .unwrap_or_default();
    let Some(words) = data.get(names::SEED_KEY) else {
        bail!(
            "{} has no seed yet: lndinit creates it when the LND pod first starts\n  hint: kubectl -n {} get pods",
            node.name,
            site.namespace()
        );
    };
    if !args.reveal {
        ui.stdout(&format!(
            "The seed of {} is in Secret {}/{wallet} (key seed, {}).\nPrint it with: openlsp secrets seed {} --reveal\n",
            node.name,
            site.namespace(),
            fingerprint([words.as_slice()]),
            node.name
        ));
        return Ok(Outcome::Ok);
    }
    confirm(ui, args, node)?;
    ui.stdout(&word_grid(node, words));
    let now = stamp();
    cluster
        .annotate_secret(
            site.namespace(),
            &wallet,
            crate::object::SEED_REVEALED_ANNOTATION,
            &now,
        )
        .await?;
    if let Ok(state) = commands::open_state(global, site.name()) {
        state.audit(&format!("seed of {} revealed", node.name))?;
    }
    ui.info(&format!(
        "the reveal was recorded (annotation {} on the wallet Secret)",
        crate::object::SEED_REVEALED_ANNOTATION
    ));
    Ok(Outcome::Ok)
}

/// The typed confirmation before words are shown.
fn confirm(ui: &Ui, args: &SeedArgs, node: &LightningNode) -> anyhow::Result<()> {
    let confirmed = match &args.confirm_node {
        Some(name) => name == &node.name,
        None => ui.confirm_typed(
            &format!("This prints the seed of {}: whoever sees it owns the funds. Nobody watching, no screen sharing?", node.name),
            &node.name,
            "pass --confirm-node <node>",
        )?,
    };
    if !confirmed {
        bail!("the node name was not confirmed; the seed was not shown");
    }
    Ok(())
}

/// The words, numbered, four to a line.
fn word_grid(node: &LightningNode, words: &[u8]) -> String {
    let text = String::from_utf8_lossy(words).into_owned();
    let mut out = format!(
        "Seed of {} (write the words down on paper, in order):\n\n",
        node.name
    );
    for (index, word) in text.split_whitespace().enumerate() {
        out.push_str(&format!("{:>3}. {word:<10}", index + 1));
        if (index + 1) % 4 == 0 {
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

/// A Core Lightning node's 12 words, from the state dir, where openlsp made them; its pod
/// wrote `hsm_secret` from them.
fn cln_words(
    ui: &Ui,
    global: &GlobalArgs,
    args: &SeedArgs,
    site: &str,
    node: &LightningNode,
) -> anyhow::Result<Outcome> {
    let state = commands::open_state(global, site)?;
    let path = paths::hsm_words(&node.name);
    let Some(words) = state.read(&path)? else {
        bail!(
            "{} has no words in the state dir {} yet\n  hint: `openlsp render` or `apply` makes them; if the site already runs, `openlsp secrets pull` takes them from Secret {}",
            node.name,
            state.root().display(),
            names::hsm_secret(&node.name)
        );
    };
    if !args.reveal {
        ui.stdout(&format!(
            "The 12 words of {} (from which its hsm_secret is made) are in the state dir: {} ({}), and in Secret {}.\nPrint them with: openlsp secrets seed {} --reveal\n",
            node.name,
            state.root().join(&path).display(),
            fingerprint([words.as_slice()]),
            names::hsm_secret(&node.name),
            node.name
        ));
        return Ok(Outcome::Ok);
    }
    confirm(ui, args, node)?;
    ui.stdout(&word_grid(node, &words));
    state.audit(&format!("seed of {} revealed", node.name))?;
    ui.info("the reveal was recorded in the state dir's audit log");
    Ok(Outcome::Ok)
}
