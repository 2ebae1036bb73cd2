//! Values brought into the state dir from elsewhere: the cluster (`secrets pull`) or an export
//! (`secrets import`). Each is checked as a stored value of its kind; one that differs from the
//! state dir's replaces it only when forced, and the current one goes to history first. The
//! generations and the dates the source records come along.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use time::OffsetDateTime;

use super::requirements::Requirement;
use super::snapshot::StateChange;
use super::store::{StateDir, StateError};
use super::value_check::check_stored;

/// What `pull` or `import` brings into the state dir. Debug output names paths, never values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Restored {
    pub values: Vec<(String, Vec<u8>)>,
    /// Audit logs of an export: merged, never compared.
    pub logs: Vec<Vec<u8>>,
    /// When each value was really changed.
    pub dates: BTreeMap<String, OffsetDateTime>,
    /// The generation of each Secret, as its source records it.
    pub generations: BTreeMap<String, u64>,
}

impl fmt::Debug for Restored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restored")
            .field(
                "values",
                &self.values.iter().map(|(path, _)| path).collect::<Vec<_>>(),
            )
            .field("logs", &self.logs.len())
            .field("dates", &self.dates)
            .field("generations", &self.generations)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{what}: the value for {path} is damaged: {reason}; nothing was written")]
    Damaged {
        what: String,
        path: String,
        reason: String,
    },
    #[error(
        "{what} would replace {} value(s) that differ: {}\n  hint: pass --force to replace them; the current values are kept in {}/history/",
        replaced.len(),
        replaced.join(", "),
        state_dir.display()
    )]
    WouldReplace {
        what: String,
        replaced: Vec<String>,
        state_dir: PathBuf,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// What a restore writes, computed before anything is.
#[derive(Debug, PartialEq, Eq)]
pub struct Restore {
    /// The values to write and the generations to record, for one commit.
    pub changes: Vec<StateChange>,
    /// Values that differ from the state dir's: their current values go to history first.
    pub replaced: Vec<String>,
    /// How many values are written (new or replaced).
    pub written: usize,
    /// How many values the state dir already has as they are.
    pub same: usize,
    /// The recorded date of each written value that has one: a restored value keeps the date it
    /// was generated or rotated, not today's.
    pub dated: Vec<(String, OffsetDateTime)>,
}

/// Plans bringing `restored` into `state` (`what`: `pull` or `import`, for the messages). A
/// damaged value stops it, and so does one that differs from the state dir's unless `force`.
pub fn plan(
    state: &StateDir,
    needed: &[Requirement],
    restored: &Restored,
    force: bool,
    what: &str,
) -> Result<Restore, RestoreError> {
    let mut writes = Vec::new();
    let mut replaced = Vec::new();
    let mut same = 0;
    for (path, value) in &restored.values {
        if let Err(reason) = check_stored(needed, path, value) {
            return Err(RestoreError::Damaged {
                what: what.to_owned(),
                path: path.clone(),
                reason,
            });
        }
        match state.read(path)? {
            Some(existing) if existing == *value => same += 1,
            Some(_) => {
                replaced.push(path.clone());
                writes.push(path);
            }
            None => writes.push(path),
        }
    }
    if !replaced.is_empty() && !force {
        return Err(RestoreError::WouldReplace {
            what: what.to_owned(),
            replaced,
            state_dir: state.root().to_path_buf(),
        });
    }
    let known = state.generations()?;
    let generations = restored
        .generations
        .iter()
        .filter(|(secret, generation)| known.get(*secret).copied().unwrap_or(0) != **generation)
        .map(|(secret, generation)| StateChange::Generation {
            secret: secret.clone(),
            generation: *generation,
        });
    let values: BTreeMap<&String, &Vec<u8>> = restored
        .values
        .iter()
        .map(|(path, value)| (path, value))
        .collect();
    let changes = writes
        .iter()
        .map(|path| StateChange::Write {
            path: (*path).clone(),
            value: values[path].clone(),
        })
        .chain(generations)
        .collect();
    let dated = writes
        .iter()
        .filter_map(|path| Some(((*path).clone(), *restored.dates.get(*path)?)))
        .collect();
    Ok(Restore {
        changes,
        replaced,
        written: writes.len(),
        same,
        dated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::fixtures::password;
    use crate::secrets::rpcauth;

    #[test]
    fn new_values_are_written_same_ones_counted_and_differing_ones_need_force() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s"), "home").unwrap();
        let needed = vec![password("a"), password("b"), password("c")];
        state.ensure(&needed[..2]).unwrap();
        let a = state.read("a").unwrap().unwrap();
        let fresh = || rpcauth::generate_password().unwrap().into_bytes();
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let restored = Restored {
            values: vec![
                ("a".into(), a.clone()),
                ("b".into(), fresh()),
                ("c".into(), fresh()),
            ],
            dates: BTreeMap::from([("c".to_owned(), at), ("a".to_owned(), at)]),
            generations: BTreeMap::from([("s1".to_owned(), 2), ("s2".to_owned(), 0)]),
            ..Restored::default()
        };
        let err = plan(&state, &needed, &restored, false, "pull").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "pull would replace 1 value(s) that differ: b\n  hint: pass --force to replace them; the current values are kept in {}/history/",
                state.root().display()
            )
        );
        let restore = plan(&state, &needed, &restored, true, "pull").unwrap();
        assert_eq!(restore.replaced, ["b"]);
        assert_eq!((restore.written, restore.same), (2, 1));
        assert_eq!(
            format!("{:?}", restore.changes),
            "[Write(b), Write(c), Generation(s1 = 2)]",
            "a generation the state dir already has (0) is no change"
        );
        assert_eq!(restore.dated, [("c".to_owned(), at)], "only written values");
    }

    #[test]
    fn a_damaged_value_stops_the_restore() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s"), "home").unwrap();
        let restored = Restored {
            values: vec![("lnd/wallet-password".into(), b"hunter2\n".to_vec())],
            ..Restored::default()
        };
        let err = plan(
            &state,
            &[password("lnd/wallet-password")],
            &restored,
            true,
            "import",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("import: the value for lnd/wallet-password is damaged: it is not a password openlsp generated"),
            "{text}"
        );
        assert!(text.ends_with("; nothing was written"), "{text}");
        assert!(!format!("{restored:?}").contains("hunter2"));
    }
}
