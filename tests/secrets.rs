//! Generated secrets: rpcauth lines verify against the stored passwords, values never appear
//! in any command's output unless explicitly revealed, and open permissions are refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::common::{self, Test, documents, secret_value};

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
    assert!(
        output.stderr.contains("is readable by others (mode 0644)"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("hint: chmod 600"),
        "{}",
        output.stderr
    );
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
    assert!(
        output
            .stderr
            .contains("belongs to site \"playground\", not \"home-pi\""),
        "{}",
        output.stderr
    );
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
    assert!(
        output
            .stderr
            .contains("tls.cert is damaged: its pair lightning/lnd/tls.key is missing"),
        "{}",
        output.stderr
    );
    assert!(!key.exists());
}
