//! The channel backup container's script, run here as the pod runs it: the script and its
//! settings as `openlsp render` puts them in the node's ConfigMap, with only the paths mapped
//! into a temp dir, under busybox's shell and applets with the real rclone and inotifywait
//! (scripts/test-deps.sh installs Debian's). Its targets: a local directory and a real WebDAV
//! server (`rclone serve webdav` on loopback) that the test stops and starts again.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Test, find, render};

/// LND's own rename: the new file is written beside it, then moved over it.
fn replace_atomically(file: &Path, bytes: &[u8]) {
    let temp = file.with_extension("backup.tmp");
    fs::write(&temp, bytes).unwrap();
    fs::rename(&temp, file).unwrap();
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One channel backup's worth of random-looking bytes, different for each `n`.
fn backup_bytes(n: u8) -> Vec<u8> {
    (0..400u32)
        .map(|i| (i.wrapping_mul(31) as u8) ^ n.wrapping_mul(97))
        .collect()
}

/// A process group killed with SIGTERM (the script's own clean stop), then SIGKILL, on drop.
pub(crate) struct Group(Child);

impl Group {
    pub(crate) fn spawn(command: &mut Command) -> Self {
        Group(command.process_group(0).spawn().unwrap())
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
    }

    fn stop(&mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.0.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal("-KILL");
        let _ = self.0.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `rclone serve webdav` of `root` on `port`, with a user and password.
fn webdav(rclone: &Path, root: &Path, port: u16) -> Group {
    let server = Group::spawn(
        Command::new(rclone)
            .args(["serve", "webdav"])
            .arg(root)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--user", "backupuser", "--pass", WEBDAV_PASSWORD])
            .args(["--config", "/dev/null", "-q"])
            .stdin(Stdio::null()),
    );
    common::wait_for("the WebDAV server", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .map(drop)
            .map_err(|err| err.to_string())
    });
    server
}

const WEBDAV_PASSWORD: &str = "webdav-secret-password-4711";

/// The status file, as `target -> (sha256, verified, failures, error)`.
fn target_status(status: &Path, target: &str) -> Option<(String, i64, u64, String)> {
    let text = fs::read_to_string(status).ok()?;
    text.lines().find_map(|line| {
        let mut words = line.splitn(6, ' ');
        (words.next()? == "target" && words.next()? == target).then_some(())?;
        Some((
            words.next()?.to_owned(),
            words.next()?.parse().ok()?,
            words.next()?.parse().ok()?,
            words.next().unwrap_or("").trim().to_owned(),
        ))
    })
}

fn timestamped_copies(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("channel.backup.") && name.ends_with('Z'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `GET /metrics.txt` on loopback: the Content-Type and the body.
fn scrape(port: u16) -> Result<(String, String), String> {
    use std::io::{Read as _, Write as _};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|err| err.to_string())?;
    stream
        .write_all(b"GET /metrics.txt HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|err| err.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|err| err.to_string())?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no body")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or("").to_owned());
    }
    let content_type = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_owned();
    Ok((content_type, body.to_owned()))
}

/// A directory of busybox's applets (all of them, as in the image's alpine base), rclone and
/// inotifywait: the only programs the script finds.
pub(crate) fn image_like_path(
    dir: &Path,
    busybox: &Path,
    rclone: &Path,
    inotifywait: Option<&Path>,
) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        std::os::unix::fs::symlink(busybox, bin.join(applet)).unwrap();
    }
    std::os::unix::fs::symlink(rclone, bin.join("rclone")).unwrap();
    if let Some(inotifywait) = inotifywait {
        std::os::unix::fs::symlink(inotifywait, bin.join("inotifywait")).unwrap();
    }
    bin
}

/// The script as the pod runs it (`sh backup.sh backup.conf`), with only `bin` on PATH and its
/// log in `log`; stopped with SIGTERM when dropped.
pub(crate) fn run_script(bin: &Path, root: &Path, script: &Path, conf: &Path, log: &Path) -> Group {
    Group::spawn(
        Command::new(bin.join("sh"))
            .arg(script)
            .arg(conf)
            .env_clear()
            .env("PATH", bin)
            .env("HOME", root.join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).unwrap()),
    )
}

/// The rendered ConfigMap's `backup.conf`, with the pod's paths mapped into `root`, a short
/// recheck (30 s), `keep` 2, metrics on `metrics_port` and a WebDAV target added.
fn mapped_conf(
    rendered: &str,
    root: &Path,
    metrics_port: Option<u16>,
    rclone_conf: Option<&Path>,
) -> String {
    let root = root.display().to_string();
    let mut conf = String::new();
    let mut targets = 0;
    for line in rendered.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let mapped = match key {
            "source" => {
                assert_eq!(value, "/data/data/chain/bitcoin/mainnet/channel.backup");
                format!("source {root}{value}")
            }
            "run" => format!("run {root}{value}"),
            "status" => format!("status {root}{value}"),
            "keep" => "keep 2".to_owned(),
            "recheck" => {
                assert_eq!(value, "300", "the pod checks every target every 5 minutes");
                // Long enough that no periodic check overlaps the latency measurements.
                "recheck 30".to_owned()
            }
            "target" => {
                targets += 1;
                assert_eq!(value, "usb /backup/usb/home-pi/lnd -");
                format!("target usb {root}/backup/usb/home-pi/lnd -")
            }
            _ => line.to_owned(),
        };
        conf.push_str(&mapped);
        conf.push('\n');
    }
    assert_eq!(targets, 1, "the profile has one path target");
    if let Some(port) = metrics_port {
        conf.push_str(&format!("metrics {port}\n"));
    }
    if let Some(rclone_conf) = rclone_conf {
        conf.push_str(&format!(
            "target dav dav:home-pi/lnd {}\n",
            rclone_conf.display()
        ));
    }
    conf
}

#[test]
fn the_backup_script_copies_verifies_retries_and_restores_targets() {
    let Some(rclone) = common::required_program("OPENLSP_TEST_RCLONE", "the backup script") else {
        return;
    };
    let Some(inotifywait) =
        common::required_program("OPENLSP_TEST_INOTIFYWAIT", "the backup script")
    else {
        return;
    };
    let Some(busybox) = common::required_program("OPENLSP_TEST_BUSYBOX", "the backup script")
    else {
        return;
    };

    let test = Test::new().with_example("pi4-mainnet");
    let (docs, _) = render(&test, "pi4-mainnet.yaml");
    let config_map: &Value = find(&docs, "ConfigMap", "lnd-backup");
    let script = config_map["data"]["backup.sh"].as_str().unwrap();
    let rendered_conf = config_map["data"]["backup.conf"].as_str().unwrap();

    let root = test.path().join("pod");
    let source_dir = root.join("data/data/chain/bitcoin/mainnet");
    let usb = root.join("backup/usb");
    let dav_root = test.path().join("webdav");
    for dir in [
        &source_dir,
        &usb,
        &dav_root,
        &root.join("run/backup-status"),
    ] {
        fs::create_dir_all(dir).unwrap();
    }
    let source = source_dir.join("channel.backup");
    replace_atomically(&source, &backup_bytes(1));

    let dav_port = common::free_port();
    let obscured = Command::new(&rclone)
        .args(["obscure", WEBDAV_PASSWORD])
        .output()
        .unwrap();
    let obscured = String::from_utf8(obscured.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let rclone_conf = test.path().join("secret/rclone.conf");
    fs::create_dir_all(rclone_conf.parent().unwrap()).unwrap();
    let rclone_text = format!(
        "[dav]\ntype = webdav\nurl = http://127.0.0.1:{dav_port}\nvendor = other\nuser = backupuser\npass = {obscured}\n"
    );
    fs::write(&rclone_conf, &rclone_text).unwrap();

    let metrics_port = common::free_port();
    let conf_path = root.join("backup.conf");
    fs::write(
        &conf_path,
        mapped_conf(rendered_conf, &root, Some(metrics_port), Some(&rclone_conf)),
    )
    .unwrap();
    let script_path = root.join("backup.sh");
    fs::write(&script_path, script).unwrap();
    let bin = image_like_path(test.path(), &busybox, &rclone, Some(&inotifywait));
    let status = root.join("run/backup-status/status");
    let log = test.path().join("backup.log");
    let usb_dir = usb.join("home-pi/lnd");
    let dav_dir = dav_root.join("home-pi/lnd");

    let mut server = webdav(&rclone, &dav_root, dav_port);
    let _backup = run_script(&bin, &root, &script_path, &conf_path, &log);
    let log_text = || fs::read_to_string(&log).unwrap_or_default();

    // On start: both targets get the file and a timestamped copy, both verified.
    let first = sha256(&backup_bytes(1));
    for (target, dir) in [("usb", &usb_dir), ("dav", &dav_dir)] {
        common::wait_for(
            &format!("the first verified copy on {target}"),
            Duration::from_secs(30),
            || match target_status(&status, target) {
                Some((sha, verified, _, _)) if sha == first && verified > 0 => Ok(()),
                other => Err(format!("{other:?}; log: {}", log_text())),
            },
        );
        assert_eq!(
            fs::read(dir.join("channel.backup")).unwrap(),
            backup_bytes(1)
        );
        assert_eq!(
            timestamped_copies(dir).len(),
            1,
            "{target}: one timestamped copy"
        );
    }

    // A change by atomic rename: every target holds it, verified, within 2 s.
    let mut latencies = Vec::new();
    for n in 2..=3u8 {
        // A new second, so the change gets a timestamped copy of its own.
        std::thread::sleep(Duration::from_millis(1100));
        let changed = Instant::now();
        replace_atomically(&source, &backup_bytes(n));
        let sha = sha256(&backup_bytes(n));
        let mut arrived: [Option<Duration>; 2] = [None, None];
        common::poll(
            "both targets to hold the change, verified",
            Duration::from_secs(2),
            Duration::from_millis(10),
            || {
                for (i, target) in ["usb", "dav"].iter().enumerate() {
                    if arrived[i].is_none()
                        && target_status(&status, target).is_some_and(|(s, _, _, _)| s == sha)
                    {
                        arrived[i] = Some(changed.elapsed());
                    }
                }
                if arrived.iter().all(Option::is_some) {
                    Ok(())
                } else {
                    Err(log_text())
                }
            },
        )
        .unwrap_or_else(|err| panic!("{err}"));
        latencies.push(arrived.map(Option::unwrap));
        assert_eq!(
            fs::read(usb_dir.join("channel.backup")).unwrap(),
            backup_bytes(n)
        );
        assert_eq!(
            fs::read(dav_dir.join("channel.backup")).unwrap(),
            backup_bytes(n)
        );
    }
    eprintln!("backup latency after an atomic rename, verified, [usb, dav]: {latencies:?}");
    // keep 2: three versions made, two timestamped copies remain, the newest ones (old ones go
    // after the new copy is reported).
    let copies = common::wait_for("keep 2 on usb", Duration::from_secs(10), || {
        let copies = timestamped_copies(&usb_dir);
        if copies.len() == 2 {
            Ok(copies)
        } else {
            Err(format!("{copies:?}"))
        }
    });
    assert_eq!(
        fs::read(usb_dir.join(&copies[1])).unwrap(),
        backup_bytes(3),
        "the newest timestamped copy is the latest version"
    );

    // The metrics, as Prometheus scrapes them: text/plain, one series per target.
    let (content_type, body) = common::poll(
        "the metrics",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || scrape(metrics_port),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for target in ["usb", "dav"] {
        for metric in [
            "openlsp_backup_last_success_timestamp_seconds",
            "openlsp_backup_source_changed_timestamp_seconds",
            "openlsp_backup_failures_total",
            "openlsp_backup_target_current",
        ] {
            assert!(
                body.contains(&format!("{metric}{{node=\"lnd\",target=\"{target}\"}} ")),
                "{metric} for {target} in:\n{body}"
            );
        }
    }

    // The WebDAV server stops and the file changes: usb gets it, dav's failures are counted,
    // and the source is untouched.
    server.stop();
    std::thread::sleep(Duration::from_millis(1100));
    replace_atomically(&source, &backup_bytes(4));
    let fourth = sha256(&backup_bytes(4));
    let source_before = fs::metadata(&source).unwrap().modified().unwrap();
    common::wait_for(
        "dav to fail",
        Duration::from_secs(60),
        || match target_status(&status, "dav") {
            Some((_, _, failures, error)) if failures >= 1 && !error.is_empty() => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let (_, _, failures, error) = target_status(&status, "dav").unwrap();
    assert!(failures >= 1);
    common::wait_for(
        "usb to hold the change",
        Duration::from_secs(10),
        || match target_status(&status, "usb") {
            Some((sha, _, _, _)) if sha == fourth => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // The error names what failed, and no value of the rclone config.
    let metrics_body = scrape(metrics_port)
        .map(|(_, body)| body)
        .unwrap_or_default();
    for text in [
        &error,
        &log_text(),
        &fs::read_to_string(&status).unwrap(),
        &metrics_body,
    ] {
        for value in [
            WEBDAV_PASSWORD,
            obscured.as_str(),
            "backupuser",
            &format!("127.0.0.1:{dav_port}"),
        ] {
            assert!(!text.contains(value), "a config value leaked into: {text}");
        }
    }
    assert!(
        metrics_body.contains("openlsp_backup_failures_total{node=\"lnd\",target=\"dav\"} ")
            && !metrics_body
                .contains("openlsp_backup_failures_total{node=\"lnd\",target=\"dav\"} 0\n"),
        "{metrics_body}"
    );
    assert_eq!(
        fs::read(&source).unwrap(),
        backup_bytes(4),
        "source changed"
    );
    assert_eq!(
        fs::metadata(&source).unwrap().modified().unwrap(),
        source_before
    );
    let names: Vec<_> = fs::read_dir(&source_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["channel.backup"],
        "the script wrote into the source dir"
    );

    // The server comes back: the retry catches up without a new change.
    let _server = webdav(&rclone, &dav_root, dav_port);
    common::wait_for(
        "dav to catch up",
        Duration::from_secs(30),
        || match target_status(&status, "dav") {
            Some((sha, _, _, error)) if sha == fourth && error.is_empty() => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    assert_eq!(
        fs::read(dav_dir.join("channel.backup")).unwrap(),
        backup_bytes(4)
    );

    // A target emptied by hand: the periodic check finds out and copies again.
    fs::remove_dir_all(&usb_dir).unwrap();
    common::wait_for(
        "the periodic check to restore usb",
        Duration::from_secs(60),
        || match fs::read(usb_dir.join("channel.backup")) {
            Ok(bytes) if bytes == backup_bytes(4) => Ok(()),
            other => Err(format!("{:?}", other.map(|b| b.len()))),
        },
    );
}

/// Without an inotify tool (neither busybox's inotifyd nor inotifywait in the image) the script
/// looks at the file every half second: a change still arrives, verified, within 2 s.
#[test]
fn without_an_inotify_tool_the_script_polls_and_still_copies_within_2_s() {
    let Some(rclone) = common::required_program("OPENLSP_TEST_RCLONE", "the backup script") else {
        return;
    };
    let Some(busybox) = common::required_program("OPENLSP_TEST_BUSYBOX", "the backup script")
    else {
        return;
    };
    let test = Test::new().with_example("pi4-mainnet");
    let (docs, _) = render(&test, "pi4-mainnet.yaml");
    let config_map = find(&docs, "ConfigMap", "lnd-backup");
    let root = test.path().join("pod");
    let source_dir = root.join("data/data/chain/bitcoin/mainnet");
    for dir in [
        &source_dir,
        &root.join("backup/usb"),
        &root.join("run/backup-status"),
    ] {
        fs::create_dir_all(dir).unwrap();
    }
    let source = source_dir.join("channel.backup");
    replace_atomically(&source, &backup_bytes(1));
    let conf = root.join("backup.conf");
    let rendered = config_map["data"]["backup.conf"].as_str().unwrap();
    fs::write(&conf, mapped_conf(rendered, &root, None, None)).unwrap();
    let script = root.join("backup.sh");
    fs::write(&script, config_map["data"]["backup.sh"].as_str().unwrap()).unwrap();
    let bin = image_like_path(test.path(), &busybox, &rclone, None);
    let log = test.path().join("backup.log");
    let _backup = run_script(&bin, &root, &script, &conf, &log);
    let copy = root.join("backup/usb/home-pi/lnd/channel.backup");
    let status = root.join("run/backup-status/status");
    common::wait_for(
        "the first copy",
        Duration::from_secs(30),
        || match target_status(&status, "usb") {
            Some((sha, _, _, _)) if sha == sha256(&backup_bytes(1)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let changed = Instant::now();
    replace_atomically(&source, &backup_bytes(2));
    common::poll(
        "the polled change",
        Duration::from_secs(2),
        Duration::from_millis(10),
        || match target_status(&status, "usb") {
            Some((sha, _, _, _)) if sha == sha256(&backup_bytes(2)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .unwrap_or_else(|err| panic!("{err}"));
    eprintln!("backup latency when polling: {:?}", changed.elapsed());
    assert_eq!(fs::read(&copy).unwrap(), backup_bytes(2));
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .contains("neither inotifyd nor inotifywait is here"),
        "the script should say it polls"
    );
}

/// The rclone config a test operator gives: every value is one that must never be shown.
const RCLONE_CONF: &str = "[nas]\ntype = sftp\nhost = nas-host.backup-test.internal\nuser = backup-operator-7391\npass = obscured-pass-Zq81kLm0p2\n";

/// pi4-mainnet with a second target, an rclone remote whose config the operator gives.
fn with_rclone_target() -> Test {
    common::edited(
        "pi4-mainnet",
        "        path: /mnt/usb/openlsp-backup\n",
        "        path: /mnt/usb/openlsp-backup\n      - name: nas\n        rclone: { remote: \"nas:openlsp\", config: backup-rclone }\n",
    )
}

/// `openlsp secrets set backup-rclone --from-file rclone.conf` in `test`'s dir.
pub(crate) fn set_rclone_config(test: &Test) -> common::Output {
    test.run([
        "secrets",
        "set",
        "backup-rclone",
        "--from-file",
        "rclone.conf",
        "-p",
        "openlsp.yaml",
    ])
}

/// Every line of the config with a value, which no output may contain.
fn config_values() -> Vec<&'static str> {
    RCLONE_CONF
        .lines()
        .filter_map(|line| line.split_once(" = ").map(|(_, value)| value))
        .filter(|value| value.len() > 6)
        .collect()
}

#[track_caller]
fn assert_no_config_value(text: &str) {
    for value in config_values() {
        assert!(!text.contains(value), "an rclone config value was shown");
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, value);
        assert!(!text.contains(&encoded));
    }
}

/// A path target on a disk it protects is an error at its line; an rclone target needs its
/// config given, with a config that defines its remote; no target at all is a warning that says
/// what is at stake.
#[test]
fn backup_targets_are_checked_with_location_and_next_step() {
    let on_lightning = common::edited(
        "pi4-mainnet",
        "path: /mnt/usb/openlsp-backup",
        "path: /srv/lightning/backup",
    );
    let bad_path = on_lightning
        .run(["validate", "-p", "openlsp.yaml"])
        .expect(2);
    let on_chain = common::edited(
        "pi4-mainnet",
        "path: /mnt/usb/openlsp-backup",
        "path: /srv/blockchain/scb",
    );
    let chain_path = on_chain.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    let both = common::edited(
        "pi4-mainnet",
        "        path: /mnt/usb/openlsp-backup\n",
        "        path: /mnt/usb/openlsp-backup\n        rclone: { remote: \"nas:x\", config: backup-rclone }\n      - name: nas\n        rclone: { remote: \"nas\", config: lnd-rclone }\n      - name: nas\n        path: /mnt/usb\n    keep: 0\n",
    );
    let both = both.run(["validate", "-p", "openlsp.yaml"]).expect(2);
    let none = common::edited(
        "pi4-mainnet",
        "  backup:\n    targets:\n      - name: usb\n        path: /mnt/usb/openlsp-backup\n",
        "",
    );
    let none = none.run(["validate", "-p", "openlsp.yaml"]).expect(0);
    let tor_only = common::edited(
        "pi4-mainnet",
        "        path: /mnt/usb/openlsp-backup\n",
        "        path: /mnt/usb/openlsp-backup\n      - name: nas\n        rclone: { remote: \"nas:openlsp\", config: backup-rclone }\n  tor: { mode: tor-only }\n",
    );
    let tor_only = tor_only.run(["validate", "-p", "openlsp.yaml"]).expect(2);

    let test = with_rclone_target();
    let validated = test.run(["validate", "-p", "openlsp.yaml"]).expect(0);
    let not_given = test.run(["render", "-p", "openlsp.yaml"]).expect(2);
    test.write("other.conf", "[cloud]\ntype = s3\n");
    let wrong_remote = test
        .run([
            "secrets",
            "set",
            "backup-rclone",
            "--from-file",
            "other.conf",
            "-p",
            "openlsp.yaml",
        ])
        .expect(2);
    let unknown_secret = test
        .run([
            "secrets",
            "set",
            "lnd-wallet",
            "--from-file",
            "other.conf",
            "-p",
            "openlsp.yaml",
        ])
        .expect(2);
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        assert_output_snapshot!(
            "backup_profile_checks",
            common::transcript(&[
                ("a path on the lightning disk", &bad_path.stderr),
                ("a path on the chain's disk", &chain_path.stderr),
                (
                    "path and rclone; a bad remote, a config named like a node's; a name twice; keep 0",
                    &both.stderr,
                ),
                ("no target", &none.stderr),
                ("an rclone target in tor-only mode", &tor_only.stderr),
                ("an rclone target: validate", &validated.stderr),
                ("an rclone target: render before secrets set", &not_given.stderr),
                ("secrets set with a config without the remote", &wrong_remote.stderr),
                ("secrets set of a secret openlsp makes", &unknown_secret.stderr),
            ]),
            &test
        );
    });
    assert!(!test.state_dir("home-pi").join("provided").exists());
}

/// `secrets set` keeps the rclone config 0600 in the state dir, one generation on; render puts
/// it only into its Secret (masked), the backup container reads it from a mounted file; `secrets
/// export` carries it and `import` restores it byte for byte. No output shows a config value.
#[test]
fn the_rclone_config_is_given_once_kept_private_and_exported() {
    let test = with_rclone_target();
    test.write("rclone.conf", RCLONE_CONF);
    let set_config = || set_rclone_config(&test);
    let set = set_config().expect(0);
    let state = test.state_dir("home-pi");
    let kept = state.join("provided/backup-rclone/rclone.conf");
    assert_eq!(fs::read_to_string(&kept).unwrap(), RCLONE_CONF);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = set_config().expect(0);
    assert!(again.stderr.contains("unchanged"), "{}", again.stderr);

    let masked = test.run(["render", "-p", "openlsp.yaml"]).expect(0);
    let docs = common::documents(&masked.stdout);
    let secret = find(&docs, "Secret", "backup-rclone");
    assert_eq!(secret["data"]["rclone.conf"], "***");
    assert_eq!(secret["metadata"]["annotations"]["openlsp.io/data"], "true");
    let (revealed, _) = render(&test, "openlsp.yaml");
    assert_eq!(
        common::secret_value(&revealed, "backup-rclone", "rclone.conf"),
        RCLONE_CONF
    );
    // The backup container gets the config as a file from the Secret, never in env or args.
    let pod = &find(&revealed, "StatefulSet", "lnd")["spec"]["template"]["spec"];
    let backup = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "backup")
        .unwrap();
    let volumes = pod["volumes"].as_array().unwrap();
    let volume = volumes
        .iter()
        .find(|v| v["secret"]["secretName"] == "backup-rclone")
        .unwrap();
    assert_eq!(volume["secret"]["defaultMode"], 0o440);
    assert!(
        backup["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == volume["name"] && m["readOnly"] == true)
    );
    let data_mount = backup["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "data")
        .unwrap();
    assert_eq!(
        data_mount["readOnly"], true,
        "LND's data is mounted read-only"
    );
    let conf = common::config(&revealed, "lnd-backup", "backup.conf");
    assert!(
        conf.contains(
            "\ntarget nas nas:openlsp/home-pi/lnd /etc/openlsp/rclone/backup-rclone/rclone.conf\n"
        ),
        "{conf}"
    );
    assert_no_config_value(&serde_json::to_string(backup).unwrap());
    assert_no_config_value(&conf);

    let list = test.run(["secrets", "list", "-p", "openlsp.yaml"]);
    assert!(list.all().contains("backup-rclone"), "{}", list.all());
    test.write("pass", "a long enough export passphrase");
    let exported = test
        .run([
            "secrets",
            "export",
            "-p",
            "openlsp.yaml",
            "--to",
            "backup.age",
            "--passphrase-file",
            "pass",
        ])
        .expect(0);
    let imported = test
        .run([
            "secrets",
            "import",
            "-p",
            "openlsp.yaml",
            "--from",
            "backup.age",
            "--passphrase-file",
            "pass",
            "--state-dir",
            "restored",
        ])
        .expect(0);
    assert_eq!(
        fs::read_to_string(
            test.path()
                .join("restored/provided/backup-rclone/rclone.conf")
        )
        .unwrap(),
        RCLONE_CONF
    );
    for output in [&set, &again, &masked, &list, &exported, &imported] {
        assert_no_config_value(&output.all());
    }
}
