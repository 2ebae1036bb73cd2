//! Bad profiles (the nodes, and the Tor, networking, monitoring and ingress sections): each
//! exits 2 with `file:line:col`, the field path, the problem and a hint, and never panics. All
//! messages are also kept in one snapshot for review.

use crate::common::Test;

const BASE: &str = r##"apiVersion: openlsp.io/v1alpha1
kind: Site
metadata:
  name: home-pi
spec:
  network: mainnet
  namespace: openlsp
  host: { nodeName: pi4, arch: arm64, memory: 8Gi, cpus: 4 }
  disks:
    blockchain: { path: /srv/blockchain, size: 1Ti }
    lightning: { path: /srv/lightning, size: 20Gi }
  bitcoin:
    - name: bitcoind
      disk: blockchain
      txindex: true
  lightning:
    - name: lnd
      bitcoin: bitcoind
      disk: lightning
      alias: my-node
      color: "#3399ff"
"##;

struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    /// `line:col` the first error must point at.
    at: &'static str,
    /// Field path, message fragment and hint fragment of the first error.
    path: &'static str,
    message: &'static str,
    hint: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "unknown field",
        from: "      color: \"#3399ff\"",
        to: "      colour: \"#3399ff\"",
        at: "21:7",
        path: "spec.lightning[0].colour",
        message: "unknown field `colour`",
        hint: "did you mean `color`?",
    },
    Case {
        name: "wrong type",
        from: "cpus: 4 }",
        to: "cpus: four }",
        at: "8:58",
        path: "spec.host.cpus",
        message: "invalid type: string \"four\"",
        hint: "docs/profile.md",
    },
    Case {
        name: "broken reference",
        from: "      bitcoin: bitcoind",
        to: "      bitcoin: btc",
        at: "18:16",
        path: "spec.lightning[0].bitcoin",
        message: "no bitcoin node named \"btc\"",
        hint: "known: bitcoind",
    },
    Case {
        name: "prune with txindex",
        from: "      txindex: true",
        to: "      txindex: true\n      prune: 1000",
        at: "16:14",
        path: "spec.bitcoin[0].prune",
        message: "prune and txindex exclude each other",
        hint: "remove `prune`",
    },
    Case {
        name: "prune below 550",
        from: "      txindex: true",
        to: "      prune: 300",
        at: "15:14",
        path: "spec.bitcoin[0].prune",
        message: "below bitcoind's minimum of 550 MiB",
        hint: "prune: 550",
    },
    Case {
        name: "prune beyond the disk",
        from: "      txindex: true",
        to: "      prune: 18446744073709551615",
        at: "15:14",
        path: "spec.bitcoin[0].prune",
        message: "prune target 18446744073709551615 MiB is more than disk \"blockchain\" holds (1Ti, 1048576 MiB)",
        hint: "the value is in MiB",
    },
    Case {
        name: "missing disk",
        from: "      disk: blockchain",
        to: "      disk: chain",
        at: "14:13",
        path: "spec.bitcoin[0].disk",
        message: "no disk named \"chain\"",
        hint: "use one of: blockchain, lightning",
    },
    Case {
        name: "disk shared by bitcoin and lightning",
        from: "      disk: lightning",
        to: "      disk: blockchain",
        at: "19:13",
        path: "spec.lightning[0].disk",
        message: "also holds the chain of \"bitcoind\"",
        hint: "allowBitcoinAndLightning: true",
    },
    Case {
        name: "relative disk path",
        from: "path: /srv/lightning",
        to: "path: srv/lightning",
        at: "11:24",
        path: "spec.disks.lightning.path",
        message: "is relative",
        hint: "absolute mount point",
    },
    Case {
        name: "name that is not DNS-1123",
        from: "    - name: lnd",
        to: "    - name: LND_1",
        at: "17:13",
        path: "spec.lightning[0].name",
        message: "not a valid DNS-1123 label",
        hint: "lowercase letters",
    },
    Case {
        name: "node memory does not fit the host",
        from: "      alias: my-node",
        to: "      alias: my-node\n      resources: { memory: 16Gi }",
        at: "21:28",
        path: "spec.lightning[0].resources.memory",
        message: "needs 16Gi of memory but the host has 6Gi for pods",
        hint: "lower resources.memory",
    },
    Case {
        name: "nodes together do not fit the host",
        from: "      txindex: true",
        to: "      txindex: true\n      dbcache: 4200",
        at: "8:47",
        path: "spec.host.memory",
        message: "need 6592Mi of memory together, but the host has 6Gi",
        hint: "lower dbcache",
    },
    Case {
        name: "duplicate names",
        from: "    - name: lnd",
        to: "    - name: bitcoind",
        at: "17:13",
        path: "spec.lightning[0].name",
        message: "already used by spec.bitcoin[0]",
        hint: "its own name",
    },
    Case {
        name: "unknown network",
        from: "network: mainnet",
        to: "network: mainet",
        at: "6:12",
        path: "spec.network",
        message: "unknown variant `mainet`",
        hint: "did you mean `mainnet`?",
    },
    Case {
        name: "size without a unit suffix openlsp knows",
        from: "memory: 8Gi",
        to: "memory: 8GB",
        at: "8:47",
        path: "spec.host.memory",
        message: "\"8GB\" is not a size",
        hint: "docs/profile.md",
    },
    Case {
        name: "missing field",
        from: "      disk: lightning\n",
        to: "",
        at: "17:7",
        path: "spec.lightning[0]",
        message: "missing field `disk`",
        hint: "add `disk:`",
    },
    Case {
        name: "colour that is not #rrggbb",
        from: "\"#3399ff\"",
        to: "blue",
        at: "21:14",
        path: "spec.lightning[0].color",
        message: "not a #rrggbb colour",
        hint: "quoted",
    },
    Case {
        name: "wrong apiVersion",
        from: "openlsp.io/v1alpha1",
        to: "openlsp.io/v1",
        at: "1:13",
        path: "apiVersion",
        message: "unsupported apiVersion",
        hint: "apiVersion: openlsp.io/v1alpha1",
    },
    Case {
        name: "YAML syntax error",
        from: "  namespace: openlsp",
        to: "  namespace: openlsp: extra",
        at: "7:21",
        path: "",
        message: "mapping values are not allowed in this context",
        hint: "fix the YAML syntax",
    },
    Case {
        name: "alias too long",
        from: "alias: my-node",
        to: "alias: a-very-long-alias-that-is-over-32-bytes",
        at: "20:14",
        path: "spec.lightning[0].alias",
        message: "must be 1 to 32 bytes",
        hint: "shorten it",
    },
    Case {
        name: "alias with a line break",
        from: "alias: my-node",
        to: "alias: \"my\\nbitcoind.rpchost=evil\"",
        at: "20:14",
        path: "spec.lightning[0].alias",
        message: "control character",
        hint: "plain text",
    },
    Case {
        name: "overlapping disks",
        from: "path: /srv/lightning",
        to: "path: /srv/blockchain/ln",
        at: "11:24",
        path: "spec.disks.lightning.path",
        message: "overlaps disk \"blockchain\"",
        hint: "its own mount point",
    },
    Case {
        name: "namespace of Kubernetes itself",
        from: "namespace: openlsp",
        to: "namespace: kube-system",
        at: "7:14",
        path: "spec.namespace",
        message: "belongs to Kubernetes itself",
        hint: "namespace of your own",
    },
    Case {
        name: "path that is not normal",
        from: "path: /srv/lightning",
        to: "path: /srv/../lightning",
        at: "11:24",
        path: "spec.disks.lightning.path",
        message: "not in normal form",
        hint: "without '.'",
    },
    Case {
        name: "disk declared twice",
        from: "    lightning: { path: /srv/lightning, size: 20Gi }",
        to: "    lightning: { path: /srv/lightning, size: 20Gi }\n    blockchain: { path: /srv/other, size: 1Ti }",
        at: "12:5",
        path: "spec.disks.blockchain",
        message: "written twice",
        hint: "remove one of them",
    },
    Case {
        name: "onion without Tor",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      onion: [rest]\n  tor: { mode: \"off\" }",
        at: "22:14",
        path: "spec.lightning[0].onion",
        message: "an onion service for LND's APIs needs Tor, but spec.tor.mode",
        hint: "set spec.tor.mode to hybrid or tor-only, or remove",
    },
    Case {
        name: "tor-only with clearnet inbound",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { mode: tor-only }\n  networking: { inbound: hostPort }",
        at: "23:26",
        path: "spec.networking.inbound",
        message: "inbound hostPort opens a clearnet port, but spec.tor.mode is",
        hint: "remove `inbound` (tor-only nodes are reached throu",
    },
    Case {
        name: "external IP that is not an IP",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { externalIPs: [my.router] }",
        at: "22:31",
        path: "spec.networking.externalIPs[0]",
        message: "\"my.router\" is not an IP address",
        hint: "write the site's public IPv4 or IPv6 address, with",
    },
    Case {
        name: "external IP that is private",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { externalIPs: [192.168.1.20] }",
        at: "22:31",
        path: "spec.networking.externalIPs[0]",
        message: "192.168.1.20 is not a public address; peers on the internet ",
        hint: "write the address peers reach the site at (your ro",
    },
    Case {
        name: "IPv6 external IP without ipv6",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { externalIPs: [\"2a02:c207::1\"] }",
        at: "22:31",
        path: "spec.networking.externalIPs[0]",
        message: "2a02:c207::1 is an IPv6 address, but spec.networking.ipv6 is",
        hint: "set spec.networking.ipv6: true so the nodes listen",
    },
    Case {
        name: "external IP in tor-only mode",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { mode: tor-only }\n  networking: { externalIPs: [81.2.69.160] }",
        at: "23:31",
        path: "spec.networking.externalIPs[0]",
        message: "advertising a clearnet address reveals a tor-only site",
        hint: "remove externalIPs, or use spec.tor.mode: hybrid",
    },
    Case {
        name: "external IP without inbound",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { inbound: none, externalIPs: [81.2.69.160] }",
        at: "22:46",
        path: "spec.networking.externalIPs[0]",
        message: "the nodes would advertise this address, but spec.networking.",
        hint: "set spec.networking.inbound (hostPort on one machi",
    },
    Case {
        name: "two nodes of a kind on one host port",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n    - name: lnd2\n      bitcoin: bitcoind\n      disk: lightning\n  networking: { inbound: hostPort }",
        at: "22:13",
        path: "spec.lightning[1].name",
        message: "\"lnd2\" and \"lnd\" run on pi4 and would both need the same hos",
        hint: "set spec.networking.inbound: loadBalancer (one add",
    },
    Case {
        name: "unknown Tor mode",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { mode: hybird }",
        at: "22:16",
        path: "spec.tor.mode",
        message: "unknown variant `hybird`, expected one of `off`, `hybrid`, `",
        hint: "did you mean `hybrid`?",
    },
    Case {
        name: "bad Tor image",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { image: \"tor image\" }",
        at: "22:17",
        path: "spec.tor.image",
        message: "\"tor image\" is not an image reference",
        hint: "write repository:tag, for example `lightninglabs/l",
    },
    Case {
        name: "bad monitoring release label",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  monitoring: { release: \"kube prom\" }",
        at: "22:26",
        path: "spec.monitoring.release",
        message: "\"kube prom\" is not a Kubernetes label value",
        hint: "use the Helm release name of kube-prometheus-stack",
    },
    Case {
        name: "bad monitoring namespace",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  monitoring: { namespace: Observability }",
        at: "22:28",
        path: "spec.monitoring.namespace",
        message: "\"Observability\" is not a valid namespace name",
        hint: "use the namespace Grafana runs in, observability o",
    },
    Case {
        name: "lndmon on signet",
        from: "  network: mainnet",
        to: "  network: signet\n  monitoring: {}",
        at: "7:15",
        path: "spec.monitoring.lndmon",
        message: "lndmon knows only mainnet, testnet and regtest, not signet",
        hint: "set spec.monitoring.lndmon: false; LND's own metri",
    },
    Case {
        name: "ingress entry without spec.ingress",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: lnd.example.com }",
        at: "22:24",
        path: "spec.lightning[0].ingress.rest",
        message: "an Ingress needs spec.ingress (ingress class, cert-manager e",
        hint: "add `spec.ingress: { email: you@example.com }`, or",
    },
    Case {
        name: "ingress entry in tor-only mode",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: lnd.example.com }\n  tor: { mode: tor-only }\n  ingress: { email: me@example.com }",
        at: "22:24",
        path: "spec.lightning[0].ingress.rest",
        message: "a public Ingress exposes a tor-only site on clearnet",
        hint: "remove it (use `onion: [rest, grpc]` for remote wa",
    },
    Case {
        name: "ingress host that is not public",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: lnd }\n  ingress: { email: me@example.com }",
        at: "22:24",
        path: "spec.lightning[0].ingress.rest",
        message: "\"lnd\" is not a public host name",
        hint: "write a lowercase DNS name such as node.example.co",
    },
    Case {
        name: "ingress host used twice",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: node.example.com, grpc: node.example.com }\n  ingress: { email: me@example.com }",
        at: "22:48",
        path: "spec.lightning[0].ingress.grpc",
        message: "host node.example.com is already used by spec.lightning[0].i",
        hint: "give every Ingress its own host name",
    },
    Case {
        name: "ingress without email",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  ingress: { grafana: grafana.example.com }",
        at: "22:14",
        path: "spec.ingress",
        message: "Let's Encrypt needs an email address for the site's certific",
        hint: "add `email: you@example.com` under spec.ingress",
    },
    Case {
        name: "ingress email that is not one",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  ingress: { email: me-at-example }",
        at: "22:21",
        path: "spec.ingress.email",
        message: "\"me-at-example\" is not an email address",
        hint: "write an address Let's Encrypt can send expiry not",
    },
    Case {
        name: "bad ingress class",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  ingress: { email: me@example.com, className: Public_Class }",
        at: "22:48",
        path: "spec.ingress.className",
        message: "\"Public_Class\" is not an ingress class name",
        hint: "use public on microk8s, or the name `kubectl get i",
    },
    Case {
        name: "unknown API in onion",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      onion: [rpc]",
        at: "22:15",
        path: "spec.lightning[0].onion[0]",
        message: "unknown variant `rpc`, expected `rest` or `grpc`",
        hint: "did you mean `grpc`?",
    },
];

#[test]
fn every_bad_profile_exits_2_with_location_path_and_hint() {
    assert!(CASES.len() >= 15);
    let mut transcript = String::new();
    for case in CASES {
        assert!(
            BASE.contains(case.from),
            "{}: base lacks {:?}",
            case.name,
            case.from
        );
        let test = Test::new();
        test.write("openlsp.yaml", &BASE.replacen(case.from, case.to, 1));
        let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
        let first = output.stderr.lines().next().unwrap_or_default().to_owned();
        let expected_start = if case.path.is_empty() {
            format!("error: openlsp.yaml:{}: ", case.at)
        } else {
            format!("error: openlsp.yaml:{}: {}: ", case.at, case.path)
        };
        assert!(
            first.starts_with(&expected_start),
            "{}: expected {expected_start:?}, got:\n{}",
            case.name,
            output.stderr
        );
        assert!(
            first.contains(case.message),
            "{}: {}",
            case.name,
            output.stderr
        );
        let hint = output
            .stderr
            .lines()
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert!(
            hint.starts_with("hint: ") && hint.contains(case.hint),
            "{}: hint {hint:?} lacks {:?}",
            case.name,
            case.hint
        );
        transcript.push_str(&format!("## {}\n{}\n", case.name, output.stderr));
    }
    insta::assert_snapshot!("bad_profiles", transcript);
}

#[test]
fn render_rejects_a_bad_profile_the_same_way_and_writes_no_state() {
    let test = Test::new();
    test.write(
        "openlsp.yaml",
        &BASE.replace("bitcoin: bitcoind", "bitcoin: btc"),
    );
    let output = test.run(["render", "-p", "openlsp.yaml"]).expect(2);
    assert!(
        output
            .stderr
            .contains("openlsp.yaml:18:16: spec.lightning[0].bitcoin")
    );
    assert!(output.stdout.is_empty());
    assert!(!test.path().join("state").exists());
}

#[test]
fn all_problems_are_reported_at_once() {
    let test = Test::new();
    let profile = BASE
        .replace("bitcoin: bitcoind", "bitcoin: btc")
        .replace("txindex: true", "prune: 10");
    test.write("openlsp.yaml", &profile);
    let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    assert!(output.stderr.contains("spec.bitcoin[0].prune"));
    assert!(output.stderr.contains("spec.lightning[0].bitcoin"));
    assert!(output.stderr.contains("2 problems in the profile"));
}

#[test]
fn a_missing_profile_says_how_to_make_one() {
    let output = Test::new().run(["validate"]).expect(2);
    assert!(
        output
            .stderr
            .contains("cannot read the profile openlsp.yaml")
    );
    assert!(output.stderr.contains("openlsp init"));
}

#[test]
fn an_empty_profile_says_how_to_start() {
    let test = Test::new();
    test.write("openlsp.yaml", "\n");
    let output = test.run(["validate"]).expect(2);
    assert!(output.stderr.contains("openlsp.yaml: the profile is empty"));
    assert!(output.stderr.contains("hint: run `openlsp init`"));
}

#[test]
fn the_opt_in_allows_one_disk_for_both() {
    let test = Test::new();
    let profile = BASE
        .replace("      disk: lightning", "      disk: blockchain")
        .replace(
            "blockchain: { path: /srv/blockchain, size: 1Ti }",
            "blockchain: { path: /srv/blockchain, size: 1Ti, allowBitcoinAndLightning: true }",
        );
    test.write("openlsp.yaml", &profile);
    test.run(["validate"]).expect(0);
}

#[test]
fn a_pruned_backend_is_a_warning_not_an_error() {
    let test = Test::new();
    test.write("openlsp.yaml", &BASE.replace("txindex: true", "prune: 550"));
    let output = test.run(["validate"]).expect(0);
    assert!(output.stderr.contains(
        "warning: openlsp.yaml:18:16: spec.lightning[0].bitcoin: LND uses the pruned node \"bitcoind\""
    ));
}
