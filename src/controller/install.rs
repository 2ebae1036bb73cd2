//! What `controller install` applies: the Site CRD, the controller's namespace and
//! ServiceAccount, its RBAC, and a Deployment running `openlsp controller run`. Pure: the
//! objects as a plan, for the deploy engine.
//!
//! RBAC: one ClusterRole, because what the controller does is cluster-wide by nature: it
//! watches Sites in every namespace, creates each site's Namespace, and writes the
//! PersistentVolumes (cluster-scoped) for its disks. Its rules come from the table of kinds
//! openlsp renders (plan/kinds.rs), so a kind added there is granted here with no extra work,
//! and nothing else is: no pods/exec, no nodes, no wildcard.

use serde_json::{Value, json};

use super::resource;
use crate::object::Stage;
use crate::plan::{Plan, PlannedObject};

/// The name of the controller's ServiceAccount and Deployment.
pub const NAME: &str = "openlsp-controller";
/// The controller's user and group in its image (distroless `nonroot`).
const NONROOT: i64 = 65532;

/// The ClusterRole (and binding) of the controller installed in `namespace`: one per install,
/// so two installs never share or take over each other's grants.
pub fn cluster_role_name(namespace: &str) -> String {
    format!("{NAME}-{namespace}")
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/component": "controller",
        "app.kubernetes.io/part-of": "openlsp",
        "app.kubernetes.io/managed-by": "openlsp",
    })
}

/// The verbs of each rule: what a reconcile needs to read, diff, apply and prune.
const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "patch", "update", "delete",
];

/// The ClusterRole's rules: Sites and their status, Events, and each kind openlsp renders.
pub fn rules() -> Vec<Value> {
    let mut rules = vec![
        json!({ "apiGroups": [resource::GROUP], "resources": [resource::PLURAL],
                "verbs": ["get", "list", "watch", "patch", "update"] }),
        json!({ "apiGroups": [resource::GROUP], "resources": [format!("{}/status", resource::PLURAL)],
                "verbs": ["get", "patch", "update"] }),
        json!({ "apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"] }),
    ];
    let mut by_group: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for kind in crate::plan::kinds::all() {
        by_group.entry(kind.group()).or_default().push(kind.plural);
    }
    for (group, mut plurals) in by_group {
        plurals.sort_unstable();
        plurals.dedup();
        rules.push(json!({ "apiGroups": [group], "resources": plurals, "verbs": WRITE }));
    }
    rules
}

fn object(stage: Stage, manifest: Value) -> PlannedObject {
    PlannedObject {
        api_version: manifest["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        kind: manifest["kind"].as_str().unwrap_or_default().to_owned(),
        name: manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        namespace: manifest["metadata"]["namespace"]
            .as_str()
            .map(str::to_owned),
        template: "controller install".to_owned(),
        stage,
        manifest,
    }
}

/// Everything `controller install` applies into `namespace`, running `image`.
pub fn install_plan(namespace: &str, image: &str) -> Plan {
    let role = cluster_role_name(namespace);
    let objects = vec![
        object(
            Stage::Namespaces,
            json!({ "apiVersion": "v1", "kind": "Namespace",
                    "metadata": { "name": namespace, "labels": labels() } }),
        ),
        object(Stage::Crds, resource::crd()),
        object(
            Stage::Rbac,
            json!({ "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": { "name": NAME, "namespace": namespace, "labels": labels() } }),
        ),
        object(
            Stage::Rbac,
            json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": { "name": role, "labels": labels() }, "rules": rules() }),
        ),
        object(
            Stage::Rbac,
            json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": { "name": role, "labels": labels() },
                    "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
                    "subjects": [ { "kind": "ServiceAccount", "name": NAME, "namespace": namespace } ] }),
        ),
        object(Stage::Workloads, deployment(namespace, image)),
    ];
    Plan {
        objects,
        warnings: Vec::new(),
    }
}

fn deployment(namespace: &str, image: &str) -> Value {
    let selector = json!({ "app.kubernetes.io/name": NAME });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": NAME, "namespace": namespace, "labels": labels() },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": selector },
            "template": {
                "metadata": { "labels": labels() },
                "spec": {
                    "serviceAccountName": NAME,
                    // SIGTERM stops at the next stage boundary; a stage's writes take seconds.
                    "terminationGracePeriodSeconds": 60,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": NONROOT,
                        "runAsGroup": NONROOT,
                        "seccompProfile": { "type": "RuntimeDefault" },
                    },
                    "containers": [ {
                        "name": "controller",
                        "image": image,
                        "args": ["controller", "run"],
                        "env": [ {
                            "name": "OPENLSP_CONTROLLER_NAMESPACE",
                            "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } },
                        } ],
                        "resources": {
                            "requests": { "cpu": "10m", "memory": "32Mi" },
                            "limits": { "memory": "128Mi" },
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": { "drop": ["ALL"] },
                        },
                    } ],
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_openlsp_renders_is_granted_and_nothing_broader() {
        let rules = rules();
        for kind in crate::plan::kinds::all() {
            assert!(
                rules.iter().any(|r| r["apiGroups"][0] == kind.group()
                    && r["resources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p == kind.plural)),
                "{} is not granted",
                kind.kind
            );
        }
        let text = serde_json::to_string(&rules).unwrap();
        assert!(!text.contains("\"*\""), "{text}");
        assert!(!text.contains("pods"), "{text}");
    }

    #[test]
    fn the_deployment_runs_the_controller_unprivileged_with_its_image() {
        let plan = install_plan("openlsp-system", "registry.example/openlsp:1");
        let deployment = &plan.objects.last().unwrap().manifest;
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["image"], "registry.example/openlsp:1");
        assert_eq!(pod["containers"][0]["args"], json!(["controller", "run"]));
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["serviceAccountName"], NAME);
        let binding = plan
            .objects
            .iter()
            .find(|o| o.kind == "ClusterRoleBinding")
            .unwrap();
        assert_eq!(
            binding.manifest["subjects"][0]["namespace"],
            "openlsp-system"
        );
        for object in &plan.objects {
            crate::plan::kinds::lookup(&object.api_version, &object.kind)
                .map(|kind| kind.check(&object.manifest))
                .transpose()
                .unwrap();
        }
    }
}
