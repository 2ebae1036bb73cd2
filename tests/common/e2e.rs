//! The harness of the tests against a real API server (tests/e2e): a `Site` that owns a copy
//! of an example profile under its own name and namespace, runs openlsp and kubectl against the
//! test server, plays the kubelet, and remembers everything openlsp printed for the leak
//! checks; plus the CustomResourceDefinitions those tests make, and the addon CRDs they share.
//! Every wait here polls what the server reports, with a deadline and a message that says what
//! never happened, because a busy machine makes every controller slow.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Output, Test};
use crate::common;

/// How long a wait for the server or its controllers may take before the test fails. Generous:
/// on a busy machine a controller can lag by many seconds, and a passing wait ends early.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// The real test API server's kubeconfig, or None after a skip.
pub fn test_cluster() -> Option<PathBuf> {
    kubectl_program()?;
    common::required_program("OPENLSP_TEST_KUBECONFIG", "the real API server")
}

/// The second test API server, which never gets the addon CRDs, or None after a skip.
pub fn bare_cluster() -> Option<PathBuf> {
    kubectl_program()?;
    common::required_program(
        "OPENLSP_TEST_KUBECONFIG_BARE",
        "the API server without addon CRDs",
    )
}

const KUBECTL: &str = "OPENLSP_TEST_KUBECTL";

/// The kubectl the tests check the server with: v1.20.2 like the server, built from the same
/// source by scripts/test-deps.sh. Never `kubectl` from PATH: a newer client would hide version
/// skew, and a fresh machine has none. None after a skip.
fn kubectl_program() -> Option<PathBuf> {
    common::required_program(KUBECTL, "kubectl of the test API server's version")
}

/// The path of the kubectl of [`kubectl_program`], which [`test_cluster`] and [`bare_cluster`]
/// checked for.
pub fn kubectl_path() -> PathBuf {
    std::env::var_os(KUBECTL)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{KUBECTL} is not set: get the kubeconfig from test_cluster()"))
}

/// A kubectl command against `kubeconfig`.
pub fn kubectl_command(kubeconfig: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(kubectl_path());
    command.arg("--kubeconfig").arg(kubeconfig);
    command
}

/// Runs kubectl against `kubeconfig`.
pub fn kubectl<I, S>(kubeconfig: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = kubectl_command(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub struct Site {
    pub test: Test,
    pub kubeconfig: PathBuf,
    pub name: String,
    pub profile: String,
    /// The fixed part of the name, `e2e-<suffix>`, for snapshots.
    stem: String,
    /// Every output openlsp printed, for the leak check.
    seen: Mutex<Vec<String>>,
}

const NAMESPACED: &str = "configmaps,secrets,services,statefulsets.apps,deployments.apps,persistentvolumeclaims,serviceaccounts,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,networkpolicies.networking.k8s.io";

/// An openlsp run in the background whose stderr is read as it comes, so a test can act at the
/// moment openlsp reports something (instead of guessing how long that takes).
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: [JoinHandle<()>; 2],
}

/// Copies what `pipe` gives into a buffer the test can read while the run goes on.
fn collect(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let shared = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&shared);
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = pipe.read(&mut buffer) {
            sink.lock().unwrap().extend_from_slice(&buffer[..read]);
        }
    });
    (shared, reader)
}

impl Running {
    fn start(mut child: Child) -> Self {
        let (stdout, stdout_reader) = collect(child.stdout.take().expect("stdout is piped"));
        let (stderr, stderr_reader) = collect(child.stderr.take().expect("stderr is piped"));
        Running {
            child,
            stdout,
            stderr,
            readers: [stdout_reader, stderr_reader],
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the run printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// What the run printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Waits until the run printed `text` on stderr; fails if it exits or takes too long first.
    pub fn wait_for_stderr(&mut self, text: &str) {
        self.wait_for_output(text, Self::stderr_so_far);
    }

    /// Waits until the run printed `text` on stdout; fails if it exits or takes too long first.
    pub fn wait_for_stdout(&mut self, text: &str) {
        self.wait_for_output(text, Self::stdout_so_far);
    }

    fn wait_for_output(&mut self, text: &str, so_far: fn(&Self) -> String) {
        common::wait_for(&format!("openlsp to print {text:?}"), PATIENCE, || {
            let shown = so_far(self);
            if shown.contains(text) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("openlsp exited ({status}) before printing {text:?}:\n{shown}");
            }
            Err(format!("printed so far:\n{shown}"))
        });
    }

    /// Sends SIGTERM, as Kubernetes does to stop a pod, and collects what the run printed.
    pub fn terminate(self) -> Output {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.finish()
    }

    /// Sends SIGINT, as Ctrl-C does, and collects what the run printed.
    fn interrupt(self) -> Output {
        std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.finish()
    }

    /// Waits for the run to end and collects what it printed.
    fn finish(mut self) -> Output {
        let status = self.child.wait().unwrap();
        for reader in self.readers {
            reader.join().unwrap();
        }
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        Output {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

impl Site {
    /// A copy of an example profile as site `e2e-<suffix>-<nonce>`, in a namespace of that
    /// name; None after a skip when there is no test server.
    pub fn new(example: &str, suffix: &str) -> Option<Self> {
        let kubeconfig = test_cluster()?;
        Some(Self::on(kubeconfig, example, suffix))
    }

    /// Like [`Site::new`], on the server of `kubeconfig`.
    pub fn on(kubeconfig: PathBuf, example: &str, suffix: &str) -> Self {
        let test = Test::new().with_example(example);
        // A random part keeps reruns against a long-lived cluster apart.
        let mut nonce = [0u8; 2];
        getrandom::fill(&mut nonce).unwrap();
        let stem = format!("e2e-{suffix}");
        let name = format!("{stem}-{}", hex::encode(nonce));
        let profile = format!("{example}.yaml");
        let site = Site {
            test,
            kubeconfig,
            name,
            profile,
            stem,
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
        site
    }

    /// Starts `apply --yes` with `extra` arguments, waits until it prints `marker` on stderr
    /// (a progress line of the step to interrupt), then sends SIGINT as Ctrl-C does.
    pub fn interrupt_apply(&self, extra: &[&str], marker: &str) -> Output {
        let mut running = self.spawn_apply(extra);
        running.wait_for_stderr(marker);
        self.interrupt(running)
    }

    /// Starts `openlsp <args>` on this site's profile and cluster in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut full = args.to_vec();
        full.extend(["-p", &self.profile, "--kubeconfig"]);
        full.push(self.kubeconfig.to_str().unwrap());
        Running::start(self.test.spawn(&full))
    }

    /// Starts `apply --yes --timeout 120s` with `extra` arguments in the background.
    pub fn spawn_apply(&self, extra: &[&str]) -> Running {
        let mut args = vec!["apply", "--yes", "--timeout", "120s"];
        args.extend_from_slice(extra);
        self.spawn(&args)
    }

    /// Starts `openlsp controller run` for this site's namespace only (its leader election
    /// Lease there too), as a local process against the test server, with `extra` arguments.
    pub fn spawn_controller(&self, extra: &[&str]) -> Running {
        self.spawn_controller_as(&self.kubeconfig, extra)
    }

    /// Like [`Site::spawn_controller`], with the credentials of `kubeconfig`.
    pub fn spawn_controller_as(&self, kubeconfig: &Path, extra: &[&str]) -> Running {
        let namespace = self.namespace();
        let mut args = vec![
            "controller",
            "run",
            "--namespace",
            namespace,
            "--watch-namespace",
            namespace,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Running::start(self.test.spawn(args))
    }

    /// Stops a spawned controller with SIGTERM and records what it printed.
    pub fn terminate(&self, running: Running) -> Output {
        let output = running.terminate();
        self.seen.lock().unwrap().push(output.all());
        output
    }

    /// Creates the site's namespace and its profile there as a Site custom resource (the Site
    /// CRD installed first), as `kubectl apply -f openlsp.yaml -n <namespace>` does.
    pub fn create_site_resource(&self) {
        site_crd(&self.kubeconfig);
        ensure_namespace(&self.kubeconfig, self.namespace());
        let path = self.site_resource_file();
        self.kubectl(&[
            "apply",
            "-n",
            self.namespace(),
            "-f",
            path.to_str().unwrap(),
        ])
        .expect(0);
    }

    /// The profile as JSON, for kubectl: it reads YAML 1.1, where the unquoted `off` the
    /// harness's YAML writer leaves is a boolean.
    pub fn site_resource_file(&self) -> PathBuf {
        let text = fs::read_to_string(self.test.path().join(&self.profile)).unwrap();
        let value: Value = serde_yaml::from_str(&text).unwrap();
        self.test.write("site.json", &value.to_string())
    }

    /// The Site custom resource as the server has it.
    pub fn site_resource(&self) -> Value {
        self.get_json(&["site", &self.name, "-n", self.namespace()])
    }

    /// Waits until the Site's condition `kind` has `status` for its current generation, and
    /// returns the Site.
    pub fn wait_site_condition(&self, kind: &str, status: &str) -> Value {
        common::wait_for(
            &format!("Site {} to report {kind}={status}", self.name),
            PATIENCE,
            || {
                let site = self.site_resource();
                let holds = site["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter().any(|c| {
                        c["type"] == kind
                            && c["status"] == status
                            && c["observedGeneration"] == site["metadata"]["generation"]
                    })
                });
                if holds {
                    Ok(site)
                } else {
                    Err(format!("status: {}", site["status"]))
                }
            },
        )
    }

    /// Sends SIGINT to a spawned run, as Ctrl-C does, and collects what it printed.
    pub fn interrupt(&self, running: Running) -> Output {
        let output = running.interrupt();
        self.seen.lock().unwrap().push(output.all());
        output
    }

    /// Waits for a spawned run to end and collects what it printed.
    pub fn finish(&self, running: Running) -> Output {
        let output = running.finish();
        self.seen.lock().unwrap().push(output.all());
        output
    }

    /// Records what a run outside [`Site::openlsp`] showed (a terminal session), for the leak
    /// checks.
    pub fn saw(&self, shown: &str) {
        self.seen.lock().unwrap().push(shown.to_owned());
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
    /// Once the controllers settle, a second apply plans nothing and writes nothing, and diff
    /// finds nothing and writes nothing; the resource versions it saw.
    #[track_caller]
    pub fn assert_reapply_is_a_no_op(&self) -> BTreeMap<String, String> {
        let before = self.settle();
        let again = self.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
        assert!(
            again
                .stdout
                .contains("0 to create, 0 to change, 0 to prune"),
            "{}",
            again.stdout
        );
        assert_eq!(self.resource_versions(), before, "a no-op apply wrote");
        self.openlsp(&["diff"]).expect(0);
        assert_eq!(self.resource_versions(), before, "diff wrote");
        before
    }

    /// Removes the node, and its name from the UIs that manage it.
    pub fn remove_lightning_node(&self, name: &str) {
        self.edit(|mut value| {
            value["spec"]["lightning"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["name"] != name);
            if let Some(apps) = value["spec"]["apps"].as_object_mut() {
                for app in apps.values_mut() {
                    if let Some(nodes) = app["nodes"].as_array_mut() {
                        nodes.retain(|n| n != name);
                    }
                }
            }
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

    /// The fixed part of the site's name, `e2e-<suffix>`, without the random part.
    pub fn stem(&self) -> &str {
        &self.stem
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

    /// The items of `kubectl get <kinds> -n <namespace>`.
    fn items(&self, kinds: &[&str]) -> Vec<Value> {
        let mut args = kinds.to_vec();
        args.extend(["-n", self.namespace()]);
        self.get_json(&args)["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["get", "-o", "json"];
        full.extend_from_slice(args);
        let output = self.kubectl(&full).expect(0);
        serde_json::from_str(&output.stdout).unwrap()
    }

    /// Key `key` of the live Secret `name`, decoded.
    pub fn live_secret(&self, name: &str, key: &str) -> Vec<u8> {
        let secret = self.get_json(&["secret", name, "-n", self.namespace()]);
        let encoded = secret["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no {key}"));
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap()
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

    /// Waits until controllers stop updating the objects: what they are known to write is
    /// written (claims bound to their volumes, every workload's status observed at its
    /// generation, every ServiceAccount given its token Secret), then no resourceVersion changes
    /// across three looks 2 s apart. A busy machine delays controllers, so this waits for what
    /// they do rather than for a quiet moment alone.
    pub fn settle(&self) -> BTreeMap<String, String> {
        common::wait_for("the site's controllers to catch up", PATIENCE, || {
            let mut pending = Vec::new();
            let name = |o: &Value| {
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            for claim in self.items(&["pvc"]) {
                if claim["status"]["phase"] != "Bound" {
                    pending.push(format!(
                        "claim {} is {}",
                        name(&claim),
                        claim["status"]["phase"]
                    ));
                }
            }
            for workload in self.items(&["statefulsets.apps,deployments.apps"]) {
                if workload["status"]["observedGeneration"] != workload["metadata"]["generation"] {
                    pending.push(format!(
                        "{} {} not observed yet",
                        workload["kind"],
                        name(&workload)
                    ));
                }
            }
            for account in self.items(&["serviceaccounts"]) {
                if account["secrets"].as_array().is_none_or(Vec::is_empty) {
                    pending.push(format!(
                        "ServiceAccount {} has no token yet",
                        name(&account)
                    ));
                }
            }
            if pending.is_empty() {
                Ok(())
            } else {
                Err(pending.join(", "))
            }
        });
        let mut previous = self.resource_versions();
        let mut quiet = 0;
        common::wait_for("the site's objects to settle", PATIENCE, || {
            std::thread::sleep(Duration::from_secs(2));
            let now = self.resource_versions();
            if now == previous {
                quiet += 1;
                if quiet == 2 {
                    return Ok(now);
                }
                return Err("quiet for one look".to_owned());
            }
            quiet = 0;
            let moved: Vec<&String> = now
                .keys()
                .filter(|k| previous.get(*k) != now.get(*k))
                .collect();
            let state = format!("still changing: {moved:?}");
            previous = now;
            Err(state)
        })
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

    /// Does what a kubelet would: reports the pods of the namespace whose name passes `wanted`
    /// running and ready. The whole pod goes back through its status subresource
    /// (`kubectl replace --raw`: the tests' kubectl v1.20.2 has no `patch --subresource`),
    /// without its resourceVersion, so a write in between is overwritten rather than refused.
    pub fn mark_pods_ready_where(&self, wanted: impl Fn(&str) -> bool) {
        let pods = self.get_json(&["pods", "-n", self.namespace()]);
        for mut pod in pods["items"].as_array().cloned().unwrap_or_default() {
            let name = pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !wanted(&name) {
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
            pod["kind"] = Value::String("Pod".into());
            pod["apiVersion"] = Value::String("v1".into());
            if let Some(metadata) = pod["metadata"].as_object_mut() {
                metadata.remove("resourceVersion");
            }
            pod["status"]["phase"] = Value::String("Running".into());
            pod["status"]["conditions"] = serde_json::json!([
                { "type": "Initialized", "status": "True" },
                { "type": "Ready", "status": "True" },
                { "type": "ContainersReady", "status": "True" },
                { "type": "PodScheduled", "status": "True" }
            ]);
            pod["status"]["containerStatuses"] = Value::Array(statuses);
            let file = self
                .test
                .write(&format!("kubelet/{name}.json"), &pod.to_string());
            let uri = format!("/api/v1/namespaces/{}/pods/{name}/status", self.namespace());
            self.kubectl(&["replace", "--raw", &uri, "-f", file.to_str().unwrap()]);
        }
    }

    /// Waits until StatefulSet `name` runs its current template everywhere and is ready.
    pub fn wait_rolled(&self, name: &str) {
        common::wait_for(&format!("{name} to roll"), PATIENCE, || {
            let sts = self.get_json(&["statefulset", name, "-n", self.namespace()]);
            let status = &sts["status"];
            let done = status["observedGeneration"].as_i64()
                >= sts["metadata"]["generation"].as_i64()
                && status["updatedReplicas"] == 1
                && status["readyReplicas"] == 1;
            if done {
                Ok(())
            } else {
                Err(status.to_string())
            }
        });
    }

    /// Waits until the object is gone (deletion waits for finalizers such as pvc-protection).
    pub fn wait_gone(&self, kind: &str, name: &str) {
        common::wait_for(&format!("{kind}/{name} to be deleted"), PATIENCE, || {
            let output = self.kubectl(&["get", kind, name, "-n", self.namespace()]);
            if output.code == 0 {
                Err(output.stdout.trim().to_owned())
            } else {
                Ok(())
            }
        });
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

    /// A hash of each of the site's Secrets' data, by name: proves a Secret unchanged without
    /// holding its value.
    pub fn secret_digests(&self) -> BTreeMap<String, String> {
        let selector = format!("applyset.kubernetes.io/part-of={}", self.applyset_id());
        let secrets = self.get_json(&["secrets", "-n", self.namespace(), "-l", &selector]);
        secrets["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let digest = Sha256::digest(s["data"].to_string().as_bytes());
                (
                    s["metadata"]["name"].as_str().unwrap().to_owned(),
                    hex::encode(digest),
                )
            })
            .collect()
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

/// Deletes cluster-scoped CustomResourceDefinitions a test made, whatever happened.
pub struct Crds {
    pub kubeconfig: PathBuf,
    pub names: Vec<String>,
}

impl Drop for Crds {
    fn drop(&mut self) {
        for name in &self.names {
            kubectl(
                &self.kubeconfig,
                ["delete", "crd", name, "--ignore-not-found", "--wait=false"],
            );
        }
    }
}

/// A CustomResourceDefinition with an open schema, as YAML.
pub fn crd(group: &str, plural: &str, kind: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{ kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {singular} }}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
",
        singular = plural.trim_end_matches('s')
    )
}

/// A `--templates` dir whose one extra site template renders `documents`.
pub fn templates(site: &Site, dir: &str, documents: &str) -> String {
    site.test
        .write(&format!("{dir}/site/zz-extra.yaml.j2"), documents);
    site.test.path().join(dir).to_str().unwrap().to_owned()
}

/// `kubectl apply -f` of `yaml`, written to `file` in the site's dir.
pub fn kubectl_apply(site: &Site, file: &str, yaml: &str) {
    let path = site.test.write(file, yaml);
    site.kubectl(&["apply", "-f", path.to_str().unwrap()])
        .expect(0);
}

/// Waits until the CustomResourceDefinition `name` reports the condition Established.
/// `kubectl wait --for condition=Established` is not enough: it fails at once ("<nil> is of the
/// type <nil>") when the server has not written the CRD's status yet, as on a busy machine.
pub fn wait_established(kubeconfig: &Path, name: &str) -> Result<(), String> {
    common::poll(
        &format!("CustomResourceDefinition {name} to be established"),
        PATIENCE,
        Duration::from_millis(250),
        || {
            let output = kubectl(kubeconfig, ["get", "crd", name, "-o", "json"]);
            if output.code != 0 {
                return Err(format!("kubectl get failed: {}", output.stderr.trim()));
            }
            let crd: Value = serde_json::from_str(&output.stdout).map_err(|e| e.to_string())?;
            let conditions = &crd["status"]["conditions"];
            let established = conditions.as_array().is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
            if established {
                Ok(())
            } else if conditions.is_null() {
                Err("no status conditions yet".to_owned())
            } else {
                Err(format!("conditions {conditions}"))
            }
        },
    )
}

/// The addon CRDs: `OPENLSP_TEST_CRDS`, else `../shared/crds` next to the repository. They are
/// not the project's to install, so when they are missing the test skips with the reason, even
/// under OPENLSP_TEST_REQUIRE_ALL (scripts/test.sh warns about it up front); the skip is counted
/// like any other.
fn addon_crd_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("OPENLSP_TEST_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("../shared/crds"));
    if dir.join("cert-manager").is_dir() && dir.join("prometheus-operator").is_dir() {
        return Some(dir);
    }
    common::skip::skip_outside_the_project(&format!(
        "the cert-manager and prometheus-operator CRDs are not in {} (set OPENLSP_TEST_CRDS to their directory)",
        dir.display()
    ));
    None
}

/// The outcome of installing the addon CRDs, shared by the tests that need them. A failure is
/// kept as its message, so each of those tests fails with it (a panic inside `Once` would
/// poison it and fail the others with an unrelated "poisoned" message).
static ADDON_CRDS: OnceLock<Result<(), String>> = OnceLock::new();

/// The addon CRDs the stack needs, installed once per test process on `kubeconfig` (the main
/// test server) and established; None after a skip when they are missing. Fails with the
/// shared fixture's own message when installing them failed, here or in an earlier test.
pub fn addon_crds(kubeconfig: &Path) -> Option<()> {
    let dir = addon_crd_dir()?;
    let installed = ADDON_CRDS.get_or_init(|| install_addon_crds(kubeconfig, &dir));
    if let Err(err) = installed {
        panic!("the shared fixture (addon CRDs) failed: {err}");
    }
    Some(())
}

fn install_addon_crds(kubeconfig: &Path, dir: &Path) -> Result<(), String> {
    for addon in ["cert-manager", "prometheus-operator"] {
        let path = dir.join(addon);
        let args = [
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            path.to_str().unwrap(),
        ];
        let output = kubectl(kubeconfig, args);
        if output.code != 0 {
            return Err(format!(
                "kubectl {} exited {}: {}",
                args.join(" "),
                output.code,
                output.stderr.trim()
            ));
        }
    }
    for crd in [
        "servicemonitors.monitoring.coreos.com",
        "podmonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
        "clusterissuers.cert-manager.io",
        "certificates.cert-manager.io",
    ] {
        wait_established(kubeconfig, crd)?;
    }
    Ok(())
}

static SITE_CRD: OnceLock<()> = OnceLock::new();

/// The Site CustomResourceDefinition, as `openlsp schema --crd` prints it, installed once per
/// test process on `kubeconfig` and established.
pub fn site_crd(kubeconfig: &Path) {
    SITE_CRD.get_or_init(|| {
        let test = Test::new();
        let crd = test.run(["schema", "--crd"]).expect(0).stdout;
        let path = test.write("site-crd.json", &crd);
        kubectl(
            kubeconfig,
            [
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                path.to_str().unwrap(),
            ],
        )
        .expect(0);
        wait_established(kubeconfig, "sites.openlsp.io").unwrap();
    });
}

/// The namespace microk8s' observability addon would have created.
pub fn ensure_namespace(kubeconfig: &Path, namespace: &str) {
    let exists = kubectl(kubeconfig, ["get", "namespace", namespace]).code == 0;
    if !exists {
        let created = kubectl(kubeconfig, ["create", "namespace", namespace]);
        assert!(
            created.code == 0 || created.stderr.contains("AlreadyExists"),
            "{created:?}"
        );
    }
}
