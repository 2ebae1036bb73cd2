//! How a running site is doing, from what the API server reports: per component its pods ready
//! and restarts, and why a pod waits, in words with the next step (an image that cannot be
//! pulled, a crash loop, a container killed for memory, a claim with no disk, a pod no node
//! takes, a failing probe); the last apply or reconcile, and the Site's conditions when the
//! controller manages it. Pure: `status` reads the objects, this reads them.
//!
//! The channel backups' ages come from the cluster copy Secrets ([`channel_backups`]), and each
//! bitcoind's sync state from the monitoring addon's Prometheus ([`chain_sync`]).

use serde_json::Value;

/// One workload and its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentHealth {
    /// `StatefulSet/lnd`
    pub name: String,
    pub ready: usize,
    pub wanted: usize,
    pub restarts: u64,
    pub problems: Vec<Finding>,
}

/// Something wrong, in words, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
    pub next: String,
}

/// What `status` reports.
#[derive(Debug, Default)]
pub struct Health {
    pub components: Vec<ComponentHealth>,
    /// (onion service, address)
    pub onions: Vec<(String, String)>,
    /// The last write, in words (`2026-12-02T10:00:00Z by openlsp apply`).
    pub last_write: Option<String>,
    /// The Site's conditions (`Ready=True (Reconciled): …`), when a Site manages the namespace.
    pub conditions: Vec<String>,
    /// Whether the Site reports itself Degraded.
    pub site_degraded: bool,
    /// Each LND node's channel backup: its latest change and each target's last verified copy.
    pub backups: Vec<String>,
    /// Each bitcoind's sync state, when monitoring is on and Prometheus answered.
    pub chain: Vec<String>,
}

impl Health {
    pub fn healthy(&self) -> bool {
        !self.components.is_empty()
            && !self.site_degraded
            && self
                .components
                .iter()
                .all(|c| c.ready >= c.wanted && c.problems.is_empty())
    }

    /// The one line at the end.
    pub fn summary(&self) -> String {
        let not_ready: Vec<&str> = self
            .components
            .iter()
            .filter(|c| c.ready < c.wanted || !c.problems.is_empty())
            .map(|c| c.name.as_str())
            .collect();
        if self.components.is_empty() {
            "degraded: none of the site's workloads is in the cluster; openlsp apply (or the controller) creates them".to_owned()
        } else if self.healthy() {
            format!("healthy: all {} components ready", self.components.len())
        } else if not_ready.is_empty() {
            "degraded: the Site reports Degraded (see its conditions above)".to_owned()
        } else {
            format!(
                "degraded: {} of {} components not ready: {}",
                not_ready.len(),
                self.components.len(),
                not_ready.join(", ")
            )
        }
    }
}

/// What the namespace holds, as the API server returned it.
pub struct Observed<'a> {
    pub namespace: &'a str,
    /// The site's StatefulSets and Deployments.
    pub workloads: &'a [Value],
    pub pods: &'a [Value],
    pub claims: &'a [Value],
    pub volumes: &'a [Value],
    /// The ApplySet parent Secret, with its managedFields.
    pub parent: Option<&'a Value>,
    /// The Site that manages the namespace, if one does.
    pub site: Option<&'a Value>,
}

pub fn assess(observed: &Observed<'_>, onions: Vec<(String, String)>) -> Health {
    let components = observed
        .workloads
        .iter()
        .map(|workload| component(observed, workload))
        .collect();
    let conditions = observed
        .site
        .and_then(|site| site["status"]["conditions"].as_array())
        .map(|conditions| {
            conditions
                .iter()
                .map(|c| {
                    format!(
                        "{}={} ({}): {}",
                        text(&c["type"]),
                        text(&c["status"]),
                        text(&c["reason"]),
                        text(&c["message"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let site_degraded = observed
        .site
        .and_then(|site| site["status"]["conditions"].as_array())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Degraded" && c["status"] == "True")
        });
    Health {
        components,
        onions,
        last_write: observed.parent.and_then(last_write),
        conditions,
        site_degraded,
        backups: Vec::new(),
        chain: Vec::new(),
    }
}

/// The metrics [`chain_sync`] reads: the exporter's block count and verification progress
/// (jvstein/bitcoin-prometheus-exporter) and the header count of openlsp's `headers` container.
pub const CHAIN_METRICS: [&str; 3] = [
    "bitcoin_blocks",
    "bitcoin_headers",
    "bitcoin_verification_progress",
];

/// At or above this verification progress, and with every header's block, a bitcoind is synced
/// (the BitcoindNotSynced alert's threshold).
const SYNCED_PROGRESS: f64 = 0.9999;

/// One line per bitcoind in `nodes` (the node, and its exporter's Service, which is the `service`
/// label of its metrics) that Prometheus's answer to an instant query for [`CHAIN_METRICS`] has
/// a block count for: synced at which block, or how far it is.
pub fn chain_sync(nodes: &[(String, String)], answer: &Value) -> Vec<String> {
    let series = answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let latest = |service: &str, metric: &str| -> Option<f64> {
        series
            .iter()
            .filter(|s| s["metric"]["service"] == service && s["metric"]["__name__"] == metric)
            .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .reduce(f64::max)
    };
    let mut lines = Vec::new();
    for (node, service) in nodes {
        let Some(blocks) = latest(service, "bitcoin_blocks") else {
            continue;
        };
        let headers = latest(service, "bitcoin_headers");
        let progress = latest(service, "bitcoin_verification_progress");
        let blocks = blocks as u64;
        let headers = headers.map(|h| h as u64);
        let caught_up = headers.is_none_or(|h| blocks >= h);
        let verified = progress.map(|p| format!(" ({:.2}% verified)", p * 100.0));
        let line = match (progress, headers) {
            (Some(p), _) if p >= SYNCED_PROGRESS && caught_up => {
                format!("{node}: synced at block {blocks}")
            }
            (_, Some(h)) if blocks < h => format!(
                "{node}: syncing, block {blocks} of {h} ({} to go){}",
                h - blocks,
                verified.unwrap_or_default()
            ),
            _ => format!(
                "{node}: syncing, block {blocks}{}",
                verified.unwrap_or_default()
            ),
        };
        lines.push(line);
    }
    lines
}

/// One line per Lightning node in `nodes` (its name and backup file): when its channel backup
/// last changed and when each of `targets` last verified a copy, with `backup status`'s
/// verdict, from the cluster copy Secret among `secrets` that the node's pod publishes, at
/// `now` (unix seconds).
pub fn channel_backups(
    nodes: &[(String, &str)],
    targets: &[String],
    secrets: &[Value],
    now: i64,
) -> Vec<String> {
    use crate::channel_backup::{age, judge, parse_status};
    use crate::plan::names;
    let decoded = |secret: &Value, key: &str| {
        use base64::Engine as _;
        secret["data"][key]
            .as_str()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
    };
    nodes
        .iter()
        .map(|(node, file)| {
            let name = names::scb_secret(node);
            let secret = secrets
                .iter()
                .find(|s| s["metadata"]["name"] == name.as_str());
            let backup = secret.and_then(|s| decoded(s, file));
            let Some(backup) = backup else {
                return format!(
                    "{node}: no channel backup yet (the node writes {file} once it runs)"
                );
            };
            let status = secret
                .and_then(|s| decoded(s, names::SCB_STATUS_KEY))
                .map(|text| parse_status(&String::from_utf8_lossy(&text)));
            let mut parts = vec![match status.as_ref().and_then(|s| s.source.as_ref()) {
                Some((_, changed)) => format!("last change {} ago", age(now - changed)),
                None => "last change not reported yet".to_owned(),
            }];
            for report in judge(targets, Some(&backup), status.as_ref(), now) {
                parts.push(match report.verified {
                    Some(at) => format!(
                        "{} verified {} ago ({})",
                        report.target,
                        age(now - at),
                        report.verdict.word()
                    ),
                    None => format!(
                        "{} never verified ({})",
                        report.target,
                        report.verdict.word()
                    ),
                });
            }
            if targets.is_empty() {
                parts.push(
                    "no backup target: only the cluster holds it (docs/backup.md)".to_owned(),
                );
            }
            format!("{node}: {}", parts.join(", "))
        })
        .collect()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The newest write of the ApplySet parent by openlsp (every apply and reconcile writes it).
fn last_write(parent: &Value) -> Option<String> {
    parent["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .filter_map(|entry| {
            let by = match text(&entry["manager"]) {
                "openlsp" => "openlsp apply",
                "openlsp-controller" => "the openlsp controller",
                _ => return None,
            };
            Some((text(&entry["time"]).to_owned(), by))
        })
        .max()
        .map(|(time, by)| format!("{time} by {by}"))
}

fn component(observed: &Observed<'_>, workload: &Value) -> ComponentHealth {
    let name = format!(
        "{}/{}",
        text(&workload["kind"]),
        text(&workload["metadata"]["name"])
    );
    let selector = workload["spec"]["selector"]["matchLabels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let pods: Vec<&Value> = observed
        .pods
        .iter()
        .filter(|pod| {
            !selector.is_empty()
                && selector
                    .iter()
                    .all(|(key, value)| pod["metadata"]["labels"][key] == *value)
        })
        .collect();
    let wanted = workload["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let mut ready = 0;
    let mut restarts = 0;
    let mut problems = Vec::new();
    for pod in &pods {
        let statuses: Vec<&Value> = ["initContainerStatuses", "containerStatuses"]
            .iter()
            .filter_map(|key| pod["status"][key].as_array())
            .flatten()
            .collect();
        restarts += statuses
            .iter()
            .map(|s| s["restartCount"].as_u64().unwrap_or(0))
            .sum::<u64>();
        if condition_true(pod, "Ready") {
            ready += 1;
        }
        problems.extend(pod_problems(observed, pod, &statuses));
    }
    if pods.is_empty() && wanted > 0 {
        problems.push(Finding {
            what: "no pods yet".to_owned(),
            next: format!(
                "kubectl describe {} -n {} shows why",
                name.to_lowercase(),
                observed.namespace
            ),
        });
    }
    ComponentHealth {
        name,
        ready,
        wanted,
        restarts,
        problems,
    }
}

fn condition_true(pod: &Value, kind: &str) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// Why one pod is not ready, each with the next step.
fn pod_problems(observed: &Observed<'_>, pod: &Value, statuses: &[&Value]) -> Vec<Finding> {
    let ns = observed.namespace;
    let pod_name = text(&pod["metadata"]["name"]);
    let describe = format!("kubectl describe pod {pod_name} -n {ns}");
    let mut found = Vec::new();
    for status in statuses {
        let container = text(&status["name"]);
        let restarts = status["restartCount"].as_u64().unwrap_or(0);
        let waiting = &status["state"]["waiting"];
        let reason = text(&waiting["reason"]);
        let image = text(&status["image"]);
        let oom = status["lastState"]["terminated"]["reason"] == "OOMKilled"
            || status["state"]["terminated"]["reason"] == "OOMKilled";
        if oom {
            found.push(Finding {
                what: format!(
                    "{pod_name}: container {container} was killed for using more memory than its limit (OOMKilled)"
                ),
                next: "raise its memory in the profile (resources: { memory: … }), or give the host more; then openlsp apply".to_owned(),
            });
        }
        match reason {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => found.push(Finding {
                what: format!(
                    "{pod_name}: container {container} cannot pull its image {image} ({reason})"
                ),
                next: format!(
                    "check that the node reaches the registry and that the image exists for its architecture; {describe} shows the pull error"
                ),
            }),
            "CrashLoopBackOff" if !oom => found.push(Finding {
                what: format!(
                    "{pod_name}: container {container} keeps crashing (CrashLoopBackOff, restarted {restarts} times)"
                ),
                next: format!("kubectl logs {pod_name} -c {container} -n {ns} --previous shows why"),
            }),
            "CreateContainerConfigError" | "CreateContainerError" => found.push(Finding {
                what: format!(
                    "{pod_name}: container {container} cannot start: {}",
                    text(&waiting["message"])
                ),
                next: describe.clone(),
            }),
            _ => {}
        }
        let running = status["state"]["running"].is_object();
        if running && status["ready"] == false && !oom {
            found.push(Finding {
                what: format!(
                    "{pod_name}: container {container} runs but is not ready: its readiness probe fails"
                ),
                next: format!(
                    "kubectl logs {pod_name} -c {container} -n {ns}; the probe's last failure is in {describe}"
                ),
            });
        }
    }
    if text(&pod["status"]["phase"]) == "Pending" {
        found.extend(pending_claims(observed, pod));
        let unschedulable = pod["status"]["conditions"].as_array().and_then(|c| {
            c.iter().find(|c| {
                c["type"] == "PodScheduled"
                    && c["status"] == "False"
                    && c["reason"] == "Unschedulable"
            })
        });
        if let Some(condition) = unschedulable {
            found.push(Finding {
                what: format!(
                    "{pod_name}: no node can run it: {}",
                    text(&condition["message"])
                ),
                next: "check host.nodeName in the profile against kubectl get nodes, and that the node has the CPU and memory the profile asks for".to_owned(),
            });
        }
    }
    found
}

/// The pod's claims that are not bound yet, with the host path their volume wants.
fn pending_claims(observed: &Observed<'_>, pod: &Value) -> Vec<Finding> {
    let pod_name = text(&pod["metadata"]["name"]);
    let claims = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|volume| volume["persistentVolumeClaim"]["claimName"].as_str());
    let mut found = Vec::new();
    for claim_name in claims {
        let Some(claim) = observed
            .claims
            .iter()
            .find(|c| c["metadata"]["name"] == claim_name)
        else {
            continue;
        };
        if claim["status"]["phase"] == "Bound" {
            continue;
        }
        let volume_name = text(&claim["spec"]["volumeName"]);
        let volume = observed
            .volumes
            .iter()
            .find(|v| v["metadata"]["name"] == volume_name);
        let path = volume.and_then(|v| {
            v["spec"]["local"]["path"]
                .as_str()
                .or_else(|| v["spec"]["hostPath"]["path"].as_str())
        });
        let released = volume.is_some_and(|v| v["status"]["phase"] == "Released");
        let next = match path {
            Some(path) if released => format!(
                "its volume {volume_name} is Released: it still names the claim that was deleted, and its data is still in {path}; kubectl patch pv {volume_name} --type=json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]' lets the new claim bind it"
            ),
            Some(path) => format!(
                "is the disk path {path} missing on the host? Create it (and mount the disk there), then the claim binds by itself"
            ),
            None => format!(
                "kubectl describe pvc {claim_name} -n {} shows why",
                observed.namespace
            ),
        };
        found.push(Finding {
            what: format!(
                "{pod_name}: its volume claim {claim_name} is {}",
                claim["status"]["phase"].as_str().unwrap_or("Pending")
            ),
            next,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workload() -> Value {
        json!({ "kind": "StatefulSet", "metadata": { "name": "lnd" },
                "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "lnd" } } } })
    }

    fn pod(status: Value) -> Value {
        json!({ "metadata": { "name": "lnd-0", "labels": { "app": "lnd" } },
                "spec": { "volumes": [ { "name": "data", "persistentVolumeClaim": { "claimName": "lnd-data" } } ] },
                "status": status })
    }

    fn health_of(pods: &[Value], claims: &[Value], volumes: &[Value]) -> Health {
        let workloads = [workload()];
        assess(
            &Observed {
                namespace: "home",
                workloads: &workloads,
                pods,
                claims,
                volumes,
                parent: None,
                site: None,
            },
            Vec::new(),
        )
    }

    #[test]
    fn an_oom_killed_crash_loop_says_memory_not_logs() {
        let status = json!({ "phase": "Running", "containerStatuses": [ {
            "name": "lnd", "restartCount": 4, "ready": false, "image": "lnd:1",
            "state": { "waiting": { "reason": "CrashLoopBackOff" } },
            "lastState": { "terminated": { "reason": "OOMKilled" } } } ] });
        let health = health_of(&[pod(status)], &[], &[]);
        let lnd = &health.components[0];
        assert_eq!((lnd.ready, lnd.wanted, lnd.restarts), (0, 1, 4));
        assert_eq!(lnd.problems.len(), 1, "{:?}", lnd.problems);
        assert!(lnd.problems[0].what.contains("OOMKilled"));
        assert!(lnd.problems[0].next.contains("memory"));
        assert!(!health.healthy());
        assert_eq!(
            health.summary(),
            "degraded: 1 of 1 components not ready: StatefulSet/lnd"
        );
    }

    #[test]
    fn a_site_not_applied_yet_is_not_healthy() {
        let health = assess(
            &Observed {
                namespace: "home",
                workloads: &[],
                pods: &[],
                claims: &[],
                volumes: &[],
                parent: None,
                site: None,
            },
            Vec::new(),
        );
        assert!(!health.healthy());
        assert!(
            health.summary().contains("openlsp apply"),
            "{}",
            health.summary()
        );
    }

    #[test]
    fn a_running_container_that_is_not_ready_points_at_its_probe() {
        let status = json!({ "phase": "Running", "containerStatuses": [ {
            "name": "lnd", "restartCount": 0, "ready": false, "state": { "running": {} } } ] });
        let health = health_of(&[pod(status)], &[], &[]);
        let finding = &health.components[0].problems[0];
        assert!(
            finding.what.contains("readiness probe fails"),
            "{finding:?}"
        );
        assert!(
            finding.next.contains("kubectl describe pod lnd-0 -n home"),
            "{finding:?}"
        );
    }

    #[test]
    fn a_pending_claim_names_the_disk_path() {
        let status = json!({ "phase": "Pending" });
        let claims = [
            json!({ "metadata": { "name": "lnd-data" }, "spec": { "volumeName": "home-lnd" },
                             "status": { "phase": "Pending" } }),
        ];
        let volumes = [
            json!({ "metadata": { "name": "home-lnd" }, "spec": { "local": { "path": "/mnt/ssd/lnd" } } }),
        ];
        let health = health_of(&[pod(status)], &claims, &volumes);
        let finding = &health.components[0].problems[0];
        assert!(finding.what.contains("lnd-data is Pending"), "{finding:?}");
        assert!(
            finding.next.contains("/mnt/ssd/lnd missing on the host"),
            "{finding:?}"
        );
    }

    #[test]
    fn a_ready_pod_is_healthy_and_a_degraded_site_is_not() {
        let status = json!({ "phase": "Running",
            "conditions": [ { "type": "Ready", "status": "True" } ],
            "containerStatuses": [ { "name": "lnd", "restartCount": 1, "ready": true,
                                      "state": { "running": {} } } ] });
        let health = health_of(&[pod(status.clone())], &[], &[]);
        assert!(health.healthy(), "{:?}", health.components);
        assert_eq!(health.components[0].restarts, 1);
        let site = json!({ "status": { "conditions": [
            { "type": "Degraded", "status": "True", "reason": "InvalidSpec", "message": "spec.x: bad" } ] } });
        let workloads = [workload()];
        let pods = [pod(status)];
        let degraded = assess(
            &Observed {
                namespace: "home",
                workloads: &workloads,
                pods: &pods,
                claims: &[],
                volumes: &[],
                parent: None,
                site: Some(&site),
            },
            Vec::new(),
        );
        assert!(!degraded.healthy());
        assert_eq!(
            degraded.conditions,
            ["Degraded=True (InvalidSpec): spec.x: bad"]
        );
    }

    #[test]
    fn channel_backups_give_the_latest_change_and_each_targets_age_and_verdict() {
        use base64::Engine as _;
        let b64 = |text: &[u8]| base64::engine::general_purpose::STANDARD.encode(text);
        let backup: Vec<u8> = (0..100u8).collect();
        let sha = crate::channel_backup::sha256_hex(&backup);
        let now = 1_000_000;
        let status = format!(
            "source {sha} {}\ntarget usb {sha} {} 0 \n",
            now - 600,
            now - 120
        );
        let secrets = vec![
            json!({ "metadata": { "name": "lnd-scb" }, "data": {
                "channel.backup": b64(&backup), "status": b64(status.as_bytes()) } }),
            json!({ "metadata": { "name": "cln-scb" }, "data": {
                "emergency.recover": b64(&backup), "status": b64(status.as_bytes()) } }),
        ];
        let targets = vec!["usb".to_owned(), "nas".to_owned()];
        let nodes = vec![
            ("lnd".to_owned(), "channel.backup"),
            ("lnd2".to_owned(), "channel.backup"),
            ("cln".to_owned(), "emergency.recover"),
        ];
        assert_eq!(
            channel_backups(&nodes, &targets, &secrets, now),
            vec![
                "lnd: last change 10m ago, usb verified 2m ago (fresh), nas never verified (stale)"
                    .to_owned(),
                "lnd2: no channel backup yet (the node writes channel.backup once it runs)"
                    .to_owned(),
                "cln: last change 10m ago, usb verified 2m ago (fresh), nas never verified (stale)"
                    .to_owned(),
            ]
        );
        assert_eq!(
            channel_backups(&nodes[..1], &[], &secrets, now),
            vec![
                "lnd: last change 10m ago, no backup target: only the cluster holds it (docs/backup.md)"
                    .to_owned()
            ]
        );
    }

    fn sample(service: &str, metric: &str, value: &str) -> Value {
        json!({ "metric": { "__name__": metric, "service": service, "namespace": "site" },
                "value": [1_796_000_000.5, value] })
    }

    #[test]
    fn chain_sync_says_synced_or_how_far_and_leaves_out_nodes_prometheus_has_nothing_for() {
        let nodes: Vec<(String, String)> = ["main", "second", "third", "fourth"]
            .iter()
            .map(|n| (n.to_string(), format!("{n}-exporter")))
            .collect();
        let answer = json!({ "status": "success", "data": { "resultType": "vector", "result": [
            sample("main-exporter", "bitcoin_blocks", "871234"),
            sample("main-exporter", "bitcoin_headers", "871234"),
            sample("main-exporter", "bitcoin_verification_progress", "0.99999871"),
            sample("second-exporter", "bitcoin_blocks", "500000"),
            sample("second-exporter", "bitcoin_headers", "871234"),
            sample("second-exporter", "bitcoin_verification_progress", "0.4521"),
            // A restarted exporter's older series is still in the lookback window.
            sample("second-exporter", "bitcoin_blocks", "499000"),
            // No headers container answer yet: the block count and progress alone.
            sample("third-exporter", "bitcoin_blocks", "12"),
            sample("third-exporter", "bitcoin_verification_progress", "0.0001"),
            sample("another-site-exporter", "bitcoin_blocks", "1"),
            sample("main-exporter", "bitcoin_blocks", "NaN"),
        ] } });
        assert_eq!(
            chain_sync(&nodes, &answer),
            [
                "main: synced at block 871234",
                "second: syncing, block 500000 of 871234 (371234 to go) (45.21% verified)",
                "third: syncing, block 12 (0.01% verified)",
            ]
        );
        assert!(chain_sync(&nodes, &json!({ "status": "error" })).is_empty());
    }
}
