//! Two `apply` runs on one site must not interleave: a coordination.k8s.io/v1 Lease in the
//! site namespace names the holder and expires unless renewed, so a crashed run never leaves
//! a stuck lock. A run that lost its lease, or whose lease lapsed while it was paused (a
//! laptop asleep, a stopped process), writes nothing more: every write asks [`LockGuard::held`]
//! first.

use std::sync::{Arc, Mutex};
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
/// How long releasing the lock may take before the run ends without it.
const RELEASE_WITHIN: Duration = Duration::from_secs(5);
/// Overrides [`LEASE_SECONDS`] (at least 4): tests use a short lease to pause a holder past it.
pub const LEASE_SECONDS_ENV: &str = "OPENLSP_LOCK_LEASE_SECONDS";

/// The lease duration in use.
fn lease_seconds() -> i64 {
    std::env::var(LEASE_SECONDS_ENV)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|seconds| *seconds >= 4)
        .unwrap_or(LEASE_SECONDS)
}

/// Renewals come four times per lease, so three can fail before it lapses.
fn renew_every(lease_seconds: i64) -> Duration {
    Duration::from_millis(u64::try_from(lease_seconds).unwrap_or(60) * 250)
}

/// What this run knows about its lease. Times are wall-clock: a suspended laptop's monotonic
/// clock stands still, but the lease runs out on the server all the same.
#[derive(Debug, Clone)]
struct Held {
    /// The resourceVersion of our last write of the lease: any other writer changes it.
    resource_version: Option<String>,
    /// When the lease lapses unless renewed before.
    valid_until: OffsetDateTime,
    /// Why the lease is no longer ours to rely on, once it is not.
    lost: Option<LockLoss>,
}

/// How a run lost its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockLoss {
    /// Another run holds it now (or deleted it).
    TakenBy(String),
    /// It lapsed while this run was paused; another run may have held it meanwhile.
    Lapsed { seconds: i64 },
}

impl std::fmt::Display for LockLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockLoss::TakenBy(holder) if holder.is_empty() => {
                f.write_str("another run took it and released it")
            }
            LockLoss::TakenBy(holder) => write!(f, "it is held by {holder} now"),
            LockLoss::Lapsed { seconds } => write!(
                f,
                "it lapsed {seconds}s ago while this run was paused, so another run may have changed the site"
            ),
        }
    }
}

/// Holds the lock until released; renews it in the background.
pub struct LockGuard {
    api: Api<DynamicObject>,
    /// The Lease's name: the site lock's, or the controller's leader election.
    name: &'static str,
    server: String,
    namespace: String,
    holder: String,
    lease_seconds: i64,
    held: Arc<Mutex<Held>>,
    renewal: JoinHandle<()>,
}

/// What [`LockGuard::reconfirm`] found after a pause (a prompt).
#[derive(Debug, PartialEq, Eq)]
pub enum Reconfirmed {
    /// Nobody else wrote the lease: what was surveyed before still holds.
    Unchanged,
    /// It changed hands meanwhile and was taken again: survey again before writing.
    Retaken,
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
    let user = crate::operator::user_name();
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
    name: &str,
    namespace: &str,
    holder: &str,
    seconds: i64,
    transitions: i64,
    resource_version: Option<&str>,
) -> DynamicObject {
    let now = micro_time(OffsetDateTime::now_utc());
    let mut value = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": { "app.kubernetes.io/managed-by": "openlsp" },
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": seconds,
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
        self.lease_lock(namespace, LEASE_NAME).await
    }

    /// Takes the Lease `name` in `namespace` as [`Cluster::lock`] takes the site's: the
    /// controller's leader election uses one of its own.
    pub async fn lease_lock(
        &self,
        namespace: &str,
        name: &'static str,
    ) -> Result<LockGuard, ClusterError> {
        let api = self.leases(namespace);
        let holder = holder_identity();
        let seconds = lease_seconds();
        let taken = take(&api, name, namespace, &holder, seconds, |err| {
            self.api_error(format!("take the lock {namespace}/{name}"), err)
        })
        .await?;
        let held = Arc::new(Mutex::new(taken));
        let renewal = tokio::spawn(renew(
            api.clone(),
            name,
            holder.clone(),
            seconds,
            Arc::clone(&held),
        ));
        Ok(LockGuard {
            api,
            name,
            server: self.server.clone(),
            namespace: namespace.to_owned(),
            holder,
            lease_seconds: seconds,
            held,
            renewal,
        })
    }
}

/// Creates the lease, or takes it over once it expired; fails naming a live holder.
async fn take(
    api: &Api<DynamicObject>,
    name: &str,
    namespace: &str,
    holder: &str,
    seconds: i64,
    api_error: impl Fn(kube::Error) -> ClusterError,
) -> Result<Held, ClusterError> {
    {
        let action = || format!("take the lock {namespace}/{name}");
        for _ in 0..3 {
            let current = api.get_opt(name).await.map_err(&api_error)?;
            let sent = OffsetDateTime::now_utc();
            let attempt = match current {
                None => {
                    api.create(
                        &PostParams::default(),
                        &lease(name, namespace, holder, seconds, 0, None),
                    )
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
                        name,
                        namespace,
                        holder,
                        seconds,
                        transitions,
                        existing.metadata.resource_version.as_deref(),
                    );
                    api.replace(name, &PostParams::default(), &replacement)
                        .await
                }
            };
            match attempt {
                Ok(written) => {
                    return Ok(Held {
                        resource_version: written.metadata.resource_version,
                        valid_until: sent + time::Duration::seconds(seconds),
                        lost: None,
                    });
                }
                // Someone else created or took it between our read and write: look again.
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(err) => return Err(api_error(err)),
            }
        }
        Err(ClusterError::Api {
            action: action(),
            code: 409,
            message: "the lock kept changing hands".to_owned(),
        })
    }
}

/// Renews the lease every quarter of its duration, with our last resourceVersion, so a write
/// by anyone else makes ours fail. Stops for good once the lease is lost or has lapsed.
async fn renew(
    api: Api<DynamicObject>,
    name: &'static str,
    holder: String,
    seconds: i64,
    held: Arc<Mutex<Held>>,
) {
    loop {
        tokio::time::sleep(renew_every(seconds)).await;
        let known = held.lock().expect("lock state").clone();
        if known.lost.is_some() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        if now >= known.valid_until {
            // Paused past the lease (SIGSTOP, suspend): whatever happened meanwhile, this run
            // may not go on writing on what it surveyed before.
            let lapsed = LockLoss::Lapsed {
                seconds: (now - known.valid_until).whole_seconds(),
            };
            tracing::warn!("the site lock {lapsed}");
            held.lock().expect("lock state").lost = Some(lapsed);
            return;
        }
        let current = match api.get_opt(name).await {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!("cannot read the lock to renew it: {err}");
                continue;
            }
        };
        let loss = match &current {
            None => Some(LockLoss::TakenBy(String::new())),
            Some(lease) if lease.metadata.resource_version != known.resource_version => Some(
                LockLoss::TakenBy(holder_of(lease).unwrap_or_default().to_owned()),
            ),
            Some(_) => None,
        };
        if let Some(loss) = loss {
            tracing::warn!("the site lock was lost: {loss}");
            held.lock().expect("lock state").lost = Some(loss);
            return;
        }
        let Some(renewal) = current.and_then(|lease| renewed(lease, &holder, now)) else {
            continue;
        };
        match api.replace(name, &PostParams::default(), &renewal).await {
            Ok(written) => {
                let mut state = held.lock().expect("lock state");
                state.resource_version = written.metadata.resource_version;
                state.valid_until = now + time::Duration::seconds(seconds);
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                // Written by someone else since we read it: the next round names them.
                tracing::warn!("the site lock changed while renewing it");
            }
            Err(err) => tracing::warn!("cannot renew the lock: {err}"),
        }
    }
}

fn holder_of(lease: &DynamicObject) -> Option<&str> {
    lease.data["spec"]["holderIdentity"].as_str()
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
    /// Ok while the lease is ours and current; the reason otherwise. Cheap (no request):
    /// called before every write.
    pub fn held(&self) -> Result<(), ClusterError> {
        let held = self.held.lock().expect("lock state");
        let loss = match &held.lost {
            Some(loss) => loss.clone(),
            None => {
                let now = OffsetDateTime::now_utc();
                if now < held.valid_until {
                    return Ok(());
                }
                LockLoss::Lapsed {
                    seconds: (now - held.valid_until).whole_seconds(),
                }
            }
        };
        Err(ClusterError::LockLost {
            namespace: self.namespace.clone(),
            loss: loss.to_string(),
        })
    }

    /// After a pause in which nothing was written (a prompt): if nobody else wrote the lease,
    /// renew it and go on; if it changed hands, take it again, and the caller surveys again.
    pub async fn reconfirm(&mut self) -> Result<Reconfirmed, ClusterError> {
        let known = self.held.lock().expect("lock state").clone();
        let action = || format!("take the lock {}/{}", self.namespace, self.name);
        let current = self
            .api
            .get_opt(self.name)
            .await
            .map_err(|err| super::connect::classify_mid_run(&self.server, action(), err))?;
        let ours = current.as_ref().is_some_and(|lease| {
            lease.metadata.resource_version == known.resource_version
                && holder_of(lease) == Some(self.holder.as_str())
        });
        if ours && known.lost.is_none() && self.held().is_ok() {
            return Ok(Reconfirmed::Unchanged);
        }
        let retaken = take(
            &self.api,
            self.name,
            &self.namespace,
            &self.holder,
            self.lease_seconds,
            |err| super::connect::classify_mid_run(&self.server, action(), err),
        )
        .await?;
        *self.held.lock().expect("lock state") = retaken;
        // The old renewal stopped once it saw the lease lost or lapsed.
        self.renewal.abort();
        self.renewal = tokio::spawn(renew(
            self.api.clone(),
            self.name,
            self.holder.clone(),
            self.lease_seconds,
            Arc::clone(&self.held),
        ));
        Ok(if ours {
            Reconfirmed::Unchanged
        } else {
            Reconfirmed::Retaken
        })
    }

    /// Stops renewing and deletes the lease if it is still ours. Gives up after a few seconds
    /// (a server that stopped answering): the lease then expires by itself.
    pub async fn release(self) {
        self.renewal.abort();
        let released = tokio::time::timeout(RELEASE_WITHIN, self.delete_if_ours()).await;
        if released.is_err() {
            tracing::debug!("no answer while releasing the lock; it expires by itself");
        }
    }

    async fn delete_if_ours(&self) {
        let Ok(Some(current)) = self.api.get_opt(self.name).await else {
            return;
        };
        if current.data["spec"]["holderIdentity"].as_str() != Some(self.holder.as_str()) {
            return;
        }
        let params = DeleteParams::default().preconditions(Preconditions {
            uid: current.metadata.uid.clone(),
            resource_version: current.metadata.resource_version.clone(),
        });
        if let Err(err) = self.api.delete(self.name, &params).await {
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

    /// Renewing every quarter lease keeps a lease valid however long its holder runs, and
    /// renewal never takes a lease back from another holder.
    #[test]
    fn renewal_keeps_the_lease_valid_and_only_for_its_holder() {
        let mut held = lease(LEASE_NAME, "ns", "me", LEASE_SECONDS, 3, Some("41"));
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
        // Three renewals may fail before the lease lapses, for any lease length.
        for seconds in [4, LEASE_SECONDS] {
            let due = now + time::Duration::try_from(renew_every(seconds) * 3).unwrap();
            assert!(due < now + time::Duration::seconds(seconds));
        }

        held.data["spec"]["holderIdentity"] = Value::String("someone else".into());
        assert!(renewed(held, "me", now).is_none());
    }

    #[test]
    fn a_lease_expires_after_its_duration() {
        let mut fresh = lease(LEASE_NAME, "ns", "me", LEASE_SECONDS, 0, None);
        assert!(expires_in(&fresh) > LEASE_SECONDS - 5);
        fresh.data["spec"]["renewTime"] = Value::String("2020-01-01T00:00:00.000000Z".into());
        assert!(expires_in(&fresh) < 0);
        let short = lease(LEASE_NAME, "ns", "me", 5, 0, None);
        assert!((1..=5).contains(&expires_in(&short)));
    }

    #[test]
    fn a_loss_says_whether_the_lease_was_taken_or_lapsed() {
        assert_eq!(
            LockLoss::TakenBy("openlsp/0.1.0 ann@pi pid 7 (ab)".into()).to_string(),
            "it is held by openlsp/0.1.0 ann@pi pid 7 (ab) now"
        );
        assert_eq!(
            LockLoss::TakenBy(String::new()).to_string(),
            "another run took it and released it"
        );
        assert!(
            LockLoss::Lapsed { seconds: 3 }
                .to_string()
                .starts_with("it lapsed 3s ago while this run was paused")
        );
    }
}
