//! The stack on a real API server: the real cert-manager and prometheus-operator CRDs are
//! installed once per test process, then a full-stack site is applied, diffed, and pruned
//! section by section. A second API server without those CRDs checks that `diff` and `apply`
//! name the missing addon and write nothing.

use std::path::{Path, PathBuf};
use std::sync::Once;

use super::Site;
use crate::common::{self, kubectl};

/// The addon CRDs: `OPENLSP_TEST_CRDS`, else `../shared/crds` next to the repository. They are
/// not the project's to install, so when they are missing the test skips with the reason printed,
/// even under OPENLSP_TEST_REQUIRE_ALL (scripts/test.sh announces the skip up front).
fn crd_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("OPENLSP_TEST_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("../shared/crds"));
    if dir.join("cert-manager").is_dir() && dir.join("prometheus-operator").is_dir() {
        return Some(dir);
    }
    eprintln!(
        "{test}: skipped because the cert-manager and prometheus-operator CRDs are not in {} \
         (set OPENLSP_TEST_CRDS to their directory)",
        dir.display()
    );
    None
}

static CRDS: Once = Once::new();

/// Installs the CRDs with server-side apply and waits until the API server serves them.
fn install_crds(kubeconfig: &Path, dir: &Path) {
    CRDS.call_once(|| {
        for addon in ["cert-manager", "prometheus-operator"] {
            let path = dir.join(addon);
            kubectl(
                kubeconfig,
                [
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "-f",
                    path.to_str().unwrap(),
                ],
            )
            .expect(0);
        }
        for crd in [
            "servicemonitors.monitoring.coreos.com",
            "podmonitors.monitoring.coreos.com",
            "prometheusrules.monitoring.coreos.com",
            "clusterissuers.cert-manager.io",
            "certificates.cert-manager.io",
        ] {
            kubectl(
                kubeconfig,
                [
                    "wait",
                    "--for",
                    "condition=Established",
                    "--timeout",
                    "60s",
                    &format!("crd/{crd}"),
                ],
            )
            .expect(0);
        }
    });
}

/// The namespace microk8s' observability addon would have created.
fn ensure_namespace(kubeconfig: &Path, namespace: &str) {
    let exists = kubectl(kubeconfig, ["get", "namespace", namespace]).code == 0;
    if !exists {
        let created = kubectl(kubeconfig, ["create", "namespace", namespace]);
        assert!(
            created.code == 0 || created.stderr.contains("AlreadyExists"),
            "{created:?}"
        );
    }
}

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
    let Some(site) = Site::new("full stack e2e", "full-stack", "full") else {
        return;
    };
    let Some(crds) = crd_dir("full stack e2e") else {
        return;
    };
    install_crds(&site.kubeconfig, &crds);
    ensure_namespace(&site.kubeconfig, "observability");
    let ns = site.namespace().to_owned();

    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(
        output.stderr.contains("is exposed publicly"),
        "the plan warns about the public REST Ingress: {}",
        output.stderr
    );
    let diff = site.openlsp(&["diff"]).expect(0);
    assert!(
        diff.stdout.contains("0 to create, 0 to change, 0 to prune"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stderr.contains("is exposed publicly"),
        "diff warns about the public REST Ingress too: {}",
        diff.stderr
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
    for line in [
        "- prune Deployment/bitcoind-exporter",
        "- prune Deployment/lnd-lndmon",
        "- prune Service/lnd-metrics",
        "- prune ServiceMonitor/bitcoind-exporter",
        "- prune PrometheusRule/openlsp-alerts",
        &format!("- prune ConfigMap/{dashboard}"),
        "= keep (data) Secret/bitcoind-exporter-rpc",
        "~ change Secret/bitcoind-rpcauth",
    ] {
        assert!(
            output.stdout.contains(line),
            "missing {line:?}:\n{}",
            output.stdout
        );
    }
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
    assert!(diff.stdout.contains("1 kept (data)"), "{}", diff.stdout);

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
    let Some(bare) = common::required_program("OPENLSP_TEST_KUBECONFIG_BARE", "missing CRDs")
    else {
        return;
    };
    for (section, addon) in [
        (
            "  monitoring: { lndmon: false }\n",
            "microk8s enable observability",
        ),
        (
            "  ingress: { email: operator@example.com }\n",
            "microk8s enable cert-manager",
        ),
    ] {
        let Some(mut site) = Site::new("missing CRDs", "pi4-mainnet", "bare") else {
            return;
        };
        site.kubeconfig = bare.clone();
        let path = site.test.path().join(&site.profile);
        let profile = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{profile}{section}")).unwrap();
        for command in [&["diff"][..], &["apply", "--yes"][..]] {
            let output = site.openlsp(command).expect(2);
            assert!(
                output.stderr.contains("the cluster has no API for")
                    && output.stderr.contains(addon),
                "{command:?}: {}",
                output.stderr
            );
            assert!(
                !output.stderr.contains("no matches for kind"),
                "{}",
                output.stderr
            );
        }
        assert_nothing_written(&site);
    }
}

/// Grafana's namespace belongs to the observability addon, so openlsp never creates it: with
/// the CRDs installed but `monitoring.namespace` naming a namespace that does not exist, `diff`
/// and `apply` stop before writing and say to enable the addon or change the namespace.
#[test]
fn a_missing_monitoring_namespace_is_named_with_the_addon_to_enable() {
    let Some(site) = Site::new(
        "missing monitoring namespace",
        "full-stack",
        "no-grafana-ns",
    ) else {
        return;
    };
    let Some(crds) = crd_dir("missing monitoring namespace") else {
        return;
    };
    install_crds(&site.kubeconfig, &crds);
    let absent = format!("{}-absent", site.name);
    assert!(site.kubectl(&["get", "namespace", &absent]).code != 0);
    site.edit(|mut value| {
        value["spec"]["monitoring"]["namespace"] = absent.clone().into();
        value
    });
    for command in [&["diff"][..], &["apply", "--yes"][..]] {
        let output = site.openlsp(command).expect(2);
        assert!(
            output
                .stderr
                .contains(&format!("namespace {absent} does not exist"))
                && output.stderr.contains("microk8s enable observability"),
            "{command:?}: {}",
            output.stderr
        );
    }
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
    let Some(site) = Site::new("exporter rotation", "full-stack", "exporter-rotate") else {
        return;
    };
    let Some(crds) = crd_dir("exporter rotation") else {
        return;
    };
    install_crds(&site.kubeconfig, &crds);
    ensure_namespace(&site.kubeconfig, "observability");
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
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while site
                    .openlsp(&["secrets", "rotate", "--finish", "--dry-run"])
                    .code
                    != 0
                {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the exporter never rolled"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
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
