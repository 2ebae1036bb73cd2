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
