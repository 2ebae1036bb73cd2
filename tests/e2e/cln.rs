//! A site with Core Lightning beside LND on the real API server: a fresh apply creates CLN's
//! objects, a second one writes nothing and diff finds nothing, and when the CLN node leaves the
//! profile its workload is pruned but its data (volume, words, bitcoind credential, onion keys)
//! stays, as do the words in the state dir. `openlsp connect <cln>` prints the `clnrest://` URI
//! with the rune the sidecar published, only after confirmation. CLN's channel backup,
//! `emergency.recover`, has `backup status` and `pull` like LND's, and `restore` says how.

use base64::Engine as _;

use crate::common::e2e::Site;
use crate::e2e::backup::{now, publish_cluster_copy, sha256};

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

    let before = site.assert_reapply_is_a_no_op();
    assert_eq!(before.len(), site.rendered().len() + 1, "{before:?}");

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

#[test]
fn cln_channel_backup_is_judged_pulled_and_restore_says_how() {
    let Some(site) = Site::new("cln-and-lnd", "cln-backup") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    // The cluster copy as the CLN pod's scb-publish container writes it: emergency.recover and
    // the backup container's status (target usb verified 2 minutes ago).
    let recover: Vec<u8> = (0..120u32).map(|i| (i * 13 % 251) as u8).collect();
    let sha = sha256(&recover);
    let t = now();
    let status = format!(
        "source {sha} {}\ntarget usb {sha} {} 0 \n",
        t - 600,
        t - 120
    );
    publish_cluster_copy(&site, "cln", "emergency.recover", &recover, &status);

    let fresh = site.openlsp(&["backup", "status", "cln"]).expect(0);
    let row = |output: &str, target: &str| {
        output
            .lines()
            .find(|line| line.starts_with("cln ") && line.contains(target))
            .map(|line| {
                line.split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .to_owned()
            })
    };
    assert_eq!(
        row(&fresh.stdout, " usb "),
        Some("fresh".to_owned()),
        "{}",
        fresh.stdout
    );
    assert_eq!(
        row(&fresh.stdout, "(cluster copy)"),
        Some("latest".to_owned()),
        "{}",
        fresh.stdout
    );
    // Every node: LND's pod has not written its channel.backup here.
    let all = site.openlsp(&["backup", "status"]).expect(1);
    assert!(
        all.stderr.contains("lnd: Secret") && all.stderr.contains("has no channel.backup yet"),
        "{}",
        all.stderr
    );
    let shown = site.openlsp(&["status"]);
    assert!(
        shown
            .stdout
            .contains("  cln: last change 10m ago, usb verified 2m ago (fresh)\n"),
        "{}",
        shown.stdout
    );

    let pulled = site.test.path().join("emergency.recover");
    site.openlsp(&["backup", "pull", "cln", "-o", pulled.to_str().unwrap()])
        .expect(0);
    assert_eq!(std::fs::read(&pulled).unwrap(), recover);
    let restore = site
        .openlsp(&[
            "backup",
            "restore",
            "cln",
            "--from",
            pulled.to_str().unwrap(),
        ])
        .expect(2);
    assert!(
        restore.stderr.contains(
            "put the file at /data/bitcoin/emergency.recover in pod cln-0 and run `lightning-cli --lightning-dir=/data --network=bitcoin emergencyrecover`"
        ),
        "{}",
        restore.stderr
    );
    site.assert_nothing_leaked();
}

#[test]
fn connect_prints_the_clnrest_uri_with_the_published_rune_after_confirmation() {
    let Some(site) = Site::new("cln-and-lnd", "cln-connect") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let missing = site
        .openlsp(&["connect", "cln", "--host", "node.example.com", "--yes"])
        .expect(2);
    assert!(
        missing.stderr.contains("has not published its runes yet"),
        "{}",
        missing.stderr
    );
    // Publish a rune the way the node's sidecar does.
    let rune = "S34KtUW-6gqS_hD_9cc_PNhfF-NinZyBOCgr1aIrark9NCZtZXRob2Q9aW52b2ljZQ==";
    let b64 = base64::engine::general_purpose::STANDARD;
    let patch = serde_json::json!({ "data": { "admin.rune": b64.encode(rune) } });
    site.kubectl(&[
        "patch",
        "secret",
        "cln-rpc",
        "-n",
        site.namespace(),
        "--type=merge",
        "-p",
        &patch.to_string(),
        "--field-manager",
        "lndinit",
    ])
    .expect(0);

    let refused = site
        .openlsp(&["connect", "cln", "--host", "node.example.com"])
        .expect(2);
    assert!(
        !refused.stdout.contains("clnrest://"),
        "no URI without confirmation"
    );
    assert!(refused.all().contains("admin rune"), "{}", refused.all());
    let grpc = site
        .openlsp(&["connect", "cln", "--grpc", "--yes"])
        .expect(2);
    assert!(grpc.stderr.contains("CLNRest"), "{}", grpc.stderr);
    let output = site
        .openlsp(&["connect", "cln", "--host", "node.example.com", "--yes"])
        .expect(0);
    assert!(
        output.stderr.contains("admin rune"),
        "the warning stays with --yes"
    );
    let uri = output
        .stdout
        .lines()
        .find(|l| l.starts_with("clnrest://"))
        .unwrap();
    assert_eq!(
        uri,
        format!(
            "clnrest://node.example.com:3010?rune={}",
            rune.replace('=', "%3D")
        )
    );
    assert!(output.stdout.contains('\u{2588}'), "a QR code is printed");
    // The published rune is the sidecar's, not a difference; secrets list shows its print.
    let diff = site.openlsp(&["diff"]).expect(0);
    let list = site.openlsp(&["secrets", "list"]).expect(0);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("cln-rpc") && l.contains("(1 runes)")),
        "{}",
        list.stdout
    );
    for other in [&missing, &refused, &grpc, &diff, &list] {
        assert!(!other.all().contains(rune), "the rune leaked");
        assert!(!other.all().contains(&b64.encode(rune)), "the rune leaked");
    }
}

/// A lost state dir comes back from the cluster with CLN's words as they were: `secrets pull`
/// reads them from `<cln>-hsm`, and the next diff finds nothing to change; a state dir with
/// other words is refused by apply rather than written over the node's.
#[test]
fn pull_brings_back_the_words_and_apply_refuses_other_words() {
    let Some(site) = Site::new("cln-and-lnd", "cln-pull") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let words_path = site.state_dir().join("lightning/cln/hsm-words");
    let words = std::fs::read(&words_path).unwrap();
    std::fs::remove_dir_all(site.state_dir()).unwrap();
    site.openlsp(&["secrets", "pull"]).expect(0);
    assert_eq!(std::fs::read(&words_path).unwrap(), words, "the same words");
    site.openlsp(&["diff"]).expect(0);

    // Other (valid) words in the state dir: the cluster's win, nothing is written.
    let other = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    std::fs::write(&words_path, other).unwrap();
    // Once the controllers have bound the volumes, nothing else writes.
    let before = site.settle();
    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert!(refused.stderr.contains("cln-hsm"), "{}", refused.stderr);
    assert!(!refused.all().contains(other), "the words leaked");
    assert_eq!(site.resource_versions(), before, "a refused apply wrote");
    let hsm = site.get_json(&["secret", "cln-hsm", "-n", site.namespace()]);
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        b64.decode(hsm["data"]["words"].as_str().unwrap()).unwrap(),
        words
    );
}
