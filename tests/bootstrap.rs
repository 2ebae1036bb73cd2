//! `openlsp bootstrap --from-dir` with a real bitcoind (Bitcoin Knots, scripts/test-deps.sh) on
//! regtest: node A mines 300 blocks and stops; the preflight reads its datadir; the copy Job's
//! script, as `bootstrap --render` prints it, runs here with its paths mapped, under busybox's
//! `sh` and applets (the image is Alpine's) and Debian's `rsync`, into node B's volume (the profile's disk, a temp dir); B starts and reports
//! A's height. Also: a source of another network, a copy killed partway and run again, and a
//! disk too small (a 4 MiB tmpfs), each refused or resumed as docs/bootstrap.md says.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Output, Test, documents};

mod snapshot;

pub(crate) const PROFILE: &str = "regtest-playground.yaml";

/// The programs these tests need, or None after a skip.
pub(crate) struct Programs {
    bitcoind: PathBuf,
    cli: PathBuf,
    pub(crate) rsync: PathBuf,
    busybox: PathBuf,
}

pub(crate) fn programs() -> Option<Programs> {
    Some(Programs {
        bitcoind: common::required_program("OPENLSP_TEST_BITCOIND", "the chain to copy")?,
        cli: common::required_program("OPENLSP_TEST_BITCOIN_CLI", "asking bitcoind its height")?,
        rsync: common::required_program("OPENLSP_TEST_RSYNC", "the copy script")?,
        busybox: common::required_program("OPENLSP_TEST_BUSYBOX", "the copy script's shell")?,
    })
}

/// A bitcoind on `datadir`, killed if the test fails before it stops it.
pub(crate) struct Bitcoind<'a> {
    programs: &'a Programs,
    datadir: PathBuf,
    chain: &'static str,
    rpc_port: u16,
    child: Option<Child>,
}

impl<'a> Bitcoind<'a> {
    pub(crate) fn start(
        programs: &'a Programs,
        datadir: &Path,
        chain: &'static str,
        extra: &[&str],
    ) -> Self {
        fs::create_dir_all(datadir).unwrap();
        let rpc_port = common::free_port();
        let child = Command::new(&programs.bitcoind)
            .arg(format!("-datadir={}", datadir.display()))
            .arg(format!("-chain={chain}"))
            .arg(format!("-rpcport={rpc_port}"))
            .arg(format!("-port={}", common::free_port()))
            .args([
                "-listen=0",
                "-connect=0",
                "-dnsseed=0",
                "-server=1",
                "-printtoconsole=0",
            ])
            .args([
                "-disablewallet=1",
                "-rpcbind=127.0.0.1",
                "-rpcallowip=127.0.0.1",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Bitcoind {
            programs,
            datadir: datadir.to_path_buf(),
            chain,
            rpc_port,
            child: Some(child),
        };
        common::wait_for("bitcoind to answer RPC", Duration::from_secs(120), || {
            let output = node.cli(&["getblockcount"]);
            if output.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&output.stderr).into_owned())
            }
        });
        node
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.programs.cli)
            .arg(format!("-datadir={}", self.datadir.display()))
            .arg(format!("-chain={}", self.chain))
            .arg(format!("-rpcport={}", self.rpc_port))
            .args(args)
            .output()
            .unwrap()
    }

    pub(crate) fn call(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "bitcoin-cli {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    pub(crate) fn height(&self) -> u64 {
        self.call(&["getblockcount"]).parse().unwrap()
    }

    /// `stop`, then waits until the process is gone (its files are then complete).
    pub(crate) fn stop(mut self) {
        self.call(&["stop"]);
        let mut child = self.child.take().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "bitcoind exited with {status}");
    }
}

impl Drop for Bitcoind<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Node A: a regtest datadir with `blocks` mined to an anyone-can-spend script, stopped.
pub(crate) fn mined_source(programs: &Programs, datadir: &Path, blocks: u32) {
    let node = Bitcoind::start(programs, datadir, "regtest", &[]);
    node.call(&["generatetodescriptor", &blocks.to_string(), "raw(51)"]);
    assert_eq!(node.height(), u64::from(blocks));
    node.stop();
}

/// A site whose one disk is `<test dir>/disk`, so node `bitcoind`'s volume (B's datadir) is
/// `<test dir>/disk/bitcoind`, which `apply` would have created.
pub(crate) fn site() -> (Test, PathBuf) {
    let test = Test::new().with_example("regtest-playground");
    let disk = test.path().join("disk");
    let profile = fs::read_to_string(test.path().join(PROFILE)).unwrap();
    assert!(profile.contains("/var/lib/openlsp"));
    test.write(
        PROFILE,
        &profile.replace("/var/lib/openlsp", disk.to_str().unwrap()),
    );
    let volume = disk.join("bitcoind");
    fs::create_dir_all(&volume).unwrap();
    (test, volume)
}

fn bootstrap(test: &Test, source: &Path, extra: &[&str]) -> Output {
    bootstrap_from(test, &["--from-dir", source.to_str().unwrap()], extra)
}

/// `openlsp bootstrap bitcoind` of the playground profile, from `source` (its options).
pub(crate) fn bootstrap_from(test: &Test, source: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["bootstrap", "bitcoind", "-p", PROFILE];
    args.extend(source);
    args.extend(extra);
    test.run(args)
}

/// The copy script of the Job `bootstrap --render` prints, checked by shellcheck as POSIX sh.
fn rendered_script(test: &Test, source: &Path, extra: &[&str]) -> (PathBuf, Output) {
    let mut args = vec!["--render"];
    args.extend(extra);
    let output = bootstrap(test, source, &args).expect(0);
    let docs = documents(&output.stdout);
    assert_eq!(docs.len(), 1, "only the Job: {}", output.stdout);
    let job = &docs[0];
    assert_eq!(job["kind"], "Job");
    let pod = &job["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["command"][0], "sh");
    assert_eq!(container["command"][1], "-c");
    let script = container["command"][2].as_str().unwrap();
    // The source is the host directory, read-only; the target the node's claim.
    let source_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "source")
        .unwrap();
    assert_eq!(
        source_volume["hostPath"]["path"],
        source.join("regtest").to_str().unwrap()
    );
    assert_eq!(
        container["volumeMounts"][1],
        serde_json::json!({ "name": "source", "mountPath": "/source", "readOnly": true })
    );
    (shellchecked(test, script), output)
}

/// `script` written to the test's `copy.sh`, after `shellcheck -s sh` found nothing in it.
pub(crate) fn shellchecked(test: &Test, script: &str) -> PathBuf {
    let file = test.write("copy.sh", script);
    let shellcheck = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(&file)
        .output()
        .expect("shellcheck (scripts/test-deps.sh installs it)");
    assert!(
        shellcheck.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&shellcheck.stdout)
    );
    file
}

/// The script as the pod runs it, with the pod's paths mapped: /source to A's chain
/// directory, /data/regtest to B's, the termination message to a file. Only busybox's applets
/// and rsync are on its PATH, as in the image. Started in its own process group, so a test can
/// kill it with rsync.
pub(crate) fn copy_command(
    programs: &Programs,
    script: &Path,
    source: &Path,
    volume: &Path,
    result: &Path,
) -> Command {
    let bin = script.with_file_name("image-bin");
    if !bin.is_dir() {
        fs::create_dir_all(&bin).unwrap();
        let list = Command::new(&programs.busybox)
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            std::os::unix::fs::symlink(&programs.busybox, bin.join(applet)).unwrap();
        }
        std::os::unix::fs::symlink(&programs.rsync, bin.join("rsync")).unwrap();
        // The image's ssh, for a source host (tests/bootstrap_ssh.rs).
        std::os::unix::fs::symlink("/usr/bin/ssh", bin.join("ssh")).unwrap();
    }
    let mut command = Command::new(bin.join("sh"));
    command
        .arg(script)
        .env_clear()
        .env("PATH", &bin)
        .env("OPENLSP_BOOTSTRAP_SOURCE", source.join("regtest"))
        .env("OPENLSP_BOOTSTRAP_TARGET", volume.join("regtest"))
        .env("OPENLSP_BOOTSTRAP_RESULT", result)
        .stdin(Stdio::null())
        .process_group(0);
    command
}

fn run_copy(
    programs: &Programs,
    script: &Path,
    source: &Path,
    volume: &Path,
    result: &Path,
) -> String {
    run_to_success(&mut copy_command(programs, script, source, volume, result))
}

/// Runs the copy script's `command`: its output, after it succeeded.
pub(crate) fn run_to_success(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the copy script failed:\n{log}");
    log
}

/// sha256 of every file under `dir`, by relative path.
pub(crate) fn digests(dir: &Path) -> BTreeMap<String, String> {
    use sha2::Digest as _;
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                found.insert(
                    path.strip_prefix(dir).unwrap().display().to_string(),
                    hex::encode(sha2::Sha256::digest(&bytes)),
                );
            }
        }
    }
    found
}

/// The uid that owns `path`.
pub(crate) fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata(path).unwrap().uid()
}

#[test]
fn a_regtest_chain_copied_by_the_rendered_job_script_starts_at_the_source_height() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let source = test.path().join("node-a");
    mined_source(&programs, &source, 300);
    let before = digests(&source);

    // The preflight alone: both sizes, the network, and a note on B's prune setting.
    let checked = bootstrap(&test, &source, &["--check"]).expect(0);
    assert!(
        checked
            .stderr
            .contains("(regtest chain, tip at height 300)"),
        "{}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains("disk: needs "),
        "{}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains(
            "note: bitcoind is pruned: bitcoind deletes the copied blocks down to 550 MiB"
        ),
        "{}",
        checked.stderr
    );
    assert!(checked.stderr.contains("nothing was changed"));
    assert!(!volume.join("regtest").exists(), "--check wrote nothing");

    let (script, _) = rendered_script(&test, &source, &[]);
    let result = test.path().join("result");
    let started = Instant::now();
    let log = run_copy(&programs, &script, &source, &volume, &result);
    let took = started.elapsed();
    eprintln!("the copy of 300 regtest blocks took {took:?}");
    assert!(log.contains("openlsp-bootstrap: done: copied "), "{log}");
    let message = fs::read_to_string(&result).unwrap();
    let copied: u64 = message
        .strip_prefix("copied ")
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("result: {message:?}"));
    assert!(copied > 0, "{message}");
    for dir in ["blocks", "chainstate"] {
        assert_eq!(
            owner(&volume.join("regtest").join(dir)),
            101,
            "{dir} is bitcoind's"
        );
    }
    assert_eq!(digests(&source), before, "the source was only read");

    assert_b_has_a_tip(&programs, &volume, &source);
}

/// Node B, started on the copy (pruned, as the playground's node is), is at height 300 with
/// A's best block.
pub(crate) fn assert_b_has_a_tip(programs: &Programs, volume: &Path, source: &Path) {
    let node_b = Bitcoind::start(programs, volume, "regtest", &["-prune=550"]);
    assert_eq!(node_b.height(), 300);
    assert_eq!(
        node_b.call(&["getbestblockhash"]),
        before_best_hash(programs, source),
        "B's tip is A's"
    );
    node_b.stop();
}

/// A's best block hash, from a bitcoind started on a copy of A (A itself stays untouched).
fn before_best_hash(programs: &Programs, source: &Path) -> String {
    let copy = source.with_file_name("node-a-again");
    let status = Command::new("cp")
        .arg("-a")
        .arg(source)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let node = Bitcoind::start(programs, &copy, "regtest", &[]);
    let hash = node.call(&["getbestblockhash"]);
    node.stop();
    hash
}

#[test]
fn a_source_of_another_network_is_refused_by_the_preflight() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    // A real signet datadir: bitcoind writes the genesis block and stops; it never connects.
    let source = test.path().join("signet-node");
    Bitcoind::start(&programs, &source, "signet", &[]).stop();
    assert!(source.join("signet/blocks/blk00000.dat").is_file());
    let refused = bootstrap(&test, &source, &["--check"]).expect(2);
    assert!(
        refused.stderr.contains(&format!(
            "{} holds a signet chain (blocks/blk00000.dat), but the site runs on regtest; nothing was changed",
            source.join("signet").display()
        )),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("hint: copy from a regtest node"));
    assert_output_snapshot!("bootstrap_wrong_network", refused.stderr, &test);
    // The same for the render (no Job is printed) and the whole run (no cluster is reached).
    let rendered = bootstrap(&test, &source, &["--render"]).expect(2);
    assert!(rendered.stdout.is_empty(), "{}", rendered.stdout);
    let run = bootstrap(&test, &source, &["--yes"]).expect(2);
    assert!(
        run.stderr.contains("holds a signet chain"),
        "{}",
        run.stderr
    );
    assert!(
        fs::read_dir(&volume).unwrap().next().is_none(),
        "B untouched"
    );
}

#[test]
fn a_killed_copy_run_again_resumes_and_never_changes_the_source() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let source = test.path().join("node-a");
    mined_source(&programs, &source, 300);
    let before = digests(&source);
    // B ran before on its own, with a transaction index A lacks: files of another chain, which
    // only --delete may remove (and with it, the whole indexes/ the source has none of).
    Bitcoind::start(&programs, &volume, "regtest", &["-txindex=1"]).stop();
    assert!(volume.join("regtest/indexes/txindex").is_dir());
    let refused = bootstrap(&test, &source, &["--check"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("file(s) the source lacks (indexes/txindex/")
            && refused.stderr.contains("pass --delete"),
        "{}",
        refused.stderr
    );

    // Slowed to 256 KiB/s, the copy of A's ~17 MiB is killed (with rsync) after 2 s.
    let (slow, _) = rendered_script(&test, &source, &["--delete", "--bwlimit", "256"]);
    let result = test.path().join("result");
    let mut copy = copy_command(&programs, &slow, &source, &volume, &result)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", copy.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    copy.wait().unwrap();
    assert!(!result.exists(), "the killed copy reported no result");
    let partial = digests(&volume.join("regtest"));
    assert_ne!(
        partial.get("blocks/blk00000.dat"),
        before.get("regtest/blocks/blk00000.dat"),
        "killed partway: A's block file is not there yet"
    );
    assert!(
        !volume.join("regtest/indexes").exists(),
        "--delete removed B's indexes/, which the source has none of, before copying"
    );
    assert_eq!(
        digests(&source),
        before,
        "the killed copy only read the source"
    );

    // Run again (the operator's re-run renders the same Job without the limit): it resumes.
    let (script, again) = rendered_script(&test, &source, &["--delete"]);
    assert!(again.stderr.contains("disk: needs"), "{}", again.stderr);
    let log = run_copy(&programs, &script, &source, &volume, &result);
    assert!(log.contains("done: copied"), "{log}");
    assert_eq!(digests(&source), before, "the source is byte-identical");
    let leftovers: Vec<String> = digests(&volume.join("regtest"))
        .into_keys()
        .filter(|path| {
            Path::new(path)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .is_some_and(|name| name.starts_with('.') && name != ".lock")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "rsync temporaries left: {leftovers:?}"
    );

    assert!(!volume.join("regtest/indexes").exists());

    let node_b = Bitcoind::start(&programs, &volume, "regtest", &["-prune=550"]);
    assert_eq!(node_b.height(), 300);
    node_b.stop();
}

#[test]
fn a_disk_too_small_is_refused_before_anything_stops() {
    let Some(programs) = programs() else { return };
    let (test, volume) = site();
    let source = test.path().join("node-a");
    mined_source(&programs, &source, 10);
    // The node's disk: a 4 MiB tmpfs at its volume, smaller than A's preallocated block file.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "openlsp-test-small"])
        .arg(&volume)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs at {}", volume.display());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(volume.clone());
    // No cluster is named: the refusal comes before the run reaches for one.
    let refused = bootstrap(&test, &source, &["--yes"]).expect(2);
    let first = refused
        .stderr
        .lines()
        .find(|line| line.contains("the copy needs"))
        .unwrap_or_else(|| panic!("{}", refused.stderr));
    assert!(
        first.contains(&format!("free on {}", volume.join("regtest").display()))
            && first.contains("but it has 4Mi")
            && first.ends_with("nothing was changed"),
        "{first}"
    );
    assert!(
        refused
            .stderr
            .contains("hint: make room on the node's disk")
    );
    assert!(!refused.all().contains("2/5 stop"), "{}", refused.all());
    assert!(
        fs::read_dir(&volume).unwrap().next().is_none(),
        "nothing written"
    );
}

/// The Job as `bootstrap --render` prints it: pinned image, the node's machine, root with only
/// the capabilities a copy needs, the node's claim and the source read-only.
#[test]
fn the_copy_job_is_pinned_confined_and_reads_the_source_only() {
    let (test, _volume) = site();
    let source = test.path().join("node-a/regtest");
    fs::create_dir_all(source.join("chainstate")).unwrap();
    fs::create_dir_all(source.join("blocks")).unwrap();
    fs::write(
        source.join("blocks/blk00000.dat"),
        [0xfa, 0xbf, 0xb5, 0xda, 0, 0],
    )
    .unwrap();
    fs::write(source.join("chainstate/CURRENT"), b"MANIFEST-000001\n").unwrap();
    let output = bootstrap(&test, &source, &["--render"]).expect(0);
    let docs = documents(&output.stdout);
    let job: &Value = &docs[0];
    let pod = &job["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "instrumentisto/rsync-ssh:alpine3.23-r3");
    assert_eq!(pod["nodeSelector"]["kubernetes.io/hostname"], "dev");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "bitcoind-data"
    );
    assert_eq!(
        container["securityContext"]["capabilities"],
        serde_json::json!({ "drop": ["ALL"], "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"] })
    );
    assert_eq!(
        job["metadata"]["annotations"]["openlsp.io/bootstrap"],
        format!("--from-dir {}", source.display())
    );
    assert!(
        job["metadata"]["labels"]
            .as_object()
            .unwrap()
            .keys()
            .all(|key| !key.starts_with("applyset.kubernetes.io")),
        "the Job is no member of the site's ApplySet: apply never prunes it"
    );
    let script = container["command"][2].as_str().unwrap();
    assert!(!script.contains("--delete"), "no --delete unless asked");
    assert!(script.contains("\"$from/./$dir\""));
}
