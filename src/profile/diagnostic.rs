//! Problems found in a profile, each with its place (`file:line:col`), field path and next step.

use std::fmt;
use std::path::PathBuf;

use super::source_map::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub location: Option<Location>,
    /// Field path such as `spec.lightning[0].bitcoin`; empty for the whole document.
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `openlsp.yaml:14:7: spec.lightning[0].bitcoin: no bitcoin node named "btc"`, then the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(location) = self.location {
            write!(f, ":{}:{}", location.line, location.col)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the profile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_errors(.diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

impl ProfileError {
    /// The hint for a missing or unreadable profile file.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ProfileError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Some("write one with `openlsp init`, or pass -p/--profile FILE")
            }
            _ => None,
        }
    }
}

fn render_errors(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    let count = errors.len();
    let mut text = errors.join("\n");
    if count > 1 {
        text.push_str(&format!("\n{count} problems in the profile"));
    }
    text
}
