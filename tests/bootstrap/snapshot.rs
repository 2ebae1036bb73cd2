//! `openlsp bootstrap --utxo-snapshot` with a real bitcoind (Bitcoin Knots) on regtest: node A
//! mines 300 blocks and `dumptxoutset`s; the preflight reads that file and refuses it, because
//! regtest accepts only the base blocks of Bitcoin Core's own test chain (and Knots, asked to
//! load it into node B, refuses it too, naming the same heights as openlsp's table; its blocks at
//! those heights are Knots 29's, not those of the Core release the table is from). The same real file with the
//! table's base block written in passes, and the Job's script, as `--render` prints it, copies
//! it into B's volume and resumes a cut-off copy. Files of another network, truncated files and
//! files that are no snapshot are refused, with nothing changed.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{
    Bitcoind, Programs, bootstrap_from, copy_command, mined_source, owner, programs, site,
};
use crate::common::{Output, Test, documents};

/// Regtest's snapshot at height 299 in Bitcoin Core's chainparams (openlsp's table).
const REGTEST_299: &str = "7cc695046fec709f8c9394b6f928f81e81fd3ac20977bb68760fa1faa7916ea2";

fn bootstrap(test: &Test, file: &Path, extra: &[&str]) -> Output {
    bootstrap_from(test, &["--utxo-snapshot", file.to_str().unwrap()], extra)
}

/// Node A mines 300 blocks and dumps its UTXO set; the file and dumptxoutset's answer.
fn dumped(programs: &Programs, dir: &Path) -> (PathBuf, Value) {
    let datadir = dir.join("node-a");
    mined_source(programs, &datadir, 300);
    let node = Bitcoind::start(programs, &datadir, "regtest", &[]);
    let file = dir.join("utxo-300.dat");
    let answer: Value =
        serde_json::from_str(&node.call(&["dumptxoutset", file.to_str().unwrap(), "latest"]))
            .unwrap();
    node.stop();
    (file, answer)
}

/// `file`'s bytes with `at..` replaced by `bytes`, written as `name` beside it.
fn edited(file: &Path, name: &str, at: usize, bytes: &[u8]) -> PathBuf {
    let mut content = fs::read(file).unwrap();
    content[at..at + bytes.len()].copy_from_slice(bytes);
    let path = file.with_file_name(name);
    fs::write(&path, content).unwrap();
    path
}

/// A block hash as a snapshot stores it: reversed bytes.
fn stored(hash: &str) -> Vec<u8> {
    let mut bytes = hex::decode(hash).unwrap();
    bytes.reverse();
    bytes
}

#[test]
fn a_snapshot_dumped_here_is_read_and_refused_for_its_base_block_as_bitcoind_refuses_it() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let (file, answer) = dumped(&programs, test.path());
    let base = answer["base_hash"].as_str().unwrap();
    assert_eq!(answer["base_height"], 300, "{answer}");

    let refused = bootstrap(&test, &file, &["--check"]).expect(2);
    assert!(
        refused.stderr.contains(&format!(
            "{}: its base block {base} is not one that Bitcoin Core 31.1 accepts on regtest, so loadtxoutset would refuse it; nothing was changed",
            file.display()
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(
            "hint: the snapshot heights Bitcoin Core 31.1 accepts on regtest are: 110 (6affe030b7965ab538f820a56ef56c8149b7dc1d1c144af57113be080db7c397), 200 (385901ccbd69dff6bbd00065d01fb8a9e464dede7cfe0372443884f9b1dcf6b9), 299 (7cc695046fec709f8c9394b6f928f81e81fd3ac20977bb68760fa1faa7916ea2)"
        ),
        "{}",
        refused.stderr
    );
    // The whole run refuses the same before it looks for a cluster.
    let run = bootstrap(&test, &file, &["--yes"]).expect(2);
    assert!(run.stderr.contains("is not one that"), "{}", run.stderr);
    assert!(
        fs::read_dir(&volume).unwrap().next().is_none(),
        "B untouched"
    );

    // bitcoind itself refuses the file for the same reason, naming the table's heights.
    let node_b = Bitcoind::start(&programs, &volume, "regtest", &[]);
    let load = node_b.cli(&["loadtxoutset", file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&load.stderr);
    assert!(!load.status.success());
    assert!(
        said.contains("assumeutxo block hash in snapshot metadata not recognized")
            && said.contains("The following snapshot heights are available: 110, 200, 299"),
        "{said}"
    );
    node_b.stop();
}

#[test]
fn a_snapshot_of_the_table_passes_and_the_rendered_script_copies_and_resumes_it() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let (real, answer) = dumped(&programs, test.path());
    // The real file with the table's base block: the rest (network, coins) is A's.
    let file = edited(&real, "utxo-299.dat", 11, &stored(REGTEST_299));
    let size = fs::metadata(&file).unwrap().len();

    let checked = bootstrap(&test, &file, &["--check"]).expect(0);
    assert!(
        checked.stderr.contains(&format!(
            "snapshot: {} (regtest, {} coins, base block {REGTEST_299} at height 299)",
            file.display(),
            answer["coins_written"]
        )),
        "{}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains("disk: needs "),
        "{}",
        checked.stderr
    );
    assert!(checked.stderr.contains("nothing was changed"));

    let rendered = bootstrap(&test, &file, &["--render"]).expect(0);
    let docs = documents(&rendered.stdout);
    assert_eq!(docs.len(), 1, "only the Job: {}", rendered.stdout);
    let pod = &docs[0]["spec"]["template"]["spec"];
    let source = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "source")
        .unwrap();
    assert_eq!(
        source["hostPath"],
        serde_json::json!({ "path": file.to_str().unwrap(), "type": "File" })
    );
    let script = pod["containers"][0]["command"][2].as_str().unwrap();
    let script_file = test.write("snapshot.sh", script);
    let shellcheck = std::process::Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(&script_file)
        .output()
        .expect("shellcheck (scripts/test-deps.sh installs it)");
    assert!(
        shellcheck.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&shellcheck.stdout)
    );

    // A copy cut off halfway (as a killed rsync with --partial leaves it), then the script.
    let copy = volume
        .join("regtest/utxo-snapshot")
        .join(format!("utxo-299-{REGTEST_299}.dat"));
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let content = fs::read(&file).unwrap();
    fs::write(&copy, &content[..content.len() / 2]).unwrap();
    let result = test.path().join("result");
    let run = |expect: &str| {
        let output = copy_command(&programs, &script_file, test.path(), &volume, &result)
            .env("OPENLSP_BOOTSTRAP_SOURCE", &file)
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "the script failed:\n{log}");
        assert!(log.contains(expect), "{log}");
        fs::read_to_string(&result).unwrap()
    };
    let message = run("openlsp-bootstrap: done: copied ");
    assert!(message.starts_with("copied "), "{message}");
    assert_eq!(fs::read(&copy).unwrap(), content, "the copy is the file");
    assert_eq!(owner(&copy), 101, "bitcoind's");
    assert_eq!(owner(copy.parent().unwrap()), 101);
    // Run again: nothing left to copy.
    assert_eq!(run("done"), "copied 0\n");
    assert_eq!(fs::metadata(&copy).unwrap().len(), size);
}

#[test]
fn files_of_another_network_cut_off_or_no_snapshot_are_refused() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let (real, _) = dumped(&programs, test.path());
    // Signet's message start where regtest's was (Bitcoin Core's chainparams).
    let signet = edited(&real, "signet.dat", 7, &[0x0a, 0x03, 0xcf, 0x40]);
    let refused = bootstrap(&test, &signet, &["--check"]).expect(2);
    assert!(
        refused.stderr.contains(&format!(
            "{} is a signet snapshot, but bitcoind runs on regtest; nothing was changed\n  hint: use a snapshot of regtest",
            signet.display()
        )),
        "{}",
        refused.stderr
    );

    let content = fs::read(&real).unwrap();
    let cut = test.path().join("cut.dat");
    fs::write(&cut, &content[..30]).unwrap();
    let refused = bootstrap(&test, &cut, &["--check"]).expect(2);
    assert!(
        refused.stderr.contains(&format!(
            "{}: 30B long, shorter than a snapshot's 51-byte metadata: it is truncated or not a UTXO snapshot; nothing was changed",
            cut.display()
        )),
        "{}",
        refused.stderr
    );

    let block_file = test.path().join("node-a/regtest/blocks/blk00000.dat");
    let refused = bootstrap(&test, &block_file, &["--check"]).expect(2);
    assert!(
        refused
            .stderr
            .contains(&format!("{} starts with ", block_file.display()))
            && refused.stderr.contains("not a UTXO snapshot's magic bytes"),
        "{}",
        refused.stderr
    );
    // What only a copy of a chain takes is a usage error.
    for option in [&["--delete"][..], &["--bwlimit", "100"], &["--no-wait"]] {
        let refused = bootstrap(&test, &real, option).expect(2);
        assert!(
            refused.stderr.contains(&format!(
                "the argument '--utxo-snapshot <FILE>' cannot be used with '{}",
                option[0]
            )),
            "{}",
            refused.stderr
        );
    }
    let missing = bootstrap(&test, &test.path().join("nothing.dat"), &["--check"]).expect(2);
    assert!(
        missing
            .stderr
            .contains("nothing.dat: cannot read it on this machine"),
        "{}",
        missing.stderr
    );
    assert!(
        fs::read_dir(&volume).unwrap().next().is_none(),
        "B untouched"
    );
}
