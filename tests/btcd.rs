//! btcd and LND on btcd as rendered: every btcd.conf key is one btcd has, every LND btcd key
//! one LND has, the password reaches both only through the init containers, LND trusts btcd's
//! certificate (openlsp's in `btcd.rawrpccert`, cert-manager's CA mounted), and that
//! certificate is P-256 for the Service's names.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{self, Test, edited, find, render, secret_value, values};

/// btcd's options: every `long:` tag of `type config struct` in btcsuite/btcd v0.26.0
/// config.go (280d4d2db6400136f284f121189d9c2942425a78), which sample-btcd.conf's keys are a
/// part of.
const BTCD_OPTIONS: &[&str] = &[
    "addcheckpoint",
    "addpeer",
    "addrindex",
    "agentblacklist",
    "agentwhitelist",
    "banduration",
    "banthreshold",
    "blockmaxsize",
    "blockmaxweight",
    "blockminsize",
    "blockminweight",
    "blockprioritysize",
    "blocksonly",
    "configfile",
    "connect",
    "cpuprofile",
    "datadir",
    "dbtype",
    "debuglevel",
    "dropaddrindex",
    "dropcfindex",
    "droptxindex",
    "externalip",
    "generate",
    "limitfreerelay",
    "listen",
    "logdir",
    "maxorphantx",
    "maxpeers",
    "memprofile",
    "miningaddr",
    "minrelaytxfee",
    "nobanning",
    "nocfilters",
    "nocheckpoints",
    "nodnsseed",
    "nolisten",
    "noonion",
    "nopeerbloomfilters",
    "norelaypriority",
    "norpc",
    "nostalldetect",
    "notls",
    "nowinservice",
    "onion",
    "onionpass",
    "onionuser",
    "profile",
    "proxy",
    "proxypass",
    "proxyuser",
    "prune",
    "regtest",
    "rejectnonstd",
    "rejectreplacement",
    "relaynonstd",
    "rpccert",
    "rpckey",
    "rpclimitpass",
    "rpclimituser",
    "rpclisten",
    "rpcmaxclients",
    "rpcmaxconcurrentreqs",
    "rpcmaxwebsockets",
    "rpcpass",
    "rpcquirks",
    "rpcuser",
    "service",
    "sigcachemaxsize",
    "signet",
    "signetchallenge",
    "signetseednode",
    "simnet",
    "testnet",
    "testnet4",
    "torisolation",
    "traceprofile",
    "trickleinterval",
    "txindex",
    "uacomment",
    "upnp",
    "utxocachemaxsize",
    "v2transport",
    "version",
    "whitelist",
];

/// LND's `[Btcd]` options: lncfg/btcd.go's `Btcd` struct under the `btcd` namespace, the same
/// in lnd v0.19.3, v0.20.0 and v0.21.2 (sample-lnd.conf's `[btcd]` section).
const LND_BTCD_OPTIONS: &[&str] = &[
    "btcd.dir",
    "btcd.rpchost",
    "btcd.rpcuser",
    "btcd.rpcpass",
    "btcd.rpccert",
    "btcd.rawrpccert",
];

/// simnet-kiln with openlsp's own certificate for btcd instead of cert-manager's.
fn own_tls() -> Test {
    edited("simnet-kiln", "      tls: { issuer: btcd-ca }\n", "")
}

/// Keys of an INI-style config, with their values, comments and sections left out.
fn keys(conf: &str) -> Vec<&str> {
    conf.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with([';', '#', '[']))
        .map(|line| line.split_once('=').expect("key=value").0)
        .collect()
}

#[test]
fn btcd_conf_has_only_btcds_keys_and_its_password_only_in_memory() {
    let test = own_tls();
    let (docs, _) = render(&test, "openlsp.yaml");
    let configmap = common::config(&docs, "btcd-config", "btcd.conf");
    let password = secret_value(&docs, "btcd-rpcpass", "password");
    assert!(
        !configmap.contains(&password),
        "the ConfigMap holds no password"
    );
    let composed = common::compose_config(
        test.path(),
        &docs,
        "btcd",
        &[
            ("/etc/btcd/config/btcd.conf", configmap.clone()),
            ("/etc/btcd/rpc/password", password.clone()),
        ],
        "/run/btcd/btcd.conf",
    );
    let text = fs::read_to_string(&composed).unwrap();
    let mode = fs::metadata(&composed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the composed btcd.conf must be private");
    assert!(
        text.starts_with(&configmap),
        "the ConfigMap's btcd.conf first, unchanged"
    );
    assert!(text.starts_with("; btcd.conf") && text.contains("\n[Application Options]\n"));
    for key in keys(&text) {
        assert!(BTCD_OPTIONS.contains(&key), "btcd has no option {key:?}");
    }
    assert_eq!(values(&text, "rpcpass"), [password.as_str()]);
    assert_eq!(
        values(&text, "simnet"),
        ["1"],
        "booleans as sample-btcd.conf writes them"
    );
    assert_eq!(
        values(&text, "rpclisten"),
        ["0.0.0.0:18556"],
        "btcd's simnet RPC port"
    );
    assert_eq!(values(&text, "listen"), ["0.0.0.0:18555"]);
    assert_eq!(values(&text, "rpccert"), ["/etc/btcd/tls/tls.crt"]);
    assert_eq!(values(&text, "rpckey"), ["/etc/btcd/tls/tls.key"]);
    assert_eq!(values(&text, "rpcuser"), ["openlsp_btcd"]);
    assert!(
        values(&text, "notls").is_empty(),
        "TLS stays on: LND dials it"
    );

    let pod = &find(&docs, "StatefulSet", "btcd")["spec"]["template"]["spec"];
    let btcd = &pod["containers"][0];
    let start = btcd["command"][2].as_str().unwrap();
    assert!(
        start.contains("--configfile=/run/btcd/btcd.conf"),
        "btcd reads no config on simnet unless it is named: {start}"
    );
    let mounts = btcd["volumeMounts"].to_string();
    assert!(mounts.contains("/run/btcd") && mounts.contains("/etc/btcd/tls"));
    assert!(
        !mounts.contains("/etc/btcd/rpc"),
        "btcd itself never mounts the password file"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(btcd["securityContext"]["readOnlyRootFilesystem"], true);
    common::assert_no_secrets(
        &format!("{}{}", btcd["command"], btcd["env"]),
        &test.state_dir("kiln"),
        "btcd's command and env",
    );
}

#[test]
fn lnd_on_btcd_uses_lnds_btcd_keys_and_trusts_openlsps_certificate() {
    let test = own_tls();
    let (docs, _) = render(&test, "openlsp.yaml");
    let password = secret_value(&docs, "btcd-rpcpass", "password");
    let raw = secret_value(&docs, "lnd-btcd-rpc", "rawrpccert");
    assert_eq!(secret_value(&docs, "lnd-btcd-rpc", "password"), password);
    let composed = common::compose_config(
        test.path(),
        &docs,
        "lnd",
        &[
            (
                "/etc/lnd/config/lnd.conf",
                common::config(&docs, "lnd-config", "lnd.conf"),
            ),
            ("/etc/lnd/rpc/password", password.clone()),
            ("/etc/lnd/rpc/rawrpccert", raw.clone()),
        ],
        "/run/lnd/lnd.conf",
    );
    let text = fs::read_to_string(&composed).unwrap();
    assert_eq!(values(&text, "bitcoin.node"), ["btcd"]);
    assert_eq!(values(&text, "bitcoin.simnet"), ["true"]);
    let mut section = "";
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if line.starts_with("btcd.") {
            assert_eq!(section, "[Btcd]", "{line}");
            let key = line.split_once('=').unwrap().0;
            assert!(LND_BTCD_OPTIONS.contains(&key), "LND has no option {key:?}");
        }
        assert!(
            !line.starts_with("bitcoind."),
            "no bitcoind keys on btcd: {line}"
        );
    }
    assert_eq!(values(&text, "btcd.rpcpass"), [password.as_str()]);
    assert_eq!(values(&text, "btcd.rpcuser"), ["openlsp_btcd"]);
    let host = values(&text, "btcd.rpchost")[0].to_owned();
    assert_eq!(host, "btcd.kiln.svc:18556");
    // rawrpccert is hex of the PEM bytes (lnd chainreg: hex.DecodeString), btcd's own certificate.
    let pem = String::from_utf8(hex::decode(values(&text, "btcd.rawrpccert")[0]).unwrap()).unwrap();
    assert_eq!(pem, secret_value(&docs, "btcd-rpc-tls", "tls.crt"));
    assert!(common::tls_names(&pem).contains(&"btcd.kiln.svc".to_owned()));
    assert!(
        !common::config(&docs, "lnd-config", "lnd.conf").contains("rpcpass"),
        "LND's ConfigMap holds no password"
    );
    let lnd = &find(&docs, "StatefulSet", "lnd")["spec"]["template"]["spec"]["containers"][0];
    assert!(!lnd["args"].to_string().contains("rpcpass"));
}

#[test]
fn btcds_own_certificate_is_p256_for_its_service_and_valid_now() {
    use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
    let test = own_tls();
    let (docs, _) = render(&test, "openlsp.yaml");
    let pem_text = secret_value(&docs, "btcd-rpc-tls", "tls.crt");
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let key = cert.public_key();
    assert_eq!(key.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY);
    let curve = key.algorithm.parameters.as_ref().unwrap().as_oid().unwrap();
    assert_eq!(curve, OID_EC_P256, "P-256");
    assert!(cert.validity().is_valid(), "valid now");
    let names = common::tls_names(&pem_text);
    for wanted in [
        "btcd",
        "btcd.kiln",
        "btcd.kiln.svc",
        "btcd.kiln.svc.cluster.local",
    ] {
        assert!(names.contains(&wanted.to_owned()), "{wanted} in {names:?}");
    }
    let state =
        fs::read_to_string(test.state_dir("kiln").join("bitcoin/btcd/rpc-tls/tls.cert")).unwrap();
    assert_eq!(state, pem_text, "kept in the state dir");
}

#[test]
fn with_cert_manager_btcd_gets_a_certificate_and_lnd_mounts_its_ca() {
    let test = Test::new().with_example("simnet-kiln");
    let (docs, _) = render(&test, "simnet-kiln.yaml");
    let certificate = find(&docs, "Certificate", "btcd-rpc-tls");
    assert_eq!(certificate["spec"]["secretName"], "btcd-rpc-tls");
    assert_eq!(certificate["spec"]["issuerRef"]["name"], "btcd-ca");
    assert_eq!(certificate["spec"]["issuerRef"]["kind"], "Issuer");
    assert_eq!(certificate["spec"]["privateKey"]["algorithm"], "ECDSA");
    assert!(
        certificate["spec"]["dnsNames"]
            .to_string()
            .contains("\"btcd.kiln.svc\"")
    );
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "btcd-rpc-tls"),
        "cert-manager writes the Secret, openlsp does not"
    );
    assert!(!test.state_dir("kiln").join("bitcoin/btcd/rpc-tls").exists());
    let pod = &find(&docs, "StatefulSet", "lnd")["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "btcd-tls")
        .expect("LND mounts btcd's certificate Secret");
    assert_eq!(volume["secret"]["secretName"], "btcd-rpc-tls");
    assert_eq!(
        volume["secret"]["items"],
        serde_json::json!([{ "key": "ca.crt", "path": "ca.crt" }]),
        "only the CA, never the key"
    );
    let lnd = &pod["containers"][0];
    assert!(lnd["volumeMounts"].to_string().contains("/etc/lnd/btcd"));
    let conf = common::config(&docs, "lnd-config", "lnd.conf");
    assert_eq!(values(&conf, "btcd.rpccert"), ["/etc/lnd/btcd/ca.crt"]);
    assert!(secret_value(&docs, "lnd-btcd-rpc", "password").len() >= 32);
    assert!(find(&docs, "Secret", "lnd-btcd-rpc")["data"]["rawrpccert"].is_null());
}

/// Inbound P2P as for bitcoind: a LoadBalancer on btcd's P2P port, or a host port.
#[test]
fn btcd_takes_inbound_peers_on_its_p2p_port() {
    let test = edited("simnet-kiln", "inbound: none", "inbound: loadBalancer");
    let (docs, _) = render(&test, "openlsp.yaml");
    let service = find(&docs, "Service", "btcd-p2p");
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["ports"][0]["port"], 18555);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "p2p");
    let test = edited("simnet-kiln", "inbound: none", "inbound: hostPort");
    let (docs, _) = render(&test, "openlsp.yaml");
    let btcd = &find(&docs, "StatefulSet", "btcd")["spec"]["template"]["spec"]["containers"][0];
    let p2p = btcd["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "p2p")
        .unwrap();
    assert_eq!(p2p["hostPort"], 18555);
}

#[test]
fn btcd_behind_tor_takes_onion_peers_on_its_p2p_port() {
    for (mode, key) in [("hybrid", "onion"), ("tor-only", "proxy")] {
        let test = edited(
            "simnet-kiln",
            "tor: { mode: \"off\" }",
            &format!("tor: {{ mode: {mode} }}"),
        );
        let (docs, _) = render(&test, "openlsp.yaml");
        let conf = common::config(&docs, "btcd-config", "btcd.conf");
        assert_eq!(values(&conf, key), ["tor.kiln.svc:9050"], "{mode}");
        let onion = values(&conf, "externalip");
        assert!(onion[0].ends_with(".onion:18555"), "{mode}: {onion:?}");
        let target = find(&docs, "Service", "btcd-onion");
        assert_eq!(target["spec"]["ports"][0]["targetPort"], "p2p");
        let torrc = common::config(&docs, "tor-config", "torrc");
        assert!(torrc.contains("btcd-onion.kiln.svc:18555"), "{torrc}");
    }
}

/// `secrets list` knows btcd's password and certificate, and which workloads use them.
#[test]
fn secrets_list_shows_btcds_credentials_and_no_value() {
    let test = own_tls();
    test.run(["render", "-p", "openlsp.yaml"]).expect(0);
    let list = test
        .run(["secrets", "list", "-p", "openlsp.yaml"])
        .expect(0);
    for wanted in ["btcd-rpcpass", "btcd rpc credential", "btcd-rpc-tls"] {
        assert!(list.stdout.contains(wanted), "{wanted}:\n{}", list.stdout);
    }
    let state = test.state_dir("kiln");
    common::assert_no_secrets(
        &format!("{}{}", list.stdout, list.stderr),
        &state,
        "secrets list",
    );
}

/// A kiln site as the kiln post writes it: the BitcoinNode and LightningNode with the RPC user
/// and password in plain text, an unknown field, and mining settings.
const KILN_BITCOIN: &str = "apiVersion: bitcoin.kiln-fired.github.io/v1alpha1
kind: BitcoinNode
metadata:
  name: btcd
  namespace: kiln
spec:
  rpcServer:
    certSecret: btcd-rpc-tls
    user: kiln
    password: kiln-plain-password-4242
  mining:
    cpuMiningEnabled: false
    minBlocks: 400
  flavour: vanilla
";
const KILN_LIGHTNING: &str = "apiVersion: bitcoin.kiln-fired.github.io/v1alpha1
kind: LightningNode
metadata:
  name: lnd
  namespace: kiln
spec:
  bitcoinConnection:
    host: btcd
    network: simnet
    certSecret: btcd-rpc-tls
    user: kiln
    password: kiln-plain-password-4242
";

#[test]
fn a_kiln_site_imports_to_a_profile_that_validates_and_renders_without_its_password() {
    let test = Test::new();
    test.write("btcd.yaml", KILN_BITCOIN);
    test.write("lnd.yaml", KILN_LIGHTNING);
    let password = "kiln-plain-password-4242";
    let import = test
        .run([
            "import",
            "kiln",
            "btcd.yaml",
            "lnd.yaml",
            "--issuer",
            "btcd-ca",
        ])
        .expect(0);
    for text in [&import.stdout, &import.stderr] {
        assert!(
            !text.contains(password),
            "the password is never shown:\n{text}"
        );
    }
    assert!(
        import
            .stderr
            .contains("btcd.yaml:10:5: btcd btcd's RPC password was in this file in plain text")
            && import.stderr.contains("Treat it as exposed"),
        "{}",
        import.stderr
    );
    for listed in [
        "btcd.yaml:14:3: spec.flavour: unknown field",
        "btcd.yaml:11:3: spec.mining: openlsp does not mine",
        "lnd.yaml:11:5: spec.bitcoinConnection.user: openlsp's btcd user is openlsp_btcd",
    ] {
        assert!(
            import.stderr.contains(listed),
            "{listed}:\n{}",
            import.stderr
        );
    }
    let profile = fs::read_to_string(test.path().join("openlsp.yaml")).unwrap();
    assert!(!profile.contains(password), "{profile}");
    assert!(profile.contains("implementation: btcd") && profile.contains("network: simnet"));
    let stored = test
        .state_dir("kiln")
        .join("bitcoin/btcd/rpc/openlsp_btcd/password");
    assert_eq!(fs::read_to_string(&stored).unwrap(), password);
    assert_eq!(
        fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );

    test.run(["validate"]).expect(0);
    let (docs, _) = render(&test, "openlsp.yaml");
    assert_eq!(secret_value(&docs, "btcd-rpcpass", "password"), password);
    assert_eq!(
        find(&docs, "Certificate", "btcd-rpc-tls")["spec"]["issuerRef"]["name"],
        "btcd-ca"
    );
    let masked = test.run(["render"]).expect(0);
    assert!(!masked.stdout.contains(password) && !masked.stderr.contains(password));

    // A second import changes nothing it was not told to.
    let again = test
        .run(["import", "kiln", "btcd.yaml", "lnd.yaml"])
        .expect(2);
    assert!(
        again
            .stderr
            .contains("openlsp.yaml exists; nothing was written"),
        "{}",
        again.stderr
    );
    assert_eq!(
        fs::read_to_string(test.path().join("openlsp.yaml")).unwrap(),
        profile
    );
}

/// btcd's pod counts in the memory check: its 1536Mi beside LND's 1024Mi and its two 64Mi
/// sidecars, and no exporter (btcd has none).
#[test]
fn btcd_counts_in_the_memory_check() {
    let test = edited("simnet-kiln", "memory: 8Gi", "memory: 3Gi");
    let output = test.run(["validate"]).expect(2);
    assert!(
        output.stderr.contains(
            "spec.host.memory: the pods on node-1 need 2688Mi of memory together, but the host has 1536Mi for pods"
        ),
        "{}",
        output.stderr
    );
}

/// `bootstrap` copies bitcoind's chain; a btcd node is refused before anything is read.
#[test]
fn bootstrap_refuses_a_btcd_node() {
    let test = Test::new().with_example("simnet-kiln");
    let source = test.path().join("copy");
    fs::create_dir_all(source.join("blocks")).unwrap();
    let output = test
        .run([
            "bootstrap",
            "btcd",
            "--from-dir",
            source.to_str().unwrap(),
            "--check",
            "-p",
            "simnet-kiln.yaml",
        ])
        .expect(2);
    assert!(
        output
            .stderr
            .contains("btcd is btcd, whose data directory (ffldb) is not bitcoind's"),
        "{}",
        output.stderr
    );
}
