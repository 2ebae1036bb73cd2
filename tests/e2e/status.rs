//! `openlsp status` on the real API server, with pod and claim states set through the status
//! subresource as a kubelet and the volume controller would; and `controller adopt`, which
//! hands a site applied from the command line to the controller with its secrets untouched;
//! and the chain's sync state, which status asks the monitoring addon's Prometheus for.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::common::e2e::{self, PATIENCE, Site};
use crate::common::{self};

/// Writes `status`'s fields over the object's status, as a kubelet or the volume controller
/// would: through the status subresource with `kubectl replace --raw` (the tests' kubectl
/// v1.20.2 has no `patch --subresource`), without a resourceVersion, so it always lands.
fn set_status(site: &Site, kind: &str, name: &str, status: Value) {
    let resource = match kind {
        "pod" => "pods",
        "pvc" => "persistentvolumeclaims",
        other => panic!("set_status knows no kind {other}"),
    };
    let mut object = site.get_json(&[kind, name, "-n", site.namespace()]);
    for (field, value) in status.as_object().unwrap() {
        object["status"][field] = value.clone();
    }
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("resourceVersion");
    }
    let file = site
        .test
        .write(&format!("status/{kind}-{name}.json"), &object.to_string());
    let uri = format!(
        "/api/v1/namespaces/{}/{resource}/{name}/status",
        site.namespace()
    );
    site.kubectl(&["replace", "--raw", &uri, "-f", file.to_str().unwrap()])
        .expect(0);
}

#[test]
fn status_says_why_pods_wait_with_the_next_step_and_exits_1_until_healthy() {
    let Some(site) = Site::new("regtest-playground", "status") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.settle();
    // bitcoind's claim deleted (with its pod) and made again by apply: its volume is Released,
    // still naming the old claim, so the new one stays Pending.
    site.kubectl(&[
        "delete",
        "pvc",
        "bitcoind-data",
        "-n",
        site.namespace(),
        "--wait=false",
    ])
    .expect(0);
    site.kubectl(&[
        "delete",
        "pod",
        "bitcoind-0",
        "-n",
        site.namespace(),
        "--force",
        "--grace-period=0",
    ])
    .expect(0);
    site.wait_gone("pvc", "bitcoind-data");
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    common::wait_for("the pods to exist", PATIENCE, || {
        let pods = site.get_json(&["pods", "-n", site.namespace()]);
        match pods["items"].as_array().map(Vec::len) {
            Some(2) => Ok(()),
            other => Err(format!("{other:?} pods")),
        }
    });
    // lnd-0: one container crashes and was killed for memory before, the other cannot pull.
    let lnd_waiting = json!({ "phase": "Running", "conditions": [ { "type": "Ready", "status": "False" } ],
        "containerStatuses": [
            { "name": "lnd", "ready": false, "restartCount": 5, "image": "lnd", "imageID": "",
              "state": { "waiting": { "reason": "CrashLoopBackOff" } },
              "lastState": { "terminated": { "reason": "OOMKilled", "exitCode": 137 } } },
            { "name": "publish", "ready": false, "restartCount": 0, "image": "registry.example/missing:1", "imageID": "",
              "state": { "waiting": { "reason": "ImagePullBackOff" } } } ] });
    // bitcoind-0: its claim is not bound, and no node takes the pod. Where the control plane
    // has a scheduler, it says why in its own words on each retry, over what the test wrote;
    // the volume controller binds claims again on its next pass: set the claim, the pods'
    // states and the scheduler's verdict on each look until status sees them all.
    let unschedulable = "bitcoind-0: no node can run it: ";
    let degraded = common::wait_for("status to see the unbound claim", PATIENCE, || {
        set_status(&site, "pvc", "bitcoind-data", json!({ "phase": "Pending" }));
        set_status(&site, "pod", "lnd-0", lnd_waiting.clone());
        set_status(
            &site,
            "pod",
            "bitcoind-0",
            json!({ "phase": "Pending", "conditions": [ { "type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." } ] }),
        );
        let output = site.openlsp(&["status"]);
        if output.stdout.contains("bitcoind-data is Pending")
            && output.stdout.contains(unschedulable)
            && output.stdout.contains("(OOMKilled)")
        {
            Ok(output)
        } else {
            Err(output.stdout)
        }
    });
    assert_eq!(degraded.code, 1, "{}", degraded.stderr);
    // The scheduler's reason depends on what it tried last (the claim, or the node affinity).
    let shown: String = degraded
        .stdout
        .lines()
        .map(|line| match line.split_once(unschedulable) {
            Some((indent, _)) => format!("{indent}{unschedulable}[the scheduler's reason]\n"),
            None => format!("{line}\n"),
        })
        .collect();
    assert_output_snapshot!("status_degraded", shown, &site);

    // The volume freed as status says, every pod ready: healthy, exit 0.
    let volume = format!("{}-bitcoind", site.name);
    site.kubectl(&[
        "patch",
        "pv",
        &volume,
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/claimRef"}]"#,
    ])
    .expect(0);
    common::wait_for("the claim to bind", PATIENCE, || {
        let claim = site.get_json(&["pvc", "bitcoind-data", "-n", site.namespace()]);
        if claim["status"]["phase"] == "Bound" {
            Ok(())
        } else {
            Err(claim["status"].to_string())
        }
    });
    site.mark_pods_ready_where(|_| true);
    let healthy = site.openlsp(&["status"]).expect(0);
    assert!(
        healthy
            .stdout
            .ends_with("healthy: all 2 components ready\n"),
        "{}",
        healthy.stdout
    );
    site.assert_nothing_leaked();
}

#[test]
fn status_watch_shows_each_change_once_and_stops_cleanly_on_ctrl_c() {
    let Some(site) = Site::new("regtest-playground", "status-watch") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.settle();
    let mut watch = site.spawn(&["status", "--watch"]);
    watch.wait_for_stdout("degraded: 2 of 2 components not ready");
    // bitcoind's pod ready first, then lnd's: each change is shown as it happens.
    site.mark_pods_ready_where(|pod| pod.starts_with("bitcoind"));
    watch.wait_for_stdout("degraded: 1 of 2 components not ready: StatefulSet/lnd");
    site.mark_pods_ready_where(|_| true);
    watch.wait_for_stdout("healthy: all 2 components ready");
    let output = site.interrupt(watch);
    assert_eq!(output.code, 0, "{}", output.stderr);
    // A view is printed again only when something changed: each pod's change is one view.
    for summary in [
        "degraded: 1 of 2 components not ready",
        "healthy: all 2 components ready",
    ] {
        assert_eq!(
            output.stdout.matches(summary).count(),
            1,
            "{summary:?} shown once:\n{}",
            output.stdout
        );
    }
    site.assert_nothing_leaked();
}

/// The monitoring addon's Prometheus, as a pod on the test node (Debian's prometheus, the
/// stand-in image) behind the Service prometheus-operator makes, `prometheus-operated` port
/// `web`. No image of the exporter exists here, so recording rules stand in for its scrape:
/// the series bitcoind's exporter and `headers` container give Prometheus, labelled as the
/// ServiceMonitor labels them (`namespace`, `service`).
fn prometheus_objects(namespace: &str, site_namespace: &str, node: &str, image: &str) -> String {
    let labels = format!("{{ namespace: {site_namespace}, service: bitcoind-exporter }}");
    let rule = |metric: &str, value: &str| {
        format!("{{ record: {metric}, expr: 'vector({value})', labels: {labels} }}")
    };
    let rules = format!(
        "groups: [ {{ name: chain, interval: 1s, rules: [ {}, {}, {} ] }} ]",
        rule("bitcoin_blocks", "500000"),
        rule("bitcoin_headers", "871234"),
        rule("bitcoin_verification_progress", "0.4521")
    );
    let selector = "{ app: prometheus-test }";
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {{ name: prometheus-test, namespace: {namespace} }}
data:
  prometheus.yaml: "global: {{ evaluation_interval: 1s }}\nrule_files: [ /etc/prometheus-test/rules.yaml ]\n"
  rules.yaml: "{rules}"
---
apiVersion: v1
kind: Service
metadata: {{ name: prometheus-operated, namespace: {namespace} }}
spec:
  selector: {selector}
  ports: [ {{ name: web, port: 9090, targetPort: web }} ]
---
apiVersion: v1
kind: Pod
metadata: {{ name: prometheus-test, namespace: {namespace}, labels: {selector} }}
spec:
  nodeName: {node}
  automountServiceAccountToken: false
  securityContext: {{ runAsUser: 65534, runAsGroup: 65534, runAsNonRoot: true }}
  containers:
    - name: prometheus
      image: {image}
      imagePullPolicy: Never
      args: [--config.file=/etc/prometheus-test/prometheus.yaml, --storage.tsdb.path=/prometheus, "--web.listen-address=:9090"]
      ports: [ {{ name: web, containerPort: 9090 }} ]
      readinessProbe: {{ httpGet: {{ path: /-/ready, port: web }}, periodSeconds: 2 }}
      volumeMounts:
        - {{ name: config, mountPath: /etc/prometheus-test }}
        - {{ name: data, mountPath: /prometheus }}
  volumes:
    - {{ name: config, configMap: {{ name: prometheus-test }} }}
    - {{ name: data, emptyDir: {{}} }}
"#
    )
}

#[test]
fn status_shows_the_chain_sync_state_when_prometheus_answers_and_leaves_it_out_otherwise() {
    let Some(image) = common::required_program(
        "OPENLSP_TEST_IMAGE_PROMETHEUS",
        "the stand-in image of Prometheus on the test node",
    ) else {
        return;
    };
    let Some(node) = common::required_program("OPENLSP_TEST_NODE", "the real node that runs pods")
    else {
        return;
    };
    let Some(site) = Site::new("regtest-playground", "sync") else {
        return;
    };
    e2e::addon_crds(&site.kubeconfig).expect("the prometheus-operator CRDs");
    // The addon's namespace, where its dashboards go and its Prometheus runs.
    let observability = format!("{}-mon", site.namespace());
    e2e::ensure_namespace(&site.kubeconfig, &observability);
    site.edit(|mut profile| {
        profile["spec"]["monitoring"] =
            json!({ "enabled": true, "namespace": observability, "lndmon": false });
        profile
    });
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    common::wait_for(
        "bitcoind's, LND's and the exporter's pods",
        PATIENCE,
        || {
            let pods = site.get_json(&["pods", "-n", site.namespace()]);
            match pods["items"].as_array().map(Vec::len) {
                Some(3) => Ok(()),
                other => Err(format!("{other:?} pods")),
            }
        },
    );
    // Every pod ready (again on each look: the scheduler writes its verdict over them), then
    // `status`, until it exits 0 saying `wanted`.
    let status = |wanted: &str| {
        common::wait_for(wanted, PATIENCE, || {
            site.mark_pods_ready_where(|_| true);
            let output = site.openlsp(&["status"]);
            if output.code == 0 && output.stdout.contains(wanted) {
                Ok(output)
            } else {
                Err(output.stdout)
            }
        })
    };

    // The Service with no Prometheus behind it yet: status leaves the chain out.
    let objects = common::documents(&prometheus_objects(
        &observability,
        site.namespace(),
        &node.to_string_lossy(),
        &image.to_string_lossy(),
    ));
    let yaml = |documents: &[serde_json::Value]| {
        documents
            .iter()
            .map(|d| serde_yaml::to_string(d).unwrap())
            .collect::<Vec<_>>()
            .join("---\n")
    };
    e2e::kubectl_apply(&site, "prometheus/service.yaml", &yaml(&objects[..2]));
    let unanswered = status("healthy: all 3 components ready");
    assert!(
        !unanswered.stdout.contains("chain (Prometheus)"),
        "{}",
        unanswered.stdout
    );

    // Prometheus runs: the chain's line, and syncing is progress, not a fault (exit 0).
    e2e::kubectl_apply(&site, "prometheus/pod.yaml", &yaml(&objects[2..]));
    let syncing = status(
        "chain (Prometheus):\n  bitcoind: syncing, block 500000 of 871234 (371234 to go) (45.21% verified)\n",
    );
    assert_output_snapshot!("status_chain_syncing", syncing.stdout, &site);
    site.kubectl(&["delete", "namespace", &observability, "--wait=false"])
        .expect(0);
    site.assert_nothing_leaked();
}

/// Every Secret's data in the namespace, byte for byte.
fn secret_data(site: &Site) -> BTreeMap<String, Value> {
    site.get_json(&["secrets", "-n", site.namespace()])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metadata"]["name"].as_str().unwrap().to_owned(),
                s["data"].clone(),
            )
        })
        .filter(|(name, _)| name != "openlsp-applyset")
        .collect()
}

#[test]
fn adopt_hands_a_cli_site_to_the_controller_with_every_secret_kept() {
    let Some(site) = Site::new("regtest-playground", "adopt") else {
        return;
    };
    crate::common::e2e::site_crd(&site.kubeconfig);
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = secret_data(&site);
    assert!(before.len() >= 5, "{before:?}");
    let adopted = site.openlsp(&["controller", "adopt"]).expect(0);
    assert!(
        adopted.stderr.contains("every secret stays as it was"),
        "{}",
        adopted.stderr
    );
    // From now on the CLI's writes refuse, before they write anything: one writer. (Once the
    // volume controller has bound the claims, which writes them.)
    let versions = site.settle();
    for (args, verb) in [
        (&["apply", "--yes", "--no-wait"][..], "apply"),
        (&["delete", "--yes"][..], "delete"),
        (
            &["secrets", "rotate", "--all", "--yes"][..],
            "secrets rotate",
        ),
    ] {
        let refused = site.openlsp(args).expect(2);
        assert!(
            refused
                .stderr
                .contains(&format!("openlsp {verb} changed nothing"))
                && refused.stderr.contains("hint: "),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(site.resource_versions(), versions);
    let mut controller = site.spawn_controller(&[]);
    controller.wait_for_stderr(&format!("Site {0}/{0}: ", site.name));
    site.wait_site_condition("Degraded", "False");
    assert_eq!(secret_data(&site), before);
    // status shows the Site's conditions now.
    let status = site.openlsp(&["status"]);
    assert!(
        status
            .stdout
            .contains("Site conditions (openlsp controller):")
            && status.stdout.contains("Degraded=False (Reconciled)"),
        "{}",
        status.stdout
    );
    let output = site.terminate(controller).expect(0);
    assert!(!output.stderr.contains("generated"), "{}", output.stderr);
    site.assert_nothing_leaked();
}
