//! `openlsp schema`: the profile's JSON Schema for editors, kept in the repository as the file
//! the example profiles' modelines name, and the Site CRD.

use crate::common::{Test, example_profiles, repo_root};

/// The committed schema/site.schema.json is what this openlsp prints, so a field added to the
/// profile types reaches editors with the change that adds it.
#[test]
fn the_schema_file_is_what_openlsp_prints() {
    let output = Test::new().run(["schema"]).expect(0);
    let committed = std::fs::read_to_string(repo_root().join("schema/site.schema.json")).unwrap();
    assert!(
        output.stdout == committed,
        "schema/site.schema.json is stale: run target/debug/openlsp schema > schema/site.schema.json"
    );
    let schema: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(schema["title"], "openlsp site profile");
    assert_eq!(schema["properties"]["kind"]["enum"][0], "Site");
}

/// Every example starts with the line that points YAML language servers at the schema.
#[test]
fn every_example_names_the_schema_on_its_first_line() {
    for example in example_profiles() {
        let text =
            std::fs::read_to_string(repo_root().join(format!("profiles/{example}.yaml"))).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("# yaml-language-server: $schema=../schema/site.schema.json"),
            "profiles/{example}.yaml"
        );
    }
}

/// The CRD is JSON (read alike by every YAML parser), for the Site kind, with the profile's
/// schema under spec.
#[test]
fn the_crd_carries_the_profile_schema() {
    let output = Test::new().run(["schema", "--crd"]).expect(0);
    let crd: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(crd["metadata"]["name"], "sites.openlsp.io");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["required"],
        serde_json::json!(["disks", "host", "network"])
    );
    assert!(spec["properties"]["lightning"]["items"]["properties"]["tlsExtraDomains"].is_object());
}
