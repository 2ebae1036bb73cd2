//! `openlsp bootstrap --utxo-snapshot` against the real bitcoind pod on the test cluster's node
//! (docs/testing.md): openlsp reaches the running bitcoind through `bitcoin-cli` exec'd in its
//! container with its cookie, reports its chainstates and headers, and waits for the snapshot's
//! base block, which a chain mined here never has (regtest accepts only Bitcoin Core's own test
//! chain's), so it stops at its --timeout with nothing copied or loaded and the node untouched.
//! No credential appears in anything openlsp printed. The same bitcoind, asked to load the
//! snapshot by hand, refuses it: the stand-in image runs Knots 29, whose regtest table pins
//! other blocks at 110, 200 and 299 than the Bitcoin Core release openlsp's table is from.

use std::fs;

use serde_json::Value;

use crate::common::node::NodeSite;

/// Regtest's snapshot at height 110 in Bitcoin Core's chainparams (openlsp's table).
const REGTEST_110: &str = "6affe030b7965ab538f820a56ef56c8149b7dc1d1c144af57113be080db7c397";

/// A snapshot's metadata (Bitcoin Core's format) for regtest's base block at 110, and no coins.
fn regtest_110_snapshot() -> Vec<u8> {
    let mut bytes = b"utxo\xff".to_vec();
    bytes.extend(2u16.to_le_bytes());
    bytes.extend([0xfa, 0xbf, 0xb5, 0xda]);
    let mut hash = hex::decode(REGTEST_110).unwrap();
    hash.reverse();
    bytes.extend(hash);
    bytes.extend(0u64.to_le_bytes());
    bytes
}

#[test]
fn the_running_bitcoind_is_asked_through_its_own_cli_and_the_wait_for_headers_ends_cleanly() {
    let Some(site) = NodeSite::new("regtest-playground", "utxo", |value| value) else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let pod = site.wait_ready("bitcoind-0");
    let uid = pod["metadata"]["uid"].clone();
    let file = site.state_dir().with_file_name("utxo-110.dat");
    fs::write(&file, regtest_110_snapshot()).unwrap();

    let started = std::time::Instant::now();
    let run = site
        .openlsp(&[
            "bootstrap",
            "bitcoind",
            "--utxo-snapshot",
            file.to_str().unwrap(),
            "--yes",
            "--timeout",
            "8s",
        ])
        .expect(2);
    eprintln!("the run took {:?}", started.elapsed());
    for line in [
        "1/5 preflight: ",
        "(regtest, 0 coins, base block 6affe030b7965ab538f820a56ef56c8149b7dc1d1c144af57113be080db7c397 at height 110)",
        "2/5 headers: bitcoind keeps running; waiting until it knows block 6affe030",
        // bitcoind's own getchainstates, through the exec: one chainstate, no headers mined.
        "  bitcoind: 1 chainstate(s), headers at 0",
        "error: bitcoind-0 does not know the snapshot's base block 6affe030b7965ab538f820a56ef56c8149b7dc1d1c144af57113be080db7c397 after 8s: its headers are at 0 of 110; nothing was copied or loaded",
        "hint: it downloads headers from its peers",
    ] {
        assert!(run.stderr.contains(line), "{line:?} in\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("3/5"), "{}", run.stderr);

    // Nothing changed: no Job, the same pod still ready, no copy in its volume.
    let job = site.kubectl(&["get", "job", "bitcoind-bootstrap", "-n", site.namespace()]);
    assert_ne!(job.code, 0, "no copy Job: {}", job.stdout);
    let after = site.wait_ready("bitcoind-0");
    assert_eq!(after["metadata"]["uid"], uid, "the node kept running");
    assert_eq!(after["status"]["containerStatuses"][0]["restartCount"], 0);
    let chain = site.disk_path("scratch").join("bitcoind/regtest");
    assert!(!chain.join("utxo-snapshot").exists());

    // The cookie bitcoin-cli read in the pod, and every generated secret, were never printed.
    let cookie = fs::read_to_string(chain.join(".cookie")).expect("bitcoind's cookie");
    let (_, password) = cookie.trim().split_once(':').unwrap();
    site.assert_never_shown(&[password]);
    site.assert_nothing_leaked();

    // Asked by hand, the stand-in's bitcoind (Knots 29) refuses the snapshot at its own table:
    // the same heights, other blocks.
    let copy = chain.join("by-hand.dat");
    fs::write(&copy, regtest_110_snapshot()).unwrap();
    std::os::unix::fs::chown(&copy, Some(101), Some(101)).unwrap();
    let sts = site.get_json(&["statefulset", "bitcoind", "-n", site.namespace()]);
    let probe: Vec<String> =
        sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|word| word.as_str().unwrap().to_owned())
            .collect();
    let mut command: Vec<&str> = probe[..probe.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    command.extend(["loadtxoutset", "/data/regtest/by-hand.dat"]);
    let refused = site.exec("bitcoind-0", "bitcoind", &command);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(&format!(
            "assumeutxo block hash in snapshot metadata not recognized (hash: {REGTEST_110}). The following snapshot heights are available: 110, 200, 299."
        )),
        "{}",
        refused.stderr
    );
    let chainstates: Value = {
        let mut command: Vec<&str> = probe[..probe.len() - 1]
            .iter()
            .map(String::as_str)
            .collect();
        command.push("getchainstates");
        serde_json::from_str(
            &site
                .exec("bitcoind-0", "bitcoind", &command)
                .expect(0)
                .stdout,
        )
        .unwrap()
    };
    assert_eq!(
        chainstates["chainstates"].as_array().map(Vec::len),
        Some(1),
        "still one chainstate: {chainstates}"
    );
}
