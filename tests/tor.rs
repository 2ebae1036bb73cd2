//! The Tor side of the stack without a cluster: the real `tor` checks every rendered torrc and
//! serves openlsp's onion keys, laid out by the pod's own copy-keys.sh, under the addresses
//! openlsp computed; the real bitcoind starts with the tor-only settings; the three Tor modes
//! configure the nodes differently; only the site's nodes may use Tor's SOCKS port; and the onion
//! keys stay in the state dir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::bitcoind::{assert_started_cleanly, start_knots};
use crate::common::{
    self, Daemon, Test, appended, config, documents, find, free_port, render, values,
};
use crate::network_policy::{Site, selects};

fn decoded(document: &Value, key: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(document["data"][key].as_str().unwrap())
        .unwrap()
}

/// The rendered torrc made runnable here: the pod's state emptyDir (/var/lib/tor) at `state`,
/// cluster Service names replaced by the host name `localhost` (Tor resolves HiddenServicePort
/// targets when it starts, so the name form the pod uses is still parsed and resolved), a free
/// SOCKS port, no network.
pub(crate) fn local_torrc(torrc: &str, state: &Path) -> String {
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
pub(crate) fn run_copy_keys(docs: &[Value], root: &Path) -> Vec<String> {
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

/// The check of the key format and the address, through the pod's own key copying:
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
    assert_eq!(
        services,
        ["bitcoind-p2p", "lnd-p2p", "lnd-rpc", "thunderhub"]
    );
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
    common::wait_for(
        "tor to write the hostname files",
        Duration::from_secs(120),
        || {
            if services.iter().all(|s| hostname(s).is_ok()) {
                Ok(())
            } else {
                Err(fs::read_to_string(root.join("tor.log")).unwrap_or_default())
            }
        },
    );
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

/// Core Lightning announces, as `announce-addr`, the onion address the real Tor serves for the
/// key openlsp rendered, and its API onion service forwards clnrest and cln-grpc.
#[test]
fn cln_announces_the_onion_tor_derives_from_its_key() {
    let Some(tor) = common::required_program("OPENLSP_TEST_TOR", "CLN's onion address") else {
        return;
    };
    let test = Test::new().with_example("cln-and-lnd");
    let (docs, _) = render(&test, "cln-and-lnd.yaml");
    let (_tor, services, hostname) = serve_onions(&tor, &test, &docs, "cln-p2p");
    assert_eq!(services, ["bitcoind-p2p", "cln-p2p", "cln-rpc", "lnd-p2p"]);
    let cln_conf = config(&docs, "cln-config", "config");
    let announced = values(&cln_conf, "announce-addr")
        .into_iter()
        .find_map(|v| v.strip_suffix(":9735").filter(|h| h.ends_with(".onion")))
        .expect("CLN announces its onion address");
    assert_eq!(hostname, announced);
    assert_eq!(announced.len(), 56 + ".onion".len());
    let torrc = config(&docs, "tor-config", "torrc");
    assert!(torrc.contains("HiddenServicePort 9735 cln.lightning.svc:9735"));
    assert!(torrc.contains("HiddenServicePort 3010 cln.lightning.svc:3010"));
    assert!(torrc.contains("HiddenServicePort 9736 cln.lightning.svc:9736"));
}

/// Runs the real Tor in `test` with the rendered torrc and the keys laid out by the pod's
/// copy-keys.sh, and waits until it wrote `service`'s hostname: the daemon, every onion service
/// and that hostname.
pub(crate) fn serve_onions(
    tor: &Path,
    test: &Test,
    docs: &[Value],
    service: &str,
) -> (Daemon, Vec<String>, String) {
    let root = test.path().join("tor");
    let services = run_copy_keys(docs, &root);
    let state = root.join("state");
    let torrc = local_torrc(&config(docs, "tor-config", "torrc"), &state);
    test.write("tor/torrc", &torrc);
    let log = fs::File::create(root.join("tor.log")).unwrap();
    let daemon = Daemon(
        Command::new(tor)
            .arg("-f")
            .arg(root.join("torrc"))
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let hostname = common::wait_for(
        &format!("tor to write {service}'s hostname"),
        Duration::from_secs(120),
        || {
            fs::read_to_string(state.join("hs").join(service).join("hostname"))
                .map(|name| name.trim().to_owned())
                .map_err(|_| fs::read_to_string(root.join("tor.log")).unwrap_or_default())
        },
    );
    (daemon, services, hostname)
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
fn only_the_sites_bitcoind_and_lnd_may_use_tors_socks_port() {
    let test = Test::new().with_example("full-stack");
    let (docs, _) = render(&test, "full-stack.yaml");
    let tor_pod = &find(&docs, "Deployment", "tor")["spec"]["template"];
    let socks_port = tor_pod["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|port| port["name"] == "socks")
        .expect("the tor container names its SOCKS port");
    assert_eq!(socks_port["containerPort"], 9050);
    let policy = find(&docs, "NetworkPolicy", "tor");
    assert!(selects(
        &policy["spec"]["podSelector"],
        &tor_pod["metadata"]["labels"]
    ));

    // Every pod of the site and every stand-in around it (tests/network_policy.rs): exactly
    // bitcoind's and LND's may connect.
    let site = Site::new(docs.clone(), "observability", "ingress");
    let to_tor: Vec<String> = site
        .allowed()
        .into_iter()
        .filter(|line| line.starts_with("tor:"))
        .collect();
    assert!(
        site.endpoints.len() > 8,
        "the full stack has more pods than the nodes"
    );
    assert_eq!(to_tor, ["tor:9050 <- bitcoind, lnd"]);
    // Another site's bitcoind in the same namespace is not this site's.
    let mut stranger =
        find(&docs, "StatefulSet", "bitcoind")["spec"]["template"]["metadata"]["labels"].clone();
    stranger["openlsp.io/site"] = Value::from("another-site");
    let from = policy["spec"]["ingress"][0]["from"].as_array().unwrap();
    assert_eq!(from.len(), 2, "{from:?}");
    assert!(
        from.iter()
            .all(|peer| !selects(&peer["podSelector"], &stranger))
    );

    // Without Tor there is no policy: every_section_off_renders_only_the_nodes.
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
