//! `diff`, `apply` and `delete` against a real kube-apiserver (with etcd and the controller
//! manager; no kubelet). Each test owns a site with its own namespace. kubectl checks what
//! openlsp did.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{self, Output, Test, kubectl};

pub struct Site {
    pub test: Test,
    pub kubeconfig: PathBuf,
    pub name: String,
    pub profile: String,
    /// Every output openlsp printed, for the leak check.
    seen: std::sync::Mutex<Vec<String>>,
}

const NAMESPACED: &str = "configmaps,secrets,services,statefulsets.apps,deployments.apps,persistentvolumeclaims,serviceaccounts,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,networkpolicies.networking.k8s.io";

impl Site {
    /// A copy of an example profile as site `e2e-<suffix>` in namespace `e2e-<suffix>`.
    pub fn new(test_name: &str, example: &str, suffix: &str) -> Option<Self> {
        let kubeconfig = common::test_cluster(test_name)?;
        let test = Test::new().with_example(example);
        // A random part keeps reruns against a long-lived cluster apart.
        let mut nonce = [0u8; 2];
        getrandom::fill(&mut nonce).unwrap();
        let name = format!("e2e-{suffix}-{}", hex::encode(nonce));
        let profile = format!("{example}.yaml");
        let site = Site {
            test,
            kubeconfig,
            name,
            profile,
            seen: Default::default(),
        };
        site.edit(|mut value| {
            value["metadata"]["name"] = Value::String(site.name.clone());
            value["spec"]["namespace"] = Value::String(site.name.clone());
            // Sites share the test cluster, and openlsp refuses two volumes on one directory.
            if let Some(disks) = value["spec"]["disks"].as_object_mut() {
                for (disk, spec) in disks.iter_mut() {
                    spec["path"] = Value::String(format!("/srv/{}/{disk}", site.name));
                }
            }
            value
        });
        Some(site)
    }

    /// Starts `apply --yes` with `extra` arguments, waits until `ready` holds and one more
    /// poll of openlsp's has passed, then sends SIGINT as Ctrl-C does.
    pub fn interrupt_apply(&self, extra: &[&str], ready: impl Fn() -> bool) -> Output {
        let child = self.spawn_apply(extra);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            assert!(Instant::now() < deadline, "apply never got there");
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(1500));
        self.interrupt(child)
    }

    /// Starts `apply --yes --timeout 120s` with `extra` arguments in the background.
    pub fn spawn_apply(&self, extra: &[&str]) -> std::process::Child {
        let mut args = vec!["apply", "--yes", "--timeout", "120s"];
        args.extend_from_slice(extra);
        args.extend(["-p", &self.profile, "--kubeconfig"]);
        args.push(self.kubeconfig.to_str().unwrap());
        self.test.spawn(&args)
    }

    /// Sends SIGINT to a spawned run, as Ctrl-C does, and collects what it printed.
    pub fn interrupt(&self, child: std::process::Child) -> Output {
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let output = Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        self.seen.lock().unwrap().push(output.all());
        output
    }

    /// Sets an environment variable for every run of openlsp in this site.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.test = self.test.env(key, value);
        self
    }

    pub fn edit(&self, change: impl FnOnce(Value) -> Value) {
        let path = self.test.path().join(&self.profile);
        let value: Value = serde_yaml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        fs::write(&path, serde_yaml::to_string(&change(value)).unwrap()).unwrap();
    }

    /// Drops Lightning node `name` from the profile.
    pub fn remove_lightning_node(&self, name: &str) {
        self.edit(|mut value| {
            value["spec"]["lightning"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["name"] != name);
            value
        });
    }

    pub fn openlsp(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = args.to_vec();
        full.extend([
            "-p",
            &self.profile,
            "--kubeconfig",
            self.kubeconfig.to_str().unwrap(),
        ]);
        let output = self.test.run(full);
        self.seen.lock().unwrap().push(output.all());
        output
    }

    /// `render --show-secrets`, which must print values; not recorded for the leak check.
    pub fn render_revealed(&self) -> String {
        let kubeconfig = self.kubeconfig.to_str().unwrap();
        let args = [
            "render",
            "--show-secrets",
            "-p",
            &self.profile,
            "--kubeconfig",
            kubeconfig,
        ];
        self.test.run(args).expect(0).stdout
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl(&self.kubeconfig, args)
    }

    pub fn namespace(&self) -> &str {
        &self.name
    }

    /// KEP-3659 id, computed here independently of openlsp.
    pub fn applyset_id(&self) -> String {
        let digest =
            Sha256::digest(format!("openlsp-applyset.{}.Secret.", self.namespace()).as_bytes());
        format!(
            "applyset-{}-v1",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        )
    }

    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["get", "-o", "json"];
        full.extend_from_slice(args);
        let output = self.kubectl(&full).expect(0);
        serde_json::from_str(&output.stdout).unwrap()
    }

    /// resourceVersion of every object openlsp manages, the parent and the namespace.
    pub fn resource_versions(&self) -> BTreeMap<String, String> {
        let selector = format!("applyset.kubernetes.io/part-of={}", self.applyset_id());
        let mut versions = BTreeMap::new();
        let mut record = |list: Value| {
            let items = list["items"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![list.clone()]);
            for item in items {
                versions.insert(
                    format!(
                        "{}/{}",
                        item["kind"].as_str().unwrap(),
                        item["metadata"]["name"].as_str().unwrap()
                    ),
                    item["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        };
        record(self.get_json(&[NAMESPACED, "-n", self.namespace(), "-l", &selector]));
        record(self.get_json(&["pv", "-l", &selector]));
        record(self.get_json(&["namespace", self.namespace()]));
        record(self.get_json(&["secret", "openlsp-applyset", "-n", self.namespace()]));
        versions
    }

    /// Waits until controllers stop updating the objects: claims bound to their volumes, then
    /// no resourceVersion changing for a while.
    pub fn settle(&self) -> BTreeMap<String, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let claims = self.get_json(&["pvc", "-n", self.namespace()]);
            let bound = claims["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["status"]["phase"] == "Bound");
            if bound {
                break;
            }
            assert!(Instant::now() < deadline, "the claims were never bound");
            std::thread::sleep(Duration::from_millis(300));
        }
        let mut previous = self.resource_versions();
        loop {
            std::thread::sleep(Duration::from_millis(2000));
            let now = self.resource_versions();
            if now == previous {
                return now;
            }
            assert!(Instant::now() < deadline, "the objects never settled");
            previous = now;
        }
    }

    /// Runs `work` while a "kubelet" marks the pods whose names pass `wanted` ready.
    pub fn with_kubelet<T>(
        &self,
        wanted: impl Fn(&str) -> bool + Sync,
        work: impl FnOnce() -> T,
    ) -> T {
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    self.mark_pods_ready_where(&wanted);
                    std::thread::sleep(Duration::from_millis(300));
                }
            });
            let result = work();
            done.store(true, Ordering::SeqCst);
            result
        })
    }

    /// Does what a kubelet would: reports every pod of the namespace running and ready.
    pub fn mark_pods_ready(&self) {
        self.mark_pods_ready_where(|_| true);
    }

    /// Like [`Site::mark_pods_ready`], for the pods whose name passes `wanted`.
    pub fn mark_pods_ready_where(&self, wanted: impl Fn(&str) -> bool) {
        let pods = self.get_json(&["pods", "-n", self.namespace()]);
        for pod in pods["items"].as_array().unwrap() {
            if !wanted(pod["metadata"]["name"].as_str().unwrap_or_default()) {
                continue;
            }
            let ready = pod["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            if ready {
                continue;
            }
            let statuses: Vec<Value> = pod["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| serde_json::json!({
                    "name": c["name"], "ready": true, "started": true, "restartCount": 0,
                    "image": c["image"], "imageID": "", "state": { "running": { "startedAt": "2026-11-21T00:00:00Z" } }
                }))
                .collect();
            let patch = serde_json::json!({ "status": {
                "phase": "Running",
                "conditions": [
                    { "type": "Initialized", "status": "True" },
                    { "type": "Ready", "status": "True" },
                    { "type": "ContainersReady", "status": "True" },
                    { "type": "PodScheduled", "status": "True" }
                ],
                "containerStatuses": statuses
            }});
            let name = pod["metadata"]["name"].as_str().unwrap();
            self.kubectl(&[
                "patch",
                "pod",
                name,
                "-n",
                self.namespace(),
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch.to_string(),
            ]);
        }
    }

    /// Waits until the object is gone (deletion waits for finalizers such as pvc-protection).
    pub fn wait_gone(&self, kind: &str, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self
            .kubectl(&["get", kind, name, "-n", self.namespace()])
            .code
            == 0
        {
            assert!(Instant::now() < deadline, "{kind}/{name} was not deleted");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The site's objects as openlsp renders them.
    pub fn rendered(&self) -> Vec<Value> {
        self.rendered_with(&[])
    }

    /// The site's objects as `render` with `extra` arguments (e.g. `--templates DIR`) renders them.
    pub fn rendered_with(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["render"];
        args.extend_from_slice(extra);
        common::documents(&self.openlsp(&args).expect(0).stdout)
    }

    /// The ApplySet group-kinds of the rendered objects, as the parent must list them.
    pub fn rendered_group_kinds(&self) -> String {
        group_kinds(&self.rendered())
    }

    /// The ApplySet parent's annotation `key`.
    pub fn parent_annotation(&self, key: &str) -> String {
        let parent = self.get_json(&["secret", "openlsp-applyset", "-n", self.namespace()]);
        parent["metadata"]["annotations"][key]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.test.state_dir(&self.name)
    }

    /// No generated value appeared in anything openlsp printed.
    /// `values` (secrets that are no longer in the state dir, or never were) appear in no
    /// output, neither in clear nor base64-encoded.
    pub fn assert_never_shown(&self, values: &[&str]) {
        let seen = self.seen.lock().unwrap().join("\n");
        for value in values {
            assert!(value.len() >= 8, "too short to search for: {value:?}");
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            assert!(
                !seen.contains(value) && !seen.contains(&encoded),
                "a secret value (length {}) was shown",
                value.len()
            );
        }
    }

    pub fn assert_nothing_leaked(&self) {
        let seen = self.seen.lock().unwrap().join("\n");
        common::assert_no_secrets(&seen, &self.state_dir(), "diff/apply/delete output");
    }
}

/// The ApplySet spelling (`Kind.group`, sorted, comma-separated) of the objects' kinds.
pub fn group_kinds(objects: &[Value]) -> String {
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| {
            let kind = o["kind"].as_str().unwrap();
            match o["apiVersion"].as_str().unwrap().rsplit_once('/') {
                Some((group, _)) => format!("{kind}.{group}"),
                None => kind.to_owned(),
            }
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.join(",")
}

pub const GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";

#[test]
fn fresh_apply_creates_everything_as_a_kubectl_applyset() {
    let Some(site) = Site::new("fresh apply", "pi4-mainnet", "fresh") else {
        return;
    };
    site.openlsp(&["diff"]).expect(1);
    let count = site.rendered().len();
    assert!(count >= 19, "the Pi site has {count} objects");
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let plan =
        format!("Plan: {count} to create, 0 to change, 0 to prune, 0 kept (data), 0 unchanged");
    assert!(output.stdout.contains(&plan), "{}", output.stdout);

    let parents = site.get_json(&[
        "secret",
        "-n",
        site.namespace(),
        "-l",
        "applyset.kubernetes.io/id",
    ]);
    let parent = &parents["items"][0];
    assert_eq!(parents["items"].as_array().unwrap().len(), 1);
    assert_eq!(parent["metadata"]["name"], "openlsp-applyset");
    assert_eq!(
        parent["metadata"]["labels"]["applyset.kubernetes.io/id"],
        site.applyset_id()
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        site.rendered_group_kinds()
    );
    assert!(site.rendered_group_kinds().contains("StatefulSet.apps"));
    assert!(
        site.rendered_group_kinds()
            .contains(",Role.rbac.authorization.k8s.io,")
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"],
        format!("openlsp/{}", env!("CARGO_PKG_VERSION"))
    );
    let rendered = common::documents(&site.openlsp(&["render"]).expect(0).stdout);
    for object in &rendered {
        let kind = object["kind"].as_str().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let mut args = vec![kind, name, "--show-managed-fields"];
        if object["metadata"]["namespace"].is_string() {
            args.extend(["-n", site.namespace()]);
        }
        let live = site.get_json(&args);
        assert_eq!(
            live["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
            site.applyset_id(),
            "{kind}/{name} is not an ApplySet member"
        );
        let manager = live["metadata"]["managedFields"].as_array().unwrap();
        assert!(
            manager
                .iter()
                .any(|m| m["manager"] == "openlsp" && m["operation"] == "Apply"),
            "{kind}/{name}"
        );
    }
    assert_eq!(
        site.get_json(&["pvc", "lnd-data", "-n", site.namespace()])["spec"]["volumeName"],
        format!("{}-lnd", site.namespace())
    );
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

#[test]
fn a_second_apply_writes_nothing() {
    let Some(site) = Site::new("no-op apply", "pi4-mainnet", "noop") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = site.settle();
    assert_eq!(
        before.len(),
        site.rendered().len() + 1,
        "every object and the ApplySet parent: {before:?}"
    );
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(output.stderr.contains("no changes"), "{}", output.stderr);
    assert_eq!(
        site.resource_versions(),
        before,
        "a no-op apply changed objects"
    );
    site.openlsp(&["diff"]).expect(0);
    assert_eq!(site.resource_versions(), before, "diff changed objects");
    assert!(
        site.kubectl(&["get", "lease", "openlsp-lock", "-n", site.namespace()])
            .code
            != 0,
        "the lock was not released"
    );
}

#[test]
fn an_image_change_shows_as_the_only_difference_and_rolls_out() {
    let Some(site) = Site::new("image change", "pi4-mainnet", "image") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.edit(|mut value| {
        value["spec"]["lightning"][0]["image"] =
            Value::String("lightninglabs/lnd:v0.21.2-beta".into());
        value
    });
    let diff = site.openlsp(&["diff"]).expect(1);
    let plan = format!(
        "Plan: 0 to create, 1 to change, 0 to prune, 0 kept (data), {} unchanged",
        site.rendered().len() - 1
    );
    assert!(diff.stdout.contains(&plan), "{}", diff.stdout);
    let changed: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    assert_eq!(
        changed,
        [
            "-        image: lightninglabs/lnd:v0.21.3-beta",
            "+        image: lightninglabs/lnd:v0.21.2-beta"
        ],
        "{}",
        diff.stdout
    );
    let json: Value =
        serde_json::from_str(&site.openlsp(&["diff", "-o", "json"]).expect(1).stdout).unwrap();
    assert_eq!(json["summary"]["change"], 1);
    assert_eq!(json["differences"], true);
    let old_revision =
        site.get_json(&["statefulset", "lnd", "-n", site.namespace()])["status"]["currentRevision"]
            .clone();
    assert!(old_revision.is_string(), "{old_revision}");

    // The StatefulSet controller replaces lnd-0 only once the old pod is ready, so the
    // "kubelet" reports every pod ready, the old ones and the new lnd-0 alike.
    let output = site.with_kubelet(
        |_| true,
        || site.openlsp(&["apply", "--yes", "--timeout", "120s"]),
    );
    let output = output.expect(0);
    // apply saw lnd not yet rolled out, waited, then saw it ready.
    let lnd: Vec<&str> = output
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("StatefulSet/lnd: "))
        .collect();
    assert!(
        lnd.first().is_some_and(|l| !l.starts_with("ready"))
            && lnd.last() == Some(&"ready (1/1 ready, 1/1 updated)")
            && output.stderr.ends_with("all 3 workloads are ready\n"),
        "apply did not report waiting for the rollout: {}",
        output.stderr
    );
    let sts = site.get_json(&["statefulset", "lnd", "-n", site.namespace()]);
    let new_image = "lightninglabs/lnd:v0.21.2-beta";
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        new_image
    );
    let status = &sts["status"];
    assert!(
        status["observedGeneration"] == sts["metadata"]["generation"]
            && status["updatedReplicas"] == 1
            && status["readyReplicas"] == 1
            && status["updateRevision"].is_string()
            && status["currentRevision"] == status["updateRevision"]
            && status["currentRevision"] != old_revision,
        "the rollout did not complete (was at revision {old_revision}): {status}"
    );
    let pod = site.get_json(&["pod", "lnd-0", "-n", site.namespace()]);
    assert_eq!(pod["spec"]["containers"][0]["image"], new_image);
    assert_eq!(
        pod["metadata"]["labels"]["controller-revision-hash"],
        status["updateRevision"]
    );
    site.openlsp(&["diff"]).expect(0);
}

#[test]
fn secret_values_never_reach_the_terminal() {
    let Some(site) = Site::new("masking", "pi4-mainnet", "masking") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    // Changed credentials in the state dir (as a rotation would): the wallet password, and
    // LND's RPC password for bitcoind, which also changes bitcoind's rpcauth line.
    let wallet = site.state_dir().join("lightning/lnd/wallet-password");
    let rpc = site.state_dir().join("bitcoin/bitcoind/rpc/lnd/password");
    let old = [
        fs::read_to_string(&wallet).unwrap(),
        fs::read_to_string(&rpc).unwrap(),
    ];
    // In the form openlsp generates (44 characters of URL-safe base64).
    fs::write(&wallet, "a-new-wallet-password-for-the-test-00000000=").unwrap();
    fs::write(&rpc, "a-new-rpc-password-for-the-test-00000000000=").unwrap();
    // A value changed by hand is refused: only --replace-secrets writes it over the cluster's.
    let refused = site.openlsp(&["diff"]).expect(2);
    for secret in [
        "lnd-wallet (wallet password of lnd)",
        "lnd-bitcoind-rpc (rpc credential of lnd)",
    ] {
        assert!(refused.stderr.contains(secret), "{}", refused.stderr);
    }
    let replace = ["--replace-secrets", "lnd-wallet,lnd-bitcoind-rpc"];
    let diff = site.openlsp(&[&["diff"][..], &replace].concat()).expect(1);
    for line in [
        "~ change Secret/lnd-wallet",
        "-  password: '*** (before)'",
        "+  password: '*** (after)'",
        "~ change Secret/lnd-bitcoind-rpc",
        "   username: '***'",
        "~ change Secret/bitcoind-rpcauth",
        "-  rpcauth.conf: '*** (before)'",
        "+  rpcauth.conf: '*** (after)'",
    ] {
        assert!(
            diff.stdout.contains(line),
            "no {line:?} in:\n{}",
            diff.stdout
        );
    }
    site.openlsp(&[&["diff", "-o", "json"][..], &replace].concat())
        .expect(1);
    let confirm = ["--confirm-site", site.name.as_str()];
    site.openlsp(&[&["apply", "--yes", "--no-wait"][..], &replace, &confirm].concat())
        .expect(0);
    site.openlsp(&["diff"]).expect(0);
    site.openlsp(&["delete", "--yes"]).expect(0);
    site.assert_nothing_leaked();
    site.assert_never_shown(&old.iter().map(|v| v.trim()).collect::<Vec<_>>());
}

/// `stringData` in a planned Secret (a `--templates` addition may render one), and kubectl's
/// `last-applied-configuration` annotation, which holds a client-side-applied Secret's values
/// in clear, are masked like `data`.
#[test]
fn string_data_and_kubectls_last_applied_record_are_masked() {
    let Some(site) = Site::new("masking stringData", "pi4-mainnet", "stringdata") else {
        return;
    };
    let planned_token = "planned-string-data-token-4711";
    let kubectl_token = "kubectl-client-side-token-0815";
    let secret = |token: &str, namespace: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e2e-extra\n  namespace: {namespace}\nstringData:\n  token: {token}\n"
        )
    };
    site.test.write(
        "templates/site/zz-extra.yaml.j2",
        &secret(planned_token, "{{ site.namespace }}"),
    );
    let templates = site.test.path().join("templates");
    let templates = ["--templates", templates.to_str().unwrap()];
    let run = |command: &[&str]| site.openlsp(&[command, &templates[..]].concat());

    // A new site: nothing can be dry-run in a namespace that does not exist yet, so the diff
    // shows the Secret as planned, stringData and all.
    let diff = run(&["diff"]).expect(1);
    assert!(
        diff.stdout
            .contains("+stringData:\n+  token: '*** (after)'\n"),
        "{}",
        diff.stdout
    );

    // Someone created it first with client-side `kubectl apply`.
    site.kubectl(&["create", "namespace", site.namespace()])
        .expect(0);
    let file = site
        .test
        .write("extra.yaml", &secret(kubectl_token, site.namespace()));
    site.kubectl(&["apply", "-f", file.to_str().unwrap()])
        .expect(0);
    let live = site.get_json(&["secret", "e2e-extra", "-n", site.namespace()]);
    let record =
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap();
    assert!(
        record.contains(kubectl_token),
        "the record holds the value in clear"
    );

    let diff = run(&["diff"]).expect(1);
    for line in [
        "~ change Secret/e2e-extra",
        "    kubectl.kubernetes.io/last-applied-configuration: '***'",
        "-  token: '*** (before)'",
        "+  token: '*** (after)'",
    ] {
        assert!(
            diff.stdout.contains(line),
            "no {line:?} in:\n{}",
            diff.stdout
        );
    }
    run(&["diff", "-o", "json"]).expect(1);
    run(&["apply", "--yes", "--no-wait", "--force-conflicts"]).expect(0);
    run(&["delete", "--yes"]).expect(0);
    site.assert_nothing_leaked();
    site.assert_never_shown(&[planned_token, kubectl_token]);
}

/// The ApplySet parent's name belongs to another tool (or to a Secret that is no parent at
/// all): diff, apply and delete refuse, name it, and write nothing.
#[test]
fn an_applyset_parent_of_another_tool_is_refused() {
    let Some(site) = Site::new("foreign parent", "pi4-mainnet", "foreign") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let parent = ["secret", "openlsp-applyset", "-n", site.namespace()];
    let annotate = |value: &str| {
        let mut args = vec!["annotate", "--overwrite"];
        args.extend_from_slice(&parent);
        args.push(value);
        site.kubectl(&args).expect(0);
    };
    annotate("applyset.kubernetes.io/tooling=kubectl/v1.20.2");
    let before = site.settle();
    let refusal = format!(
        "error: Secret {}/openlsp-applyset is the ApplySet parent of \"kubectl/v1.20.2\", not openlsp",
        site.namespace()
    );
    for command in [
        &["diff"][..],
        &["apply", "--yes", "--no-wait"][..],
        &["delete", "--yes"][..],
    ] {
        let output = site.openlsp(command).expect(2);
        assert!(
            output.stderr.starts_with(&refusal),
            "{command:?}: {}",
            output.stderr
        );
    }
    // Neither a member nor the parent was written (only the lock Lease, which is neither).
    assert_eq!(site.resource_versions(), before, "a refused run wrote");

    // A Secret of that name without any ApplySet annotation is not ours either.
    annotate("applyset.kubernetes.io/tooling-");
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert!(
        output
            .stderr
            .contains("/openlsp-applyset is not an ApplySet parent openlsp made (it has no applyset.kubernetes.io/tooling annotation)"),
        "{}",
        output.stderr
    );
    site.assert_nothing_leaked();
}

#[test]
fn a_removed_lightning_node_is_pruned_but_its_data_is_kept() {
    let Some(site) = Site::new("prune", "lsp-two-nodes", "prune") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.remove_lightning_node("lnd-customers");
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    for line in [
        "- prune StatefulSet/lnd-customers".to_owned(),
        "- prune Service/lnd-customers".to_owned(),
        "- prune ConfigMap/lnd-customers-config".to_owned(),
        format!("= keep (data) PersistentVolume/{}-lnd-customers", site.name),
        "= keep (data) PersistentVolumeClaim/lnd-customers-data".to_owned(),
        "= keep (data) Secret/lnd-customers-tls".to_owned(),
        "= keep (data) Secret/lnd-customers-wallet".to_owned(),
        "= keep (data) Secret/lnd-customers-bitcoind-rpc".to_owned(),
        "= keep (data) Secret/lnd-customers-rpc".to_owned(),
        "- prune ServiceAccount/lnd-customers-lndinit".to_owned(),
        "- prune Role/lnd-customers-lndinit".to_owned(),
        "= keep (data) Secret/lnd-customers-p2p-onion".to_owned(),
    ] {
        assert!(
            output.stdout.contains(line.as_str()),
            "missing {line:?} in:\n{}",
            output.stdout
        );
    }
    let gone = |kind: &str, name: &str| {
        site.kubectl(&["get", kind, name, "-n", site.namespace()])
            .code
            != 0
    };
    assert!(
        gone("statefulset", "lnd-customers")
            && gone("service", "lnd-customers")
            && gone("configmap", "lnd-customers-config")
    );
    for (kind, name) in [
        ("pvc", "lnd-customers-data"),
        ("secret", "lnd-customers-wallet"),
        ("secret", "lnd-customers-tls"),
    ] {
        assert!(!gone(kind, name), "{kind}/{name} holds data and must stay");
    }
    let pv = format!("{}-lnd-customers", site.name);
    assert!(!gone("pv", &pv));
    assert!(
        !gone("statefulset", "lnd-routing"),
        "the other node must stay"
    );
    let kept = output
        .stdout
        .lines()
        .filter(|l| l.starts_with("= keep (data)"))
        .count();
    assert!(kept >= 6, "{}", output.stdout);
    let diff = site.openlsp(&["diff"]).expect(0);
    assert!(
        diff.stdout.contains(&format!("{kept} kept (data)")),
        "{}",
        diff.stdout
    );

    // Data goes only with --prune-data and the site name confirmed.
    let refused = site
        .openlsp(&["apply", "--yes", "--no-wait", "--prune-data"])
        .expect(2);
    assert!(
        refused.stderr.contains("no terminal") && refused.stderr.contains("--confirm-site"),
        "{}",
        refused.stderr
    );
    assert!(!gone("pvc", "lnd-customers-data"));
    site.openlsp(&[
        "apply",
        "--yes",
        "--no-wait",
        "--prune-data",
        "--confirm-site",
        "wrong",
    ])
    .expect(2);
    assert!(!gone("pvc", "lnd-customers-data"));
    let output = site
        .openlsp(&[
            "apply",
            "--yes",
            "--no-wait",
            "--prune-data",
            "--confirm-site",
            &site.name,
        ])
        .expect(0);
    assert!(
        output
            .stdout
            .contains("- prune (data) PersistentVolumeClaim/lnd-customers-data"),
        "{}",
        output.stdout
    );
    site.wait_gone("secret", "lnd-customers-wallet");
    site.wait_gone("pv", &pv);
    let parent = site.get_json(&["secret", "openlsp-applyset", "-n", site.namespace()]);
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        site.rendered_group_kinds()
    );
    site.assert_nothing_leaked();
}

#[test]
fn a_field_owned_by_another_manager_is_a_reported_conflict() {
    let Some(site) = Site::new("conflict", "pi4-mainnet", "conflict") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.kubectl(&[
        "patch",
        "statefulset",
        "lnd",
        "-n",
        site.namespace(),
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
        "--field-manager",
        "kubectl-edit",
    ])
    .expect(0);
    let diff = site.openlsp(&["diff"]).expect(1);
    assert!(
        diff.stdout
            .contains(".spec.replicas is owned by \"kubectl-edit\""),
        "{}",
        diff.stdout
    );
    let failed = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert!(
        failed
            .stderr
            .contains("StatefulSet/lnd .spec.replicas is owned by \"kubectl-edit\""),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("--force-conflicts"));
    assert_eq!(
        site.get_json(&["statefulset", "lnd", "-n", site.namespace()])["spec"]["replicas"],
        2
    );
    site.openlsp(&["apply", "--yes", "--no-wait", "--force-conflicts"])
        .expect(0);
    assert_eq!(
        site.get_json(&["statefulset", "lnd", "-n", site.namespace()])["spec"]["replicas"],
        1
    );
    site.openlsp(&["diff"]).expect(0);
}

#[test]
fn an_unreachable_server_or_bad_token_fails_cleanly_and_writes_nothing() {
    let Some(site) = Site::new("unreachable", "pi4-mainnet", "unreachable") else {
        return;
    };
    let kubeconfig = fs::read_to_string(&site.kubeconfig).unwrap();
    let port_start = kubeconfig.find("https://127.0.0.1:").unwrap() + "https://127.0.0.1:".len();
    let port_end = port_start
        + kubeconfig[port_start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    site.test.write(
        "down.kubeconfig",
        &format!(
            "{}{closed}{}",
            &kubeconfig[..port_start],
            &kubeconfig[port_end..]
        ),
    );
    let token_line = kubeconfig
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .unwrap();
    site.test.write(
        "badtoken.kubeconfig",
        &kubeconfig.replace(token_line, "    token: not-the-right-token"),
    );

    for command in [
        &["diff"][..],
        &["apply", "--yes"][..],
        &["delete", "--yes"][..],
    ] {
        let mut args = command.to_vec();
        args.extend(["-p", &site.profile, "--kubeconfig", "down.kubeconfig"]);
        let output = site.test.run(&args).expect(2);
        assert!(
            output.stderr.contains(&format!("cannot reach the cluster at https://127.0.0.1:{closed}: connection refused; is microk8s running? try: microk8s status")),
            "{}",
            output.stderr
        );
        assert_eq!(
            output.stderr.lines().count(),
            1,
            "one clear line: {}",
            output.stderr
        );
        let mut args = command.to_vec();
        args.extend(["-p", &site.profile, "--kubeconfig", "badtoken.kubeconfig"]);
        let output = site.test.run(&args).expect(2);
        assert!(
            output
                .stderr
                .contains("rejected our credentials (401 Unauthorized)"),
            "{}",
            output.stderr
        );
    }
    assert!(
        site.kubectl(&["get", "namespace", site.namespace()]).code != 0,
        "nothing may be written"
    );
    let output = site
        .openlsp(&["diff", "--context", "no-such-context"])
        .expect(2);
    assert!(
        output.stderr.contains("no-such-context"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_held_lock_refuses_a_second_apply_and_a_stale_one_expires() {
    let Some(site) = Site::new("lock", "pi4-mainnet", "lock") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let lease = |renewed: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{ name: openlsp-lock, namespace: {} }}\nspec: {{ holderIdentity: \"alice@laptop pid 42\", leaseDurationSeconds: 60, renewTime: \"{renewed}\" }}\n",
            site.namespace()
        )
    };
    let now = time::OffsetDateTime::now_utc();
    let fresh = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    site.test.write("lease.yaml", &lease(&fresh));
    site.kubectl(&[
        "apply",
        "-f",
        site.test.path().join("lease.yaml").to_str().unwrap(),
    ])
    .expect(0);
    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    let expected = format!(
        "another openlsp run holds the lock of namespace {}: alice@laptop pid 42",
        site.name
    );
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);
    site.openlsp(&["delete", "--yes"]).expect(2);

    site.test
        .write("lease.yaml", &lease("2020-01-01T00:00:00.000000Z"));
    site.kubectl(&[
        "apply",
        "-f",
        site.test.path().join("lease.yaml").to_str().unwrap(),
    ])
    .expect(0);
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(
        site.kubectl(&["get", "lease", "openlsp-lock", "-n", site.namespace()])
            .code
            != 0,
        "the taken-over lock was not released"
    );
}

/// An apply that holds the lock longer than the lease's 60 seconds (here waiting for a
/// CustomResourceDefinition that is never established) keeps renewing it: a second apply
/// started after 60 s is still refused with the holder's name, and renewTime moved on.
#[test]
fn a_long_apply_renews_its_lock_past_the_lease_duration() {
    let Some(site) = Site::new("lock renewal", "pi4-mainnet", "renew") else {
        return;
    };
    let group = format!("{}.openlsp.test", site.name);
    let _cleanup = crds::Crds {
        kubeconfig: site.kubeconfig.clone(),
        names: vec![format!("things.{group}"), format!("widgets.{group}")],
    };
    // `things` claims kind Thing first, so `widgets` (also kind Thing) is never established.
    crds::kubectl_apply(&site, "things.yaml", &crds::crd(&group, "things", "Thing"));
    crds::wait_established(&site, &format!("things.{group}"));
    let widgets = crds::templates(&site, "widgets", &crds::crd(&group, "widgets", "Thing"));
    let first = site.spawn_apply(&["--no-wait", "--templates", &widgets]);

    let lease = || {
        let lease = site.kubectl(&[
            "get",
            "lease",
            "openlsp-lock",
            "-n",
            site.namespace(),
            "-o",
            "json",
        ]);
        (lease.code == 0).then(|| serde_json::from_str::<Value>(&lease.stdout).unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let taken = loop {
        if let Some(taken) = lease() {
            break taken;
        }
        assert!(
            Instant::now() < deadline,
            "the first apply never took the lock"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let since_taken = Instant::now();
    let holder = taken["spec"]["holderIdentity"].as_str().unwrap().to_owned();
    assert!(holder.contains(&format!("pid {} ", first.id())), "{holder}");

    // Without renewal the lease would have lapsed by now.
    std::thread::sleep(Duration::from_secs(63).saturating_sub(since_taken.elapsed()));
    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    let expected = format!(
        "another openlsp run holds the lock of namespace {}: {holder}",
        site.name
    );
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);
    let renewed = lease().expect("the lease is still there");
    assert_eq!(renewed["spec"]["holderIdentity"], holder.as_str());
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            renewed["spec"][field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let held_for = at("renewTime") - at("acquireTime");
    assert!(
        held_for >= time::Duration::seconds(45),
        "renewed only {held_for} after it was taken: {renewed}"
    );

    let first = site.interrupt(first);
    assert_eq!(first.code, 2, "{}", first.stderr);
    assert!(
        first.stderr.contains(&format!(
            "CustomResourceDefinition/widgets.{group}: names not accepted"
        )),
        "the first apply was waiting in stage 2 all along: {}",
        first.stderr
    );
    assert!(lease().is_none(), "the lock was not released");
}

#[test]
fn apply_waits_for_ready_workloads_and_times_out_naming_them() {
    let Some(site) = Site::new("wait", "pi4-mainnet", "wait") else {
        return;
    };
    let done = AtomicBool::new(false);
    let output = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                site.mark_pods_ready();
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        let output = site.openlsp(&["apply", "--yes", "--timeout", "120s"]);
        done.store(true, Ordering::SeqCst);
        output
    });
    let output = output.expect(0);
    assert!(
        output.stderr.contains("all 3 workloads are ready"),
        "{}",
        output.stderr
    );
    let sts = site.get_json(&["statefulset", "bitcoind", "-n", site.namespace()]);
    assert_eq!(sts["status"]["readyReplicas"], 1);

    let Some(slow) = Site::new("wait timeout", "pi4-mainnet", "wait-timeout") else {
        return;
    };
    let output = slow
        .openlsp(&["apply", "--yes", "--timeout", "5s"])
        .expect(2);
    assert!(
        output
            .stderr
            .contains("timed out after 5s waiting for: Deployment/tor"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("StatefulSet/lnd"),
        "{}",
        output.stderr
    );
}

#[test]
fn apply_without_a_terminal_or_yes_refuses() {
    let Some(site) = Site::new("no tty", "pi4-mainnet", "notty") else {
        return;
    };
    let output = site.openlsp(&["apply", "--no-wait"]).expect(2);
    assert!(
        output
            .stderr
            .contains("there is no terminal to ask on; pass --yes"),
        "{}",
        output.stderr
    );
    assert!(site.kubectl(&["get", "namespace", site.namespace()]).code != 0);
}

#[test]
fn delete_keeps_data_and_purge_removes_it() {
    let Some(site) = Site::new("delete", "pi4-mainnet", "delete") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let rendered = site.rendered();
    let kept = rendered
        .iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some("Namespace" | "PersistentVolume" | "PersistentVolumeClaim")
            ) || o["metadata"]["annotations"]["openlsp.io/data"] == "true"
        })
        .count();
    let output = site.openlsp(&["delete", "--yes"]).expect(0);
    let plan = format!(
        "Plan: 0 to create, 0 to change, {} to prune, {kept} kept (data), 0 unchanged",
        rendered.len() - kept
    );
    assert!(output.stdout.contains(&plan), "{}", output.stdout);
    let gone = |kind: &str, name: &str| {
        site.kubectl(&["get", kind, name, "-n", site.namespace()])
            .code
            != 0
    };
    assert!(
        gone("statefulset", "lnd")
            && gone("configmap", "bitcoind-config")
            && gone("secret", "bitcoind-rpcauth")
    );
    assert!(
        !gone("pvc", "bitcoind-data")
            && !gone("secret", "lnd-wallet")
            && !gone("namespace", site.namespace())
    );
    let refused = site.openlsp(&["delete", "--purge", "--yes"]).expect(2);
    assert!(
        refused.stderr.contains("--confirm-site"),
        "{}",
        refused.stderr
    );
    assert!(!gone("pvc", "bitcoind-data"));
    site.openlsp(&["delete", "--purge", "--confirm-site", &site.name])
        .expect(0);
    site.wait_gone("pv", &format!("{}-bitcoind", site.name));
    let namespace = site.kubectl(&[
        "get",
        "namespace",
        site.namespace(),
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert!(
        namespace.code != 0 || namespace.stdout == "Terminating",
        "{namespace:?}"
    );
    site.assert_nothing_leaked();
}

#[test]
fn ctrl_c_stops_waiting_and_reports_what_was_applied() {
    let Some(site) = Site::new("interrupt", "pi4-mainnet", "interrupt") else {
        return;
    };
    let output = site.interrupt_apply(&[], || {
        site.kubectl(&["get", "statefulset", "lnd", "-n", site.namespace()])
            .code
            == 0
    });
    let stderr = &output.stderr;
    assert_eq!(output.code, 2, "{stderr}");
    assert!(
        stderr.contains("stopped waiting (interrupted); everything was applied; not ready yet: ")
            && stderr.contains("StatefulSet/bitcoind ("),
        "{stderr}"
    );
    site.openlsp(&["diff"]).expect(0);
    assert!(
        site.kubectl(&["get", "lease", "openlsp-lock", "-n", site.namespace()])
            .code
            != 0
    );
}

mod connection;
mod crds;
mod stack;
mod state_safety;
mod terminal;
