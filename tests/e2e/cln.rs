//! A site with Core Lightning beside LND on the real API server: a fresh apply creates CLN's
//! objects, a second one writes nothing and diff finds nothing, and when the CLN node leaves the
//! profile its workload is pruned but its data (volume, words, bitcoind credential, onion keys)
//! stays, as do the words in the state dir.

use crate::common::e2e::Site;

#[test]
fn cln_applies_reapplies_as_a_no_op_and_is_pruned_keeping_its_data() {
    let Some(site) = Site::new("cln-and-lnd", "cln") else {
        return;
    };
    site.openlsp(&["diff"]).expect(1);
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let exists = |kind: &str, name: &str| {
        site.kubectl(&["get", kind, name, "-n", site.namespace()])
            .code
            == 0
    };
    for (kind, name) in [
        ("statefulset", "cln"),
        ("service", "cln"),
        ("configmap", "cln-config"),
        ("secret", "cln-hsm"),
        ("secret", "cln-bitcoind-rpc"),
        ("networkpolicy", "cln"),
        ("statefulset", "lnd"),
    ] {
        assert!(exists(kind, name), "{kind}/{name}");
    }

    let before = site.settle();
    assert_eq!(before.len(), site.rendered().len() + 1, "{before:?}");
    let again = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(
        again
            .stdout
            .contains("0 to create, 0 to change, 0 to prune"),
        "{}",
        again.stdout
    );
    assert_eq!(site.resource_versions(), before, "a no-op apply wrote");
    site.openlsp(&["diff"]).expect(0);
    assert_eq!(site.resource_versions(), before, "diff wrote");

    let words_path = site
        .test
        .state_dir(&site.name)
        .join("lightning/cln/hsm-words");
    let words = std::fs::read(&words_path).unwrap();
    site.remove_lightning_node("cln");
    let pruned = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    for (kind, name) in [
        ("statefulset", "cln"),
        ("service", "cln"),
        ("configmap", "cln-config"),
        ("networkpolicy", "cln"),
    ] {
        assert!(!exists(kind, name), "{kind}/{name} must be pruned");
    }
    for (kind, name) in [
        ("pvc", "cln-data"),
        ("secret", "cln-hsm"),
        ("secret", "cln-bitcoind-rpc"),
        ("secret", "cln-p2p-onion"),
        ("secret", "cln-rpc-onion"),
    ] {
        assert!(exists(kind, name), "{kind}/{name} holds data and must stay");
    }
    let pv = format!("{}-cln", site.namespace());
    assert_eq!(
        site.kubectl(&["get", "pv", &pv]).code,
        0,
        "the volume stays"
    );
    assert!(exists("statefulset", "lnd"), "the other node stays");
    assert!(
        pruned
            .stdout
            .lines()
            .any(|l| l.starts_with("= keep (data)")),
        "{}",
        pruned.stdout
    );
    assert_eq!(std::fs::read(&words_path).unwrap(), words, "the words stay");
    site.openlsp(&["diff"]).expect(0);
}
