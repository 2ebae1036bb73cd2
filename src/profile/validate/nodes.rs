//! Rules for every node, Bitcoin or Lightning: a name that is unique across both kinds and
//! short enough to name the Services, StatefulSets and objects derived from it.

use std::collections::HashMap;

use crate::profile::check::{Checker, is_dns_label};
use crate::profile::site::Site;

/// Longest node name: StatefulSet pod names and derived object names need room for suffixes.
const MAX_NODE_NAME: usize = 48;

pub(super) fn check(checker: &mut Checker, site: &Site) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    let nodes = site
        .spec
        .bitcoin
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("spec.bitcoin[{i}]"), n.name.as_str()))
        .chain(
            site.spec
                .lightning
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("spec.lightning[{i}]"), n.name.as_str())),
        );
    for (node_path, name) in nodes {
        let path = format!("{node_path}.name");
        let valid = is_dns_label(name)
            && name.len() <= MAX_NODE_NAME
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if !valid {
            checker.error(
                &path,
                format!("node name {name:?} is not a valid DNS-1123 label that starts with a letter"),
                format!(
                    "use at most {MAX_NODE_NAME} lowercase letters, digits and '-', starting with a letter; it names Services and StatefulSets"
                ),
            );
        }
        if let Some(first) = seen.get(name) {
            let first = first.clone();
            checker.error(
                &path,
                format!("node name {name:?} is already used by {first}"),
                "every Bitcoin and Lightning node needs its own name",
            );
        } else {
            seen.insert(name, node_path);
        }
    }
}
