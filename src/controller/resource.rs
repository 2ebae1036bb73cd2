//! The `Site` custom resource (`openlsp.io/v1alpha1`): its CustomResourceDefinition, whose
//! `spec` schema is the profile's, and how the API names it.

use kube::core::ApiResource;
use serde_json::{Value, json};

use crate::profile::schema::crd_spec_schema;

pub const GROUP: &str = "openlsp.io";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "Site";
pub const PLURAL: &str = "sites";
pub const CRD_NAME: &str = "sites.openlsp.io";

/// How the API serves Sites.
pub fn api_resource() -> ApiResource {
    ApiResource {
        group: GROUP.to_owned(),
        version: VERSION.to_owned(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: KIND.to_owned(),
        plural: PLURAL.to_owned(),
    }
}

/// The CustomResourceDefinition of Sites: namespaced (a Site manages the namespace it is in),
/// with a status subresource (the controller's reports never bump the generation) and columns
/// that show at a glance whether a site is ready.
pub fn crd() -> Value {
    let condition =
        |kind: &str, field: &str| format!(".status.conditions[?(@.type==\"{kind}\")].{field}");
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": { "app.kubernetes.io/name": "openlsp", "app.kubernetes.io/component": "controller" },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": "SiteList",
                "plural": PLURAL,
                "singular": "site",
            },
            "versions": [ {
                "name": VERSION,
                "served": true,
                "storage": true,
                "subresources": { "status": {} },
                "additionalPrinterColumns": [
                    { "name": "Network", "type": "string", "jsonPath": ".spec.network" },
                    { "name": "Ready", "type": "string", "jsonPath": condition("Ready", "status") },
                    { "name": "Reason", "type": "string", "jsonPath": condition("Ready", "reason") },
                    { "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp" },
                ],
                "schema": { "openAPIV3Schema": {
                    "description": "One openlsp site: the same document as openlsp.yaml (docs/profile.md). The openlsp controller keeps the namespace it is in as declared.",
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": { "type": "string" },
                        "kind": { "type": "string" },
                        "metadata": { "type": "object" },
                        "spec": crd_spec_schema(),
                        "status": {
                            "description": "What the controller last saw and did: conditions Ready, Progressing and Degraded, per-component readiness, onion addresses.",
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": true,
                        },
                    },
                } },
            } ],
        },
    })
}
