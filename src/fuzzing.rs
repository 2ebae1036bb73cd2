//! What the fuzz targets (fuzz/, `cargo fuzz`) call: the code `validate` and `render` run, from
//! bytes to diagnostics or objects, without a terminal, and with the invariants the targets
//! assert. Not an API for anything else.

use std::path::Path;

use crate::plan::output::{self, SecretDisplay};
use crate::plan::{self, TemplateSet};
use crate::profile::{self, ProfileError};
use crate::secrets::{self, StateDir};

/// The most one diagnostic may print: a located line, a field path, a cut value and a hint.
pub const MAX_DIAGNOSTIC_BYTES: usize = 4096;

/// `validate` on `bytes` as a profile's contents: whether it is valid. Panics when an
/// invariant breaks: a valid profile has no errors, and no diagnostic runs past
/// [`MAX_DIAGNOSTIC_BYTES`] (a long value is echoed cut short) or lacks its hint.
pub fn check_profile(bytes: &[u8]) -> bool {
    validated(bytes).is_some()
}

fn validated(bytes: &[u8]) -> Option<profile::LoadedProfile> {
    let file = Path::new("fuzz.yaml");
    let loaded = profile::decode(file, bytes.to_vec()).and_then(|text| profile::parse(file, &text));
    match loaded {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                check_diagnostic(&warning.to_string());
            }
            Some(loaded)
        }
        Err(ProfileError::Invalid { diagnostics }) => {
            assert!(
                !diagnostics.is_empty(),
                "an invalid profile without a reason"
            );
            for diagnostic in &diagnostics {
                assert!(diagnostic.is_error());
                check_diagnostic(&diagnostic.to_string());
            }
            None
        }
        Err(other) => panic!("reading bytes in memory failed: {other}"),
    }
}

fn check_diagnostic(text: &str) {
    assert!(
        text.len() <= MAX_DIAGNOSTIC_BYTES,
        "a diagnostic of {} bytes: {}",
        text.len(),
        &text[..text.floor_char_boundary(300)]
    );
    assert!(text.contains("\n  hint: "), "no hint: {text}");
}

/// `render` of `text`: validated, its secrets generated (once) under `state_root`, rendered
/// with the built-in templates. Returns the YAML stream, or None for a profile `validate`
/// refuses. Panics when a profile that validates does not render: validation must refuse
/// whatever the plan cannot turn into objects.
pub fn render_profile(text: &str, state_root: &Path) -> Option<String> {
    let loaded = validated(text.as_bytes())?;
    let site = &loaded.site;
    let state = StateDir::open(&state_root.join(site.name()), site.name())
        .unwrap_or_else(|err| panic!("opening the fuzz state dir: {err}"));
    let needed = secrets::requirements(site);
    state
        .ensure(&needed)
        .unwrap_or_else(|err| panic!("generating secrets: {err}"));
    let secrets = state
        .load(&needed)
        .unwrap_or_else(|err| panic!("loading secrets: {err}"));
    let rendered = plan::render_site(site, &secrets, &TemplateSet::builtin())
        .unwrap_or_else(|err| panic!("a valid profile did not render: {err}\n{text}"));
    Some(output::to_yaml_stream(&rendered, SecretDisplay::Masked))
}
