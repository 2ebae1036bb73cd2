//! The addons on a real API server: the real cert-manager and prometheus-operator CRDs are
//! installed once per test process (a shared fixture), then a full-stack site is applied,
//! diffed, and pruned section by section, and the exporter's credential rotates. A second API
//! server without those CRDs, and a monitoring namespace that does not exist, check that `diff`
//! and `apply` name the addon to enable and write nothing.

use crate::common::e2e::{self, Site};
use crate::common::{self};

fn exists(site: &Site, kind: &str, name: &str, namespace: &str) -> bool {
    site.kubectl(&["get", kind, name, "-n", namespace]).code == 0
}

/// A command that stopped before writing left neither the site's namespace nor its volumes.
fn assert_nothing_written(site: &Site) {
    assert!(
        site.kubectl(&["get", "namespace", site.namespace()]).code != 0,
        "nothing may be written: namespace {}",
        site.namespace()
    );
    let volumes = site.get_json(&["persistentvolumes"]);
    assert!(
        volumes["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|pv| !pv["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with(&site.name)),
        "nothing may be written: PersistentVolumes"
    );
}

#[test]
fn the_full_stack_applies_diffs_clean_and_prunes_monitoring_but_keeps_its_data() {
    let Some(site) = Site::new("full-stack", "full") else {
        return;
    };
    let Some(()) = e2e::addon_crds(&site.kubeconfig) else {
        return;
    };
    e2e::ensure_namespace(&site.kubeconfig, "observability");
    let ns = site.namespace().to_owned();

    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let diff = site.openlsp(&["diff"]).expect(0);
    // Everything created, the stack's custom resources and Grafana's Ingress in observability
    // among them; then nothing to do. Both warn that the REST Ingress is exposed publicly.
    assert_output_snapshot!(
        "full_stack",
        common::transcript(&[
            ("apply stdout", &output.stdout),
            ("apply stderr", &output.stderr),
            ("diff stdout", &diff.stdout),
            ("diff stderr", &diff.stderr),
        ]),
        &site
    );

    for (kind, name) in [
        ("servicemonitor", "bitcoind-exporter"),
        ("servicemonitor", "lnd-metrics"),
        ("servicemonitor", "lnd-lndmon"),
        ("prometheusrule", "openlsp-alerts"),
        ("deployment", "tor"),
        ("deployment", "bitcoind-exporter"),
        ("deployment", "lnd-lndmon"),
        ("ingress", "lnd-rest"),
        ("secret", "lnd-rpc-onion"),
    ] {
        assert!(
            exists(&site, kind, name, &ns),
            "{kind}/{name} was not created"
        );
    }
    let dashboard = format!("openlsp-{}-bitcoind-dashboard", site.name);
    assert!(exists(&site, "configmap", &dashboard, "observability"));
    let grafana = format!("openlsp-{}-grafana", site.name);
    assert!(exists(&site, "ingress", &grafana, "observability"));
    let issuer = format!("openlsp-{}-letsencrypt-staging", site.name);
    assert_eq!(
        site.get_json(&["clusterissuer", &issuer])["spec"]["acme"]["email"],
        "operator@example.com"
    );
    let parent = site.get_json(&["secret", "openlsp-applyset", "-n", &ns]);
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/additional-namespaces"],
        "observability"
    );

    // ipv6: true: the inbound P2P Services get an address of each family.
    for name in ["bitcoind-p2p", "lnd-p2p"] {
        let spec = &site.get_json(&["service", name, "-n", &ns])["spec"];
        assert_eq!(spec["ipFamilyPolicy"], "PreferDualStack", "{name}");
        assert_eq!(
            spec["ipFamilies"],
            serde_json::json!(["IPv4", "IPv6"]),
            "{name}"
        );
        let ips = spec["clusterIPs"].as_array().unwrap();
        assert_eq!(ips.len(), 2, "{name}: {ips:?}");
        assert!(
            ips[1].as_str().unwrap().starts_with("fd00:10:96:"),
            "{ips:?}"
        );
    }

    // Dropping monitoring prunes its objects, keeps the exporter's credentials (data), and
    // takes the exporter's rpcauth line out of bitcoind's Secret.
    site.edit(|mut value| {
        value["spec"].as_object_mut().unwrap().remove("monitoring");
        value
    });
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.wait_gone("servicemonitor", "bitcoind-exporter");
    site.wait_gone("deployment", "lnd-lndmon");
    assert!(!exists(&site, "configmap", &dashboard, "observability"));
    assert!(
        exists(&site, "secret", "bitcoind-exporter-rpc", &ns),
        "data is kept"
    );
    assert!(exists(&site, "deployment", "tor", &ns), "Tor stays");
    assert!(
        exists(&site, "ingress", &grafana, "observability"),
        "Grafana's Ingress stays"
    );
    let diff = site.openlsp(&["diff"]).expect(0);
    // The exporters, their Services and monitors, the rules and the dashboards pruned; the
    // exporter's credential kept (data); bitcoind's rpcauth Secret changed. Then a clean diff
    // that counts the kept Secret.
    assert_output_snapshot!(
        "without_monitoring",
        common::transcript(&[
            ("apply stdout", &output.stdout),
            ("apply stderr", &output.stderr),
            ("diff stdout", &diff.stdout),
        ]),
        &site
    );

    // Without Grafana's Ingress, nothing of the site is left in observability.
    site.edit(|mut value| {
        value["spec"]["ingress"]
            .as_object_mut()
            .unwrap()
            .remove("grafana");
        value
    });
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.openlsp(&["diff"]).expect(0);
    assert!(!exists(&site, "ingress", &grafana, "observability"));

    site.openlsp(&["delete", "--yes"]).expect(0);
    assert!(site.kubectl(&["get", "clusterissuer", &issuer]).code != 0);
    site.assert_nothing_leaked();
}

/// A site whose profile asks for monitoring or ingress, on a cluster without the addons'
/// CRDs: both commands stop before writing and say which addon to enable.
#[test]
fn a_cluster_without_the_crds_is_told_which_addon_to_enable() {
    let Some(bare) = e2e::bare_cluster() else {
        return;
    };
    for (name, section) in [
        ("monitoring", "  monitoring: { lndmon: false }\n"),
        ("ingress", "  ingress: { email: operator@example.com }\n"),
    ] {
        let site = Site::on(bare.clone(), "pi4-mainnet", "bare");
        let path = site.test.path().join(&site.profile);
        let profile = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{profile}{section}")).unwrap();
        let diff = site.openlsp(&["diff"]).expect(2);
        let apply = site.openlsp(&["apply", "--yes"]).expect(2);
        // The kinds the cluster has no API for, and the addon to enable (observability,
        // cert-manager); never the API server's "no matches for kind".
        assert_output_snapshot!(
            format!("missing_crds_{name}"),
            common::transcript(&[("diff", &diff.stderr), ("apply", &apply.stderr)]),
            &site
        );
        assert_nothing_written(&site);
    }
}

/// Grafana's namespace belongs to the observability addon, so openlsp never creates it: with
/// the CRDs installed but `monitoring.namespace` naming a namespace that does not exist, `diff`
/// and `apply` stop before writing and say to enable the addon or change the namespace.
#[test]
fn a_missing_monitoring_namespace_is_named_with_the_addon_to_enable() {
    let Some(site) = Site::new("full-stack", "no-grafana-ns") else {
        return;
    };
    let Some(()) = e2e::addon_crds(&site.kubeconfig) else {
        return;
    };
    let absent = format!("{}-absent", site.name);
    assert!(site.kubectl(&["get", "namespace", &absent]).code != 0);
    site.edit(|mut value| {
        value["spec"]["monitoring"]["namespace"] = absent.clone().into();
        value
    });
    let diff = site.openlsp(&["diff"]).expect(2);
    let apply = site.openlsp(&["apply", "--yes"]).expect(2);
    // The namespace that does not exist, and to enable observability or change the namespace.
    assert_output_snapshot!(
        "missing_monitoring_namespace",
        common::transcript(&[("diff", &diff.stderr), ("apply", &apply.stderr)]),
        &site
    );
    assert_nothing_written(&site);
    assert!(site.kubectl(&["get", "namespace", &absent]).code != 0);
    let issuer = format!("openlsp-{}-letsencrypt-staging", site.name);
    assert!(
        site.kubectl(&["get", "clusterissuer", &issuer]).code != 0,
        "nothing may be written: ClusterIssuer {issuer}"
    );
    site.assert_nothing_leaked();
}

/// The exporter is an RPC client like LND: its credential rotates in the same two phases.
#[test]
fn the_exporters_credential_rotates_in_two_phases() {
    let Some(site) = Site::new("full-stack", "exporter-rotate") else {
        return;
    };
    let Some(()) = e2e::addon_crds(&site.kubeconfig) else {
        return;
    };
    e2e::ensure_namespace(&site.kubeconfig, "observability");
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let exporter_lines = || {
        let secret = site.get_json(&["secret", "bitcoind-rpcauth", "-n", site.namespace()]);
        let conf = String::from_utf8(common::base64_decode(
            secret["data"]["rpcauth.conf"].as_str().unwrap(),
        ))
        .unwrap();
        conf.lines()
            .filter(|l| l.starts_with("rpcauth=openlsp_exporter:"))
            .count()
    };
    assert_eq!(exporter_lines(), 1);
    let phase1 = site
        .with_kubelet(
            |pod| pod.starts_with("bitcoind-"),
            || {
                site.openlsp(&[
                    "secrets",
                    "rotate",
                    "bitcoind-exporter-rpc",
                    "--yes",
                    "--no-wait",
                    "--timeout",
                    "60s",
                ])
            },
        )
        .expect(0);
    assert!(
        phase1.stderr.contains("Deployment/bitcoind-exporter"),
        "{}",
        phase1.stderr
    );
    assert_eq!(
        exporter_lines(),
        2,
        "bitcoind accepts the old and the new exporter password"
    );
    let finished = site
        .with_kubelet(
            |_| true,
            || {
                common::wait_for("the exporter to roll", e2e::PATIENCE, || {
                    let dry_run = site.openlsp(&["secrets", "rotate", "--finish", "--dry-run"]);
                    if dry_run.code == 0 {
                        Ok(())
                    } else {
                        Err(dry_run.stderr)
                    }
                });
                site.openlsp(&["secrets", "rotate", "--finish", "--yes", "--timeout", "60s"])
            },
        )
        .expect(0);
    assert!(
        finished.stderr.contains("phase 2 applied"),
        "{}",
        finished.stderr
    );
    assert_eq!(exporter_lines(), 1);
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}
