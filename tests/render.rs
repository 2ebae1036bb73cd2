//! `openlsp render`: snapshots of every example profile, typed objects, determinism, `-o DIR`,
//! template overrides, the config checksum that rolls pods, hardened pods that fit the Pi, and
//! `validate --show-effective`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde_json::Value;

use crate::common::{self, Test, config, documents, find, render};

#[test]
fn every_example_profile_renders_to_its_snapshot() {
    let profiles = common::example_profiles();
    assert!(profiles.len() >= 3, "profiles/ lost its examples");
    for name in profiles {
        let test = Test::new().with_example(&name);
        let output = test
            .run(["render", "-p", &format!("{name}.yaml")])
            .expect(0);
        // Checksums depend on generated secrets, and onion addresses (public) on generated
        // keys; the snapshot filters replace them. Everything else in a masked render is stable.
        insta::with_settings!({ prepend_module_to_snapshot => false }, {
            assert_output_snapshot!(format!("render_{name}"), output.stdout, &test);
        });
    }
}

/// Deserializes a document into its k8s-openapi type, independently of openlsp's own check.
fn deserialize_typed(document: &Value) {
    let kind = document["kind"].as_str().unwrap();
    let value = document.clone();
    let result = match kind {
        "Namespace" => serde_json::from_value::<Namespace>(value).map(drop),
        "ConfigMap" => serde_json::from_value::<ConfigMap>(value).map(drop),
        "Secret" => serde_json::from_value::<Secret>(value).map(drop),
        "PersistentVolume" => serde_json::from_value::<PersistentVolume>(value).map(drop),
        "PersistentVolumeClaim" => serde_json::from_value::<PersistentVolumeClaim>(value).map(drop),
        "Service" => serde_json::from_value::<Service>(value).map(drop),
        "StatefulSet" => serde_json::from_value::<StatefulSet>(value).map(drop),
        "ServiceAccount" => serde_json::from_value::<ServiceAccount>(value).map(drop),
        "Role" => serde_json::from_value::<Role>(value).map(drop),
        "RoleBinding" => serde_json::from_value::<RoleBinding>(value).map(drop),
        "Deployment" => serde_json::from_value::<Deployment>(value).map(drop),
        "Ingress" => serde_json::from_value::<Ingress>(value).map(drop),
        "NetworkPolicy" => serde_json::from_value::<NetworkPolicy>(value).map(drop),
        // Custom resources: the API server checks them against their CRDs (tests/e2e/addons.rs
        // applies every one to a server with the real CRDs installed).
        "ServiceMonitor" | "PrometheusRule" | "ClusterIssuer" | "Certificate" => {
            assert!(document["spec"].is_object(), "{kind} has no spec");
            Ok(())
        }
        other => panic!("the test does not know kind {other}; add it here"),
    };
    result.unwrap_or_else(|err| panic!("{kind} does not deserialize: {err}"));
}

#[test]
fn every_rendered_document_deserializes_into_its_kubernetes_type() {
    for name in common::example_profiles() {
        let test = Test::new().with_example(&name);
        let output = test
            .run(["render", "--show-secrets", "-p", &format!("{name}.yaml")])
            .expect(0);
        let docs = documents(&output.stdout);
        assert!(docs.len() >= 10, "{name}: only {} objects", docs.len());
        for document in &docs {
            deserialize_typed(document);
        }
    }
}

#[test]
fn the_pi_gets_every_object_the_issue_lists() {
    let test = Test::new().with_example("pi4-mainnet");
    let output = test
        .run(["render", "--show-secrets", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    let docs = documents(&output.stdout);
    let names: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "Namespace/openlsp",
        "PersistentVolume/openlsp-bitcoind",
        "PersistentVolumeClaim/bitcoind-data",
        "PersistentVolume/openlsp-lnd",
        "PersistentVolumeClaim/lnd-data",
        "StatefulSet/bitcoind",
        "Service/bitcoind",
        "ConfigMap/bitcoind-config",
        "Secret/bitcoind-rpcauth",
        "StatefulSet/lnd",
        "Service/lnd",
        "ConfigMap/lnd-config",
        "Secret/lnd-tls",
        "Secret/lnd-wallet",
        "Secret/lnd-bitcoind-rpc",
        "Secret/lnd-rpc",
        "ServiceAccount/lnd-lndinit",
        "Role/lnd-lndinit",
        "RoleBinding/lnd-lndinit",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "missing {expected}; have {names:?}"
        );
    }
    let bitcoind_service = find(&docs, "Service", "bitcoind");
    assert_eq!(bitcoind_service["spec"]["clusterIP"], "None");
    for secret in docs.iter().filter(|d| d["kind"] == "Secret") {
        assert!(secret.get("stringData").is_none());
        let name = secret["metadata"]["name"].as_str().unwrap();
        if name == "lnd-rpc" || name == "lnd-scb" {
            assert!(
                secret.get("data").is_none(),
                "the pod's lndinit fills {name}; openlsp owns no key"
            );
        } else {
            assert!(secret["data"].is_object(), "{name} has no data");
        }
    }
    let pv = find(&docs, "PersistentVolume", "openlsp-lnd");
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["local"]["path"], "/srv/lightning/lnd");
    assert_eq!(pv["spec"]["storageClassName"], "openlsp-local");
    assert_eq!(
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
            [0],
        "pi4"
    );
    assert_eq!(
        find(&docs, "PersistentVolumeClaim", "lnd-data")["spec"]["volumeName"],
        "openlsp-lnd"
    );
}

#[test]
fn pods_are_hardened_probed_labelled_and_fit_the_pi() {
    let test = Test::new().with_example("pi4-mainnet");
    let output = test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0);
    let docs = documents(&output.stdout);
    for name in ["bitcoind", "lnd"] {
        let sts = find(&docs, "StatefulSet", name);
        let pod = &sts["spec"]["template"];
        let labels = &pod["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/instance"], name);
        assert_eq!(labels["app.kubernetes.io/part-of"], "openlsp");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "openlsp");
        assert!(labels["app.kubernetes.io/name"].is_string());
        assert!(labels["app.kubernetes.io/component"].is_string());
        let checksum = pod["metadata"]["annotations"]["openlsp.io/config-checksum"]
            .as_str()
            .unwrap();
        assert_eq!(checksum.len(), 64);
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["spec"]["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let container = &pod["spec"]["containers"][0];
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"][0],
            "ALL"
        );
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert!(
            container["livenessProbe"].is_object(),
            "{name} lacks a liveness probe"
        );
        assert!(
            container["readinessProbe"].is_object(),
            "{name} lacks a readiness probe"
        );
        for port in container["ports"].as_array().unwrap() {
            assert_eq!(port["protocol"], "TCP");
        }
        let limits = &container["resources"]["limits"];
        assert_eq!(
            limits["memory"],
            container["resources"]["requests"]["memory"]
        );
    }
    // Every pod of the site, whole: its containers together, or its largest init container
    // when that is more (init containers run before, one at a time).
    let mib = |container: &Value| -> u64 {
        let limits = &container["resources"]["limits"];
        assert_eq!(
            limits["memory"], container["resources"]["requests"]["memory"],
            "{}: memory request = limit",
            container["name"]
        );
        let quantity = limits["memory"].as_str().unwrap();
        match quantity.split_at(quantity.len() - 2) {
            (n, "Mi") => n.parse().unwrap(),
            (n, "Gi") => n.parse::<u64>().unwrap() * 1024,
            _ => panic!("unexpected memory {quantity}"),
        }
    };
    let mut memory_mib = 0;
    let mut pods = Vec::new();
    for workload in docs
        .iter()
        .filter(|d| ["Deployment", "StatefulSet"].contains(&d["kind"].as_str().unwrap()))
    {
        let spec = &workload["spec"]["template"]["spec"];
        let containers: u64 = spec["containers"].as_array().unwrap().iter().map(mib).sum();
        let init = spec["initContainers"]
            .as_array()
            .map_or(0, |inits| inits.iter().map(mib).max().unwrap_or(0));
        let replicas = workload["spec"]["replicas"].as_u64().unwrap_or(1);
        memory_mib += containers.max(init) * replicas;
        pods.push(workload["metadata"]["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(pods, ["tor", "bitcoind", "lnd"]);
    // bitcoind 2Gi; LND 1Gi plus its sidecars (more than the 640Mi wallet step): publish and
    // scb-publish 64Mi each, the backup container 96Mi (one target); Tor 256Mi.
    assert_eq!(memory_mib, 2048 + 1024 + 64 + 64 + 96 + 256);
    assert!(
        memory_mib <= 6 * 1024,
        "the stack needs {memory_mib} MiB; a Pi has 8 GiB, 2 GiB of it for the OS"
    );
    for service in docs.iter().filter(|d| d["kind"] == "Service") {
        for port in service["spec"]["ports"].as_array().unwrap() {
            assert_eq!(port["protocol"], "TCP");
        }
    }
}

#[test]
fn bitcoin_conf_follows_the_network_and_holds_no_password() {
    let test = Test::new().with_example("pi4-mainnet");
    let output = test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0);
    let docs = documents(&output.stdout);
    let conf = find(&docs, "ConfigMap", "bitcoind-config")["data"]["bitcoin.conf"]
        .as_str()
        .unwrap()
        .to_owned();
    for line in [
        "chain=main",
        "[main]",
        "rpcport=8332",
        "port=8333",
        "txindex=1",
        "dbcache=1024",
        "maxmempool=300",
        "rpcbind=0.0.0.0",
        "rpcallowip=10.0.0.0/8",
        "zmqpubrawblock=tcp://0.0.0.0:28332",
        "zmqpubrawtx=tcp://0.0.0.0:28333",
    ] {
        assert!(
            conf.lines().any(|l| l == line),
            "bitcoin.conf lacks {line:?}:\n{conf}"
        );
    }
    assert!(!conf.contains("rpcpassword"));
    assert!(!conf.contains("rpcuser"));
    common::assert_no_secrets(&conf, &test.state_dir("home-pi"), "bitcoin.conf");
    let lnd_conf = find(&docs, "ConfigMap", "lnd-config")["data"]["lnd.conf"]
        .as_str()
        .unwrap()
        .to_owned();
    for line in [
        "bitcoin.mainnet=true",
        "bitcoin.node=bitcoind",
        "bitcoind.rpchost=bitcoind.openlsp.svc:8332",
        "bitcoind.rpcuser=lnd",
        "bitcoind.zmqpubrawblock=tcp://bitcoind.openlsp.svc:28332",
        "bitcoind.zmqpubrawtx=tcp://bitcoind.openlsp.svc:28333",
        "alias=my-node",
        "color=#3399ff",
        "listen=0.0.0.0:9735",
        "rpclisten=0.0.0.0:10009",
        "restlisten=0.0.0.0:8080",
        "tlsextradomain=lnd.openlsp.svc",
        "tlsextradomain=lnd.openlsp.svc.cluster.local",
        "wallet-unlock-password-file=/etc/lnd/wallet/password",
    ] {
        assert!(
            lnd_conf.lines().any(|l| l == line),
            "lnd.conf lacks {line:?}:\n{lnd_conf}"
        );
    }
    assert!(!lnd_conf.contains("rpcpass="));
    common::assert_no_secrets(&lnd_conf, &test.state_dir("home-pi"), "lnd.conf");
}

#[test]
fn ports_follow_the_network() {
    let test = Test::new().with_example("regtest-playground");
    let output = test
        .run(["render", "-p", "regtest-playground.yaml"])
        .expect(0);
    let docs = documents(&output.stdout);
    let conf = find(&docs, "ConfigMap", "bitcoind-config")["data"]["bitcoin.conf"]
        .as_str()
        .unwrap()
        .to_owned();
    for line in [
        "chain=regtest",
        "[regtest]",
        "rpcport=18443",
        "port=18444",
        "prune=550",
    ] {
        assert!(conf.lines().any(|l| l == line), "lacks {line:?}:\n{conf}");
    }
    assert!(!conf.contains("txindex"));
    for (network, section, rpc, p2p) in [
        ("testnet", "test", 18332, 18333),
        ("testnet4", "testnet4", 48332, 48333),
        ("signet", "signet", 38332, 38333),
    ] {
        let test = Test::new();
        let profile =
            fs::read_to_string(common::repo_root().join("profiles/regtest-playground.yaml"))
                .unwrap()
                .replace("network: regtest", &format!("network: {network}"));
        test.write("openlsp.yaml", &profile);
        let docs = documents(&test.run(["render"]).expect(0).stdout);
        let conf = find(&docs, "ConfigMap", "bitcoind-config")["data"]["bitcoin.conf"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            conf.contains(&format!("[{section}]\nport={p2p}\nrpcport={rpc}\n")),
            "{network}:\n{conf}"
        );
        let lnd = find(&docs, "ConfigMap", "lnd-config")["data"]["lnd.conf"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(lnd.contains(&format!("bitcoin.{network}=true")));
        assert!(lnd.contains(&format!("bitcoind.rpchost=bitcoind.playground.svc:{rpc}")));
    }
}

fn modes_under(dir: &Path) -> Vec<(String, u32)> {
    let mut found = vec![(
        dir.display().to_string(),
        fs::metadata(dir).unwrap().permissions().mode() & 0o777,
    )];
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(modes_under(&path));
        } else {
            found.push((
                path.display().to_string(),
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            ));
        }
    }
    found
}

#[test]
fn rendering_twice_gives_identical_bytes_and_a_private_state_dir() {
    let test = Test::new().with_example("pi4-mainnet");
    let first = test
        .run(["render", "--show-secrets", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    let second = test
        .run(["render", "--show-secrets", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    // First the 7 values generated (RPC password and salt, TLS certificate and key, wallet
    // password, and the two onion keys), then none.
    assert_output_snapshot!(
        "render_twice",
        common::transcript(&[("first", &first.stderr), ("second", &second.stderr)]),
        &test
    );
    assert!(!second.stderr.contains("generated"));
    assert_eq!(first.stdout, second.stdout);
    let state = test.state_dir("home-pi");
    let modes = modes_under(&state);
    assert!(modes.len() > 8);
    for (path, mode) in modes {
        let want = if Path::new(&path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(mode, want, "{path} has mode {mode:o}");
    }
}

#[test]
fn an_explicit_state_dir_is_used_and_created_private() {
    let test = Test::new().with_example("regtest-playground");
    let dir = test.path().join("my-state");
    test.run([
        "render",
        "-p",
        "regtest-playground.yaml",
        "--state-dir",
        dir.to_str().unwrap(),
    ])
    .expect(0);
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(dir.join("lightning/lnd/tls.key").exists());
    assert!(!test.state_dir("playground").exists());
}

#[test]
fn output_dir_gets_one_file_per_object_and_loses_stale_ones() {
    let test = Test::new().with_example("lsp-two-nodes");
    let stream = test.run(["render", "-p", "lsp-two-nodes.yaml"]).expect(0);
    let count = documents(&stream.stdout).len();
    test.run(["render", "-p", "lsp-two-nodes.yaml", "-o", "out"])
        .expect(0);
    let yaml_files = |dir: &Path| {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        names.sort();
        names
    };
    let files = yaml_files(&test.path().join("out"));
    assert_eq!(files.len(), count);
    assert!(
        files.contains(&"07-statefulset-lnd-customers.yaml".to_owned()),
        "{files:?}"
    );
    assert!(files[0].starts_with("01-namespace-"));
    let one_node = fs::read_to_string(test.path().join("lsp-two-nodes.yaml"))
        .unwrap()
        .split("    - name: lnd-customers")
        .next()
        .unwrap()
        .to_owned();
    test.write("lsp-two-nodes.yaml", &one_node);
    test.run(["render", "-p", "lsp-two-nodes.yaml", "-o", "out"])
        .expect(0);
    let files = yaml_files(&test.path().join("out"));
    assert!(
        !files.iter().any(|f| f.contains("lnd-customers")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.contains("lnd-routing")));
}

#[test]
fn output_dir_refuses_a_directory_it_did_not_write() {
    let test = Test::new().with_example("pi4-mainnet");
    test.write("out/notes.txt", "mine");
    let output = test
        .run(["render", "-p", "pi4-mainnet.yaml", "-o", "out"])
        .expect(2);
    assert_output_snapshot!("output_dir_not_ours", output.stderr, &test);
    assert_eq!(
        fs::read_to_string(test.path().join("out/notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_changed_alias_rolls_lnd_but_not_bitcoind() {
    let test = Test::new().with_example("pi4-mainnet");
    let checksums = |test: &Test| {
        let docs = documents(
            &test
                .run(["render", "-p", "pi4-mainnet.yaml"])
                .expect(0)
                .stdout,
        );
        ["bitcoind", "lnd"].map(|name| {
            find(&docs, "StatefulSet", name)["spec"]["template"]["metadata"]["annotations"]
                ["openlsp.io/config-checksum"]
                .as_str()
                .unwrap()
                .to_owned()
        })
    };
    let before = checksums(&test);
    let profile = fs::read_to_string(test.path().join("pi4-mainnet.yaml")).unwrap();
    test.write(
        "pi4-mainnet.yaml",
        &profile.replace("alias: my-node", "alias: renamed"),
    );
    let after = checksums(&test);
    assert_eq!(before[0], after[0], "bitcoind rolled for an LND change");
    assert_ne!(
        before[1], after[1],
        "lnd did not roll for its own config change"
    );
}

#[test]
fn template_overrides_replace_files_and_template_errors_name_the_line() {
    let test = Test::new().with_example("pi4-mainnet");
    let builtin =
        fs::read_to_string(common::repo_root().join("templates/lnd/service.yaml.j2")).unwrap();
    test.write(
        "tpl/lnd/service.yaml.j2",
        &builtin.replace("type: ClusterIP", "type: NodePort"),
    );
    let output = test
        .run(["render", "-p", "pi4-mainnet.yaml", "--templates", "tpl"])
        .expect(0);
    assert_eq!(
        find(&documents(&output.stdout), "Service", "lnd")["spec"]["type"],
        "NodePort"
    );

    // Each broken override exits 2 and names the template, the line and what is wrong, with
    // nothing on stdout.
    let mut errors = Vec::new();
    for (what, file, text) in [
        (
            "an undefined variable",
            "lnd/service.yaml.j2",
            builtin.replace("node.names.service", "node.names.srvice"),
        ),
        (
            "an unknown field",
            "lnd/service.yaml.j2",
            builtin.replace("selector:", "selektor:"),
        ),
        (
            "a key written twice",
            "lnd/service.yaml.j2",
            builtin.replace("protocol: TCP }", "protocol: TCP, port: 1 }"),
        ),
        (
            "YAML that does not parse",
            "lnd/service.yaml.j2",
            builtin.replace("protocol: TCP }", "protocol: TCP"),
        ),
        (
            "an invalid Secret, its values masked in the excerpt",
            "lnd/secrets.yaml.j2",
            fs::read_to_string(common::repo_root().join("templates/lnd/secrets.yaml.j2"))
                .unwrap()
                .replacen("labels: {{ node.labels }}", "labels: 7", 1),
        ),
        (
            "a directory that is not a service",
            "grafana/thing.yaml.j2",
            "kind: ConfigMap\n".to_owned(),
        ),
    ] {
        test.write(&format!("tpl/{file}"), &text);
        let output = test
            .run(["render", "-p", "pi4-mainnet.yaml", "--templates", "tpl"])
            .expect(2);
        assert!(output.stdout.is_empty(), "{what}: {}", output.stdout);
        common::assert_no_secrets(&output.stderr, &test.state_dir("home-pi"), what);
        errors.push((what, output.stderr));
    }
    let errors: Vec<(&str, &str)> = errors.iter().map(|(w, e)| (*w, e.as_str())).collect();
    assert_output_snapshot!("template_errors", common::transcript(&errors), &test);
}

#[test]
fn validate_shows_the_effective_profile() {
    let test = Test::new().with_example("pi4-mainnet");
    let output = test
        .run(["validate", "-p", "pi4-mainnet.yaml", "--show-effective"])
        .expect(0);
    let effective: Value = serde_yaml::from_str(&output.stdout).unwrap();
    assert_eq!(effective["spec"]["host"]["reservedMemory"], "2Gi");
    assert_eq!(effective["spec"]["bitcoin"][0]["dbcache"], 1024);
    assert_eq!(effective["spec"]["bitcoin"][0]["maxmempool"], 300);
    assert_eq!(
        effective["spec"]["bitcoin"][0]["resources"]["memory"],
        "2Gi"
    );
    assert_eq!(effective["spec"]["disks"]["lightning"]["nodeName"], "pi4");
    assert!(
        effective["spec"]["lightning"][0]["image"]
            .as_str()
            .unwrap()
            .starts_with("lightninglabs/lnd:")
    );
    // Every default filled in.
    assert_output_snapshot!(
        "show_effective_pi4-mainnet",
        common::transcript(&[("stdout", &output.stdout), ("stderr", &output.stderr)]),
        &test
    );
    assert!(
        !test.path().join("state").exists(),
        "validate must not touch the state dir"
    );
}

/// A 4 GiB Pi gets caches sized for it, so the example stack (bitcoind, LND, Tor, the channel
/// backup) fits beside the OS; an operator's own values still win.
#[test]
fn a_4_gib_pi_gets_caches_that_fit_it() {
    let test = Test::new().with_example("pi4-mainnet");
    let original = fs::read_to_string(test.path().join("pi4-mainnet.yaml")).unwrap();
    let small = original.replace("memory: 8Gi", "memory: 4Gi");
    assert_ne!(small, original);
    test.write("small.yaml", &small);
    let effective = test
        .run(["validate", "--show-effective", "-p", "small.yaml"])
        .expect(0);
    assert_output_snapshot!("show_effective_4_gib", effective.stdout, &test);
    let site: Value = serde_yaml::from_str(&effective.stdout).unwrap();
    let bitcoind = &site["spec"]["bitcoin"][0];
    // 384 MiB less the backup's 160 MiB, at least the 256 MiB minimum.
    assert_eq!(bitcoind["dbcache"], 256, "{}", effective.stdout);
    assert_eq!(bitcoind["maxmempool"], 128);
    assert_eq!(bitcoind["resources"]["memory"], "1Gi");
    let output = test.run(["render", "-p", "small.yaml"]).expect(0);
    let conf =
        find(&documents(&output.stdout), "ConfigMap", "bitcoind-config")["data"]["bitcoin.conf"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(conf.contains("\ndbcache=256\n"), "{conf}");
    assert!(conf.contains("\nmaxmempool=128\n"), "{conf}");

    // The 8 GiB Pi keeps bitcoind's default mempool.
    let effective = test
        .run(["validate", "--show-effective", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    let site: Value = serde_yaml::from_str(&effective.stdout).unwrap();
    assert_eq!(site["spec"]["bitcoin"][0]["dbcache"], 1024);
    assert_eq!(site["spec"]["bitcoin"][0]["maxmempool"], 300);

    let chosen = small.replace(
        "      txindex: true",
        "      txindex: true\n      maxmempool: 300",
    );
    test.write("chosen.yaml", &chosen);
    let crowded = test.run(["validate", "-p", "chosen.yaml"]).expect(2);
    assert_output_snapshot!("crowded_4_gib", crowded.stderr, &test);
}

/// A disk's `nodeName` puts its node on another machine: the PV is pinned there, and memory is
/// counted per machine, so nodes that do not fit one machine together fit two.
#[test]
fn a_disk_on_another_machine_pins_its_volume_and_counts_memory_there() {
    let test = Test::new().with_example("pi4-mainnet");
    let original = fs::read_to_string(test.path().join("pi4-mainnet.yaml")).unwrap();
    let big_cache = original.replace(
        "      txindex: true",
        "      txindex: true\n      dbcache: 4200",
    );
    test.write("one-machine.yaml", &big_cache);
    let crowded = test.run(["validate", "-p", "one-machine.yaml"]).expect(2);
    assert_output_snapshot!("crowded_one_machine", crowded.stderr, &test);

    let two_machines = big_cache.replace(
        "lightning: { path: /srv/lightning, size: 20Gi }",
        "lightning: { path: /srv/lightning, size: 20Gi, nodeName: pi5 }",
    );
    assert_ne!(two_machines, big_cache);
    test.write("two-machines.yaml", &two_machines);
    test.run(["validate", "-p", "two-machines.yaml"]).expect(0);
    let output = test.run(["render", "-p", "two-machines.yaml"]).expect(0);
    let docs = documents(&output.stdout);
    let machine_of = |pv: &str| {
        find(&docs, "PersistentVolume", pv)["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["values"]
            .clone()
    };
    assert_eq!(machine_of("openlsp-lnd"), serde_json::json!(["pi5"]));
    assert_eq!(machine_of("openlsp-bitcoind"), serde_json::json!(["pi4"]));
}

/// A quantity such as `640Mi` or `1Gi`, in bytes.
fn quantity_bytes(quantity: &str) -> u64 {
    let (number, unit) = quantity.split_at(quantity.find(|c: char| c.is_alphabetic()).unwrap());
    let scale = match unit {
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("unexpected unit {other} in {quantity}"),
    };
    number.parse::<u64>().unwrap() * scale
}

/// lndinit's `wallet` step creates (or opens) a btcwallet wallet, whose scrypt (N=2^18, r=8,
/// p=1) takes a 128*N*r byte buffer per key, two keys back to back when creating. With the
/// other lndinit steps' 64 MiB it would be OOM-killed and LND would never start.
#[test]
fn the_wallet_init_container_has_the_memory_scrypt_needs() {
    let test = Test::new().with_example("pi4-mainnet");
    let output = test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0);
    let docs = documents(&output.stdout);
    let pod = &find(&docs, "StatefulSet", "lnd")["spec"]["template"]["spec"];
    let scrypt_buffer: u64 = 128 * (1 << 18) * 8;
    let memory_of = |container: &Value| {
        let resources = &container["resources"];
        assert_eq!(
            resources["limits"]["memory"],
            resources["requests"]["memory"]
        );
        quantity_bytes(resources["limits"]["memory"].as_str().unwrap())
    };
    let wallet = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wallet")
        .expect("file mode has a wallet init container");
    let wallet_memory = memory_of(wallet);
    assert!(
        wallet_memory >= 2 * scrypt_buffer,
        "the wallet step has {wallet_memory} bytes; creating a wallet takes two scrypt buffers of {scrypt_buffer}"
    );
    let go_limit = wallet["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "GOMEMLIMIT")
        .expect("the wallet step sets GOMEMLIMIT")["value"]
        .as_str()
        .unwrap();
    let go_limit = go_limit
        .strip_suffix("MiB")
        .unwrap()
        .parse::<u64>()
        .unwrap()
        << 20;
    assert!(go_limit >= 2 * scrypt_buffer && go_limit < wallet_memory);
    let seed = &pod["initContainers"][0];
    assert_eq!(seed["name"], "seed");
    assert!(
        memory_of(seed) < wallet_memory,
        "only the wallet step needs more"
    );
}

/// Init containers run before LND, one at a time, so an LND pod needs the larger of its wallet
/// step and LND plus its sidecar: a small LND does not make the pod smaller than the wallet step.
#[test]
fn the_memory_check_counts_the_wallet_step_of_a_small_lnd() {
    let test = Test::new().with_example("regtest-playground");
    let original = fs::read_to_string(test.path().join("regtest-playground.yaml")).unwrap();
    let needed = |lnd_memory: &str| {
        let profile = original.replace("memory: 4Gi", "memory: 2Gi").replace(
            "resources: { memory: 512Mi }",
            &format!("resources: {{ memory: {lnd_memory} }}"),
        );
        test.write("small.yaml", &profile);
        let output = test.run(["validate", "-p", "small.yaml"]).expect(2);
        let message = output
            .stderr
            .lines()
            .find(|l| l.contains("of memory together"))
            .unwrap_or_else(|| panic!("{}", output.stderr))
            .to_owned();
        message
            .split(" need ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    // 128Mi + the two 64Mi sidecars is less than the wallet step; 512Mi + 128Mi equals it.
    assert_eq!(needed("128Mi"), needed("512Mi"));
    assert_ne!(needed("512Mi"), needed("1Gi"));
}

/// A process's arguments are in /proc/<pid>/cmdline and `ps` for every local user of the node,
/// so no container of any example profile gets a secret there: not literally, and not through
/// a `$(VAR)` that Kubernetes expands from a Secret. LND reads its RPC password from a composed
/// lnd.conf in memory, and its pod has no environment from a Secret at all.
#[test]
fn no_process_argument_carries_a_secret() {
    for profile in common::example_profiles() {
        let test = Test::new().with_example(&profile);
        let output = test
            .run(["render", "--show-secrets", "-p", &format!("{profile}.yaml")])
            .expect(0);
        let docs = documents(&output.stdout);
        let state_dir = test.path().join("state/openlsp");
        let mut checked = 0;
        for doc in &docs {
            let Some(pod) = doc.pointer("/spec/template/spec") else {
                continue;
            };
            let containers = ["initContainers", "containers"]
                .iter()
                .flat_map(|field| pod[field].as_array().cloned().unwrap_or_default());
            for container in containers {
                let what = format!(
                    "{profile}: {}/{} container {}",
                    doc["kind"].as_str().unwrap(),
                    doc["metadata"]["name"].as_str().unwrap(),
                    container["name"]
                );
                let from_secrets: Vec<String> = container["env"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter(|e| e.pointer("/valueFrom/secretKeyRef").is_some())
                    .map(|e| format!("$({})", e["name"].as_str().unwrap()))
                    .collect();
                let arguments = format!("{} {}", container["command"], container["args"]);
                for reference in &from_secrets {
                    assert!(
                        !arguments.contains(reference),
                        "{what} expands the Secret value {reference} into its arguments"
                    );
                }
                let literal_env: String = container["env"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|e| e["value"].to_string())
                    .collect();
                common::assert_no_secrets(&arguments, &state_dir, &format!("{what}'s arguments"));
                common::assert_no_secrets(&literal_env, &state_dir, &format!("{what}'s env"));
                if doc["metadata"]["name"].as_str().unwrap().starts_with("lnd")
                    && doc["kind"] == "StatefulSet"
                {
                    assert!(
                        from_secrets.is_empty(),
                        "{what} takes {from_secrets:?} from a Secret"
                    );
                    if container["name"] == "lnd" {
                        assert!(!arguments.contains("rpcpass"), "{what}: {arguments}");
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 5, "{profile}: only {checked} containers checked");
    }
}

/// The `config` init container composes LND's lnd.conf: run its script as written (only the
/// mount paths moved into a temp dir) and check the file LND reads.
/// lnd.conf writes each section once: the onion, inbound and metrics settings sit in its one
/// `[Application Options]`, where sample-lnd.conf lists them.
#[test]
fn lnd_conf_has_each_section_once() {
    let mut checked = 0;
    for name in common::example_profiles() {
        let test = Test::new().with_example(&name);
        let output = test
            .run(["render", "-p", &format!("{name}.yaml")])
            .expect(0);
        for doc in documents(&output.stdout) {
            let Some(conf) = doc["data"]["lnd.conf"].as_str() else {
                continue;
            };
            let mut sections: Vec<&str> = Vec::new();
            for line in conf.lines() {
                if line.starts_with('[') {
                    assert!(!sections.contains(&line), "{name}: {line} twice:\n{conf}");
                    sections.push(line);
                } else if ["externalip=", "tlsextradomain=", "prometheus."]
                    .iter()
                    .any(|key| line.starts_with(key))
                {
                    assert_eq!(
                        sections.last(),
                        Some(&"[Application Options]"),
                        "{name}: {line}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} lnd.conf files rendered");
}

#[test]
fn lnd_reads_its_rpc_password_from_a_private_composed_config() {
    let test = Test::new().with_example("pi4-mainnet");
    let output = test
        .run(["render", "--show-secrets", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    let docs = documents(&output.stdout);
    let composed = crate::bitcoind::compose_lnd_conf(test.path(), &docs, "lnd");
    let text = fs::read_to_string(&composed).unwrap();
    let mode = fs::metadata(&composed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the composed lnd.conf must be private");
    let password = common::secret_value(&docs, "lnd-bitcoind-rpc", "password");
    let passes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("bitcoind.rpcpass="))
        .collect();
    assert_eq!(
        passes,
        [password.as_str()],
        "exactly one rpcpass, the Secret's"
    );
    let section_before = text
        .lines()
        .take_while(|l| !l.starts_with("bitcoind.rpcpass="))
        .filter(|l| l.starts_with('['))
        .last();
    assert_eq!(section_before, Some("[Bitcoind]"));
    let configmap = find(&docs, "ConfigMap", "lnd-config")["data"]["lnd.conf"]
        .as_str()
        .unwrap();
    assert!(
        text.starts_with(configmap),
        "the ConfigMap's lnd.conf comes first, unchanged"
    );
    let sts = find(&docs, "StatefulSet", "lnd");
    let pod = &sts["spec"]["template"]["spec"];
    let lnd = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "lnd")
        .unwrap();
    assert!(
        lnd["args"]
            .as_array()
            .unwrap()
            .contains(&"--configfile=/run/lnd/lnd.conf".into())
    );
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "lnd-conf")
        .unwrap();
    assert_eq!(volume["emptyDir"]["medium"], "Memory");
}

/// Every pod openlsp renders is hardened, probed, labelled and limited, and the full stack
/// still fits the 8 GiB Pi.
#[test]
fn every_pod_of_the_full_stack_is_hardened_and_fits_the_pi() {
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let mut memory_mib = 0;
    let mut workloads = 0;
    for workload in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
    {
        workloads += 1;
        let name = workload["metadata"]["name"].as_str().unwrap();
        let pod = &workload["spec"]["template"];
        assert_eq!(
            pod["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "openlsp"
        );
        assert!(pod["metadata"]["labels"]["app.kubernetes.io/component"].is_string());
        assert_eq!(
            pod["metadata"]["annotations"]["openlsp.io/config-checksum"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        let spec = &pod["spec"];
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(spec["automountServiceAccountToken"], false, "{name}");
        let containers = spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(spec["initContainers"].as_array().into_iter().flatten());
        for container in containers {
            let security = &container["securityContext"];
            assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(security["capabilities"]["drop"][0], "ALL", "{name}");
            let resources = &container["resources"];
            assert_eq!(
                resources["limits"]["memory"],
                resources["requests"]["memory"]
            );
        }
        let main = &spec["containers"][0];
        assert!(
            main["livenessProbe"].is_object(),
            "{name} lacks a liveness probe"
        );
        assert!(
            main["readinessProbe"].is_object(),
            "{name} lacks a readiness probe"
        );
        // Every container runs for the pod's life (the init containers run before them).
        for container in spec["containers"].as_array().unwrap() {
            let memory = container["resources"]["limits"]["memory"].as_str().unwrap();
            memory_mib += match memory.strip_suffix("Gi") {
                Some(gib) => gib.parse::<u64>().unwrap() * 1024,
                None => memory.strip_suffix("Mi").unwrap().parse::<u64>().unwrap(),
            };
        }
    }
    assert_eq!(
        workloads, 6,
        "bitcoind, LND, Tor, the exporter, lndmon and ThunderHub"
    );
    assert!(
        memory_mib <= 6 * 1024,
        "the full stack needs {memory_mib} MiB; a Pi has 6 GiB for pods"
    );
}

/// With every section off, the stack adds nothing beyond the namespace's audit labels.
#[test]
fn every_section_off_renders_only_the_nodes() {
    let test = Test::new().with_example("regtest-playground");
    let (docs, stderr) = render(&test, "regtest-playground.yaml");
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for absent in [
        "Deployment",
        "Ingress",
        "ClusterIssuer",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(!kinds.contains(&absent), "{absent} rendered: {kinds:?}");
    }
    // The namespace's default deny and the nodes' own policies, no Tor's.
    let policies: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "NetworkPolicy")
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(policies, ["bitcoind", "default-deny", "lnd"]);
    assert!(!stderr.contains("warning: spec."), "{stderr}");
    assert!(!config(&docs, "lnd-config", "lnd.conf").contains("[tor]"));
    assert!(!config(&docs, "bitcoind-config", "bitcoin.conf").contains("externalip"));
}

/// A `--templates` override that renders `labels:` empty (null in YAML, as kubectl reads it) is
/// an object without labels; one that renders labels as anything but a map of strings stops
/// render with exit 2 naming the template and the field. (e2e::state_safety checks diff and
/// apply, which used to panic on it.)
#[test]
fn a_template_that_renders_empty_labels_has_none_and_wrong_ones_are_named() {
    let test = Test::new().with_example("pi4-mainnet");
    let builtin =
        fs::read_to_string(common::repo_root().join("templates/lnd/service.yaml.j2")).unwrap();
    let render = |labels: &str, code: i32| {
        let broken = builtin.replace("labels: {{ node.labels }}", labels);
        assert_ne!(broken, builtin, "the template has no labels line to change");
        test.write("tpl/lnd/service.yaml.j2", &broken);
        test.run(["render", "-p", "pi4-mainnet.yaml", "--templates", "tpl"])
            .expect(code)
    };
    let output = render("labels:", 0);
    let service = common::find(&common::documents(&output.stdout), "Service", "lnd").clone();
    assert!(service["metadata"].get("labels").is_none(), "{service}");

    let output = render("labels: [lnd]", 2);
    assert!(output.stdout.is_empty(), "{}", output.stdout);
    assert!(
        output
            .stderr
            .starts_with("error: template lnd/service.yaml.j2 rendered an invalid object"),
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
