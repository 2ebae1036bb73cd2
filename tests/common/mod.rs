//! What every test module shares: a small builder around the real binary (a temp dir as working
//! directory and state home), parsing of rendered documents, the secret leak check, waits that
//! poll with a deadline, and the submodules for skips, snapshots, the real API server and its
//! real node.

pub mod e2e;
pub mod node;
#[macro_use]
pub mod snapshot;
pub mod skip;
pub mod sshd;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_openlsp");

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example profile, by file stem.
pub fn example_profiles() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo_root().join("profiles"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension() == Some(OsStr::new("yaml")))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub struct Test {
    dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
    removed: Vec<String>,
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "openlsp panicked:\n{}",
            self.stderr
        );
        self
    }

    /// Both streams, for leak checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The plan of a `diff` or `apply` without the diffs: one line per object (`+ create`,
/// `~ change`, `- prune`, `= keep`, with any note) and the `Plan:` summary.
pub fn plan_lines(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|line| {
            ["+ create ", "~ change ", "- prune ", "= keep ", "Plan: "]
                .iter()
                .any(|start| line.starts_with(start))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The part of a `diff` that is about object `id` (`Kind/name`): its plan line and its hunks,
/// up to the next object's plan line.
pub fn object_diff(stdout: &str, id: &str) -> String {
    let header = |line: &str| {
        ["+ create ", "~ change ", "- prune ", "= keep ", "Plan: "]
            .iter()
            .any(|start| line.starts_with(start))
    };
    let mut lines = stdout
        .lines()
        .skip_while(|line| !(header(line) && line.split_whitespace().any(|word| word == id)));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {id} in the diff:\n{stdout}"));
    std::iter::once(first)
        .chain(lines.take_while(|line| !header(line)))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Several outputs as one text for one snapshot, each under a `## <label>` heading.
pub fn transcript(parts: &[(&str, &str)]) -> String {
    parts
        .iter()
        .map(|(label, text)| format!("## {label}\n{text}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().unwrap(),
            envs: Vec::new(),
            removed: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sets an environment variable for every run (after the defaults, so it wins).
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.envs.push((
            key.to_owned(),
            value.as_ref().to_string_lossy().into_owned(),
        ));
        self
    }

    /// Removes an environment variable from every run (as a shell without it would).
    pub fn without_env(mut self, key: &str) -> Self {
        self.removed.push(key.to_owned());
        self
    }

    /// Copies `profiles/<name>.yaml` into the test dir under the same file name.
    pub fn with_example(self, name: &str) -> Self {
        let file = format!("{name}.yaml");
        fs::copy(
            repo_root().join("profiles").join(&file),
            self.path().join(&file),
        )
        .unwrap();
        self
    }

    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, contents).unwrap();
        path
    }

    /// The default state dir of `site` in this test.
    pub fn state_dir(&self, site: &str) -> PathBuf {
        self.path().join("state/openlsp").join(site)
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.command(args).output().expect("run openlsp");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts openlsp without waiting, with stdout and stderr captured.
    pub fn spawn<I, S>(&self, args: I) -> std::process::Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openlsp")
    }

    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("OPENLSP_PROFILE")
            .env_remove("OPENLSP_STATE_DIR")
            .env_remove("KUBECONFIG")
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("HOME", self.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        for key in &self.removed {
            command.env_remove(key);
        }
        command
    }
}

/// The path of an external program (or the kubeconfig of a test server) from `var`, or None
/// after a [`skip::skip`] that says it is `needed_for` what.
pub fn required_program(var: &str, needed_for: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            skip::skip(&format!(
                "{var} is not set ({needed_for}); scripts/test.sh sets it"
            ));
            None
        }
    }
}

/// Calls `check` every `every` until it gives `Ok`, for at most `limit`. `Err(state)` means "not
/// yet", and the last one is named in the timeout's message.
pub fn poll<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return Ok(value),
            Err(state) if Instant::now() >= deadline => {
                return Err(format!(
                    "timed out after {}s waiting for {what}; last seen: {state}",
                    limit.as_secs()
                ));
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// [`poll`] every 300 ms, failing the test on a timeout.
#[track_caller]
pub fn wait_for<T>(what: &str, limit: Duration, check: impl FnMut() -> Result<T, String>) -> T {
    poll(what, limit, Duration::from_millis(300), check).unwrap_or_else(|err| panic!("{err}"))
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills a daemon (bitcoind, tor) if the test fails before stopping it.
pub struct Daemon(pub Child);

impl Daemon {
    /// Stops an `openlsp` daemon with SIGTERM, which it must end on with 0 (`what` names it in
    /// the failure), and returns what it wrote to stdout and stderr.
    pub fn terminate(mut self, what: &str) -> String {
        use std::io::Read as _;
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut log = String::new();
        for stream in [
            self.0
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read>),
            self.0
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read>),
        ] {
            stream.unwrap().read_to_string(&mut log).unwrap();
        }
        let status = self.0.wait().unwrap();
        assert!(
            status.success(),
            "{what} exits 0 on SIGTERM: {status}\n{log}"
        );
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Parses a multi-document YAML stream.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .filter(|value: &Value| !value.is_null())
        .collect()
}

/// The document of `kind` named `name`.
pub fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in the output"))
}

/// Renders `profile` in `test` with secrets shown: the documents and what was said on stderr.
pub fn render(test: &Test, profile: &str) -> (Vec<Value>, String) {
    let output = test
        .run(["render", "--show-secrets", "-p", profile])
        .expect(0);
    (documents(&output.stdout), output.stderr)
}

/// A test with a copy of an example profile as openlsp.yaml, with `spec` entries appended.
pub fn appended(example: &str, spec_entries: &str) -> Test {
    let test = Test::new();
    let text = fs::read_to_string(repo_root().join(format!("profiles/{example}.yaml"))).unwrap();
    test.write(
        "openlsp.yaml",
        &format!("{}\n{spec_entries}\n", text.trim_end()),
    );
    test
}

/// A test with a copy of an example profile as openlsp.yaml, with `from` replaced by `to`.
pub fn edited(example: &str, from: &str, to: &str) -> Test {
    let test = Test::new();
    let text = fs::read_to_string(repo_root().join(format!("profiles/{example}.yaml"))).unwrap();
    assert!(text.contains(from), "{example} has no {from:?}");
    test.write("openlsp.yaml", &text.replacen(from, to, 1));
    test
}

/// File `key` of ConfigMap `name`.
pub fn config(docs: &[Value], name: &str, key: &str) -> String {
    find(docs, "ConfigMap", name)["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {name} has no {key}"))
        .to_owned()
}

/// Lines of `conf` that start with `key=`, without the key.
pub fn values<'a>(conf: &'a str, key: &str) -> Vec<&'a str> {
    conf.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// Runs the `config` init container of StatefulSet `workload` as written (its mount paths moved
/// under a temp dir) with `files` mounted, and returns the composed file `output` (an absolute
/// path in the pod).
pub fn compose_config(
    dir: &Path,
    docs: &[Value],
    workload: &str,
    files: &[(&str, String)],
    output: &str,
) -> PathBuf {
    let pod = &find(docs, "StatefulSet", workload)["spec"]["template"]["spec"];
    let init = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "config")
        .expect("the pod composes its config in an init container");
    let root = dir.join(format!("{workload}-pod"));
    let mut script = init["command"][2].as_str().unwrap().to_owned();
    for (path, contents) in files {
        let file = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, contents).unwrap();
    }
    let output_dir = Path::new(output)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    fs::create_dir_all(root.join(output_dir.trim_start_matches('/'))).unwrap();
    let mut mounts: Vec<String> = files
        .iter()
        .map(|(path, _)| format!("{}/", Path::new(path).parent().unwrap().display()))
        .collect();
    mounts.push(format!("{output_dir}/"));
    mounts.sort();
    mounts.dedup();
    for mount in mounts {
        script = script.replace(&mount, &format!("{}{mount}", root.display()));
    }
    let status = std::process::Command::new("sh")
        .args(["-ec", &script])
        .status()
        .unwrap();
    assert!(status.success(), "{workload}'s config script failed");
    root.join(output.trim_start_matches('/'))
}

/// A Secret's value, decoded.
pub fn secret_value(documents: &[Value], name: &str, key: &str) -> String {
    let encoded = find(documents, "Secret", name)["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("Secret {name} has no key {key}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

/// Every value in a state dir, with the forms it could leak in: the raw text, each long line
/// (PEM bodies) and its base64.
pub fn collect_needles(state_dir: &Path) -> Vec<String> {
    let mut needles = Vec::new();
    let mut stack = vec![state_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if name == "openlsp-state" || name == ".lock" {
                continue;
            }
            let bytes = fs::read(&path).unwrap();
            let Ok(text) = String::from_utf8(bytes.clone()) else {
                // Binary keys (Tor's hs_ed25519_secret_key) can only leak encoded.
                needles.push(base64::engine::general_purpose::STANDARD.encode(&bytes));
                needles.push(hex::encode(&bytes[bytes.len().saturating_sub(64)..]));
                continue;
            };
            needles.push(text.trim().to_owned());
            needles.push(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
            needles.extend(
                text.lines()
                    .filter(|line| line.len() >= 16 && !line.starts_with("-----"))
                    .map(str::to_owned),
            );
        }
    }
    needles
}

/// [`collect_needles`] of a state dir that must hold secrets.
pub fn secret_needles(state_dir: &Path) -> Vec<String> {
    let needles = collect_needles(state_dir);
    assert!(!needles.is_empty(), "no secrets in {}", state_dir.display());
    needles
}

/// Fails if any secret value from `state_dir` appears in `text`.
#[track_caller]
pub fn assert_no_secrets(text: &str, state_dir: &Path, what: &str) {
    for needle in secret_needles(state_dir) {
        assert!(
            !text.contains(&needle),
            "{what} leaked a secret value (length {})",
            needle.len()
        );
    }
}

/// Standard base64, decoded (for Secret data read with kubectl).
pub fn base64_decode(encoded: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap()
}

/// Every file under `dir` with its bytes, to prove a run changed nothing.
pub fn tree_bytes(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(tree_bytes(&path));
        } else {
            files.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    files
}

/// The DNS names of a PEM certificate's subjectAltName.
pub fn tls_names(pem: &str) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    cert.subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}
