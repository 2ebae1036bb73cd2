//! The NetworkPolicies of every example profile (and of a tor-only site) on the real API
//! server: it accepts each one, and stores exactly the rules openlsp rendered (nothing dropped or
//! rewritten by validation or defaulting). What they allow is tests/network_policy.rs; the test
//! node has no plugin that enforces them (docs/testing.md).

use serde_json::Value;

use crate::common::e2e::{self, kubectl};
use crate::common::{self, Test, appended, render};

/// A namespace that removes itself, with whatever the test put in it.
struct Namespace<'a> {
    kubeconfig: &'a std::path::Path,
    name: String,
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        kubectl(
            self.kubeconfig,
            ["delete", "namespace", &self.name, "--wait=false"],
        );
    }
}

#[test]
fn every_profiles_network_policies_apply_unchanged_on_the_real_api_server() {
    let Some(kubeconfig) = e2e::test_cluster() else {
        return;
    };
    let mut cases: Vec<(String, Test, String)> = common::example_profiles()
        .into_iter()
        .map(|name| {
            let test = Test::new().with_example(&name);
            let profile = format!("{name}.yaml");
            (name, test, profile)
        })
        .collect();
    cases.push((
        "tor-only".to_owned(),
        appended("pi4-mainnet", "  tor: { mode: tor-only }"),
        "openlsp.yaml".to_owned(),
    ));
    let mut applied = 0;
    for (name, test, profile) in &cases {
        let (docs, _) = render(test, profile);
        let mut nonce = [0u8; 2];
        getrandom::fill(&mut nonce).unwrap();
        let namespace = Namespace {
            kubeconfig: &kubeconfig,
            name: format!("e2e-netpol-{}", hex::encode(nonce)),
        };
        e2e::ensure_namespace(&kubeconfig, &namespace.name);
        let mut policies: Vec<Value> = docs
            .into_iter()
            .filter(|d| d["kind"] == "NetworkPolicy")
            .collect();
        assert!(policies.len() >= 3, "{name}: {} policies", policies.len());
        let mut yaml = String::new();
        for policy in &mut policies {
            policy["metadata"]["namespace"] = Value::from(namespace.name.as_str());
            yaml.push_str("---\n");
            yaml.push_str(&serde_yaml::to_string(policy).unwrap());
        }
        let file = test.write("policies.yaml", &yaml);
        let output = kubectl(
            &kubeconfig,
            [
                "apply",
                "--server-side",
                "--field-manager=openlsp-e2e",
                "-f",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(output.code, 0, "{name}: {output:?}");
        for policy in &policies {
            let policy_name = policy["metadata"]["name"].as_str().unwrap();
            let live = kubectl(
                &kubeconfig,
                [
                    "get",
                    "networkpolicy",
                    policy_name,
                    "-n",
                    &namespace.name,
                    "-o",
                    "json",
                ],
            )
            .expect(0);
            let live: Value = serde_json::from_str(&live.stdout).unwrap();
            assert_eq!(
                live["spec"], policy["spec"],
                "{name}: the server keeps {policy_name} as rendered"
            );
            applied += 1;
        }
    }
    assert!(applied > 20, "{applied} policies applied");
}
