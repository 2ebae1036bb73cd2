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
            write!(f, "{}: ", cut(&self.path, MAX_PATH_CHARS))?;
        }
        f.write_str(&shorten(&self.message, &['"', '`']))?;
        if let Some(hint) = &self.hint {
            // A hint's backticks hold commands to run: only its values (`"…"`) are cut.
            write!(f, "\n  hint: {}", shorten(hint, &['"']))?;
        }
        Ok(())
    }
}

/// A value the profile gave is echoed up to this many characters: a 1 MB name must not become
/// a megabyte of error output.
const MAX_QUOTED_CHARS: usize = 100;
/// The most of a field path that is shown (an unknown key can be any length).
const MAX_PATH_CHARS: usize = 200;
/// The most of one message that is shown, whatever it holds.
const MAX_MESSAGE_CHARS: usize = 1000;

/// `text` with every span between two `quotes` (`"…"`, and serde's `` `…` ``) longer than
/// [`MAX_QUOTED_CHARS`] cut short and its length said, then the whole cut at
/// [`MAX_MESSAGE_CHARS`].
fn shorten(text: &str, quotes: &[char]) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if !quotes.contains(&c) {
            continue;
        }
        let mut quoted = String::new();
        let mut closed = false;
        while let Some(inner) = chars.next() {
            if inner == c {
                closed = true;
                break;
            }
            quoted.push(inner);
            if c == '"' && inner == '\\' {
                quoted.extend(chars.next());
            }
        }
        let length = quoted.chars().count();
        if length > MAX_QUOTED_CHARS {
            out.extend(quoted.chars().take(MAX_QUOTED_CHARS));
            out.push('…');
        } else {
            out.push_str(&quoted);
        }
        if closed {
            out.push(c);
        }
        if length > MAX_QUOTED_CHARS {
            out.push_str(&format!(" ({length} characters)"));
        }
    }
    cut(&out, MAX_MESSAGE_CHARS)
}

/// The first `max` characters of `text`, with `…` when there was more.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_echoed_values_are_cut_short() {
        let long = "a".repeat(100_000);
        let message = format!("site name {long:?} is not a valid DNS-1123 label");
        let shown = shorten(&message, &['"', '`']);
        assert_eq!(
            shown,
            format!(
                "site name \"{}…\" (100000 characters) is not a valid DNS-1123 label",
                "a".repeat(MAX_QUOTED_CHARS)
            )
        );
        let field = shorten(&format!("unknown field `{long}`, expected `name`"), &['`']);
        assert!(
            field.ends_with("(100000 characters), expected `name`"),
            "{field}"
        );
        let escaped = "no disk named \"a\\\"b\"";
        assert_eq!(shorten(escaped, &['"']), escaped);
        assert!(shorten(&"x".repeat(5000), &['"']).chars().count() <= MAX_MESSAGE_CHARS + 1);
        let diagnostic = Diagnostic {
            severity: Severity::Error,
            file: "p.yaml".into(),
            location: None,
            path: format!("spec.{long}"),
            message: "unknown".to_owned(),
            hint: Some(format!("use {long:?}")),
        };
        assert!(
            diagnostic.to_string().len() < 600,
            "{}",
            diagnostic.to_string().len()
        );
    }
}
