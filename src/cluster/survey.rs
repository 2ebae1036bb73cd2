//! Reading what the cluster has for a plan: one LIST per kind instead of one GET per object,
//! and a server-side dry run only for objects that may have changed. An object is provably
//! unchanged when it carries the hash of what openlsp would send and still has every value
//! openlsp sets; anything else goes through the server's dry run.

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::ListParams;
use serde_json::Value;

use super::applyset::{ApplySet, Membership, ParentState};
use super::resources::missing_kind;
use super::write::{Applied, with_type};
use super::{CONCURRENCY, Cluster, ClusterError, Kind};
use crate::diff::{self, Observation};
use crate::object::{APPLIED_HASH_ANNOTATION, Conflict, ObjectId, annotation};
use crate::plan::{self, Stage};

/// One object as openlsp would send it.
#[derive(Debug, Clone)]
pub struct Desired {
    pub id: ObjectId,
    pub manifest: Value,
    pub stage: Stage,
    pub data: bool,
}

/// What the cluster has, and what applying would change.
#[derive(Debug, Default)]
pub struct Survey<'a> {
    pub namespace_exists: bool,
    pub parent: ParentState,
    pub observations: Vec<(ObjectId, Observation<'a>)>,
    /// uid of each live object, for delete preconditions.
    pub uids: HashMap<ObjectId, String>,
    /// Resolved kinds by (apiVersion, kind).
    pub kinds: HashMap<(String, String), Kind>,
    /// Kinds, by (apiVersion, kind), that the cluster does not serve yet but a
    /// CustomResourceDefinition of the plan defines: resolved once stage 2 has applied it.
    pub pending: BTreeSet<(String, String)>,
    /// Objects that were dry-run (the rest were provably unchanged).
    pub dry_runs: usize,
    /// Every PersistentVolume of the cluster with a host directory, whoever owns it.
    pub volumes: Vec<HostVolume>,
}

/// A PersistentVolume on a host directory (`local` or `hostPath`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVolume {
    pub name: String,
    pub path: String,
    /// `namespace/name` of the claim bound to it, if any.
    pub claim: Option<String>,
    /// Being deleted (it still holds the directory until it is gone).
    pub terminating: bool,
}

impl HostVolume {
    /// The host directory of a PersistentVolume manifest, if it has one.
    pub fn of(manifest: &Value) -> Option<Self> {
        let path = manifest
            .pointer("/spec/local/path")
            .or_else(|| manifest.pointer("/spec/hostPath/path"))
            .and_then(Value::as_str)?;
        let claim = manifest.pointer("/spec/claimRef").map(|claim| {
            format!(
                "{}/{}",
                claim["namespace"].as_str().unwrap_or_default(),
                claim["name"].as_str().unwrap_or_default()
            )
        });
        Some(HostVolume {
            name: manifest.pointer("/metadata/name")?.as_str()?.to_owned(),
            path: path.to_owned(),
            claim,
            terminating: manifest.pointer("/metadata/deletionTimestamp").is_some(),
        })
    }

    /// Whether one directory is, or holds, the other.
    pub fn overlaps(&self, other: &HostVolume) -> bool {
        let (a, b) = (
            self.path.trim_end_matches('/'),
            other.path.trim_end_matches('/'),
        );
        a == b
            || a.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'))
            || b.strip_prefix(a).is_some_and(|rest| rest.starts_with('/'))
    }
}

impl Survey<'_> {
    pub fn kind_of(&self, id: &ObjectId) -> Option<&Kind> {
        self.kinds.get(&key_of(id))
    }

    /// The resolved kind of `id`; an unresolved one is a bug (every planned kind is resolved
    /// or pending, and pending ones are resolved by [`Cluster::serve_pending_kinds`]).
    pub fn resolved(&self, id: &ObjectId) -> Result<&Kind, ClusterError> {
        self.kind_of(id)
            .ok_or_else(|| ClusterError::Unresolved(id.to_string()))
    }

    /// Whether `id`'s kind waits for a CustomResourceDefinition of the plan.
    pub fn is_pending(&self, id: &ObjectId) -> bool {
        self.pending.contains(&key_of(id))
    }

    /// Refuses a plan whose volumes would share a host directory with another volume: a
    /// second site's (a renamed namespace), or each other's. Two nodes on one data directory
    /// lose funds.
    pub fn check_volume_paths(&self, desired: &[Desired]) -> Result<(), ClusterError> {
        let planned: Vec<HostVolume> = desired
            .iter()
            .filter(|d| d.id.kind == "PersistentVolume" && d.id.api_version == "v1")
            .filter_map(|d| HostVolume::of(&d.manifest))
            .collect();
        for ours in &planned {
            let others = planned.iter().chain(&self.volumes);
            if let Some(other) = others
                .filter(|other| other.name != ours.name)
                .find(|other| ours.overlaps(other))
            {
                return Err(ClusterError::SharedDataPath(Box::new(super::PathClash {
                    volume: ours.name.clone(),
                    path: ours.path.clone(),
                    other: other.name.clone(),
                    other_path: other.path.clone(),
                    claim: other
                        .claim
                        .as_ref()
                        .map(|c| format!(" (bound to claim {c})"))
                        .unwrap_or_default(),
                    hint: if other.terminating {
                        format!(
                            "{} is being deleted: wait until kubectl get pv {} finds nothing, then run this again",
                            other.name, other.name
                        )
                    } else {
                        "delete the site that has it first, or move it as docs/operations.md describes (moving a site to another namespace)".to_owned()
                    },
                })));
            }
        }
        Ok(())
    }

    /// What the ApplySet parent must list once `desired` is applied and `pruned` deleted:
    /// the planned objects and every member that stays (kept data).
    pub fn membership_after(
        &self,
        namespace: &str,
        desired: &[Desired],
        pruned: &BTreeSet<ObjectId>,
    ) -> Membership {
        let staying = self
            .observations
            .iter()
            .filter(|(id, o)| o.planned.is_none() && o.live.is_some() && !pruned.contains(id))
            .map(|(id, _)| id);
        Membership::of(namespace, desired.iter().map(|d| &d.id).chain(staying))
    }
}

fn key_of(id: &ObjectId) -> (String, String) {
    (id.api_version.clone(), id.kind.clone())
}

/// Whether a CustomResourceDefinition among `desired` serves `kind` at `api_version`.
pub fn defined_by_plan(desired: &[Desired], api_version: &str, kind: &str) -> bool {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    desired.iter().filter(|d| d.id.is_crd()).any(|crd| {
        let spec = &crd.manifest["spec"];
        spec["group"] == group
            && spec["names"]["kind"] == kind
            && spec["versions"].as_array().is_some_and(|versions| {
                versions
                    .iter()
                    .any(|v| v["name"] == version && v["served"] != false)
            })
    })
}

fn provably_unchanged(desired: &Value, live: &Value) -> bool {
    let hash = annotation(desired, APPLIED_HASH_ANNOTATION);
    hash.is_some()
        && hash == annotation(live, APPLIED_HASH_ANNOTATION)
        && diff::is_subset(desired, live)
}

impl Cluster {
    pub async fn namespace_exists(&self, namespace: &str) -> Result<bool, ClusterError> {
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(self.client());
        api.get_opt(namespace)
            .await
            .map(|found| found.is_some())
            .map_err(|err| self.api_error(format!("read namespace {namespace}"), err))
    }

    pub(super) async fn list_kind(
        &self,
        kind: &Kind,
        namespace: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let request = self
            .request(kind, Some(namespace))
            .list(&ListParams::default());
        let list = self
            .send(request)
            .await
            .map_err(|err| self.api_error(format!("list {}", kind.resource.plural), err))?;
        let items = match list {
            Value::Object(mut map) => map.remove("items"),
            _ => None,
        };
        Ok(match items {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| with_type(item, kind))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Reads the live state of `desired` and of every member of `set`, and dry-runs the
    /// objects that may change. New objects are dry-run only with `preview_creates` (for
    /// `diff`, which shows them as the server would store them); `apply` creates them directly.
    pub async fn survey<'a>(
        &self,
        set: &ApplySet,
        desired: &'a [Desired],
        preview_creates: bool,
    ) -> Result<Survey<'a>, ClusterError> {
        let namespace = set.namespace.as_str();
        let started = std::time::Instant::now();
        let mut survey = Survey {
            namespace_exists: self.namespace_exists(namespace).await?,
            ..Survey::default()
        };
        if survey.namespace_exists {
            survey.parent = self.read_parent(set).await?;
        }
        tracing::debug!(
            "read namespace and ApplySet parent in {:?}",
            started.elapsed()
        );
        for object in desired {
            let key = key_of(&object.id);
            if survey.kinds.contains_key(&key) || survey.pending.contains(&key) {
                continue;
            }
            let (api_version, kind) = (&object.id.api_version, &object.id.kind);
            match self.served_kind(api_version, kind).await? {
                Some(found) => {
                    survey.kinds.insert(key, found);
                }
                None if defined_by_plan(desired, api_version, kind) => {
                    survey.pending.insert(key);
                }
                None => return Err(missing_kind(api_version, kind)),
            }
        }
        // Every namespace the set spans: its own, those the plan uses, those the parent lists.
        let mut others: BTreeSet<String> = survey.parent.membership.additional_namespaces.clone();
        others.extend(desired.iter().filter_map(|d| d.id.namespace.clone()));
        others.remove(namespace);
        let mut namespaces: Vec<String> = Vec::new();
        if survey.namespace_exists {
            namespaces.push(namespace.to_owned());
        }
        for other in others {
            if self.namespace_exists(&other).await? {
                namespaces.push(other);
            } else if let Some(object) = desired
                .iter()
                .find(|d| d.id.namespace.as_deref() == Some(other.as_str()))
            {
                return Err(ClusterError::MissingNamespace {
                    namespace: other,
                    object: object.id.to_string(),
                });
            }
        }
        for group_kind in &survey.parent.membership.group_kinds {
            if let Some(kind) = self.kind_of_group_kind(group_kind).await? {
                survey
                    .kinds
                    .entry((
                        kind.resource.api_version.clone(),
                        kind.resource.kind.clone(),
                    ))
                    .or_insert(kind);
            }
        }
        let mut to_list: Vec<(&Kind, &str)> = Vec::new();
        for kind in survey.kinds.values() {
            if kind.namespaced {
                to_list.extend(namespaces.iter().map(|ns| (kind, ns.as_str())));
            } else {
                to_list.push((kind, namespace));
            }
        }
        // Each list is sifted as it arrives: objects that are neither planned nor members are
        // dropped, managedFields (never compared) are removed, and objects provably unchanged
        // are only counted, so a big site does not hold a second copy of itself.
        let by_id: HashMap<&ObjectId, &Desired> = desired.iter().map(|d| (&d.id, d)).collect();
        let mut live: HashMap<ObjectId, Value> = HashMap::new();
        let mut unchanged: BTreeSet<&ObjectId> = BTreeSet::new();
        let mut lists = stream::iter(
            to_list
                .into_iter()
                .map(|(kind, namespace)| self.list_kind(kind, namespace)),
        )
        .buffer_unordered(CONCURRENCY);
        while let Some(list) = lists.try_next().await? {
            for mut object in list {
                let Some(id) = ObjectId::of(&object) else {
                    continue;
                };
                if id.kind == "PersistentVolume"
                    && id.api_version == "v1"
                    && let Some(volume) = HostVolume::of(&object)
                {
                    survey.volumes.push(volume);
                }
                let planned = by_id.get(&id).copied();
                if planned.is_none() && !set.is_member(&object) {
                    continue;
                }
                if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    metadata.remove("managedFields");
                    if let Some(uid) = metadata.get("uid").and_then(Value::as_str) {
                        survey.uids.insert(id.clone(), uid.to_owned());
                    }
                }
                match planned {
                    Some(planned) if provably_unchanged(&planned.manifest, &object) => {
                        unchanged.insert(&planned.id);
                    }
                    _ => {
                        live.insert(id, object);
                    }
                }
            }
        }
        drop(lists);
        tracing::debug!(
            "listed {} kinds after {:?}",
            survey.kinds.len(),
            started.elapsed()
        );
        // Objects of pending kinds cannot be dry-run: the server does not serve them yet.
        let mut to_dry_run: Vec<(&Desired, Kind)> = Vec::new();
        for object in desired {
            if unchanged.contains(&object.id) || survey.is_pending(&object.id) {
                continue;
            }
            let kind = survey.resolved(&object.id)?;
            let creatable = !kind.namespaced
                || object
                    .id
                    .namespace
                    .as_deref()
                    .is_some_and(|ns| namespaces.iter().any(|n| n == ns));
            if live.contains_key(&object.id) || (creatable && preview_creates) {
                to_dry_run.push((object, kind.clone()));
            }
        }
        survey.dry_runs = to_dry_run.len();
        let results: Vec<(ObjectId, Value, Vec<Conflict>)> =
            stream::iter(to_dry_run.into_iter().map(|(object, kind)| async move {
                match self
                    .apply_object(&kind, &object.manifest, true, false)
                    .await?
                {
                    Applied::Object(result) => Ok((object.id.clone(), result, Vec::new())),
                    Applied::Conflicts(conflicts) => match self
                        .apply_object(&kind, &object.manifest, true, true)
                        .await?
                    {
                        Applied::Object(result) => Ok((object.id.clone(), result, conflicts)),
                        Applied::Conflicts(_) => Err(ClusterError::Conflicts(
                            conflicts
                                .into_iter()
                                .map(|c| (object.id.to_string(), c))
                                .collect(),
                        )),
                    },
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut dry_runs: HashMap<ObjectId, (Value, Vec<Conflict>)> = results
            .into_iter()
            .map(|(id, value, conflicts)| (id, (value, conflicts)))
            .collect();

        let planned_ids: BTreeSet<&ObjectId> = desired.iter().map(|d| &d.id).collect();
        for object in desired {
            let (dry_run, conflicts) = dry_runs
                .remove(&object.id)
                .map_or((None, Vec::new()), |(v, c)| (Some(v), c));
            let is_unchanged = unchanged.contains(&object.id);
            survey.observations.push((
                object.id.clone(),
                Observation {
                    planned: Some(&object.manifest),
                    live: live.remove(&object.id),
                    dry_run,
                    unchanged: is_unchanged,
                    conflicts,
                    data: object.data,
                    awaits_crd: survey.pending.contains(&key_of(&object.id)),
                },
            ));
        }
        let mut members: Vec<(ObjectId, Value)> = live
            .into_iter()
            .filter(|(id, object)| !planned_ids.contains(id) && set.is_member(object))
            .collect();
        drop(planned_ids);
        members.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, object) in members {
            let data = plan::is_data(&object) || id.is_crd();
            survey.observations.push((
                id,
                Observation {
                    live: Some(object),
                    data,
                    ..Observation::default()
                },
            ));
        }
        Ok(survey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired(manifest: Value) -> Desired {
        Desired {
            id: ObjectId::of(&manifest).unwrap(),
            manifest,
            stage: Stage::Crds,
            data: false,
        }
    }

    fn volume(name: &str, path: &str) -> Desired {
        desired(json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": { "name": name },
            "spec": { "local": { "path": path } }
        }))
    }

    #[test]
    fn a_data_directory_is_refused_when_another_volume_has_it_or_holds_it() {
        let live = |name: &str, path: &str| HostVolume {
            name: name.to_owned(),
            path: path.to_owned(),
            claim: Some("rel-c/lnd-data".to_owned()),
            terminating: false,
        };
        let plan = [volume("rel-c3-lnd", "/srv/lightning/lnd")];
        let survey = |volumes: Vec<HostVolume>| Survey {
            volumes,
            ..Survey::default()
        };
        // The same volume (a re-apply), a sibling directory and a longer name pass.
        for ok in [
            live("rel-c3-lnd", "/srv/lightning/lnd"),
            live("x", "/srv/lightning/lnd2"),
            live("y", "/srv/blockchain/bitcoind"),
        ] {
            survey(vec![ok]).check_volume_paths(&plan).unwrap();
        }
        for clash in [
            live("rel-c-lnd", "/srv/lightning/lnd"),
            live("rel-c-lnd", "/srv/lightning/lnd/"),
            live("whole-disk", "/srv/lightning"),
            live("inside", "/srv/lightning/lnd/data"),
        ] {
            let err = survey(vec![clash.clone()])
                .check_volume_paths(&plan)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!(
                    "PersistentVolume rel-c3-lnd would use /srv/lightning/lnd, but PersistentVolume {} (bound to claim rel-c/lnd-data) already uses {}",
                    clash.name, clash.path
                )),
                "{err}"
            );
        }
        let going = HostVolume {
            terminating: true,
            ..live("old", "/srv/lightning/lnd")
        };
        let err = survey(vec![going]).check_volume_paths(&plan).unwrap_err();
        assert!(
            err.to_string()
                .contains("old is being deleted: wait until kubectl get pv old finds nothing")
        );
        // Two volumes of one plan on one directory.
        let both = [plan[0].clone(), volume("other", "/srv/lightning/lnd")];
        assert!(Survey::default().check_volume_paths(&both).is_err());
    }

    #[test]
    fn a_kind_is_pending_only_if_a_planned_crd_serves_that_version() {
        let crd = desired(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": { "name": "issuers.cert-manager.io" },
            "spec": { "group": "cert-manager.io", "scope": "Namespaced",
                      "names": { "kind": "Issuer", "plural": "issuers" },
                      "versions": [ { "name": "v1", "served": true, "storage": true },
                                    { "name": "v0", "served": false, "storage": false } ] }
        }));
        let plan = [crd];
        assert!(defined_by_plan(&plan, "cert-manager.io/v1", "Issuer"));
        assert!(
            !defined_by_plan(&plan, "cert-manager.io/v0", "Issuer"),
            "not served"
        );
        assert!(!defined_by_plan(&plan, "cert-manager.io/v2", "Issuer"));
        assert!(!defined_by_plan(
            &plan,
            "cert-manager.io/v1",
            "ClusterIssuer"
        ));
        assert!(!defined_by_plan(&plan, "example.com/v1", "Issuer"));
        assert!(!defined_by_plan(&[], "cert-manager.io/v1", "Issuer"));
    }
}
