//! `openlsp secrets seed`: where an LND seed is, and, after the node's name is typed, its words
//! once; the reveal is recorded on the wallet Secret and in the audit log.

use anyhow::bail;

use super::stamp;
use crate::cli::{GlobalArgs, SeedArgs};
use crate::commands::{self, Outcome};
use crate::plan::names;
use crate::secrets::fingerprint::fingerprint;
use crate::ui::Ui;

pub(super) async fn run(ui: &Ui, global: &GlobalArgs, args: &SeedArgs) -> anyhow::Result<Outcome> {
    let profile = commands::load_profile(ui, global)?;
    let site = &profile.site;
    let node = commands::lnd_node(site, args.node.as_deref(), "`openlsp secrets seed`")?;
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
    ui.stdout(&out);
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
