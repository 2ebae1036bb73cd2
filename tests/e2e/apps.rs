//! The channel management UIs on the real API server: ThunderHub (with the full stack) and RTL
//! (with both implementations) apply, a second apply writes nothing, and when a UI leaves the
//! profile its workload, Service, policy and configuration go, but its password Secret (and
//! onion key) stay as data until `--prune-data`.

use crate::common::e2e::{self, Site};

#[test]
fn thunderhub_applies_reapplies_as_a_no_op_and_is_pruned_keeping_its_password() {
    applies_and_is_pruned_keeping_its_password("full-stack", "thunderhub", true);
}

#[test]
fn rtl_applies_reapplies_as_a_no_op_and_is_pruned_keeping_its_password() {
    applies_and_is_pruned_keeping_its_password("cln-and-lnd", "rtl", false);
}

fn applies_and_is_pruned_keeping_its_password(example: &str, app: &str, onion: bool) {
    let Some(site) = Site::new(example, app) else {
        return;
    };
    e2e::addon_crds(&site.kubeconfig).expect("the cert-manager and prometheus-operator CRDs");
    e2e::ensure_namespace(&site.kubeconfig, "observability");
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let exists = |kind: &str, name: &str| {
        site.kubectl(&["get", kind, name, "-n", site.namespace()])
            .code
            == 0
    };
    let password = format!("{app}-password");
    let onion_key = format!("{app}-onion");
    let mut data = vec![("secret", password.as_str())];
    if onion {
        data.push(("secret", onion_key.as_str()));
    }
    let config = format!("{app}-config");
    let workload = [
        ("deployment", app),
        ("service", app),
        ("secret", config.as_str()),
        ("networkpolicy", app),
    ];
    for (kind, name) in data.iter().chain(&workload) {
        assert!(exists(kind, name), "{kind}/{name}");
    }
    site.assert_reapply_is_a_no_op();

    site.edit(|mut profile| {
        profile["spec"].as_object_mut().unwrap().remove("apps");
        profile
    });
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    for (kind, name) in workload {
        assert!(!exists(kind, name), "{kind}/{name} must be pruned");
    }
    for (kind, name) in &data {
        assert!(exists(kind, name), "{kind}/{name} holds data and must stay");
    }
    site.openlsp(&["diff"]).expect(0);
    site.openlsp(&[
        "apply",
        "--yes",
        "--no-wait",
        "--prune-data",
        "--confirm-site",
        &site.name,
    ])
    .expect(0);
    for (kind, name) in data {
        assert!(!exists(kind, name), "--prune-data removes {kind}/{name}");
    }
    site.assert_nothing_leaked();
}
