//! Turns a plan into YAML: one multi-document stream, or one document per object with its
//! file name, with Secret values masked unless the caller asks to reveal them. Writing the
//! files is the edge's ([`crate::render_dir`]).

use serde_json::Value;

use super::planned::{Plan, PlannedObject};

/// Placeholder for a masked Secret value. Not valid base64, so a masked manifest that is
/// applied by mistake fails instead of storing garbage.
pub const MASK: &str = "***";

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
