//! A Site's status from what a reconcile did and saw: conditions `Ready`, `Progressing` and
//! `Degraded` with reasons, `observedGeneration`, per-component readiness, onion addresses and
//! the last write. Pure, and the same inputs give the same status, so a converged site's
//! status is not written again (a write would wake the controller for nothing).

use serde_json::{Map, Value, json};

use crate::deploy::Report;

/// One workload's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub kind: String,
    pub ready: bool,
    pub message: String,
}

/// What a reconcile saw of the running site.
#[derive(Debug, Default)]
pub struct Observed {
    pub components: Vec<Component>,
    /// (onion service, address)
    pub onions: Vec<(String, String)>,
}

/// What one reconcile did and saw.
#[derive(Debug, Default)]
pub struct Reconciled {
    pub report: Report,
    /// Secret values generated into the cluster (state paths, never values).
    pub generated: Vec<String>,
    pub observed: Observed,
}

impl Reconciled {
    pub fn wrote(&self) -> bool {
        !(self.report.created.is_empty()
            && self.report.changed.is_empty()
            && self.report.pruned.is_empty())
    }
}

/// How a reconcile ended, for the status.
pub enum Ending<'a> {
    Reconciled(&'a Reconciled),
    /// A status reason (`InvalidSpec`, …) and the message, which names the field path.
    Failed {
        reason: &'a str,
        message: String,
    },
}

/// The status after a reconcile of generation `generation`; `previous` is the status the Site
/// had (conditions keep their transition times while their status holds), `now` an RFC 3339
/// time.
pub fn site_status(previous: &Value, generation: i64, ending: &Ending<'_>, now: &str) -> Value {
    let mut status = previous.as_object().cloned().unwrap_or_default();
    status.insert("observedGeneration".into(), json!(generation));
    let conditions = match ending {
        Ending::Reconciled(done) => {
            status.insert("components".into(), components(&done.observed));
            status.insert("onionAddresses".into(), onions(&done.observed));
            if done.wrote() {
                status.insert(
                    "lastApplied".into(),
                    json!({ "time": now, "generation": generation, "summary": done.report.describe() }),
                );
            }
            reconciled_conditions(done)
        }
        Ending::Failed { reason, message } => [
            ("Ready", false, *reason, message.clone()),
            (
                "Progressing",
                false,
                *reason,
                "nothing was changed".to_owned(),
            ),
            ("Degraded", true, *reason, message.clone()),
        ],
    };
    let before = previous["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let conditions: Vec<Value> = conditions
        .into_iter()
        .map(|(kind, holds, reason, message)| {
            let status_word = if holds { "True" } else { "False" };
            let since = before
                .iter()
                .find(|c| c["type"] == kind && c["status"] == status_word)
                .and_then(|c| c["lastTransitionTime"].as_str())
                .unwrap_or(now);
            json!({
                "type": kind,
                "status": status_word,
                "reason": reason,
                "message": message,
                "observedGeneration": generation,
                "lastTransitionTime": since,
            })
        })
        .collect();
    status.insert("conditions".into(), Value::Array(conditions));
    Value::Object(status)
}

type Condition = (&'static str, bool, &'static str, String);

fn reconciled_conditions(done: &Reconciled) -> [Condition; 3] {
    let waiting: Vec<String> = done
        .observed
        .components
        .iter()
        .filter(|c| !c.ready)
        .map(|c| format!("{} {} ({})", c.kind, c.name, c.message))
        .collect();
    if let Some(stage) = done.report.stopped_before {
        let message = format!(
            "stopped before stage {} ({stage:?}) to shut down; the next reconcile finishes it",
            stage.number()
        );
        return [
            ("Ready", false, "Interrupted", message.clone()),
            ("Progressing", true, "Interrupted", message),
            (
                "Degraded",
                false,
                "Reconciled",
                "the site matches the Site".to_owned(),
            ),
        ];
    }
    let applied = "the cluster matches the Site".to_owned();
    if waiting.is_empty() {
        let ready = format!(
            "all {} components are ready",
            done.observed.components.len()
        );
        [
            ("Ready", true, "Reconciled", ready),
            ("Progressing", false, "Reconciled", applied.clone()),
            ("Degraded", false, "Reconciled", applied),
        ]
    } else {
        let message = format!("waiting for {}", waiting.join(", "));
        [
            ("Ready", false, "ComponentsNotReady", message.clone()),
            ("Progressing", true, "RollingOut", message),
            ("Degraded", false, "Reconciled", applied),
        ]
    }
}

fn components(observed: &Observed) -> Value {
    Value::Array(
        observed
            .components
            .iter()
            .map(|c| json!({ "name": c.name, "kind": c.kind, "ready": c.ready, "message": c.message }))
            .collect(),
    )
}

fn onions(observed: &Observed) -> Value {
    Value::Object(
        observed
            .onions
            .iter()
            .map(|(service, address)| (service.clone(), Value::String(address.clone())))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The condition `kind` of a status, if it is there.
    fn condition<'s>(status: &'s Value, kind: &str) -> Option<&'s Value> {
        status["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == kind)
    }

    fn reconciled(ready: &[bool]) -> Reconciled {
        Reconciled {
            report: Report::default(),
            generated: Vec::new(),
            observed: Observed {
                components: ready
                    .iter()
                    .enumerate()
                    .map(|(i, ready)| Component {
                        name: format!("c{i}"),
                        kind: "StatefulSet".into(),
                        ready: *ready,
                        message: if *ready { "ready" } else { "0/1 ready" }.into(),
                    })
                    .collect(),
                onions: vec![("btc-p2p".into(), "abc.onion".into())],
            },
        }
    }

    #[test]
    fn a_converged_site_gets_the_same_status_again_so_nothing_is_written() {
        let done = reconciled(&[true, true]);
        let first = site_status(&Value::Null, 2, &Ending::Reconciled(&done), "t1");
        let again = site_status(&first, 2, &Ending::Reconciled(&done), "t2");
        assert_eq!(first, again);
        assert_eq!(condition(&first, "Ready").unwrap()["status"], "True");
        assert_eq!(first["onionAddresses"]["btc-p2p"], "abc.onion");
        assert!(first.get("lastApplied").is_none());
    }

    #[test]
    fn a_waiting_component_is_progress_and_a_failure_is_degraded_with_its_message() {
        let done = reconciled(&[true, false]);
        let rolling = site_status(&Value::Null, 1, &Ending::Reconciled(&done), "t1");
        let ready = condition(&rolling, "Ready").unwrap();
        assert_eq!(ready["reason"], "ComponentsNotReady");
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("StatefulSet c1 (0/1 ready)")
        );
        assert_eq!(
            condition(&rolling, "Progressing").unwrap()["status"],
            "True"
        );
        let failed = site_status(
            &rolling,
            2,
            &Ending::Failed {
                reason: "InvalidSpec",
                message: "spec.bitcoin[0].disk: no disk named \"x\"".into(),
            },
            "t2",
        );
        let degraded = condition(&failed, "Degraded").unwrap();
        assert_eq!(degraded["status"], "True");
        assert_eq!(degraded["lastTransitionTime"], "t2");
        assert!(
            degraded["message"]
                .as_str()
                .unwrap()
                .contains("spec.bitcoin[0].disk")
        );
        // What was seen before stays: a failed reconcile saw nothing new.
        assert_eq!(failed["components"], rolling["components"]);
        assert_eq!(failed["observedGeneration"], 2);
        // Ready stayed False: its transition time holds.
        assert_eq!(
            condition(&failed, "Ready").unwrap()["lastTransitionTime"],
            "t1"
        );
    }
}
