//! A `Site` custom resource read as a profile: the same document, so the same types, defaults
//! and checks, with the same messages and field paths. Positions are left out: they would
//! point into text the operator never wrote (the API server keeps no source).

use std::path::Path;

use serde_json::{Value, json};

use super::diagnostic::{Diagnostic, ProfileError, Severity};
use super::load::{LoadedProfile, parse};

/// Reads the Site `object` (as the API server returns it) living in `namespace`. `label` names
/// it in messages (`Site home/home`). A Site manages the namespace it is in: a `spec.namespace`
/// that names another one is an error.
pub fn from_resource(
    label: &str,
    namespace: &str,
    object: &Value,
) -> Result<LoadedProfile, ProfileError> {
    let document = json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "metadata": { "name": object["metadata"]["name"] },
        "spec": object.get("spec").cloned().unwrap_or(Value::Null),
    });
    let text = serde_yaml::to_string(&document).map_err(|err| ProfileError::Invalid {
        diagnostics: vec![error(label, "", err.to_string(), None)],
    })?;
    let file = Path::new(label);
    let without_places = |mut diagnostics: Vec<Diagnostic>| {
        for diagnostic in &mut diagnostics {
            diagnostic.location = None;
        }
        diagnostics
    };
    let mut loaded = parse(file, &text).map_err(|err| match err {
        ProfileError::Invalid { diagnostics } => ProfileError::Invalid {
            diagnostics: without_places(diagnostics),
        },
        other => other,
    })?;
    loaded.warnings = without_places(loaded.warnings);
    if loaded.site.namespace() != namespace {
        return Err(ProfileError::Invalid {
            diagnostics: vec![error(
                label,
                "spec.namespace",
                format!(
                    "the Site is in namespace {namespace:?} but names {:?}; a Site manages the namespace it is in",
                    loaded.site.namespace()
                ),
                Some(format!(
                    "set spec.namespace to {namespace:?} (or leave it out when the Site's name is {namespace:?}), or create the Site in namespace {:?}",
                    loaded.site.namespace()
                )),
            )],
        });
    }
    Ok(loaded)
}

fn error(label: &str, path: &str, message: String, hint: Option<String>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: label.into(),
        location: None,
        path: path.to_owned(),
        message,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(spec: Value) -> Value {
        json!({
            "apiVersion": "openlsp.io/v1alpha1", "kind": "Site",
            "metadata": { "name": "home", "namespace": "home", "uid": "x", "generation": 3,
                          "managedFields": [] },
            "spec": spec,
            "status": { "observedGeneration": 2 }
        })
    }

    fn spec() -> Value {
        json!({
            "network": "regtest",
            "host": { "nodeName": "pi", "arch": "arm64", "memory": "8Gi", "cpus": 4 },
            "disks": { "chain": { "path": "/srv/chain", "size": "100Gi" } },
            "bitcoin": [ { "name": "bitcoind", "disk": "chain" } ]
        })
    }

    #[test]
    fn a_site_reads_like_its_profile_file_whatever_the_server_adds() {
        let loaded = from_resource("Site home/home", "home", &site(spec())).unwrap();
        assert_eq!(loaded.site.name(), "home");
        assert_eq!(loaded.site.namespace(), "home");
    }

    #[test]
    fn problems_name_the_field_path_without_a_position() {
        let mut bad = spec();
        bad["lightning"] =
            json!([ { "name": "lnd", "bitcoin": "btc", "disk": "chain", "colour": "#000000" } ]);
        let err = from_resource("Site home/home", "home", &site(bad)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Site home/home: spec.lightning[0].colour: unknown field `colour`, expected one of `name`, `implementation`, `bitcoin`, `disk`, `alias`, `color`, `image`, `resources`, `tlsExtraDomains`, `tlsExtraIps`, `onion`, `ingress`\n  hint: did you mean `color`?"
        );
        let mut broken = spec();
        broken["lightning"] = json!([ { "name": "lnd", "bitcoin": "btc", "disk": "chain" } ]);
        let err = from_resource("Site home/home", "home", &site(broken)).unwrap_err();
        assert!(
            err.to_string().contains(
                "Site home/home: spec.lightning[0].bitcoin: no bitcoin node named \"btc\""
            ),
            "{err}"
        );
    }

    #[test]
    fn a_site_manages_only_its_own_namespace() {
        let mut other = spec();
        other["namespace"] = json!("elsewhere");
        let err = from_resource("Site home/home", "home", &site(other)).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Site home/home: spec.namespace: the Site is in namespace \"home\" but names \"elsewhere\""
            ),
            "{err}"
        );
    }
}
