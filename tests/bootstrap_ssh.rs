//! `openlsp bootstrap --from-host` against a real sshd on loopback (tests/common/sshd.rs) and a
//! real bitcoind (Knots) on regtest: the key given with `secrets set bootstrap-ssh`, the
//! preflight run over SSH, the copy Job's rendered objects (its Secret masked, its
//! NetworkPolicy admitting the source alone), and its script, run here with busybox and
//! Debian's rsync and ssh, copying node A's chain over SSH into node B, which starts at A's
//! height. Also every refusal before anything changes: no key, a key with a passphrase, an
//! unknown or changed host key, a key the host refuses, another network, a running source.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::bootstrap::{
    Bitcoind, PROFILE, assert_b_has_a_tip, bootstrap_from, copy_command, digests, mined_source,
    owner, programs, run_to_success, shellchecked, site,
};
use crate::common::sshd::{Sshd, new_key};
use crate::common::{Output, Test, documents};

fn set_key(test: &Test, key: &Path) -> Output {
    test.run([
        "secrets",
        "set",
        "bootstrap-ssh",
        "-p",
        PROFILE,
        "--from-file",
        key.to_str().unwrap(),
    ])
}

fn bootstrap(test: &Test, sshd: &Sshd, source: &Path, extra: &[&str]) -> Output {
    let from = sshd.source(source);
    let port = sshd.port.to_string();
    bootstrap_from(test, &["--from-host", &from, "--ssh-port", &port], extra)
}

/// No byte of the private key (nor its base64) in any output.
fn assert_no_key(key: &Path, outputs: &[&Output]) {
    use base64::Engine as _;
    let text = fs::read_to_string(key).unwrap();
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    for output in outputs {
        for needle in [&body[..40], &encoded[..40]] {
            assert!(
                !output.stdout.contains(needle) && !output.stderr.contains(needle),
                "the key leaked:\n{}\n{}",
                output.stdout,
                output.stderr
            );
        }
    }
}

#[test]
fn a_chain_read_and_copied_over_ssh_starts_at_the_source_height() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let Some(sshd) = Sshd::start(&test.path().join("sshd")) else {
        return;
    };
    let source = test.path().join("node-a");
    mined_source(&programs, &source, 300);
    let before = digests(&source);

    let set = set_key(&test, &sshd.client_key).expect(0);
    let fingerprint = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&sshd.client_key)
        .output()
        .unwrap();
    let fingerprint = String::from_utf8(fingerprint.stdout).unwrap();
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap();
    assert!(set.stderr.contains(fingerprint), "{}", set.stderr);
    let kept = test
        .state_dir("playground")
        .join("provided/bootstrap-ssh/id");
    assert_eq!(
        fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listed = test
        .run(["secrets", "list", "-p", PROFILE, "--offline"])
        .expect(0);
    assert!(
        listed
            .stdout
            .lines()
            .any(|line| line.starts_with("bootstrap-ssh") && line.contains(fingerprint)),
        "{}",
        listed.stdout
    );

    // The operator's known_hosts, where ssh put the key when they connected once.
    fs::create_dir_all(test.path().join(".ssh")).unwrap();
    fs::copy(&sshd.known_hosts, test.path().join(".ssh/known_hosts")).unwrap();
    let checked = bootstrap(&test, &sshd, &source, &["--check"]).expect(0);
    assert!(
        checked.stderr.contains(&format!(
            "source: {} (regtest chain, tip at height 300)",
            source.join("regtest").display()
        )),
        "{}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains("disk: needs "),
        "{}",
        checked.stderr
    );
    assert!(!volume.join("regtest").exists(), "--check wrote nothing");

    let rendered = bootstrap(&test, &sshd, &source, &["--render"]).expect(0);
    assert_no_key(&sshd.client_key, &[&set, &checked, &rendered, &listed]);
    let docs = documents(&rendered.stdout);
    let mut kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["Job", "NetworkPolicy", "Secret"],
        "{}",
        rendered.stdout
    );
    let of_kind = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap();
    let (job, policy, secret) = (of_kind("Job"), of_kind("NetworkPolicy"), of_kind("Secret"));
    let pod = &job["spec"]["template"]["spec"];
    assert!(
        !rendered.stdout.contains("hostPath"),
        "a host source mounts nothing of this machine"
    );
    assert_eq!(
        pod["volumes"][1]["secret"]["secretName"],
        secret["metadata"]["name"]
    );
    // The policy admits the source's address and port alone, for the Job's pod alone.
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        job["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(
        policy["spec"]["egress"],
        serde_json::json!([{
            "to": [{ "ipBlock": { "cidr": "127.0.0.1/32" } }],
            "ports": [{ "protocol": "TCP", "port": sshd.port }],
        }])
    );
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    for key in ["id", "known_hosts"] {
        assert_eq!(secret["data"][key], "***", "masked");
    }

    // The script as the pod runs it: its own source (user@127.0.0.1:path), the Secret's files
    // in its ssh directory, and only busybox, rsync and ssh on its PATH.
    let script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap();
    let script = shellchecked(&test, script);
    let ssh_dir = test.path().join("ssh-secret");
    fs::create_dir_all(&ssh_dir).unwrap();
    fs::copy(&sshd.client_key, ssh_dir.join("id")).unwrap();
    fs::set_permissions(ssh_dir.join("id"), fs::Permissions::from_mode(0o400)).unwrap();
    fs::copy(&sshd.known_hosts, ssh_dir.join("known_hosts")).unwrap();
    let result = test.path().join("result");
    let log = run_to_success(
        copy_command(&programs, &script, &source, &volume, &result)
            .env_remove("OPENLSP_BOOTSTRAP_SOURCE")
            .env("OPENLSP_BOOTSTRAP_SSH_DIR", &ssh_dir),
    );
    assert!(log.contains("openlsp-bootstrap: done: copied "), "{log}");
    assert_eq!(owner(&volume.join("regtest/chainstate")), 101);
    assert_eq!(digests(&source), before, "the source was only read");

    assert_b_has_a_tip(&programs, &volume, &source);
}

#[test]
fn the_preflight_over_ssh_refuses_what_it_cannot_trust() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let Some(sshd) = Sshd::start(&test.path().join("sshd")) else {
        return;
    };
    let source = test.path().join("node-a");
    mined_source(&programs, &source, 10);
    let known_hosts = sshd.known_hosts.to_str().unwrap().to_owned();
    let with_hosts = |extra: &[&str]| {
        let mut args = vec!["--check", "--known-hosts", &known_hosts];
        args.extend(extra);
        bootstrap(&test, &sshd, &source, &args)
    };
    let mut outputs = Vec::new();

    // No key yet.
    let no_key = with_hosts(&[]).expect(2);
    assert!(
        no_key
            .stderr
            .contains("hint: openlsp secrets set bootstrap-ssh --from-file"),
        "{}",
        no_key.stderr
    );

    // Keys the copy Job cannot use are refused when given.
    let locked = test.path().join("locked");
    new_key(&locked, "a passphrase");
    let refused = set_key(&test, &locked).expect(2);
    assert!(
        refused.stderr.contains("the key has a passphrase"),
        "{}",
        refused.stderr
    );
    let public = set_key(&test, &sshd.client_key.with_extension("pub")).expect(2);
    assert!(
        public.stderr.contains("it is a public key"),
        "{}",
        public.stderr
    );
    assert!(
        !test
            .state_dir("playground")
            .join("provided/bootstrap-ssh/id")
            .exists()
    );

    // A key the host does not know.
    let stranger = test.path().join("stranger");
    new_key(&stranger, "");
    set_key(&test, &stranger).expect(0);
    let denied = with_hosts(&[]).expect(2);
    assert!(
        denied
            .stderr
            .contains("the key of bootstrap-ssh was refused"),
        "{}",
        denied.stderr
    );
    outputs.push(denied);

    set_key(&test, &sshd.client_key).expect(0);
    // A host not in known_hosts (HOME's is empty), and one whose key changed.
    let unknown = bootstrap(&test, &sshd, &source, &["--check"]).expect(2);
    assert!(
        unknown.stderr.contains(&format!(
            "[127.0.0.1]:{} is not in {}",
            sshd.port,
            test.path().join(".ssh/known_hosts").display()
        )),
        "{}",
        unknown.stderr
    );
    let other = test.path().join("other_host_key");
    new_key(&other, "");
    let other_public = fs::read_to_string(other.with_extension("pub")).unwrap();
    let changed_hosts = test.write(
        "changed_known_hosts",
        &format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port,
            other_public
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );
    let changed = bootstrap(
        &test,
        &sshd,
        &source,
        &["--check", "--known-hosts", changed_hosts.to_str().unwrap()],
    )
    .expect(2);
    assert!(
        changed.stderr.contains("the host's key is not the one"),
        "{}",
        changed.stderr
    );
    outputs.push(unknown);
    outputs.push(changed);

    // A path that is not there, and a signet datadir.
    let missing = bootstrap(
        &test,
        &sshd,
        &test.path().join("nowhere"),
        &["--check", "--known-hosts", &known_hosts],
    )
    .expect(2);
    assert!(
        missing.stderr.contains("does not exist there"),
        "{}",
        missing.stderr
    );
    let signet = test.path().join("signet-node");
    Bitcoind::start(&programs, &signet, "signet", &[]).stop();
    let wrong = bootstrap(
        &test,
        &sshd,
        &signet,
        &["--check", "--known-hosts", &known_hosts],
    )
    .expect(2);
    assert!(
        wrong
            .stderr
            .contains("holds a signet chain (blocks/blk00000.dat), but the site runs on regtest"),
        "{}",
        wrong.stderr
    );

    // A source whose bitcoind runs: its chainstate would be copied mid-write.
    let running = Bitcoind::start(&programs, &source, "regtest", &[]);
    let busy = with_hosts(&[]).expect(2);
    assert!(
        busy.stderr.contains("a bitcoind runs on the source"),
        "{}",
        busy.stderr
    );
    running.stop();
    let fine = with_hosts(&[]).expect(0);
    assert!(fine.stderr.contains("tip at height 10"), "{}", fine.stderr);

    outputs.extend([no_key, missing, wrong, busy, fine]);
    assert_no_key(&sshd.client_key, &outputs.iter().collect::<Vec<_>>());
    assert!(
        fs::read_dir(&volume).unwrap().next().is_none(),
        "nothing written to B"
    );
}
