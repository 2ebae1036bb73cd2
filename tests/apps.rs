//! The channel management UIs (`spec.apps`) as openlsp renders them. No ThunderHub or RTL runs
//! offline: their configuration files are parsed and every key checked against the projects'
//! own types (ThunderHub v0.18.4 src/server/modules/files/files.types.ts); the password works
//! against the hash the UI checks; the real Tor serves the onion address; no credential is
//! outside a Secret; bad references are refused at their place.

use serde_json::Value;

use crate::common::{self, Test, find, render, secret_value};

/// ThunderHub's AccountConfigType and AccountType keys.
const THUNDERHUB_FILE_KEYS: &[&str] = &[
    "masterPassword",
    "defaultNetwork",
    "hashed",
    "backupsEnabled",
    "healthCheckPingEnabled",
    "onchainPushEnabled",
    "channelPushEnabled",
    "privateChannelPushEnabled",
    "accounts",
];
const THUNDERHUB_ACCOUNT_KEYS: &[&str] = &[
    "type",
    "name",
    "serverUrl",
    "lndDir",
    "litDir",
    "network",
    "macaroonPath",
    "certificatePath",
    "password",
    "macaroon",
    "certificate",
    "encrypted",
    "twofaSecret",
    "authToken",
];
/// The environment ThunderHub reads (src/server/config/configuration.ts, main.ts), of which
/// openlsp sets some.
const THUNDERHUB_ENV: &[&str] = &[
    "PORT",
    "ACCOUNT_CONFIG_PATH",
    "NO_VERSION_CHECK",
    "FETCH_PRICES",
    "FETCH_FEES",
    "DISABLE_TWOFA",
];

/// Example profile `name`, rendered with its secrets shown.
fn example(name: &str) -> (Test, Vec<Value>) {
    let test = Test::new().with_example(name);
    let (docs, _) = render(&test, &format!("{name}.yaml"));
    (test, docs)
}

/// `secrets password <app> --reveal`, confirmed with `confirm`, on example profile `profile`.
fn reveal(test: &Test, app: &str, confirm: &str, profile: &str) -> common::Output {
    test.run([
        "secrets",
        "password",
        app,
        "--reveal",
        "--confirm-app",
        confirm,
        "-p",
        &format!("{profile}.yaml"),
    ])
}

fn container<'a>(docs: &'a [Value], workload: &str, name: &str) -> &'a Value {
    find(docs, "Deployment", workload)["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn thunderhubs_accounts_file_has_its_own_keys_and_every_node() {
    let (test, docs) = example("full-stack");
    let file: Value =
        serde_yaml::from_str(&secret_value(&docs, "thunderhub-config", "accounts.yaml")).unwrap();
    assert_keys(&file, THUNDERHUB_FILE_KEYS, "ThunderHub's file");
    assert_eq!(file["defaultNetwork"], "mainnet");
    let accounts = file["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "the one LND node it manages");
    let account = &accounts[0];
    assert_keys(account, THUNDERHUB_ACCOUNT_KEYS, "an account");
    assert_eq!(account["name"], "lnd");
    assert_eq!(account["type"], "lnd");
    assert_eq!(account["serverUrl"], "lnd.full-stack.svc:10009");
    // LND's certificate names its Service, so gRPC's TLS check passes.
    assert!(
        common::tls_names(&secret_value(&docs, "lnd-tls", "tls.crt"))
            .contains(&"lnd.full-stack.svc".to_owned())
    );
    let thunderhub = container(&docs, "thunderhub", "thunderhub");
    let mounts = thunderhub["volumeMounts"].as_array().unwrap();
    let node_mount = mounts.iter().find(|m| m["name"] == "node-lnd").unwrap();
    assert_eq!(node_mount["readOnly"], true);
    assert_eq!(
        account["macaroonPath"].as_str().unwrap(),
        format!(
            "{}/admin.macaroon",
            node_mount["mountPath"].as_str().unwrap()
        )
    );
    for e in thunderhub["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        assert!(THUNDERHUB_ENV.contains(&name) || name == "HOME", "{name}");
    }
    let env = |name: &str| {
        thunderhub["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    let config_mount = mounts.iter().find(|m| m["name"] == "config").unwrap();
    assert_eq!(
        env("ACCOUNT_CONFIG_PATH"),
        format!(
            "{}/accounts.yaml",
            config_mount["mountPath"].as_str().unwrap()
        )
    );
    assert_eq!(config_mount["readOnly"], true);

    // The master password is ThunderHub's bcrypt of the password `secrets password` reveals.
    let hash = file["masterPassword"].as_str().unwrap();
    let bcrypt = hash
        .strip_prefix("thunderhub-")
        .expect("ThunderHub's prefix");
    let revealed = reveal(&test, "thunderhub", "thunderhub", "full-stack").expect(0);
    let password = revealed.stdout.trim();
    assert_eq!(
        password,
        secret_value(&docs, "thunderhub-password", "password")
    );
    assert!(bcrypt::verify(password, bcrypt).unwrap());
    assert!(!bcrypt::verify("not-the-password", bcrypt).unwrap());
    let audit = std::fs::read_to_string(test.state_dir("full").join("audit.log")).unwrap();
    assert!(audit.contains("password of thunderhub revealed"), "{audit}");
}

/// The password is in no output but the reveal, and in no object but its Secret; no macaroon or
/// password is in a ConfigMap, an argument or the environment.
#[test]
fn the_ui_password_is_only_in_its_secret_and_the_reveal() {
    let (test, docs) = example("full-stack");
    let password = secret_value(&docs, "thunderhub-password", "password");
    let shown = test
        .run(["secrets", "password", "thunderhub", "-p", "full-stack.yaml"])
        .expect(0);
    assert!(
        shown
            .stdout
            .contains("secrets password thunderhub --reveal"),
        "{}",
        shown.stdout
    );
    let refused = reveal(&test, "thunderhub", "rtl", "full-stack").expect(2);
    let masked = test.run(["render", "-p", "full-stack.yaml"]).expect(0);
    let listed = test
        .run(["secrets", "list", "-p", "full-stack.yaml"])
        .expect(0);
    assert!(
        listed.stdout.contains("thunderhub-password"),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains("UI password"), "{}", listed.stdout);
    for output in [&shown, &refused, &masked, &listed] {
        assert!(!output.stdout.contains(&password) && !output.stderr.contains(&password));
    }
    for doc in &docs {
        let holder = doc["metadata"]["name"].as_str().unwrap_or_default();
        let text = serde_json::to_string(doc).unwrap();
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &password);
        if doc["kind"] == "Secret" && holder == "thunderhub-password" {
            continue;
        }
        assert!(
            !text.contains(&password) && !text.contains(&encoded),
            "{holder}"
        );
    }
    // Its environment holds flags, a port and paths: no value, and nothing from a Secret.
    let thunderhub = container(&docs, "thunderhub", "thunderhub");
    for e in thunderhub["env"].as_array().unwrap() {
        assert!(e["valueFrom"].is_null(), "{e}");
        let value = e["value"].as_str().unwrap();
        assert!(
            ["true", "false"].contains(&value)
                || value.parse::<u16>().is_ok()
                || value.starts_with('/'),
            "{e}"
        );
    }
    assert!(thunderhub["args"].is_null());
}

#[test]
fn the_uis_onion_address_is_the_one_tor_serves_from_its_key() {
    let Some(tor) = common::required_program("OPENLSP_TEST_TOR", "the UI's onion address") else {
        return;
    };
    let (test, docs) = example("full-stack");
    let (_tor, services, hostname) = crate::tor::serve_onions(&tor, &test, &docs, "thunderhub");
    assert!(services.contains(&"thunderhub".to_owned()), "{services:?}");
    let service = find(&docs, "Service", "thunderhub");
    assert_eq!(
        hostname,
        service["metadata"]["annotations"]["openlsp.io/onion-address"]
    );
    assert!(
        common::config(&docs, "tor-config", "torrc")
            .contains("HiddenServicePort 80 thunderhub.full-stack.svc:3000")
    );
}

#[test]
fn a_ui_with_a_wrong_reference_is_refused_with_its_place() {
    let cases = [
        (
            "    thunderhub: { nodes: [lnd], onion: true }\n",
            "    thunderhub: { nodes: [lnd, elsewhere], onion: true }\n",
            "spec.apps.thunderhub.nodes[1]: no lightning node named \"elsewhere\"",
        ),
        (
            "    thunderhub: { nodes: [lnd], onion: true }\n",
            "    thunderhub: { nodes: [lnd], onion: true, host: hub.example.com }\n",
            "",
        ),
    ];
    for (from, to, message) in cases {
        let test = common::edited("full-stack", from, to);
        if message.is_empty() {
            // A host is public: the plan warns, as for a node's API.
            let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(0);
            let (_, stderr) = render(&test, "openlsp.yaml");
            assert!(
                stderr.contains("spec.apps.thunderhub.host: ThunderHub's UI (managing lnd) at https://hub.example.com is exposed publicly")
                    && stderr.contains("its UI password"),
                "{}{stderr}",
                output.stderr
            );
            continue;
        }
        let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
        assert!(
            output.stderr.contains("openlsp.yaml:") && output.stderr.contains(message),
            "{to:?}:\n{}",
            output.stderr
        );
    }
    // Without spec.ingress a host has nowhere to go.
    let test = common::edited(
        "full-stack",
        "    thunderhub: { nodes: [lnd], onion: true }\n",
        "    thunderhub: { nodes: [lnd], host: hub.example.com }\n",
    );
    let text = std::fs::read_to_string(test.path().join("openlsp.yaml")).unwrap();
    let text = text
        .replace("  ingress:\n    email: operator@example.com\n    acme: staging\n    grafana: grafana.example.com\n", "")
        .replace("      ingress: { rest: lnd.example.com }   # public, by name: the plan warns\n", "");
    test.write("openlsp.yaml", &text);
    let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    assert!(
        output
            .stderr
            .contains("spec.apps.thunderhub.host: an Ingress needs spec.ingress"),
        "{}",
        output.stderr
    );
    // ThunderHub manages LND only.
    let test = common::edited(
        "cln-and-lnd",
        "    rtl: { nodes: [lnd, cln] }\n",
        "    rtl: { nodes: [lnd, cln] }\n    thunderhub: { nodes: [cln] }\n",
    );
    let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    assert!(
        output
            .stderr
            .contains("spec.apps.thunderhub.nodes[0]: cln runs Core Lightning, and ThunderHub manages LND nodes only"),
        "{}",
        output.stderr
    );
}

/// RTL-Config.json's keys (Application_configurations.md of RTL v0.15.11; `multiPassHashed`
/// from its server/utils/config.ts).
const RTL_FILE_KEYS: &[&str] = &[
    "multiPass",
    "multiPassHashed",
    "disableAuth",
    "port",
    "host",
    "defaultNodeIndex",
    "dbDirectoryPath",
    "SSO",
    "nodes",
];
const RTL_SSO_KEYS: &[&str] = &["rtlSSO", "rtlCookiePath", "logoutRedirectLink"];
const RTL_NODE_KEYS: &[&str] = &[
    "index",
    "lnNode",
    "lnImplementation",
    "authentication",
    "settings",
];
const RTL_AUTHENTICATION_KEYS: &[&str] = &[
    "macaroonPath",
    "runePath",
    "lnApiPassword",
    "swapMacaroonPath",
    "boltzMacaroonPath",
    "configPath",
];
const RTL_SETTINGS_KEYS: &[&str] = &[
    "userPersona",
    "themeMode",
    "themeColor",
    "channelBackupPath",
    "bitcoindConfigPath",
    "logLevel",
    "fiatConversion",
    "currencyUnit",
    "unannouncedChannels",
    "lnServerUrl",
    "swapServerUrl",
    "boltzServerUrl",
    "blockExplorerUrl",
];

#[track_caller]
fn assert_keys(value: &Value, known: &[&str], what: &str) {
    for key in value.as_object().unwrap().keys() {
        assert!(known.contains(&key.as_str()), "{key} is no key of {what}");
    }
}

#[test]
fn rtls_config_has_its_own_keys_every_node_and_the_password_hash() {
    let (test, docs) = example("cln-and-lnd");
    let config: Value =
        serde_json::from_str(&secret_value(&docs, "rtl-config", "RTL-Config.json")).unwrap();
    assert_keys(&config, RTL_FILE_KEYS, "RTL-Config.json");
    assert_keys(&config["SSO"], RTL_SSO_KEYS, "SSO");
    assert_eq!(config["SSO"]["rtlSSO"], 0, "RTL's own login");
    let nodes = config["nodes"].as_array().unwrap();
    let mut seen = Vec::new();
    for node in nodes {
        assert_keys(node, RTL_NODE_KEYS, "a node");
        assert_keys(
            &node["authentication"],
            RTL_AUTHENTICATION_KEYS,
            "authentication",
        );
        assert_keys(&node["settings"], RTL_SETTINGS_KEYS, "settings");
        assert_eq!(node["settings"]["fiatConversion"], false);
        seen.push((
            node["lnNode"].as_str().unwrap().to_owned(),
            node["lnImplementation"].as_str().unwrap().to_owned(),
            node["settings"]["lnServerUrl"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        seen,
        [
            (
                "lnd".into(),
                "LND".into(),
                "https://lnd.lightning.svc:8080".into()
            ),
            (
                "cln".into(),
                "CLN".into(),
                "https://cln.lightning.svc:3010".into()
            ),
        ]
    );
    let (lnd, cln) = (&nodes[0], &nodes[1]);
    assert_eq!(
        lnd["authentication"]["macaroonPath"],
        "/etc/openlsp/nodes/lnd"
    );
    assert_eq!(
        cln["authentication"]["runePath"],
        "/var/lib/rtl/runes/cln.env"
    );

    // RTL's login compares SHA-256 in hex of the password the browser sends.
    let revealed = reveal(&test, "rtl", "rtl", "cln-and-lnd").expect(0);
    let password = revealed.stdout.trim();
    use sha2::Digest as _;
    assert_eq!(
        config["multiPassHashed"],
        hex::encode(sha2::Sha256::digest(password.as_bytes()))
    );
    assert!(config["multiPass"].is_null(), "never the password itself");
    let rendered = serde_json::to_string(&docs).unwrap();
    assert_eq!(
        rendered.matches(password).count(),
        0,
        "the password is only base64'd in its Secret"
    );

    // Only the global settings are in the environment: RTL applies its per-node variables
    // (MACAROON_PATH, LN_SERVER_URL…) to every node.
    let rtl = container(&docs, "rtl", "rtl");
    let names: Vec<&str> = rtl["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["PORT", "RTL_CONFIG_PATH", "HOME"]);
    // LND and CLN admit RTL's pod on their REST ports.
    for (node, port) in [("lnd", 8080), ("cln", 3010)] {
        let policy =
            serde_json::to_string(&find(&docs, "NetworkPolicy", node)["spec"]["ingress"]).unwrap();
        let rule = policy
            .split("{\"from\"")
            .find(|rule| rule.contains(&format!("\"port\":{port}")))
            .unwrap();
        assert!(
            rule.contains("\"app.kubernetes.io/instance\":\"rtl\""),
            "{node}: {rule}"
        );
    }
}

/// The init container's script, run by busybox's sh as the pod runs it, with the pod's paths
/// mapped into a temp dir: it waits for each credential, copies the config into RTL's writable
/// directory and writes the CLN rune file in the form RTL reads (`LIGHTNING_RUNE="<rune>"`).
#[test]
fn rtls_init_container_copies_the_config_and_writes_the_rune_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(busybox) = common::required_program("OPENLSP_TEST_BUSYBOX", "RTL's init container")
    else {
        return;
    };
    let (test, docs) = example("cln-and-lnd");
    let init = &find(&docs, "Deployment", "rtl")["spec"]["template"]["spec"]["initContainers"][0];
    let script = init["command"][2].as_str().unwrap();
    let root = test.path().join("pod");
    let mapped = script
        .replace("/etc/openlsp", &format!("{}/etc/openlsp", root.display()))
        .replace("/var/lib/rtl", &format!("{}/var/lib/rtl", root.display()))
        .replace("sleep 10", "sleep 1");
    assert_ne!(mapped, script);
    let config = secret_value(&docs, "rtl-config", "RTL-Config.json");
    for dir in [
        "etc/openlsp/config",
        "etc/openlsp/nodes/lnd",
        "etc/openlsp/nodes/cln",
        "var/lib/rtl",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("etc/openlsp/config/RTL-Config.json"), &config).unwrap();
    std::fs::write(
        root.join("etc/openlsp/nodes/lnd/admin.macaroon"),
        [2u8, 1, 3],
    )
    .unwrap();
    let rune = "dGVzdC1ydW5lLW5vdC1hLXJlYWwtb25l-_=";
    let mut run = std::process::Command::new(&busybox)
        .args(["sh", "-ec", &mapped])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It waits while CLN's rune is not published yet.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        run.try_wait().unwrap().is_none(),
        "it must wait for the rune"
    );
    std::fs::write(root.join("etc/openlsp/nodes/cln/admin.rune"), rune).unwrap();
    let status = run.wait().unwrap();
    assert!(status.success());
    let copied = root.join("var/lib/rtl/RTL-Config.json");
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), config);
    assert_eq!(
        std::fs::metadata(&copied).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let rune_file = std::fs::read_to_string(root.join("var/lib/rtl/runes/cln.env")).unwrap();
    // RTL's getRuneValue: the regex LIGHTNING_RUNE="([^"]+)".
    assert_eq!(rune_file, format!("LIGHTNING_RUNE=\"{rune}\"\n"));
}
