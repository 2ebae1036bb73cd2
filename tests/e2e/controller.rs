//! The controller as a local process against the real API server (how kube-rs controllers are
//! developed): a Site custom resource is applied as `apply` would apply the profile, kept that
//! way on watch events, rolled out when it changes; leader election, SIGTERM, invalid Sites;
//! and the CRD itself on the server.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::e2e::{self, PATIENCE, Running, Site};
use crate::common::{self};

/// How fast drift must be corrected on the test server.
const DRIFT_LIMIT: Duration = Duration::from_secs(5);

/// `Kind/name` of every object the profile renders, as apply would write them.
fn rendered_ids(site: &Site) -> BTreeSet<String> {
    site.rendered()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// `Kind/name` of what the site's ApplySet holds on the server (the parent left out).
fn live_ids(site: &Site) -> BTreeSet<String> {
    site.resource_versions()
        .into_keys()
        .filter(|id| id != "Secret/openlsp-applyset")
        .collect()
}

/// Polls `check` every 100 ms until it holds; the time it took.
fn time_until(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    common::poll(what, PATIENCE, Duration::from_millis(100), || {
        if check() {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .unwrap_or_else(|err| panic!("{err}"));
    started.elapsed()
}

/// A Site of the regtest example made by a running controller, once it reports no failure.
fn controlled_site(suffix: &str) -> Option<(Site, Running)> {
    let site = Site::new("regtest-playground", suffix)?;
    site.create_site_resource();
    let mut controller = site.spawn_controller(&[]);
    controller.wait_for_stderr("applied:");
    site.wait_site_condition("Degraded", "False");
    Some((site, controller))
}

/// A JSON patch of the Site: `op` on `path` with `value`.
fn patch_site(site: &Site, path: &str, value: &str) {
    let patch = serde_json::json!([{ "op": "replace", "path": path, "value": value }]);
    site.kubectl(&[
        "patch",
        "site",
        &site.name,
        "-n",
        site.namespace(),
        "--type=json",
        "-p",
        &patch.to_string(),
    ])
    .expect(0);
}

fn condition<'s>(site: &'s Value, kind: &str) -> &'s Value {
    site["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

#[test]
fn a_site_resource_is_applied_kept_as_declared_and_rolled_out() {
    let Some((site, controller)) = controlled_site("ctl") else {
        return;
    };
    let reconciled = site.wait_site_condition("Degraded", "False");
    assert_eq!(reconciled["status"]["observedGeneration"], 1);
    assert_eq!(
        condition(&reconciled, "Progressing")["reason"],
        "RollingOut"
    );
    let components = reconciled["status"]["components"].as_array().unwrap();
    assert_eq!(components.len(), 2, "{components:?}");
    // Exactly the objects apply makes from the same profile.
    assert_eq!(live_ids(&site), rendered_ids(&site));
    // kubectl 1.20 prints managedFields without asking (it has no --show-managed-fields).
    let lnd = site.get_json(&["statefulset", "lnd", "-n", site.namespace()]);
    assert!(
        lnd["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "openlsp-controller" && m["operation"] == "Apply"),
        "{}",
        lnd["metadata"]["managedFields"]
    );
    site.settle();

    // A deleted Service comes back on its watch event.
    site.kubectl(&[
        "delete",
        "service",
        "lnd",
        "-n",
        site.namespace(),
        "--wait=false",
    ])
    .expect(0);
    let recreated = time_until("Service lnd to be recreated", || {
        site.kubectl(&["get", "service", "lnd", "-n", site.namespace()])
            .code
            == 0
    });
    // A managed field another manager changed (as kubectl edit does) is taken back.
    let conf = |site: &Site| {
        site.get_json(&["configmap", "lnd-config", "-n", site.namespace()])["data"].clone()
    };
    let declared = conf(&site);
    let key = declared.as_object().unwrap().keys().next().unwrap().clone();
    let patch = serde_json::json!({ "data": { key.clone(): "edited by hand\n" } });
    site.kubectl(&[
        "patch",
        "configmap",
        "lnd-config",
        "-n",
        site.namespace(),
        "--type=merge",
        "-p",
        &patch.to_string(),
    ])
    .expect(0);
    let reverted = time_until("ConfigMap lnd-config to be reverted", || {
        conf(&site) == declared
    });
    eprintln!(
        "drift corrected: deleted Service in {recreated:?}, edited ConfigMap in {reverted:?}"
    );
    assert!(
        recreated < DRIFT_LIMIT,
        "Service recreated after {recreated:?}"
    );
    assert!(
        reverted < DRIFT_LIMIT,
        "ConfigMap reverted after {reverted:?}"
    );

    // A changed Site rolls out: the new config, and the StatefulSet's pods roll with it.
    let generation_before = lnd["metadata"]["generation"].as_i64().unwrap();
    patch_site(&site, "/spec/lightning/0/alias", "rolled-out");
    let rolled = site.wait_site_condition("Degraded", "False");
    assert_eq!(rolled["status"]["observedGeneration"], 2);
    assert!(conf(&site)[&key].as_str().unwrap().contains("rolled-out"));
    let lnd = site.get_json(&["statefulset", "lnd", "-n", site.namespace()]);
    assert!(lnd["metadata"]["generation"].as_i64().unwrap() > generation_before);
    let stopped = site.terminate(controller).expect(0);
    assert!(stopped.stderr.contains("stopped"), "{}", stopped.stderr);

    // A restarted controller finds the site converged and writes nothing.
    let before = site.settle();
    let mut again = site.spawn_controller(&[]);
    again.wait_for_stderr("reconciled: no changes");
    assert_eq!(site.resource_versions(), before);
    let output = site.terminate(again).expect(0);
    assert!(!output.stderr.contains("applied:"), "{}", output.stderr);

    // No secret value in anything the controller said: the cluster's values, pulled into the
    // state dir, are the needles.
    site.openlsp(&["secrets", "pull", "--force"]).expect(0);
    site.assert_nothing_leaked();
}

#[test]
fn an_invalid_site_says_why_with_the_field_path_and_changes_nothing() {
    let Some((site, controller)) = controlled_site("ctl-invalid") else {
        return;
    };
    let before = site.settle();
    patch_site(&site, "/spec/lightning/0/bitcoin", "nope");
    let degraded = site.wait_site_condition("Degraded", "True");
    let reason = condition(&degraded, "Degraded");
    assert_eq!(reason["reason"], "InvalidSpec");
    let message = reason["message"].as_str().unwrap();
    assert!(message.contains("spec.lightning[0].bitcoin"), "{message}");
    assert!(message.contains("nope"), "{message}");
    assert_eq!(condition(&degraded, "Ready")["status"], "False");
    // What it kept running before is untouched.
    assert_eq!(site.resource_versions(), before);
    let events = site.get_json(&[
        "events",
        "-n",
        site.namespace(),
        "--field-selector",
        "reason=InvalidSpec",
    ]);
    assert!(!events["items"].as_array().unwrap().is_empty(), "{events}");
    let output = site.terminate(controller).expect(0);
    assert!(output.stderr.contains("InvalidSpec"), "{}", output.stderr);
}

#[test]
fn of_two_controllers_only_the_leader_writes_and_the_other_takes_over() {
    let Some(site) = Site::new("regtest-playground", "ctl-leader") else {
        return;
    };
    site.create_site_resource();
    let mut first = site.spawn_controller(&[]);
    first.wait_for_stderr("leading");
    let mut second = site.spawn_controller(&[]);
    second.wait_for_stderr("standing by");
    first.wait_for_stderr("applied:");
    site.wait_site_condition("Degraded", "False");
    let lease = site.get_json(&["lease", "openlsp-controller-leader", "-n", site.namespace()]);
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap();
    assert!(holder.contains(&format!("pid {}", first.id())), "{holder}");
    assert!(
        !second.stderr_so_far().contains("Site "),
        "{}",
        second.stderr_so_far()
    );
    // The leader stops; the other one leads from then on, and has nothing to write.
    site.terminate(first).expect(0);
    second.wait_for_stderr("reconciled: no changes");
    let output = site.terminate(second).expect(0);
    assert!(output.stderr.contains("leading"), "{}", output.stderr);
    assert!(!output.stderr.contains("applied:"), "{}", output.stderr);
}

#[test]
fn sigterm_mid_reconcile_stops_at_a_stage_and_the_next_run_converges() {
    let Some(site) = Site::new("regtest-playground", "ctl-term") else {
        return;
    };
    // Two CRDs for one kind: the second is never established, so the reconcile waits after
    // stage 2 until it is stopped.
    let group = format!("{}.openlsp.test", site.name);
    let clashing = format!(
        "{}---\n{}",
        e2e::crd(&group, "things", "Thing"),
        e2e::crd(&group, "widgets", "Thing")
    );
    let templates = e2e::templates(&site, "clash", &clashing);
    site.create_site_resource();
    let mut controller = site.spawn_controller(&["--templates", &templates]);
    controller.wait_for_stderr("to be established");
    let output = site.terminate(controller).expect(0);
    assert!(
        output.stderr.contains("stopped before stage 3 (Rbac)"),
        "{}",
        output.stderr
    );
    // What it wrote before stopping is reported; nothing of stage 3 or later was written.
    assert!(
        output
            .stderr
            .contains("applied: 2 created, 1 changed, 0 pruned"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("generated"), "{}", output.stderr);
    let interrupted = site.site_resource();
    assert_eq!(
        condition(&interrupted, "Progressing")["reason"],
        "Interrupted"
    );
    assert!(
        site.kubectl(&["get", "configmap", "lnd-config", "-n", site.namespace()])
            .code
            != 0,
        "stage 4 was not reached"
    );
    // The next run (without the clash) writes the rest; the CRDs stay (never pruned).
    let mut again = site.spawn_controller(&[]);
    again.wait_for_stderr("applied:");
    site.wait_site_condition("Degraded", "False");
    assert_eq!(live_ids(&site), rendered_ids(&site));
    site.terminate(again).expect(0);
    for plural in ["things", "widgets"] {
        site.kubectl(&[
            "delete",
            "crd",
            &format!("{plural}.{group}"),
            "--wait=false",
        ]);
    }
}

#[test]
fn the_site_crd_is_served_explained_and_enforced_by_the_server() {
    let Some(site) = Site::new("regtest-playground", "ctl-crd") else {
        return;
    };
    e2e::site_crd(&site.kubeconfig);
    let explained = site.kubectl(&["explain", "site.spec.lightning"]).expect(0);
    assert!(explained.stdout.contains("alias"), "{}", explained.stdout);
    e2e::ensure_namespace(&site.kubeconfig, site.namespace());
    site.edit(|mut value| {
        value["spec"]["host"]["cpus"] = Value::String("many".into());
        value
    });
    let path = site.site_resource_file();
    let refused = site.kubectl(&[
        "apply",
        "-n",
        site.namespace(),
        "-f",
        path.to_str().unwrap(),
    ]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("spec.host.cpus"),
        "{}",
        refused.stderr
    );
}

#[test]
fn apply_refuses_a_namespace_the_controller_manages() {
    let Some(site) = Site::new("regtest-playground", "ctl-onewriter") else {
        return;
    };
    site.create_site_resource();
    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("the openlsp controller manages namespace"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("kubectl edit site"),
        "{}",
        refused.stderr
    );
    let parent = site.kubectl(&["get", "secret", "openlsp-applyset", "-n", site.namespace()]);
    assert_ne!(parent.code, 0, "apply wrote the ApplySet parent");
}

#[test]
fn install_applies_a_controller_whose_rbac_is_enough_to_reconcile_a_site() {
    let Some(site) = Site::new("regtest-playground", "ctl-rbac") else {
        return;
    };
    let system = format!("{}-system", site.name);
    let kubeconfig = site.kubeconfig.to_str().unwrap();
    let install = |extra: &[&str]| {
        let mut args = vec![
            "controller",
            "install",
            "--namespace",
            &system,
            "--image",
            "registry.example/openlsp:test",
            "--no-wait",
            "--kubeconfig",
            kubeconfig,
        ];
        args.extend_from_slice(extra);
        site.test.run(args)
    };
    let installed = install(&["--yes"]).expect(0);
    assert!(
        installed.stderr.contains("installed into namespace"),
        "{}",
        installed.stderr
    );
    let deployment = site.get_json(&["deployment", "openlsp-controller", "-n", &system]);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        "registry.example/openlsp:test"
    );
    assert_eq!(pod["serviceAccountName"], "openlsp-controller");
    // The API server took its NetworkPolicy: no ingress, egress to the API server and DNS.
    let policy = site.get_json(&["networkpolicy", "openlsp-controller", "-n", &system]);
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert!(policy["spec"].get("ingress").is_none(), "{policy}");
    assert_eq!(policy["spec"]["egress"].as_array().unwrap().len(), 2);
    // Installed as asked: a second run has nothing to do.
    let again = install(&[]).expect(0);
    assert!(again.stderr.contains("no changes"), "{}", again.stderr);

    // The controller with nothing but the ServiceAccount's grants reconciles a Site.
    // A token through the TokenRequest API (the tests' kubectl v1.20.2 has no `create token`).
    let request = site.test.write(
        "token-request.json",
        r#"{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}"#,
    );
    let issued = site
        .kubectl(&[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/{system}/serviceaccounts/openlsp-controller/token"),
            "-f",
            request.to_str().unwrap(),
        ])
        .expect(0);
    let issued: Value = serde_json::from_str(&issued.stdout).unwrap();
    let token = issued["status"]["token"].as_str().unwrap().to_owned();
    let mut config: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&site.kubeconfig).unwrap()).unwrap();
    for user in config["users"].as_array_mut().unwrap() {
        user["user"] = serde_json::json!({ "token": token });
    }
    let scoped = site.test.write(
        "controller.kubeconfig",
        &serde_yaml::to_string(&config).unwrap(),
    );
    site.create_site_resource();
    let mut controller = site.spawn_controller_as(&scoped, &[]);
    controller.wait_for_stderr("applied:");
    site.wait_site_condition("Degraded", "False");
    assert_eq!(live_ids(&site), rendered_ids(&site));
    let output = site.terminate(controller).expect(0);
    assert!(!output.stderr.contains("forbidden"), "{}", output.stderr);
    for kind in ["clusterrolebinding", "clusterrole"] {
        site.kubectl(&["delete", kind, &format!("openlsp-controller-{system}")]);
    }
}

/// The controller as it is installed: its Deployment's pod on the real node, from the
/// openlsp.test/openlsp:local image (this checkout's binary, docs/testing.md), as uid 65532
/// with a read-only root, in-cluster credentials from its ServiceAccount, reconciling a Site.
#[test]
fn the_installed_controller_runs_as_a_pod_and_reconciles_a_site() {
    let Some(image) = crate::common::required_program(
        "OPENLSP_TEST_IMAGE_OPENLSP",
        "the controller's pod on the real node",
    ) else {
        return;
    };
    let image = image.to_string_lossy().into_owned();
    let Some(site) = Site::new("regtest-playground", "ctl-pod") else {
        return;
    };
    let system = format!("{}-system", site.name);
    let installed = site
        .test
        .run([
            "controller",
            "install",
            "--namespace",
            &system,
            "--image",
            &image,
            "--watch-namespace",
            site.namespace(),
            "--yes",
            "--timeout",
            "180s",
            "--kubeconfig",
            site.kubeconfig.to_str().unwrap(),
        ])
        .expect(0);
    assert!(
        installed.stderr.contains("installed into namespace"),
        "{}",
        installed.stderr
    );
    site.create_site_resource();
    let ready = site.wait_site_condition("Degraded", "False");
    assert_eq!(
        ready["metadata"]["generation"],
        ready["status"]["observedGeneration"]
    );
    assert_eq!(live_ids(&site), rendered_ids(&site));
    let logs = site
        .kubectl(&["logs", "deployment/openlsp-controller", "-n", &system])
        .expect(0);
    assert!(
        logs.stdout.contains("applied:") && !logs.stdout.contains("forbidden"),
        "{}",
        logs.stdout
    );
    site.saw(&logs.stdout);
    // Uninstalled: its namespace (with its pod) and its cluster-wide grants.
    site.kubectl(&["delete", "namespace", &system, "--wait=false"])
        .expect(0);
    for kind in ["clusterrolebinding", "clusterrole"] {
        site.kubectl(&["delete", kind, &format!("openlsp-controller-{system}")]);
    }
    site.assert_nothing_leaked();
}
