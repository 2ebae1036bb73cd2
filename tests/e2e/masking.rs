//! Secret values never reach the terminal: `diff` on the real API server masks changed Secret
//! values, `stringData`, and kubectl's last-applied record, which holds values in clear.

use std::fs;

use crate::common::e2e::Site;
use crate::common::{self};

#[test]
fn secret_values_never_reach_the_terminal() {
    let Some(site) = Site::new("pi4-mainnet", "masking") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    // Changed credentials in the state dir (as a rotation would): the wallet password, and
    // LND's RPC password for bitcoind, which also changes bitcoind's rpcauth line.
    let wallet = site.state_dir().join("lightning/lnd/wallet-password");
    let rpc = site.state_dir().join("bitcoin/bitcoind/rpc/lnd/password");
    let old = [
        fs::read_to_string(&wallet).unwrap(),
        fs::read_to_string(&rpc).unwrap(),
    ];
    // In the form openlsp generates (44 characters of URL-safe base64).
    fs::write(&wallet, "a-new-wallet-password-for-the-test-00000000=").unwrap();
    fs::write(&rpc, "a-new-rpc-password-for-the-test-00000000000=").unwrap();
    // A value changed by hand is refused: only --replace-secrets writes it over the cluster's.
    let refused = site.openlsp(&["diff"]).expect(2);
    assert_output_snapshot!("changed_credentials_refused", refused.stderr, &site);
    let replace = ["--replace-secrets", "lnd-wallet,lnd-bitcoind-rpc"];
    let diff = site.openlsp(&[&["diff"][..], &replace].concat()).expect(1);
    // Each changed value is masked, before and after; the unchanged username is masked too.
    assert_output_snapshot!("changed_credentials", diff.stdout, &site);
    site.openlsp(&[&["diff", "-o", "json"][..], &replace].concat())
        .expect(1);
    let confirm = ["--confirm-site", site.name.as_str()];
    site.openlsp(&[&["apply", "--yes", "--no-wait"][..], &replace, &confirm].concat())
        .expect(0);
    site.openlsp(&["diff"]).expect(0);
    site.openlsp(&["delete", "--yes"]).expect(0);
    site.assert_nothing_leaked();
    site.assert_never_shown(&old.iter().map(|v| v.trim()).collect::<Vec<_>>());
}

/// `stringData` in a planned Secret (a `--templates` addition may render one), and kubectl's
/// `last-applied-configuration` annotation, which holds a client-side-applied Secret's values
/// in clear, are masked like `data`.
#[test]
fn string_data_and_kubectls_last_applied_record_are_masked() {
    let Some(site) = Site::new("pi4-mainnet", "stringdata") else {
        return;
    };
    let planned_token = "planned-string-data-token-4711";
    let kubectl_token = "kubectl-client-side-token-0815";
    let secret = |token: &str, namespace: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e2e-extra\n  namespace: {namespace}\nstringData:\n  token: {token}\n"
        )
    };
    site.test.write(
        "templates/site/zz-extra.yaml.j2",
        &secret(planned_token, "{{ site.namespace }}"),
    );
    let templates = site.test.path().join("templates");
    let templates = ["--templates", templates.to_str().unwrap()];
    let run = |command: &[&str]| site.openlsp(&[command, &templates[..]].concat());

    // A new site: nothing can be dry-run in a namespace that does not exist yet, so the diff
    // shows the Secret as planned, stringData and all.
    let diff = run(&["diff"]).expect(1);
    let planned = common::object_diff(&diff.stdout, "Secret/e2e-extra");
    assert!(
        planned.contains("+stringData:\n+  token: '*** (after)'\n"),
        "{planned}"
    );

    // Someone created it first with client-side `kubectl apply`.
    site.kubectl(&["create", "namespace", site.namespace()])
        .expect(0);
    let file = site
        .test
        .write("extra.yaml", &secret(kubectl_token, site.namespace()));
    site.kubectl(&["apply", "-f", file.to_str().unwrap()])
        .expect(0);
    let live = site.get_json(&["secret", "e2e-extra", "-n", site.namespace()]);
    let record =
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap();
    assert!(
        record.contains(kubectl_token),
        "the record holds the value in clear"
    );

    let diff = run(&["diff"]).expect(1);
    // The record is masked whole; the value in stringData, before and after.
    assert_output_snapshot!(
        "last_applied_record",
        common::transcript(&[
            ("planned, new site", &planned),
            (
                "created with kubectl",
                &common::object_diff(&diff.stdout, "Secret/e2e-extra")
            ),
        ]),
        &site
    );
    run(&["diff", "-o", "json"]).expect(1);
    run(&["apply", "--yes", "--no-wait", "--force-conflicts"]).expect(0);
    run(&["delete", "--yes"]).expect(0);
    site.assert_nothing_leaked();
    site.assert_never_shown(&[planned_token, kubectl_token]);
}
