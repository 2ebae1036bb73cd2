//! The state dir: every generated credential and certificate of a site, one file per value,
//! directories 0700 and files 0600. Values are generated once and never overwritten here;
//! only `openlsp secrets rotate` replaces them.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::fsutil::{self, PRIVATE_DIR, PRIVATE_FILE};

use super::generate::{GenerateError, generate};
use super::onion::OnionKey;
use super::provided;
use super::records::{self, AUDIT_LOG, CHANGED, GENERATIONS};
use super::requirements::{Requirement, paths};
use super::snapshot::{Secrets, StateChange};
use super::value_check::{check_pair, check_value};

const MARKER: &str = "openlsp-state";
const LOCK: &str = ".lock";
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
    Generate(GenerateError),
    #[error(
        "{field}.config: the state dir {} has no secret {secret:?}, the rclone config of this backup target; nothing was changed\n  hint: give it once: openlsp secrets set {secret} --from-file rclone.conf (it stays in the state dir, 0600, and reaches the cluster only as a Secret)",
        dir.display()
    )]
    NotProvided {
        secret: String,
        field: String,
        dir: PathBuf,
    },
    #[error(
        "{field}.remote: the rclone config in secret {secret:?} defines no remote {remote:?} (it defines: {known}); nothing was changed\n  hint: fix the remote's name in the profile, or add the remote to the config and give it again: openlsp secrets set {secret} --from-file rclone.conf"
    )]
    UnknownRemote {
        field: String,
        secret: String,
        remote: String,
        known: String,
    },
    #[error(
        "{field}.remote: BTCPay's database dump goes to this target, and remote {remote:?} in secret {secret:?} is of type {kind:?}, not an rclone crypt remote: the dump (stores, invoices, users, API keys, a hot wallet's seed) would lie there unencrypted; nothing was changed\n  hint: {hint}",
        hint = provided::ENCRYPT_HINT
    )]
    NotEncrypted {
        field: String,
        secret: String,
        remote: String,
        kind: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
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

    /// Generates whatever `needed` lists that does not exist yet (see [`generate`]); returns
    /// what it generated. One file of a pair without the other is damage, not a gap to fill.
    pub fn ensure(&self, needed: &[Requirement]) -> Result<Vec<String>, StateError> {
        let _lock = self.lock()?;
        let mut generated = Vec::new();
        // The operator gives these (`openlsp secrets set`): checked first, so a missing one
        // stops the run before anything is generated.
        for requirement in needed {
            if let Requirement::Provided { path, secret, uses } = requirement {
                self.check_provided(self.read(path)?.as_deref(), path, secret, uses)?;
            }
        }
        let generated_here = needed
            .iter()
            .filter(|r| !matches!(r, Requirement::Provided { .. }));
        for requirement in generated_here {
            let (present, missing): (Vec<&str>, Vec<&str>) = requirement
                .files()
                .into_iter()
                .partition(|file| self.exists(file));
            let Some(missing) = missing.first() else {
                continue;
            };
            if let Some(present) = present.first() {
                return Err(StateError::Damaged {
                    path: self.root.join(present),
                    reason: format!("its pair {missing} is missing"),
                });
            }
            let mut known = Secrets::default();
            for path in requirement.inputs() {
                known.insert(path.clone(), self.read_onion_key(path)?.secret_file());
            }
            for (path, value) in generate(requirement, &known).map_err(StateError::Generate)? {
                self.create(&path, &value)?;
                generated.push(path);
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
        Ok(records::parse_dates(&text))
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
        let text = records::format_dates(&dates);
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
        let mut secrets = Secrets::with_generations(self.generations()?);
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
            check_pair(requirement, &secrets).map_err(|(path, reason)| StateError::Damaged {
                path: self.root.join(path),
                reason,
            })?;
        }
        Ok(secrets)
    }

    /// Like [`Self::load_present`], and every value `needed` lists must be there; a provided
    /// one must define the remotes the profile uses from it.
    pub fn load(&self, needed: &[Requirement]) -> Result<Secrets, StateError> {
        let secrets = self.load_present(needed)?;
        for requirement in needed {
            if let Requirement::Provided { path, secret, uses } = requirement {
                self.check_provided(secrets.get(path), path, secret, uses)?;
                continue;
            }
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

    /// A provided secret is there and defines every remote the profile uses from it.
    fn check_provided(
        &self,
        value: Option<&[u8]>,
        path: &str,
        secret: &str,
        uses: &[provided::Use],
    ) -> Result<(), StateError> {
        let Some(value) = value else {
            return Err(StateError::NotProvided {
                secret: secret.to_owned(),
                field: uses.first().map_or_else(String::new, |u| u.field.clone()),
                dir: self.root.clone(),
            });
        };
        let remotes = provided::remotes(value).map_err(|reason| StateError::Damaged {
            path: self.root.join(path),
            reason: reason.to_string(),
        })?;
        for used in uses {
            match provided::unusable(&remotes, value, used) {
                Some(provided::Unusable::Missing) => {
                    return Err(StateError::UnknownRemote {
                        field: used.field.clone(),
                        secret: secret.to_owned(),
                        remote: used.remote.clone(),
                        known: remotes.join(", "),
                    });
                }
                Some(provided::Unusable::NotEncrypted(kind)) => {
                    return Err(StateError::NotEncrypted {
                        field: used.field.clone(),
                        secret: secret.to_owned(),
                        remote: used.remote.clone(),
                        kind,
                    });
                }
                None => {}
            }
        }
        Ok(())
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
            Ok(text) => Ok(records::parse_generations(&text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(err) => Err(io_error(&path)(err)),
        }
    }

    /// Replaces the generations record; the caller holds the lock.
    fn write_generations(&self, generations: &BTreeMap<String, u64>) -> Result<(), StateError> {
        if *generations == self.generations()? {
            return Ok(());
        }
        let text = records::format_generations(generations);
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
    #[cfg(test)]
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
        let line = records::audit_line(now, &user, event);
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
        let Some((text, added)) = records::merge_audit(&local, &String::from_utf8_lossy(other))
        else {
            return Ok(0);
        };
        fsutil::write_atomic(&path, text.as_bytes(), PRIVATE_FILE).map_err(io_error(&path))?;
        Ok(added)
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
    use crate::secrets::fixtures::{alt_names, password};
    use crate::secrets::{rpcauth, tls};

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
        let names = alt_names(secrets.get("lnd/tls.cert").unwrap());
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
            password("bitcoin/b/rpc/lnd/password"),
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
                "printable ASCII",
            ),
            (
                "bitcoin/b/rpc/lnd/password",
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
}
