//! The command line itself: version, help, completions, exit codes for usage errors.

use crate::common::Test;

#[test]
fn version_and_help() {
    let output = Test::new().run(["--version"]).expect(0);
    assert_eq!(
        output.stdout.trim(),
        format!("openlsp {}", env!("CARGO_PKG_VERSION"))
    );
    let help = Test::new().run(["--help"]).expect(0);
    for command in ["validate", "render", "completions"] {
        assert!(help.stdout.contains(command), "help lacks {command}");
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Test::new().run(["completions", shell]).expect(0);
        assert!(output.stdout.contains("openlsp"), "{shell}");
        assert!(output.stdout.contains("render"), "{shell}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let output = Test::new().run(["render", "--no-such-flag"]).expect(2);
    assert!(output.stderr.contains("--no-such-flag"));
    Test::new().run(["no-such-command"]).expect(2);
}

#[test]
fn install_sh_dry_run_prints_its_steps_and_changes_nothing() {
    let test = Test::new();
    let prefix = test.path().join("prefix");
    let output = std::process::Command::new(crate::common::repo_root().join("install.sh"))
        .args(["--dry-run", "--prefix", prefix.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!(
        "cargo install --locked --force --path . --root {}",
        prefix.display()
    )));
    assert!(stdout.contains("dry run; nothing was changed"));
    assert!(!prefix.exists());
    let bad = std::process::Command::new(crate::common::repo_root().join("install.sh"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
