//! What `controller install` applies: the Site CRD, the controller's namespace and
//! ServiceAccount, its RBAC, and a Deployment running `openlsp controller run`. Pure: the
//! objects as a plan, for the deploy engine.
//!
//! RBAC: one ClusterRole, because what the controller does is cluster-wide by nature: it
//! watches Sites in every namespace, creates each site's Namespace, and writes the
//! PersistentVolumes (cluster-scoped) for its disks. Its rules come from the table of kinds
//! openlsp renders (plan/kinds.rs), so a kind added there is granted here with no extra work,
//! and nothing else is: no pods/exec, no nodes, no wildcard.
//!
//! Network: the controller's pod gets a NetworkPolicy in the vocabulary of the site policies
//! (plan/context/network.rs): nothing may connect to it, and it connects only to the API server
//! and the cluster DNS.

use serde_json::{Value, json};

use super::resource;
use crate::object::Stage;
use crate::plan::context::network::{Access, PodPolicy};
use crate::plan::context::shared::Labels;
use crate::plan::{Plan, PlannedObject};

/// The name of the controller's ServiceAccount and Deployment.
pub const NAME: &str = "openlsp-controller";
/// The controller's user and group in its image (distroless `nonroot`).
const NONROOT: i64 = crate::images::OPENLSP_UID;

/// The ClusterRole (and binding) of the controller installed in `namespace`: one per install,
/// so two installs never share or take over each other's grants.
pub fn cluster_role_name(namespace: &str) -> String {
    format!("{NAME}-{namespace}")
}

fn label_map() -> Labels {
    Labels::from([
        ("app.kubernetes.io/name", NAME.to_owned()),
        ("app.kubernetes.io/component", "controller".to_owned()),
        ("app.kubernetes.io/part-of", "openlsp".to_owned()),
        ("app.kubernetes.io/managed-by", "openlsp".to_owned()),
    ])
}

fn labels() -> Value {
    json!(label_map())
}

/// The controller pod's NetworkPolicy: no ingress at all (it serves nothing); egress to the API
/// server, which it watches and writes, and to the cluster DNS, nothing else.
fn network_policy(namespace: &str) -> Value {
    let selector = Labels::from([("app.kubernetes.io/name", NAME.to_owned())]);
    let policy = PodPolicy::new(
        NAME,
        &label_map(),
        &selector,
        Vec::new(),
        vec![Access::api_server(), Access::dns()],
    );
    let policy = serde_json::to_value(policy).expect("a PodPolicy is plain data");
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": { "name": NAME, "namespace": namespace, "labels": policy["labels"] },
        "spec": {
            "podSelector": { "matchLabels": policy["selector"] },
            "policyTypes": ["Ingress", "Egress"],
            "egress": policy["egress"],
        },
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

/// Everything `controller install` applies into `namespace`, running `image`, for the Sites of
/// `watch_namespace` only when one is given.
pub fn install_plan(namespace: &str, image: &str, watch_namespace: Option<&str>) -> Plan {
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
        object(Stage::Services, network_policy(namespace)),
        object(
            Stage::Workloads,
            deployment(namespace, image, watch_namespace),
        ),
    ];
    Plan {
        objects,
        warnings: Vec::new(),
    }
}

fn deployment(namespace: &str, image: &str, watch_namespace: Option<&str>) -> Value {
    let selector = json!({ "app.kubernetes.io/name": NAME });
    let mut args = vec!["controller", "run"];
    if let Some(watched) = watch_namespace {
        args.extend(["--watch-namespace", watched]);
    }
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
                        "args": args,
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

    /// Nothing may connect to the controller; it reaches the API server's ports at private
    /// addresses and the cluster DNS, and no other place.
    #[test]
    fn the_controller_pod_accepts_nothing_and_reaches_only_the_api_server_and_dns() {
        let plan = install_plan("openlsp-system", "registry.example/openlsp:1", None);
        let policy = plan
            .objects
            .iter()
            .find(|o| o.kind == "NetworkPolicy")
            .unwrap();
        assert_eq!(policy.namespace.as_deref(), Some("openlsp-system"));
        let spec = &policy.manifest["spec"];
        let deployment = plan
            .objects
            .iter()
            .find(|o| o.kind == "Deployment")
            .unwrap();
        let pod_labels = deployment.manifest["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .unwrap();
        for (key, value) in spec["podSelector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(pod_labels.get(key), Some(value), "{key}");
        }
        assert_eq!(spec["policyTypes"], json!(["Ingress", "Egress"]));
        assert!(spec.get("ingress").is_none(), "{spec}");
        let egress = spec["egress"].as_array().unwrap();
        assert_eq!(egress.len(), 2, "{spec}");
        let api = &egress[0];
        assert_eq!(
            api["ports"],
            json!([{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}, {"port": 16443, "protocol": "TCP"}])
        );
        for peer in api["to"].as_array().unwrap() {
            let cidr = peer["ipBlock"]["cidr"].as_str().unwrap();
            assert!(
                ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"].contains(&cidr),
                "{cidr}"
            );
        }
        let dns = &egress[1];
        assert_eq!(
            dns["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            "kube-system"
        );
        assert_eq!(
            dns["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
            "kube-dns"
        );
        assert!(
            dns["ports"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["port"] == 53)
        );
        crate::plan::kinds::lookup(&policy.api_version, &policy.kind)
            .unwrap()
            .check(&policy.manifest)
            .unwrap();
    }

    #[test]
    fn the_deployment_runs_the_controller_unprivileged_with_its_image() {
        let plan = install_plan("openlsp-system", "registry.example/openlsp:1", None);
        let deployment = &plan.objects.last().unwrap().manifest;
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["image"], "registry.example/openlsp:1");
        assert_eq!(pod["containers"][0]["args"], json!(["controller", "run"]));
        let scoped = install_plan("openlsp-system", "registry.example/openlsp:1", Some("shop"));
        assert_eq!(
            scoped.objects.last().unwrap().manifest["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["controller", "run", "--watch-namespace", "shop"])
        );
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
