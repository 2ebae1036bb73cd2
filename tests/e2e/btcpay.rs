//! BTCPay Server on the real API server: the shop applies, a second apply writes nothing and
//! diff finds nothing, `secrets list` shows its credentials without their values, and when the
//! store leaves the profile its workloads go but its data stays: both volumes, the database
//! passwords, the settings, NBXplorer's credential and the onion key, in the cluster and in the
//! state dir.

use crate::common::e2e::{self, Site};

#[test]
fn btcpay_applies_reapplies_as_a_no_op_and_is_pruned_keeping_its_data() {
    let Some(site) = Site::new("shop", "shop") else {
        return;
    };
    e2e::addon_crds(&site.kubeconfig).expect("the cert-manager CRDs");
    // The shop's monitoring addon puts its dashboards there.
    e2e::ensure_namespace(&site.kubeconfig, "observability");
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let exists = |kind: &str, name: &str| {
        site.kubectl(&["get", kind, name, "-n", site.namespace()])
            .code
            == 0
    };
    let data = [
        ("pvc", "btcpay-data"),
        ("pvc", "btcpay-postgres-data"),
        ("secret", "btcpay-postgres"),
        ("secret", "btcpay-settings"),
        ("secret", "btcpay-nbxplorer-bitcoind-rpc"),
        ("secret", "btcpay-onion"),
    ];
    let workloads = [
        ("statefulset", "btcpay"),
        ("statefulset", "btcpay-postgres"),
        ("service", "btcpay"),
        ("service", "btcpay-postgres"),
        ("configmap", "btcpay-postgres-init"),
        // The hourly dump and its backup container's settings, metrics and scrape.
        ("configmap", "btcpay-postgres-dump"),
        ("configmap", "btcpay-postgres-backup"),
        ("service", "btcpay-postgres-backup"),
        ("servicemonitor", "btcpay-postgres-backup"),
        ("networkpolicy", "btcpay"),
        ("networkpolicy", "btcpay-postgres"),
        ("ingress", "btcpay-store"),
    ];
    for (kind, name) in data.iter().chain(&workloads) {
        assert!(exists(kind, name), "{kind}/{name}");
    }

    site.assert_reapply_is_a_no_op();

    let listed = site.openlsp(&["secrets", "list"]).expect(0);
    for name in [
        "btcpay-postgres",
        "btcpay-nbxplorer-bitcoind-rpc",
        "btcpay-onion",
    ] {
        assert!(listed.stdout.contains(name), "{}", listed.stdout);
    }
    assert!(
        listed.stdout.contains("database password"),
        "{}",
        listed.stdout
    );

    let passwords = site.test.state_dir(&site.name).join("btcpay/postgres");
    let kept = std::fs::read(passwords.join("btcpayserver/password")).unwrap();
    site.edit(|mut profile| {
        profile["spec"].as_object_mut().unwrap().remove("btcpay");
        profile
    });
    let pruned = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    for (kind, name) in workloads {
        assert!(!exists(kind, name), "{kind}/{name} must be pruned");
    }
    for (kind, name) in data {
        assert!(exists(kind, name), "{kind}/{name} holds data and must stay");
    }
    for volume in ["btcpay", "btcpay-postgres"] {
        let pv = format!("{}-{volume}", site.namespace());
        assert_eq!(site.kubectl(&["get", "pv", &pv]).code, 0, "{pv} stays");
    }
    assert!(
        pruned
            .stdout
            .lines()
            .any(|l| l.starts_with("= keep (data)")),
        "{}",
        pruned.stdout
    );
    assert_eq!(
        std::fs::read(passwords.join("btcpayserver/password")).unwrap(),
        kept,
        "the state dir keeps the database passwords"
    );
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

/// NBXplorer's RPC credential rotates as LND's does, in two phases with both rpcauth lines on
/// bitcoind in between; the database passwords cannot, and say why.
#[test]
fn nbxplorers_credential_rotates_and_a_database_password_says_why_it_cannot() {
    let Some(site) = Site::new("shop", "shop-rotate") else {
        return;
    };
    e2e::addon_crds(&site.kubeconfig).expect("the cert-manager CRDs");
    // The shop's monitoring addon puts its dashboards there.
    e2e::ensure_namespace(&site.kubeconfig, "observability");
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let state = site.test.state_dir(&site.name);
    let password_file = state.join("bitcoin/bitcoind/rpc/btcpay_nbxplorer/password");
    let old = std::fs::read_to_string(&password_file).unwrap();
    site.with_kubelet(
        |_| true,
        || {
            site.openlsp(&[
                "secrets",
                "rotate",
                "btcpay-nbxplorer-bitcoind-rpc",
                "--yes",
                "--timeout",
                "120s",
            ])
        },
    )
    .expect(0);
    let new = std::fs::read_to_string(&password_file).unwrap();
    assert_ne!(old, new);
    let live = |key: &str| {
        String::from_utf8(site.live_secret("btcpay-nbxplorer-bitcoind-rpc", key)).unwrap()
    };
    assert_eq!(live("password"), new);
    assert!(
        live("settings.config").contains(&format!("btc.rpc.password={new}\n")),
        "NBXplorer's settings carry the new password"
    );
    let rpcauth = String::from_utf8(site.live_secret("bitcoind-rpcauth", "rpcauth.conf")).unwrap();
    assert_eq!(
        rpcauth
            .lines()
            .filter(|line| line.starts_with("rpcauth=btcpay_nbxplorer:"))
            .count(),
        1,
        "after phase 2 only the new line: {rpcauth}"
    );
    let refused = site
        .openlsp(&["secrets", "rotate", "btcpay-postgres", "--yes"])
        .expect(2);
    assert!(
        refused
            .stderr
            .contains("btcpay-postgres cannot be rotated: PostgreSQL keeps it as a hash"),
        "{}",
        refused.stderr
    );
    site.assert_nothing_leaked();
}
