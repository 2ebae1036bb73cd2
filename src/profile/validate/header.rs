//! The document's head: `apiVersion`, `kind`, the site's name and its namespace. Everything
//! the site renders is named after these, so they are checked first.

use crate::profile::check::Checker;
use crate::profile::site::{API_VERSION, KIND, Site};

/// Namespaces of Kubernetes itself; a site never lives there.
const RESERVED_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

pub(super) fn check(checker: &mut Checker, site: &Site) {
    if site.api_version != API_VERSION {
        checker.error(
            "apiVersion",
            format!("unsupported apiVersion {:?}", site.api_version),
            format!("use `apiVersion: {API_VERSION}`"),
        );
    }
    if site.kind != KIND {
        checker.error(
            "kind",
            format!("unsupported kind {:?}", site.kind),
            format!("use `kind: {KIND}`"),
        );
    }
    checker.check_label("metadata.name", site.name(), "site name");
    let namespace = site.namespace();
    checker.check_label("spec.namespace", namespace, "namespace");
    if RESERVED_NAMESPACES.contains(&namespace) {
        checker.error(
            "spec.namespace",
            format!("{namespace:?} belongs to Kubernetes itself"),
            "pick a namespace of your own, for example `openlsp`",
        );
    }
}
