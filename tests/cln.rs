//! Core Lightning as openlsp renders it. No lightningd binary exists offline, so every option
//! openlsp gives lightningd (config file and command line) is checked against the options that
//! ElementsProject/lightning's doc/lightningd-config.5.md (tag v26.06.6) documents; the list
//! below holds the ones openlsp uses, each read in that document.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::{self, Test, config, find, render, values};

/// lightningd options openlsp renders, each documented in lightningd-config.5.md.
const DOCUMENTED: &[&str] = &[
    "network",
    "lightning-dir",
    "conf",
    "alias",
    "rgb",
    "bind-addr",
    "announce-addr",
    "proxy",
    "always-use-proxy",
    "bitcoin-rpcconnect",
    "bitcoin-rpcport",
    "bitcoin-rpcuser",
    "bitcoin-rpcpassword",
    "grpc-host",
    "grpc-port",
    "clnrest-host",
    "clnrest-port",
    "clnrest-protocol",
];

/// The keys of a lightningd config file: `key=value` or a bare `key`, comments and blank lines
/// aside.
fn config_keys(conf: &str) -> Vec<String> {
    conf.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_once('=').map_or(line, |(key, _)| key).to_owned())
        .collect()
}

/// The CLN StatefulSet's pod spec.
fn pod<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    &find(docs, "StatefulSet", name)["spec"]["template"]["spec"]
}

/// The `--option` names of lightningd's command and of lightning-cli's in the probes.
fn command_line_options(pod: &Value) -> Vec<String> {
    let mut options = Vec::new();
    let container = &pod["containers"][0];
    let commands = [
        &container["command"],
        &container["readinessProbe"]["exec"]["command"],
        &container["startupProbe"]["exec"]["command"],
    ];
    for command in commands {
        for arg in command.as_array().unwrap() {
            if let Some(option) = arg.as_str().unwrap().strip_prefix("--") {
                options.push(option.split_once('=').map_or(option, |(k, _)| k).to_owned());
            }
        }
    }
    options
}

/// The keys the config init container appends to the ConfigMap's file.
fn appended_keys(pod: &Value) -> Vec<String> {
    let init = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "config")
        .expect("a config init container");
    let script = init["command"][2].as_str().unwrap();
    script
        .split("printf '")
        .skip(1)
        .filter_map(|part| {
            part.split_once('=')
                .map(|(key, _)| key.trim_start_matches("\\n"))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_rendered_lightningd_option_is_documented() {
    let documented: BTreeSet<&str> = DOCUMENTED.iter().copied().collect();
    for tor in ["hybrid", "tor-only", "off"] {
        let test = if tor == "hybrid" {
            Test::new().with_example("cln-and-lnd")
        } else {
            let test = common::edited(
                "cln-and-lnd",
                "  networking:\n    ipv6: true\n    inbound: loadBalancer\n    externalIPs: [81.2.69.160, \"2a02:c207::1\"]",
                &format!("  tor: {{ mode: {tor} }}"),
            );
            // An API onion service needs Tor.
            let profile = std::fs::read_to_string(test.path().join("openlsp.yaml"))
                .unwrap()
                .replace("      onion: [rest, grpc]\n", "");
            test.write("openlsp.yaml", &profile);
            test
        };
        let profile = if tor == "hybrid" {
            "cln-and-lnd.yaml"
        } else {
            "openlsp.yaml"
        };
        let (docs, _) = render(&test, profile);
        let conf = config(&docs, "cln-config", "config");
        let pod = pod(&docs, "cln");
        let mut used = config_keys(&conf);
        used.extend(appended_keys(pod));
        used.extend(command_line_options(pod));
        assert!(used.contains(&"bitcoin-rpcpassword".to_owned()), "{used:?}");
        for key in &used {
            assert!(
                documented.contains(key.as_str()),
                "tor {tor}: lightningd option {key:?} is not in lightningd-config.5.md's list"
            );
        }
    }
}

#[test]
fn the_config_reaches_bitcoind_tor_and_peers_as_the_profile_says() {
    let test = Test::new().with_example("cln-and-lnd");
    let (docs, _) = render(&test, "cln-and-lnd.yaml");
    let conf = config(&docs, "cln-config", "config");
    assert_eq!(values(&conf, "network"), ["bitcoin"]);
    assert_eq!(values(&conf, "alias"), ["two-impls-cln"]);
    assert_eq!(values(&conf, "rgb"), ["ff9900"]);
    // Every interface, IPv4 and IPv6, on the P2P port.
    assert_eq!(values(&conf, "bind-addr"), [":9735"]);
    let announced = values(&conf, "announce-addr");
    assert_eq!(announced.len(), 3, "{announced:?}");
    assert!(announced[0].ends_with(".onion:9735"), "{announced:?}");
    assert_eq!(announced[1..], ["81.2.69.160:9735", "[2a02:c207::1]:9735"]);
    assert_eq!(values(&conf, "proxy"), ["tor.lightning.svc:9050"]);
    assert!(values(&conf, "always-use-proxy").is_empty(), "hybrid");
    assert_eq!(
        values(&conf, "bitcoin-rpcconnect"),
        ["bitcoind.lightning.svc"]
    );
    assert_eq!(values(&conf, "bitcoin-rpcport"), ["8332"]);
    assert_eq!(values(&conf, "bitcoin-rpcuser"), ["cln"]);
    assert!(values(&conf, "bitcoin-rpcpassword").is_empty());
    // Other pods reach clnrest and gRPC only if they listen beyond 127.0.0.1.
    assert_eq!(values(&conf, "clnrest-host"), ["0.0.0.0"]);
    assert_eq!(values(&conf, "grpc-host"), ["0.0.0.0"]);
    // CLN gets its own rpcauth user on bitcoind.
    let rpcauth = common::secret_value(&docs, "bitcoind-rpcauth", "rpcauth.conf");
    assert!(
        rpcauth.lines().any(|l| l.starts_with("rpcauth=cln:")),
        "{rpcauth}"
    );
    assert!(
        rpcauth.lines().any(|l| l.starts_with("rpcauth=lnd:")),
        "{rpcauth}"
    );
}

#[test]
fn tor_only_sets_the_proxy_before_always_use_proxy_and_announces_only_the_onion() {
    let test = common::edited(
        "cln-and-lnd",
        "  networking:\n    ipv6: true\n    inbound: loadBalancer\n    externalIPs: [81.2.69.160, \"2a02:c207::1\"]",
        "  tor: { mode: tor-only }",
    );
    let (docs, _) = render(&test, "openlsp.yaml");
    let conf = config(&docs, "cln-config", "config");
    let keys = config_keys(&conf);
    let proxy = keys.iter().position(|k| k == "proxy").unwrap();
    let always = keys.iter().position(|k| k == "always-use-proxy").unwrap();
    assert!(
        proxy < always,
        "lightningd resolves proxy= only before always-use-proxy"
    );
    assert_eq!(values(&conf, "always-use-proxy"), ["true"]);
    let announced = values(&conf, "announce-addr");
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert!(announced[0].ends_with(".onion:9735"));
}

#[test]
fn the_pod_writes_hsm_secret_only_when_absent_and_never_runs_the_image_entrypoint() {
    let test = Test::new().with_example("cln-and-lnd");
    let (docs, _) = render(&test, "cln-and-lnd.yaml");
    let pod = pod(&docs, "cln");
    let hsm = &pod["initContainers"][0];
    assert_eq!(hsm["name"], "hsm");
    let script = hsm["command"][2].as_str().unwrap();
    let check = script.find("checkhsm").unwrap();
    let generate = script.find("generatehsm").unwrap();
    assert!(
        script.find("if [ -e").unwrap() < check && check < generate,
        "{script}"
    );
    // The words reach hsmtool on stdin, from the mounted Secret.
    assert!(script.contains("cat /etc/cln/hsm/words"), "{script}");
    let words = common::secret_value(&docs, "cln-hsm", "words");
    assert_eq!(words.split(' ').count(), 12);
    let pod_text = pod.to_string();
    assert!(!pod_text.contains(&words));
    // The words are mounted in the hsm init container only.
    for container in pod["containers"].as_array().unwrap() {
        assert!(!container["volumeMounts"].to_string().contains("\"hsm\""));
    }
    let main = &pod["containers"][0];
    assert_eq!(main["command"][0], "lightningd");
    assert!(!pod_text.contains("EXPOSE_TCP"));
    assert!(!pod_text.contains("entrypoint"));
    // Ready when lightning-cli getinfo answers; alive unless lightningd is unreachable (exit 2).
    assert_eq!(main["readinessProbe"]["exec"]["command"][3], "getinfo");
    let liveness = main["livenessProbe"]["exec"]["command"][2]
        .as_str()
        .unwrap();
    assert!(liveness.ends_with("[ $? -ne 2 ]"), "{liveness}");
}

/// The final config as the pod's `config` init container composes it: its own script, run with
/// the mounted paths moved into `dir`.
fn compose_config(dir: &std::path::Path, docs: &[Value]) -> String {
    let pod = pod(docs, "cln");
    let init = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "config")
        .unwrap();
    for sub in ["config", "rpc", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("config/config"),
        config(docs, "cln-config", "config"),
    )
    .unwrap();
    std::fs::write(
        dir.join("rpc/password"),
        common::secret_value(docs, "cln-bitcoind-rpc", "password"),
    )
    .unwrap();
    let script = init["command"][2]
        .as_str()
        .unwrap()
        .replace("/etc/cln/config", dir.join("config").to_str().unwrap())
        .replace("/etc/cln/rpc", dir.join("rpc").to_str().unwrap())
        .replace("/run/cln", dir.join("run").to_str().unwrap());
    let status = std::process::Command::new("sh")
        .args(["-ec", &script])
        .status()
        .unwrap();
    assert!(status.success());
    let composed = dir.join("run/config");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&composed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the composed config is the owner's alone");
    std::fs::read_to_string(composed).unwrap()
}

/// The one value of `key` in a composed config.
fn one<'a>(conf: &'a str, key: &str) -> &'a str {
    let found = values(conf, key);
    assert_eq!(found.len(), 1, "{key}: {found:?}");
    found[0]
}

/// Runs bitcoin-cli the way CLN's bcli plugin (plugins/bcli.c, v26.06.6) does: `-rpcconnect`,
/// `-rpcport`, `-rpcuser` and the password on stdin (`-stdinrpcpass`), or as `-rpcpassword` the
/// way the issue spells it. Whether getblockchaininfo succeeded, and its output.
fn bcli(
    cli: &std::path::Path,
    port: u16,
    user: &str,
    password: &str,
    on_stdin: bool,
) -> (bool, String) {
    use std::io::Write;
    let mut args = vec![
        "-rpcclienttimeout=60".to_owned(),
        "-rpcconnect=127.0.0.1".to_owned(),
        format!("-rpcport={port}"),
        format!("-rpcuser={user}"),
    ];
    if on_stdin {
        args.push("-stdinrpcpass".to_owned());
    } else {
        args.push(format!("-rpcpassword={password}"));
    }
    args.push("getblockchaininfo".to_owned());
    let mut child = std::process::Command::new(cli)
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if on_stdin {
        writeln!(stdin, "{password}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_rendered_cln_credentials_authenticate_against_a_real_bitcoind_as_bcli_calls_it() {
    let Some(cli) = common::required_program("OPENLSP_TEST_BITCOIN_CLI", "CLN's bcli credentials")
    else {
        return;
    };
    let test = Test::new().with_example("cln-and-lnd");
    let (docs, _) = render(&test, "cln-and-lnd.yaml");
    let Some((knots, _, lnd_user, lnd_password)) = crate::bitcoind::start_knots(&test, &docs)
    else {
        return;
    };
    let conf = compose_config(&test.path().join("cln"), &docs);
    // What bcli is given: the Service of the profile's bitcoind, on the chain's RPC port.
    assert_eq!(one(&conf, "bitcoin-rpcconnect"), "bitcoind.lightning.svc");
    assert_eq!(one(&conf, "bitcoin-rpcport"), "8332");
    let user = one(&conf, "bitcoin-rpcuser");
    let password = one(&conf, "bitcoin-rpcpassword");
    assert_eq!(user, "cln");
    assert_ne!(password, lnd_password, "CLN has its own credential");
    for on_stdin in [true, false] {
        let (ok, output) = bcli(&cli, knots.rpc_port, user, password, on_stdin);
        assert!(ok, "stdin {on_stdin}: {output}");
        assert!(output.contains("\"chain\": \"main\""), "{output}");
        let wrong = format!("{password}x");
        let (ok, output) = bcli(&cli, knots.rpc_port, user, &wrong, on_stdin);
        assert!(
            !ok,
            "a wrong password is refused (stdin {on_stdin}): {output}"
        );
        assert!(
            output.contains("Incorrect rpcuser or rpcpassword"),
            "{output}"
        );
        // LND's password is not CLN's.
        let (ok, _) = bcli(&cli, knots.rpc_port, user, &lnd_password, on_stdin);
        assert!(!ok);
    }
    knots.stop(&lnd_user, &lnd_password);
}

/// The words are openlsp's, in the state dir: `secrets seed` shows where and, once confirmed,
/// prints them; `secrets list` has CLN's credential and seed; export and import carry them; and
/// nothing else prints a word or a password.
#[test]
fn the_words_are_shown_only_on_reveal_listed_and_carried_by_export_and_import() {
    let test = Test::new().with_example("cln-and-lnd");
    let profile = "cln-and-lnd.yaml";
    let render = test.run(["render", "-p", profile]).expect(0);
    let state = test.state_dir("two-impls");
    common::assert_no_secrets(&render.all(), &state, "render");
    let words = std::fs::read_to_string(state.join("lightning/cln/hsm-words")).unwrap();
    assert_eq!(words.split(' ').count(), 12);
    let first = words.split(' ').next().unwrap();

    let location = test
        .run(["secrets", "seed", "cln", "-p", profile])
        .expect(0);
    common::assert_no_secrets(&location.all(), &state, "secrets seed");
    assert!(location.stdout.contains("hsm-words"), "{}", location.stdout);
    let wrong = test.run([
        "secrets",
        "seed",
        "cln",
        "--reveal",
        "--confirm-node",
        "lnd",
        "-p",
        profile,
    ]);
    let wrong = wrong.expect(2);
    common::assert_no_secrets(&wrong.all(), &state, "an unconfirmed reveal");
    let shown = test
        .run([
            "secrets",
            "seed",
            "cln",
            "--reveal",
            "--confirm-node",
            "cln",
            "-p",
            profile,
        ])
        .expect(0);
    for (index, word) in words.split(' ').enumerate() {
        assert!(
            shown.stdout.contains(&format!("{:>3}. {word}", index + 1)),
            "{word}"
        );
    }
    let audit = std::fs::read_to_string(state.join("audit.log")).unwrap_or_default();
    assert!(audit.contains("seed of cln revealed"), "{audit}");

    let list = test
        .run(["secrets", "list", "--offline", "-p", profile])
        .expect(0);
    common::assert_no_secrets(&list.all(), &state, "secrets list");
    for (secret, kind) in [
        ("cln-bitcoind-rpc", "rpc"),
        ("cln-hsm", "seed"),
        ("cln-rpc", "runes"),
    ] {
        assert!(
            list.stdout
                .lines()
                .any(|l| l.contains(secret) && l.contains(kind)),
            "{secret} {kind}:\n{}",
            list.stdout
        );
    }
    assert!(!list.stdout.contains("cln-tls") && !list.stdout.contains("cln-wallet"));

    test.write("pass", "a long enough passphrase\n");
    let exported = test
        .run([
            "secrets",
            "export",
            "-p",
            profile,
            "--to",
            "site.export",
            "--passphrase-file",
            "pass",
        ])
        .expect(0);
    common::assert_no_secrets(&exported.all(), &state, "export");
    let exported_bytes = std::fs::read(test.path().join("site.export")).unwrap();
    assert!(
        !String::from_utf8_lossy(&exported_bytes).contains(first),
        "the export is encrypted"
    );
    let fresh = test.path().join("fresh");
    test.run([
        "secrets",
        "import",
        "-p",
        profile,
        "--from",
        "site.export",
        "--passphrase-file",
        "pass",
        "--state-dir",
        fresh.to_str().unwrap(),
    ])
    .expect(0);
    assert_eq!(
        std::fs::read_to_string(fresh.join("lightning/cln/hsm-words")).unwrap(),
        words
    );
}

/// During a rotation (phase 1, the previous credential kept beside the new one) bitcoind has
/// two rpcauth lines for CLN, as for LND, so the pod rolls without a moment refused.
#[test]
fn a_rotation_in_progress_gives_bitcoind_two_rpcauth_lines_for_cln() {
    let test = Test::new().with_example("cln-and-lnd");
    test.run(["render", "-p", "cln-and-lnd.yaml"]).expect(0);
    let dir = test.state_dir("two-impls").join("bitcoin/bitcoind/rpc/cln");
    std::fs::create_dir_all(dir.join("previous")).unwrap();
    for file in ["password", "salt"] {
        std::fs::copy(dir.join(file), dir.join("previous").join(file)).unwrap();
    }
    let (docs, _) = render(&test, "cln-and-lnd.yaml");
    let rpcauth = common::secret_value(&docs, "bitcoind-rpcauth", "rpcauth.conf");
    let cln_lines = rpcauth
        .lines()
        .filter(|l| l.starts_with("rpcauth=cln:"))
        .count();
    assert_eq!(cln_lines, 2, "{rpcauth}");
}

/// The runes and gRPC client certificates reach Secret `<cln>-rpc` through two sidecars: the
/// one with lightning-cli has no API token, the one with a token (lndinit) may only get and
/// update that Secret and the cluster copy of emergency.recover (which scb-publish, the other
/// container with a token, keeps), and lightningd itself has neither.
#[test]
fn only_the_publish_sidecars_have_a_token_and_they_may_write_only_their_secrets() {
    let test = Test::new().with_example("cln-and-lnd");
    let (docs, _) = render(&test, "cln-and-lnd.yaml");
    let pod = pod(&docs, "cln");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["serviceAccountName"], "cln-publish");
    let names: Vec<&str> = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["lightningd", "runes", "publish", "backup", "scb-publish"]
    );
    for container in pod["containers"].as_array().unwrap() {
        let mounts = container["volumeMounts"].to_string();
        let name = container["name"].as_str().unwrap();
        assert_eq!(
            mounts.contains("publish-token"),
            name == "publish" || name == "scb-publish",
            "{name}"
        );
    }
    let role = find(&docs, "Role", "cln-publish");
    assert_eq!(role["rules"].as_array().unwrap().len(), 1);
    assert_eq!(
        role["rules"][0]["resourceNames"],
        serde_json::json!(["cln-rpc", "cln-scb"])
    );
    assert_eq!(
        role["rules"][0]["verbs"],
        serde_json::json!(["get", "update", "patch"])
    );
    // openlsp creates both Secrets empty, as data: prune keeps them, the sidecars fill them.
    for name in ["cln-rpc", "cln-scb"] {
        let secret = find(&docs, "Secret", name);
        assert!(secret["data"].is_null(), "{secret}");
        assert_eq!(secret["metadata"]["annotations"]["openlsp.io/data"], "true");
    }
    let runes = pod["containers"][1]["command"][2].as_str().unwrap();
    assert!(
        runes.contains("createrune restrictions=readonly"),
        "{runes}"
    );
    assert!(
        runes.contains("if [ ! -s \"$store/$admin_rune\" ]"),
        "once: {runes}"
    );
}

/// emergency.recover, beside hsm_secret, joins the channel backup: copied to the profile's
/// targets by the backup container, which mounts the node's volume read-only.
#[test]
fn emergency_recover_is_backed_up_to_the_targets_and_the_cluster_copy() {
    let test = Test::new().with_example("cln-and-lnd");
    let (docs, _) = render(&test, "cln-and-lnd.yaml");
    let conf = config(&docs, "cln-backup", "backup.conf");
    assert_eq!(
        values_space(&conf, "source"),
        ["/data/bitcoin/emergency.recover"]
    );
    assert_eq!(
        values_space(&conf, "target"),
        ["usb /backup/usb/two-impls/cln -"]
    );
    let pod = pod(&docs, "cln");
    let backup = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "backup")
        .unwrap();
    let data = backup["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "data")
        .unwrap();
    assert_eq!(data["readOnly"], true);
}

/// Lines of a space-separated config that start with `key `, without the key.
fn values_space<'a>(conf: &'a str, key: &str) -> Vec<&'a str> {
    conf.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
        .collect()
}

/// The Pi profile with its node switched to Core Lightning: one CLN on the machine takes P2P on
/// a host port, fits a 4 GiB Pi beside bitcoind and Tor, and an API named under `ingress` is
/// published at clnrest's port, HTTPS to the backend, with the plan's warning.
#[test]
fn a_pi_runs_cln_with_a_host_port_and_publishes_clnrest_by_name() {
    let test = common::edited(
        "pi4-mainnet",
        "    - name: lnd\n      bitcoin: bitcoind",
        "    - name: lnd\n      implementation: cln\n      bitcoin: bitcoind\n      ingress: { rest: ln.example.com }",
    );
    let profile = std::fs::read_to_string(test.path().join("openlsp.yaml"))
        .unwrap()
        .replace("memory: 8Gi", "memory: 4Gi")
        + "  ingress: { email: ops@example.com }\n";
    test.write("openlsp.yaml", &profile);
    let (docs, stderr) = render(&test, "openlsp.yaml");
    let pod = pod(&docs, "lnd");
    let p2p = &pod["containers"][0]["ports"][0];
    assert_eq!(p2p["name"], "p2p");
    assert_eq!(p2p["hostPort"], 9735);
    assert_eq!(pod["containers"][0]["command"][0], "lightningd");
    let ingress = find(&docs, "Ingress", "lnd-rest");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"],
        3010
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"],
        "HTTPS"
    );
    assert!(
        stderr.contains("CLN lnd's REST API at https://ln.example.com is exposed publicly"),
        "{stderr}"
    );
    let policy = find(&docs, "NetworkPolicy", "lnd").to_string();
    assert!(policy.contains("\"port\":3010"), "{policy}");
}
