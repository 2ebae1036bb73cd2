//! The profile's schema, generated from the input types so a field added there needs nothing
//! here: a JSON Schema for editors (`openlsp schema`, the `# yaml-language-server: $schema=`
//! line) and the structural OpenAPI schema of the `Site` custom resource's `spec`, which the
//! API server checks types against and `kubectl explain site.spec` shows.

use kube_core::schema::{OptionalEnum, OptionalIntOrString, StructuralSchemaRewriter};
use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::input::{SiteInput, SpecInput};

/// Where editors find the schema of a released openlsp: the file `openlsp schema` writes,
/// kept in the repository as schema/site.schema.json.
pub const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/openlsp/openlsp/main/schema/site.schema.json";

/// The first line of a profile that lets YAML language servers complete and check it.
pub fn modeline(url: &str) -> String {
    format!("# yaml-language-server: $schema={url}")
}

/// The JSON Schema (draft 2020-12) of a whole profile file.
pub fn editor_schema() -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<SiteInput>();
    let mut value = schema.to_value();
    drop_null_defaults(&mut value);
    value
}

/// The structural schema of a Site's `spec`: inline, `nullable` for optional fields, sizes and
/// CPU as int-or-string. Unknown fields are not kept: kubectl refuses them against the published
/// schema (keeping them would unpublish the fields, and `kubectl explain` would show none).
pub fn crd_spec_schema() -> Value {
    let schema = SchemaSettings::openapi3()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .with_transform(OptionalEnum)
        .with_transform(OptionalIntOrString)
        .with_transform(StructuralSchemaRewriter)
        .into_generator()
        .into_root_schema_for::<SpecInput>();
    let mut value = schema.to_value();
    if let Some(map) = value.as_object_mut() {
        map.remove("title");
    }
    structural_fixes(&mut value);
    drop_null_defaults(&mut value);
    value
}

/// Removes `"default": null`, which `#[serde(default)]` on an optional field produces: absent
/// and null mean the same to openlsp, and the field's description names the real default.
fn drop_null_defaults(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

/// Drops `null` from enums (`nullable` says it) and checks an int-or-string's text with its
/// pattern.
fn structural_fixes(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|value| !value.is_null());
            }
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                && let Some(Value::Array(branches)) = map.remove("anyOf")
            {
                // Kubernetes allows no types under an int-or-string; a pattern applies to
                // strings only, so at the top it checks a size's text and lets numbers pass.
                if let Some(pattern) = branches.iter().find_map(|b| b.get("pattern")) {
                    map.insert("pattern".to_owned(), pattern.clone());
                }
            }
            for (key, child) in map.iter_mut() {
                if key != "enum" {
                    structural_fixes(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(structural_fixes),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kubernetes refuses a CRD schema with references, and an int-or-string with a type.
    #[test]
    fn the_crd_schema_is_inline_and_structural() {
        let schema = crd_spec_schema();
        let text = serde_json::to_string(&schema).unwrap();
        assert!(!text.contains("$ref") && !text.contains("$defs") && !text.contains("$schema"));
        assert_eq!(schema["type"], "object");
        let memory = &schema["properties"]["host"]["properties"]["memory"];
        assert_eq!(memory["x-kubernetes-int-or-string"], true);
        assert!(
            memory.get("type").is_none() && memory.get("anyOf").is_none(),
            "{memory}"
        );
        assert!(memory["pattern"].is_string(), "{memory}");
        let reserved = &schema["properties"]["host"]["properties"]["reservedMemory"];
        assert_eq!(reserved["nullable"], true, "{reserved}");
        assert_eq!(
            schema["properties"]["network"]["enum"],
            serde_json::json!([
                "mainnet", "testnet", "testnet4", "signet", "regtest", "simnet"
            ])
        );
        let lightning = &schema["properties"]["lightning"]["items"];
        assert!(!text.contains("x-kubernetes-preserve-unknown-fields"));
        assert!(!text.contains("\"default\":null"), "{text}");
        assert!(
            lightning["properties"]["onion"]["items"]["enum"].is_array(),
            "{lightning}"
        );
    }

    #[test]
    fn the_editor_schema_names_every_section_with_its_description() {
        let schema = editor_schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let spec = serde_json::to_string(&schema).unwrap();
        for field in [
            "lightning",
            "tlsExtraDomains",
            "reservedMemory",
            "externalIPs",
        ] {
            assert!(spec.contains(&format!("\"{field}\"")), "{field}");
        }
        assert!(spec.contains("The chain every node runs on."));
    }
}
