//! What ordinary operator actions must never do to a running site: a lost, partial, corrupt or
//! older state dir replacing live credentials; a renamed namespace putting a second site on the
//! same data directory; a run that lost its lock writing on. Each test shows the refusal and
//! that nothing in the cluster changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::common::e2e::{self, Site};

/// Every object of the site (resourceVersions, once controllers are done with them) and a
/// hash of each of its Secrets' data, to prove nothing changed without printing a value.
fn cluster_state(site: &Site) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let versions = site.settle();
    (versions, site.secret_digests())
}

/// Copies a state dir (files 0600, dirs 0700), as an operator's backup or second laptop has it.
fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn value_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !matches!(
                path.file_name().unwrap().to_str().unwrap(),
                "openlsp-state" | ".lock"
            ) {
                found.push(path);
            }
        }
    }
    found
}

/// Puts a state file back as openlsp keeps it (0600).
fn put_back(path: &Path, value: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(value))
        .unwrap();
}

/// diff and apply both refuse with exit 2, and what they say contains each of `expected`.
fn assert_refused(site: &Site, extra: &[&str], expected: &[&str]) {
    for command in [&["diff"][..], &["apply", "--yes", "--no-wait"]] {
        let output = site.openlsp(&[command, extra].concat()).expect(2);
        for text in expected {
            assert!(
                output.stderr.contains(text),
                "{command:?} did not say {text:?}:\n{}",
                output.stderr
            );
        }
    }
}

/// The issue's reproduction: an empty state dir (sudo, a second laptop) and each single missing
/// file are refused before anything is generated, naming the Secret and `secrets pull`; pull
/// then rebuilds the dir and the site diffs clean.
#[test]
fn an_empty_or_partial_state_dir_never_replaces_live_credentials() {
    let Some(site) = Site::new("pi4-mainnet", "missing") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = cluster_state(&site);

    let empty = site.test.path().join("somewhere-empty");
    let empty_flag = ["--state-dir", empty.to_str().unwrap()];
    assert_refused(
        &site,
        &empty_flag,
        &[
            "does not hold the credentials the cluster has; nothing was generated or changed",
            "lnd-wallet (wallet password of lnd): the cluster has it, the state dir has no lightning/lnd/wallet-password",
            "lnd-tls (TLS of lnd): the cluster has it",
            "bitcoind-p2p-onion (onion key of bitcoind): the cluster has it",
            "hint: take the cluster's values: openlsp secrets pull",
        ],
    );
    assert!(value_files(&empty).is_empty(), "nothing was generated");
    assert_eq!(cluster_state(&site), before);

    let state = site.state_dir();
    for (file, secret) in [
        (
            "lightning/lnd/wallet-password",
            "lnd-wallet (wallet password of lnd)",
        ),
        (
            "tor/lnd-p2p/hs_ed25519_secret_key",
            "lnd-p2p-onion (onion key of lnd)",
        ),
        (
            "bitcoin/bitcoind/rpc/lnd/password",
            "lnd-bitcoind-rpc (rpc credential of lnd)",
        ),
        (
            "bitcoin/bitcoind/rpc/lnd/salt",
            "lnd-bitcoind-rpc (rpc credential of lnd)",
        ),
        ("lightning/lnd/tls.cert", "lnd-tls (TLS of lnd)"),
        ("lightning/lnd/tls.key", "lnd-tls (TLS of lnd)"),
    ] {
        let path = state.join(file);
        let kept = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert_refused(
            &site,
            &[],
            &[&format!(
                "{secret}: the cluster has it, the state dir has no {file}"
            )],
        );
        assert!(!path.exists(), "{file} was generated again");
        assert_eq!(cluster_state(&site), before, "{file}");
        put_back(&path, &kept);
    }

    site.openlsp(&[&["secrets", "pull"][..], &empty_flag].concat())
        .expect(0);
    site.openlsp(&[&["diff"][..], &empty_flag].concat())
        .expect(0);
    site.openlsp(&["diff"]).expect(0);
    assert_eq!(cluster_state(&site), before);
    site.assert_nothing_leaked();
}

/// A damaged file is named with the way out; it is neither pushed nor regenerated.
#[test]
fn corrupt_state_files_are_refused_by_name() {
    let Some(site) = Site::new("pi4-mainnet", "corrupt") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = cluster_state(&site);
    let state = site.state_dir();
    let key = fs::read_to_string(state.join("lightning/lnd/tls.key")).unwrap();
    let password = fs::read(state.join("lightning/lnd/wallet-password")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "lightning/lnd/tls.cert",
            b"garbage\n".to_vec(),
            "not a PEM certificate",
        ),
        (
            "lightning/lnd/tls.key",
            key.replacen(&key[40..56], "AAAAAAAAAAAAAAAA", 1)
                .into_bytes(),
            "the private key does not parse",
        ),
        (
            "lightning/lnd/wallet-password",
            [password.as_slice(), b"\n"].concat(),
            "ending in a newline",
        ),
        (
            "lightning/lnd/wallet-password",
            [&password[..40], b"\xff\xfe\x00="].concat(),
            "not a password openlsp generated",
        ),
        (
            "bitcoin/bitcoind/rpc/lnd/salt",
            b"zz".to_vec(),
            "not a salt",
        ),
        (
            "openlsp-state",
            b"format 9\nsite x\n".to_vec(),
            "has format \"9\"",
        ),
    ];
    for (file, damaged, reason) in cases {
        let path = state.join(file);
        let kept = fs::read(&path).unwrap();
        fs::write(&path, &damaged).unwrap();
        let named = path.display().to_string();
        let mut expected = vec![named.as_str(), reason, "nothing was changed"];
        if file != "openlsp-state" {
            expected.push("openlsp secrets pull --force");
        }
        assert_refused(&site, &[], &expected);
        assert_eq!(fs::read(&path).unwrap(), damaged, "{file} was replaced");
        assert_eq!(cluster_state(&site), before, "{file}");
        fs::write(&path, kept).unwrap();
    }
    site.openlsp(&["diff"]).expect(0);
}

/// A copy of the state dir from before a rotation would roll the RPC password (and the
/// certificate) back: the generation on the Secrets shows it is older.
#[test]
fn a_state_copied_before_a_rotation_is_refused() {
    let Some(site) = Site::new("pi4-mainnet", "stale") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let copy = site.test.path().join("copied-before");
    copy_dir(&site.state_dir(), &copy);
    // Phase 1 rolls bitcoind before LND gets the new password: a "kubelet" readies the pods.
    site.with_kubelet(
        |_| true,
        || {
            site.openlsp(&[
                "secrets",
                "rotate",
                "lnd-tls",
                "lnd-bitcoind-rpc",
                "--yes",
                "--no-wait",
                "--timeout",
                "60s",
            ])
        },
    )
    .expect(0);
    let generation = |name: &str| {
        site.get_json(&["secret", name, "-n", site.namespace()])["metadata"]["annotations"]
            ["openlsp.io/generation"]
            .clone()
    };
    assert_eq!(generation("lnd-tls"), "1");
    assert_eq!(generation("lnd-bitcoind-rpc"), "1");
    let before = cluster_state(&site);
    assert_refused(
        &site,
        &["--state-dir", copy.to_str().unwrap()],
        &[
            "lnd-tls (TLS of lnd): the cluster's is generation 1, the state dir's 0: this state dir was copied before a rotation",
            "lnd-bitcoind-rpc (rpc credential of lnd): the cluster's is generation 1",
        ],
    );
    assert_eq!(cluster_state(&site), before);
    // The state dir that rotated is current.
    site.openlsp(&["diff"]).expect(0);
}

/// The issue's reproduction: the same profile with another namespace would put a second LND on
/// the still-bound channel database. Refused before anything is created, naming both volumes.
#[test]
fn a_namespace_rename_onto_the_same_disk_paths_is_refused() {
    let Some(site) = Site::new("lsp-two-nodes", "rename") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = cluster_state(&site);
    let renamed = format!("{}-moved", site.namespace());
    site.edit(|mut value| {
        value["spec"]["namespace"] = Value::String(renamed.clone());
        value
    });
    let first_pv = format!("PersistentVolume {renamed}-");
    assert_refused(
        &site,
        &[],
        &[
            &first_pv,
            &format!("but PersistentVolume {}-", site.namespace()),
            &format!("(bound to claim {}/", site.namespace()),
            "two nodes on one data directory lose funds",
            "moving a site to another namespace",
        ],
    );
    assert_ne!(
        site.kubectl(&["get", "namespace", &renamed]).code,
        0,
        "the new namespace was created"
    );
    assert_eq!(cluster_state(&site), before);
    site.edit(|mut value| {
        value["spec"]["namespace"] = Value::String(site.namespace().to_owned());
        value
    });
    site.openlsp(&["diff"]).expect(0);
}

/// Templates that render `labels:` or `annotations:` empty (null in YAML) are taken as no
/// labels, and one that renders them as something else is named; neither panics.
#[test]
fn template_overrides_with_empty_or_wrong_metadata_never_panic() {
    let Some(site) = Site::new("pi4-mainnet", "tmpl-meta") else {
        return;
    };
    let builtin =
        fs::read_to_string(crate::common::repo_root().join("templates/lnd/statefulset.yaml.j2"))
            .unwrap();
    let overrides = site.test.path().join("overrides");
    let write = |text: &str| {
        fs::create_dir_all(overrides.join("lnd")).unwrap();
        fs::write(overrides.join("lnd/statefulset.yaml.j2"), text).unwrap();
    };
    let templates = ["--templates", overrides.to_str().unwrap()];
    let labels_line = "  labels: {{ node.labels }}\nspec:";
    assert!(builtin.contains(labels_line));

    write(&builtin.replacen(labels_line, "  labels:\n  annotations:\nspec:", 1));
    site.openlsp(&[&["apply", "--yes", "--no-wait"][..], &templates].concat())
        .expect(0);
    let lnd = site.get_json(&["statefulset", "lnd", "-n", site.namespace()]);
    assert_eq!(
        lnd["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        site.applyset_id().as_str()
    );
    site.openlsp(&[&["diff"][..], &templates].concat())
        .expect(0);

    let before = cluster_state(&site);
    write(&builtin.replacen(labels_line, "  labels: [a, b]\nspec:", 1));
    for command in [&["diff"][..], &["apply", "--yes", "--no-wait"]] {
        let output = site.openlsp(&[command, &templates].concat()).expect(2);
        assert!(
            output
                .stderr
                .contains("template lnd/statefulset.yaml.j2 rendered an invalid object"),
            "{}",
            output.stderr
        );
        assert!(
            output
                .stderr
                .contains("metadata.labels must be a map of strings"),
            "{}",
            output.stderr
        );
    }
    assert_eq!(cluster_state(&site), before);
}

/// A run stopped mid-apply (here while it waits in stage 2 for a CustomResourceDefinition) past
/// its 4 s lease may not go on with what it surveyed: another run could have changed the site.
/// When it is continued it stops before the next stage and writes nothing more.
#[test]
fn an_apply_whose_lease_lapsed_while_it_was_stopped_writes_nothing_more() {
    let Some(site) = Site::new("pi4-mainnet", "lapsed") else {
        return;
    };
    let site = site.env("OPENLSP_LOCK_LEASE_SECONDS", "4");
    let group = format!("{}.openlsp.test", site.name);
    let _cleanup = e2e::Crds {
        kubeconfig: site.kubeconfig.clone(),
        names: vec![format!("things.{group}"), format!("widgets.{group}")],
    };
    // `things` claims kind Thing first, so `widgets` waits in stage 2 until `things` is gone.
    e2e::kubectl_apply(&site, "things.yaml", &e2e::crd(&group, "things", "Thing"));
    e2e::wait_established(&site.kubeconfig, &format!("things.{group}")).unwrap();
    let widgets = e2e::templates(&site, "widgets", &e2e::crd(&group, "widgets", "Thing"));
    let apply = site.spawn_apply(&["--no-wait", "--templates", &widgets]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while site
        .kubectl(&["get", "crd", &format!("widgets.{group}")])
        .code
        != 0
    {
        assert!(Instant::now() < deadline, "apply never reached stage 2");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = apply.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_secs(6));
    site.kubectl(&["delete", "crd", &format!("things.{group}")])
        .expect(0);
    signal("-CONT");
    let output = site.finish(apply);
    let stderr = output.stderr;
    assert_eq!(output.code, 2, "{stderr}");
    for text in [
        "the site lock of namespace",
        "while this run was paused",
        "stopped before stage 3 (Rbac) and wrote nothing more",
        "hint: run openlsp apply again",
    ] {
        assert!(stderr.contains(text), "{text:?} not in:\n{stderr}");
    }
    let ours = site.get_json(&[
        "serviceaccounts,configmaps,statefulsets.apps",
        "-n",
        site.namespace(),
        "-l",
        &format!("applyset.kubernetes.io/part-of={}", site.applyset_id()),
    ]);
    assert_eq!(
        ours["items"],
        serde_json::json!([]),
        "stages 3 and on were written"
    );
}

/// The documented way to move a site to another namespace (docs/operations.md), step by step:
/// the seed that exists only in the cluster comes along, the volumes point at the same
/// directories, and every credential is the one the site had.
#[test]
fn a_site_moves_to_another_namespace_as_documented() {
    let Some(site) = Site::new("pi4-mainnet", "move") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let old = site.namespace().to_owned();
    let new = format!("{old}-new");
    // lndinit's part: the seed it writes into the wallet Secret.
    let seed = base64::engine::general_purpose::STANDARD.encode("abandon ability able");
    site.kubectl(&[
        "patch",
        "secret",
        "lnd-wallet",
        "-n",
        &old,
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"data":{{"seed":"{seed}"}}}}"#),
    ])
    .expect(0);
    let volume_paths = |namespace: &str| -> Vec<String> {
        let pvs = site.get_json(&["pv"]);
        let mut paths: Vec<String> = pvs["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pv| {
                let name = pv["metadata"]["name"].as_str().unwrap();
                name.starts_with(&format!("{namespace}-"))
                    && !name.starts_with(&format!("{namespace}-new-"))
            })
            .map(|pv| pv["spec"]["local"]["path"].as_str().unwrap().to_owned())
            .collect();
        paths.sort();
        paths
    };
    let paths = volume_paths(&old);
    let secret = |namespace: &str, name: &str, key: &str| {
        site.get_json(&["secret", name, "-n", namespace])["data"][key].clone()
    };
    let (password, key) = (
        secret(&old, "lnd-wallet", "password"),
        secret(&old, "lnd-tls", "tls.key"),
    );

    site.openlsp(&["delete", "--yes"]).expect(0);
    site.kubectl(&["create", "namespace", &new]).expect(0);
    let carry = format!(
        "\"$KUBECTL\" --kubeconfig {} get secret lnd-wallet -n {old} -o json | jq '{{apiVersion, kind, type, metadata: {{name: .metadata.name, namespace: \"{new}\"}}, data: {{seed: .data.seed}}}}' | \"$KUBECTL\" --kubeconfig {} create -f -",
        site.kubeconfig.display(),
        site.kubeconfig.display()
    );
    let status = std::process::Command::new("sh")
        .args(["-c", &carry])
        .env("KUBECTL", e2e::kubectl_path())
        .status()
        .unwrap();
    assert!(status.success(), "carrying the seed failed");
    site.openlsp(&["delete", "--purge", "--confirm-site", &site.name])
        .expect(0);
    // The old volumes go once their protection finalizers are removed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !volume_paths(&old).is_empty() {
        assert!(Instant::now() < deadline, "the old volumes never went");
        std::thread::sleep(Duration::from_millis(500));
    }
    site.edit(|mut value| {
        value["spec"]["namespace"] = Value::String(new.clone());
        value
    });
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert_eq!(volume_paths(&new), paths, "the same directories");
    assert_eq!(secret(&new, "lnd-wallet", "seed"), seed.as_str());
    assert_eq!(secret(&new, "lnd-wallet", "password"), password);
    assert_eq!(secret(&new, "lnd-tls", "tls.key"), key);
    site.openlsp(&["diff"]).expect(0);
    site.kubectl(&["delete", "namespace", &new, "--wait=false"]);
}
