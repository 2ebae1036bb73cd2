//! Snapshots of whole outputs (insta, the way uv tests its CLI): a snapshot proves every line of
//! what openlsp printed, where a `.contains` check proves one fragment. Values that change from
//! run to run are replaced before comparing: the test's temp dir, the random part of an e2e
//! site's name (and the ApplySet id hashed from it), the test server's kubeconfig path and port,
//! dates, pids, a lock's remaining seconds, and the fingerprints, onion addresses and checksums
//! that come from generated secrets. Before a text is snapshotted it is checked for every secret value
//! of the state dirs it could leak, so no snapshot ever holds one.

use std::path::{Path, PathBuf};

use super::{Test, e2e::Site};

/// Values that differ between runs, as (regex, replacement).
const FILTERS: &[(&str, &str)] = &[
    (r"https://127\.0\.0\.1:\d+", "https://127.0.0.1:[port]"),
    (
        r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z| UTC)?",
        "[date]",
    ),
    (r"sha256:[0-9a-f]{8,64}", "sha256:[fingerprint]"),
    (r"[a-z2-7]{56}\.onion", "[onion-address].onion"),
    (
        r"config-checksum: [0-9a-f]{64}",
        "config-checksum: [checksum]",
    ),
    (r"\bpid \d+", "pid [pid]"),
    (
        r#"resourceVersion: '?"?\d+'?"?"#,
        "resourceVersion: [version]",
    ),
    // How long a lock has left depends on how long the test took to get there.
    (
        r"expires in \d+s unless renewed",
        "expires in [n]s unless renewed",
    ),
];

/// Where a snapshotted text came from: its own values to replace, and the state dirs whose
/// secrets it must not show.
pub trait Source {
    /// Literal values and what to write instead.
    fn replacements(&self) -> Vec<(String, String)>;
    /// State dirs that hold secret values.
    fn state_dirs(&self) -> Vec<PathBuf>;
}

/// A text that depends on no test dir (a fixture's report, an error).
pub struct Plain;

impl Source for Plain {
    fn replacements(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn state_dirs(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

impl Source for Test {
    fn replacements(&self) -> Vec<(String, String)> {
        vec![(self.path().display().to_string(), "[TMP]".to_owned())]
    }
    fn state_dirs(&self) -> Vec<PathBuf> {
        state_dirs_under(self.path(), 3)
    }
}

impl Source for Site {
    fn replacements(&self) -> Vec<(String, String)> {
        let mut replacements = self.test.replacements();
        replacements.push((self.name.clone(), format!("{}-[nonce]", self.stem())));
        // Each run of scripts/test.sh starts the test server in a new temp dir.
        replacements.push((
            self.kubeconfig.display().to_string(),
            "[KUBECONFIG]".to_owned(),
        ));
        // The ApplySet id is a hash of the namespace, which has the random part.
        replacements.push((self.applyset_id(), "applyset-[id]".to_owned()));
        replacements
    }
    fn state_dirs(&self) -> Vec<PathBuf> {
        self.test.state_dirs()
    }
}

/// Every state dir (a dir with openlsp's `openlsp-state` marker) at most `depth` levels under
/// `dir`.
fn state_dirs_under(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if dir.join("openlsp-state").is_file() {
        found.push(dir.to_path_buf());
    }
    if depth > 0
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                found.extend(state_dirs_under(&path, depth - 1));
            }
        }
    }
    found
}

/// `text` with regex metacharacters escaped, to match literally.
fn literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The insta settings for a snapshot of `text` from `source`, after checking that `text` shows
/// no secret value of `source`'s state dirs.
pub fn settings(source: &dyn Source, text: &str) -> insta::Settings {
    for dir in source.state_dirs() {
        for needle in super::collect_needles(&dir) {
            assert!(
                !text.contains(&needle),
                "a snapshot would hold a secret value (length {}) of {}",
                needle.len(),
                dir.display()
            );
        }
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_omit_expression(true);
    let mut replacements = source.replacements();
    replacements.push((
        super::repo_root().display().to_string(),
        "[REPO]".to_owned(),
    ));
    // The version changes with every release, not with behaviour.
    let version = env!("CARGO_PKG_VERSION");
    replacements.push((format!("openlsp {version}"), "openlsp [version]".to_owned()));
    replacements.push((format!("openlsp/{version}"), "openlsp/[version]".to_owned()));
    // Longest first, so a path is replaced before a shorter one inside it.
    replacements.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    for (value, replacement) in replacements {
        settings.add_filter(&literal(&value), &replacement);
    }
    for &(regex, replacement) in FILTERS {
        settings.add_filter(regex, replacement);
    }
    settings
}

/// Asserts a whole output against the snapshot `name` (next to the calling file, under
/// snapshots/), with the run-to-run values of `source` (a `Test`, a `Site`, or `Plain`) replaced,
/// after checking it holds no secret value.
macro_rules! assert_output_snapshot {
    ($name:expr, $text:expr, $source:expr) => {{
        let text: &str = &$text;
        let settings = $crate::common::snapshot::settings($source, text);
        settings.bind(|| insta::assert_snapshot!($name, text));
    }};
}
