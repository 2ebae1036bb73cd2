//! `spec.apps`: each UI names Lightning nodes of the site (ThunderHub only LND ones), each once;
//! its onion needs Tor; its names are its own. Its host is checked with every other Ingress
//! (validate/ingress.rs).

use std::collections::BTreeSet;

use super::lightning;
use crate::profile::check::Checker;
use crate::profile::site::{AppKind, Implementation, Site};

pub(super) fn check(checker: &mut Checker, site: &Site) {
    for (kind, app) in site.spec.apps.enabled() {
        let path = format!("spec.apps.{}", kind.name());
        if app.nodes.is_empty() {
            checker.error(
                &format!("{path}.nodes"),
                format!("{} manages no node", kind.title()),
                "list the Lightning nodes it manages, such as `nodes: [lnd]`, or remove it",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, name) in app.nodes.iter().enumerate() {
            let at = format!("{path}.nodes[{i}]");
            if !seen.insert(name.as_str()) {
                checker.error(
                    &at,
                    format!("{name} is listed twice"),
                    "list each node once",
                );
                continue;
            }
            if let Some(node) = lightning::check_ref(checker, site, &at, name, "")
                && kind == AppKind::Thunderhub
                && node.implementation == Implementation::Cln
            {
                checker.error(
                    &at,
                    format!("{name} runs Core Lightning, and ThunderHub manages LND nodes only"),
                    "manage it with RTL (spec.apps.rtl.nodes), or remove it here",
                );
            }
        }
        if app.onion && !site.spec.tor.enabled() {
            checker.error(
                &format!("{path}.onion"),
                format!(
                    "an onion address for {} needs Tor, and spec.tor.mode is off",
                    kind.title()
                ),
                "set spec.tor.mode: hybrid (or tor-only), or remove onion",
            );
        }
        checker.check_resources(&format!("{path}.resources"), app.resources);
        checker.check_image(&format!("{path}.image"), &app.image);
    }
    // A node may not take a UI's name: its objects would clash.
    for (i, node) in site.spec.lightning.iter().enumerate() {
        if let Some(kind) = AppKind::ALL.into_iter().find(|k| k.name() == node.name) {
            checker.error(
                &format!("spec.lightning[{i}].name"),
                format!("{:?} is the name of {}'s objects", node.name, kind.title()),
                "rename the node",
            );
        }
    }
    for (i, node) in site.spec.bitcoin.iter().enumerate() {
        if let Some(kind) = AppKind::ALL.into_iter().find(|k| k.name() == node.name) {
            checker.error(
                &format!("spec.bitcoin[{i}].name"),
                format!("{:?} is the name of {}'s objects", node.name, kind.title()),
                "rename the node",
            );
        }
    }
}
