//! Bad profiles (the nodes, and the Tor, networking, monitoring and ingress sections): each
//! exits 2 with `file:line:col`, the field path, the problem and a hint, and never panics. The
//! whole messages are snapshots, kept together in one transcript for review.

use crate::common::Test;
use crate::common::snapshot::Plain;

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

/// One bad profile: `from` in [`BASE`] replaced by `to`. The whole message of each is in the
/// snapshot `bad_profiles`; the table says where it must point.
struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    /// `line:col` the first error must point at.
    at: &'static str,
    /// Field path of the first error.
    path: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "unknown field",
        from: "      color: \"#3399ff\"",
        to: "      colour: \"#3399ff\"",
        at: "21:7",
        path: "spec.lightning[0].colour",
    },
    Case {
        name: "wrong type",
        from: "cpus: 4 }",
        to: "cpus: four }",
        at: "8:58",
        path: "spec.host.cpus",
    },
    Case {
        name: "broken reference",
        from: "      bitcoin: bitcoind",
        to: "      bitcoin: btc",
        at: "18:16",
        path: "spec.lightning[0].bitcoin",
    },
    Case {
        name: "prune with txindex",
        from: "      txindex: true",
        to: "      txindex: true\n      prune: 1000",
        at: "16:14",
        path: "spec.bitcoin[0].prune",
    },
    Case {
        name: "prune below 550",
        from: "      txindex: true",
        to: "      prune: 300",
        at: "15:14",
        path: "spec.bitcoin[0].prune",
    },
    Case {
        name: "prune beyond the disk",
        from: "      txindex: true",
        to: "      prune: 18446744073709551615",
        at: "15:14",
        path: "spec.bitcoin[0].prune",
    },
    Case {
        name: "missing disk",
        from: "      disk: blockchain",
        to: "      disk: chain",
        at: "14:13",
        path: "spec.bitcoin[0].disk",
    },
    Case {
        name: "disk shared by bitcoin and lightning",
        from: "      disk: lightning",
        to: "      disk: blockchain",
        at: "19:13",
        path: "spec.lightning[0].disk",
    },
    Case {
        name: "relative disk path",
        from: "path: /srv/lightning",
        to: "path: srv/lightning",
        at: "11:24",
        path: "spec.disks.lightning.path",
    },
    Case {
        name: "name that is not DNS-1123",
        from: "    - name: lnd",
        to: "    - name: LND_1",
        at: "17:13",
        path: "spec.lightning[0].name",
    },
    Case {
        name: "node memory does not fit the host",
        from: "      alias: my-node",
        to: "      alias: my-node\n      resources: { memory: 16Gi }",
        at: "21:28",
        path: "spec.lightning[0].resources.memory",
    },
    Case {
        name: "nodes together do not fit the host",
        from: "      txindex: true",
        to: "      txindex: true\n      dbcache: 4200",
        at: "8:47",
        path: "spec.host.memory",
    },
    Case {
        name: "certificate names on a CLN node",
        from: "      alias: my-node",
        to: "      alias: my-node\n      implementation: cln\n      tlsExtraDomains: [ln.example.com]",
        at: "22:24",
        path: "spec.lightning[0].tlsExtraDomains",
    },
    Case {
        name: "duplicate names",
        from: "    - name: lnd",
        to: "    - name: bitcoind",
        at: "17:13",
        path: "spec.lightning[0].name",
    },
    Case {
        name: "unknown network",
        from: "network: mainnet",
        to: "network: mainet",
        at: "6:12",
        path: "spec.network",
    },
    Case {
        name: "size without a unit suffix openlsp knows",
        from: "memory: 8Gi",
        to: "memory: 8GB",
        at: "8:47",
        path: "spec.host.memory",
    },
    Case {
        name: "missing field",
        from: "      disk: lightning\n",
        to: "",
        at: "17:7",
        path: "spec.lightning[0]",
    },
    Case {
        name: "colour that is not #rrggbb",
        from: "\"#3399ff\"",
        to: "blue",
        at: "21:14",
        path: "spec.lightning[0].color",
    },
    Case {
        name: "wrong apiVersion",
        from: "openlsp.io/v1alpha1",
        to: "openlsp.io/v1",
        at: "1:13",
        path: "apiVersion",
    },
    Case {
        name: "YAML syntax error",
        from: "  namespace: openlsp",
        to: "  namespace: openlsp: extra",
        at: "7:21",
        path: "",
    },
    Case {
        name: "alias too long",
        from: "alias: my-node",
        to: "alias: a-very-long-alias-that-is-over-32-bytes",
        at: "20:14",
        path: "spec.lightning[0].alias",
    },
    Case {
        name: "alias with a line break",
        from: "alias: my-node",
        to: "alias: \"my\\nbitcoind.rpchost=evil\"",
        at: "20:14",
        path: "spec.lightning[0].alias",
    },
    Case {
        name: "overlapping disks",
        from: "path: /srv/lightning",
        to: "path: /srv/blockchain/ln",
        at: "11:24",
        path: "spec.disks.lightning.path",
    },
    Case {
        name: "namespace of Kubernetes itself",
        from: "namespace: openlsp",
        to: "namespace: kube-system",
        at: "7:14",
        path: "spec.namespace",
    },
    Case {
        name: "path that is not normal",
        from: "path: /srv/lightning",
        to: "path: /srv/../lightning",
        at: "11:24",
        path: "spec.disks.lightning.path",
    },
    Case {
        name: "disk declared twice",
        from: "    lightning: { path: /srv/lightning, size: 20Gi }",
        to: "    lightning: { path: /srv/lightning, size: 20Gi }\n    blockchain: { path: /srv/other, size: 1Ti }",
        at: "12:5",
        path: "spec.disks.blockchain",
    },
    Case {
        name: "onion without Tor",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      onion: [rest]\n  tor: { mode: \"off\" }",
        at: "22:14",
        path: "spec.lightning[0].onion",
    },
    Case {
        name: "tor-only with clearnet inbound",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { mode: tor-only }\n  networking: { inbound: hostPort }",
        at: "23:26",
        path: "spec.networking.inbound",
    },
    Case {
        name: "external IP that is not an IP",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { externalIPs: [my.router] }",
        at: "22:31",
        path: "spec.networking.externalIPs[0]",
    },
    Case {
        name: "external IP that is private",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { externalIPs: [192.168.1.20] }",
        at: "22:31",
        path: "spec.networking.externalIPs[0]",
    },
    Case {
        name: "IPv6 external IP without ipv6",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { externalIPs: [\"2a02:c207::1\"] }",
        at: "22:31",
        path: "spec.networking.externalIPs[0]",
    },
    Case {
        name: "external IP in tor-only mode",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { mode: tor-only }\n  networking: { externalIPs: [81.2.69.160] }",
        at: "23:31",
        path: "spec.networking.externalIPs[0]",
    },
    Case {
        name: "external IP without inbound",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  networking: { inbound: none, externalIPs: [81.2.69.160] }",
        at: "22:46",
        path: "spec.networking.externalIPs[0]",
    },
    Case {
        name: "two nodes of a kind on one host port",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n    - name: lnd2\n      bitcoin: bitcoind\n      disk: lightning\n  networking: { inbound: hostPort }",
        at: "22:13",
        path: "spec.lightning[1].name",
    },
    Case {
        name: "unknown Tor mode",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { mode: hybird }",
        at: "22:16",
        path: "spec.tor.mode",
    },
    Case {
        name: "bad Tor image",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  tor: { image: \"tor image\" }",
        at: "22:17",
        path: "spec.tor.image",
    },
    Case {
        name: "bad monitoring release label",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  monitoring: { release: \"kube prom\" }",
        at: "22:26",
        path: "spec.monitoring.release",
    },
    Case {
        name: "bad monitoring namespace",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  monitoring: { namespace: Observability }",
        at: "22:28",
        path: "spec.monitoring.namespace",
    },
    Case {
        name: "lndmon on signet",
        from: "  network: mainnet",
        to: "  network: signet\n  monitoring: {}",
        at: "7:15",
        path: "spec.monitoring.lndmon",
    },
    Case {
        name: "ingress entry without spec.ingress",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: lnd.example.com }",
        at: "22:24",
        path: "spec.lightning[0].ingress.rest",
    },
    Case {
        name: "ingress entry in tor-only mode",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: lnd.example.com }\n  tor: { mode: tor-only }\n  ingress: { email: me@example.com }",
        at: "22:24",
        path: "spec.lightning[0].ingress.rest",
    },
    Case {
        name: "ingress host that is not public",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: lnd }\n  ingress: { email: me@example.com }",
        at: "22:24",
        path: "spec.lightning[0].ingress.rest",
    },
    Case {
        name: "ingress host used twice",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      ingress: { rest: node.example.com, grpc: node.example.com }\n  ingress: { email: me@example.com }",
        at: "22:48",
        path: "spec.lightning[0].ingress.grpc",
    },
    Case {
        name: "ingress without email",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  ingress: { grafana: grafana.example.com }",
        at: "22:14",
        path: "spec.ingress",
    },
    Case {
        name: "ingress email that is not one",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  ingress: { email: me-at-example }",
        at: "22:21",
        path: "spec.ingress.email",
    },
    Case {
        name: "bad ingress class",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  ingress: { email: me@example.com, className: Public_Class }",
        at: "22:48",
        path: "spec.ingress.className",
    },
    Case {
        name: "bad ingress controller namespace",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n  ingress: { email: me@example.com, controllerNamespace: Ingress_NS }",
        at: "22:58",
        path: "spec.ingress.controllerNamespace",
    },
    Case {
        name: "unknown API in onion",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n      onion: [rpc]",
        at: "22:15",
        path: "spec.lightning[0].onion[0]",
    },
    Case {
        name: "maxmempool that overflowed the memory sizing",
        from: "      txindex: true",
        to: "      txindex: true\n      maxmempool: 17592186044416",
        at: "16:19",
        path: "spec.bitcoin[0].maxmempool",
    },
    Case {
        name: "memory beyond any host",
        from: "memory: 8Gi, cpus: 4 }",
        to: "memory: 100Ti, cpus: 4 }",
        at: "8:47",
        path: "spec.host.memory",
    },
    Case {
        name: "disk beyond any disk",
        from: "size: 1Ti }",
        to: "size: 2Pi }",
        at: "10:48",
        path: "spec.disks.blockchain.size",
    },
    Case {
        name: "container memory out of range",
        from: "      alias: my-node",
        to: "      alias: my-node\n      resources: { memory: 1Mi }",
        at: "21:28",
        path: "spec.lightning[0].resources.memory",
    },
    Case {
        name: "CPU count that overflows millicores",
        from: "      txindex: true",
        to: "      txindex: true\n      resources: { cpu: 18446744073709551615 }",
        at: "16:25",
        path: "spec.bitcoin[0].resources.cpu",
    },
    Case {
        name: "zero CPU",
        from: "      txindex: true",
        to: "      txindex: true\n      resources: { cpu: 0m }",
        at: "16:25",
        path: "spec.bitcoin[0].resources.cpu",
    },
    Case {
        name: "null site name",
        from: "  name: home-pi",
        to: "  name: null",
        at: "4:9",
        path: "metadata.name",
    },
    Case {
        name: "boolean where text belongs",
        from: "      disk: lightning",
        to: "      disk: true",
        at: "19:13",
        path: "spec.lightning[0].disk",
    },
    Case {
        name: "a second document",
        from: "      color: \"#3399ff\"",
        to: "      color: \"#3399ff\"\n---\nkind: Site",
        at: "22:1",
        path: "",
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
        let hint = output.stderr.lines().nth(1).unwrap_or_default();
        assert!(
            hint.starts_with("  hint: "),
            "{}: the second line is not a hint:\n{}",
            case.name,
            output.stderr
        );
        transcript.push_str(&format!("## {}\n{}\n", case.name, output.stderr));
    }
    assert_output_snapshot!("bad_profiles", transcript, &Plain);
}

/// Input that is not a profile at all: each refused at once, with its place when it has one,
/// and a hint; never read without bound.
#[test]
fn unbounded_or_undecodable_input_is_refused_with_its_place() {
    let test = Test::new();
    test.write("binary.yaml", "");
    std::fs::write(
        test.path().join("binary.yaml"),
        [&BASE.as_bytes()[..40], b"\xff\xfe", &BASE.as_bytes()[40..]].concat(),
    )
    .unwrap();
    let huge = test.path().join("huge.yaml");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(5 * 1024 * 1024).unwrap();
    let fifo = test.path().join("fifo.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut transcript = Vec::new();
    for (label, path) in [
        ("a character device", "/dev/zero"),
        ("a directory", "."),
        ("a FIFO", "fifo.yaml"),
        ("over the size cap", "huge.yaml"),
        ("invalid UTF-8", "binary.yaml"),
    ] {
        let started = std::time::Instant::now();
        let output = test.run(["validate", "-p", path]).expect(2);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{label}"
        );
        assert_eq!(
            output.stderr.lines().count(),
            2,
            "{label}: {}",
            output.stderr
        );
        transcript.push((label, output.stderr));
    }
    assert!(
        transcript[4].1.starts_with("error: binary.yaml:2:9: "),
        "{}",
        transcript[4].1
    );
    let parts: Vec<(&str, &str)> = transcript.iter().map(|(l, t)| (*l, t.as_str())).collect();
    assert_output_snapshot!("unbounded_input", crate::common::transcript(&parts), &test);
}

/// A megabyte-long value is echoed cut short, with its length: the message stays a line.
#[test]
fn long_values_are_echoed_cut_short() {
    let test = Test::new();
    let long = "x".repeat(1024 * 1024);
    test.write(
        "openlsp.yaml",
        &BASE
            .replace("name: home-pi", &format!("name: {long}"))
            .replace("bitcoin: bitcoind", &format!("bitcoin: {long}")),
    );
    let output = test.run(["validate"]).expect(2);
    assert!(output.stderr.len() < 2000, "{} bytes", output.stderr.len());
    assert!(
        output
            .stderr
            .contains("\u{2026}\" (1048576 characters) is not a valid DNS-1123 label"),
        "{}",
        output.stderr
    );
}

#[test]
fn render_rejects_a_bad_profile_the_same_way_and_writes_no_state() {
    let test = Test::new();
    test.write(
        "openlsp.yaml",
        &BASE.replace("bitcoin: bitcoind", "bitcoin: btc"),
    );
    let output = test.run(["render", "-p", "openlsp.yaml"]).expect(2);
    let validated = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    assert_eq!(
        output.stderr, validated.stderr,
        "the same message as validate"
    );
    assert!(
        output
            .stderr
            .starts_with("error: openlsp.yaml:18:16: spec.lightning[0].bitcoin: "),
        "{}",
        output.stderr
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
    assert_output_snapshot!("two_problems", output.stderr, &test);
}

#[test]
fn a_missing_profile_says_how_to_make_one() {
    let test = Test::new();
    let output = test.run(["validate"]).expect(2);
    assert_output_snapshot!("missing_profile", output.stderr, &test);
}

#[test]
fn an_empty_profile_says_how_to_start() {
    let test = Test::new();
    test.write("openlsp.yaml", "\n");
    let output = test.run(["validate"]).expect(2);
    assert_output_snapshot!("empty_profile", output.stderr, &test);
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
    assert_output_snapshot!("pruned_backend_warning", output.stderr, &test);
}

/// The bad profiles above and the example profiles are seeds of the `profile` fuzz target
/// (fuzz/corpus/profile), so the fuzzer starts from every path they reach.
/// `OPENLSP_FUZZ_SEED=1` writes missing or outdated ones.
#[test]
fn every_bad_and_example_profile_is_a_fuzz_seed() {
    let corpus = crate::common::repo_root().join("fuzz/corpus/profile");
    let write = std::env::var_os("OPENLSP_FUZZ_SEED").is_some();
    let mut missing = Vec::new();
    for case in CASES {
        let slug: String = case
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let slug = slug
            .split('-')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let path = corpus.join(format!("bad-{slug}.yaml"));
        let text = BASE.replacen(case.from, case.to, 1);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            if write {
                std::fs::write(&path, &text).unwrap();
            } else {
                missing.push(path.display().to_string());
            }
        }
    }
    for entry in std::fs::read_dir(crate::common::repo_root().join("profiles")).unwrap() {
        let example = entry.unwrap().path();
        let path = corpus.join(format!(
            "example-{}",
            example.file_name().unwrap().to_str().unwrap()
        ));
        let text = std::fs::read(&example).unwrap();
        if std::fs::read(&path).ok() != Some(text.clone()) {
            if write {
                std::fs::write(&path, &text).unwrap();
            } else {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "profiles without their fuzz seed (run with OPENLSP_FUZZ_SEED=1): {missing:?}"
    );
}

/// btcd and simnet: simnet with a bitcoind node, bitcoind's options on a btcd node, btcd's TLS
/// source on a bitcoind node, Core Lightning or BTCPay on a btcd node: each an error at its
/// place (`file:line:col`), with what to do.
#[test]
fn btcd_and_simnet_are_checked_at_their_place() {
    let profile = BASE
        .replacen("  network: mainnet", "  network: simnet", 1)
        .replacen(
            "      txindex: true\n",
            "      txindex: true\n      tls: { issuer: ca }\n    - name: btcd\n      implementation: btcd\n      disk: blockchain\n      dbcache: 450\n      prune: 1000\n",
            1,
        )
        .replacen(
            "      color: \"#3399ff\"\n",
            "      color: \"#3399ff\"\n    - name: cln\n      implementation: cln\n      bitcoin: btcd\n      disk: lightning\n  btcpay: { bitcoin: btcd, disk: blockchain }\n",
            1,
        );
    let test = Test::new();
    test.write("openlsp.yaml", &profile);
    let output = test.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    let line_of = |text: &str| {
        1 + profile
            .lines()
            .position(|line| line.contains(text))
            .unwrap_or_else(|| panic!("{text} is not in the profile"))
    };
    for (expected, at) in [
        (
            "spec.bitcoin[0].implementation: bitcoind runs bitcoind, which has no simnet",
            None,
        ),
        (
            "spec.bitcoin[0].tls: tls is a btcd node's RPC certificate, and bitcoind is bitcoind",
            Some(line_of("tls: { issuer: ca }")),
        ),
        (
            "spec.bitcoin[1].dbcache: dbcache is bitcoind's UTXO cache; btcd has no such option",
            Some(line_of("dbcache: 450")),
        ),
        (
            "spec.bitcoin[1].prune: prune target 1000 MiB is below btcd's minimum of 1536 MiB",
            Some(line_of("prune: 1000")),
        ),
        (
            "spec.lightning[1].bitcoin: cln runs Core Lightning, whose bcli plugin drives bitcoin-cli, and btcd is btcd",
            Some(line_of("      bitcoin: btcd")),
        ),
        (
            "spec.btcpay.bitcoin: btcd is btcd, and NBXplorer needs Bitcoin Core 24 or later",
            Some(line_of("btcpay: { bitcoin: btcd")),
        ),
    ] {
        let line = output
            .stderr
            .lines()
            .find(|line| line.contains(expected))
            .unwrap_or_else(|| panic!("{expected}:\n{}", output.stderr));
        let location = line
            .strip_prefix("error: openlsp.yaml:")
            .and_then(|rest| rest.split_once(": spec."))
            .map(|(location, _)| location.to_owned())
            .unwrap_or_else(|| panic!("no file:line:col in {line}"));
        let (row, column) = location.split_once(':').expect("line:col");
        assert!(column.parse::<u32>().is_ok(), "{line}");
        if let Some(at) = at {
            assert_eq!(row, at.to_string(), "{line}");
        }
    }
    assert!(
        !output.stderr.contains("below bitcoind's minimum"),
        "btcd's prune is judged by btcd's minimum only:\n{}",
        output.stderr
    );
}
