//! The real node of the test cluster (docs/testing.md): a site whose pods really run, and a
//! client pod to reach them from. The node has two cores and a site's pods request about one,
//! so the tests that run pods take turns (one lock in the test process), and each leaves the
//! node empty for the next: its namespace and volumes deleted and its pods gone, also when the
//! test failed.

use std::fs;
use std::io::Write as _;
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use serde_json::Value;

use super::Output;
use super::e2e::{self, PATIENCE, Site};
use crate::common;

/// Held by the test whose site is on the node.
static TURN: Mutex<()> = Mutex::new(());

/// The client pod's name in every site.
pub const TOOLBOX: &str = "toolbox";

/// A [`Site`] whose pods run on the real node; derefs to it.
pub struct NodeSite {
    site: Site,
    node: String,
    /// `OPENLSP_TEST_NODE_DISKS/<site name>`: the site's disks.
    disks: PathBuf,
    toolbox_image: String,
    toolbox: OnceLock<()>,
    /// Dropped last, after the clean-up.
    _turn: MutexGuard<'static, ()>,
}

impl Deref for NodeSite {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

/// The value of `var`, or None after a skip that says it is needed for the real node.
fn node_var(var: &str) -> Option<String> {
    common::required_program(var, "the real node that runs pods")
        .map(|value| value.to_string_lossy().into_owned())
}

impl NodeSite {
    /// A copy of example profile `example` as in [`Site::new`], edited by `change`, then put
    /// on the real node: `host.nodeName` is the node, and each disk a directory under
    /// OPENLSP_TEST_NODE_DISKS, with the data directories of the nodes whose disks are on it
    /// made as docs/operations.md says. Waits for the other tests' sites to leave the node.
    /// None after a skip, when there is no node.
    pub fn new(example: &str, suffix: &str, change: impl FnOnce(Value) -> Value) -> Option<Self> {
        let kubeconfig = e2e::test_cluster()?;
        let node = node_var("OPENLSP_TEST_NODE")?;
        let disks = node_var("OPENLSP_TEST_NODE_DISKS")?;
        let toolbox_image = node_var("OPENLSP_TEST_IMAGE_TOOLBOX")?;
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let site = Site::on(kubeconfig, example, suffix);
        let disks = Path::new(&disks).join(&site.name);
        site.edit(|value| {
            let mut value = change(value);
            value["spec"]["host"]["nodeName"] = Value::String(node.clone());
            if let Some(all) = value["spec"]["disks"].as_object_mut() {
                for (disk, spec) in all.iter_mut() {
                    spec["path"] = Value::String(disks.join(disk).to_str().unwrap().to_owned());
                }
            }
            value
        });
        let site = NodeSite {
            site,
            node,
            disks,
            toolbox_image,
            toolbox: OnceLock::new(),
            _turn: turn,
        };
        site.make_data_dirs();
        Some(site)
    }

    /// The node's name, as pods report it in `spec.nodeName`.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Where the site's disk `disk` is on this machine.
    pub fn disk_path(&self, disk: &str) -> PathBuf {
        self.disks.join(disk)
    }

    /// Makes `<disk path>/<node name>` of every volume on the node, owned by the uid its pod
    /// runs as, mode 0700 (docs/operations.md). The uid is read from the rendered pod, so the
    /// directories are what the pods need, not what this harness assumes.
    fn make_data_dirs(&self) {
        let docs = self.rendered();
        let of_kind = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
        for volume in of_kind("PersistentVolume") {
            let on_node = volume["spec"]["nodeAffinity"]
                .to_string()
                .contains(&format!("\"{}\"", self.node));
            if !on_node {
                continue;
            }
            let pv = &volume["metadata"]["name"];
            let claim = of_kind("PersistentVolumeClaim")
                .find(|c| &c["spec"]["volumeName"] == pv)
                .unwrap_or_else(|| panic!("no claim binds volume {pv}"));
            let claim = &claim["metadata"]["name"];
            let pod = of_kind("StatefulSet")
                .map(|s| &s["spec"]["template"]["spec"])
                .find(|pod| {
                    pod["volumes"].as_array().is_some_and(|volumes| {
                        volumes
                            .iter()
                            .any(|v| &v["persistentVolumeClaim"]["claimName"] == claim)
                    })
                })
                .unwrap_or_else(|| panic!("no StatefulSet mounts claim {claim}"));
            let uid = pod["securityContext"]["runAsUser"]
                .as_u64()
                .and_then(|uid| u32::try_from(uid).ok())
                .unwrap_or_else(|| panic!("the pod that mounts {claim} has no runAsUser"));
            let dir = PathBuf::from(volume["spec"]["local"]["path"].as_str().unwrap());
            assert!(
                dir.starts_with(&self.disks),
                "{} is not under the site's disks",
                dir.display()
            );
            fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap_or_else(|err| {
                panic!(
                    "chown {uid} {}: {err} (the data directories need root, as the node does)",
                    dir.display()
                )
            });
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        }
    }

    /// Pod `name` once it is Ready as the node's kubelet reports it (its own probes), on this
    /// node.
    pub fn wait_ready(&self, name: &str) -> Value {
        let pod = common::wait_for(&format!("pod {name} to be Ready"), PATIENCE, || {
            let output = self.kubectl(&["get", "pod", name, "-n", self.namespace(), "-o", "json"]);
            if output.code != 0 {
                return Err(output.stderr.trim().to_owned());
            }
            let pod: Value = serde_json::from_str(&output.stdout).map_err(|e| e.to_string())?;
            if is_ready(&pod) {
                Ok(pod)
            } else {
                Err(describe(&pod))
            }
        });
        assert_eq!(
            pod["spec"]["nodeName"],
            self.node.as_str(),
            "{name} runs elsewhere"
        );
        pod
    }

    /// The one pod whose labels match `selector`, once it is Ready (see [`Self::wait_ready`]).
    pub fn wait_ready_selected(&self, selector: &str) -> Value {
        let name = common::wait_for(&format!("one pod with {selector}"), PATIENCE, || {
            let pods = self.get_json(&["pods", "-n", self.namespace(), "-l", selector]);
            match pods["items"].as_array().map(Vec::as_slice) {
                Some([pod]) => Ok(pod["metadata"]["name"].as_str().unwrap().to_owned()),
                Some(pods) => Err(format!("{} pods", pods.len())),
                None => Err("no list".to_owned()),
            }
        });
        self.wait_ready(&name)
    }

    /// The uid of pod `name` (a new pod of a StatefulSet has the same name, not the same uid).
    pub fn pod_uid(&self, name: &str) -> String {
        let pod = self.get_json(&["pod", name, "-n", self.namespace()]);
        pod["metadata"]["uid"].as_str().unwrap().to_owned()
    }

    /// Runs `command` in `container` of pod `pod`.
    pub fn exec(&self, pod: &str, container: &str, command: &[&str]) -> Output {
        self.exec_with_input(pod, container, command, "")
    }

    /// Runs `command` in `container` of pod `pod` with `input` on its stdin: how values that must
    /// be on no command line (passwords) reach a pod.
    pub fn exec_with_input(
        &self,
        pod: &str,
        container: &str,
        command: &[&str],
        input: &str,
    ) -> Output {
        let mut child = e2e::kubectl_command(&self.kubeconfig)
            .args([
                "exec",
                "-i",
                "-n",
                self.namespace(),
                pod,
                "-c",
                container,
                "--",
            ])
            .args(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The client pod (OPENLSP_TEST_IMAGE_TOOLBOX: bash, curl, nc, getent) in the site's
    /// namespace, started on first use; its name.
    pub fn toolbox(&self) -> &'static str {
        self.toolbox.get_or_init(|| {
            // bash waits for sleep and exits on SIGTERM, so deleting the pod takes no grace
            // period (kube-apiserver 1.20's namespace deletion may hand it another pod's 600 s).
            let manifest = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": { "name": TOOLBOX, "namespace": self.namespace() },
                "spec": {
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{
                        "name": TOOLBOX,
                        "image": self.toolbox_image,
                        "imagePullPolicy": "Never",
                        "command": ["bash", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
                        "securityContext": {
                            "runAsUser": 65534, "runAsGroup": 65534, "runAsNonRoot": true,
                            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                            "capabilities": { "drop": ["ALL"] }
                        }
                    }]
                }
            });
            e2e::kubectl_apply(self, "toolbox.json", &manifest.to_string());
            self.wait_ready(TOOLBOX);
        });
        TOOLBOX
    }

    /// One JSON-RPC call from the client pod to bitcoind at `address` (`host:port`) as
    /// `user`: the HTTP status and the body. The credentials reach curl on its stdin. Tried
    /// again while the address does not resolve or connect (curl's exit 6, 7, 28): after a
    /// roll, cluster DNS follows the new pod once its endpoint is ready.
    pub fn rpc(&self, address: &str, user: &str, password: &str, method: &str) -> (u16, String) {
        let toolbox = self.toolbox();
        let quoted = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
        let config = format!("user = \"{}:{}\"\n", quoted(user), quoted(password));
        let body = format!(r#"{{"jsonrpc":"1.0","id":"test","method":"{method}","params":[]}}"#);
        let url = format!("http://{address}/");
        let curl = [
            "curl",
            "-sS",
            "--connect-timeout",
            "5",
            "--max-time",
            "30",
            "-K",
            "-",
            "-H",
            "content-type: text/plain;",
            "--data-binary",
            &body,
            "-w",
            "\n%{http_code}",
            &url,
        ];
        let output = common::wait_for(
            &format!("bitcoind at {address} to answer"),
            PATIENCE,
            || {
                let output = self.exec_with_input(toolbox, TOOLBOX, &curl, &config);
                match output.code {
                    0 => Ok(output),
                    6 | 7 | 28 => Err(output.stderr),
                    _ => panic!("curl {url} failed: {output:?}"),
                }
            },
        );
        let (body, status) = output.stdout.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), body.to_owned())
    }

    /// Deletes the site's namespace and volumes with kubectl (not with openlsp, which may be
    /// what failed), waits until its pods and volumes are gone, and removes its disks. The
    /// namespace itself may take minutes longer: kube-controller-manager 1.20 checks it again
    /// only after the longest grace period of the pods it deleted (bitcoind's 600 s).
    fn clean_up(&self) -> Result<(), String> {
        let namespace = self.namespace();
        self.kubectl(&[
            "delete",
            "namespace",
            namespace,
            "--wait=false",
            "--ignore-not-found",
        ]);
        let selector = format!("applyset.kubernetes.io/part-of={}", self.applyset_id());
        self.kubectl(&["delete", "pv", "-l", &selector, "--wait=false"]);
        common::poll(
            &format!("the pods and volumes of {namespace} to be deleted"),
            PATIENCE,
            std::time::Duration::from_secs(1),
            || {
                let pods = self.kubectl(&["get", "pods", "-n", namespace, "-o", "name"]);
                let volumes = self.kubectl(&["get", "pv", "-l", &selector, "-o", "name"]);
                let left = format!("{}{}", pods.stdout.trim(), volumes.stdout.trim());
                if pods.code == 0 && volumes.code == 0 && left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("pods: {pods:?}, volumes: {volumes:?}"))
                }
            },
        )?;
        // The kubelet deletes a pod only once its volumes are unmounted.
        if self.disks.exists() {
            fs::remove_dir_all(&self.disks)
                .map_err(|err| format!("removing {}: {err}", self.disks.display()))?;
        }
        Ok(())
    }
}

impl Drop for NodeSite {
    fn drop(&mut self) {
        if let Err(err) = self.clean_up()
            && !std::thread::panicking()
        {
            panic!("the site did not leave the node: {err}");
        }
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// A pod's phase and each container's state, for a wait's message.
fn describe(pod: &Value) -> String {
    let mut states = vec![format!("phase {}", pod["status"]["phase"])];
    for list in ["initContainerStatuses", "containerStatuses"] {
        for status in pod["status"][list].as_array().into_iter().flatten() {
            states.push(format!("{}: {}", status["name"], status["state"]));
        }
    }
    states.join(", ")
}
