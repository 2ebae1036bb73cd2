//! A small builder around the real binary: a temp dir as working directory and state home.

use std::ffi::OsStr;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().unwrap(),
            envs: Vec::new(),
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
        command
    }
}

/// The path of an external program from `var`, or None after printing why the test skips.
/// With OPENLSP_TEST_REQUIRE_ALL=1 a missing program fails the test instead.
pub fn required_program(var: &str, test: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            let reason =
                format!("{test}: skipped because {var} is not set; scripts/test.sh sets it");
            assert!(
                std::env::var_os("OPENLSP_TEST_REQUIRE_ALL").is_none(),
                "{reason}, and OPENLSP_TEST_REQUIRE_ALL forbids skipping"
            );
            eprintln!("{reason}");
            None
        }
    }
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
pub fn secret_needles(state_dir: &Path) -> Vec<String> {
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

/// The real test API server's kubeconfig, or None after printing why the test skips.
pub fn test_cluster(test: &str) -> Option<PathBuf> {
    required_program("OPENLSP_TEST_KUBECONFIG", test)
}

/// Runs kubectl against `kubeconfig`.
pub fn kubectl<I, S>(kubeconfig: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Standard base64, decoded (for Secret data read with kubectl).
pub fn base64_decode(encoded: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap()
}
