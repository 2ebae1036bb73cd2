//! `openlsp init` on fixture host trees (tests/fixtures/hosts, described in its README): the
//! preflight report of each fixture, `--fix` on a copy of a fresh Pi, the wizard from flags and
//! in a pseudo-terminal (keystrokes in, profile out). The fixture's `bin/` is the whole PATH, so
//! every program openlsp runs is a fake, and one it does not find is "not installed".

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::snapshot::Plain;
use crate::common::{self, Output, Test, documents};

const HOME: &str = "/home/ubuntu";

fn fixture(name: &str) -> PathBuf {
    common::repo_root().join("tests/fixtures/hosts").join(name)
}

/// A test whose programs are the fakes of `host`, with the operator's HOME of the fixtures.
fn on_host(host: &Path) -> Test {
    Test::new().env("PATH", host.join("bin")).env("HOME", HOME)
}

fn check(host: &Path, profile: Option<&Path>) -> Output {
    let mut args = vec![
        "init".to_owned(),
        "--check".to_owned(),
        "--host-root".to_owned(),
        host.display().to_string(),
    ];
    if let Some(profile) = profile {
        args.extend(["-p".to_owned(), profile.display().to_string()]);
    }
    on_host(host).run(&args)
}

/// Copies a fixture into `dest`, following its symlinks, so it can be changed.
fn copy_tree(from: &Path, dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = dest.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// The report's lines for one status: (title, found, fix lines).
fn lines_with(report: &str, symbol: char) -> Vec<(String, String, Vec<String>)> {
    let lines: Vec<&str> = report.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix(&format!("{symbol} ")) else {
            continue;
        };
        let (title, what) = rest.split_once("  ").unwrap_or((rest, ""));
        let fixes = lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with("  "))
            .map(|l| l.trim().trim_start_matches("fix:").trim().to_owned())
            .collect();
        found.push((title.trim().to_owned(), what.trim().to_owned(), fixes));
    }
    found
}

fn failed_titles(report: &str) -> Vec<String> {
    lines_with(report, '✗')
        .into_iter()
        .map(|(t, _, _)| t)
        .collect()
}

#[test]
fn a_fresh_pi_lists_every_failure_with_its_fix_and_exits_2() {
    let output = check(&fixture("fresh-pi"), None).expect(2);
    let failures = lines_with(&output.stdout, '✗');
    let titles: Vec<String> = failures.into_iter().map(|(title, _, _)| title).collect();
    assert_eq!(
        titles,
        [
            "cgroups",
            "kernel module",
            "microk8s",
            "addons",
            "microk8s group",
            "kubeconfig",
            "API server",
            "disks"
        ],
        "{}",
        output.stdout
    );
    // Every line, each fix among them, is in the snapshot.
    assert_output_snapshot!("check_fresh-pi", output.stdout, &Plain);
    assert_eq!(
        output.stderr,
        "checking this machine; there is no openlsp.yaml yet, so disks are proposed from what is mounted\n\
         error: 8 checks failed; make the fixes shown, then run `openlsp init --check` again\n"
    );
}

#[test]
fn a_ready_pi_passes_with_and_without_its_profile() {
    let host = fixture("ready-pi");
    let output = check(&host, None).expect(0);
    assert!(
        failed_titles(&output.stdout).is_empty(),
        "{}",
        output.stdout
    );
    assert_output_snapshot!("check_ready-pi_without_profile", output.stdout, &Plain);
    let output = check(&host, Some(&host.join("openlsp.yaml"))).expect(0);
    // The API is asked through the operator's kubeconfig (its context and server are shown),
    // whose credentials stay unprinted.
    assert_output_snapshot!("check_ready-pi", output.stdout, &Plain);
    let kubeconfig_text = fs::read_to_string(host.join("home/ubuntu/.kube/config")).unwrap();
    for secret in ["client-key-data", "client-certificate-data"] {
        let value = kubeconfig_text
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{secret}: ")))
            .unwrap();
        assert!(!output.all().contains(value), "{secret} was printed");
    }

    // Git keeps no file modes but the exec bit: in a copy, the kubeconfig is private as
    // `microk8s config` with umask 077 leaves it, and every check passes.
    let test = Test::new();
    let copy = test.path().join("ready-pi");
    copy_tree(&host, &copy);
    let kubeconfig = copy.join("home/ubuntu/.kube/config");
    fs::set_permissions(&kubeconfig, fs::Permissions::from_mode(0o600)).unwrap();
    let output = check(&copy, Some(&copy.join("openlsp.yaml"))).expect(0);
    assert!(
        lines_with(&output.stdout, '⚠').is_empty() && lines_with(&output.stdout, '✗').is_empty(),
        "{}",
        output.stdout
    );
    assert_output_snapshot!("check_ready-pi_private_kubeconfig", output.stdout, &test);
    fs::set_permissions(&kubeconfig, fs::Permissions::from_mode(0o644)).unwrap();
    let output = check(&copy, Some(&copy.join("openlsp.yaml"))).expect(0);
    assert_eq!(
        lines_with(&output.stdout, '⚠')
            .into_iter()
            .map(|(title, _, fixes)| (title, fixes))
            .collect::<Vec<_>>(),
        [(
            "kubeconfig".to_owned(),
            vec!["chmod 600 /home/ubuntu/.kube/config".to_owned()]
        )],
        "{}",
        output.stdout
    );
}

#[test]
fn each_broken_fixture_fails_exactly_its_own_checks() {
    let cases: [(&str, &[&str]); 6] = [
        ("cgroups-second-line", &["cgroups"]),
        ("missing-fstab", &["fstab lightning"]),
        ("missing-addons", &["addons"]),
        (
            "lightning-on-root",
            &[
                "disk lightning",
                "fstab lightning",
                "data dir lnd",
                "isolation lnd",
            ],
        ),
        ("lightning-on-chain-disk", &["isolation lnd"]),
        ("kubeconfig-empty", &["kubeconfig", "API server"]),
    ];
    for (name, failing) in cases {
        let host = fixture(name);
        let output = check(&host, Some(&host.join("openlsp.yaml"))).expect(2);
        assert_eq!(
            failed_titles(&output.stdout),
            failing,
            "{name}:\n{}",
            output.stdout
        );
        assert_output_snapshot!(format!("check_{name}"), output.stdout, &Plain);
        for (title, _, fixes) in lines_with(&output.stdout, '✗') {
            assert!(!fixes.is_empty(), "{name}: {title} has no fix");
        }
    }
}

#[test]
fn the_explicit_opt_ins_turn_isolation_failures_into_warnings() {
    let profile = fs::read_to_string(fixture("ready-pi/openlsp.yaml")).unwrap();
    let lightning = "lightning: { path: /srv/lightning, size: 20Gi }";
    assert!(profile.contains(lightning));
    for (name, opt_in) in [
        ("lightning-on-root", "allowRootFilesystem"),
        ("lightning-on-chain-disk", "allowBitcoinAndLightning"),
    ] {
        let test = on_host(&fixture(name));
        let opted = profile.replace(
            lightning,
            &format!("lightning: {{ path: /srv/lightning, size: 20Gi, {opt_in}: true }}"),
        );
        let path = test.write("opted-in.yaml", &opted);
        let output = test
            .run([
                "init",
                "--check",
                "--host-root",
                fixture(name).to_str().unwrap(),
                "-p",
                path.to_str().unwrap(),
            ])
            .expect(0);
        let warnings = lines_with(&output.stdout, '⚠');
        assert!(
            warnings
                .iter()
                .any(|(title, _, _)| title == "isolation lnd"),
            "{name}:\n{}",
            output.stdout
        );
        // The warning names the opt-in.
        assert_output_snapshot!(format!("check_{name}_opted_in"), output.stdout, &test);
    }
}

/// Runs `init --fix` on the host copy at `host`, logging every program the fakes answer.
fn fix(test: &Test, host: &Path, yes: bool) -> Output {
    let mut args = vec!["init", "--fix", "--host-root", host.to_str().unwrap()];
    if yes {
        args.push("--yes");
    }
    test.run(args)
}

#[test]
fn fix_edits_a_fresh_pi_with_backups_and_a_second_run_changes_nothing() {
    let original = fixture("fresh-pi");
    let test = Test::new();
    let host = test.path().join("fresh-pi");
    copy_tree(&original, &host);
    let log = test.path().join("calls.log");
    let test = test
        .env("PATH", host.join("bin"))
        .env("HOME", HOME)
        .env("OPENLSP_FAKE_LOG", &log);
    let cmdline = host.join("boot/firmware/cmdline.txt");
    let modules = host.join("etc/modules");
    let cmdline_before = fs::read_to_string(&cmdline).unwrap();
    let modules_before = fs::read_to_string(&modules).unwrap();
    let cmdline_mode = fs::metadata(&cmdline).unwrap().permissions().mode();

    let first = fix(&test, &host, true).expect(0);
    // Each edit is shown before it is made, as a diff; what needs the operator (installing
    // microk8s, the group, the reboot) is printed, never run; and the edits' own steps are
    // derived from what was edited: one reboot covers both.
    assert_output_snapshot!(
        "fix_fresh-pi",
        common::transcript(&[("stdout", &first.stdout), ("stderr", &first.stderr)]),
        &test
    );
    let cmdline_after = fs::read_to_string(&cmdline).unwrap();
    assert_eq!(
        cmdline_after,
        format!(
            "{} cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n",
            cmdline_before.trim_end()
        ),
        "the flags go at the end of the first line, never on a new one"
    );
    assert_eq!(
        fs::metadata(&cmdline).unwrap().permissions().mode(),
        cmdline_mode
    );
    assert_eq!(
        fs::read_to_string(&modules).unwrap(),
        format!("{modules_before}ip_conntrack\n")
    );
    assert_eq!(
        fs::read_to_string(host.join("boot/firmware/cmdline.txt.openlsp.bak")).unwrap(),
        cmdline_before
    );
    assert_eq!(
        fs::read_to_string(host.join("etc/modules.openlsp.bak")).unwrap(),
        modules_before
    );
    let calls = fs::read_to_string(&log).unwrap();
    let allowed = ["uname -m", "id -un", "id -nG", "snap list microk8s"];
    for call in calls.lines() {
        assert!(allowed.contains(&call), "--fix ran {call:?}");
    }

    let before_second = crate::common::tree_bytes(&host);
    let second = fix(&test, &host, true).expect(0);
    assert_eq!(
        crate::common::tree_bytes(&host),
        before_second,
        "the second run changed a file"
    );
    assert_output_snapshot!(
        "fix_fresh-pi_again",
        common::transcript(&[("stdout", &second.stdout), ("stderr", &second.stderr)]),
        &test
    );
    assert!(!second.stdout.contains("---"), "a second run shows no edit");
    assert!(
        !second.stderr.contains("to take effect"),
        "nothing was edited"
    );
}

#[test]
fn fix_without_yes_and_without_a_terminal_refuses_and_changes_nothing() {
    let test = Test::new();
    let host = test.path().join("fresh-pi");
    copy_tree(&fixture("fresh-pi"), &host);
    let before = crate::common::tree_bytes(&host);
    let test = test.env("PATH", host.join("bin")).env("HOME", HOME);
    let output = fix(&test, &host, false).expect(2);
    assert_output_snapshot!("fix_without_a_terminal", output.stderr, &test);
    assert_eq!(crate::common::tree_bytes(&host), before);
}

/// In a terminal, `--fix` shows the edits, then asks: no (the default) changes nothing and exits
/// 2, as a declined `apply` does; "y" makes them, with backups.
#[test]
fn fix_in_a_terminal_asks_first_and_a_no_changes_nothing() {
    let test = Test::new();
    let host = test.path().join("fresh-pi");
    copy_tree(&fixture("fresh-pi"), &host);
    let before = crate::common::tree_bytes(&host);
    let cmdline = host.join("boot/firmware/cmdline.txt");
    let modules = host.join("etc/modules");
    let cmdline_backup = host.join("boot/firmware/cmdline.txt.openlsp.bak");
    let modules_backup = host.join("etc/modules.openlsp.bak");
    let question = "Make these 2 edits (each file's original is kept as <file>.openlsp.bak)?";

    // "n", or Enter: no is the default.
    for key in ["n", "\r"] {
        let mut session = spawn_init(&host, &test, &["--fix"]);
        // The edits are shown before the question.
        answer(&mut session, "--- /boot/firmware/cmdline.txt", &[]);
        answer(&mut session, "+ip_conntrack", &[]);
        answer(&mut session, question, &[key]);
        answer(
            &mut session,
            "nothing was changed: the edits were declined",
            &[],
        );
        assert_eq!(exit_code(&mut session), 2, "answered {key:?}");
        assert_eq!(
            crate::common::tree_bytes(&host),
            before,
            "answering {key:?} changed a file"
        );
        assert!(!cmdline_backup.exists() && !modules_backup.exists());
    }

    let mut session = spawn_init(&host, &test, &["--fix"]);
    answer(&mut session, question, &["y"]);
    answer(
        &mut session,
        "original saved as /boot/firmware/cmdline.txt.openlsp.bak",
        &[],
    );
    answer(
        &mut session,
        "original saved as /etc/modules.openlsp.bak",
        &[],
    );
    answer(&mut session, "for these edits to take effect", &[]);
    assert_eq!(exit_code(&mut session), 0);
    let original = |path: &Path| String::from_utf8(before[path].clone()).unwrap();
    assert_eq!(
        fs::read_to_string(&cmdline).unwrap(),
        format!(
            "{} cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n",
            original(&cmdline).trim_end()
        )
    );
    assert_eq!(
        fs::read_to_string(&modules).unwrap(),
        format!("{}ip_conntrack\n", original(&modules))
    );
    assert_eq!(
        fs::read_to_string(&cmdline_backup).unwrap(),
        original(&cmdline)
    );
    assert_eq!(
        fs::read_to_string(&modules_backup).unwrap(),
        original(&modules)
    );
}

const WIZARD_FLAGS: [&str; 12] = [
    "--site",
    "home-pi",
    "--network",
    "mainnet",
    "--disk",
    "blockchain=/srv/blockchain",
    "--disk",
    "lightning=/srv/lightning",
    "--txindex",
    "--alias",
    "My Node",
    "--non-interactive",
];

/// Non-interactive regtest answers with the blockchain at /srv/blockchain and Lightning at
/// `lightning`.
fn regtest_flags(lightning: &str) -> Vec<String> {
    [
        "--non-interactive",
        "--site",
        "home-pi",
        "--network",
        "regtest",
        "--disk",
        "blockchain=/srv/blockchain",
        "--disk",
        &format!("lightning={lightning}"),
        "--no-txindex",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn init_args(host: &Path, extra: &[&str]) -> Vec<String> {
    ["init", "--host-root", host.to_str().unwrap()]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect()
}

/// The written profile as JSON.
fn profile_json(path: &Path) -> Value {
    serde_yaml::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// `openlsp validate` accepts the profile and `openlsp render` renders it.
fn validate_and_render(test: &Test, profile: &str) -> Vec<Value> {
    test.run(["validate", "-p", profile]).expect(0);
    let state = test.path().join("render-state");
    let output = test
        .run([
            "render",
            "-p",
            profile,
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .expect(0);
    documents(&output.stdout)
}

/// A 4 GB Pi: the profile is written with caches that fit it, validates, and the memory
/// check only warns that txindex wants 8 GiB.
#[test]
fn a_4_gb_pi_gets_a_profile_that_fits_it() {
    let host = fixture("small-pi");
    let test = on_host(&host);
    let output = test.run(init_args(&host, &WIZARD_FLAGS)).expect(0);
    // The report warns that txindex wants 8Gi; the profile is written.
    assert_output_snapshot!(
        "small-pi",
        common::transcript(&[("stdout", &output.stdout), ("stderr", &output.stderr)]),
        &test
    );
    let profile = profile_json(&test.path().join("openlsp.yaml"));
    assert_eq!(profile["spec"]["host"]["memory"], "4Gi");
    validate_and_render(&test, "openlsp.yaml");
    let effective = test
        .run(["validate", "--show-effective", "-p", "openlsp.yaml"])
        .expect(0);
    let site: Value = serde_yaml::from_str(&effective.stdout).unwrap();
    assert_eq!(site["spec"]["bitcoin"][0]["dbcache"], 384);
    assert_eq!(site["spec"]["bitcoin"][0]["maxmempool"], 128);
}

#[test]
fn non_interactive_mode_writes_a_profile_that_validates_and_renders() {
    let host = fixture("ready-pi");
    let test = on_host(&host);
    let output = test.run(init_args(&host, &WIZARD_FLAGS)).expect(0);
    // Where the profile went, and the next steps (diff, apply).
    assert_output_snapshot!("non_interactive", output.stderr, &test);
    let path = test.path().join("openlsp.yaml");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let profile = profile_json(&path);
    let spec = &profile["spec"];
    assert_eq!(profile["metadata"]["name"], "home-pi");
    assert_eq!(
        spec["host"]["nodeName"], "pi4",
        "the hostname is the default node name"
    );
    assert_eq!(spec["host"]["arch"], "arm64");
    assert_eq!(spec["host"]["memory"], "8Gi");
    assert_eq!(spec["host"]["cpus"], 4);
    assert_eq!(spec["disks"]["blockchain"]["path"], "/srv/blockchain");
    assert_eq!(
        spec["disks"]["blockchain"]["size"], "1832Gi",
        "df's size, rounded down"
    );
    assert_eq!(spec["disks"]["lightning"]["size"], "29Gi");
    assert_eq!(spec["bitcoin"][0]["txindex"], true);
    assert_eq!(spec["lightning"][0]["alias"], "My Node");
    assert_eq!(spec["lightning"][0]["color"], "#3399ff");
    let docs = validate_and_render(&test, "openlsp.yaml");
    let volumes: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "PersistentVolume")
        .filter_map(|d| d["spec"]["local"]["path"].as_str())
        .collect();
    assert!(volumes.contains(&"/srv/blockchain/bitcoind"), "{volumes:?}");
    assert!(volumes.contains(&"/srv/lightning/lnd"), "{volumes:?}");
}

#[test]
fn without_a_terminal_the_missing_answers_are_listed_as_flags() {
    let host = fixture("ready-pi");
    let test = on_host(&host);
    let output = test.run(init_args(&host, &["--site", "home-pi"])).expect(2);
    // Every missing answer as its flag, and not --site, which was given.
    assert_output_snapshot!("missing_answers", output.stderr, &test);
    assert!(!output.stderr.contains("--site NAME"), "--site was given");
    let output = test
        .run(init_args(
            &host,
            &["--non-interactive", "--disk", "lightning=/srv/new"],
        ))
        .expect(2);
    assert_output_snapshot!("missing_answers_non_interactive", output.stderr, &test);
    assert!(!test.path().join("openlsp.yaml").exists());
}

#[test]
fn an_existing_profile_is_replaced_only_with_force() {
    let host = fixture("ready-pi");
    let test = on_host(&host);
    let path = test.write("openlsp.yaml", "# keep me\n");
    let output = test.run(init_args(&host, &WIZARD_FLAGS)).expect(2);
    assert_output_snapshot!("existing_profile", output.stderr, &test);
    assert_eq!(fs::read_to_string(&path).unwrap(), "# keep me\n");
    let mut forced = WIZARD_FLAGS.to_vec();
    forced.push("--force");
    let output = test.run(init_args(&host, &forced)).expect(0);
    assert_eq!(profile_json(&path)["metadata"]["name"], "home-pi");
    assert_output_snapshot!("existing_profile_forced", output.stderr, &test);
    assert_eq!(
        fs::read_to_string(test.path().join("openlsp.yaml.openlsp.bak")).unwrap(),
        "# keep me\n"
    );
}

/// A signet lab on disks that are not mounted yet, so their sizes are given.
const LAB_FLAGS: [&str; 17] = [
    "--non-interactive",
    "--site",
    "lab",
    "--network",
    "signet",
    "--node",
    "lab-pi",
    "--disk",
    "blockchain=/srv/blockchain:500Gi",
    "--disk",
    "lightning=/srv/lightning:20Gi",
    "--prune",
    "2000",
    "--lnd-color",
    "#00ff00",
    "-p",
    "site/lab.yaml",
];

#[test]
fn the_profile_is_written_even_when_the_machine_is_not_ready() {
    let host = fixture("fresh-pi");
    let test = on_host(&host);
    let output = test.run(init_args(&host, &LAB_FLAGS)).expect(2);
    // A missing directory is an error.
    assert_output_snapshot!("lab_without_its_directory", output.stderr, &test);
    fs::create_dir(test.path().join("site")).unwrap();
    let output = test.run(init_args(&host, &LAB_FLAGS)).expect(0);
    // Written, but the machine is not ready yet: only the problems are listed, and how to check
    // again with this profile.
    assert_output_snapshot!(
        "lab_on_a_fresh_pi",
        common::transcript(&[("stdout", &output.stdout), ("stderr", &output.stderr)]),
        &test
    );
    // Every ✗ with its fix, exactly: the operator prepares the machine from these lines.
    let mount = |path: &str| {
        vec![
            "find the partition with `lsblk -f` (never format a disk that holds data)".to_owned(),
            format!(
                "sudo mkdir -p {path} && sudo mount /dev/<partition> {path}, and add it to /etc/fstab"
            ),
        ]
    };
    let fstab = |path: &str| {
        vec![format!(
            "mount the disk first, then add `UUID=<uuid> {path} <fstype> defaults,nofail 0 2` to /etc/fstab"
        )]
    };
    let expected: Vec<(&str, Vec<String>)> = vec![
        (
            "cgroups",
            vec!["append ` cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1` to the end of the first line of /boot/firmware/cmdline.txt (`sudo openlsp init --fix` does this), then `sudo reboot`".to_owned()],
        ),
        (
            "kernel module",
            vec!["add the line `ip_conntrack` to /etc/modules (`sudo openlsp init --fix` does this)".to_owned()],
        ),
        (
            "microk8s",
            vec!["sudo snap install microk8s --classic --channel=1.28/stable".to_owned()],
        ),
        (
            "addons",
            vec!["after installing: microk8s enable dns ingress observability cert-manager hostpath-storage".to_owned()],
        ),
        (
            "microk8s group",
            vec![
                "sudo usermod -a -G microk8s $USER".to_owned(),
                "then log out and back in (or run `newgrp microk8s`)".to_owned(),
            ],
        ),
        (
            "kubeconfig",
            vec!["mkdir -p /home/ubuntu/.kube && (umask 077 && microk8s config > /home/ubuntu/.kube/config)".to_owned()],
        ),
        (
            "API server",
            vec!["after installing microk8s: microk8s status --wait-ready".to_owned()],
        ),
        ("disk blockchain", mount("/srv/blockchain")),
        ("fstab blockchain", fstab("/srv/blockchain")),
        ("disk lightning", mount("/srv/lightning")),
        ("fstab lightning", fstab("/srv/lightning")),
        (
            "isolation lnd",
            vec![
                "give Lightning its own partition (20Gi is plenty), mount it at /srv/lightning and add it to /etc/fstab".to_owned(),
                "or accept the risk: `spec.disks.lightning.allowRootFilesystem: true`".to_owned(),
                "or accept the risk: `spec.disks.lightning.allowBitcoinAndLightning: true`".to_owned(),
            ],
        ),
    ];
    let failures = lines_with(&output.stdout, '✗');
    let printed: Vec<(&str, Vec<String>)> = failures
        .iter()
        .map(|(title, _, fixes)| (title.as_str(), fixes.clone()))
        .collect();
    assert_eq!(printed, expected, "{}", output.stdout);
    let (_, found, _) = &failures[9];
    assert_eq!(
        found,
        "/srv/lightning is not a mount point; it is a directory on the filesystem mounted at /"
    );
    assert!(
        lines_with(&output.stdout, '✓').is_empty(),
        "only problems are listed after writing"
    );
    let profile = profile_json(&test.path().join("site/lab.yaml"));
    assert_eq!(profile["spec"]["network"], "signet");
    assert_eq!(profile["spec"]["bitcoin"][0]["prune"], 2000);
    assert_eq!(profile["spec"]["lightning"][0]["alias"], "lab");
    validate_and_render(&test, "site/lab.yaml");
}

#[test]
fn one_disk_for_both_needs_the_explicit_opt_in() {
    let host = fixture("ready-pi");
    let test = on_host(&host);
    let shared = regtest_flags("/srv/blockchain");
    let shared: Vec<&str> = shared.iter().map(String::as_str).collect();
    let output = test.run(init_args(&host, &shared)).expect(2);
    assert_output_snapshot!("one_disk_for_both", output.stderr, &test);
    let mut opted = shared.to_vec();
    opted.push("--allow-bitcoin-and-lightning");
    test.run(init_args(&host, &opted)).expect(0);
    let profile = profile_json(&test.path().join("openlsp.yaml"));
    assert_eq!(
        profile["spec"]["disks"]["data"]["allowBitcoinAndLightning"],
        true
    );
    assert_eq!(profile["spec"]["lightning"][0]["disk"], "data");
    validate_and_render(&test, "openlsp.yaml");
}

#[test]
fn bad_answers_are_refused_with_the_profile_error_and_nothing_is_written() {
    let host = fixture("ready-pi");
    let test = on_host(&host);
    let mut flags = WIZARD_FLAGS.to_vec();
    flags.extend(["--lnd-color", "blue"]);
    let output = test.run(init_args(&host, &flags)).expect(2);
    // The profile's own error for the field, and that nothing was written.
    assert_output_snapshot!("bad_colour", output.stderr, &test);
    assert!(!test.path().join("openlsp.yaml").exists());
    let output = test
        .run(init_args(&host, &["--disk", "chain=/srv/blockchain"]))
        .expect(2);
    assert_output_snapshot!("bad_disk_role", output.stderr, &test);
}

/// The fake scripts only use shell builtins; shellcheck keeps them portable.
#[test]
fn the_fake_host_programs_pass_shellcheck() {
    let script = fixture("fake-bin/fake");
    match std::process::Command::new("shellcheck")
        .arg(&script)
        .output()
    {
        Ok(output) => assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        ),
        Err(err) => common::skip::skip(&format!(
            "shellcheck cannot be run ({err}); scripts/test.sh installs it"
        )),
    }
}

/// Waits for `prompt` on the terminal, then types `keys`.
fn answer(session: &mut rexpect::session::PtySession, prompt: &str, keys: &[&str]) {
    session
        .exp_string(prompt)
        .unwrap_or_else(|err| panic!("waiting for {prompt:?}: {err}"));
    for keys in keys {
        session.send(keys).unwrap();
        session.flush().unwrap();
        // One key event at a time, as a person types.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `openlsp init --host-root host` and `flags` in a pseudo-terminal, in `test`'s directory, with
/// the programs of `host` and nothing else from this shell.
fn spawn_init(host: &Path, test: &Test, flags: &[&str]) -> rexpect::session::PtySession {
    let mut command = std::process::Command::new(common::BIN);
    command
        .args(["init", "--host-root", host.to_str().unwrap()])
        .args(flags)
        .current_dir(test.path())
        .env_clear()
        .env("PATH", host.join("bin"))
        .env("HOME", HOME)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let options = rexpect::reader::Options::new()
        .timeout_ms(Some(60_000))
        .strip_ansi_escape_codes(true);
    rexpect::session::spawn_with_options(command, options).unwrap()
}

/// `openlsp init` in a pseudo-terminal, once the preflight report (which comes before the
/// questions) is shown.
fn spawn_wizard(host: &Path, test: &Test, flags: &[&str]) -> rexpect::session::PtySession {
    let mut session = spawn_init(host, test, flags);
    answer(&mut session, "summary:", &[]);
    session
}

/// Waits for the program to end and returns its exit code.
fn exit_code(session: &mut rexpect::session::PtySession) -> i32 {
    session.exp_eof().unwrap();
    match session.process().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        status => panic!("did not exit: {status:?}"),
    }
}

/// Waits for the profile to be written and the wizard to exit 0.
fn finish_wizard(session: &mut rexpect::session::PtySession) {
    answer(session, "wrote openlsp.yaml", &[]);
    answer(session, "openlsp apply", &[]);
    assert_eq!(exit_code(session), 0);
}

/// The wizard end to end in a pseudo-terminal: keystrokes in, profile out.
#[test]
fn the_wizard_in_a_terminal_writes_the_answers() {
    const DOWN: &str = "\x1b[B";
    const ENTER: &str = "\r";
    let host = fixture("ready-pi");
    let test = Test::new();
    let mut session = spawn_wizard(&host, &test, &[]);
    answer(&mut session, "Site name", &["Bad Name", ENTER]);
    answer(&mut session, "not a valid DNS-1123 label", &[]);
    answer(&mut session, "Site name", &["garage", ENTER]);
    // mainnet, testnet, testnet4, signet: three down.
    answer(&mut session, "Bitcoin network", &[DOWN, DOWN, DOWN, ENTER]);
    answer(&mut session, "Kubernetes node name", &[ENTER]);
    answer(&mut session, "Disk for the blockchain", &[ENTER]);
    answer(&mut session, "Disk for Lightning state", &[ENTER]);
    // Full with txindex, full, pruned: two down, then the prune target.
    answer(
        &mut session,
        "How much of the chain to keep",
        &[DOWN, DOWN, ENTER],
    );
    answer(&mut session, "Prune target in MiB", &["1000", ENTER]);
    answer(&mut session, "LND alias", &["Garage Node", ENTER]);
    answer(&mut session, "LND color", &["#ff9900", ENTER]);
    finish_wizard(&mut session);

    let profile = profile_json(&test.path().join("openlsp.yaml"));
    let spec = &profile["spec"];
    assert_eq!(profile["metadata"]["name"], "garage");
    assert_eq!(spec["network"], "signet");
    assert_eq!(spec["host"]["nodeName"], "pi4");
    assert_eq!(spec["disks"]["blockchain"]["path"], "/srv/blockchain");
    assert_eq!(spec["disks"]["lightning"]["path"], "/srv/lightning");
    assert_eq!(spec["bitcoin"][0]["prune"], 1000);
    assert_eq!(spec["lightning"][0]["alias"], "Garage Node");
    assert_eq!(spec["lightning"][0]["color"], "#ff9900");
    validate_and_render(&test, "openlsp.yaml");
}

#[test]
fn the_modes_exclude_each_other_and_help_names_every_flag() {
    // clap wraps help at $COLUMNS, else at the terminal's width, else at 100.
    let test = Test::new().env("COLUMNS", "100");
    let help = test.run(["init", "--help"]).expect(0);
    // Every flag: --check, --fix, --yes, --force, --host-root, --non-interactive, --site,
    // --network, --node, --disk, --allow-bitcoin-and-lightning, --txindex, --no-txindex, --prune,
    // --alias, --lnd-color.
    assert_output_snapshot!("help", help.stdout, &test);
    assert!(
        Test::new()
            .run(["--help"])
            .expect(0)
            .stdout
            .contains("init")
    );
    let both = Test::new().run(["init", "--check", "--fix"]).expect(2);
    Test::new().run(["init", "--yes"]).expect(2);
    Test::new()
        .run(["init", "--check", "--site", "x"])
        .expect(2);
    let missing = Test::new()
        .run(["init", "--check", "--host-root", "no-such-dir"])
        .expect(2);
    assert_output_snapshot!(
        "mode_errors",
        common::transcript(&[
            ("init --check --fix", &both.stderr),
            ("init --check --host-root no-such-dir", &missing.stderr)
        ]),
        &Plain
    );
}

/// The profile file as written, without parsing: its comments are part of what is written.
fn profile_text(test: &Test, path: &str) -> String {
    fs::read_to_string(test.path().join(path)).unwrap()
}

#[test]
fn the_written_profile_carries_its_short_comments() {
    let host = fixture("ready-pi");
    let test = on_host(&host);
    test.run(init_args(&host, &WIZARD_FLAGS)).expect(0);
    let text = profile_text(&test, "openlsp.yaml");
    // Every comment where it stands: the header, the namespace's, the machine's and the disks'
    // sections, and the short notes after txindex, the backend and the alias.
    assert_output_snapshot!("profile_home-pi", text, &test);
}

/// Older Raspberry Pi images keep the kernel command line in /boot/cmdline.txt.
#[test]
fn an_older_image_with_boot_cmdline_txt_is_checked_and_fixed_there() {
    let original = fixture("bullseye-pi");
    let output = check(&original, None).expect(2);
    let cgroups = lines_with(&output.stdout, '✗')
        .into_iter()
        .find(|(title, _, _)| title == "cgroups")
        .unwrap_or_else(|| panic!("no ✗ cgroups:\n{}", output.stdout));
    assert!(
        cgroups
            .1
            .starts_with("/boot/cmdline.txt: the first line lacks"),
        "{cgroups:?}"
    );
    // The fix edits /boot/cmdline.txt, and only that is named.
    assert_output_snapshot!("check_bullseye-pi", output.stdout, &Plain);
    assert!(
        !output.stdout.contains("/boot/firmware"),
        "{}",
        output.stdout
    );
    // Raspberry Pi OS is Debian: the Ubuntu-only module hint is left out.
    assert!(!output.stdout.contains("raspi modules"));

    let test = Test::new();
    let host = test.path().join("bullseye-pi");
    copy_tree(&original, &host);
    let test = test.env("PATH", host.join("bin")).env("HOME", HOME);
    let cmdline = host.join("boot/cmdline.txt");
    let before = fs::read_to_string(&cmdline).unwrap();
    let first = fix(&test, &host, true).expect(0);
    // The edit of /boot/cmdline.txt, shown as a diff, then the reboot it needs.
    assert_output_snapshot!(
        "fix_bullseye-pi",
        common::transcript(&[("stdout", &first.stdout), ("stderr", &first.stderr)]),
        &test
    );
    assert_eq!(
        fs::read_to_string(&cmdline).unwrap(),
        format!(
            "{} cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n",
            before.trim_end()
        )
    );
    assert_eq!(
        fs::read_to_string(host.join("boot/cmdline.txt.openlsp.bak")).unwrap(),
        before
    );
    assert!(
        !host.join("boot/firmware").exists(),
        "nothing new under /boot"
    );
    let edited = crate::common::tree_bytes(&host);
    let second = fix(&test, &host, true).expect(0);
    assert_eq!(
        crate::common::tree_bytes(&host),
        edited,
        "the second run changed a file"
    );
    assert_output_snapshot!("fix_bullseye-pi_again", second.stderr, &test);
}

#[test]
fn fix_of_etc_modules_alone_says_to_load_the_module_not_to_reboot() {
    let test = Test::new();
    let host = test.path().join("ready-pi");
    copy_tree(&fixture("ready-pi"), &host);
    let modules = host.join("etc/modules");
    let without: String = fs::read_to_string(&modules)
        .unwrap()
        .lines()
        .filter(|line| line.trim() != "ip_conntrack")
        .map(|line| format!("{line}\n"))
        .collect();
    fs::write(&modules, &without).unwrap();
    let test = test.env("PATH", host.join("bin")).env("HOME", HOME);
    let output = fix(&test, &host, true).expect(0);
    assert_eq!(
        fs::read_to_string(&modules).unwrap(),
        format!("{without}ip_conntrack\n")
    );
    let steps = output
        .stderr
        .split_once("for these edits to take effect:\n")
        .map(|(_, rest)| {
            rest.lines()
                .take_while(|l| l.starts_with("  "))
                .collect::<Vec<_>>()
        })
        .unwrap_or_else(|| panic!("no steps:\n{}", output.stderr));
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(
        steps[0].starts_with("  sudo modprobe ip_conntrack"),
        "{steps:?}"
    );
    assert!(!output.stderr.contains("sudo reboot"), "{}", output.stderr);
}

#[test]
fn the_api_is_asked_through_the_operators_kubeconfig() {
    let test = Test::new();
    let host = test.path().join("ready-pi");
    copy_tree(&fixture("ready-pi"), &host);
    let log = test.path().join("calls.log");
    let test = test
        .env("PATH", host.join("bin"))
        .env("HOME", HOME)
        .env("OPENLSP_FAKE_LOG", &log);
    let args = ["init", "--check", "--host-root", host.to_str().unwrap()];
    test.run(args).expect(0);
    let kubeconfig = host.join("home/ubuntu/.kube/config");
    let probe = format!(
        "microk8s kubectl --kubeconfig {} get --raw /readyz",
        kubeconfig.display()
    );
    let calls = fs::read_to_string(&log).unwrap();
    assert!(calls.lines().any(|c| c == probe), "{calls}");

    // A kubeconfig that points at another server: it parses, but the API does not answer.
    let text = fs::read_to_string(&kubeconfig).unwrap();
    fs::write(
        &kubeconfig,
        text.replace("https://192.168.1.10:16443", "https://10.0.0.99:16443"),
    )
    .unwrap();
    let output = test.run(args).expect(2);
    assert_eq!(
        failed_titles(&output.stdout),
        ["API server"],
        "{}",
        output.stdout
    );
    // What kubectl said (the connection was refused), and that the kubeconfig may be stale.
    assert_output_snapshot!("check_stale_kubeconfig", output.stdout, &test);

    // No current context: the file is refused before the API is asked.
    fs::write(&kubeconfig, text.replace("current-context: microk8s\n", "")).unwrap();
    fs::write(&log, "").unwrap();
    let output = test.run(args).expect(2);
    assert_eq!(
        failed_titles(&output.stdout),
        ["kubeconfig", "API server"],
        "{}",
        output.stdout
    );
    // The contexts there are, and how to pick one.
    assert_output_snapshot!("check_no_current_context", output.stdout, &test);
    let calls = fs::read_to_string(&log).unwrap();
    assert!(!calls.contains("kubectl"), "{calls}");
}

#[test]
fn without_a_profile_a_bind_mount_of_the_chain_disk_is_not_a_lightning_disk() {
    let host = fixture("lightning-on-chain-disk");
    let output = check(&host, None).expect(2);
    assert_eq!(
        failed_titles(&output.stdout),
        ["disks"],
        "{}",
        output.stdout
    );
    // Only one data disk: the bind mount is the chain's filesystem again.
    assert_output_snapshot!(
        "check_lightning-on-chain-disk_without_profile",
        output.stdout,
        &Plain
    );
    assert!(!output.stdout.contains("disk /srv/lightning"));

    // From flags: refused without the opt-in, and with it the Lightning disk carries it.
    let test = on_host(&host);
    let flags = regtest_flags("/srv/lightning");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let output = test.run(init_args(&host, &flags)).expect(2);
    assert_output_snapshot!("bind_mount_refused", output.stderr, &test);
    assert!(!test.path().join("openlsp.yaml").exists());
    let mut opted = flags.to_vec();
    opted.push("--allow-bitcoin-and-lightning");
    let output = test.run(init_args(&host, &opted)).expect(0);
    let profile = profile_json(&test.path().join("openlsp.yaml"));
    let disks = &profile["spec"]["disks"];
    assert_eq!(disks["lightning"]["path"], "/srv/lightning");
    assert_eq!(disks["lightning"]["allowBitcoinAndLightning"], true);
    assert_eq!(
        disks["lightning"]["size"], "1832Gi",
        "the bind mount's size"
    );
    assert!(disks["blockchain"]["allowBitcoinAndLightning"].is_null());
    let warnings = lines_with(&output.stdout, '⚠');
    assert!(
        warnings.iter().any(|(t, _, _)| t == "isolation lnd"),
        "{}",
        output.stdout
    );
    // The isolation warning names allowBitcoinAndLightning: true.
    assert_output_snapshot!("bind_mount_opted_in", output.stdout, &test);
    validate_and_render(&test, "openlsp.yaml");
}

#[test]
fn without_a_profile_a_missing_fstab_entry_fails_as_with_one() {
    let host = fixture("missing-fstab");
    let output = check(&host, None).expect(2);
    assert_eq!(
        failed_titles(&output.stdout),
        ["fstab /srv/lightning"],
        "{}",
        output.stdout
    );
    // What is missing from /etc/fstab and the line to add (with blkid), and ✓ for the other.
    assert_output_snapshot!("check_missing-fstab_without_profile", output.stdout, &Plain);
}

/// The commands of docs/init.md's fixture commands block (under "Testing and `--host-root`"),
/// run exactly as written (from the repository root), but with the binary this test run built.
#[test]
fn the_documented_fixture_commands_exit_as_documented() {
    let docs = fs::read_to_string(common::repo_root().join("docs/init.md")).unwrap();
    let block = docs
        .split_once("<!-- fixture commands -->\n```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("docs/init.md has the fixture commands block");
    let commands: Vec<(String, i32)> = block
        .replace("\\\n", " ")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|line| {
            let (command, comment) = line.split_once("# exits ").expect("# exits N");
            (command.trim().to_owned(), comment.trim().parse().unwrap())
        })
        .collect();
    let hosts: Vec<&str> = commands
        .iter()
        .filter_map(|(c, _)| c.split("--host-root ").nth(1))
        .collect();
    assert_eq!(
        hosts,
        [
            "tests/fixtures/hosts/fresh-pi",
            "tests/fixtures/hosts/ready-pi"
        ]
    );
    for (command, code) in &commands {
        assert!(
            command.contains("target/debug/openlsp init --check"),
            "{command}"
        );
        let scratch = tempfile::tempdir().unwrap();
        let log = scratch.path().join("programs.log");
        let command = command
            .replace("target/debug/openlsp", common::BIN)
            .replacen(
                "env -i ",
                &format!("env -i OPENLSP_FAKE_LOG={} ", log.display()),
                1,
            );
        let output = std::process::Command::new("sh")
            .args(["-c", &command])
            .current_dir(common::repo_root())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(*code),
            "{command}\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The fixture's programs answered, not this machine's.
        assert!(stdout.contains("arm64 (aarch64)"), "{stdout}");
        // A relative --host-root still hands programs absolute paths under it.
        let ran = fs::read_to_string(&log).unwrap_or_default();
        let paths: Vec<&str> = ran
            .lines()
            .filter(|line| line.starts_with("df ") || line.contains("--kubeconfig"))
            .flat_map(|line| line.split(' '))
            .filter(|word| word.contains("fixtures/hosts"))
            .collect();
        if command.contains("ready-pi") {
            assert!(
                ran.lines().any(|line| line.starts_with("df ")),
                "df was not run:\n{ran}"
            );
        }
        assert!(
            paths.iter().all(|path| path.starts_with('/')),
            "relative paths given to programs:\n{ran}"
        );
    }
}

/// A mainnet run in a terminal: the offered disks show their free space and the chain choices
/// say what they need and whether it fits the chosen disk.
#[test]
fn the_wizard_offers_disks_with_free_space_and_says_what_fits() {
    const DOWN: &str = "\x1b[B";
    const ENTER: &str = "\r";
    let host = fixture("ready-pi");
    let test = Test::new();
    let mut session = spawn_wizard(&host, &test, &[]);
    answer(&mut session, "Site name", &[ENTER]);
    answer(&mut session, "Bitcoin network", &[ENTER]);
    answer(&mut session, "Kubernetes node name", &[ENTER]);
    answer(&mut session, "Disk for the blockchain", &[]);
    answer(
        &mut session,
        "/srv/blockchain (ext4, 1.8Ti, 1.7Ti free)",
        &[],
    );
    answer(
        &mut session,
        "/srv/lightning (ext4, 29.4Gi, 28.9Gi free)",
        &[],
    );
    // Another path, not mounted yet: 900Gi holds the full chain, not with txindex.
    answer(
        &mut session,
        "another path (not mounted yet)",
        &[DOWN, DOWN, ENTER],
    );
    answer(&mut session, "Mount point", &["/srv/chain", ENTER]);
    answer(
        &mut session,
        "Size of the disk at /srv/chain",
        &["900Gi", ENTER],
    );
    answer(&mut session, "Disk for Lightning state", &[ENTER]);
    answer(
        &mut session,
        "full chain with txindex: needs about 920Gi; does NOT fit on /srv/chain (900Gi)",
        &[],
    );
    answer(
        &mut session,
        "full chain without txindex: needs about 850Gi; fits on /srv/chain (900Gi)",
        &[],
    );
    // The default is the first choice that fits: the full chain without txindex.
    answer(&mut session, "pruned: keep only recent blocks", &[ENTER]);
    answer(&mut session, "LND alias", &[ENTER]);
    answer(&mut session, "LND color", &[ENTER]);
    finish_wizard(&mut session);
    let profile = profile_json(&test.path().join("openlsp.yaml"));
    let spec = &profile["spec"];
    assert_eq!(spec["network"], "mainnet");
    assert_eq!(spec["disks"]["blockchain"]["path"], "/srv/chain");
    assert_eq!(spec["disks"]["blockchain"]["size"], "900Gi");
    assert_eq!(spec["disks"]["lightning"]["path"], "/srv/lightning");
    assert_eq!(spec["bitcoin"][0]["txindex"], false);
    assert!(spec["bitcoin"][0]["prune"].is_null());
}

/// Lightning typed as a path on the chain's filesystem (a bind mount): asked to agree first.
#[test]
fn the_wizard_asks_before_putting_lightning_on_the_chain_filesystem() {
    const DOWN: &str = "\x1b[B";
    const ENTER: &str = "\r";
    let host = fixture("lightning-on-chain-disk");
    let test = Test::new();
    let flags = [
        "--site",
        "garage",
        "--network",
        "regtest",
        "--node",
        "pi4",
        "--disk",
        "blockchain=/srv/blockchain",
        "--no-txindex",
        "--alias",
        "garage",
        "--lnd-color",
        "#3399ff",
    ];
    let mut session = spawn_wizard(&host, &test, &flags);
    // Only the chain's disk is offered: the bind mount is no disk of its own.
    answer(&mut session, "Disk for Lightning state", &[DOWN, ENTER]);
    answer(&mut session, "Mount point", &["/srv/lightning", ENTER]);
    answer(
        &mut session,
        "/srv/lightning is on the blockchain's filesystem",
        &[],
    );
    answer(&mut session, "Share it anyway?", &["y"]);
    finish_wizard(&mut session);
    let profile = profile_json(&test.path().join("openlsp.yaml"));
    let lightning = &profile["spec"]["disks"]["lightning"];
    assert_eq!(lightning["path"], "/srv/lightning");
    assert_eq!(lightning["allowBitcoinAndLightning"], true);
    validate_and_render(&test, "openlsp.yaml");
}
