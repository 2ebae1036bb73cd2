//! The in-memory snapshot of a site's credentials (what rendering reads) and the changes to it
//! that are computed before anything is written.

use std::collections::BTreeMap;
use std::fmt;

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
    /// No values yet, with the recorded generations.
    pub(super) fn with_generations(generations: BTreeMap<String, u64>) -> Self {
        Secrets {
            generations,
            ..Secrets::default()
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_no_values() {
        let mut secrets = Secrets::default();
        secrets.insert("lightning/lnd/wallet-password", b"hunter2".to_vec());
        let shown = format!("{secrets:?}");
        assert!(shown.contains("wallet-password"));
        assert!(!shown.contains("hunter2"));
    }
}
