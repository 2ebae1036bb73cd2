//! `openlsp exporter cln`, the real binary, against a stand-in CLNRest: an HTTPS server whose
//! certificate names `cln` and chains to its own CA, as lightningd's do, and which answers
//! `POST /v1/<method>` with JSON shaped as CLN's schemas document only when the `Rune:` header
//! carries its rune. The real `promtool` checks every exposition; no rune reaches any output.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

use crate::common::{self, Daemon, Test, free_port, wait_for};
use crate::monitoring::http_get;

const RUNE: &str = "test-readonly-rune-Zm9vYmFyYmF6cXV4";

const GETINFO: &str = r#"{"id": "02aa", "alias": "openlsp-cln", "color": "3399ff",
    "num_peers": 1, "num_pending_channels": 0, "num_active_channels": 1,
    "num_inactive_channels": 0, "address": [], "version": "v26.06.6", "blockheight": 840000,
    "network": "bitcoin", "fees_collected_msat": 12000, "lightning-dir": "/data/bitcoin"}"#;
const LISTFUNDS: &str = r#"{"outputs": [{"txid": "aa", "output": 0, "amount_msat": 250000000,
    "scriptpubkey": "00", "status": "confirmed", "blockheight": 839990, "reserved": false}],
    "channels": [{"peer_id": "03bb", "connected": true, "state": "CHANNELD_NORMAL",
    "channel_id": "cc", "our_amount_msat": 400000000, "amount_msat": 1000000000,
    "funding_txid": "dd", "funding_output": 1}]}"#;
const LISTPEERCHANNELS: &str = r#"{"channels": [{"peer_id": "03bb", "peer_connected": true,
    "state": "CHANNELD_NORMAL", "opener": "local", "features": []}]}"#;
const LISTPEERS: &str = r#"{"peers": [{"id": "03bb", "connected": true, "num_channels": 1}]}"#;

/// A CA and a server certificate for the names `cln` and `localhost`, as PEM.
fn node_certificates() -> (String, String, String) {
    let mut ca_params = rcgen::CertificateParams::new(vec!["cln".to_owned()]).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let server_params =
        rcgen::CertificateParams::new(vec!["cln".to_owned(), "localhost".to_owned()]).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    (ca.pem(), server.pem(), server_key.serialize_pem())
}

/// The stand-in CLNRest on a loopback port, serving on its own thread; `calls` records each
/// request's path and whether its rune was right.
struct FakeClnRest {
    port: u16,
    ca_pem: String,
    calls: Arc<Mutex<Vec<String>>>,
}

fn start_fake_clnrest() -> FakeClnRest {
    let (ca_pem, cert_pem, key_pem) = node_certificates();
    use rustls_pki_types::pem::PemObject as _;
    let certs =
        vec![rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&calls);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let recorded = Arc::clone(&recorded);
                        async move {
                            Ok::<_, std::convert::Infallible>(answer(request, &recorded).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    FakeClnRest {
        port,
        ca_pem,
        calls,
    }
}

/// CLNRest's answers: 201 with the method's JSON, 401 without the right rune, 404 otherwise.
async fn answer(
    request: http::Request<hyper::body::Incoming>,
    recorded: &Mutex<Vec<String>>,
) -> http::Response<Full<Bytes>> {
    let rune_ok = request.headers().get("rune").and_then(|v| v.to_str().ok()) == Some(RUNE);
    let path = request.uri().path().to_owned();
    let post = request.method() == http::Method::POST;
    let body = request.into_body().collect().await.unwrap().to_bytes();
    recorded.lock().unwrap().push(format!(
        "{path} rune_ok={rune_ok} post={post} body={}",
        String::from_utf8_lossy(&body)
    ));
    let (status, json) = match path.as_str() {
        _ if !rune_ok => (
            401,
            r#"{"code": 1501, "message": "Not authorized: Not derived from master"}"#,
        ),
        "/v1/getinfo" => (201, GETINFO),
        "/v1/listfunds" => (201, LISTFUNDS),
        "/v1/listpeerchannels" => (201, LISTPEERCHANNELS),
        "/v1/listpeers" => (201, LISTPEERS),
        _ => (404, r#"{"code": -32601, "message": "Unknown command"}"#),
    };
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(json.as_bytes())))
        .unwrap()
}

/// The exporter against `url`, trusting `ca_pem`, with `rune` in its rune file.
fn start_exporter(test: &Test, url: &str, rune: &str, ca_pem: &str) -> (Daemon, u16) {
    let rune_file = test.write("rune", &format!("{rune}\n"));
    let ca_file = test.write("ca.pem", ca_pem);
    let port = free_port();
    let child = test.spawn([
        "exporter".as_ref(),
        "cln".as_ref(),
        "--rest-url".as_ref(),
        url.as_ref(),
        "--rune-file".as_ref(),
        rune_file.as_os_str(),
        "--ca-file".as_ref(),
        ca_file.as_os_str(),
        "--listen".as_ref(),
        format!("127.0.0.1:{port}").as_ref(),
        "--refresh".as_ref(),
        "0s".as_ref(),
    ]);
    (Daemon(child), port)
}

fn scrape(port: u16) -> String {
    wait_for(
        "the exporter's /metrics",
        Duration::from_secs(30),
        || match http_get(port, "/metrics") {
            Some((200, body)) => Ok(body),
            other => Err(format!("{other:?}")),
        },
    )
}

fn value<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
}

/// `promtool check metrics` on the exposition: the format is valid and every name follows
/// Prometheus' conventions (promtool's lint prints nothing then).
fn promtool_accepts(promtool: &std::path::Path, exposition: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && all.trim().is_empty(),
        "promtool check metrics rejects:\n{all}\n{exposition}"
    );
}

/// With the right rune and CA: `cln_up 1` and the node's numbers, after one POST per method
/// with the rune; the exposition passes promtool.
#[test]
fn the_cln_exporter_serves_the_nodes_metrics() {
    let Some(promtool) =
        common::required_program("OPENLSP_TEST_PROMTOOL", "promtool check metrics")
    else {
        return;
    };
    let test = Test::new();
    let clnrest = start_fake_clnrest();
    let url = format!("https://127.0.0.1:{}", clnrest.port);
    let (exporter, port) = start_exporter(&test, &url, RUNE, &clnrest.ca_pem);
    let body = scrape(port);
    for (series, expected) in [
        ("cln_up", "1"),
        ("cln_block_height", "840000"),
        ("cln_synced_to_chain", "1"),
        ("cln_peers{connected=\"true\"}", "1"),
        ("cln_channels{state=\"CHANNELD_NORMAL\"}", "1"),
        ("cln_wallet_balance_sat{status=\"confirmed\"}", "250000"),
        (
            "cln_channel_balance_sat{state=\"CHANNELD_NORMAL\"}",
            "400000",
        ),
        (
            "cln_channel_capacity_sat{state=\"CHANNELD_NORMAL\"}",
            "1000000",
        ),
        ("cln_fees_collected_sat", "12"),
    ] {
        assert_eq!(value(&body, series), Some(expected), "{series} in\n{body}");
    }
    assert!(
        body.contains(
            "cln_info{id=\"02aa\",alias=\"openlsp-cln\",version=\"v26.06.6\",network=\"bitcoin\"} 1"
        ),
        "{body}"
    );
    promtool_accepts(&promtool, &body);
    let calls = clnrest.calls.lock().unwrap().clone();
    for method in ["getinfo", "listfunds", "listpeerchannels", "listpeers"] {
        let call = format!("/v1/{method} rune_ok=true post=true body={{}}");
        assert!(calls.contains(&call), "{call} not in {calls:?}");
    }
    let log = exporter.terminate("the exporter");
    assert!(
        !log.contains(RUNE) && !body.contains(RUNE),
        "the rune leaked:\n{log}{body}"
    );
}

/// A wrong rune, a CA the server's certificate does not chain to, no CLN at all, and a port
/// that takes connections but never answers: each is `cln_up 0` alone, a valid exposition,
/// with the reason in the log and no rune anywhere.
#[test]
fn the_cln_exporter_reports_down_with_the_reason() {
    let Some(promtool) =
        common::required_program("OPENLSP_TEST_PROMTOOL", "promtool check metrics")
    else {
        return;
    };
    let clnrest = start_fake_clnrest();
    let url = format!("https://127.0.0.1:{}", clnrest.port);
    let (other_ca, _, _) = node_certificates();
    let wrong_rune = "wrong-rune-Zm9vYmFyYmF6cXV4cXV1eA";
    let unreachable = format!("https://127.0.0.1:{}", free_port());
    // The kernel completes the handshake from the backlog; nobody ever reads the ClientHello.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("https://{}", silent.local_addr().unwrap());
    for (what, url, rune, ca, reason) in [
        (
            "a wrong rune",
            url.as_str(),
            wrong_rune,
            clnrest.ca_pem.as_str(),
            "getinfo: HTTP 401",
        ),
        (
            "another CA",
            url.as_str(),
            RUNE,
            other_ca.as_str(),
            "certificate",
        ),
        (
            "no CLN",
            unreachable.as_str(),
            RUNE,
            clnrest.ca_pem.as_str(),
            "getinfo:",
        ),
        (
            "a silent port",
            silent_url.as_str(),
            RUNE,
            clnrest.ca_pem.as_str(),
            "getinfo: no answer within 5s",
        ),
    ] {
        let test = Test::new();
        let (exporter, port) = start_exporter(&test, url, rune, ca);
        let body = scrape(port);
        let samples: Vec<&str> = body.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["cln_up 0"], "{what}: {body}");
        promtool_accepts(&promtool, &body);
        let log = exporter.terminate("the exporter");
        assert!(
            log.contains("CLN refresh failed, cln_up is 0"),
            "{what}: {log}"
        );
        assert!(log.contains(reason), "{what}: no {reason:?} in {log}");
        for text in [&body, &log] {
            assert!(!text.contains(rune), "{what}: the rune leaked:\n{text}");
        }
    }
}

/// cln-and-lnd with monitoring on and openlsp's image named.
fn monitored() -> Test {
    crate::common::appended(
        "cln-and-lnd",
        "  monitoring: { clnExporterImage: registry.example.net/openlsp/openlsp:0.1.0 }",
    )
}

/// With monitoring, each CLN node gets its exporter beside it: openlsp's image as the
/// unprivileged `nonroot` user, reading only the read-only rune and the CA from `<node>-rpc` as
/// 0440 files, scraped by the release's Prometheus; the whole of it is snapshotted.
#[test]
fn the_cln_exporter_renders_beside_its_node_with_only_the_read_only_rune() {
    let test = monitored();
    let (docs, stderr) = crate::common::render(&test, "openlsp.yaml");
    assert!(!stderr.contains("clnExporterImage"), "{stderr}");
    let deployment = crate::common::find(&docs, "Deployment", "cln-exporter");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.net/openlsp/openlsp:0.1.0"
    );
    assert_eq!(
        container["args"],
        serde_json::json!([
            "exporter",
            "cln",
            "--rest-url=https://cln.lightning.svc:3010",
            "--rune-file=/etc/cln-exporter/rpc/rune",
            "--ca-file=/etc/cln-exporter/rpc/ca.pem",
            "--listen=0.0.0.0:9750",
            "--refresh=10s"
        ])
    );
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["nodeSelector"]["kubernetes.io/hostname"], "node-1");
    let secret = &pod["volumes"][0]["secret"];
    assert_eq!(secret["secretName"], "cln-rpc");
    assert_eq!(secret["defaultMode"], 0o440);
    assert_eq!(
        secret["items"],
        serde_json::json!([
            { "key": "readonly.rune", "path": "rune" },
            { "key": "ca.pem", "path": "ca.pem" }
        ])
    );
    let monitor = crate::common::find(&docs, "ServiceMonitor", "cln-exporter");
    assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prom-stack");
    let objects: Vec<String> = docs
        .iter()
        .filter(|d| d["metadata"]["name"] == "cln-exporter")
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect();
    assert_eq!(
        objects.len(),
        4,
        "Deployment, Service, ServiceMonitor, NetworkPolicy"
    );
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        assert_output_snapshot!("render_cln_exporter", objects.join("---\n"), &test);
    });
}

/// Without clnExporterImage, the placeholder cannot be pulled: every command that reads the
/// profile says so.
#[test]
fn a_cln_site_with_monitoring_but_no_openlsp_image_is_warned() {
    let test = crate::common::appended("cln-and-lnd", "  monitoring: {}");
    let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(0);
    assert!(
        output.stderr.contains(
            "spec.monitoring.clnExporterImage: CLN's exporter runs openlsp's own image, and openlsp publishes none"
        ),
        "{}",
        output.stderr
    );
}

/// `promtool test rules` on the rendered CLN alerts with series as the exporter exports them
/// (the ServiceMonitor adds `job`, `service` and `namespace`): syncing for 30 minutes fires
/// ClnNotSyncedToChain, the node out of reach for 10 minutes ClnUnreachable; a short blip fires
/// neither.
#[test]
fn the_cln_alerts_fire_on_a_node_behind_the_chain_or_out_of_reach() {
    let Some(promtool) = common::required_program("OPENLSP_TEST_PROMTOOL", "promtool test rules")
    else {
        return;
    };
    let test = monitored();
    crate::monitoring::write_rules(&test, "openlsp.yaml");
    let labels = r#"namespace="lightning", job="cln-exporter", service="cln-exporter""#;
    let tests = format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'cln_synced_to_chain{{{labels}}}'
        values: '1x5 0x5 1x5 0x45'
      - series: 'cln_up{{{labels}}}'
        values: '1x5 0x5 1x5 0x45'
    alert_rule_test:
      - eval_time: 14m
        alertname: ClnUnreachable
        exp_alerts: []
      - eval_time: 28m
        alertname: ClnUnreachable
        exp_alerts:
          - exp_labels: {{ severity: critical, namespace: lightning, job: cln-exporter, service: cln-exporter }}
            exp_annotations:
              summary: Core Lightning (cln-exporter) does not answer its exporter
              description: "The exporter's CLNRest calls have failed for 10 minutes: lightningd is down, clnrest is off, or the read-only rune or CA in <node>-rpc is missing or wrong. The exporter's log names the reason."
      - eval_time: 40m
        alertname: ClnNotSyncedToChain
        exp_alerts: []
      - eval_time: 50m
        alertname: ClnNotSyncedToChain
        exp_alerts:
          - exp_labels: {{ severity: critical, namespace: lightning, job: cln-exporter, service: cln-exporter }}
            exp_annotations:
              summary: Core Lightning (cln-exporter) is not synced to the chain
              description: "getinfo has warned for 30 minutes that bitcoind or lightningd is still syncing: CLN cannot watch its channels, which can lose funds."
"#
    );
    let path = test.write("rules-test.yaml", &tests);
    crate::monitoring::promtool_test_rules(&promtool, &test, &path);
}

/// The CLN dashboard is JSON and plots only metrics the exporter writes; the alerts watch the
/// exporter's job, which has a ServiceMonitor.
#[test]
fn the_cln_dashboard_plots_the_exporters_metrics() {
    let test = monitored();
    let (docs, _) = crate::common::render(&test, "openlsp.yaml");
    let config = crate::common::find(&docs, "ConfigMap", "openlsp-two-impls-cln-dashboard");
    assert_eq!(config["metadata"]["labels"]["grafana_dashboard"], "1");
    let text = config["data"]["openlsp-two-impls-cln.json"]
        .as_str()
        .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut metrics = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("cln_") {
                    metrics.insert(word.to_owned());
                }
            }
        }
    }
    // Every cln_* name the exporter writes (cln_metrics.rs), except the info metric.
    let written = [
        "cln_block_height",
        "cln_channel_balance_sat",
        "cln_channel_capacity_sat",
        "cln_channels",
        "cln_channels_normal_peer_offline",
        "cln_fees_collected_sat",
        "cln_peers",
        "cln_synced_to_chain",
        "cln_up",
        "cln_wallet_balance_sat",
    ];
    assert_eq!(metrics, written.iter().map(|m| m.to_string()).collect());
    // Without a CLN node there is no CLN dashboard.
    let lnd_only = crate::common::appended("lsp-two-nodes", "  monitoring: {}");
    let (docs, _) = crate::common::render(&lnd_only, "openlsp.yaml");
    assert!(!docs.iter().any(|d| {
        d["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .ends_with("-cln-dashboard")
    }));
}
