//! The state dir: every generated credential and certificate of a site, one file per value,
//! directories 0700 and files 0600. Values are generated once and never overwritten here;
//! only `openlsp secrets rotate` replaces them.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::fsutil::{self, PRIVATE_DIR, PRIVATE_FILE};
use crate::profile::Site;

use super::onion::OnionKey;
use super::{rpcauth, tls};

const MARKER: &str = "openlsp-state";
const LOCK: &str = ".lock";
/// The log of rotations, restores and reveals: appended to, never compared or replaced.
pub const AUDIT_LOG: &str = "audit.log";
/// When each value was generated, rotated or restored (`<unix seconds> <path>` per line), so
/// the date survives `pull` and `import`, which rewrite the files.
pub const CHANGED: &str = "changed";
/// How many times each Kubernetes Secret's values were replaced (`<n> <secret>` per line).
/// Rendered as the Secret's generation annotation, so a state dir copied before a rotation is
/// known to be older than the cluster.
pub const GENERATIONS: &str = "generations";
const FORMAT: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no state dir given and neither XDG_STATE_HOME nor HOME is set; pass --state-dir DIR")]
    NoDefaultDir,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is readable by others (mode {mode:04o}); secrets must be private\n  hint: chmod {want:o} {}  (and check who may have read it)",
        path.display(),
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32, want: u32 },
    #[error(
        "state dir {} belongs to site {found:?}, not {expected:?}\n  hint: pass the right --state-dir, or leave it out for the default of this site",
        dir.display()
    )]
    OtherSite {
        dir: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{} is damaged: {reason}; nothing was changed\n  hint: take the value the cluster has with openlsp secrets pull --force, or restore the state dir with openlsp secrets import; do not delete it", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("the state dir {} is not a directory\n  hint: pass a directory with --state-dir, or leave it out for the default of this site", path.display())]
    NotADirectory { path: PathBuf },
    #[error("the state dir {} has format {found:?}, which this openlsp ({}) does not know; nothing was changed\n  hint: use the openlsp version that wrote it, or a newer one", path.display(), env!("CARGO_PKG_VERSION"))]
    UnknownFormat { path: PathBuf, found: String },
    #[error("{} is missing; this is a bug in openlsp (secrets are generated before rendering)", path.display())]
    Missing { path: PathBuf },
    #[error("cannot generate a secret: {0}")]
    Generate(String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One value (or pair of values) the site needs in its state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// 32 random bytes, URL-safe base64: RPC and wallet passwords.
    Password { path: String },
    /// 16 random bytes, lowercase hex: rpcauth salts.
    Salt { path: String },
    /// A self-signed TLS certificate and its key.
    Tls {
        cert: String,
        key: String,
        common_name: String,
        alt_names: Vec<String>,
        /// Onion keys (state paths, generated earlier in the same list) whose addresses are
        /// added to the certificate's names when it is generated: LND's API onion service.
        onion_names: Vec<String>,
    },
    /// A Tor v3 onion service key, stored as Tor's own `hs_ed25519_secret_key` file.
    OnionKey { path: String },
}

impl Requirement {
    /// The state files this requirement holds.
    pub fn files(&self) -> Vec<&str> {
        match self {
            Requirement::Password { path }
            | Requirement::Salt { path }
            | Requirement::OnionKey { path } => vec![path],
            Requirement::Tls { cert, key, .. } => vec![cert, key],
        }
    }
}

/// Length of a generated password: 32 bytes in URL-safe base64, with its padding.
const PASSWORD_LEN: usize = 44;
/// Length of a generated salt: 16 bytes in hex.
const SALT_LEN: usize = 32;

/// Why a stored value is not what `requirement` generates, if it is not. A TLS pair is checked
/// as a pair (`pair` holds the other file's value, when present).
fn check_value(requirement: &Requirement, relative: &str, value: &[u8]) -> Result<(), String> {
    match requirement {
        Requirement::Password { .. } => {
            let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
            let (body, padding) = value.split_at(value.len().min(PASSWORD_LEN - 1));
            if value.len() != PASSWORD_LEN || !body.iter().all(alphabet) || padding != b"=" {
                return Err(format!(
                    "it is not a password openlsp generated ({PASSWORD_LEN} characters of URL-safe base64; found {} bytes{})",
                    value.len(),
                    if value.ends_with(b"\n") {
                        " ending in a newline"
                    } else {
                        ""
                    }
                ));
            }
        }
        Requirement::Salt { .. } => {
            let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
            if value.len() != SALT_LEN || !value.iter().all(hex) {
                return Err(format!(
                    "it is not a salt ({SALT_LEN} lowercase hex digits; found {} bytes)",
                    value.len()
                ));
            }
        }
        Requirement::OnionKey { .. } => {
            OnionKey::from_secret_file(value).map_err(|err| err.to_string())?;
        }
        Requirement::Tls { cert, .. } => {
            let what = if relative == cert {
                "certificate"
            } else {
                "private key"
            };
            let text = std::str::from_utf8(value).map_err(|_| format!("the {what} is not text"))?;
            if relative == cert {
                tls::read_certificate(text.as_bytes()).map_err(|err| err.to_string())?;
            } else {
                tls::check_key(text)?;
            }
        }
    }
    Ok(())
}

/// Checks a value about to be stored at `path` (or its previous copy during a rotation) as
/// [`check_value`] would when loading it; paths no requirement names pass.
pub fn check_stored(needed: &[Requirement], path: &str, value: &[u8]) -> Result<(), String> {
    for requirement in needed {
        for file in requirement.files() {
            if path == file || path == paths::previous(file) {
                return check_value(requirement, file, value);
            }
        }
    }
    Ok(())
}

/// Relative state paths, shared by the plan (reading) and the store (writing).
pub mod paths {
    pub fn rpc_password(bitcoin: &str, client: &str) -> String {
        format!("bitcoin/{bitcoin}/rpc/{client}/password")
    }
    pub fn rpc_salt(bitcoin: &str, client: &str) -> String {
        format!("bitcoin/{bitcoin}/rpc/{client}/salt")
    }
    pub fn tls_cert(lightning: &str) -> String {
        format!("lightning/{lightning}/tls.cert")
    }
    pub fn tls_key(lightning: &str) -> String {
        format!("lightning/{lightning}/tls.key")
    }
    pub fn wallet_password(lightning: &str) -> String {
        format!("lightning/{lightning}/wallet-password")
    }
    /// Where a credential's previous value waits while a rotation is in phase 1.
    pub fn previous(path: &str) -> String {
        match path.rsplit_once('/') {
            Some((dir, file)) => format!("{dir}/previous/{file}"),
            None => format!("previous/{path}"),
        }
    }
    /// The key of onion service `service` (`<node>-p2p`, `<lnd>-rpc`).
    pub fn onion_key(service: &str) -> String {
        format!("tor/{service}/hs_ed25519_secret_key")
    }
}

/// One change to the state dir, computed before anything is written.
#[derive(Clone, PartialEq, Eq)]
pub enum StateChange {
    Write {
        path: String,
        value: Vec<u8>,
    },
    Remove {
        path: String,
    },
    /// Kubernetes Secret `secret` now carries values of `generation`.
    Generation {
        secret: String,
        generation: u64,
    },
}

impl fmt::Debug for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateChange::Write { path, .. } => write!(f, "Write({path})"),
            StateChange::Remove { path } => write!(f, "Remove({path})"),
            StateChange::Generation { secret, generation } => {
                write!(f, "Generation({secret} = {generation})")
            }
        }
    }
}

impl StateChange {
    /// The state file this change writes or removes; None for a generation.
    pub fn path(&self) -> Option<&str> {
        match self {
            StateChange::Write { path, .. } | StateChange::Remove { path } => Some(path),
            StateChange::Generation { .. } => None,
        }
    }
}

/// The generations of a [`GENERATIONS`] file; bad lines are skipped.
pub fn parse_generations(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (generation, secret) = line.split_once(' ')?;
            Some((secret.to_owned(), generation.parse().ok()?))
        })
        .collect()
}

/// The dates of a [`CHANGED`] file (from this state dir or an export); bad lines are skipped.
pub fn parse_dates(text: &str) -> BTreeMap<String, time::OffsetDateTime> {
    text.lines()
        .filter_map(|line| {
            let (seconds, relative) = line.split_once(' ')?;
            let at = time::OffsetDateTime::from_unix_timestamp(seconds.parse().ok()?).ok()?;
            Some((relative.to_owned(), at))
        })
        .collect()
}

/// `2026-11-21T20-30-05Z`: a history directory name that sorts by time and needs no quoting.
pub fn history_stamp(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The RPC user of a bitcoind's Prometheus exporter. Not a DNS label, so no Lightning node
/// (whose RPC user is its name) can ever have it.
pub const EXPORTER_RPC_USER: &str = "openlsp_exporter";

/// The onion services of a site, by name: each Bitcoin and Lightning node's P2P port, and the
/// REST/gRPC APIs of Lightning nodes that ask for one. Empty when Tor is off.
pub fn onion_services(site: &Site) -> Vec<String> {
    if !site.spec.tor.enabled() {
        return Vec::new();
    }
    let mut services: Vec<String> = site
        .spec
        .bitcoin
        .iter()
        .map(|node| format!("{}-p2p", node.name))
        .collect();
    for node in &site.spec.lightning {
        services.push(format!("{}-p2p", node.name));
        if !node.onion.is_empty() {
            services.push(format!("{}-rpc", node.name));
        }
    }
    services
}

/// The DNS names LND's certificate carries: localhost, then every name of its Service.
pub fn lnd_dns_names(service: &str, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ];
    names.extend(extra.iter().cloned());
    names
}

/// Loopback addresses, so `kubectl port-forward` plus lncli works without extra options.
pub const LND_LOOPBACK_IPS: [&str; 2] = ["127.0.0.1", "::1"];

/// Everything `site` needs, in a stable order.
pub fn requirements(site: &Site) -> Vec<Requirement> {
    // Onion keys first: a TLS certificate may name an onion address.
    let mut needed: Vec<Requirement> = onion_services(site)
        .iter()
        .map(|service| Requirement::OnionKey {
            path: paths::onion_key(service),
        })
        .collect();
    if site.spec.monitoring.enabled {
        for node in &site.spec.bitcoin {
            needed.push(Requirement::Password {
                path: paths::rpc_password(&node.name, EXPORTER_RPC_USER),
            });
            needed.push(Requirement::Salt {
                path: paths::rpc_salt(&node.name, EXPORTER_RPC_USER),
            });
        }
    }
    for node in &site.spec.lightning {
        needed.push(Requirement::Password {
            path: paths::rpc_password(&node.bitcoin, &node.name),
        });
        needed.push(Requirement::Salt {
            path: paths::rpc_salt(&node.bitcoin, &node.name),
        });
        let ips: Vec<String> = LND_LOOPBACK_IPS
            .iter()
            .map(|ip| (*ip).to_owned())
            .chain(node.tls_extra_ips.iter().cloned())
            .collect();
        needed.push(Requirement::Tls {
            cert: paths::tls_cert(&node.name),
            key: paths::tls_key(&node.name),
            common_name: node.name.clone(),
            alt_names: tls::subject_alt_names(
                &lnd_dns_names(&node.name, site.namespace(), &node.tls_extra_domains),
                &ips,
            ),
            onion_names: if site.spec.tor.enabled() && !node.onion.is_empty() {
                vec![paths::onion_key(&format!("{}-rpc", node.name))]
            } else {
                Vec::new()
            },
        });
        needed.push(Requirement::Password {
            path: paths::wallet_password(&node.name),
        });
    }
    needed
}

/// Secret values read from the state dir. Debug output lists names only, never values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    values: BTreeMap<String, Vec<u8>>,
    /// Generation of each Kubernetes Secret whose values were ever replaced (absent: 0).
    generations: BTreeMap<String, u64>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Secrets {
    pub fn insert(&mut self, path: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.values.insert(path.into(), value.into());
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.values.get(path).map(Vec::as_slice)
    }

    /// How many times Kubernetes Secret `secret` had its values replaced (0: never).
    pub fn generation(&self, secret: &str) -> u64 {
        self.generations.get(secret).copied().unwrap_or(0)
    }

    /// Every Secret with a generation above 0.
    pub fn generations(&self) -> &BTreeMap<String, u64> {
        &self.generations
    }

    /// The same values with `changes` made, for rendering before anything is written.
    pub fn with_changes(&self, changes: &[StateChange]) -> Secrets {
        let mut next = self.clone();
        for change in changes {
            match change {
                StateChange::Write { path, value } => {
                    next.values.insert(path.clone(), value.clone());
                }
                StateChange::Remove { path } => {
                    next.values.remove(path);
                }
                StateChange::Generation { secret, generation } => {
                    next.generations.insert(secret.clone(), *generation);
                }
            }
        }
        next
    }

    /// Every value with its path, for leak checks and exports.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

/// A site's state dir, opened and checked.
#[derive(Debug)]
pub struct StateDir {
    root: PathBuf,
}

/// `$XDG_STATE_HOME/openlsp/<site>`, else `~/.local/state/openlsp/<site>`.
pub fn default_state_dir(site: &str) -> Result<PathBuf, StateError> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or(StateError::NoDefaultDir)?)
            .join(".local/state"),
    };
    Ok(base.join("openlsp").join(site))
}

fn check_private(path: &Path, want: u32) -> Result<(), StateError> {
    let mode = fsutil::mode_of(path).map_err(io_error(path))?;
    if mode & 0o077 != 0 {
        return Err(StateError::TooOpen {
            path: path.to_path_buf(),
            mode,
            want,
        });
    }
    Ok(())
}

impl StateDir {
    /// Opens (creating it 0700 if needed) the state dir of `site` and checks it is private
    /// and belongs to this site.
    pub fn open(root: &Path, site: &str) -> Result<Self, StateError> {
        if root.exists() && !root.is_dir() {
            return Err(StateError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        fsutil::create_dir_all(root, PRIVATE_DIR).map_err(io_error(root))?;
        check_private(root, PRIVATE_DIR)?;
        let marker = root.join(MARKER);
        let contents = format!("format {FORMAT}\nsite {site}\n");
        match fs::read_to_string(&marker) {
            Ok(found) => {
                let found_site = found
                    .lines()
                    .find_map(|line| line.strip_prefix("site "))
                    .unwrap_or("")
                    .to_owned();
                let format = found
                    .lines()
                    .find_map(|line| line.strip_prefix("format "))
                    .unwrap_or("")
                    .to_owned();
                if format != FORMAT {
                    return Err(StateError::UnknownFormat {
                        path: marker,
                        found: format,
                    });
                }
                if found_site != site {
                    return Err(StateError::OtherSite {
                        dir: root.to_path_buf(),
                        found: found_site,
                        expected: site.to_owned(),
                    });
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fsutil::create_atomic(&marker, contents.as_bytes(), PRIVATE_FILE)
                    .map_err(io_error(&marker))?;
            }
            Err(err) => return Err(io_error(&marker)(err)),
        }
        let state = StateDir {
            root: root.to_path_buf(),
        };
        state.remove_leftover_temp_files()?;
        Ok(state)
    }

    /// Removes the temporary files of writes that a killed run never finished (they can hold
    /// a whole key), under the lock so no running write loses its file.
    fn remove_leftover_temp_files(&self) -> Result<(), StateError> {
        let _lock = self.lock()?;
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
                let path = entry.map_err(io_error(&dir))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if fsutil::is_temp_file(&path) {
                    match fs::remove_file(&path) {
                        Ok(()) => {
                            tracing::info!("removed {}, left by an interrupted run", path.display())
                        }
                        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                        Err(err) => return Err(io_error(&path)(err)),
                    }
                }
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Holds an exclusive lock on the state dir until dropped, so concurrent runs never
    /// generate two different values for one secret.
    fn lock(&self) -> Result<File, StateError> {
        let path = self.root.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(PRIVATE_FILE)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(file)
    }

    fn exists(&self, relative: &str) -> bool {
        self.root.join(relative).exists()
    }

    fn create(&self, relative: &str, value: &[u8]) -> Result<(), StateError> {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            fsutil::create_dir_all(parent, PRIVATE_DIR).map_err(io_error(parent))?;
        }
        fsutil::create_atomic(&path, value, PRIVATE_FILE).map_err(io_error(&path))?;
        Ok(())
    }

    /// Generates whatever `needed` lists that does not exist yet; returns what it generated.
    pub fn ensure(&self, needed: &[Requirement]) -> Result<Vec<String>, StateError> {
        let _lock = self.lock()?;
        let mut generated = Vec::new();
        let random_failed = |err: getrandom::Error| StateError::Generate(err.to_string());
        for requirement in needed {
            match requirement {
                Requirement::Password { path } if !self.exists(path) => {
                    let password = rpcauth::generate_password().map_err(random_failed)?;
                    self.create(path, password.as_bytes())?;
                    generated.push(path.clone());
                }
                Requirement::Salt { path } if !self.exists(path) => {
                    let salt = rpcauth::generate_salt().map_err(random_failed)?;
                    self.create(path, salt.as_bytes())?;
                    generated.push(path.clone());
                }
                Requirement::Tls {
                    cert,
                    key,
                    common_name,
                    alt_names,
                    onion_names,
                } => match (self.exists(cert), self.exists(key)) {
                    (true, true) => {}
                    (false, false) => {
                        let mut alt_names = alt_names.clone();
                        for path in onion_names {
                            alt_names.push(self.read_onion_key(path)?.address());
                        }
                        let pair = tls::generate(common_name, &alt_names)
                            .map_err(|err| StateError::Generate(err.to_string()))?;
                        self.create(key, pair.key_pem.as_bytes())?;
                        self.create(cert, pair.cert_pem.as_bytes())?;
                        generated.push(cert.clone());
                        generated.push(key.clone());
                    }
                    (has_cert, _) => {
                        let (present, missing) = if has_cert { (cert, key) } else { (key, cert) };
                        return Err(StateError::Damaged {
                            path: self.root.join(present),
                            reason: format!("its pair {missing} is missing"),
                        });
                    }
                },
                Requirement::OnionKey { path } if !self.exists(path) => {
                    let key = OnionKey::generate().map_err(random_failed)?;
                    self.create(path, &key.secret_file())?;
                    generated.push(path.clone());
                }
                _ => {}
            }
        }
        let now = time::OffsetDateTime::now_utc();
        let dates: Vec<(String, time::OffsetDateTime)> =
            generated.iter().map(|p| (p.clone(), now)).collect();
        self.write_dates(&dates, &[])?;
        Ok(generated)
    }

    /// The recorded dates, by path.
    fn dates(&self) -> Result<BTreeMap<String, time::OffsetDateTime>, StateError> {
        let path = self.root.join(CHANGED);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(err) => return Err(io_error(&path)(err)),
        };
        Ok(parse_dates(&text))
    }

    /// Sets the dates of `set` and forgets those of `forget`; the caller holds the lock.
    fn write_dates(
        &self,
        set: &[(String, time::OffsetDateTime)],
        forget: &[String],
    ) -> Result<(), StateError> {
        if set.is_empty() && forget.is_empty() {
            return Ok(());
        }
        let mut dates = self.dates()?;
        for (relative, at) in set {
            dates.insert(relative.clone(), *at);
        }
        for relative in forget {
            dates.remove(relative);
        }
        let text: String = dates
            .iter()
            .map(|(relative, at)| format!("{} {relative}\n", at.unix_timestamp()))
            .collect();
        let path = self.root.join(CHANGED);
        fsutil::write_atomic(&path, text.as_bytes(), PRIVATE_FILE).map_err(io_error(&path))
    }

    /// Records when values restored from elsewhere (an export, the cluster) were really
    /// changed, instead of the time of the restore.
    pub fn restore_dates(
        &self,
        dates: &[(String, time::OffsetDateTime)],
    ) -> Result<(), StateError> {
        let _lock = self.lock()?;
        self.write_dates(dates, &[])
    }

    /// Reads one value if it exists, checking the file is private and not empty.
    pub fn read(&self, relative: &str) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.root.join(relative);
        if !path.exists() {
            return Ok(None);
        }
        check_private(&path, PRIVATE_FILE)?;
        let value = fs::read(&path).map_err(io_error(&path))?;
        if value.is_empty() {
            return Err(StateError::Damaged {
                path,
                reason: "it is empty".to_owned(),
            });
        }
        Ok(Some(value))
    }

    /// Reads and checks an onion key from the state dir.
    fn read_onion_key(&self, relative: &str) -> Result<OnionKey, StateError> {
        let path = self.root.join(relative);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        OnionKey::from_secret_file(&bytes).map_err(|err| StateError::Damaged {
            path,
            reason: err.to_string(),
        })
    }

    /// Reads and checks every value `needed` lists that the state dir has, the previous value
    /// of any credential that is being rotated, and the generations. A value that is not what
    /// openlsp generates (a damaged file) is an error; a missing one is left out.
    pub fn load_present(&self, needed: &[Requirement]) -> Result<Secrets, StateError> {
        let mut secrets = Secrets {
            generations: self.generations()?,
            ..Secrets::default()
        };
        for requirement in needed {
            for relative in requirement.files() {
                for path in [relative.to_owned(), paths::previous(relative)] {
                    if let Some(value) = self.read(&path)? {
                        check_value(requirement, relative, &value).map_err(|reason| {
                            StateError::Damaged {
                                path: self.root.join(&path),
                                reason,
                            }
                        })?;
                        secrets.insert(path, value);
                    }
                }
            }
            if let Requirement::Tls { cert, key, .. } = requirement
                && let (Some(cert_pem), Some(key_pem)) = (secrets.get(cert), secrets.get(key))
            {
                tls::check_pair(cert_pem, key_pem).map_err(|reason| StateError::Damaged {
                    path: self.root.join(cert),
                    reason: format!("{reason} in {key}"),
                })?;
            }
        }
        Ok(secrets)
    }

    /// Like [`Self::load_present`], and every value `needed` lists must be there.
    pub fn load(&self, needed: &[Requirement]) -> Result<Secrets, StateError> {
        let secrets = self.load_present(needed)?;
        for requirement in needed {
            for relative in requirement.files() {
                if secrets.get(relative).is_none() {
                    return Err(StateError::Missing {
                        path: self.root.join(relative),
                    });
                }
            }
        }
        Ok(secrets)
    }

    /// `history/<stamp>`, or `history/<stamp>.2`, `.3`... when a commit in the same second
    /// already used it: names sort in time order and no commit overwrites another's copies.
    fn unused_history_dir(&self, stamp: &str) -> PathBuf {
        let history = self.root.join("history");
        (1u32..)
            .map(|n| match n {
                1 => history.join(stamp),
                n => history.join(format!("{stamp}.{n}")),
            })
            .find(|dir| !dir.exists())
            .expect("some suffix is unused")
    }

    /// Copies the current values of `paths` into `history/<stamp>/`, then makes `changes`,
    /// all under the state lock. Nothing is ever deleted from history.
    pub fn commit(
        &self,
        stamp: &str,
        paths: &[String],
        changes: &[StateChange],
    ) -> Result<(), StateError> {
        let _lock = self.lock()?;
        let mut history = None;
        for relative in paths {
            if let Some(value) = self.read(relative)? {
                let dir = history.get_or_insert_with(|| self.unused_history_dir(stamp));
                let target = dir.join(relative);
                if let Some(parent) = target.parent() {
                    fsutil::create_dir_all(parent, PRIVATE_DIR).map_err(io_error(parent))?;
                }
                fsutil::create_atomic(&target, &value, PRIVATE_FILE).map_err(io_error(&target))?;
            }
        }
        let mut generations = self.generations()?;
        for change in changes {
            let StateChange::Generation { secret, generation } = change else {
                continue;
            };
            generations.insert(secret.clone(), *generation);
        }
        self.write_generations(&generations)?;
        for change in changes {
            let Some(relative) = change.path() else {
                continue;
            };
            let path = self.root.join(relative);
            match change {
                StateChange::Generation { .. } => {}
                StateChange::Write { value, .. } => {
                    if let Some(parent) = path.parent() {
                        fsutil::create_dir_all(parent, PRIVATE_DIR).map_err(io_error(parent))?;
                    }
                    fsutil::write_atomic(&path, value, PRIVATE_FILE).map_err(io_error(&path))?;
                }
                StateChange::Remove { .. } => match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => return Err(io_error(&path)(err)),
                },
            }
        }
        let now = time::OffsetDateTime::now_utc();
        let (mut written, mut removed) = (Vec::new(), Vec::new());
        for change in changes {
            match change {
                StateChange::Write { path, .. } => written.push((path.clone(), now)),
                StateChange::Remove { path } => removed.push(path.clone()),
                StateChange::Generation { .. } => {}
            }
        }
        self.write_dates(&written, &removed)
    }

    /// The recorded generations, by Secret.
    pub fn generations(&self) -> Result<BTreeMap<String, u64>, StateError> {
        let path = self.root.join(GENERATIONS);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(parse_generations(&text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(err) => Err(io_error(&path)(err)),
        }
    }

    /// Replaces the generations record; the caller holds the lock.
    fn write_generations(&self, generations: &BTreeMap<String, u64>) -> Result<(), StateError> {
        if *generations == self.generations()? {
            return Ok(());
        }
        let text: String = generations
            .iter()
            .filter(|(_, generation)| **generation > 0)
            .map(|(secret, generation)| format!("{generation} {secret}\n"))
            .collect();
        let path = self.root.join(GENERATIONS);
        fsutil::write_atomic(&path, text.as_bytes(), PRIVATE_FILE).map_err(io_error(&path))
    }

    /// Relative paths (sorted) of the files under the state dir, without marker and lock;
    /// `everything` includes history and the audit log.
    fn walk(&self, everything: bool) -> Result<Vec<String>, StateError> {
        let mut found = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
                let path = entry.map_err(io_error(&dir))?.path();
                let relative = path
                    .strip_prefix(&self.root)
                    .expect("under the state dir")
                    .to_string_lossy()
                    .into_owned();
                let skipped = relative == MARKER
                    || relative == LOCK
                    || (!everything
                        && (relative == "history"
                            || relative == AUDIT_LOG
                            || relative == CHANGED
                            || relative == GENERATIONS));
                if skipped {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.push(relative);
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Every value file (relative paths, sorted).
    pub fn files(&self) -> Result<Vec<String>, StateError> {
        self.walk(false)
    }

    /// Every file with its contents, history and audit log included, for an export.
    pub fn all_files(&self) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        self.walk(true)?
            .into_iter()
            .map(|relative| {
                let path = self.root.join(&relative);
                check_private(&path, PRIVATE_FILE)?;
                let value = fs::read(&path).map_err(io_error(&path))?;
                Ok((relative, value))
            })
            .collect()
    }

    /// Appends a line to `audit.log`: rotations, restores and seed reveals, with who and when.
    pub fn audit(&self, event: &str) -> Result<(), StateError> {
        use std::io::Write as _;
        let path = self.root.join(AUDIT_LOG);
        let now = time::OffsetDateTime::now_utc();
        let user = crate::operator::user_name();
        let line = format!("{} {user}: {event}\n", history_stamp(now));
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE_FILE)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .map_err(io_error(&path))
    }

    /// Adds the lines of another copy of the audit log (from an export) that this one lacks,
    /// keeping the log in time order; returns how many were added. A line that occurs twice
    /// in `other` and once here is added once.
    pub fn merge_audit(&self, other: &[u8]) -> Result<usize, StateError> {
        let _lock = self.lock()?;
        let path = self.root.join(AUDIT_LOG);
        let local = match fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(io_error(&path)(err)),
        };
        let mut unmatched: Vec<&str> = local.lines().collect();
        let other = String::from_utf8_lossy(other);
        let mut added = Vec::new();
        for line in other.lines().filter(|l| !l.is_empty()) {
            match unmatched.iter().position(|l| *l == line) {
                Some(index) => {
                    unmatched.swap_remove(index);
                }
                None => added.push(line),
            }
        }
        if added.is_empty() {
            return Ok(0);
        }
        let mut merged: Vec<&str> = local.lines().chain(added.iter().copied()).collect();
        // Lines start with a sortable UTC stamp; the sort is stable for equal stamps.
        merged.sort_by_key(|line| line.split(' ').next().unwrap_or_default().to_owned());
        let mut text = merged.join("\n");
        text.push('\n');
        fsutil::write_atomic(&path, text.as_bytes(), PRIVATE_FILE).map_err(io_error(&path))?;
        Ok(added.len())
    }

    /// When a value was last changed (generated or rotated; a restore keeps the date it had),
    /// from the record, else the file's time (a state dir from before the record).
    pub fn modified(&self, relative: &str) -> Option<time::OffsetDateTime> {
        if let Some(at) = self.dates().ok()?.get(relative) {
            return Some(*at);
        }
        let modified = fs::metadata(self.root.join(relative))
            .ok()?
            .modified()
            .ok()?;
        Some(time::OffsetDateTime::from(modified))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(path: &str) -> Requirement {
        Requirement::Password {
            path: path.to_owned(),
        }
    }

    #[test]
    fn dates_are_recorded_on_generation_and_rotation_and_can_be_restored() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s"), "home").unwrap();
        let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        state.ensure(&[password("rpc/pw")]).unwrap();
        let generated = state.modified("rpc/pw").unwrap();
        assert!(generated >= before);
        let long_ago = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        state
            .restore_dates(&[("rpc/pw".to_owned(), long_ago)])
            .unwrap();
        // The file is rewritten, as pull and import do; the recorded date stays.
        fs::write(state.root().join("rpc/pw"), "x").unwrap();
        assert_eq!(state.modified("rpc/pw"), Some(long_ago));
        assert!(!state.files().unwrap().contains(&CHANGED.to_owned()));
        let change = StateChange::Write {
            path: "rpc/pw".to_owned(),
            value: b"new".to_vec(),
        };
        state
            .commit("2026-01-01T00-00-00Z", &[], &[change])
            .unwrap();
        assert!(
            state.modified("rpc/pw").unwrap() >= before,
            "a rotation is a change"
        );
        state
            .commit(
                "2026-01-01T00-00-01Z",
                &[],
                &[StateChange::Remove {
                    path: "rpc/pw".to_owned(),
                }],
            )
            .unwrap();
        assert!(
            !fs::read_to_string(state.root().join(CHANGED))
                .unwrap()
                .contains("rpc/pw")
        );
    }

    #[test]
    fn audit_logs_merge_by_time_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s"), "home").unwrap();
        let ours = "2026-01-02T00-00-00Z me: b\n2026-01-04T00-00-00Z me: d\n";
        fs::write(state.root().join(AUDIT_LOG), ours).unwrap();
        let theirs =
            b"2026-01-01T00-00-00Z me: a\n2026-01-02T00-00-00Z me: b\n2026-01-03T00-00-00Z me: c\n";
        assert_eq!(state.merge_audit(theirs).unwrap(), 2);
        let merged = fs::read_to_string(state.root().join(AUDIT_LOG)).unwrap();
        assert_eq!(
            merged,
            "2026-01-01T00-00-00Z me: a\n2026-01-02T00-00-00Z me: b\n2026-01-03T00-00-00Z me: c\n2026-01-04T00-00-00Z me: d\n"
        );
        assert_eq!(
            state.merge_audit(theirs).unwrap(),
            0,
            "a second merge adds nothing"
        );
        assert_eq!(state.merge_audit(merged.as_bytes()).unwrap(), 0);
    }

    #[test]
    fn generates_once_and_keeps_values() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let state = StateDir::open(&root, "home").unwrap();
        let needed = vec![password("a/password")];
        assert_eq!(state.ensure(&needed).unwrap(), vec!["a/password"]);
        let first = state.load(&needed).unwrap();
        assert!(state.ensure(&needed).unwrap().is_empty());
        assert_eq!(state.load(&needed).unwrap(), first);
        assert_eq!(fsutil::mode_of(&root).unwrap(), 0o700);
        assert_eq!(fsutil::mode_of(&root.join("a")).unwrap(), 0o700);
        assert_eq!(fsutil::mode_of(&root.join("a/password")).unwrap(), 0o600);
    }

    #[test]
    fn refuses_open_permissions_and_other_sites() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let state = StateDir::open(&root, "home").unwrap();
        let needed = vec![password("p")];
        state.ensure(&needed).unwrap();
        fs::set_permissions(root.join("p"), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            state.load(&needed),
            Err(StateError::TooOpen { .. })
        ));
        assert!(matches!(
            StateDir::open(&root, "other"),
            Err(StateError::OtherSite { .. })
        ));
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            StateDir::open(&root, "home"),
            Err(StateError::TooOpen { .. })
        ));
    }

    #[test]
    fn commit_keeps_history_and_loads_previous_values() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s"), "home").unwrap();
        let needed = vec![password("rpc/pw")];
        state.ensure(&needed).unwrap();
        let old = state.load(&needed).unwrap().get("rpc/pw").unwrap().to_vec();
        let fresh = || rpcauth::generate_password().unwrap().into_bytes();
        let (new, newer, newest) = (fresh(), fresh(), fresh());
        let changes = vec![
            StateChange::Write {
                path: paths::previous("rpc/pw"),
                value: old.clone(),
            },
            StateChange::Write {
                path: "rpc/pw".into(),
                value: new.clone(),
            },
        ];
        state
            .commit("2026-01-01T00-00-00Z", &["rpc/pw".to_owned()], &changes)
            .unwrap();
        let loaded = state.load(&needed).unwrap();
        assert_eq!(loaded.get("rpc/pw"), Some(new.as_slice()));
        assert_eq!(loaded.get("rpc/previous/pw"), Some(old.as_slice()));
        let kept = dir.path().join("s/history/2026-01-01T00-00-00Z/rpc/pw");
        assert_eq!(fs::read(&kept).unwrap(), old);
        assert_eq!(fsutil::mode_of(&kept).unwrap(), 0o600);
        assert_eq!(fsutil::mode_of(kept.parent().unwrap()).unwrap(), 0o700);
        assert_eq!(state.files().unwrap(), ["rpc/previous/pw", "rpc/pw"]);
        state
            .commit(
                "2026-01-02T00-00-00Z",
                &[],
                &[StateChange::Remove {
                    path: paths::previous("rpc/pw"),
                }],
            )
            .unwrap();
        assert_eq!(state.load(&needed).unwrap().get("rpc/previous/pw"), None);
        assert!(kept.exists(), "history is never deleted");

        // Two more rotations within one second: each old value keeps its own copy.
        for value in [&newer, &newest] {
            state
                .commit(
                    "2026-01-03T00-00-00Z",
                    &["rpc/pw".to_owned()],
                    &[StateChange::Write {
                        path: "rpc/pw".into(),
                        value: value.clone(),
                    }],
                )
                .unwrap();
        }
        let history = dir.path().join("s/history");
        assert_eq!(
            fs::read(history.join("2026-01-03T00-00-00Z/rpc/pw")).unwrap(),
            new
        );
        assert_eq!(
            fs::read(history.join("2026-01-03T00-00-00Z.2/rpc/pw")).unwrap(),
            newer
        );
        let mut stamps: Vec<String> = fs::read_dir(&history)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        stamps.sort();
        assert_eq!(
            stamps,
            [
                "2026-01-01T00-00-00Z",
                "2026-01-03T00-00-00Z",
                "2026-01-03T00-00-00Z.2"
            ],
            "a commit that copies nothing makes no history dir; names sort in time order"
        );
    }

    #[test]
    fn onion_keys_are_generated_once_and_named_in_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("state"), "home").unwrap();
        let key_path = paths::onion_key("lnd-rpc");
        let needed = vec![
            Requirement::OnionKey {
                path: key_path.clone(),
            },
            Requirement::Tls {
                cert: "lnd/tls.cert".to_owned(),
                key: "lnd/tls.key".to_owned(),
                common_name: "lnd".to_owned(),
                alt_names: vec!["localhost".to_owned()],
                onion_names: vec![key_path.clone()],
            },
        ];
        state.ensure(&needed).unwrap();
        let secrets = state.load(&needed).unwrap();
        let key = OnionKey::from_secret_file(secrets.get(&key_path).unwrap()).unwrap();
        assert!(state.ensure(&needed).unwrap().is_empty());
        assert_eq!(
            state.load(&needed).unwrap(),
            secrets,
            "nothing is regenerated"
        );
        let cert = String::from_utf8(secrets.get("lnd/tls.cert").unwrap().to_vec()).unwrap();
        let der = x509_parser::pem::parse_x509_pem(cert.as_bytes()).unwrap().1;
        let parsed = der.parse_x509().unwrap();
        let names = format!(
            "{:?}",
            parsed.subject_alternative_name().unwrap().unwrap().value
        );
        assert!(names.contains(&key.address()), "{names}");
        assert_eq!(
            fsutil::mode_of(&state.root().join(&key_path)).unwrap(),
            0o600
        );
        // A damaged key is reported, not silently replaced.
        fs::write(state.root().join(&key_path), b"short").unwrap();
        assert!(matches!(
            state.load(&needed),
            Err(StateError::Damaged { .. })
        ));
    }

    /// Every kind of value is checked for what openlsp generates when loaded; a damaged file is
    /// named and never regenerated.
    #[test]
    fn damaged_values_are_refused_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s"), "home").unwrap();
        let needed = vec![
            password("lightning/lnd/wallet-password"),
            Requirement::Salt {
                path: "bitcoin/b/rpc/lnd/salt".to_owned(),
            },
            Requirement::OnionKey {
                path: paths::onion_key("lnd-p2p"),
            },
            Requirement::Tls {
                cert: "lightning/lnd/tls.cert".to_owned(),
                key: "lightning/lnd/tls.key".to_owned(),
                common_name: "lnd".to_owned(),
                alt_names: vec!["lnd".to_owned()],
                onion_names: Vec::new(),
            },
        ];
        state.ensure(&needed).unwrap();
        state.load(&needed).unwrap();
        let other_pair = tls::generate("lnd", &["lnd".to_owned()]).unwrap();
        let good_key = fs::read_to_string(state.root().join("lightning/lnd/tls.key")).unwrap();
        let broken_key = good_key.replacen(&good_key[40..56], "AAAAAAAAAAAAAAAA", 1);
        let pw = fs::read(state.root().join("lightning/lnd/wallet-password")).unwrap();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("lightning/lnd/tls.cert", b"garbage\n".to_vec(), "PEM"),
            ("lightning/lnd/tls.key", broken_key.into_bytes(), "key"),
            (
                "lightning/lnd/tls.key",
                other_pair.key_pem.into_bytes(),
                "not for the key",
            ),
            (
                "lightning/lnd/wallet-password",
                [pw.clone(), b"\n".to_vec()].concat(),
                "newline",
            ),
            (
                "lightning/lnd/wallet-password",
                vec![0xff; 44],
                "URL-safe base64",
            ),
            ("bitcoin/b/rpc/lnd/salt", b"zz".to_vec(), "hex"),
            ("tor/lnd-p2p/hs_ed25519_secret_key", b"short".to_vec(), "96"),
        ];
        for (path, value, reason) in cases {
            let full = state.root().join(path);
            let before = fs::read(&full).unwrap();
            fs::write(&full, &value).unwrap();
            match state.load(&needed) {
                Err(StateError::Damaged {
                    path: named,
                    reason: why,
                }) => {
                    // A pair that does not match is named by its certificate.
                    let expected = if reason == "not for the key" {
                        state.root().join("lightning/lnd/tls.cert")
                    } else {
                        full.clone()
                    };
                    assert_eq!(named, expected, "{path}");
                    assert!(why.contains(reason), "{path}: {why}");
                }
                other => panic!("{path}: expected Damaged, got {other:?}"),
            }
            assert!(
                state.ensure(&needed).unwrap().is_empty(),
                "{path} is not regenerated"
            );
            assert_eq!(fs::read(&full).unwrap(), value);
            fs::write(&full, before).unwrap();
        }
        state.load(&needed).unwrap();
    }

    #[test]
    fn unknown_formats_files_and_leftover_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        let state = StateDir::open(&root, "home").unwrap();
        state.ensure(&[password("p")]).unwrap();
        // A write killed between its temp file and the rename.
        let leftover = root.join(".hs_ed25519_secret_key.0123456789ab.tmp");
        fs::write(&leftover, b"a whole key").unwrap();
        StateDir::open(&root, "home").unwrap();
        assert!(!leftover.exists(), "leftover temp files are removed");
        assert!(root.join("p").exists());

        fs::write(root.join(MARKER), "format 9\nsite home\n").unwrap();
        assert!(matches!(
            StateDir::open(&root, "home"),
            Err(StateError::UnknownFormat { found, .. }) if found == "9"
        ));
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = StateDir::open(&file, "home").unwrap_err();
        assert!(matches!(err, StateError::NotADirectory { .. }));
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn generations_are_recorded_and_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s"), "home").unwrap();
        let needed = vec![password("p")];
        state.ensure(&needed).unwrap();
        assert_eq!(state.load(&needed).unwrap().generation("lnd-tls"), 0);
        let bump = |generation| StateChange::Generation {
            secret: "lnd-tls".to_owned(),
            generation,
        };
        state
            .commit("2026-01-01T00-00-00Z", &[], &[bump(2)])
            .unwrap();
        assert_eq!(state.load(&needed).unwrap().generation("lnd-tls"), 2);
        assert_eq!(
            fs::read_to_string(state.root().join(GENERATIONS)).unwrap(),
            "2 lnd-tls\n"
        );
        assert_eq!(state.files().unwrap(), ["p"], "not a value file");
        assert!(
            state
                .all_files()
                .unwrap()
                .iter()
                .any(|(path, _)| path == GENERATIONS),
            "exported"
        );
    }

    #[test]
    fn debug_output_names_no_values() {
        let mut secrets = Secrets::default();
        secrets.insert("lightning/lnd/wallet-password", b"hunter2".to_vec());
        let shown = format!("{secrets:?}");
        assert!(shown.contains("wallet-password"));
        assert!(!shown.contains("hunter2"));
    }
}
