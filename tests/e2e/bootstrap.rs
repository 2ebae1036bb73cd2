//! `openlsp bootstrap` on the bare API server (no kubelet): it scales the node to 0, creates the
//! copy Job, which the test marks complete as a kubelet would, deletes it, scales the node back
//! as apply has it and waits for it (the test marks its pod ready and writes the height bitcoind
//! would log), and writes no other object of the site. Interrupted during the copy, it leaves the
//! node stopped, apply and secrets rotate refuse to start it and say which command resumes, and
//! a re-run follows the Job that kept going. A disk too small is refused before anything stops.
//! From a host (a real sshd on loopback), the Job's Secret holds the given key and the source's
//! host key, its NetworkPolicy admits the source alone, and both go with the Job.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::common::e2e::{PATIENCE, Site, bare_cluster};
use crate::common::sshd::Sshd;
use crate::common::{self};

/// A regtest chain in `dir`: a block file with regtest's message start, a chainstate file and a
/// debug.log that names height 300. The cluster test needs no real chain: nothing runs the Job.
fn fake_regtest_source(dir: &Path) {
    let chain = dir.join("regtest");
    fs::create_dir_all(chain.join("blocks")).unwrap();
    fs::create_dir_all(chain.join("chainstate")).unwrap();
    // 8 MiB, sparse: more than the small disk below has, at no cost to this machine's.
    let block = chain.join("blocks/blk00000.dat");
    fs::write(&block, [0xfa, 0xbf, 0xb5, 0xda]).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&block)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    fs::write(chain.join("chainstate/CURRENT"), b"MANIFEST-000001\n").unwrap();
    fs::write(
        chain.join("debug.log"),
        "2026-12-03T00:00:00Z UpdateTip: new best=00ab height=300 version=0x20000000\n",
    )
    .unwrap();
}

/// The node's volume on "its machine" (this one): the directory `apply` expects to exist.
fn volume(site: &Site) -> PathBuf {
    PathBuf::from(format!("/srv/{}/scratch/bitcoind", site.namespace()))
}

/// Plays the Job's kubelet: reports Job `name` complete through its status subresource, if it
/// exists and is not complete yet. The Job controller may write its own status over one such
/// write, so callers repeat it until the Job is gone.
fn complete_job(site: &Site, name: &str) {
    let output = site.kubectl(&["get", "job", name, "-n", site.namespace(), "-o", "json"]);
    if output.code != 0 {
        return;
    }
    let mut job: Value = serde_json::from_str(&output.stdout).unwrap();
    let complete = job["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Complete" && c["status"] == "True")
    });
    if complete {
        return;
    }
    if let Some(metadata) = job["metadata"].as_object_mut() {
        metadata.remove("resourceVersion");
    }
    job["status"] = serde_json::json!({
        "conditions": [{ "type": "Complete", "status": "True",
                         "lastProbeTime": "2026-12-03T00:00:00Z",
                         "lastTransitionTime": "2026-12-03T00:00:00Z" }],
        "startTime": "2026-12-03T00:00:00Z",
        "completionTime": "2026-12-03T00:00:01Z",
        "succeeded": 1
    });
    let file = std::env::temp_dir().join(format!("{}-{name}-status.json", site.namespace()));
    fs::write(&file, job.to_string()).unwrap();
    let uri = format!(
        "/apis/batch/v1/namespaces/{}/jobs/{name}/status",
        site.namespace()
    );
    site.kubectl(&["replace", "--raw", &uri, "-f", file.to_str().unwrap()]);
    let _ = fs::remove_file(file);
}

/// Plays bitcoind once it runs again: its log names the copied height.
fn log_height(site: &Site, height: u64) {
    let chain = volume(site).join("regtest");
    fs::create_dir_all(&chain).unwrap();
    let mut log = fs::read_to_string(chain.join("debug.log")).unwrap_or_default();
    log.push_str(&format!(
        "2026-12-03T00:00:02Z Loaded best chain: hashBestChain=00ab height={height} date=x\n"
    ));
    fs::write(chain.join("debug.log"), log).unwrap();
}

fn replicas(site: &Site) -> (Value, Value) {
    let sts = site.get_json(&["statefulset", "bitcoind", "-n", site.namespace()]);
    (
        sts["spec"]["replicas"].clone(),
        sts["metadata"]["annotations"]["openlsp.io/bootstrap"].clone(),
    )
}

/// Removes the site's directories under /srv when the test ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(self.0.join("scratch/bitcoind"))
            .status();
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Of the site's objects (`before`, from `settle`), only bitcoind's StatefulSet changed, and
/// none came or went.
fn assert_only_the_node_changed(site: &Site, before: &std::collections::BTreeMap<String, String>) {
    let after = site.settle();
    let changed: Vec<&String> = before
        .keys()
        .filter(|key| before.get(*key) != after.get(*key))
        .collect();
    assert_eq!(changed, ["StatefulSet/bitcoind"], "{before:?}\n{after:?}");
    assert_eq!(before.len(), after.len());
}

/// The playground site, its directories removed at the end, and a regtest source.
fn site_with_source(kubeconfig: PathBuf, suffix: &str) -> (Site, Cleanup, tempfile::TempDir) {
    let site = Site::on(kubeconfig, "regtest-playground", suffix);
    let cleanup = Cleanup(PathBuf::from(format!("/srv/{}", site.namespace())));
    let source = tempfile::tempdir().unwrap();
    fake_regtest_source(source.path());
    (site, cleanup, source)
}

#[test]
fn bootstrap_stops_copies_with_a_job_and_starts_the_node_writing_nothing_else() {
    let Some(kubeconfig) = bare_cluster() else {
        return;
    };
    let (site, _cleanup, source) = site_with_source(kubeconfig, "boot");
    let from = source.path().to_str().unwrap().to_owned();
    // The run that is interrupted, and the same run again, which resumes.
    let resumable = [
        "bootstrap",
        "bitcoind",
        "--from-dir",
        &from,
        "--yes",
        "--timeout",
        "120s",
    ];

    // Not applied yet: the node is not in the cluster, and nothing is written.
    fs::create_dir_all(volume(&site)).unwrap();
    let missing = site
        .openlsp(&["bootstrap", "bitcoind", "--from-dir", &from, "--yes"])
        .expect(2);
    assert!(
        missing
            .stderr
            .contains("has never been applied; nothing was changed"),
        "{}",
        missing.stderr
    );
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = site.settle();

    // A disk too small (a 1 MiB tmpfs at the volume) is refused before anything stops.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "openlsp-test-small"])
        .arg(volume(&site))
        .status()
        .unwrap();
    assert!(mounted.success());
    let small = site
        .openlsp(&["bootstrap", "bitcoind", "--from-dir", &from, "--yes"])
        .expect(2);
    assert!(
        Command::new("umount")
            .arg(volume(&site))
            .status()
            .unwrap()
            .success()
    );
    assert!(small.stderr.contains("the copy needs"), "{}", small.stderr);
    assert!(small.stderr.contains("but it has 1Mi"), "{}", small.stderr);
    assert!(!small.stderr.contains("2/5 stop"), "{}", small.stderr);
    assert_eq!(replicas(&site), (Value::from(1), Value::Null));
    assert_eq!(site.resource_versions(), before, "the refused run wrote");

    // Interrupted while the Job copies: the node stays stopped, the Job goes on.
    let mut running = site.spawn(&resumable);
    running.wait_for_stderr("3/5 copy");
    common::wait_for("the copy Job", PATIENCE, || {
        let output = site.kubectl(&["get", "job", "bitcoind-bootstrap", "-n", site.namespace()]);
        if output.code == 0 {
            Ok(())
        } else {
            Err(output.stderr)
        }
    });
    let interrupted = site.interrupt(running);
    assert_eq!(interrupted.code, 2, "{}", interrupted.stderr);
    assert!(
        interrupted
            .stderr
            .contains("lnd keeps running: it reconnects when bitcoind is back"),
        "{}",
        interrupted.stderr
    );
    assert!(
        interrupted.stderr.contains(
            "interrupted: the copy Job bitcoind-bootstrap goes on in the cluster and bitcoind stays stopped"
        ),
        "{}",
        interrupted.stderr
    );
    let resume = format!("openlsp bootstrap bitcoind --from-dir {from}");
    assert!(
        interrupted
            .stderr
            .contains(&format!("hint: run {resume} again"))
    );
    assert_eq!(
        replicas(&site),
        (Value::from(0), Value::from(format!("--from-dir {from}")))
    );

    // apply and diff say a bootstrap is in progress, and apply changes nothing.
    let stopped_versions = site.resource_versions();
    let apply = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert!(
        apply.stderr.contains(&format!(
            "bitcoind is stopped by `{resume}`: a bootstrap of its data has not finished; nothing was changed"
        )),
        "{}",
        apply.stderr
    );
    assert!(
        apply
            .stderr
            .contains("run that command again to finish the bootstrap")
    );
    let diff = site.openlsp(&["diff"]);
    assert!(
        diff.stderr
            .contains("apply refuses to start it until that bootstrap ends"),
        "{}",
        diff.stderr
    );
    // Rotating bitcoind's RPC credentials would roll (start) it too: refused the same way.
    let rotate = site
        .openlsp(&[
            "secrets",
            "rotate",
            "lnd-bitcoind-rpc",
            "--yes",
            "--no-wait",
            "--timeout",
            "60s",
        ])
        .expect(2);
    assert!(
        rotate
            .stderr
            .contains("a bootstrap of its data has not finished; nothing was changed"),
        "{}",
        rotate.stderr
    );
    assert_eq!(
        site.resource_versions(),
        stopped_versions,
        "apply or rotate wrote"
    );

    // The re-run follows the Job, which the "kubelet" completes, then starts the node.
    let running = site.spawn(&resumable);
    // The "kubelet": the Job completes, and bitcoind's pod is ready once it is back. A wait
    // that fails interrupts the run, so the loop ends with the test.
    let done = AtomicBool::new(false);
    let (started, done) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                complete_job(&site, "bitcoind-bootstrap");
                site.mark_pods_ready_where(|pod| pod == "bitcoind-0");
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        });
        let started = common::poll(
            "bitcoind to be started",
            PATIENCE,
            std::time::Duration::from_millis(300),
            || match replicas(&site).0.as_i64() {
                Some(1) => Ok(()),
                other => Err(format!("replicas {other:?}")),
            },
        );
        if started.is_ok() {
            log_height(&site, 300);
        } else {
            let _ = Command::new("kill")
                .args(["-INT", &running.id().to_string()])
                .status();
        }
        let output = site.finish(running);
        done.store(true, Ordering::SeqCst);
        (started, output)
    });
    started.unwrap_or_else(|err| panic!("{err}\n{}", done.stderr));
    assert_eq!(done.code, 0, "{}", done.stderr);
    for step in [
        "1/5 preflight",
        "2/5 stop",
        "3/5 copy",
        "4/5 start",
        "5/5 summary",
    ] {
        assert!(done.stderr.contains(step), "{step}: {}", done.stderr);
    }
    assert!(
        done.stderr
            .contains("still copying from an earlier run: following it"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains("height: unknown before, 300 after (the source's: 300)"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("bitcoind is bootstrapped and running"));
    assert_eq!(replicas(&site), (Value::from(1), Value::Null));
    site.wait_gone("job", "bitcoind-bootstrap");

    // Only bitcoind's StatefulSet was written; every other object is as apply left it.
    assert_only_the_node_changed(&site, &before);
    site.assert_reapply_is_a_no_op();
    site.assert_nothing_leaked();
}

#[test]
fn bootstrap_from_a_host_gives_the_job_its_key_and_one_connection_then_removes_both() {
    let Some(kubeconfig) = bare_cluster() else {
        return;
    };
    let (site, _cleanup, source) = site_with_source(kubeconfig, "bootssh");
    let Some(sshd) = Sshd::start(&source.path().join("sshd")) else {
        return;
    };
    let key = fs::read_to_string(&sshd.client_key).unwrap();
    site.openlsp(&[
        "secrets",
        "set",
        "bootstrap-ssh",
        "--from-file",
        sshd.client_key.to_str().unwrap(),
    ])
    .expect(0);
    fs::create_dir_all(volume(&site)).unwrap();
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = site.settle();

    let from = sshd.source(source.path());
    let port = sshd.port.to_string();
    let running = site.spawn(&[
        "bootstrap",
        "bitcoind",
        "--from-host",
        &from,
        "--ssh-port",
        &port,
        "--known-hosts",
        sshd.known_hosts.to_str().unwrap(),
        "--yes",
        "--timeout",
        "120s",
    ]);
    // The "kubelet": before it completes the Job, the key and the policy are read as its pod
    // would get them.
    let done = AtomicBool::new(false);
    let (seen, output) = std::thread::scope(|scope| {
        let seen = scope.spawn(|| {
            let seen = common::poll(
                "the copy Job",
                PATIENCE,
                std::time::Duration::from_millis(200),
                || {
                    let job =
                        site.kubectl(&["get", "job", "bitcoind-bootstrap", "-n", site.namespace()]);
                    if job.code != 0 {
                        return Err(job.stderr);
                    }
                    Ok((
                        site.live_secret("bitcoind-bootstrap-ssh", "id"),
                        site.live_secret("bitcoind-bootstrap-ssh", "known_hosts"),
                        site.get_json(&[
                            "networkpolicy",
                            "bitcoind-bootstrap",
                            "-n",
                            site.namespace(),
                        ]),
                    ))
                },
            );
            while !done.load(Ordering::SeqCst) {
                complete_job(&site, "bitcoind-bootstrap");
                site.mark_pods_ready_where(|pod| pod == "bitcoind-0");
                if replicas(&site).0 == 1 {
                    log_height(&site, 300);
                }
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            seen
        });
        let output = site.finish(running);
        done.store(true, Ordering::SeqCst);
        (seen.join().unwrap(), output)
    });
    let (live_key, live_hosts, policy) =
        seen.unwrap_or_else(|err| panic!("{err}\n{}", output.stderr));
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("bitcoind is bootstrapped and running"),
        "{}",
        output.stderr
    );
    assert_eq!(
        String::from_utf8(live_key).unwrap(),
        key,
        "the Job's key is the given one"
    );
    assert_eq!(
        live_hosts,
        fs::read(&sshd.known_hosts).unwrap(),
        "and only the source's host key"
    );
    let job_labels = policy["spec"]["podSelector"]["matchLabels"].clone();
    assert_eq!(job_labels["app.kubernetes.io/name"], "openlsp-bootstrap");
    assert_eq!(
        policy["spec"]["egress"],
        serde_json::json!([{
            "to": [{ "ipBlock": { "cidr": "127.0.0.1/32" } }],
            "ports": [{ "protocol": "TCP", "port": sshd.port }],
        }])
    );

    // The Job, its Secret and its NetworkPolicy are gone; only bitcoind's StatefulSet changed.
    site.wait_gone("job", "bitcoind-bootstrap");
    site.wait_gone("secret", "bitcoind-bootstrap-ssh");
    site.wait_gone("networkpolicy", "bitcoind-bootstrap");
    assert_only_the_node_changed(&site, &before);
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    site.assert_never_shown(&[&body[..48]]);
    site.assert_nothing_leaked();
}
