//! Generated secrets: rpcauth lines verify against the stored passwords, values never appear
//! in any command's output unless explicitly revealed, and open permissions are refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::common::{self, Output, Test, documents, secret_value};

#[test]
fn the_rendered_rpcauth_line_verifies_against_lnds_password() {
    let test = Test::new().with_example("lsp-two-nodes");
    let output = test
        .run(["render", "--show-secrets", "-p", "lsp-two-nodes.yaml"])
        .expect(0);
    let docs = documents(&output.stdout);
    let rpcauth = secret_value(&docs, "bitcoind-rpcauth", "rpcauth.conf");
    let lines: Vec<&str> = rpcauth
        .lines()
        .filter(|l| l.starts_with("rpcauth="))
        .collect();
    assert_eq!(lines.len(), 2, "one rpcauth line per LND:\n{rpcauth}");
    for client in ["lnd-routing", "lnd-customers"] {
        let secret = format!("{client}-bitcoind-rpc");
        assert_eq!(secret_value(&docs, &secret, "username"), client);
        let password = secret_value(&docs, &secret, "password");
        assert_eq!(password.len(), 44);
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("rpcauth={client}:")))
            .unwrap();
        let (salt, hmac) = line
            .trim_start_matches(&format!("rpcauth={client}:"))
            .split_once('$')
            .unwrap();
        assert_eq!(salt.len(), 32);
        let mut mac = Hmac::<Sha256>::new_from_slice(salt.as_bytes()).unwrap();
        mac.update(password.as_bytes());
        assert_eq!(hex::encode(mac.finalize().into_bytes()), hmac);
    }
    let first = secret_value(&docs, "lnd-routing-bitcoind-rpc", "password");
    let second = secret_value(&docs, "lnd-customers-bitcoind-rpc", "password");
    assert_ne!(first, second, "each client needs its own password");
}

#[test]
fn no_command_prints_a_secret_value() {
    let test = Test::new().with_example("pi4-mainnet");
    let state = test.state_dir("home-pi");
    let mut outputs = vec![
        (
            "render",
            test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0),
        ),
        (
            "render again",
            test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0),
        ),
        (
            "render -o",
            test.run(["render", "-p", "pi4-mainnet.yaml", "-o", "out"])
                .expect(0),
        ),
        (
            "validate",
            test.run(["validate", "-p", "pi4-mainnet.yaml", "--show-effective"])
                .expect(0),
        ),
        (
            "render -v",
            test.run(["render", "-vvv", "-p", "pi4-mainnet.yaml"])
                .expect(0),
        ),
    ];
    let mut written = String::new();
    for entry in fs::read_dir(test.path().join("out")).unwrap() {
        written.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(written.contains("kind: Secret"));
    common::assert_no_secrets(&written, &state, "render -o DIR");
    // A broken template must not leak values in its error either.
    test.write(
        "tpl/lnd/secrets.yaml.j2",
        "{{ secrets.walletPasswordB64 }} {{ nope }}\n",
    );
    outputs.push((
        "template error",
        test.run(["render", "-p", "pi4-mainnet.yaml", "--templates", "tpl"])
            .expect(2),
    ));
    for (what, output) in &outputs {
        common::assert_no_secrets(&output.all(), &state, what);
    }

    // The positive control: --show-secrets does print the base64 values, and only those.
    let revealed = test
        .run(["render", "--show-secrets", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    let wallet = fs::read(state.join("lightning/lnd/wallet-password")).unwrap();
    assert!(
        revealed
            .stdout
            .contains(&base64::engine::general_purpose::STANDARD.encode(&wallet))
    );
    assert!(
        !revealed
            .all()
            .contains(std::str::from_utf8(&wallet).unwrap())
    );
}

#[test]
fn a_readable_secret_file_is_refused_with_the_fix() {
    let test = Test::new().with_example("regtest-playground");
    test.run(["render", "-p", "regtest-playground.yaml"])
        .expect(0);
    let file = test
        .state_dir("playground")
        .join("lightning/lnd/wallet-password");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let output = test
        .run(["render", "-p", "regtest-playground.yaml"])
        .expect(2);
    // The file, its mode, and the chmod that fixes it.
    assert_output_snapshot!("readable_secret_file", output.stderr, &test);
    assert!(output.stdout.is_empty());
}

#[test]
fn a_state_dir_of_another_site_is_refused() {
    let test = Test::new()
        .with_example("regtest-playground")
        .with_example("pi4-mainnet");
    test.run([
        "render",
        "-p",
        "regtest-playground.yaml",
        "--state-dir",
        "st",
    ])
    .expect(0);
    let output = test
        .run(["render", "-p", "pi4-mainnet.yaml", "--state-dir", "st"])
        .expect(2);
    assert_output_snapshot!("state_dir_of_another_site", output.stderr, &test);
}

#[test]
fn a_half_missing_tls_pair_is_reported_not_regenerated() {
    let test = Test::new().with_example("regtest-playground");
    test.run(["render", "-p", "regtest-playground.yaml"])
        .expect(0);
    let key = test.state_dir("playground").join("lightning/lnd/tls.key");
    fs::remove_file(&key).unwrap();
    let output = test
        .run(["render", "-p", "regtest-playground.yaml"])
        .expect(2);
    assert_output_snapshot!("half_missing_tls_pair", output.stderr, &test);
    assert!(!key.exists());
}

/// `secrets export -p PROFILE --to FILE --passphrase-file PASSPHRASE_FILE`.
/// A run killed while writing a value leaves a temporary file with the whole key in it; the
/// next run removes it. A state dir path that is a file is named once, with the fix.
#[test]
fn leftover_temp_files_go_and_a_file_is_not_a_state_dir() {
    let test = Test::new().with_example("pi4-mainnet");
    test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0);
    let state = test.state_dir("home-pi");
    let leftover = state.join("tor/lnd-p2p/.hs_ed25519_secret_key.0a1b2c3d4e5f.tmp");
    fs::write(&leftover, [7u8; 96]).unwrap();
    test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0);
    assert!(!leftover.exists(), "the leftover was kept");
    assert!(state.join("tor/lnd-p2p/hs_ed25519_secret_key").exists());

    fs::write(test.path().join("a-file"), "").unwrap();
    let output = test
        .run(["render", "-p", "pi4-mainnet.yaml", "--state-dir", "a-file"])
        .expect(2);
    assert_eq!(
        output.stderr.matches("is not a directory").count(),
        1,
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("hint: pass a directory with --state-dir"),
        "{}",
        output.stderr
    );
}

fn export(test: &Test, profile: &str, to: &str, passphrase_file: &str) -> Output {
    test.run([
        "secrets",
        "export",
        "-p",
        profile,
        "--to",
        to,
        "--passphrase-file",
        passphrase_file,
    ])
}

/// `secrets import -p PROFILE --from FILE --passphrase-file PASSPHRASE_FILE [--state-dir DIR]`.
fn import(
    test: &Test,
    profile: &str,
    from: &str,
    passphrase_file: &str,
    state_dir: Option<&str>,
) -> Output {
    let mut args = vec![
        "secrets",
        "import",
        "-p",
        profile,
        "--from",
        from,
        "--passphrase-file",
        passphrase_file,
    ];
    if let Some(dir) = state_dir {
        args.extend(["--state-dir", dir]);
    }
    test.run(args)
}

#[test]
fn export_and_import_round_trip_and_a_wrong_passphrase_writes_nothing() {
    let test = Test::new().with_example("regtest-playground");
    let profile = "regtest-playground.yaml";
    test.run(["render", "-p", profile]).expect(0);
    test.write("pass", "a long enough passphrase\n");
    test.write("wrong", "not the right passphrase\n");
    test.write("short", "short\n");
    let state = test.state_dir("playground");
    let exported = export(&test, profile, "backup.age", "pass").expect(0);
    let backup = test.path().join("backup.age");
    assert_eq!(
        fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    common::assert_no_secrets(
        &String::from_utf8_lossy(&fs::read(&backup).unwrap()),
        &state,
        "the export",
    );
    let again = export(&test, profile, "backup.age", "pass").expect(2);
    let weak = export(&test, profile, "weak.age", "short").expect(2);
    assert!(!test.path().join("weak.age").exists());

    let wrong = import(&test, profile, "backup.age", "wrong", Some("restored")).expect(2);
    assert!(
        !test.path().join("restored").exists(),
        "a wrong passphrase writes nothing"
    );

    let imported = import(&test, profile, "backup.age", "pass", Some("restored")).expect(0);
    let restored = test.path().join("restored");
    for path in [
        "bitcoin/bitcoind/rpc/lnd/password",
        "bitcoin/bitcoind/rpc/lnd/salt",
        "lightning/lnd/tls.cert",
        "lightning/lnd/tls.key",
        "lightning/lnd/wallet-password",
    ] {
        assert_eq!(
            fs::read(state.join(path)).unwrap(),
            fs::read(restored.join(path)).unwrap(),
            "{path}"
        );
        assert_eq!(
            fs::metadata(restored.join(path))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let original = test
        .run(["render", "--show-secrets", "-p", profile])
        .expect(0)
        .stdout;
    let from_backup = test
        .run([
            "render",
            "--show-secrets",
            "-p",
            profile,
            "--state-dir",
            "restored",
        ])
        .expect(0)
        .stdout;
    assert_eq!(
        original, from_backup,
        "a restored state dir renders the same bytes"
    );
    let twice = import(&test, profile, "backup.age", "pass", Some("restored")).expect(0);
    // An export never overwrites a file, a short passphrase is refused with the minimum, a
    // wrong one says so and that nothing was written, and a second import finds every value
    // already matched.
    assert_output_snapshot!(
        "export_and_import",
        common::transcript(&[
            ("export", &exported.stderr),
            ("export to an existing file", &again.stderr),
            ("export with a short passphrase", &weak.stderr),
            ("import with a wrong passphrase", &wrong.stderr),
            ("import", &imported.stderr),
            ("import again", &twice.stderr),
        ]),
        &test
    );

    let other = Test::new().with_example("pi4-mainnet");
    fs::copy(&backup, other.path().join("backup.age")).unwrap();
    fs::copy(test.path().join("pass"), other.path().join("pass")).unwrap();
    let foreign = import(&other, "pi4-mainnet.yaml", "backup.age", "pass", None).expect(2);
    assert_output_snapshot!("import_of_another_site", foreign.stderr, &other);
    for (what, output) in [
        ("export", &exported),
        ("import", &imported),
        ("import again", &twice),
    ] {
        common::assert_no_secrets(&output.all(), &state, what);
    }
}

/// audit.log is a log: exports carry it, and an import adds the lines it lacks instead of
/// comparing it like a value. Importing onto the dir the export came from, or twice, works.
#[test]
fn an_import_merges_the_audit_log_instead_of_comparing_it() {
    let test = Test::new().with_example("regtest-playground");
    let profile = "regtest-playground.yaml";
    test.run(["render", "-p", profile]).expect(0);
    test.write("pass", "a long enough passphrase\n");
    let state = test.state_dir("playground");
    export(&test, profile, "first.age", "pass").expect(0);
    import(&test, profile, "first.age", "pass", None).expect(0);
    let audited = fs::read_to_string(state.join("audit.log")).unwrap();
    assert_eq!(audited.lines().count(), 2, "{audited}");
    // This export holds both lines; exporting appends a third one here.
    export(&test, profile, "second.age", "pass").expect(0);
    let onto_itself = import(&test, profile, "second.age", "pass", None).expect(0);
    let log = fs::read_to_string(state.join("audit.log")).unwrap();
    for line in audited.lines() {
        assert_eq!(log.matches(line).count(), 1, "{line} once in:\n{log}");
    }
    assert!(log.contains("exported to second.age"));
    let twice = import(&test, profile, "second.age", "pass", None).expect(0);
    let log = fs::read_to_string(state.join("audit.log")).unwrap();
    let stamps: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "the log stays in time order");

    // Into an empty dir, the export's lines arrive before the import's own.
    let fresh = import(&test, profile, "second.age", "pass", Some("fresh")).expect(0);
    // Onto itself no line is added, again every value matches, and into an empty dir both
    // of the export's lines are added.
    assert_output_snapshot!(
        "import_audit_log",
        common::transcript(&[
            ("import onto the exported dir", &onto_itself.stderr),
            ("import again", &twice.stderr),
            ("import into an empty dir", &fresh.stderr),
        ]),
        &test
    );
    let fresh_log = fs::read_to_string(test.path().join("fresh/audit.log")).unwrap();
    assert!(fresh_log.starts_with(&audited), "{fresh_log}");
    assert_eq!(
        fs::metadata(test.path().join("fresh/audit.log"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    common::assert_no_secrets(&fresh.all(), &state, "import");
}

/// CHANGED in `secrets list` is when a value was generated or rotated. An import rewrites the
/// files, but the dates come along in the export.
#[test]
fn an_import_keeps_when_each_value_was_changed() {
    let test = Test::new().with_example("regtest-playground");
    let profile = "regtest-playground.yaml";
    test.run(["render", "-p", profile]).expect(0);
    test.write("pass", "a long enough passphrase\n");
    let state = test.state_dir("playground");
    // A state dir whose RPC password was rotated on 2 January 2025, 03:04 UTC.
    let changed = fs::read_to_string(state.join("changed")).unwrap();
    assert!(
        changed.contains(" bitcoin/bitcoind/rpc/lnd/password\n"),
        "{changed}"
    );
    let backdated: String = changed
        .lines()
        .map(|line| {
            let (_, path) = line.split_once(' ').unwrap();
            let at = if path == "bitcoin/bitcoind/rpc/lnd/password" {
                1_735_787_040
            } else {
                1_735_700_000
            };
            format!("{at} {path}\n")
        })
        .collect();
    fs::write(state.join("changed"), backdated).unwrap();
    let row = |list: &common::Output, name: &str| {
        list.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {}", list.stdout))
            .to_owned()
    };
    let list = |dir: &str| {
        test.run([
            "secrets",
            "list",
            "--offline",
            "-p",
            profile,
            "--state-dir",
            dir,
        ])
        .expect(0)
    };
    let original = list(state.to_str().unwrap());
    assert!(
        row(&original, "lnd-bitcoind-rpc").contains("2025-01-02 03:04 UTC"),
        "{}",
        original.stdout
    );
    export(&test, profile, "backup.age", "pass").expect(0);
    import(&test, profile, "backup.age", "pass", Some("restored")).expect(0);
    let restored = list("restored");
    for name in ["lnd-bitcoind-rpc", "lnd-tls", "lnd-wallet"] {
        assert_eq!(
            row(&restored, name),
            row(&original, name),
            "the restored row of {name} is the original one"
        );
    }
    assert!(
        row(&restored, "lnd-tls").contains("2025-01-01 "),
        "{}",
        restored.stdout
    );
}

#[test]
fn secrets_list_shows_no_values_and_warns_about_expiring_certificates() {
    let test = Test::new().with_example("pi4-mainnet");
    test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0);
    let state = test.state_dir("home-pi");
    let list = test
        .run(["secrets", "list", "--offline", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    let rows: Vec<Vec<&str>> = list
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for (name, kind) in [
        ("lnd-bitcoind-rpc", "rpc"),
        ("lnd-tls", "TLS"),
        ("lnd-wallet", "wallet"),
        ("lnd-wallet", "seed"),
        ("lnd-rpc", "macaroons"),
        ("lnd-p2p-onion", "onion"),
    ] {
        assert!(
            rows.iter()
                .any(|row| row.len() > 1 && row[0] == name && row[1] == kind),
            "missing {name} {kind}:\n{}",
            list.stdout
        );
    }
    common::assert_no_secrets(&list.all(), &state, "secrets list");
    // The whole table: each credential's consumers, its fingerprint (never a value) and expiry.
    assert_output_snapshot!("secrets_list", list.stdout, &test);
    assert_eq!(list.stderr, "", "no certificate expires soon");

    // A certificate that expires in ten days.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["lnd".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after =
        time::OffsetDateTime::now_utc() + time::Duration::days(10) + time::Duration::hours(1);
    fs::write(
        state.join("lightning/lnd/tls.cert"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    let list = test
        .run(["secrets", "list", "--offline", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    // The days left, and the rotation that renews it.
    assert_output_snapshot!("secrets_list_expiring", list.stderr, &test);
}
