//! CLN's exporter on the real node (docs/testing.md): its pod runs `openlsp exporter cln` from
//! the stand-in openlsp image (this checkout's binary) exactly as rendered, becomes Ready through
//! its own probes and answers `cln_up 0` through its Service, with the reason in its log: no
//! image of lightningd exists here, so CLN never runs and never publishes its rune. That is the
//! real binary, pod, volume and Service at work; the metrics of a running CLN are tested
//! against a stand-in CLNRest (tests/cln_exporter.rs). No network plugin here enforces
//! NetworkPolicy, so who may scrape it is checked on the rendered policy
//! (network_policy::cln_with_monitoring_admits_prometheus_to_its_exporter_and_backup_metrics).

use serde_json::{Value, json};

use crate::common::node::{NodeSite, TOOLBOX};
use crate::common::{self, e2e};

#[test]
fn the_cln_exporter_pod_serves_cln_up_0_while_cln_cannot_run() {
    let Some(image) = common::required_program(
        "OPENLSP_TEST_IMAGE_OPENLSP",
        "the CLN exporter's pod on the real node",
    ) else {
        return;
    };
    let image = image.to_string_lossy().into_owned();
    let Some(site) = NodeSite::new("regtest-playground", "clnmon", |mut value| {
        value["spec"]["lightning"] = json!([{
            "name": "cln",
            "implementation": "cln",
            "bitcoin": "bitcoind",
            "disk": "scratch",
            "alias": "playground",
            "resources": { "memory": "512Mi" }
        }]);
        value["spec"]["monitoring"] = json!({ "clnExporterImage": image });
        value
    }) else {
        return;
    };
    let Some(()) = e2e::addon_crds(&site.kubeconfig) else {
        return;
    };
    e2e::ensure_namespace(&site.kubeconfig, "observability");
    let applied = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(
        !applied.stderr.contains("clnExporterImage"),
        "{}",
        applied.stderr
    );

    let pod = site.wait_ready_selected("app.kubernetes.io/name=openlsp-cln-exporter");
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(pod["spec"]["containers"][0]["image"], image.as_str());
    let name = pod["metadata"]["name"].as_str().unwrap().to_owned();

    // Through its Service, from another pod, as Prometheus scrapes it.
    let url = format!("http://cln-exporter.{}.svc:9750/metrics", site.namespace());
    let toolbox = site.toolbox();
    let body = common::wait_for("the exporter's Service to answer", e2e::PATIENCE, || {
        let output = site.exec(
            toolbox,
            TOOLBOX,
            &["curl", "-sS", "--fail", "--max-time", "30", &url],
        );
        if output.code == 0 {
            Ok(output.stdout)
        } else {
            Err(output.stderr)
        }
    });
    let samples: Vec<&str> = body.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(samples, ["cln_up 0"], "{body}");

    // Why, in its log: CLN never ran, so its sidecar never published the rune.
    let log = site
        .kubectl(&["logs", "-n", site.namespace(), &name])
        .expect(0)
        .stdout;
    assert!(
        log.contains(
            "CLN refresh failed, cln_up is 0: reading the rune from /etc/cln-exporter/rpc/rune"
        ),
        "{log}"
    );
    // And CLN itself waits for an image that is not here.
    let cln: Value = site.get_json(&["pod", "cln-0", "-n", site.namespace()]);
    assert_eq!(cln["spec"]["nodeName"], site.node());
    site.assert_nothing_leaked();
}
