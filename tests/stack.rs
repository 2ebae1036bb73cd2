//! The stack around the nodes without a cluster: the real `tor` checks the rendered torrc and
//! serves openlsp's onion keys, laid out by the pod's own copy-keys.sh, under the addresses
//! openlsp computed; the real bitcoind takes the tor-only settings and holds the exporter's user
//! to its read-only calls; the real `promtool` checks every alert; dashboards parse; and the
//! rendered objects follow the profile's Tor mode, inbound choice, IPv6, monitoring and ingress
//! sections.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::bitcoind::{Knots, assert_started_cleanly};
use crate::common::{self, Daemon, Test, documents, find, free_port, secret_value};

/// Renders `profile` (an example, optionally edited) with secrets shown.
fn render(test: &Test, profile: &str) -> (Vec<Value>, String) {
    let output = test
        .run(["render", "--show-secrets", "-p", profile])
        .expect(0);
    (documents(&output.stdout), output.stderr)
}

/// A copy of an example profile with `spec` entries appended.
fn appended(example: &str, spec_entries: &str) -> Test {
    let test = Test::new();
    let text =
        fs::read_to_string(common::repo_root().join(format!("profiles/{example}.yaml"))).unwrap();
    test.write(
        "openlsp.yaml",
        &format!("{}\n{spec_entries}\n", text.trim_end()),
    );
    test
}

/// A copy of an example profile with `from` replaced by `to`.
fn edited(example: &str, from: &str, to: &str) -> Test {
    let test = Test::new();
    let text =
        fs::read_to_string(common::repo_root().join(format!("profiles/{example}.yaml"))).unwrap();
    assert!(text.contains(from), "{example} has no {from:?}");
    test.write("openlsp.yaml", &text.replacen(from, to, 1));
    test
}

fn config(docs: &[Value], name: &str, key: &str) -> String {
    find(docs, "ConfigMap", name)["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {name} has no {key}"))
        .to_owned()
}

fn decoded(document: &Value, key: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(document["data"][key].as_str().unwrap())
        .unwrap()
}

/// Lines of `conf` that start with `key=`, without the key.
fn values<'a>(conf: &'a str, key: &str) -> Vec<&'a str> {
    conf.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The rendered torrc made runnable here: the pod's state emptyDir (/var/lib/tor) at `state`,
/// cluster Service names replaced by the host name `localhost` (Tor resolves HiddenServicePort
/// targets when it starts, so the name form the pod uses is still parsed and resolved), a free
/// SOCKS port, no network.
fn local_torrc(torrc: &str, state: &Path) -> String {
    let mut out = String::new();
    for line in torrc.lines() {
        let line = line.replace("/var/lib/tor/", &format!("{}/", state.display()));
        let line = match line.split_once(' ') {
            Some(("SocksPort", _)) => format!("SocksPort 127.0.0.1:{}", free_port()),
            Some(("HiddenServicePort", rest)) => {
                let (virtual_port, target) = rest.split_once(' ').unwrap();
                let port = target.rsplit_once(':').unwrap().1;
                assert!(
                    target.contains(".svc:"),
                    "targets are cluster Services: {line}"
                );
                format!("HiddenServicePort {virtual_port} localhost:{port}")
            }
            _ => line,
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("DisableNetwork 1\n");
    out
}

/// The mode bits of `path`.
fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Does what the Tor pod does before Tor starts: lays out the onion key Secrets the way its
/// projected volume does (the volume's own items and mode), then runs the rendered copy-keys.sh
/// the way its init container does, with the key and state directories pointed under `root`
/// (`keys/`, `state/`). Returns the onion services the volume holds.
fn run_copy_keys(docs: &[Value], root: &Path) -> Vec<String> {
    let pod = &find(docs, "Deployment", "tor")["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "keys")
        .unwrap();
    let file_mode = u32::try_from(volume["projected"]["defaultMode"].as_u64().unwrap()).unwrap();
    let keys = root.join("keys");
    let mut services = Vec::new();
    for source in volume["projected"]["sources"].as_array().unwrap() {
        let secret = find(docs, "Secret", source["secret"]["name"].as_str().unwrap());
        for item in source["secret"]["items"].as_array().unwrap() {
            let relative = item["path"].as_str().unwrap();
            let path = keys.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, decoded(secret, item["key"].as_str().unwrap())).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(file_mode)).unwrap();
            services.push(relative.split('/').next().unwrap().to_owned());
        }
    }
    services.sort();
    services.dedup();
    let init = &pod["initContainers"][0];
    assert_eq!(init["command"][0], "sh", "the init container runs a script");
    let script_name = Path::new(init["command"][1].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let script = root.join(script_name);
    fs::create_dir_all(root).unwrap();
    fs::write(&script, config(docs, "tor-config", script_name)).unwrap();
    // Twice: a restarted pod runs its init container again on the same emptyDir.
    for _ in 0..2 {
        let output = Command::new("sh")
            .arg(&script)
            .env("OPENLSP_ONION_KEYS", &keys)
            .env("OPENLSP_TOR_STATE", root.join("state"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "copy-keys.sh failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    services
}

#[test]
fn tor_accepts_every_rendered_torrc() {
    let Some(tor) = common::required_program("OPENLSP_TEST_TOR", "tor --verify-config") else {
        return;
    };
    let mut checked = 0;
    for name in common::example_profiles() {
        let test = Test::new().with_example(&name);
        let (docs, _) = render(&test, &format!("{name}.yaml"));
        let Some(config) = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "tor-config")
        else {
            continue;
        };
        let root = test.path().join("tor");
        run_copy_keys(&docs, &root);
        let torrc = local_torrc(
            config["data"]["torrc"].as_str().unwrap(),
            &root.join("state"),
        );
        test.write("tor/torrc", &torrc);
        let output = Command::new(&tor)
            .args(["--verify-config", "-f"])
            .arg(root.join("torrc"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("Configuration was valid"),
            "{name}: tor rejects the torrc:\n{stdout}\n{torrc}"
        );
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} profiles run Tor");
}

/// The issue's check of the key format and the address, through the pod's own key copying:
/// copy-keys.sh lays the Secrets out as Tor demands, and Tor, given openlsp's keys, writes the
/// `hostname` openlsp computed and wrote into bitcoind's and LND's configuration.
#[test]
fn tor_serves_openlsps_keys_under_openlsps_addresses() {
    let Some(tor) = common::required_program("OPENLSP_TEST_TOR", "tor onion addresses") else {
        return;
    };
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let root = test.path().join("tor");
    let services = run_copy_keys(&docs, &root);
    assert_eq!(services, ["bitcoind-p2p", "lnd-p2p", "lnd-rpc"]);
    let state = root.join("state");
    // Tor refuses a DataDirectory or HiddenServiceDir that others can read, and a key file
    // should be the owner's alone.
    assert_eq!(mode(&state.join("data")), 0o700);
    for service in &services {
        let dir = state.join("hs").join(service);
        assert_eq!(mode(&dir), 0o700, "{service}");
        for file in ["hs_ed25519_secret_key", "hs_ed25519_public_key"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{service}/{file}");
        }
    }
    let torrc = local_torrc(&config(&docs, "tor-config", "torrc"), &state);
    test.write("tor/torrc", &torrc);
    let log = fs::File::create(root.join("tor.log")).unwrap();
    let _tor = Daemon(
        Command::new(&tor)
            .arg("-f")
            .arg(root.join("torrc"))
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let hostname =
        |service: &str| fs::read_to_string(state.join("hs").join(service).join("hostname"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while services.iter().any(|s| hostname(s).is_err()) {
        assert!(
            Instant::now() < deadline,
            "tor wrote no hostname files:\n{}",
            fs::read_to_string(root.join("tor.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let bitcoin_conf = config(&docs, "bitcoind-config", "bitcoin.conf");
    let lnd_conf = config(&docs, "lnd-config", "lnd.conf");
    let bitcoind_onion = values(&bitcoin_conf, "externalip")
        .into_iter()
        .find(|v| v.ends_with(".onion"))
        .expect("bitcoind advertises its onion address");
    let lnd_onion = values(&lnd_conf, "externalip")
        .into_iter()
        .find_map(|v| v.strip_suffix(":9735").filter(|h| h.ends_with(".onion")))
        .expect("LND advertises its onion address");
    let api_onion = values(&lnd_conf, "tlsextradomain")
        .into_iter()
        .find(|v| v.ends_with(".onion"))
        .expect("LND's API onion address is one of its TLS names");
    for (service, expected) in [
        ("bitcoind-p2p", bitcoind_onion),
        ("lnd-p2p", lnd_onion),
        ("lnd-rpc", api_onion),
    ] {
        assert_eq!(hostname(service).unwrap().trim(), expected, "{service}");
        assert_eq!(expected.len(), 56 + ".onion".len());
    }
    // The API onion service forwards REST and gRPC; the P2P ones only their port.
    let torrc = config(&docs, "tor-config", "torrc");
    assert!(torrc.contains("HiddenServicePort 8080 lnd.full-stack.svc:8080"));
    assert!(torrc.contains("HiddenServicePort 10009 lnd.full-stack.svc:10009"));
    assert!(torrc.contains("HiddenServicePort 8333 bitcoind-onion.full-stack.svc:8334"));
    assert!(!torrc.contains("ControlPort"), "no control port is needed");
}

/// LND's certificate names its API onion address, so lncli and wallets over Tor can verify it.
#[test]
fn lnds_certificate_names_its_api_onion_address() {
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let lnd_conf = config(&docs, "lnd-config", "lnd.conf");
    let api_onion = values(&lnd_conf, "tlsextradomain")
        .into_iter()
        .find(|v| v.ends_with(".onion"))
        .unwrap()
        .to_owned();
    let pem = decoded(find(&docs, "Secret", "lnd-tls"), "tls.crt");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    let names: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|name| name.to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.contains(&api_onion)),
        "{api_onion} is not in {names:?}"
    );
}

/// A real bitcoind from `docs` in the test's directory, waited for with LND's (unrestricted) RPC
/// user: the node, its getblockchaininfo, and that user and password. None without a bitcoind.
fn start_knots(test: &Test, docs: &[Value]) -> Option<(Knots, Value, String, String)> {
    let user = secret_value(docs, "lnd-bitcoind-rpc", "username");
    let password = secret_value(docs, "lnd-bitcoind-rpc", "password");
    let (knots, info) = Knots::start(&test.path().join("bitcoind"), docs, &user, &password)?;
    Some((knots, info, user, password))
}

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
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
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
/// Deployment, runs with the system python3 and the container's rendered environment (only
/// bitcoind's address and the listening port moved here) and serves bitcoind's own header
/// count; with a wrong password it answers 503, and no password is in any answer or its log.
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
            let value = match var["value"].as_str() {
                Some(value) => value.to_owned(),
                None => {
                    let from = &var["valueFrom"]["secretKeyRef"];
                    secret_value(
                        &docs,
                        from["name"].as_str().unwrap(),
                        from["key"].as_str().unwrap(),
                    )
                }
            };
            (var["name"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    let rendered = |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("the headers container has no {name}"))
    };
    let user = secret_value(&docs, "bitcoind-exporter-rpc", "username");
    let password = secret_value(&docs, "bitcoind-exporter-rpc", "password");
    assert_eq!(rendered("BITCOIN_RPC_USER"), user);
    assert_eq!(rendered("BITCOIN_RPC_PASSWORD"), password);
    assert_eq!(rendered("BITCOIN_RPC_HOST"), "bitcoind.playground.svc");
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
    let scrape = |password: &str| {
        let port = free_port();
        let log = test.path().join(format!("headers-{port}.log"));
        let mut command = Command::new("python3");
        command.args(["-c", script]);
        for (key, value) in &env {
            command.env(key, value);
        }
        let daemon = Daemon(
            command
                .env("BITCOIN_RPC_HOST", "127.0.0.1")
                .env("BITCOIN_RPC_PORT", knots.rpc_port.to_string())
                .env("BITCOIN_RPC_PASSWORD", password)
                .env("HEADERS_PORT", port.to_string())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let (status, body) = loop {
            if let Some(answer) = http_get(port, "/metrics") {
                break answer;
            }
            assert!(
                Instant::now() < deadline,
                "the headers script did not listen: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
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

/// Tor-only mode on a real bitcoind: it starts with `proxy=` and takes every rendered key, and
/// every clearnet network goes through the (here local, closed) Tor SOCKS port.
#[test]
fn bitcoind_starts_with_the_tor_only_settings() {
    let test = appended("pi4-mainnet", "  tor: { mode: tor-only }");
    let (docs, _) = render(&test, "openlsp.yaml");
    let conf = config(&docs, "bitcoind-config", "bitcoin.conf");
    assert_eq!(values(&conf, "proxy"), ["tor.openlsp.svc:9050"]);
    assert!(values(&conf, "onion").is_empty());
    let Some((knots, info, user, password)) = start_knots(&test, &docs) else {
        return;
    };
    assert_eq!(info["result"]["chain"], "main");
    let (status, body) = knots.call(&user, &password, "getnetworkinfo", "[]");
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    let proxies: Vec<(&str, &str)> = reply["result"]["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["proxy"].as_str().unwrap()))
        .filter(|(name, _)| ["ipv4", "ipv6", "onion"].contains(name))
        .collect();
    assert_eq!(proxies.len(), 3, "{body}");
    assert!(
        proxies
            .iter()
            .all(
                |(_, proxy)| (proxy.starts_with("127.0.0.1:") || proxy.starts_with("[::1]:"))
                    && *proxy == proxies[0].1
            ),
        "every network goes through the one SOCKS proxy: {proxies:?}"
    );
    let log = knots.stop(&user, &password);
    assert_started_cleanly(&log);
    common::assert_no_secrets(&log, &test.state_dir("home-pi"), "bitcoind's log");
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
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let rule = find(&docs, "PrometheusRule", "openlsp-alerts");
    let groups = serde_json::json!({ "groups": rule["spec"]["groups"] });
    test.write("rules.yaml", &serde_yaml::to_string(&groups).unwrap());
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
    let output = Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&path)
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
    assert_eq!(no_scrape.len(), 3, "one per scrape job: {no_scrape:?}");
    assert!(no_scrape.iter().all(
        |e| e.starts_with("absent_over_time(up{namespace=\"full-stack\"") && e.ends_with("[10m])")
    ));
}

/// Without lndmon nothing reports LND's chain sync, so the alert cannot exist: the plan says so.
#[test]
fn monitoring_without_lndmon_warns_that_lnd_sync_is_unwatched() {
    let test = edited("full-stack", "lndmon: true", "lndmon: false");
    let (docs, stderr) = render(&test, "openlsp.yaml");
    assert!(
        stderr.contains("warning: spec.monitoring.lndmon: off, so no alert fires when LND falls behind the chain"),
        "{stderr}"
    );
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
        "bitcoin_blocks",                   // chain sync: height
        "bitcoin_headers",                  // chain sync: headers
        "bitcoin_verification_progress",    // chain sync
        "lnd_chain_block_height",           // LND's view of the chain
        "bitcoin_peers",                    // peers
        "lnd_peer_count",                   // peers
        "bitcoin_mempool_size",             // mempool
        "lnd_channels_active_total",        // channels
        "lnd_channels_inactive_total",      // channels
        "lnd_channels_pending_total",       // channels
        "lnd_wallet_balance_confirmed_sat", // balances
        "lnd_channels_open_balance_sat",    // balances
        "node_filesystem_avail_bytes",      // disk free
    ] {
        assert!(exprs.contains(metric), "no panel shows {metric}");
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
    assert_eq!(selected.len(), 4, "three ServiceMonitors and the rules");
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
    assert_eq!(workloads, 5, "bitcoind, LND, Tor, the exporter and lndmon");
    assert!(
        memory_mib <= 6 * 1024,
        "the full stack needs {memory_mib} MiB; a Pi has 6 GiB for pods"
    );
}

/// Whether a Kubernetes label selector (`matchLabels` and `In` expressions) selects `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let wanted = selector["matchLabels"].as_object().unwrap();
    let labels_match = wanted.iter().all(|(key, value)| &labels[key] == value);
    let expressions_match = selector["matchExpressions"]
        .as_array()
        .is_none_or(|expressions| {
            expressions.iter().all(|expression| {
                assert_eq!(expression["operator"], "In", "{expression}");
                let values = expression["values"].as_array().unwrap();
                values.contains(&labels[expression["key"].as_str().unwrap()])
            })
        });
    labels_match && expressions_match
}

#[test]
fn only_the_sites_bitcoind_and_lnd_may_use_tors_socks_port() {
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let policy = find(&docs, "NetworkPolicy", "tor");
    let tor_pod = &find(&docs, "Deployment", "tor")["spec"]["template"];
    assert!(selects(
        &policy["spec"]["podSelector"],
        &tor_pod["metadata"]["labels"]
    ));
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        rules[0]["ports"],
        serde_json::json!([{ "port": "socks", "protocol": "TCP" }])
    );
    let socks_port = tor_pod["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|port| port["name"] == "socks")
        .expect("the tor container names its SOCKS port");
    assert_eq!(socks_port["containerPort"], 9050);
    let from = rules[0]["from"].as_array().unwrap();
    assert_eq!(from.len(), 1, "{from:?}");
    let clients = &from[0]["podSelector"];
    assert!(
        from[0].get("namespaceSelector").is_none(),
        "same namespace only"
    );

    // Every pod of the site: exactly bitcoind's and LND's may connect.
    let mut allowed = BTreeSet::new();
    let mut pods = 0;
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        if !["Deployment", "StatefulSet", "DaemonSet"].contains(&kind) {
            continue;
        }
        pods += 1;
        if selects(clients, &doc["spec"]["template"]["metadata"]["labels"]) {
            allowed.insert(format!(
                "{kind}/{}",
                doc["metadata"]["name"].as_str().unwrap()
            ));
        }
    }
    assert!(pods > 3, "the full stack has more pods than the nodes");
    assert_eq!(
        allowed,
        BTreeSet::from([
            "StatefulSet/bitcoind".to_owned(),
            "StatefulSet/lnd".to_owned()
        ])
    );
    // Another site's bitcoind in the same namespace is not this site's.
    let mut stranger =
        find(&docs, "StatefulSet", "bitcoind")["spec"]["template"]["metadata"]["labels"].clone();
    stranger["openlsp.io/site"] = Value::from("another-site");
    assert!(!selects(clients, &stranger));

    // Without Tor there is no policy: every_section_off_renders_only_the_nodes.
}

#[test]
fn hybrid_tor_only_and_off_configure_the_nodes_differently() {
    // Hybrid (the default): onion peers through Tor, clearnet direct.
    let test = Test::new().with_example("pi4-mainnet");
    let (docs, _) = render(&test, "pi4-mainnet.yaml");
    let bitcoin = config(&docs, "bitcoind-config", "bitcoin.conf");
    let lnd = config(&docs, "lnd-config", "lnd.conf");
    assert_eq!(values(&bitcoin, "onion"), ["tor.openlsp.svc:9050"]);
    assert!(values(&bitcoin, "proxy").is_empty());
    assert_eq!(
        values(&bitcoin, "bind")[..2],
        ["0.0.0.0:8333", "0.0.0.0:8334=onion"]
    );
    assert!(lnd.contains("tor.active=true\ntor.socks=tor.openlsp.svc:9050\ntor.skip-proxy-for-clearnet-targets=true\n"));
    assert!(!lnd.contains("tor.streamisolation"));
    assert!(
        values(&lnd, "tor.v3").is_empty(),
        "openlsp's Tor daemon serves the onion service"
    );

    // Tor-only: everything through Tor, no clearnet listener or port.
    let test = appended("pi4-mainnet", "  tor: { mode: tor-only }");
    let (docs, _) = render(&test, "openlsp.yaml");
    let bitcoin = config(&docs, "bitcoind-config", "bitcoin.conf");
    let lnd = config(&docs, "lnd-config", "lnd.conf");
    assert_eq!(values(&bitcoin, "proxy"), ["tor.openlsp.svc:9050"]);
    assert_eq!(values(&bitcoin, "bind"), ["0.0.0.0:8334=onion"]);
    assert!(lnd.contains("tor.streamisolation=true"));
    assert!(!lnd.contains("skip-proxy"));
    let externals = values(&lnd, "externalip");
    assert!(
        externals.len() == 1 && externals[0].ends_with(".onion:9735"),
        "{externals:?}"
    );
    let namespace = find(&docs, "Namespace", "openlsp");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    for name in ["bitcoind", "lnd"] {
        let ports =
            &find(&docs, "StatefulSet", name)["spec"]["template"]["spec"]["containers"][0]["ports"];
        assert!(
            ports
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["hostPort"].is_null()),
            "{name}"
        );
    }

    // Off: no Tor objects, no Tor settings.
    let test = appended("pi4-mainnet", "  tor: { mode: \"off\" }");
    let (docs, stderr) = render(&test, "openlsp.yaml");
    assert!(
        !stderr.contains("tor/"),
        "no onion key is generated: {stderr}"
    );
    assert!(
        docs.iter()
            .all(|d| !d["metadata"]["name"].as_str().unwrap().contains("onion"))
    );
    assert!(docs.iter().all(|d| d["metadata"]["name"] != "tor"));
    let bitcoin = config(&docs, "bitcoind-config", "bitcoin.conf");
    assert!(values(&bitcoin, "bind").is_empty() && !bitcoin.contains("onion"));
    assert!(!config(&docs, "lnd-config", "lnd.conf").contains("[tor]"));
}

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
    assert!(
        stderr.contains("\"9735\": \"full-stack/lnd-p2p:9735\"")
            && stderr.contains("\"8333\": \"full-stack/bitcoind-p2p:8333\"")
            && stderr.contains("nginx-ingress-tcp-microk8s-conf"),
        "{stderr}"
    );

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
    assert!(
        stderr.contains("warning: spec.lightning[0].ingress.rest: LND lnd's REST API at https://lnd.example.com is exposed publicly"),
        "{stderr}"
    );
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
    let warning = "spec.ingress.grafana: Grafana at https://grafana.example.com is public on clearnet, but spec.tor.mode is tor-only";
    let test = appended("pi4-mainnet", &sections("tor-only"));
    let (docs, stderr) = render(&test, "openlsp.yaml");
    assert!(stderr.contains(warning), "{stderr}");
    assert!(
        stderr.contains("port-forward -n observability svc/myprom-grafana 3000:80"),
        "{stderr}"
    );
    find(&docs, "Ingress", "openlsp-home-pi-grafana");
    let validate = test.run(["validate", "-p", "openlsp.yaml"]).expect(0);
    assert!(validate.stderr.contains(warning), "{}", validate.stderr);

    let test = appended("pi4-mainnet", &sections("hybrid"));
    let (_, stderr) = render(&test, "openlsp.yaml");
    assert!(!stderr.contains("spec.ingress.grafana"), "{stderr}");
}

/// With every section off, the stack adds nothing beyond the namespace's audit labels.
#[test]
fn every_section_off_renders_only_the_nodes() {
    let test = Test::new().with_example("regtest-playground");
    let (docs, stderr) = render(&test, "regtest-playground.yaml");
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for absent in [
        "Deployment",
        "NetworkPolicy",
        "Ingress",
        "ClusterIssuer",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(!kinds.contains(&absent), "{absent} rendered: {kinds:?}");
    }
    assert!(!stderr.contains("warning: spec."), "{stderr}");
    assert!(!config(&docs, "lnd-config", "lnd.conf").contains("[tor]"));
    assert!(!config(&docs, "bitcoind-config", "bitcoin.conf").contains("externalip"));
}

/// Onion keys and the exporter's password are secrets: generated once into the state dir,
/// private, and never printed.
#[test]
fn onion_keys_and_exporter_credentials_stay_in_the_state_dir() {
    let test = Test::new().with_example("full-stack");
    let first = test.run(["render", "-p", "full-stack.yaml"]).expect(0);
    let state = test.state_dir("full");
    for service in ["bitcoind-p2p", "lnd-p2p", "lnd-rpc"] {
        let key = state.join(format!("tor/{service}/hs_ed25519_secret_key"));
        let bytes = fs::read(&key).unwrap();
        assert_eq!(bytes.len(), 96);
        assert!(bytes.starts_with(b"== ed25519v1-secret: type0 ==\0\0\0"));
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(key.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
    assert!(
        state
            .join("bitcoin/bitcoind/rpc/openlsp_exporter/password")
            .exists()
    );
    let second = test.run(["render", "-p", "full-stack.yaml"]).expect(0);
    assert_eq!(first.stdout, second.stdout, "keys are generated once");
    assert!(!second.stderr.contains("generated"));
    common::assert_no_secrets(&first.all(), &state, "render");
    // The masked render hides the keys; --show-secrets is needed to see them.
    let docs = documents(&first.stdout);
    assert_eq!(
        find(&docs, "Secret", "lnd-rpc-onion")["data"]["hs_ed25519_secret_key"],
        "***"
    );
    assert_eq!(
        find(&docs, "Secret", "bitcoind-p2p-onion")["metadata"]["annotations"]["openlsp.io/data"],
        "true"
    );
    assert_eq!(
        find(&docs, "Secret", "bitcoind-exporter-rpc")["metadata"]["annotations"]["openlsp.io/data"],
        "true"
    );
}
