//! `apply` and `delete` in a real pseudo-terminal against the real API server: the yes/no
//! question after the plan, the site name typed before data is deleted, and colour decided per
//! stream (a diff redirected to a file stays plain), and a run paused at its question while
//! another run took the site's lock.

use std::process::Command;
use std::time::Duration;

use rexpect::process::{Signal, WaitStatus};
use rexpect::session::PtySession;

use crate::common;
use crate::common::e2e::Site;

/// What a terminal session showed, and how the program exited.
struct Session {
    pty: PtySession,
    shown: String,
}

/// How a session's terminal is set up.
#[derive(Default, Clone, Copy)]
struct Terminal<'a> {
    /// NO_COLOR=1, as the rest of the suite runs.
    no_color: bool,
    /// Redirects stdout to this file in the site dir; stderr stays on the terminal.
    stdout_to: Option<&'a str>,
    /// Keeps the escape codes, to check colour.
    raw: bool,
    /// More environment variables.
    env: &'a [(&'a str, &'a str)],
}

const PLAIN: Terminal = Terminal {
    no_color: true,
    stdout_to: None,
    raw: false,
    env: &[],
};

impl Session {
    /// `openlsp <args> -p <profile> --kubeconfig <file>` in a terminal, as a person runs it.
    fn start(site: &Site, args: &[&str], terminal: Terminal) -> Self {
        let kubeconfig = site.kubeconfig.to_str().unwrap();
        // `sh -c '<script>' openlsp ARGS`, so the script can redirect stdout.
        let script = match terminal.stdout_to {
            Some(file) => format!("exec \"$0\" \"$@\" > {file}"),
            None => "exec \"$0\" \"$@\"".to_owned(),
        };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg(common::BIN)
            .args(args)
            .args(["-p", &site.profile, "--kubeconfig", kubeconfig])
            .current_dir(site.test.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", site.test.path())
            .env("XDG_STATE_HOME", site.test.path().join("state"))
            .env("TERM", "xterm-256color");
        if terminal.no_color {
            command.env("NO_COLOR", "1");
        }
        command.envs(terminal.env.iter().copied());
        let options = rexpect::reader::Options::new()
            .timeout_ms(Some(60_000))
            .strip_ansi_escape_codes(!terminal.raw);
        Session {
            pty: rexpect::session::spawn_with_options(command, options).unwrap(),
            shown: String::new(),
        }
    }

    /// Waits for `text` on the terminal.
    fn expect(&mut self, text: &str) {
        let before = self
            .pty
            .exp_string(text)
            .unwrap_or_else(|err| panic!("waiting for {text:?}: {err}\nshown:\n{}", self.shown));
        self.shown.push_str(&before);
        self.shown.push_str(text);
    }

    /// Types `keys`, one key event at a time, as a person does.
    fn type_keys(&mut self, keys: &str) {
        for key in keys.chars() {
            self.pty.send(&key.to_string()).unwrap();
            self.pty.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops or continues the program, as a laptop's suspend or `kill -STOP` would.
    fn signal(&mut self, signal: Signal) {
        self.pty.process_mut().signal(signal).unwrap();
    }

    /// Reads to the end; returns the exit code and everything shown.
    fn finish(mut self, site: &Site) -> (i32, String) {
        let rest = self.pty.exp_eof().unwrap();
        self.shown.push_str(&rest);
        let code = match self.pty.process().wait().unwrap() {
            WaitStatus::Exited(_, code) => code,
            other => panic!("{other:?}"),
        };
        site.saw(&self.shown);
        (code, self.shown)
    }
}

fn exists(site: &Site, kind: &str, name: &str) -> bool {
    site.kubectl(&["get", kind, name, "-n", site.namespace()])
        .code
        == 0
}

#[test]
fn apply_shows_the_plan_and_asks_before_writing() {
    let Some(site) = Site::new("pi4-mainnet", "tty-apply") else {
        return;
    };
    let mut session = Session::start(&site, &["apply", "--no-wait"], PLAIN);
    session.expect("+ create StatefulSet/lnd");
    session.expect("Plan: ");
    session.expect("Apply these changes to");
    session.type_keys("n");
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains("apply cancelled; nothing was changed"),
        "{shown}"
    );
    assert!(
        site.kubectl(&["get", "namespace", site.namespace()]).code != 0,
        "answering no wrote the namespace"
    );

    let mut session = Session::start(&site, &["apply", "--no-wait"], PLAIN);
    session.expect("Apply these changes to");
    session.type_keys("y");
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("applied to "), "{shown}");
    assert!(exists(&site, "statefulset", "lnd"));
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

#[test]
fn deleting_data_needs_the_site_name_typed() {
    let Some(site) = Site::new("lsp-two-nodes", "tty-purge") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.remove_lightning_node("lnd-customers");
    let prompt = format!("(type {:?} to confirm)", site.name);

    // apply --prune-data: a wrong name deletes nothing, not even what is not data.
    let prune_data = ["apply", "--yes", "--no-wait", "--prune-data"];
    let mut session = Session::start(&site, &prune_data, PLAIN);
    session.expect("- prune (data) PersistentVolumeClaim/lnd-customers-data");
    session.expect(&prompt);
    session.type_keys("home-pi\r");
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains("the site name was not confirmed; nothing was changed"),
        "{shown}"
    );
    assert!(exists(&site, "pvc", "lnd-customers-data"));
    assert!(exists(&site, "statefulset", "lnd-customers"));

    let mut session = Session::start(&site, &prune_data, PLAIN);
    session.expect(&prompt);
    session.type_keys(&format!("{}\r", site.name));
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 0, "{shown}");
    site.wait_gone("pvc", "lnd-customers-data");
    site.wait_gone("secret", "lnd-customers-wallet");
    assert!(!exists(&site, "statefulset", "lnd-customers"));

    // delete --purge: the same question.
    let mut session = Session::start(&site, &["delete", "--purge"], PLAIN);
    session.expect(&prompt);
    session.type_keys("\r");
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains("delete cancelled; nothing was changed"),
        "{shown}"
    );
    assert!(exists(&site, "statefulset", "lnd-routing"));
    assert!(exists(&site, "pvc", "lnd-routing-data"));

    let mut session = Session::start(&site, &["delete", "--purge"], PLAIN);
    session.expect(&prompt);
    session.type_keys(&format!("{}\r", site.name));
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 0, "{shown}");
    site.wait_gone("pv", &format!("{}-lnd-routing", site.name));
    assert!(!exists(&site, "secret", "lnd-routing-wallet"));
    site.assert_nothing_leaked();
}

#[test]
fn colour_is_decided_per_stream() {
    let Some(site) = Site::new("pi4-mainnet", "colour") else {
        return;
    };
    const ESC: char = '\x1b';

    let colour = Terminal {
        raw: true,
        ..Terminal::default()
    };
    // In a terminal, the diff on stdout is coloured.
    let mut session = Session::start(&site, &["diff"], colour);
    session.expect("Plan: ");
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("\x1b[32m+"), "no green + lines: {shown:?}");

    // `openlsp diff > file` from a terminal: the file is plain text, stderr keeps colour.
    let redirected = |file| Terminal {
        stdout_to: Some(file),
        ..colour
    };
    let session = Session::start(&site, &["diff"], redirected("plan.txt"));
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 1, "{shown}");
    let file = std::fs::read_to_string(site.test.path().join("plan.txt")).unwrap();
    assert!(file.contains("+ create StatefulSet/lnd"), "{file}");
    assert!(!file.contains(ESC), "escape codes in the redirected diff");
    let failing = ["diff", "--context", "no-such-context"];
    let session = Session::start(&site, &failing, redirected("empty.txt"));
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains("\x1b[31m") && shown.contains("no-such-context"),
        "stderr lost its colour: {shown:?}"
    );

    // NO_COLOR turns it off in a terminal; --color always turns it on in a pipe.
    let mut session = Session::start(&site, &["diff"], Terminal { raw: true, ..PLAIN });
    session.expect("Plan: ");
    let (_, shown) = session.finish(&site);
    assert!(!shown.contains(ESC), "{shown:?}");
    let piped = site.openlsp(&["diff", "--color", "always"]).expect(1);
    assert!(piped.stdout.contains("\x1b[32m+"), "{}", piped.stdout);
    let plain = site.openlsp(&["diff"]).expect(1);
    assert!(!plain.stdout.contains(ESC));
    assert_eq!(
        file, plain.stdout,
        "the redirected diff is the whole plain diff"
    );
    site.assert_nothing_leaked();
}

/// The issue's reproduction: an apply stopped at its question past its (here 4 s) lease while
/// `delete` took the lock and deleted the site. Answered yes afterwards, it must not apply its
/// stale plan: it takes the lock again, looks again, and stops, writing nothing.
#[test]
fn an_apply_paused_at_its_question_while_the_site_changed_writes_nothing() {
    let Some(site) = Site::new("pi4-mainnet", "paused") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.edit(|mut value| {
        value["spec"]["lightning"][0]["alias"] = "renamed".into();
        value
    });
    let short_lease = Terminal {
        env: &[("OPENLSP_LOCK_LEASE_SECONDS", "4")],
        ..PLAIN
    };
    let mut session = Session::start(&site, &["apply", "--no-wait"], short_lease);
    session.expect("Apply these changes to");
    session.signal(Signal::SIGSTOP);
    std::thread::sleep(Duration::from_secs(6));
    let deleted = site.openlsp(&["delete", "--yes"]).expect(0);
    assert!(deleted.stderr.contains("deleted "), "{}", deleted.stderr);
    let after_delete = site.resource_versions();
    session.signal(Signal::SIGCONT);
    session.type_keys("y");
    let (code, shown) = session.finish(&site);
    assert_eq!(code, 2, "{shown}");
    for text in [
        "the site lock changed hands while the plan was shown: looking again",
        "the cluster changed while the plan was shown; nothing else was changed",
    ] {
        assert!(shown.contains(text), "{text:?} not in:\n{shown}");
    }
    assert!(
        !exists(&site, "statefulset", "lnd"),
        "the stale plan was applied"
    );
    assert_eq!(site.resource_versions(), after_delete);
    site.assert_nothing_leaked();
}
