//! A store on Core Lightning on the real API server: profiles/cln-shop.yaml applies with the
//! tunnel's objects (both Secrets with the state dir's pairs, the two containers, the Service
//! port, the CLN pod's policy that admits BTCPay's pod alone to it), a second apply writes
//! nothing and diff finds nothing, `secrets list` shows the tunnel without its values, and
//! `secrets rotate` replaces the CA and both pairs in both Secrets.
//! tests/tunnel.rs runs both ends of the tunnel itself.

use crate::common::e2e::Site;

#[test]
fn a_store_on_cln_applies_its_tunnel_and_reapplies_as_a_no_op() {
    let Some(site) = Site::new("cln-shop", "cln-shop") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);

    // Each Secret holds the CA and its end's pair, as the state dir has them.
    let state = site.test.state_dir(&site.name).join("lightning/cln/tunnel");
    let file = |name: &str| std::fs::read(state.join(name)).unwrap();
    let hold_the_state_dirs_pairs = || {
        for (secret, pair) in [("cln-tunnel", "server"), ("btcpay-tunnel", "client")] {
            assert_eq!(
                site.live_secret(secret, "ca.crt"),
                file("ca.crt"),
                "{secret}"
            );
            assert_eq!(
                site.live_secret(secret, "tls.crt"),
                file(&format!("{pair}.crt")),
                "{secret}"
            );
            assert_eq!(
                site.live_secret(secret, "tls.key"),
                file(&format!("{pair}.key")),
                "{secret}"
            );
        }
    };
    hold_the_state_dirs_pairs();

    let containers = |workload: &str| {
        site.get_json(&["statefulset", workload, "-n", site.namespace()])["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(containers("cln").contains(&"tunnel".to_owned()));
    assert!(containers("btcpay").contains(&"cln-tunnel".to_owned()));
    let service = site.get_json(&["service", "cln", "-n", site.namespace()]);
    assert!(
        service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "tunnel" && p["port"] == 9737),
        "{service}"
    );
    // The CLN pod's policy: port 9737 from BTCPay's pod, and nothing else from it.
    let policy = site.get_json(&["networkpolicy", "cln", "-n", site.namespace()]);
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    let tunnel: Vec<_> = rules
        .iter()
        .filter(|r| {
            r["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == 9737)
        })
        .collect();
    assert_eq!(tunnel.len(), 1, "{policy}");
    assert_eq!(tunnel[0]["ports"].as_array().unwrap().len(), 1, "{policy}");
    let from = tunnel[0]["from"].as_array().unwrap();
    assert_eq!(from.len(), 1, "{policy}");
    assert_eq!(
        from[0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "btcpayserver",
        "{policy}"
    );

    site.assert_reapply_is_a_no_op();

    let listed = site.openlsp(&["secrets", "list"]).expect(0);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("cln-tunnel") && l.contains("tunnel TLS")),
        "{}",
        listed.stdout
    );

    // A rotation replaces the CA and both pairs, in both Secrets at once.
    let old_ca = file("ca.crt");
    site.openlsp(&["secrets", "rotate", "cln-tunnel", "--yes", "--no-wait"])
        .expect(0);
    assert_ne!(file("ca.crt"), old_ca, "a new CA");
    hold_the_state_dirs_pairs();
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}
