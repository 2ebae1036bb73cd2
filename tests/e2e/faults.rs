//! Faults injected into a real API server: each test starts a control plane of its own with
//! scripts/test-cluster.sh (`up`), and breaks it with the script's own process control
//! (`kill-apiserver`, `stop-apiserver`, `restart-apiserver`), never the shared test servers.
//! What must hold: a server that dies or stops answering ends apply with exit 2 and one line
//! that says so, a crashed run's lock is named with its holder until it expires, and a re-run
//! converges without a credential changing, in the state dir or in the cluster.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::common::e2e::{self, PATIENCE, Running, Site};
use crate::common::{self, Output};

/// One fault cluster at a time: each is a whole control plane on a shared machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A control plane of this test's own, stopped and removed when dropped.
struct FaultCluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl FaultCluster {
    /// Starts one, or None after a skip where the test servers are not available (the
    /// control-plane binaries scripts/test.sh builds are then missing too).
    fn up() -> Option<Self> {
        e2e::test_cluster()?;
        let mut nonce = [0u8; 4];
        getrandom::fill(&mut nonce).unwrap();
        let dir = std::env::temp_dir().join(format!("openlsp-fault-{}", hex::encode(nonce)));
        let cluster = FaultCluster {
            kubeconfig: dir.join("kubeconfig"),
            dir,
        };
        cluster.control("up");
        Some(cluster)
    }

    /// `scripts/test-cluster.sh ACTION DIR`'s output.
    fn script(&self, action: &str) -> std::process::Output {
        std::process::Command::new(common::repo_root().join("scripts/test-cluster.sh"))
            .arg(action)
            .arg(&self.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `scripts/test-cluster.sh ACTION DIR`; fails the test if it fails.
    fn control(&self, action: &str) {
        let output = self.script(action);
        assert!(
            output.status.success(),
            "test-cluster.sh {action} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for FaultCluster {
    fn drop(&mut self) {
        // A stopped server would make `down` wait for it to answer SIGTERM.
        self.script("cont-apiserver");
        self.script("down");
    }
}

/// A site applied on a fault cluster of its own, with the lock's lease set to `lease_seconds`.
/// Bind `_turn` first: bindings drop in reverse, so the cluster is down before the next test's
/// turn.
struct Applied {
    _turn: MutexGuard<'static, ()>,
    site: Site,
    cluster: FaultCluster,
}

/// Waits for this test's turn, starts its cluster and applies example pi4-mainnet there as site
/// `e2e-<suffix>-...`; None after a skip.
fn applied(suffix: &str, lease_seconds: &str) -> Option<Applied> {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cluster = FaultCluster::up()?;
    let site = Site::on(cluster.kubeconfig.clone(), "pi4-mainnet", suffix)
        .env("OPENLSP_LOCK_LEASE_SECONDS", lease_seconds);
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    Some(Applied {
        _turn: turn,
        site,
        cluster,
    })
}

/// The lines of `stderr` from the error on: the error itself and its hint, nothing else.
fn error_lines(stderr: &str) -> Vec<&str> {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    lines[start..].to_vec()
}

/// The error is one line and its hint is one line: no page, no chain of causes, no TLS
/// library's link, and no blaming a server that was answering a moment ago.
fn assert_one_clear_line(stderr: &str, starts: &str) {
    let lines = error_lines(stderr);
    assert_eq!(lines.len(), 2, "the error and one hint: {stderr}");
    assert!(lines[0].starts_with(starts), "{stderr}");
    assert!(lines[1].starts_with("  hint: "), "{stderr}");
    assert!(!stderr.contains("https://docs.rs"), "{stderr}");
}

/// Starts an apply on `site` and returns once it is held in stage 2: its extra template is a
/// CustomResourceDefinition whose kind another one already claims, so it is never established
/// and apply waits there, holding the lock (after stage 1, before any credential is written).
fn spawn_apply_held_in_stage_2(site: &Site) -> Running {
    let group = format!("{}.openlsp.test", site.name);
    e2e::kubectl_apply(site, "things.yaml", &e2e::crd(&group, "things", "Thing"));
    e2e::wait_established(&site.kubeconfig, &format!("things.{group}"))
        .unwrap_or_else(|err| panic!("{err}"));
    let widgets = e2e::templates(site, "widgets", &e2e::crd(&group, "widgets", "Thing"));
    let mut running = site.spawn_apply(&["--no-wait", "--templates", &widgets]);
    running.wait_for_stderr("names not accepted");
    running
}

/// Runs apply again until the lock a dead run left has expired; every refusal must name that
/// run as the holder. Returns the run that got through.
fn apply_once_the_lock_expires(site: &Site, dead_pid: u32) -> Output {
    common::wait_for("a re-run to get the lock", PATIENCE, || {
        let output = site.openlsp(&["apply", "--yes", "--no-wait"]);
        if output.code == 0 {
            return Ok(output);
        }
        assert!(
            output.stderr.contains(&format!(
                "another openlsp run holds the lock of namespace {}: ",
                site.name
            )) && output.stderr.contains(&format!(" pid {dead_pid} ")),
            "a re-run failed for another reason than the dead run's lock: {}",
            output.stderr
        );
        Err(output.stderr)
    })
}

#[test]
fn a_killed_api_server_mid_apply_is_one_line_and_a_rerun_converges_with_no_credential_changed() {
    let Some(Applied {
        _turn,
        site,
        cluster,
    }) = applied("kill", "6")
    else {
        return;
    };
    let state = common::tree_bytes(&site.state_dir());
    let secrets = site.secret_digests();
    assert!(secrets.len() >= 5, "the site's Secrets: {secrets:?}");

    let running = spawn_apply_held_in_stage_2(&site);
    let pid = running.id();
    cluster.control("kill-apiserver");
    let killed = site.finish(running);
    assert_eq!(killed.code, 2, "{}", killed.stderr);
    assert_one_clear_line(
        &killed.stderr,
        "error: lost the connection to the cluster at https://127.0.0.1:",
    );
    let error = error_lines(&killed.stderr)[0];
    assert!(
        error.contains("after stage 2 (Crds), waiting for its CustomResourceDefinitions: ")
            && error.contains("nothing after stage 2 was written; applied before that: "),
        "when it was lost and what was applied: {error}"
    );
    assert!(!error.contains("microk8s running"), "{error}");

    cluster.control("restart-apiserver");
    apply_once_the_lock_expires(&site, pid);
    site.openlsp(&["diff"]).expect(0);
    assert_eq!(
        common::tree_bytes(&site.state_dir()),
        state,
        "the state dir changed"
    );
    assert_eq!(site.secret_digests(), secrets, "a Secret's data changed");
    site.assert_nothing_leaked();
}

#[test]
fn a_stopped_api_server_makes_apply_give_up_within_its_timeout() {
    let Some(Applied {
        _turn,
        site,
        cluster,
    }) = applied("stop", "60")
    else {
        return;
    };
    let secrets = site.secret_digests();

    // SIGSTOP: the port still accepts connections (the kernel does that), nothing answers.
    cluster.control("stop-apiserver");
    let started = Instant::now();
    let stopped = site
        .openlsp(&["apply", "--yes", "--no-wait", "--timeout", "8s"])
        .expect(2);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(20),
        "gave up after {took:?}, with --timeout 8s"
    );
    assert_one_clear_line(&stopped.stderr, "error: the cluster at https://127.0.0.1:");
    assert!(
        stopped.stderr.contains(
            " accepted the connection but sent no answer before the request timed out (stopped, hung or overloaded)\n"
        ),
        "{}",
        stopped.stderr
    );

    cluster.control("cont-apiserver");
    site.openlsp(&["diff"]).expect(0);
    assert_eq!(site.secret_digests(), secrets);
}

#[test]
fn a_crashed_run_leaves_its_lock_named_with_holder_and_expiry_until_it_expires() {
    // The cluster is kept (not `_`, which would drop it here) until the test ends.
    let Some(Applied {
        _turn,
        site,
        cluster: _cluster,
    }) = applied("crash", "15")
    else {
        return;
    };
    let secrets = site.secret_digests();
    let running = spawn_apply_held_in_stage_2(&site);
    let pid = running.id();
    // The run crashes: no chance to release its lock.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    site.finish(running);

    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert_one_clear_line(
        &refused.stderr,
        &format!(
            "error: another openlsp run holds the lock of namespace {}: ",
            site.name
        ),
    );
    let error = error_lines(&refused.stderr)[0];
    assert!(
        error.contains(&format!(" pid {pid} ")),
        "the holder: {error}"
    );
    let expires_in: u64 = error
        .split("(it expires in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no expiry: {error}"));
    assert!((1..=15).contains(&expires_in), "{error}");

    apply_once_the_lock_expires(&site, pid);
    site.openlsp(&["diff"]).expect(0);
    assert_eq!(site.secret_digests(), secrets, "a Secret's data changed");
}
