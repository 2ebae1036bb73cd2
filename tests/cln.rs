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
