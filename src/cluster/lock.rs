//! Two `apply` runs on one site must not interleave: a coordination.k8s.io/v1 Lease in the
//! site namespace names the holder and expires unless renewed, so a crashed run never leaves
//! a stuck lock.

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, PostParams, Preconditions};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;

use super::{Cluster, ClusterError};

pub const LEASE_NAME: &str = "openlsp-lock";
/// A holder that stops renewing loses the lock after this long.
pub const LEASE_SECONDS: i64 = 60;
const RENEW_EVERY: Duration = Duration::from_secs(15);

/// Holds the lock until released; renews it in the background.
pub struct LockGuard {
    api: Api<DynamicObject>,
    holder: String,
    renewal: JoinHandle<()>,
}

/// MicroTime as the API server parses it: RFC 3339 with exactly six fraction digits.
fn micro_time(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

fn holder_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".to_owned());
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown-user".to_owned());
    let mut nonce = [0u8; 4];
    let _ = getrandom::fill(&mut nonce);
    format!(
        "openlsp/{} {user}@{host} pid {} ({})",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        hex::encode(nonce)
    )
}

fn lease(
    namespace: &str,
    holder: &str,
    transitions: i64,
    resource_version: Option<&str>,
) -> DynamicObject {
    let now = micro_time(OffsetDateTime::now_utc());
    let mut value = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": LEASE_NAME,
            "namespace": namespace,
            "labels": { "app.kubernetes.io/managed-by": "openlsp" },
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        },
    });
    if let Some(version) = resource_version {
        value["metadata"]["resourceVersion"] = Value::String(version.to_owned());
    }
    serde_json::from_value(value).expect("a Lease is a valid object")
}

/// Seconds until a lease held by someone expires; negative when it already has.
fn expires_in(lease: &DynamicObject) -> i64 {
    let spec = &lease.data["spec"];
    let renewed = spec["renewTime"]
        .as_str()
        .or_else(|| spec["acquireTime"].as_str())
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
    let duration = spec["leaseDurationSeconds"]
        .as_i64()
        .unwrap_or(LEASE_SECONDS);
    match renewed {
        Some(renewed) => (renewed + time::Duration::seconds(duration) - OffsetDateTime::now_utc())
            .whole_seconds(),
        None => -1,
    }
}

impl Cluster {
    fn leases(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client(),
            namespace,
            &kube::core::ApiResource::erase::<k8s_openapi::api::coordination::v1::Lease>(&()),
        )
    }

    /// Takes the site's lock, or fails naming the holder.
    pub async fn lock(&self, namespace: &str) -> Result<LockGuard, ClusterError> {
        let api = self.leases(namespace);
        let holder = holder_identity();
        let action = || format!("take the lock {namespace}/{LEASE_NAME}");
        for _ in 0..3 {
            let current = api
                .get_opt(LEASE_NAME)
                .await
                .map_err(|err| self.api_error(action(), err))?;
            let attempt = match current {
                None => {
                    api.create(&PostParams::default(), &lease(namespace, &holder, 0, None))
                        .await
                }
                Some(existing) => {
                    let other = existing.data["spec"]["holderIdentity"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let remaining = expires_in(&existing);
                    if !other.is_empty() && remaining > 0 {
                        return Err(ClusterError::Locked {
                            namespace: namespace.to_owned(),
                            holder: other,
                            expires_in: remaining,
                        });
                    }
                    let transitions = existing.data["spec"]["leaseTransitions"]
                        .as_i64()
                        .unwrap_or(0)
                        + 1;
                    let replacement = lease(
                        namespace,
                        &holder,
                        transitions,
                        existing.metadata.resource_version.as_deref(),
                    );
                    api.replace(LEASE_NAME, &PostParams::default(), &replacement)
                        .await
                }
            };
            match attempt {
                Ok(_) => {
                    let renewal = tokio::spawn(renew(api.clone(), holder.clone()));
                    return Ok(LockGuard {
                        api,
                        holder,
                        renewal,
                    });
                }
                // Someone else created or took it between our read and write: look again.
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(err) => return Err(self.api_error(action(), err)),
            }
        }
        Err(ClusterError::Api {
            action: action(),
            code: 409,
            message: "the lock kept changing hands".to_owned(),
        })
    }
}

async fn renew(api: Api<DynamicObject>, holder: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let Ok(Some(current)) = api.get_opt(LEASE_NAME).await else {
            continue;
        };
        let Some(renewal) = renewed(current, &holder, OffsetDateTime::now_utc()) else {
            tracing::warn!("the lock was taken over by another run");
            return;
        };
        if let Err(err) = api
            .replace(LEASE_NAME, &PostParams::default(), &renewal)
            .await
        {
            tracing::warn!("cannot renew the lock: {err}");
        }
    }
}

/// The lease renewed at `now`, keeping its resourceVersion so a concurrent change fails the
/// write; `None` when someone else holds it now.
fn renewed(mut current: DynamicObject, holder: &str, now: OffsetDateTime) -> Option<DynamicObject> {
    if current.data["spec"]["holderIdentity"].as_str() != Some(holder) {
        return None;
    }
    current.data["spec"]["renewTime"] = Value::String(micro_time(now));
    Some(current)
}

impl LockGuard {
    /// Stops renewing and deletes the lease if it is still ours.
    pub async fn release(self) {
        self.renewal.abort();
        let Ok(Some(current)) = self.api.get_opt(LEASE_NAME).await else {
            return;
        };
        if current.data["spec"]["holderIdentity"].as_str() != Some(self.holder.as_str()) {
            return;
        }
        let params = DeleteParams::default().preconditions(Preconditions {
            uid: current.metadata.uid.clone(),
            resource_version: current.metadata.resource_version.clone(),
        });
        if let Err(err) = self.api.delete(LEASE_NAME, &params).await {
            tracing::warn!("cannot release the lock (it expires by itself): {err}");
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_time_has_six_fraction_digits() {
        let at = OffsetDateTime::parse("2026-11-21T20:01:02.5Z", &Rfc3339).unwrap();
        assert_eq!(micro_time(at), "2026-11-21T20:01:02.500000Z");
    }

    /// Renewing every RENEW_EVERY keeps a lease valid however long its holder runs, and
    /// renewal never takes a lease back from another holder.
    #[test]
    fn renewal_keeps_the_lease_valid_and_only_for_its_holder() {
        let mut held = lease("ns", "me", 3, Some("41"));
        held.data["spec"]["renewTime"] = Value::String("2020-01-01T00:00:00.000000Z".into());
        let acquired = held.data["spec"]["acquireTime"].clone();
        assert!(expires_in(&held) < 0);
        let now = OffsetDateTime::now_utc();
        let renewal = renewed(held.clone(), "me", now).unwrap();
        assert_eq!(renewal.data["spec"]["renewTime"], micro_time(now).as_str());
        assert!(expires_in(&renewal) > LEASE_SECONDS - 5);
        assert_eq!(renewal.data["spec"]["acquireTime"], acquired);
        assert_eq!(renewal.data["spec"]["holderIdentity"], "me");
        assert_eq!(renewal.data["spec"]["leaseTransitions"], 3);
        assert_eq!(renewal.metadata.resource_version.as_deref(), Some("41"));
        // The next renewal is due before the lease would lapse.
        let due = now + time::Duration::try_from(RENEW_EVERY).unwrap();
        let lapses = now + time::Duration::seconds(LEASE_SECONDS);
        assert!(due + time::Duration::seconds(5) < lapses);

        held.data["spec"]["holderIdentity"] = Value::String("someone else".into());
        assert!(renewed(held, "me", now).is_none());
    }

    #[test]
    fn a_lease_expires_after_its_duration() {
        let mut fresh = lease("ns", "me", 0, None);
        assert!(expires_in(&fresh) > LEASE_SECONDS - 5);
        fresh.data["spec"]["renewTime"] = Value::String("2020-01-01T00:00:00.000000Z".into());
        assert!(expires_in(&fresh) < 0);
    }
}
