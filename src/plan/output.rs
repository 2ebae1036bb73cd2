//! Turns a plan into YAML: one multi-document stream, or one file per object in a directory,
//! with Secret values masked unless the caller asks to reveal them.

use std::path::Path;

use serde_json::Value;

use super::planned::{Plan, PlannedObject};
use crate::fsutil;

/// Placeholder for a masked Secret value. Not valid base64, so a masked manifest that is
/// applied by mistake fails instead of storing garbage.
pub const MASK: &str = "***";
/// Lists the files the last `render -o DIR` wrote, so stale ones can be removed.
const INDEX_FILE: &str = ".openlsp-render";

/// Whether Secret values appear in output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretDisplay {
    Masked,
    Revealed,
}

/// The manifest as printed: Secret `data` and `stringData` values masked unless revealed.
pub fn printable(object: &PlannedObject, display: SecretDisplay) -> Value {
    let mut manifest = object.manifest.clone();
    if display == SecretDisplay::Masked && object.kind == "Secret" {
        mask_secret(&mut manifest);
    }
    manifest
}

/// Replaces every value under `data` and `stringData` with [`MASK`].
pub fn mask_secret(manifest: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = manifest.get_mut(field) {
            for value in map.values_mut() {
                *value = Value::String(MASK.to_owned());
            }
        }
    }
}

/// One YAML document.
pub fn to_yaml(manifest: &Value) -> String {
    serde_yaml::to_string(manifest).expect("JSON values serialize to YAML")
}

/// All objects as one multi-document YAML stream.
pub fn to_yaml_stream(plan: &Plan, display: SecretDisplay) -> String {
    plan.objects
        .iter()
        .map(|object| format!("---\n{}", to_yaml(&printable(object, display))))
        .collect()
}

/// `05-persistentvolume-openlsp-bitcoind.yaml`: apply stage first, so `kubectl apply -f DIR`
/// creates objects in a working order.
pub fn file_name(object: &PlannedObject) -> String {
    format!(
        "{:02}-{}-{}.yaml",
        object.stage.number(),
        object.kind.to_ascii_lowercase(),
        object.name
    )
}

/// Writes one file per object into `dir`, each atomically, and removes files that an earlier
/// render wrote but this plan no longer has. Refuses a non-empty directory it did not write.
pub fn write_dir(plan: &Plan, dir: &Path, display: SecretDisplay) -> std::io::Result<usize> {
    let mode = if display == SecretDisplay::Revealed {
        fsutil::PRIVATE_FILE
    } else {
        0o644
    };
    let dir_mode = if display == SecretDisplay::Revealed {
        fsutil::PRIVATE_DIR
    } else {
        0o755
    };
    fsutil::create_dir_all(dir, dir_mode)?;
    let index = dir.join(INDEX_FILE);
    let previous: Vec<String> = match std::fs::read_to_string(&index) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let foreign = std::fs::read_dir(dir)?.next().is_some();
            if foreign {
                return Err(std::io::Error::other(format!(
                    "{} is not empty and was not written by openlsp render; choose an empty or new directory",
                    dir.display()
                )));
            }
            Vec::new()
        }
        Err(err) => return Err(err),
    };
    let names: Vec<String> = plan.objects.iter().map(file_name).collect();
    for (object, name) in plan.objects.iter().zip(&names) {
        let text = to_yaml(&printable(object, display));
        fsutil::write_atomic(&dir.join(name), text.as_bytes(), mode)?;
    }
    for stale in previous.iter().filter(|old| !names.contains(old)) {
        if !stale.contains('/') {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    fsutil::write_atomic(&index, (names.join("\n") + "\n").as_bytes(), 0o644)?;
    Ok(names.len())
}
