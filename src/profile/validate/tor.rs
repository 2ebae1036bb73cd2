//! `spec.tor` and the per-node `onion` opt-in: an onion service needs Tor to be on.

use crate::profile::check::Checker;
use crate::profile::site::Site;

pub(super) fn check(checker: &mut Checker, site: &Site) {
    checker.check_image("spec.tor.image", &site.spec.tor.image);
    checker.check_resources("spec.tor.resources", site.spec.tor.resources);
    for (i, node) in site.spec.lightning.iter().enumerate() {
        if !node.onion.is_empty() && !site.spec.tor.enabled() {
            checker.error(
                &format!("spec.lightning[{i}].onion"),
                format!(
                    "an onion service for {}'s APIs needs Tor, but spec.tor.mode is off",
                    node.implementation.label()
                ),
                "set spec.tor.mode to hybrid or tor-only, or remove `onion`",
            );
        }
    }
}
