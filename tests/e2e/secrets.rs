//! Secrets after day one, against the real API server: RPC credentials rotate in two phases
//! (checked with a real bitcoind), certificates are reissued, `pull` rebuilds a lost state dir,
//! the LND pod creates its wallet with lndinit under least-privilege RBAC, `connect` and
//! `secrets seed` show what they must and nothing else does.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::bitcoind::Knots;
use crate::common::e2e::Site;
use crate::common::{self, documents, find, secret_value};

fn rpcauth_lines(site: &Site) -> Vec<String> {
    String::from_utf8(site.live_secret("bitcoind-rpcauth", "rpcauth.conf"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("rpcauth=lnd:"))
        .map(str::to_owned)
        .collect()
}

fn verifies(line: &str, password: &str) -> bool {
    let (salt, hmac) = line
        .trim_start_matches("rpcauth=lnd:")
        .split_once('$')
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(salt.as_bytes()).unwrap();
    mac.update(password.as_bytes());
    hex::encode(mac.finalize().into_bytes()) == hmac
}

fn checksum(site: &Site, statefulset: &str) -> String {
    site.get_json(&["statefulset", statefulset, "-n", site.namespace()])["spec"]["template"]["metadata"]
        ["annotations"]["openlsp.io/config-checksum"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn state_text(site: &Site, path: &str) -> String {
    fs::read_to_string(site.state_dir().join(path)).unwrap()
}

/// Which of the passwords a real bitcoind, started from the current render, accepts.
fn accepted(site: &Site, passwords: &[&str], phase: &str) -> Option<Vec<bool>> {
    let docs = documents(&site.render_revealed());
    let current = secret_value(&docs, "lnd-bitcoind-rpc", "password");
    let dir = site.test.path().join(format!("knots-{phase}"));
    let (knots, _) = Knots::start(&dir, &docs, "lnd", &current)?;
    let result = passwords
        .iter()
        .map(|p| knots.status("lnd", p) == 200)
        .collect();
    assert_eq!(knots.status("lnd", "not-the-password"), 401);
    let log = knots.stop("lnd", &current);
    common::assert_no_secrets(&log, &site.state_dir(), "bitcoind's log");
    Some(result)
}

#[test]
fn an_rpc_credential_rotates_in_two_phases_and_lnd_is_never_locked_out() {
    let Some(site) = Site::new("pi4-mainnet", "rotate") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let old = state_text(&site, "bitcoin/bitcoind/rpc/lnd/password");
    let before = (checksum(&site, "bitcoind"), checksum(&site, "lnd"));

    // Phase 1; only bitcoind becomes ready, so LND has not rolled yet.
    let phase1 = site
        .with_kubelet(
            |pod| pod.starts_with("bitcoind"),
            || {
                site.openlsp(&[
                    "secrets",
                    "rotate",
                    "lnd-bitcoind-rpc",
                    "--yes",
                    "--no-wait",
                    "--timeout",
                    "60s",
                ])
            },
        )
        .expect(0);
    assert!(
        phase1.stderr.contains("stopped after phase 1"),
        "{}",
        phase1.stderr
    );
    let new = state_text(&site, "bitcoin/bitcoind/rpc/lnd/password");
    assert_ne!(old, new);
    assert_eq!(
        String::from_utf8(site.live_secret("lnd-bitcoind-rpc", "password")).unwrap(),
        new,
        "LND's Secret holds the new password"
    );
    let lines = rpcauth_lines(&site);
    assert_eq!(
        lines.len(),
        2,
        "both rpcauth lines during phase 1: {lines:?}"
    );
    assert!(lines.iter().any(|l| verifies(l, &old)) && lines.iter().any(|l| verifies(l, &new)));
    assert_ne!(checksum(&site, "bitcoind"), before.0, "bitcoind must roll");
    assert_ne!(checksum(&site, "lnd"), before.1, "LND must roll");
    assert_kept_in_history(&site, "bitcoin/bitcoind/rpc/lnd/password", &old);
    if let Some(result) = accepted(&site, &[&old, &new], "phase1") {
        assert_eq!(
            result,
            [true, true],
            "during phase 1 bitcoind accepts the old and the new password"
        );
    }

    // A state dir pulled now would know only the new password and drop the old line.
    let pulled = site
        .openlsp(&["secrets", "pull", "--state-dir", "pulled"])
        .expect(2);
    assert!(
        !site.test.path().join("pulled").exists(),
        "a refused pull writes nothing"
    );
    let refused_over = site.openlsp(&["secrets", "pull", "--force"]).expect(2);
    assert_eq!(
        state_text(&site, "bitcoin/bitcoind/rpc/lnd/password"),
        new,
        "the state dir of the rotation is untouched"
    );

    let refused = site
        .openlsp(&["secrets", "rotate", "--finish", "--yes"])
        .expect(2);
    // pull refuses while bitcoind has two rpcauth lines for lnd (phase 1) and says to finish
    // first, even with --force.
    assert_output_snapshot!(
        "during_phase_1",
        common::transcript(&[
            ("secrets pull --state-dir pulled", &pulled.stderr),
            ("secrets pull --force", &refused_over.stderr),
        ]),
        &site
    );
    // How far LND's rollout got (shown in parentheses) depends on timing.
    assert!(
        refused
            .stderr
            .contains("StatefulSet/lnd still runs the old pod template"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        rpcauth_lines(&site).len(),
        2,
        "a refused --finish changes nothing"
    );

    let finished = site
        .with_kubelet(
            |_| true,
            || {
                site.wait_rolled("lnd");
                site.openlsp(&["secrets", "rotate", "--finish", "--yes", "--timeout", "60s"])
            },
        )
        .expect(0);
    assert!(
        finished.stderr.contains("phase 2 applied"),
        "{}",
        finished.stderr
    );
    let lines = rpcauth_lines(&site);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(verifies(&lines[0], &new));
    if let Some(result) = accepted(&site, &[&old, &new], "phase2") {
        assert_eq!(
            result,
            [false, true],
            "after --finish only the new password works"
        );
    }
    assert!(state_text(&site, "audit.log").contains("rotation finished: lnd-bitcoind-rpc"));
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

#[test]
fn a_full_rotation_waits_for_each_side_and_ends_with_one_line() {
    let Some(site) = Site::new("pi4-mainnet", "rotate-all") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let output = site
        .with_kubelet(
            |_| true,
            || site.openlsp(&["secrets", "rotate", "--all", "--yes", "--timeout", "60s"]),
        )
        .expect(0);
    assert!(
        output.stderr.contains("phase 2 applied"),
        "{}",
        output.stderr
    );
    assert_eq!(rpcauth_lines(&site).len(), 1);
    assert!(verifies(
        &rpcauth_lines(&site)[0],
        &state_text(&site, "bitcoin/bitcoind/rpc/lnd/password")
    ));
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

/// A phase 1 that times out waiting for bitcoind leaves the new password recorded, bitcoind
/// with both lines and LND on the old password. `--finish` must not wait for a rollout that
/// never comes: it points at the resume, and `rotate NAME` resumes and completes.
#[test]
fn an_interrupted_phase_one_is_resumed_and_lnd_never_holds_a_rejected_password() {
    let Some(site) = Site::new("pi4-mainnet", "resume") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let old = state_text(&site, "bitcoin/bitcoind/rpc/lnd/password");
    let lnd_before = checksum(&site, "lnd");

    // The kubelet never readies bitcoind: the wait after bitcoind's side times out.
    let timed_out = site
        .with_kubelet(
            |pod| !pod.starts_with("bitcoind"),
            || {
                site.openlsp(&[
                    "secrets",
                    "rotate",
                    "lnd-bitcoind-rpc",
                    "--yes",
                    "--timeout",
                    "3s",
                ])
            },
        )
        .expect(2);
    assert!(
        timed_out
            .stderr
            .contains("resume with: openlsp secrets rotate lnd-bitcoind-rpc"),
        "{}",
        timed_out.stderr
    );
    assert!(!timed_out.stderr.contains("everything was applied"));
    let new = state_text(&site, "bitcoin/bitcoind/rpc/lnd/password");
    assert_ne!(new, old, "phase 1 is recorded");
    let lines = rpcauth_lines(&site);
    assert_eq!(lines.len(), 2, "bitcoind got both lines: {lines:?}");
    let lnd_password = String::from_utf8(site.live_secret("lnd-bitcoind-rpc", "password")).unwrap();
    assert_eq!(
        lnd_password, old,
        "LND keeps the old password until bitcoind is ready"
    );
    assert!(lines.iter().any(|l| verifies(l, &lnd_password)));
    assert_eq!(checksum(&site, "lnd"), lnd_before, "LND was not rolled");

    let refused = site
        .openlsp(&["secrets", "rotate", "--finish", "--yes"])
        .expect(2);
    // --finish does not wait for a rollout that never comes: it points at the resume.
    assert_output_snapshot!("finish_before_phase_1_ended", refused.stderr, &site);
    assert_eq!(
        rpcauth_lines(&site).len(),
        2,
        "a refused --finish changes nothing"
    );

    let resumed = site
        .with_kubelet(
            |_| true,
            || {
                site.openlsp(&[
                    "secrets",
                    "rotate",
                    "lnd-bitcoind-rpc",
                    "--yes",
                    "--timeout",
                    "60s",
                ])
            },
        )
        .expect(0);
    assert!(
        resumed
            .stderr
            .contains("resuming phase 1 of lnd-bitcoind-rpc"),
        "{}",
        resumed.stderr
    );
    assert!(
        resumed.stderr.contains("phase 2 applied"),
        "{}",
        resumed.stderr
    );
    assert_eq!(
        state_text(&site, "bitcoin/bitcoind/rpc/lnd/password"),
        new,
        "the resume keeps the recorded password"
    );
    assert_eq!(
        String::from_utf8(site.live_secret("lnd-bitcoind-rpc", "password")).unwrap(),
        new
    );
    let lines = rpcauth_lines(&site);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(verifies(&lines[0], &new));
    assert_ne!(checksum(&site, "lnd"), lnd_before, "LND rolled");
    let audit = state_text(&site, "audit.log");
    assert!(
        audit.contains("rotation resumed: lnd-bitcoind-rpc"),
        "{audit}"
    );
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

fn sans(pem: &str) -> Vec<String> {
    use x509_parser::prelude::*;
    let (_, pem) = parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    cert.subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect()
}

#[test]
fn a_certificate_is_reissued_with_the_same_names_and_a_new_key() {
    let Some(site) = Site::new("pi4-mainnet", "tls") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let (old_cert, old_key) = (
        state_text(&site, "lightning/lnd/tls.cert"),
        state_text(&site, "lightning/lnd/tls.key"),
    );
    let before = checksum(&site, "lnd");
    let output = site
        .with_kubelet(
            |_| true,
            || site.openlsp(&["secrets", "rotate", "lnd-tls", "--yes", "--timeout", "60s"]),
        )
        .expect(0);
    assert!(
        output
            .stderr
            .contains("clients that pinned the old one need the new one"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("openlsp connect lnd"),
        "{}",
        output.stderr
    );
    let (cert, key) = (
        state_text(&site, "lightning/lnd/tls.cert"),
        state_text(&site, "lightning/lnd/tls.key"),
    );
    assert_ne!(cert, old_cert);
    assert_ne!(key, old_key, "a new key");
    assert_eq!(sans(&cert), sans(&old_cert), "the same names");
    assert_eq!(
        String::from_utf8(site.live_secret("lnd-tls", "tls.crt")).unwrap(),
        cert
    );
    assert_ne!(checksum(&site, "lnd"), before, "LND rolls");
    assert_kept_in_history(&site, "lightning/lnd/tls.cert", &old_cert);
    assert_kept_in_history(&site, "lightning/lnd/tls.key", &old_key);
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

#[test]
fn rotate_dry_run_and_refusals_change_nothing() {
    let Some(site) = Site::new("pi4-mainnet", "dryrun") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let versions = site.settle();
    let state_before = state_text(&site, "bitcoin/bitcoind/rpc/lnd/password");
    let output = site
        .openlsp(&["secrets", "rotate", "--all", "--dry-run"])
        .expect(0);
    let without_yes = site.openlsp(&["secrets", "rotate", "lnd-tls"]).expect(2);
    let wallet = site
        .openlsp(&["secrets", "rotate", "lnd-wallet", "--yes"])
        .expect(2);
    let unknown = site
        .openlsp(&["secrets", "rotate", "nope", "--yes"])
        .expect(2);
    // The dry run shows the changed Secrets masked (the password only as '*** (after)') and
    // says nothing was changed; without --yes, the wallet password, and an unknown name are
    // refused, the last with the rotatable names.
    assert_output_snapshot!(
        "rotate_dry_run_and_refusals",
        common::transcript(&[
            ("rotate --all --dry-run stdout", &output.stdout),
            ("rotate --all --dry-run stderr", &output.stderr),
            ("rotate lnd-tls", &without_yes.stderr),
            ("rotate lnd-wallet --yes", &wallet.stderr),
            ("rotate nope --yes", &unknown.stderr),
        ]),
        &site
    );
    assert_eq!(
        site.resource_versions(),
        versions,
        "the cluster is unchanged"
    );
    assert_eq!(
        state_text(&site, "bitcoin/bitcoind/rpc/lnd/password"),
        state_before
    );
    assert!(!site.state_dir().join("history").exists());
    site.assert_nothing_leaked();
}

#[test]
fn pull_rebuilds_a_lost_state_dir_byte_for_byte() {
    let Some(site) = Site::new("lsp-two-nodes", "pull") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let rendered = site.render_revealed();
    let values = count_values(&site.state_dir());
    assert!(
        values >= 10,
        "two LND nodes have at least 10 values, found {values}"
    );
    fs::remove_dir_all(site.state_dir()).unwrap();
    // Pulled values are dated when the cluster wrote them, not when pull ran.
    std::thread::sleep(Duration::from_secs(2));
    let output = site.openlsp(&["secrets", "pull"]).expect(0);
    // kubectl 1.20 prints managedFields without asking (it has no --show-managed-fields).
    let written =
        site.get_json(&["secret", "lnd-routing-bitcoind-rpc", "-n", site.namespace()])["metadata"]
            ["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["time"].as_str())
            .map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .unwrap()
                    .unix_timestamp()
            })
            .max()
            .unwrap();
    let recorded = fs::read_to_string(site.state_dir().join("changed")).unwrap();
    assert!(
        recorded.contains(&format!(
            "{written} bitcoin/bitcoind/rpc/lnd-routing/password\n"
        )),
        "pull records the Secret's write time {written}:\n{recorded}"
    );
    let restored = format!("pull: {values} value(s) written (0 replaced), 0 already matched");
    assert!(output.stderr.contains(&restored), "{}", output.stderr);
    let pulled = output;
    assert_eq!(
        site.render_revealed(),
        rendered,
        "render after pull is what the cluster has"
    );
    site.openlsp(&["diff"]).expect(0);
    let again = site.openlsp(&["secrets", "pull"]).expect(0);

    let wallet = site
        .state_dir()
        .join("lightning/lnd-routing/wallet-password");
    fs::write(&wallet, "changed-by-hand").unwrap();
    let refused = site.openlsp(&["secrets", "pull"]).expect(2);
    // What pull wrote, that a second pull finds every value matching, and that it will not
    // replace a value that differs without --force (naming it, never showing it).
    assert_output_snapshot!(
        "pull",
        common::transcript(&[
            ("pull into an empty state dir", &pulled.stderr),
            ("pull again", &again.stderr),
            ("pull over a changed value", &refused.stderr),
        ]),
        &site
    );
    assert_eq!(fs::read_to_string(&wallet).unwrap(), "changed-by-hand");
    site.openlsp(&["secrets", "pull", "--force"]).expect(0);
    assert_ne!(fs::read_to_string(&wallet).unwrap(), "changed-by-hand");
    assert_kept_in_history(
        &site,
        "lightning/lnd-routing/wallet-password",
        "changed-by-hand",
    );
    site.assert_nothing_leaked();
}

/// The site's one history dir holds `relative` with the text `old`, private (0600).
fn assert_kept_in_history(site: &Site, relative: &str, old: &str) {
    let history: Vec<_> = fs::read_dir(site.state_dir().join("history"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(history.len(), 1, "one change, one history dir: {history:?}");
    let kept = history[0].join(relative);
    assert_eq!(
        fs::read_to_string(&kept).unwrap(),
        old,
        "history keeps the old {relative}"
    );
    assert_eq!(
        fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Value files of a state dir (not the marker, lock, history or audit log).
fn count_values(dir: &std::path::Path) -> usize {
    let mut count = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if ["openlsp-state", ".lock", "history", "audit.log", "changed"].contains(&name.as_str()) {
            continue;
        }
        count += if path.is_dir() {
            count_values(&path)
        } else {
            1
        };
    }
    count
}

fn container<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    pod[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

#[test]
fn lnd_creates_its_wallet_with_lndinit_under_least_privilege() {
    let Some(site) = Site::new("pi4-mainnet", "lndinit") else {
        return;
    };
    let docs = site.rendered();
    let pod = &find(&docs, "StatefulSet", "lnd")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "lnd-lndinit");
    assert_eq!(pod["automountServiceAccountToken"], false);
    let init: Vec<&str> = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(init, ["seed", "wallet", "config"]);
    let seed = container(pod, "initContainers", "seed")["command"][2]
        .as_str()
        .unwrap();
    assert!(
        seed.contains("lndinit gen-seed | lndinit -v store-secret --target=k8s")
            && seed.contains("--k8s.secret-name=lnd-wallet --k8s.secret-key-name=seed"),
        "{seed}"
    );
    let wallet: Vec<&str> = container(pod, "initContainers", "wallet")["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for arg in [
        "init-wallet",
        "--secret-source=k8s",
        "--k8s.secret-name=lnd-wallet",
        "--k8s.seed-key-name=seed",
        "--k8s.wallet-password-key-name=password",
        "--network=mainnet",
        "--init-file.output-wallet-dir=/data/data/chain/bitcoin/mainnet",
        "--init-file.validate-password",
    ] {
        assert!(wallet.contains(&arg), "init-wallet lacks {arg}: {wallet:?}");
    }
    let publish = container(pod, "containers", "publish")["command"][2]
        .as_str()
        .unwrap();
    assert!(
        publish.contains("--k8s.secret-name=\"lnd-rpc\"") && publish.contains("\"admin.macaroon\""),
        "{publish}"
    );
    let lnd = container(pod, "containers", "lnd");
    assert!(
        !lnd["volumeMounts"].to_string().contains("serviceaccount"),
        "LND itself gets no API token"
    );
    let conf = find(&docs, "ConfigMap", "lnd-config")["data"]["lnd.conf"]
        .as_str()
        .unwrap();
    assert!(
        !conf.contains("wallet-unlock-allow-create"),
        "lndinit creates the wallet; LND must not wait for one"
    );

    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let account = format!("system:serviceaccount:{}:lnd-lndinit", site.namespace());
    let can = |verb: &str, resource: &str| {
        site.kubectl(&[
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            site.namespace(),
            "--as",
            &account,
        ])
        .stdout
        .trim()
            == "yes"
    };
    for allowed in ["get", "update", "patch"] {
        assert!(can(allowed, "secret/lnd-wallet"), "{allowed} lnd-wallet");
        assert!(can(allowed, "secret/lnd-rpc"), "{allowed} lnd-rpc");
    }
    for (verb, resource) in [
        ("create", "secrets"),
        ("list", "secrets"),
        ("watch", "secrets"),
        ("delete", "secret/lnd-wallet"),
        ("get", "secret/bitcoind-rpcauth"),
        ("get", "secret/lnd-tls"),
        ("get", "configmaps"),
        ("get", "pods"),
    ] {
        assert!(!can(verb, resource), "must not {verb} {resource}");
    }
    site.assert_nothing_leaked();
}

#[test]
fn signet_creates_the_wallet_through_lnds_unlocker() {
    let Some(site) = Site::new("regtest-playground", "signet") else {
        return;
    };
    site.edit(|mut value| {
        value["spec"]["network"] = Value::String("signet".into());
        value
    });
    let docs = site.rendered();
    let pod = &find(&docs, "StatefulSet", "lnd")["spec"]["template"]["spec"];
    let init: Vec<&str> = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        init,
        ["seed", "config"],
        "lndinit's file mode does not know signet"
    );
    assert!(
        container(pod, "containers", "publish")["command"][2]
            .as_str()
            .unwrap()
            .contains("--init-type=rpc")
    );
    let conf = find(&docs, "ConfigMap", "lnd-config")["data"]["lnd.conf"]
        .as_str()
        .unwrap();
    assert!(conf.contains("wallet-unlock-allow-create=true"));
}

/// Like `Site::assert_nothing_leaked`, for output that shows the files under `public` on
/// purpose (connect prints the certificate): every other generated value must not appear.
fn assert_no_secrets_but(site: &Site, outputs: &[&common::Output], public: &[&str]) {
    let copy = site.test.path().join("leak-check-state");
    let mut stack = vec![site.state_dir()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(site.state_dir()).unwrap();
            if path.is_dir() {
                stack.push(path);
            } else if !public.iter().any(|p| relative.ends_with(p)) {
                let target = copy.join(relative);
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                fs::copy(&path, target).unwrap();
            }
        }
    }
    let text: Vec<String> = outputs.iter().map(|o| o.all()).collect();
    common::assert_no_secrets(&text.join("\n"), &copy, "connect and secrets list");
    fs::remove_dir_all(copy).unwrap();
}

#[test]
fn connect_prints_the_published_certificate_and_macaroon_after_confirmation() {
    let Some(site) = Site::new("pi4-mainnet", "connect") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    // Publish tls.cert and a macaroon the way the node's sidecar does.
    let cert = state_text(&site, "lightning/lnd/tls.cert");
    let macaroon: Vec<u8> = (0u8..=255).collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let patch = serde_json::json!({ "data": { "tls.cert": b64.encode(&cert), "admin.macaroon": b64.encode(&macaroon) } });
    site.kubectl(&[
        "patch",
        "secret",
        "lnd-rpc",
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
        .openlsp(&["connect", "lnd", "--host", "node.example.com"])
        .expect(2);
    assert!(
        !refused.stdout.contains("lndconnect://"),
        "no URI without confirmation"
    );
    let output = site
        .openlsp(&["connect", "lnd", "--host", "node.example.com", "--yes"])
        .expect(0);
    // Without --yes: the warning (stop any screen sharing) and "pass --yes"; with it the
    // question is skipped, not the warning. (stdout with --yes holds the macaroon: no snapshot.)
    assert_output_snapshot!(
        "connect",
        common::transcript(&[
            ("without --yes stdout", &refused.stdout),
            ("without --yes stderr", &refused.stderr),
            ("--yes stderr", &output.stderr),
        ]),
        &site
    );
    let uri = output
        .stdout
        .lines()
        .find(|l| l.starts_with("lndconnect://"))
        .unwrap();
    assert!(
        uri.starts_with("lndconnect://node.example.com:10009?cert="),
        "{uri}"
    );
    assert!(output.stdout.contains('█'), "a QR code is printed");
    let query = uri.split_once('?').unwrap().1;
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
    };
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert.as_bytes()).unwrap();
    assert_eq!(
        url.decode(param("cert")).unwrap(),
        pem.contents,
        "the certificate's DER"
    );
    assert_eq!(url.decode(param("macaroon")).unwrap(), macaroon);
    let rest = site
        .openlsp(&["connect", "lnd", "--host", "fd00::1", "--rest", "--yes"])
        .expect(0);
    assert!(rest.stdout.contains("lndconnect://[fd00::1]:8080?cert="));
    let diff = site.openlsp(&["diff"]).expect(0);
    // secrets list reads the published macaroons from the cluster: a fingerprint, no value.
    let list = site.openlsp(&["secrets", "list"]).expect(0);
    assert_output_snapshot!("secrets_list_published_macaroon", list.stdout, &site);
    for encoded in [b64.encode(&macaroon), url.encode(&macaroon)] {
        for output in [&refused, &diff, &list] {
            assert!(!output.all().contains(&encoded), "the macaroon leaked");
        }
    }
    assert_no_secrets_but(
        &site,
        &[&refused, &output, &rest, &diff, &list],
        &["tls.cert"],
    );
}

#[test]
fn the_seed_is_shown_once_after_typed_confirmation_and_recorded() {
    let Some(site) = Site::new("pi4-mainnet", "seed") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let missing = site.openlsp(&["secrets", "seed"]).expect(2);
    // Store a seed the way lndinit's gen-seed | store-secret does.
    let words = "abandon ability able about above absent absorb abstract absurd abuse access accident account accuse achieve acid acoustic acquire across act action actor actress actual";
    let patch = serde_json::json!({ "data": { "seed": base64::engine::general_purpose::STANDARD.encode(words) } });
    site.kubectl(&[
        "patch",
        "secret",
        "lnd-wallet",
        "-n",
        site.namespace(),
        "--type=merge",
        "-p",
        &patch.to_string(),
        "--field-manager",
        "lndinit",
    ])
    .expect(0);

    let status = site.openlsp(&["secrets", "seed"]).expect(0);
    let list = site.openlsp(&["secrets", "list"]).expect(0);
    // The seed's date is when lndinit wrote it: the Secret's last write.
    let seed_row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("lnd-wallet") && l.contains(" seed "))
        .unwrap();
    let today = time::OffsetDateTime::now_utc();
    let day = format!(
        "{:04}-{:02}-{:02} ",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    assert!(
        seed_row.contains(&day) && seed_row.contains(" UTC"),
        "{seed_row}"
    );
    let unconfirmed = site.openlsp(&["secrets", "seed", "--reveal"]).expect(2);
    let wrong = site
        .openlsp(&["secrets", "seed", "--reveal", "--confirm-node", "other"])
        .expect(2);
    let diff = site.openlsp(&["diff"]).expect(0);
    for output in [&missing, &status, &list, &unconfirmed, &wrong, &diff] {
        assert!(!output.all().contains("abandon ability"), "the seed leaked");
    }
    // No seed yet, then where it is and how to reveal it; the list's seed row with a
    // fingerprint; a reveal needs the node's name typed, and the right one.
    assert_output_snapshot!(
        "seed",
        common::transcript(&[
            ("seed before lndinit stored one", &missing.stderr),
            ("seed stdout", &status.stdout),
            ("seed stderr", &status.stderr),
            ("secrets list", &list.stdout),
            ("seed --reveal", &unconfirmed.stderr),
            ("seed --reveal --confirm-node other", &wrong.stderr),
        ]),
        &site
    );
    let revealed = site
        .openlsp(&["secrets", "seed", "--reveal", "--confirm-node", "lnd"])
        .expect(0);
    assert!(
        revealed.stdout.contains("  1. abandon") && revealed.stdout.contains(" 24. actual"),
        "{}",
        revealed.stdout
    );
    let secret = site.get_json(&["secret", "lnd-wallet", "-n", site.namespace()]);
    assert!(secret["metadata"]["annotations"]["openlsp.io/seed-revealed-at"].is_string());
    assert!(state_text(&site, "audit.log").contains("seed of lnd revealed"));
    site.openlsp(&["diff"]).expect(0);
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert_eq!(
        String::from_utf8(site.live_secret("lnd-wallet", "seed")).unwrap(),
        words,
        "apply keeps lndinit's seed"
    );
    // Every generated value, across seed, list (cluster mode), diff and apply.
    site.assert_nothing_leaked();
}
