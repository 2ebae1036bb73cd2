//! Channel backups on the real API server: the objects apply and re-apply with no write, the
//! rclone config and the cluster copy are data that prune and delete keep, `backup status` judges
//! states the test writes into the cluster copy as the pod's lndinit would (fresh, stale,
//! failing), `backup pull` writes the latest backup 0600, and no rclone config value is shown.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::e2e::Site;
use crate::common::{self};

const RCLONE_CONF: &str = "[nas]\ntype = sftp\nhost = nas-host.e2e-backup.internal\nuser = e2e-backup-operator\npass = e2e-obscured-pass-Xk29Qw\n";

/// A channel backup's bytes (LND's are a nonce and sealed channels; any 45+ bytes pass).
fn backup_bytes() -> Vec<u8> {
    (0..300u32).map(|i| (i * 7 % 251) as u8).collect()
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Writes LND's cluster copy as the pod's scb-publish container does: the file and the status.
fn publish(site: &Site, status: &str) {
    publish_cluster_copy(site, "lnd", "channel.backup", &backup_bytes(), status);
}

/// Writes Lightning node `node`'s cluster copy, Secret `<node>-scb`, as its pod's scb-publish
/// container does: its backup `file` holding `backup`, and the backup container's `status`.
pub(crate) fn publish_cluster_copy(
    site: &Site,
    node: &str,
    file: &str,
    backup: &[u8],
    status: &str,
) {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let patch = json!({ "data": {
        file: b64(backup),
        "status": b64(status.as_bytes()),
    }});
    site.kubectl(&[
        "patch",
        "secret",
        &format!("{node}-scb"),
        "-n",
        site.namespace(),
        "--type",
        "merge",
        "-p",
        &patch.to_string(),
    ])
    .expect(0);
}

#[test]
fn backups_apply_clean_report_their_state_and_stay_as_data() {
    let Some(site) = Site::new("pi4-mainnet", "backup") else {
        return;
    };
    site.edit(|mut value| {
        value["spec"]["backup"]["targets"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "name": "nas", "rclone": { "remote": "nas:openlsp", "config": "backup-rclone" } }));
        value
    });
    // Nothing applies before the operator gives the config.
    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("openlsp secrets set backup-rclone --from-file rclone.conf"),
        "{}",
        refused.stderr
    );
    site.test.write("rclone.conf", RCLONE_CONF);
    site.openlsp(&[
        "secrets",
        "set",
        "backup-rclone",
        "--from-file",
        "rclone.conf",
    ])
    .expect(0);
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);

    // The config reaches the cluster only as its Secret; the cluster copy starts empty.
    let rclone = site.get_json(&["secret", "backup-rclone", "-n", site.namespace()]);
    assert_eq!(
        common::base64_decode(rclone["data"]["rclone.conf"].as_str().unwrap()),
        RCLONE_CONF.as_bytes()
    );
    let scb = site.get_json(&["secret", "lnd-scb", "-n", site.namespace()]);
    assert!(scb.get("data").is_none_or(Value::is_null), "{scb}");
    // lndinit may write the cluster copy, and create nothing.
    let role = site.get_json(&["role", "lnd-lndinit", "-n", site.namespace()]);
    assert_eq!(
        role["rules"][0]["resourceNames"],
        json!(["lnd-wallet", "lnd-rpc", "lnd-scb"])
    );
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "update", "patch"]));

    // The pod writes the cluster copy; the next apply writes nothing and leaves it alone.
    let sha = sha256(&backup_bytes());
    let t = now();
    publish(
        &site,
        &format!(
            "source {sha} {}\ntarget usb {sha} {} 0 \ntarget nas {sha} {} 0 \n",
            t - 600,
            t - 120,
            t - 120
        ),
    );
    let before = site.settle();
    let again = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert_eq!(site.resource_versions(), before, "a no-op apply wrote");
    assert!(
        again.stdout.contains("0 to create, 0 to change"),
        "{}",
        again.stdout
    );
    site.openlsp(&["diff"]).expect(0);

    // backup status on the states the test arranges.
    let fresh = site.openlsp(&["backup", "status"]).expect(0);
    // openlsp status gives the same ages, beside the pods (not ready here: no kubelet).
    let status = site.openlsp(&["status"]);
    assert!(
        status.stdout.contains(
            "channel backups:\n  lnd: last change 10m ago, usb verified 2m ago (fresh), nas verified 2m ago (fresh)\n"
        ),
        "{}",
        status.stdout
    );
    let t = now();
    publish(
        &site,
        &format!(
            "source {sha} {}\ntarget usb {sha} {} 0 \ntarget nas {sha} {} 0 \n",
            t - 9000,
            t - 7200,
            t - 120
        ),
    );
    let stale = site.openlsp(&["backup", "status"]).expect(1);
    let other = "b".repeat(64);
    publish(
        &site,
        &format!(
            "source {sha} {}\ntarget usb {sha} {} 0 \ntarget nas {other} {} 7 dial tcp ***:22: connect: connection refused\n",
            t - 600,
            t - 120,
            t - 7200
        ),
    );
    let failing = site.openlsp(&["backup", "status", "lnd"]).expect(1);
    let unknown = site.openlsp(&["backup", "status", "nope"]).expect(2);
    // The cluster copy was written seconds ago, a number that varies with the machine's pace,
    // and so does its padding in the AGE column (3 wide: "9s " or "12s").
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"(UTC +)\d+s +(sha256)", "${1}[secs]  ${2}");
    let _guard = settings.bind_to_scope();
    assert_output_snapshot!(
        "backup_status",
        common::transcript(&[
            ("fresh stdout", &fresh.stdout),
            ("fresh stderr", &fresh.stderr),
            ("stale stdout", &stale.stdout),
            ("stale stderr", &stale.stderr),
            ("failing stdout", &failing.stdout),
            ("failing stderr", &failing.stderr),
            ("unknown node", &unknown.stderr),
        ]),
        &site
    );

    // backup pull: the latest copy, 0600, never over an existing file.
    let pulled = site.test.path().join("lnd.backup");
    site.openlsp(&["backup", "pull", "lnd", "-o", pulled.to_str().unwrap()])
        .expect(0);
    assert_eq!(fs::read(&pulled).unwrap(), backup_bytes());
    assert_eq!(
        fs::metadata(&pulled).unwrap().permissions().mode() & 0o777,
        0o600
    );
    site.openlsp(&["backup", "pull", "lnd", "-o", pulled.to_str().unwrap()])
        .expect(2);

    // backup restore checks everything it can before sending anything to LND: the file, then
    // the seed in the wallet Secret (no pod ran here, so there is none).
    site.test.write("short.backup", "not a channel backup");
    let short = site
        .openlsp(&["backup", "restore", "lnd", "--from", "short.backup"])
        .expect(2);
    let no_seed = site
        .openlsp(&[
            "backup",
            "restore",
            "lnd",
            "--from",
            pulled.to_str().unwrap(),
        ])
        .expect(2);
    assert_output_snapshot!(
        "backup_restore_refusals",
        common::transcript(&[
            ("a file too short", &short.stderr),
            ("no seed in the wallet Secret", &no_seed.stderr),
        ]),
        &site
    );

    // Without spec.backup the rclone Secret is pruned only with --prune-data; the cluster copy
    // is still rendered (every node keeps one) and keeps what the pod wrote.
    site.edit(|mut value| {
        value["spec"].as_object_mut().unwrap().remove("backup");
        value
    });
    let pruned = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(
        pruned
            .stdout
            .lines()
            .any(|l| l.starts_with("= keep (data)") && l.contains("backup-rclone")),
        "{}",
        pruned.stdout
    );
    site.kubectl(&["get", "secret", "backup-rclone", "-n", site.namespace()])
        .expect(0);
    let scb = site.get_json(&["secret", "lnd-scb", "-n", site.namespace()]);
    assert!(scb["data"]["channel.backup"].is_string(), "{scb}");
    let deleted = site.openlsp(&["delete", "--yes"]).expect(0);
    for name in ["backup-rclone", "lnd-scb"] {
        assert!(
            deleted
                .stdout
                .lines()
                .any(|l| l.starts_with("= keep (data)") && l.contains(name)),
            "{name}: {}",
            deleted.stdout
        );
        site.kubectl(&["get", "secret", name, "-n", site.namespace()])
            .expect(0);
    }
    let values: Vec<&str> = RCLONE_CONF
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(_, v)| v))
        .filter(|v| v.len() >= 8)
        .collect();
    site.assert_never_shown(&values);
    site.assert_nothing_leaked();
}
