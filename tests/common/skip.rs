//! Skips that are never silent. A test that cannot run here (no bitcoind, no test API server)
//! prints `SKIP <test>: <reason>` and appends that line to the file OPENLSP_TEST_SKIP_LOG names:
//! cargo shows the output of a passing test only with --nocapture, so scripts/test.sh sets the
//! file and counts its lines when the run ends. With OPENLSP_TEST_REQUIRE_ALL=1 (scripts/test.sh
//! sets it) a skip fails the test instead, except a skip for something that is not the
//! project's to provide (the addon CRDs), which is still logged and counted.

use std::io::Write as _;

/// The running test's name: libtest runs each test on a thread named after it.
pub fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "<a test outside libtest's threads>".to_owned(),
    }
}

/// Skips the rest of the running test because of `reason`: fails it under
/// OPENLSP_TEST_REQUIRE_ALL=1, else logs the skip. The caller returns after this.
#[track_caller]
pub fn skip(reason: &str) {
    let line = line(reason);
    assert!(
        std::env::var_os("OPENLSP_TEST_REQUIRE_ALL").is_none_or(|v| v.is_empty() || v == "0"),
        "{line}; OPENLSP_TEST_REQUIRE_ALL=1 forbids skipping"
    );
    record(&line);
}

/// Like [`skip`], for something the project does not provide (the addon CRDs): logged and
/// counted even under OPENLSP_TEST_REQUIRE_ALL=1, never a failure.
pub fn skip_outside_the_project(reason: &str) {
    record(&line(reason));
}

fn line(reason: &str) -> String {
    format!("SKIP {}: {reason}", current_test())
}

fn record(line: &str) {
    eprintln!("{line}");
    let Some(log) = std::env::var_os("OPENLSP_TEST_SKIP_LOG").filter(|v| !v.is_empty()) else {
        return;
    };
    // One write of one line in append mode: lines of tests running at once do not mix.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
    if let Err(err) = written {
        panic!(
            "cannot record the skip in OPENLSP_TEST_SKIP_LOG={}: {err}",
            std::path::Path::new(&log).display()
        );
    }
}
