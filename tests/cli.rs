//! The command line itself: version, help, completions, exit codes for usage errors.

use crate::common::Test;

#[test]
fn version_and_help() {
    let output = Test::new().run(["--version"]).expect(0);
    assert_eq!(
        output.stdout.trim(),
        format!("openlsp {}", env!("CARGO_PKG_VERSION"))
    );
    // clap wraps help at $COLUMNS, else at the terminal's width, else at 100.
    let test = Test::new().env("COLUMNS", "100");
    let help = test.run(["--help"]).expect(0);
    assert_output_snapshot!("help", help.stdout, &test);
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Test::new().run(["completions", shell]).expect(0);
        assert!(output.stdout.contains("openlsp"), "{shell}");
        assert!(output.stdout.contains("render"), "{shell}");
    }
}

/// The man page comes from the same clap definitions as `--help`: every command is in it, and
/// `--out-dir` writes a page per command.
#[test]
fn man_pages_come_from_the_command_line_definitions() {
    let test = Test::new();
    let page = test.run(["man"]).expect(0).stdout;
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "not roff:\n{page}");
    assert!(page.contains(".TH openlsp 1"), "{page}");
    for command in [
        "init", "validate", "render", "diff", "apply", "delete", "secrets",
    ] {
        assert!(
            page.contains(&format!("openlsp\\-{command}(1)")),
            "{command}: {page}"
        );
    }
    test.run(["man", "--out-dir", "pages"]).expect(0);
    let mut pages: Vec<String> = std::fs::read_dir(test.path().join("pages"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert!(pages.contains(&"openlsp.1".to_owned()), "{pages:?}");
    assert!(pages.contains(&"openlsp-apply.1".to_owned()), "{pages:?}");
    assert!(
        pages.contains(&"openlsp-secrets-rotate.1".to_owned()),
        "{pages:?}"
    );
    let apply = std::fs::read_to_string(test.path().join("pages/openlsp-apply.1")).unwrap();
    assert!(apply.contains("force\\-conflicts"), "{apply}");
}

#[test]
fn usage_errors_exit_2() {
    let test = Test::new();
    let output = test.run(["render", "--no-such-flag"]).expect(2);
    assert_output_snapshot!("unknown_flag", output.stderr, &test);
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
    assert_output_snapshot!("install_dry_run", stdout, &test);
    assert!(!prefix.exists());
    let bad = std::process::Command::new(crate::common::repo_root().join("install.sh"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The real install path, with a stand-in `cargo` first on PATH: it checks that it was called as
/// `cargo install --locked --force --path . --root PREFIX` from the checkout and places the
/// openlsp binary this test run built, so everything install.sh does after the compile runs for
/// real (the compile itself is cargo's). Then `man openlsp` finds the page as an operator's shell
/// would: through PATH (man-db looks beside each `bin` directory), without MANPATH.
#[test]
fn install_sh_installs_the_binary_completions_and_man_pages_and_is_harmless_to_rerun() {
    use std::os::unix::fs::PermissionsExt;
    let test = Test::new();
    let prefix = test.path().join("prefix");
    let calls = test.path().join("cargo-calls");
    let fake_bin = test.path().join("fake-bin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let cargo = fake_bin.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nset -eu\necho \"$PWD|$*\" >> '{calls}'\n\
             [ \"$1 $2 $3 $4 $5 $6\" = 'install --locked --force --path . --root' ] || exit 9\n\
             mkdir -p \"$7/bin\" && cp '{binary}' \"$7/bin/openlsp\"\n",
            calls = calls.display(),
            binary = env!("CARGO_BIN_EXE_openlsp"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", fake_bin.display(), std::env::var("PATH").unwrap());
    let install = || {
        std::process::Command::new(crate::common::repo_root().join("install.sh"))
            .args(["--prefix", prefix.to_str().unwrap()])
            .env("PATH", &path)
            .output()
            .unwrap()
    };

    let first = install();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_output_snapshot!("install", stdout, &test);
    let completions = prefix.join("share/bash-completion/completions/openlsp");
    let script = std::fs::read_to_string(&completions).unwrap();
    assert!(script.contains("complete") && script.contains("openlsp"));
    let recorded = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        recorded.trim(),
        format!(
            "{}|install --locked --force --path . --root {}",
            crate::common::repo_root().canonicalize().unwrap().display(),
            prefix.display()
        )
    );

    let man = std::process::Command::new("man")
        .args(["-P", "cat", "openlsp"])
        .env("PATH", format!("{}:{}", prefix.join("bin").display(), path))
        .env_remove("MANPATH")
        .env("MANWIDTH", "100")
        .output()
        .expect("man is installed by scripts/test-deps.sh");
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.status.success() && text.contains("openlsp-apply(1)"),
        "man openlsp: {}{text}",
        String::from_utf8_lossy(&man.stderr)
    );

    let first_files = walk(&prefix);
    let second = install();
    assert!(second.status.success());
    assert_eq!(std::fs::read_to_string(&completions).unwrap(), script);
    let mut files: Vec<_> = walk(&prefix);
    files.sort();
    assert!(
        files.contains(&"share/man/man1/openlsp.1".to_owned()),
        "{files:?}"
    );
    assert!(
        files.contains(&"share/man/man1/openlsp-apply.1".to_owned()),
        "{files:?}"
    );
    let mut before = first_files;
    before.sort();
    assert_eq!(files, before, "a second run leaves exactly the same files");
    assert!(
        files.iter().all(|f| f == "bin/openlsp"
            || f == "share/bash-completion/completions/openlsp"
            || (f.starts_with("share/man/man1/openlsp") && f.ends_with(".1"))),
        "{files:?}"
    );
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                found.push(relative.display().to_string());
            }
        }
    }
    found
}

#[test]
fn quiet_drops_success_notes_but_keeps_warnings_results_and_errors() {
    let test = Test::new().with_example("pi4-mainnet");
    let loud = test.run(["validate", "-p", "pi4-mainnet.yaml"]).expect(0);
    assert_output_snapshot!("validate_success", loud.stderr, &test);
    let quiet = test
        .run(["-q", "validate", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    assert_eq!(quiet.stderr, "", "--quiet prints no success line");
    let rendered = test
        .run(["--quiet", "render", "-p", "pi4-mainnet.yaml"])
        .expect(0);
    let loud_render = test.run(["render", "-p", "pi4-mainnet.yaml"]).expect(0);
    assert_eq!(
        rendered.stdout, loud_render.stdout,
        "results still go to stdout, all of them"
    );
    assert!(rendered.stdout.contains("kind: StatefulSet"));

    let pruned = std::fs::read_to_string(test.path().join("pi4-mainnet.yaml"))
        .unwrap()
        .replace("txindex: true", "prune: 550");
    test.write("pruned.yaml", &pruned);
    let warned = test.run(["-q", "validate", "-p", "pruned.yaml"]).expect(0);
    assert_output_snapshot!("quiet_warning", warned.stderr, &test);

    test.write(
        "broken.yaml",
        "apiVersion: openlsp.io/v1alpha1\nkind: Site\n",
    );
    let error = test.run(["-q", "validate", "-p", "broken.yaml"]).expect(2);
    assert_output_snapshot!("quiet_error", error.stderr, &test);
}

/// The audit log names the user by the process's uid, also where `$USER` is unset (cron,
/// `env -i`): never `unknown`. (The lock holder uses the same name: tests/e2e/faults.rs.)
#[test]
fn the_audit_log_names_the_uid_without_user_in_the_environment() {
    let test = Test::new()
        .with_example("regtest-playground")
        .without_env("USER");
    test.run(["render", "-p", "regtest-playground.yaml"])
        .expect(0);
    test.write("pass", "a long enough passphrase\n");
    test.run([
        "secrets",
        "export",
        "-p",
        "regtest-playground.yaml",
        "--to",
        "backup.age",
        "--passphrase-file",
        "pass",
    ])
    .expect(0);
    let log = std::fs::read_to_string(test.state_dir("playground").join("audit.log")).unwrap();
    let user = uid_name();
    assert!(
        log.lines()
            .last()
            .is_some_and(|line| line.contains(&format!(" {user}: exported to backup.age"))),
        "{log}"
    );
}

/// The name of this process's uid, as `id -un` says.
pub fn uid_name() -> String {
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    assert!(id.status.success());
    String::from_utf8(id.stdout).unwrap().trim().to_owned()
}
