//! A real bitcoind (Bitcoin Knots) started the way the rendered pod starts it: the same
//! bitcoin.conf, rpcauth file and arguments, with only the datadir, ports and bind/allow
//! addresses (and the Tor proxy's host) changed. LND's credentials, read from the lnd.conf its
//! pod composes (the init container's own script), must authenticate; a wrong password must
//! not. Knots is shared with monitoring.rs (the exporter's whitelist, the headers container) and
//! tor.rs (tor-only mode).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::common::{self, Daemon, Test, documents, find, free_port, secret_value};

/// One JSON-RPC call without parameters; returns the status code and body.
fn rpc(port: u16, user: &str, password: &str, method: &str) -> std::io::Result<(u16, String)> {
    request(port, user, password, method, "[]")
}

/// One JSON-RPC call with HTTP basic auth and `params` (a JSON array); returns the status code
/// and body.
fn request(
    port: u16,
    user: &str,
    password: &str,
    method: &str,
    params: &str,
) -> std::io::Result<(u16, String)> {
    let body =
        format!(r#"{{"jsonrpc":"1.0","id":"openlsp-test","method":"{method}","params":{params}}}"#);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The pod's bitcoin.conf with only ports and bind/allow addresses changed, and the Tor
/// proxy (a cluster Service name) pointed at a closed local port by the host name `localhost`,
/// so bitcoind still parses and resolves a name there as in the pod (`bind=` takes only IPs):
/// it connects only when it makes an outbound connection, which the test forbids.
fn localize(
    conf: &str,
    rpcauth_dir: &Path,
    rpc_port: u16,
    p2p_port: u16,
    whitebind_port: u16,
) -> String {
    let mut allow_written = false;
    let mut out = Vec::new();
    for line in conf.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let replaced = match key {
            "onion" | "proxy" => {
                assert!(
                    value.contains(".svc:"),
                    "the pod's proxy is a Service: {line}"
                );
                Some(format!("{key}=localhost:{}", free_port()))
            }
            "bind" if value.ends_with("=onion") => {
                Some(format!("bind=127.0.0.1:{}=onion", free_port()))
            }
            "bind" if value.starts_with("[::]") => Some(format!("bind=[::1]:{p2p_port}")),
            "bind" => Some(format!("bind=127.0.0.1:{p2p_port}")),
            // NBXplorer's listener: the same permissions on a loopback port.
            "whitebind" => {
                let (permissions, _) = value.split_once('@').unwrap();
                Some(format!(
                    "whitebind={permissions}@127.0.0.1:{whitebind_port}"
                ))
            }
            "includeconf" => Some(format!(
                "includeconf={}",
                value.replace("/etc/bitcoin/rpcauth", rpcauth_dir.to_str().unwrap())
            )),
            "port" => Some(format!("port={p2p_port}")),
            "rpcport" => Some(format!("rpcport={rpc_port}")),
            "rpcbind" => Some("rpcbind=127.0.0.1".to_owned()),
            "rpcallowip" if allow_written => continue,
            "rpcallowip" => {
                allow_written = true;
                Some("rpcallowip=127.0.0.1/32".to_owned())
            }
            "zmqpubrawblock" | "zmqpubrawtx" => {
                Some(format!("{key}=tcp://127.0.0.1:{}", free_port()))
            }
            _ => None,
        };
        out.push(replaced.unwrap_or_else(|| line.to_owned()));
    }
    out.join("\n") + "\n"
}

fn wait_for_rpc(port: u16, user: &str, password: &str, log: &Path) -> Value {
    common::wait_for(
        "bitcoind to answer RPC",
        Duration::from_secs(180),
        || match rpc(port, user, password, "getblockchaininfo") {
            Ok((200, body)) => Ok(serde_json::from_str(&body).unwrap()),
            _ => Err(format!(
                "its log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            )),
        },
    )
}

/// A real bitcoind started from rendered documents the way their pod would start it.
pub struct Knots {
    daemon: Daemon,
    pub rpc_port: u16,
    /// The loopback port of a rendered `whitebind`, if the config has one.
    pub whitebind_port: u16,
    pub log: PathBuf,
}

impl Knots {
    /// Starts bitcoind from `docs` (a `render --show-secrets`) in `dir`, and waits until it
    /// answers RPC for `user`/`password`. None (after printing why) without a bitcoind.
    pub fn start(dir: &Path, docs: &[Value], user: &str, password: &str) -> Option<(Knots, Value)> {
        let bitcoind = common::required_program(
            "OPENLSP_TEST_BITCOIND",
            "bitcoind accepts the rendered config",
        )?;
        let conf = find(docs, "ConfigMap", "bitcoind-config")["data"]["bitcoin.conf"]
            .as_str()
            .unwrap()
            .to_owned();
        let rpcauth = secret_value(docs, "bitcoind-rpcauth", "rpcauth.conf");
        let container =
            &find(docs, "StatefulSet", "bitcoind")["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"][0], "bitcoind");
        let (config_dir, rpcauth_dir, data_dir): (PathBuf, PathBuf, PathBuf) =
            (dir.join("config"), dir.join("rpcauth"), dir.join("data"));
        for dir in [&config_dir, &rpcauth_dir, &data_dir] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(rpcauth_dir.join("rpcauth.conf"), &rpcauth).unwrap();
        let (rpc_port, p2p_port, whitebind_port) = (free_port(), free_port(), free_port());
        fs::write(
            config_dir.join("bitcoin.conf"),
            localize(&conf, &rpcauth_dir, rpc_port, p2p_port, whitebind_port),
        )
        .unwrap();
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| {
                arg.as_str()
                    .unwrap()
                    .replace("/etc/bitcoin/config", config_dir.to_str().unwrap())
                    .replace(
                        "-datadir=/data",
                        &format!("-datadir={}", data_dir.display()),
                    )
            })
            .collect();
        assert!(args.iter().any(|a| a.starts_with("-conf=")), "{args:?}");
        let log = dir.join("stdout.log");
        let daemon = Daemon(
            Command::new(&bitcoind)
                .args(&args)
                .args(["-connect=0", "-dnsseed=0", "-listenonion=0"])
                .stdout(fs::File::create(&log).unwrap())
                .stderr(fs::File::create(dir.join("stderr.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let info = wait_for_rpc(rpc_port, user, password, &log);
        Some((
            Knots {
                daemon,
                rpc_port,
                whitebind_port,
                log,
            },
            info,
        ))
    }

    /// One RPC call with these credentials and `params` (a JSON array): status and body.
    pub fn call(&self, user: &str, password: &str, method: &str, params: &str) -> (u16, String) {
        request(self.rpc_port, user, password, method, params).unwrap()
    }

    /// The HTTP status of an RPC call with these credentials.
    pub fn status(&self, user: &str, password: &str) -> u16 {
        rpc(self.rpc_port, user, password, "getblockchaininfo")
            .unwrap()
            .0
    }

    /// Stops bitcoind over RPC and returns its log.
    pub fn stop(mut self, user: &str, password: &str) -> String {
        let (status, _) = rpc(self.rpc_port, user, password, "stop").unwrap();
        assert_eq!(status, 200);
        common::wait_for("bitcoind to stop", Duration::from_secs(120), || match self
            .daemon
            .0
            .try_wait()
            .unwrap()
        {
            Some(_) => Ok(()),
            None => Err(fs::read_to_string(&self.log).unwrap_or_default()),
        });
        fs::read_to_string(&self.log).unwrap()
    }
}

/// A real bitcoind from `docs` in the test's directory, waited for with LND's (unrestricted) RPC
/// user: the node, its getblockchaininfo, and that user and password. None without a bitcoind.
pub fn start_knots(test: &Test, docs: &[Value]) -> Option<(Knots, Value, String, String)> {
    let user = secret_value(docs, "lnd-bitcoind-rpc", "username");
    let password = secret_value(docs, "lnd-bitcoind-rpc", "password");
    let (knots, info) = Knots::start(&test.path().join("bitcoind"), docs, &user, &password)?;
    Some((knots, info, user, password))
}

/// Starts bitcoind with `profile`'s rendered config, checks the Lightning node's credentials,
/// runs `more` while it is up (with the RPC port and the rendered documents), and stops it.
fn check_profile(profile: &str, chain: &str, more: impl FnOnce(u16, &[Value])) {
    let test = Test::new().with_example(profile);
    let output = test
        .run(["render", "--show-secrets", "-p", &format!("{profile}.yaml")])
        .expect(0);
    let docs = documents(&output.stdout);
    // The credentials LND uses: from the lnd.conf its pod composes, as LND would read them.
    let conf = fs::read_to_string(compose_lnd_conf(test.path(), &docs, "lnd")).unwrap();
    let user = lnd_conf_value(&conf, "bitcoind.rpcuser");
    let password = lnd_conf_value(&conf, "bitcoind.rpcpass");
    assert_eq!(user, secret_value(&docs, "lnd-bitcoind-rpc", "username"));
    let Some((knots, info)) = Knots::start(&test.path().join("bitcoind"), &docs, &user, &password)
    else {
        return;
    };
    assert_eq!(info["result"]["chain"], chain);
    if profile == "regtest-playground" {
        assert_eq!(info["result"]["pruned"], true);
    }
    assert_eq!(
        knots.status(&user, "wrong-password"),
        401,
        "a wrong password must be rejected"
    );
    assert_eq!(
        knots.status("nobody", &password),
        401,
        "an unknown user must be rejected"
    );
    run_readiness_probe(&docs, &test.path().join("bitcoind/data"), knots.rpc_port);
    more(knots.rpc_port, &docs);
    let text = knots.stop(&user, &password);
    assert_started_cleanly(&text);
    common::assert_no_secrets(&text, &test.state_dir(&site_of(profile)), "bitcoind's log");
}

/// Runs bitcoind's rendered readiness probe (bitcoin-cli with the cookie in the datadir) as the
/// kubelet would, with only the datadir and RPC port moved, and checks it answers a height.
fn run_readiness_probe(docs: &[Value], data_dir: &Path, rpc_port: u16) {
    let Some(cli) = common::required_program("OPENLSP_TEST_BITCOIN_CLI", "bitcoind's probe") else {
        return;
    };
    let container =
        &find(docs, "StatefulSet", "bitcoind")["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<String> = container["readinessProbe"]["exec"]["command"]
        .as_array()
        .expect("bitcoind's readiness probe runs a command")
        .iter()
        .map(|arg| arg.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(command[0], "bitcoin-cli");
    let args: Vec<String> = command[1..]
        .iter()
        .map(|arg| match arg.split_once('=') {
            Some(("-datadir", "/data")) => format!("-datadir={}", data_dir.display()),
            Some(("-rpcport", _)) => format!("-rpcport={rpc_port}"),
            _ => arg.clone(),
        })
        .collect();
    let output = Command::new(&cli).args(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the readiness probe fails: {args:?}\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.trim().parse::<u64>().is_ok(),
        "not a height: {stdout}"
    );
}

/// bitcoind's log shows a finished start that took every rendered key where it stands.
pub fn assert_started_cleanly(log: &str) {
    assert!(
        log.contains("init message: Done loading"),
        "bitcoind did not finish starting:\n{log}"
    );
    assert!(
        !log.contains("Ignoring unknown configuration value"),
        "bitcoind rejects a rendered key:\n{log}"
    );
    assert!(
        !log.contains("only applied on"),
        "a network-only option sits outside its section:\n{log}"
    );
}

/// Runs the `config` init container's script of LND `lnd` as rendered, with its mount paths
/// moved under `dir`, and returns the lnd.conf it composed.
pub fn compose_lnd_conf(dir: &Path, docs: &[Value], lnd: &str) -> PathBuf {
    let pod = &find(docs, "StatefulSet", lnd)["spec"]["template"]["spec"];
    let init = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "config")
        .expect("LND's pod composes its config in an init container");
    assert_eq!(init["command"][0], "sh");
    common::compose_config(
        dir,
        docs,
        lnd,
        &[
            (
                "/etc/lnd/config/lnd.conf",
                find(docs, "ConfigMap", &format!("{lnd}-config"))["data"]["lnd.conf"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            (
                "/etc/lnd/rpc/password",
                secret_value(docs, &format!("{lnd}-bitcoind-rpc"), "password"),
            ),
        ],
        "/run/lnd/lnd.conf",
    )
}

/// `key`'s last value in an lnd.conf (go-flags keeps the last one of a single-valued option).
fn lnd_conf_value(conf: &str, key: &str) -> String {
    conf.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("lnd.conf has no {key}"))
        .to_owned()
}

fn site_of(profile: &str) -> String {
    let text = fs::read_to_string(
        common::repo_root()
            .join("profiles")
            .join(format!("{profile}.yaml")),
    )
    .unwrap();
    let value: Value = serde_yaml::from_str(&text).unwrap();
    value["metadata"]["name"].as_str().unwrap().to_owned()
}

#[test]
fn regtest_bitcoind_accepts_the_rendered_config_and_credentials() {
    check_profile("regtest-playground", "regtest", |_, _| {});
}

#[test]
fn mainnet_bitcoind_accepts_the_rendered_config_and_credentials() {
    check_profile("pi4-mainnet", "main", |_, _| {});
}

/// full-stack: Tor in hybrid mode, with IPv6 binds. The exporter's whitelist and tor-only mode
/// are checked in monitoring.rs and tor.rs.
#[test]
fn bitcoind_takes_the_hybrid_tor_settings() {
    check_profile("full-stack", "main", |_, docs| {
        let conf = find(docs, "ConfigMap", "bitcoind-config")["data"]["bitcoin.conf"]
            .as_str()
            .unwrap()
            .to_owned();
        for key in ["onion=", "listenonion=0", "bind=[::]:8333", "=onion"] {
            assert!(conf.contains(key), "bitcoin.conf lacks {key}:\n{conf}");
        }
    });
}
