//! What a site exposes, without a cluster: inbound P2P as the profile chooses it (host ports, a
//! LoadBalancer, the ingress controller's TCP routes), IPv6 and public addresses, and the
//! Ingresses, which are private unless named and then warned about.

use crate::common::{self, Test, appended, config, edited, find, render, values};

#[test]
fn inbound_p2p_follows_the_choice_and_ipv6_makes_services_dual_stack() {
    // hostPort (the Pi's default): host ports on the P2P container ports, and the namespace
    // admits them (baseline and restricted both forbid host ports).
    let test = Test::new().with_example("pi4-mainnet");
    let (docs, _) = render(&test, "pi4-mainnet.yaml");
    for (name, port) in [("bitcoind", 8333), ("lnd", 9735)] {
        let ports =
            &find(&docs, "StatefulSet", name)["spec"]["template"]["spec"]["containers"][0]["ports"];
        let p2p = ports
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "p2p")
            .unwrap();
        assert_eq!(p2p["hostPort"], port, "{name}");
    }
    let labels = &find(&docs, "Namespace", "openlsp")["metadata"]["labels"];
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "privileged");
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
    assert_eq!(labels["pod-security.kubernetes.io/audit"], "restricted");

    // Two LND on one machine cannot share a host port: the LSP defaults to no inbound.
    let test = Test::new().with_example("lsp-two-nodes");
    let (docs, _) = render(&test, "lsp-two-nodes.yaml");
    assert!(
        docs.iter()
            .all(|d| !d["metadata"]["name"].as_str().unwrap().ends_with("-p2p"))
    );

    // loadBalancer with IPv6: a dual-stack LoadBalancer per node, listening on [::].
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    for (name, port) in [("bitcoind-p2p", 8333), ("lnd-p2p", 9735)] {
        let spec = &find(&docs, "Service", name)["spec"];
        assert_eq!(spec["type"], "LoadBalancer");
        assert_eq!(spec["ipFamilyPolicy"], "PreferDualStack");
        assert_eq!(spec["externalTrafficPolicy"], "Local");
        assert_eq!(spec["ports"][0]["port"], port);
    }
    assert!(config(&docs, "lnd-config", "lnd.conf").contains("\nlisten=[::]:9735\n"));
    let bitcoin = config(&docs, "bitcoind-config", "bitcoin.conf");
    assert!(values(&bitcoin, "bind").contains(&"[::]:8333"));

    // ingress: a ClusterIP per node, and the TCP routes openlsp cannot own, as a warning.
    let test = edited("full-stack", "inbound: loadBalancer", "inbound: ingress");
    let (docs, stderr) = render(&test, "openlsp.yaml");
    assert_eq!(
        find(&docs, "Service", "lnd-p2p")["spec"]["type"],
        "ClusterIP"
    );
    // The TCP routes for nginx-ingress-tcp-microk8s-conf, 9735 and 8333 to the P2P Services.
    assert_output_snapshot!("ingress_tcp_routes", stderr, &test);

    // Public addresses are advertised with the P2P port (IPv6 in brackets for LND).
    let test = edited(
        "full-stack",
        "inbound: loadBalancer",
        "inbound: loadBalancer\n    externalIPs: [81.2.69.160, \"2a02:c207::1\"]",
    );
    let (docs, _) = render(&test, "openlsp.yaml");
    let lnd = config(&docs, "lnd-config", "lnd.conf");
    let externals = values(&lnd, "externalip");
    assert_eq!(externals[1..], ["81.2.69.160:9735", "[2a02:c207::1]:9735"]);
    let bitcoin = config(&docs, "bitcoind-config", "bitcoin.conf");
    assert_eq!(
        values(&bitcoin, "externalip")[1..],
        ["81.2.69.160", "2a02:c207::1"]
    );
}

#[test]
fn public_exposure_is_named_and_warned_about_and_private_by_default() {
    let test = Test::new().with_example("full-stack");
    let (docs, stderr) = render(&test, "full-stack.yaml");
    // LND's REST API at https://lnd.example.com is exposed publicly.
    assert_output_snapshot!("public_rest_api", stderr, &test);
    let ingress = find(&docs, "Ingress", "lnd-rest");
    assert_eq!(ingress["spec"]["ingressClassName"], "public");
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "openlsp-full-letsencrypt-staging"
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"],
        "HTTPS"
    );
    assert_eq!(ingress["spec"]["tls"][0]["hosts"][0], "lnd.example.com");
    let ingresses: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "Ingress")
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        ingresses,
        ["lnd-rest", "openlsp-full-grafana"],
        "gRPC and RPC stay private"
    );
    let grafana = find(&docs, "Ingress", "openlsp-full-grafana");
    assert_eq!(grafana["metadata"]["namespace"], "observability");
    assert_eq!(
        grafana["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "kube-prom-stack-grafana"
    );
    for (name, server) in [
        (
            "openlsp-full-letsencrypt-production",
            "https://acme-v02.api.letsencrypt.org/directory",
        ),
        (
            "openlsp-full-letsencrypt-staging",
            "https://acme-staging-v02.api.letsencrypt.org/directory",
        ),
    ] {
        let acme = &find(&docs, "ClusterIssuer", name)["spec"]["acme"];
        assert_eq!(acme["server"], server);
        assert_eq!(acme["email"], "operator@example.com");
        assert_eq!(acme["solvers"][0]["http01"]["ingress"]["class"], "public");
    }

    // Without an ingress section nothing is public, and nothing warns.
    for name in ["pi4-mainnet", "lsp-two-nodes", "regtest-playground"] {
        let test = Test::new().with_example(name);
        let (docs, stderr) = render(&test, &format!("{name}.yaml"));
        assert!(!stderr.contains("exposed publicly"), "{name}: {stderr}");
        assert!(
            docs.iter()
                .all(|d| d["kind"] != "Ingress" && d["kind"] != "ClusterIssuer")
        );
    }
}

/// A tor-only site may publish Grafana (it is the addon's and has its own login, unlike a
/// node API, which tor-only refuses), but is warned that it ties the machine to the site.
#[test]
fn a_tor_only_site_publishing_grafana_is_warned() {
    let sections = |mode: &str| {
        format!(
            "  tor: {{ mode: {mode} }}\n  monitoring: {{ release: myprom }}\n  ingress: {{ email: operator@example.com, grafana: grafana.example.com }}"
        )
    };
    let test = appended("pi4-mainnet", &sections("tor-only"));
    let (docs, stderr) = render(&test, "openlsp.yaml");
    find(&docs, "Ingress", "openlsp-home-pi-grafana");
    let validate = test.run(["validate", "-p", "openlsp.yaml"]).expect(0);
    // Grafana is public on clearnet while the site is tor-only; the warning says how to reach it
    // privately instead (kubectl port-forward to myprom-grafana), in render and in validate.
    assert_output_snapshot!(
        "tor_only_public_grafana",
        common::transcript(&[("render", &stderr), ("validate", &validate.stderr)]),
        &test
    );

    let test = appended("pi4-mainnet", &sections("hybrid"));
    let (_, stderr) = render(&test, "openlsp.yaml");
    assert!(!stderr.contains("spec.ingress.grafana"), "{stderr}");
}
