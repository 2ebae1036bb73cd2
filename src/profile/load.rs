//! Reading a profile: YAML text, then the operator's input, then the effective site with every
//! default, then the checks. Every problem, from a YAML syntax error to a broken reference, is
//! reported at `file:line:col` with its field path and a next step.

use std::path::{Path, PathBuf};

use super::defaults;
use super::diagnostic::{Diagnostic, ProfileError, Severity};
use super::input::SiteInput;
use super::read::read_profile;
use super::site::Site;
use super::source_map::{Location, SourceMap};
use super::validate;

/// A valid profile and the warnings found while checking it.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    pub path: PathBuf,
    pub site: Site,
    pub warnings: Vec<Diagnostic>,
}

/// Reads, parses, validates and completes the profile at `path`.
pub fn load(path: &Path) -> Result<LoadedProfile, ProfileError> {
    let text = read_profile(path)?;
    parse(path, &text)
}

/// Like [`load`], for text already in memory; `file` is only used in messages.
pub fn parse(file: &Path, text: &str) -> Result<LoadedProfile, ProfileError> {
    let mut documents = SourceMap::index_documents(text).into_iter();
    let map = documents.next().unwrap_or_default();
    if let Some(second) = documents.next() {
        return Err(ProfileError::Invalid {
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                file: file.to_path_buf(),
                location: second.start(),
                path: String::new(),
                message: "a second YAML document starts here, but a profile is one document"
                    .to_owned(),
                hint: Some(
                    "keep one site per file: remove this `---` and what follows, or move it to a file of its own"
                        .to_owned(),
                ),
            }],
        });
    }
    let duplicates: Vec<Diagnostic> = map
        .duplicate_keys()
        .iter()
        .map(|(path, location)| Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            location: Some(*location),
            path: path.clone(),
            message: "this key is written twice in the same mapping".to_owned(),
            hint: Some("remove one of them; YAML would otherwise keep only the last".to_owned()),
        })
        .collect();
    if !duplicates.is_empty() {
        return Err(ProfileError::Invalid {
            diagnostics: duplicates,
        });
    }
    let input = deserialize(file, &map, text)?;
    let site = defaults::resolve(&input);
    let (errors, warnings): (Vec<_>, Vec<_>) = validate::check(file, &map, &site)
        .into_iter()
        .partition(Diagnostic::is_error);
    if !errors.is_empty() {
        return Err(ProfileError::Invalid {
            diagnostics: errors,
        });
    }
    Ok(LoadedProfile {
        path: file.to_path_buf(),
        site,
        warnings,
    })
}

fn deserialize(file: &Path, map: &SourceMap, text: &str) -> Result<SiteInput, ProfileError> {
    let invalid = |diagnostic: Diagnostic| ProfileError::Invalid {
        diagnostics: vec![diagnostic],
    };
    if text.trim().is_empty() {
        return Err(invalid(Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            location: None,
            path: String::new(),
            message: "the profile is empty".to_owned(),
            hint: Some("run `openlsp init`, or start from profiles/pi4-mainnet.yaml".to_owned()),
        }));
    }
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = normalize_path(&err.path().to_string());
        let inner = err.into_inner();
        invalid(serde_diagnostic(file, map, path, &inner))
    })
}

/// serde_path_to_error writes `spec.lightning.0.alias` as `spec.lightning[0].alias`-less dots; make it ours.
fn normalize_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for segment in path.split('.') {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else if !segment.is_empty() {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

fn serde_diagnostic(
    file: &Path,
    map: &SourceMap,
    mut path: String,
    err: &serde_yaml::Error,
) -> Diagnostic {
    let mut message = err.to_string();
    // serde_yaml appends its own position and prefixes its own path; ours come first.
    if let Some(cut) = message.find(" at line ") {
        message.truncate(cut);
    }
    if let Some((prefix, rest)) = message.split_once(": ") {
        let is_path = !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.[]-".contains(c));
        if is_path {
            message = rest.to_owned();
        }
    }
    // A path with an unknown segment means the parser failed before a field was known.
    if path.contains('?') {
        path.clear();
    }
    let mut hint = None;
    let mut location = None;
    if let Some((field, expected)) = unknown_name(&message, "unknown field `") {
        if !path.ends_with(&field) {
            path = join(&path, &field);
        }
        location = map.key_location(&path);
        hint = Some(suggest(&field, &expected, "field"));
    } else if let Some((variant, expected)) = unknown_name(&message, "unknown variant `") {
        hint = Some(suggest(&variant, &expected, "value"));
    } else if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        hint = Some(format!("add `{field}:` here (see docs/profile.md)"));
    } else if message.starts_with("expected text") {
        hint = Some(
            "write the text itself; put it in quotes if it looks like a number, true/false or null"
                .to_owned(),
        );
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        hint = Some("check the value's type against docs/profile.md".to_owned());
    }
    if location.is_none() && !path.is_empty() {
        location = map.value_location(&path);
    }
    if location.is_none() || path.is_empty() {
        location = err.location().map(|l| Location {
            line: l.line(),
            col: l.column(),
        });
    }
    let hint = Some(hint.unwrap_or_else(|| {
        if path.is_empty() {
            "fix the YAML syntax at this place".to_owned()
        } else {
            "see docs/profile.md for the format of this field".to_owned()
        }
    }));
    Diagnostic {
        severity: Severity::Error,
        file: file.to_path_buf(),
        location,
        path,
        message,
        hint,
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Splits "unknown field `colour`, expected one of `a`, `b`" into the name and the choices.
fn unknown_name(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (name, tail) = rest.split_once('`')?;
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((name.to_owned(), expected))
}

fn suggest(given: &str, expected: &[String], what: &str) -> String {
    // A name this long is no typo of a known one (and would take long to compare).
    let comparable = given.len() <= 64;
    let closest = expected
        .iter()
        .filter(|_| comparable)
        .map(|candidate| (edit_distance(given, candidate), candidate))
        .filter(|(distance, _)| *distance <= 3)
        .min();
    match closest {
        Some((_, candidate)) => format!("did you mean `{candidate}`?"),
        None if expected.is_empty() => format!("remove this {what}"),
        None => format!("use one of: {}", expected.join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name() {
        let expected = vec!["color".to_owned(), "alias".to_owned()];
        assert_eq!(
            suggest("colour", &expected, "field"),
            "did you mean `color`?"
        );
        assert_eq!(
            suggest("zzzzzzzz", &expected, "field"),
            "use one of: color, alias"
        );
    }

    #[test]
    fn paths_use_brackets_for_indices() {
        assert_eq!(
            normalize_path("spec.lightning.0.alias"),
            "spec.lightning[0].alias"
        );
        assert_eq!(normalize_path("."), "");
    }
}
