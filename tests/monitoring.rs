//! Monitoring without a cluster: the real bitcoind holds the exporter's RPC user to the calls the
//! exporter makes, openlsp's `headers` container serves bitcoind's header count, the real
//! `promtool` checks and tests every alert, the dashboards parse and plot metrics that exist, and
//! the monitoring and ingress settings reach every object that depends on them.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::bitcoind::{assert_started_cleanly, start_knots};
use crate::common::{
    self, Daemon, Test, config, edited, find, free_port, render, secret_value, values,
};

/// The calls jvstein/bitcoin-prometheus-exporter's bitcoind-monitor.py makes, with arguments it
/// passes, written out from its versions (older ones call getblock; newer ones getblockstats,
/// getchaintxstats and getrpcinfo instead) rather than taken from openlsp, so a whitelist that
/// drifts from the exporter fails here. `$best` stands for the best block's hash.
const EXPORTER_CALLS: &[(&str, &str)] = &[
    ("uptime", "[]"),
    ("getmemoryinfo", r#"["stats"]"#),
    ("getblockchaininfo", "[]"),
    ("getnetworkinfo", "[]"),
    ("getchaintips", "[]"),
    ("getmempoolinfo", "[]"),
    ("getnettotals", "[]"),
    ("getrpcinfo", "[]"),
    ("getchaintxstats", "[]"),
    (
        "getblockstats",
        r#"["$best", ["total_size", "total_weight", "totalfee", "txs", "height", "ins", "outs", "total_out"]]"#,
    ),
    ("getblock", r#"["$best", 2]"#),
    ("listbanned", "[]"),
    ("estimatesmartfee", "[2]"),
    ("estimatesmartfee", "[20]"),
    ("getnetworkhashps", "[-1]"),
    ("getnetworkhashps", "[120]"),
];

/// Calls that stop or reconfigure the node, touch a wallet or keys, or change its peers or chain.
const STATE_CHANGING_CALLS: &[&str] = &[
    "stop",
    "sendtoaddress",
    "dumpprivkey",
    "importprivkey",
    "createwallet",
    "sendrawtransaction",
    "submitblock",
    "generatetoaddress",
    "invalidateblock",
    "pruneblockchain",
    "setban",
    "addnode",
    "disconnectnode",
    "setnetworkactive",
    "savemempool",
    "logging",
];

/// The exporter's user on a real bitcoind: every call the exporter makes succeeds, every call
/// that changes something is refused (403), and LND's user keeps every call.
#[test]
fn the_exporters_user_may_make_the_exporters_calls_and_nothing_else() {
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let rpcauth = secret_value(&docs, "bitcoind-rpcauth", "rpcauth.conf");
    let whitelist: BTreeSet<&str> = values(&rpcauth, "rpcwhitelist")
        .into_iter()
        .filter_map(|v| v.strip_prefix("openlsp_exporter:"))
        .flat_map(|methods| methods.split(','))
        .collect();
    let calls: BTreeSet<&str> = EXPORTER_CALLS.iter().map(|(method, _)| *method).collect();
    assert_eq!(
        whitelist, calls,
        "the whitelist is exactly the exporter's calls"
    );
    assert_eq!(values(&rpcauth, "rpcwhitelistdefault"), ["0"]);
    // The exporter refreshes on a scrape, at most once per RATE_LIMIT (it reads no
    // REFRESH_SECONDS): under the scrape interval, or every other scrape would be stale.
    let exporter = find(&docs, "Deployment", "bitcoind-exporter");
    let env = &exporter["spec"]["template"]["spec"]["containers"][0]["env"];
    let env_value = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(env_value("REFRESH_SECONDS"), None);
    let rate_limit: u32 = env_value("RATE_LIMIT").unwrap().parse().unwrap();
    let monitor = find(&docs, "ServiceMonitor", "bitcoind-exporter");
    let interval = monitor["spec"]["endpoints"][0]["interval"]
        .as_str()
        .unwrap();
    let interval: u32 = interval.strip_suffix('s').unwrap().parse().unwrap();
    assert!(
        rate_limit < interval,
        "RATE_LIMIT {rate_limit} s, scrapes every {interval} s"
    );

    let Some((knots, info, lnd_user, lnd_password)) = start_knots(&test, &docs) else {
        return;
    };
    let best = info["result"]["bestblockhash"].as_str().unwrap();
    let user = secret_value(&docs, "bitcoind-exporter-rpc", "username");
    let password = secret_value(&docs, "bitcoind-exporter-rpc", "password");
    for (method, params) in EXPORTER_CALLS {
        let params = params.replace("$best", best);
        let (status, body) = knots.call(&user, &password, method, &params);
        assert_eq!(
            status, 200,
            "the exporter's {method} {params} fails: {body}"
        );
        let reply: Value = serde_json::from_str(&body).unwrap();
        assert!(reply["error"].is_null(), "{method}: {body}");
    }
    for method in STATE_CHANGING_CALLS {
        let (status, _) = knots.call(&user, &password, method, "[]");
        assert_eq!(status, 403, "the exporter's user may call {method}");
    }
    assert_eq!(knots.status(&user, "wrong"), 401);
    let (status, _) = knots.call(&lnd_user, &lnd_password, "getpeerinfo", "[]");
    assert_eq!(status, 200, "LND keeps every call (rpcwhitelistdefault=0)");
    let log = knots.stop(&lnd_user, &lnd_password);
    assert_started_cleanly(&log);
    // What the docs tell an operator to look for when a new exporter calls something new.
    assert!(
        log.contains("RPC User openlsp_exporter not allowed to call method stop"),
        "{log}"
    );
}

/// One HTTP GET on loopback: status and body, or None while nothing listens on `port`.
pub(crate) fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Some((status, body.to_owned()))
}

/// openlsp's `headers` container on a real bitcoind: its script, taken from the rendered
/// Deployment, runs with the system python3 and the container's rendered environment and
/// connection file (only bitcoind's address and the listening port moved here) and serves
/// bitcoind's own header count; with a wrong password it answers 503, and no password is in any
/// answer or its log.
#[test]
fn the_headers_container_serves_bitcoinds_header_count() {
    let test = edited(
        "regtest-playground",
        "monitoring: { enabled: false }",
        "monitoring: {}",
    );
    let (docs, _) = render(&test, "openlsp.yaml");
    let pod = &find(&docs, "Deployment", "bitcoind-exporter")["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "headers")
        .expect("the exporter's pod has a headers container");
    assert_eq!(container["image"], pod["containers"][0]["image"]);
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| arg.as_str().unwrap())
        .collect();
    let [python, "-c", script] = command[..] else {
        panic!("the headers container runs an inline python script: {command:?}");
    };
    assert_eq!(python, "python3");
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            let value = var["value"]
                .as_str()
                .expect("no variable comes from a Secret");
            (var["name"].as_str().unwrap().to_owned(), value.to_owned())
        })
        .collect();
    let rendered = |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("the headers container has no {name}"))
    };
    // Both containers read the connection file the credentials Secret holds, mounted from it.
    let conf_path = rendered("BITCOIN_CONF_PATH");
    let (mount_dir, key) = conf_path.rsplit_once('/').unwrap();
    for each in pod["containers"].as_array().unwrap() {
        let mount = each["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == mount_dir)
            .unwrap_or_else(|| panic!("{} does not mount {mount_dir}", each["name"]));
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(volume["secret"]["secretName"], "bitcoind-exporter-rpc");
        assert_eq!(volume["secret"]["defaultMode"], 0o440);
        let conf_env = each["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "BITCOIN_CONF_PATH")
            .unwrap();
        assert_eq!(conf_env["value"], conf_path.as_str());
    }
    let user = secret_value(&docs, "bitcoind-exporter-rpc", "username");
    let password = secret_value(&docs, "bitcoind-exporter-rpc", "password");
    let conf = secret_value(&docs, "bitcoind-exporter-rpc", key);
    assert_eq!(
        conf,
        format!(
            "rpcconnect=bitcoind.playground.svc\nrpcport=18443\nrpcuser={user}\nrpcpassword={password}\n"
        )
    );
    assert_eq!(
        rendered("HEADERS_PORT"),
        container["ports"][0]["containerPort"].to_string()
    );
    assert_eq!(container["ports"][0]["name"], "headers");

    let Some((knots, _, lnd_user, lnd_password)) = start_knots(&test, &docs) else {
        return;
    };
    // A few blocks, so the count is not the empty chain's 0.
    let (status, body) = knots.call(
        &lnd_user,
        &lnd_password,
        "generatetodescriptor",
        r#"[3, "raw(51)"]"#,
    );
    assert_eq!(status, 200, "{body}");
    let (_, info) = knots.call(&user, &password, "getblockchaininfo", "[]");
    let headers = serde_json::from_str::<Value>(&info).unwrap()["result"]["headers"]
        .as_u64()
        .unwrap();
    assert_eq!(headers, 3);

    // The script as the container runs it, answering once it listens: status, body and log.
    let scrape = |attempt: &str| {
        let port = free_port();
        let log = test.path().join(format!("headers-{port}.log"));
        let conf_file = test.write(
            &format!("headers-{port}.conf"),
            &conf
                .replace("bitcoind.playground.svc", "127.0.0.1")
                .replace("rpcport=18443", &format!("rpcport={}", knots.rpc_port))
                .replace(
                    &format!("rpcpassword={password}\n"),
                    &format!("rpcpassword={attempt}\n"),
                ),
        );
        let mut command = Command::new("python3");
        command.args(["-c", script]);
        for (key, value) in &env {
            command.env(key, value);
        }
        let daemon = Daemon(
            command
                .env("BITCOIN_CONF_PATH", &conf_file)
                .env("HEADERS_PORT", port.to_string())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let (status, body) = common::wait_for(
            "the headers script to listen",
            Duration::from_secs(120),
            || {
                http_get(port, "/metrics")
                    .ok_or_else(|| fs::read_to_string(&log).unwrap_or_default())
            },
        );
        drop(daemon);
        (status, body, fs::read_to_string(&log).unwrap())
    };

    let (status, body, log) = scrape(&password);
    assert_eq!(status, 200, "{body}\n{log}");
    let samples: Vec<&str> = body.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(samples, [format!("bitcoin_headers {headers}")], "{body}");
    assert!(body.contains("# TYPE bitcoin_headers gauge\n"), "{body}");
    common::assert_no_secrets(&body, &test.state_dir("playground"), "the headers metrics");
    common::assert_no_secrets(&log, &test.state_dir("playground"), "the headers log");

    let wrong = "wrong-password-for-the-headers-test";
    let (status, body, log) = scrape(wrong);
    assert_eq!(status, 503, "{body}");
    assert!(log.contains("getblockchaininfo: HTTP 401"), "{log}");
    for text in [&body, &log] {
        assert!(!text.contains(wrong), "the wrong password leaked: {text}");
        assert!(!text.contains(&password), "the password leaked");
    }
    common::assert_no_secrets(&body, &test.state_dir("playground"), "the headers 503");
    common::assert_no_secrets(&log, &test.state_dir("playground"), "the headers log");
    let log = knots.stop(&lnd_user, &lnd_password);
    assert_started_cleanly(&log);
}

#[test]
fn promtool_accepts_every_rule_group() {
    let Some(promtool) = common::required_program("OPENLSP_TEST_PROMTOOL", "promtool check rules")
    else {
        return;
    };
    let mut checked = 0;
    for name in common::example_profiles() {
        let test = Test::new().with_example(&name);
        let (docs, _) = render(&test, &format!("{name}.yaml"));
        for rule in docs.iter().filter(|d| d["kind"] == "PrometheusRule") {
            let groups = serde_json::json!({ "groups": rule["spec"]["groups"] });
            let path = test.write("rules.yaml", &serde_yaml::to_string(&groups).unwrap());
            let output = Command::new(&promtool)
                .args(["check", "rules"])
                .arg(&path)
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(output.status.success(), "{name}: promtool rejects:\n{all}");
            assert!(all.contains("SUCCESS"), "{all}");
            checked += 1;
        }
    }
    assert!(checked >= 1, "no profile renders alerts");
}

/// `promtool test rules` on the rendered disk alert with node-exporter and kube-state-metrics
/// series as kube-prometheus-stack labels them: a full disk at the Lightning disk's mount point
/// on another machine stays silent; the Lightning disk's own machine fires.
#[test]
fn the_disk_alert_fires_only_for_the_lightning_disks_own_machine() {
    let Some(promtool) = common::required_program("OPENLSP_TEST_PROMTOOL", "promtool test rules")
    else {
        return;
    };
    let test = full_stack_rules();
    // One node-exporter pod per machine; `pi4` holds the Lightning disk (/srv/lightning).
    let series = |pod: &str, node: &str, free: u32| {
        let target = format!(
            r#"mountpoint="/srv/lightning", namespace="observability", pod="{pod}", instance="{node}:9100""#
        );
        format!(
            r#"
      - series: 'node_filesystem_avail_bytes{{{target}}}'
        values: '{free}x40'
      - series: 'node_filesystem_size_bytes{{{target}}}'
        values: '100x40'
      - series: 'kube_pod_info{{namespace="observability", pod="{pod}", node="{node}"}}'
        values: '1x40'"#
        )
    };
    let fired = r#"
          - exp_labels:
              severity: critical
              disk: lightning
              mountpoint: /srv/lightning
              namespace: observability
              pod: node-exporter-a
              instance: pi4:9100
              node: pi4
            exp_annotations:
              summary: The Lightning disk lightning (/srv/lightning on pi4) is more than 80% full
              description: LND stops writing channel state when its disk is full, which can close channels or lose funds. Free space or grow the disk."#;
    let case = |pi4_free: u32, other_free: u32, expected: &str| {
        format!(
            r#"
  - interval: 1m
    input_series:{}{}
    alert_rule_test:
      - eval_time: 30m
        alertname: LightningDiskAlmostFull
        exp_alerts:{expected}"#,
            series("node-exporter-a", "pi4", pi4_free),
            series("node-exporter-b", "other", other_free),
        )
    };
    let tests = format!(
        "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:{}{}{}\n",
        // Another machine's disk at the same path is full: nothing fires.
        case(50, 5, " []"),
        // The Lightning disk itself is 90 % full: it fires, naming its machine.
        case(10, 50, fired),
        // 80 % is the threshold, not yet over it.
        case(20, 50, " []"),
    );
    let path = test.write("rules-test.yaml", &tests);
    promtool_test_rules(&promtool, &test, &path);
}

/// The alerts the issue names, each limited to the site, and the disk alert to the disk's own
/// machine.
#[test]
fn the_alerts_cover_sync_disks_exporters_and_scrapes() {
    let test = Test::new().with_example("full-stack");
    let (docs, stderr) = render(&test, "full-stack.yaml");
    assert!(!stderr.contains("spec.monitoring.lndmon"), "{stderr}");
    let rule = find(&docs, "PrometheusRule", "openlsp-alerts");
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prom-stack");
    let rules: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let expr = |alert: &str| -> Vec<String> {
        rules
            .iter()
            .filter(|r| r["alert"] == alert)
            .map(|r| r["expr"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        expr("BitcoindNotSynced")[0]
            .starts_with("bitcoin_verification_progress{namespace=\"full-stack\"}")
    );
    assert!(
        expr("LndNotSyncedToChain")[0].starts_with("lnd_chain_synced{namespace=\"full-stack\"}")
    );
    // node-exporter's series name no machine; its pod does, through kube-state-metrics.
    assert_eq!(
        expr("LightningDiskAlmostFull"),
        [
            "(1 - node_filesystem_avail_bytes{mountpoint=\"/srv/lightning\"} / node_filesystem_size_bytes{mountpoint=\"/srv/lightning\"}) * on (namespace, pod) group_left (node) max by (namespace, pod, node) (kube_pod_info{node=\"pi4\"}) > 0.8"
        ]
    );
    assert!(expr("ExporterDown")[0].contains("bitcoind-exporter|lnd-lndmon"));
    let no_scrape = expr("NoScrape");
    assert_eq!(no_scrape.len(), 4, "one per scrape job: {no_scrape:?}");
    assert!(no_scrape[3].contains("job=\"lnd-backup\""), "{no_scrape:?}");
    for alert in ["ChannelBackupNotCopied", "ChannelBackupTargetFailing"] {
        let exprs = expr(alert);
        assert_eq!(exprs.len(), 1, "{alert}");
        assert!(
            exprs[0].contains("{namespace=\"full-stack\", job=~\"lnd-backup\"}"),
            "{alert}: {exprs:?}"
        );
    }
    assert!(no_scrape.iter().all(
        |e| e.starts_with("absent_over_time(up{namespace=\"full-stack\"") && e.ends_with("[10m])")
    ));
}

/// Without lndmon nothing reports LND's chain sync, so the alert cannot exist: the plan says so.
#[test]
fn monitoring_without_lndmon_warns_that_lnd_sync_is_unwatched() {
    let test = edited("full-stack", "lndmon: true", "lndmon: false");
    let (docs, stderr) = render(&test, "openlsp.yaml");
    assert_output_snapshot!("lndmon_off", stderr, &test);
    let rule = find(&docs, "PrometheusRule", "openlsp-alerts");
    let alerts: Vec<&str> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert!(!alerts.contains(&"LndNotSyncedToChain"), "{alerts:?}");
    assert!(alerts.contains(&"LightningDiskAlmostFull"), "{alerts:?}");
}

#[test]
fn every_dashboard_is_json_and_shows_what_the_issue_lists() {
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let dashboards: Vec<&Value> = docs
        .iter()
        .filter(|d| d["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    assert_eq!(dashboards.len(), 2);
    let mut exprs = String::new();
    for config in dashboards {
        assert_eq!(config["metadata"]["namespace"], "observability");
        for (key, text) in config["data"].as_object().unwrap() {
            let dashboard: Value = serde_json::from_str(text.as_str().unwrap())
                .unwrap_or_else(|err| panic!("{key} is not JSON: {err}"));
            assert!(dashboard["uid"].as_str().unwrap().len() <= 40);
            let variables = &dashboard["templating"]["list"];
            assert_eq!(variables[1]["query"], "full-stack");
            assert_eq!(variables[2]["query"], "/srv/blockchain|/srv/lightning");
            assert_eq!(variables[3]["name"], "machines");
            assert_eq!(variables[3]["query"], "pi4");
            for panel in dashboard["panels"].as_array().unwrap() {
                for target in panel["targets"].as_array().unwrap() {
                    exprs.push_str(target["expr"].as_str().unwrap());
                    exprs.push('\n');
                }
            }
        }
    }
    for metric in [
        "bitcoin_blocks",                                // chain sync: height
        "bitcoin_headers",                               // chain sync: headers
        "bitcoin_verification_progress",                 // chain sync
        "lnd_chain_block_height",                        // LND's view of the chain
        "bitcoin_peers",                                 // peers
        "lnd_peer_count",                                // peers
        "bitcoin_mempool_size",                          // mempool
        "lnd_channels_active_total",                     // channels
        "lnd_channels_inactive_total",                   // channels
        "lnd_channels_pending_total",                    // channels
        "lnd_wallet_balance_confirmed_sat",              // balances
        "lnd_channels_open_balance_sat",                 // balances
        "node_filesystem_avail_bytes",                   // disk free
        "openlsp_backup_last_success_timestamp_seconds", // channel backups
        "openlsp_backup_failures_total",                 // channel backups
    ] {
        assert!(exprs.contains(metric), "no panel shows {metric}");
    }
    // Every backup metric a panel or an alert queries is one the backup script writes.
    let script = common::config(&docs, "lnd-backup", "backup.sh");
    let rules =
        serde_json::to_string(&find(&docs, "PrometheusRule", "openlsp-alerts")["spec"]).unwrap();
    let queried: BTreeSet<&str> = exprs
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .chain(rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| word.starts_with("openlsp_backup_"))
        .collect();
    assert!(queried.len() >= 3, "{queried:?}");
    for metric in queried {
        assert!(
            script.contains(&format!("metric {metric} ")),
            "{metric} is queried but the backup script does not write it"
        );
    }
    // Disk free only on the site's machines: the same mount point elsewhere is not the site's.
    assert!(exprs.contains(
        "group_left (node) max by (namespace, pod, node) (kube_pod_info{node=~\"$machines\"})"
    ));
    // Every bitcoind metric is one the pinned exporter or openlsp's headers container sets, and
    // none is plotted twice under two names: the exporter's `bitcoin_latest_block_height` is the
    // best block's height, the same value as `bitcoin_blocks`, so "height vs headers" drawn with
    // both would be a fake comparison.
    let used: BTreeSet<&str> = exprs
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("bitcoin_"))
        .collect();
    for metric in &used {
        assert!(
            EXPORTER_METRICS.contains(metric) || HEADERS_METRICS.contains(metric),
            "{metric} is not a metric of jvstein/bitcoin-prometheus-exporter or of openlsp's \
             headers container"
        );
    }
    assert!(!used.contains("bitcoin_latest_block_height"));
}

/// The gauges jvstein/bitcoin-prometheus-exporter's `bitcoind-monitor.py` defines (the pinned
/// v0.7.0 and later; the per-parameter `bitcoin_hashps_*` and `bitcoin_est_smart_fee_*` gauges
/// are left out, as no panel uses them). It has no header count.
const EXPORTER_METRICS: &[&str] = &[
    "bitcoin_blocks",
    "bitcoin_difficulty",
    "bitcoin_peers",
    "bitcoin_conn_in",
    "bitcoin_conn_out",
    "bitcoin_warnings",
    "bitcoin_uptime",
    "bitcoin_meminfo_used",
    "bitcoin_meminfo_free",
    "bitcoin_meminfo_total",
    "bitcoin_meminfo_locked",
    "bitcoin_meminfo_chunks_used",
    "bitcoin_meminfo_chunks_free",
    "bitcoin_mempool_bytes",
    "bitcoin_mempool_size",
    "bitcoin_mempool_usage",
    "bitcoin_mempool_minfee",
    "bitcoin_mempool_unbroadcast",
    "bitcoin_latest_block_height",
    "bitcoin_latest_block_weight",
    "bitcoin_latest_block_size",
    "bitcoin_latest_block_txs",
    "bitcoin_latest_block_inputs",
    "bitcoin_latest_block_outputs",
    "bitcoin_latest_block_value",
    "bitcoin_latest_block_fee",
    "bitcoin_txcount",
    "bitcoin_num_chaintips",
    "bitcoin_total_bytes_recv",
    "bitcoin_total_bytes_sent",
    "bitcoin_ban_created",
    "bitcoin_banned_until",
    "bitcoin_server_version",
    "bitcoin_protocol_version",
    "bitcoin_size_on_disk",
    "bitcoin_verification_progress",
    "bitcoin_rpc_active",
    "bitcoin_exporter_errors",
    "bitcoin_exporter_process_time",
];

/// The gauges of openlsp's own `headers` container (templates/bitcoind/headers-exporter.py.j2),
/// not of the exporter: `the_headers_container_serves_bitcoinds_header_count` checks them
/// against a real bitcoind.
const HEADERS_METRICS: &[&str] = &["bitcoin_headers"];

/// Non-default monitoring and ingress settings reach every object that depends on them: the
/// release label Prometheus selects by, Grafana's namespace and Service, the ingress class the
/// Ingresses and the ACME solver use, and the Let's Encrypt server the certificates come from.
#[test]
fn monitoring_and_ingress_settings_reach_every_object() {
    let test = edited(
        "full-stack",
        "  monitoring:\n    release: kube-prom-stack\n    namespace: observability\n    lndmon: true\n  ingress:\n    email: operator@example.com\n    acme: staging\n",
        "  monitoring:\n    release: myprom\n    namespace: monit\n    lndmon: true\n  ingress:\n    email: operator@example.com\n    acme: production\n    className: nginx\n",
    );
    let (docs, _) = render(&test, "openlsp.yaml");
    let selected: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "ServiceMonitor" || d["kind"] == "PrometheusRule")
        .collect();
    assert_eq!(
        selected.len(),
        5,
        "four ServiceMonitors (bitcoind's exporter, LND, lndmon, LND's backup) and the rules"
    );
    for object in selected {
        assert_eq!(
            object["metadata"]["labels"]["release"], "myprom",
            "{object}"
        );
    }
    let dashboards: Vec<&Value> = docs
        .iter()
        .filter(|d| d["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    assert_eq!(dashboards.len(), 2);
    for config in dashboards {
        assert_eq!(config["metadata"]["namespace"], "monit");
    }
    for doc in &docs {
        assert_ne!(doc["metadata"]["namespace"], "observability", "{doc}");
    }

    let production = "openlsp-full-letsencrypt-production";
    let grafana = find(&docs, "Ingress", "openlsp-full-grafana");
    assert_eq!(grafana["metadata"]["namespace"], "monit");
    let backend = &grafana["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"], "myprom-grafana");
    assert_eq!(backend["port"]["number"], 80);
    for ingress in [grafana, find(&docs, "Ingress", "lnd-rest")] {
        assert_eq!(ingress["spec"]["ingressClassName"], "nginx", "{ingress}");
        assert_eq!(
            ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"], production,
            "{ingress}"
        );
    }
    let issuer = find(&docs, "ClusterIssuer", production);
    assert_eq!(
        issuer["spec"]["acme"]["server"],
        "https://acme-v02.api.letsencrypt.org/directory"
    );
    for issuer in docs.iter().filter(|d| d["kind"] == "ClusterIssuer") {
        assert_eq!(
            issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["class"], "nginx",
            "{issuer}"
        );
    }
}

/// Each dashboard and alert reads metrics some rendered exporter produces: every job the
/// rules watch has a ServiceMonitor with the release label.
#[test]
fn every_scrape_job_has_a_service_monitor_for_the_release() {
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    for job in ["bitcoind-exporter", "lnd-metrics", "lnd-lndmon"] {
        let monitor = find(&docs, "ServiceMonitor", job);
        assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prom-stack");
        let service = find(&docs, "Service", job);
        let selector = monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap();
        for (key, value) in selector {
            assert_eq!(&service["metadata"]["labels"][key], value, "{job}: {key}");
        }
        for endpoint in monitor["spec"]["endpoints"].as_array().unwrap() {
            let port = &endpoint["port"];
            assert!(
                service["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| &p["name"] == port),
                "{job}: no Service port {port}"
            );
        }
    }
    // The node's own Service must not be picked up by the metrics ServiceMonitor.
    let lnd = find(&docs, "Service", "lnd");
    assert!(lnd["metadata"]["labels"]["openlsp.io/metrics"].is_null());
    let lnd_conf = config(&docs, "lnd-config", "lnd.conf");
    assert!(lnd_conf.contains("prometheus.enable=true\nprometheus.listen=0.0.0.0:8989\n"));
}

/// `promtool test rules` on the rendered backup alerts with series as the backup container
/// exports them: a target without the current channel.backup for 10 minutes fires
/// ChannelBackupNotCopied; failures that keep coming fire ChannelBackupTargetFailing, a single
/// failed attempt does not.
#[test]
fn the_backup_alerts_fire_on_a_stale_or_failing_target() {
    let Some(promtool) = common::required_program("OPENLSP_TEST_PROMTOOL", "promtool test rules")
    else {
        return;
    };
    let test = full_stack_rules();
    let labels = |target: &str| {
        format!(r#"namespace="full-stack", job="lnd-backup", node="lnd", target="{target}""#)
    };
    let tests = format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'openlsp_backup_target_current{{{usb}}}'
        values: '1x4 0x40'
      - series: 'openlsp_backup_target_current{{{nas}}}'
        values: '1x45'
      - series: 'openlsp_backup_failures_total{{{usb}}}'
        values: '0x5 1x40'
      - series: 'openlsp_backup_failures_total{{{nas}}}'
        values: '0+1x45'
    alert_rule_test:
      - eval_time: 12m
        alertname: ChannelBackupNotCopied
        exp_alerts: []
      - eval_time: 16m
        alertname: ChannelBackupNotCopied
        exp_alerts:
          - exp_labels: {{ severity: critical, namespace: full-stack, job: lnd-backup, node: lnd, target: usb }}
            exp_annotations:
              summary: The channel backup of lnd changed and target usb has had no verified copy for 10 minutes
              description: "The newest channel.backup is not on this target: if the Lightning disk dies now, the channels opened since the last copy cannot be recovered from it. openlsp backup status names the reason."
      - eval_time: 30m
        alertname: ChannelBackupTargetFailing
        exp_alerts:
          - exp_labels: {{ severity: warning, namespace: full-stack, job: lnd-backup, node: lnd, target: nas }}
            exp_annotations:
              summary: Backup target nas of lnd keeps failing
              description: "Copying or verifying the channel backup on this target has failed again and again for 10 minutes; the backup container retries with backoff. openlsp backup status shows the last error."
"#,
        usb = labels("usb"),
        nas = labels("nas"),
    );
    let path = test.write("rules-test.yaml", &tests);
    promtool_test_rules(&promtool, &test, &path);
}

/// `promtool test rules` on `tests` (rule_files next to it, in `test`'s dir) passes.
#[track_caller]
pub(crate) fn promtool_test_rules(
    promtool: &std::path::Path,
    test: &Test,
    tests: &std::path::Path,
) {
    let output = Command::new(promtool)
        .args(["test", "rules"])
        .arg(tests)
        .current_dir(test.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool test rules fails:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The full stack's rendered alert groups in `rules.yaml` of a new test dir.
fn full_stack_rules() -> Test {
    let test = Test::new().with_example("full-stack");
    write_rules(&test, "full-stack.yaml");
    test
}

/// `profile`'s rendered alert groups in `rules.yaml` of `test`'s dir, for `promtool test rules`.
pub(crate) fn write_rules(test: &Test, profile: &str) {
    let (docs, _) = render(test, profile);
    let rule = find(&docs, "PrometheusRule", "openlsp-alerts");
    let groups = serde_json::json!({ "groups": rule["spec"]["groups"] });
    test.write("rules.yaml", &serde_yaml::to_string(&groups).unwrap());
}

/// `promtool test rules` on the shop's rendered database backup alerts, with series as the
/// PostgreSQL pod's backup container exports them: no dump for three hours fires
/// DatabaseDumpStale, a dump no target holds for 30 minutes DatabaseDumpNotCopied; the channel
/// backup alerts stay quiet for the dump's job.
#[test]
fn the_database_dump_alerts_fire_on_a_stale_dump_or_a_missing_copy() {
    let Some(promtool) = common::required_program("OPENLSP_TEST_PROMTOOL", "promtool test rules")
    else {
        return;
    };
    let test = Test::new().with_example("shop");
    write_rules(&test, "shop.yaml");
    let labels =
        r#"namespace="shop", job="btcpay-postgres-backup", node="btcpay-postgres", target="usb""#;
    // Dumps noted every hour at first (t = 0, 60 s after...), then no more after 1 h.
    let tests = format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'openlsp_backup_source_written_timestamp_seconds{{{labels}}}'
        values: '0x60 3600x300'
      - series: 'openlsp_backup_target_current{{{labels}}}'
        values: '1x10 0x60'
    alert_rule_test:
      - eval_time: 30m
        alertname: DatabaseDumpNotCopied
        exp_alerts: []
      - eval_time: 45m
        alertname: DatabaseDumpNotCopied
        exp_alerts:
          - exp_labels: {{ severity: warning, namespace: shop, job: btcpay-postgres-backup, node: btcpay-postgres, target: usb }}
            exp_annotations:
              summary: BTCPay's newest database dump has had no verified copy on target usb for 30 minutes
              description: "The dump changed and this target does not hold it: if the disk of btcpay-postgres dies now, the changes since the last copy are lost. kubectl logs btcpay-postgres-0 -c backup shows the last error."
      - eval_time: 45m
        alertname: ChannelBackupNotCopied
        exp_alerts: []
      - eval_time: 3h
        alertname: DatabaseDumpStale
        exp_alerts: []
      - eval_time: 4h30m
        alertname: DatabaseDumpStale
        exp_alerts:
          - exp_labels: {{ severity: warning, namespace: shop, job: btcpay-postgres-backup, node: btcpay-postgres, target: usb }}
            exp_annotations:
              summary: BTCPay's database has not been dumped for three intervals
              description: "The pg-dump container of btcpay-postgres has made no verified dump for three of its intervals: the backup targets hold an older state of the stores, invoices and users. kubectl logs btcpay-postgres-0 -c pg-dump names the reason."
"#
    );
    let path = test.write("rules-test.yaml", &tests);
    promtool_test_rules(&promtool, &test, &path);
}
