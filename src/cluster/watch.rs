//! Watching Sites and everything they own, for the controller: kube-runtime's `Controller`
//! over Sites, woken by a watch on each built-in kind a site renders (its ApplySet members,
//! found by their `applyset.kubernetes.io/part-of` label, metadata only), so a changed or
//! deleted object is seen on its event, not on a timer. Watches, not polling: an idle site
//! costs no requests but the watches' own renewals.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use serde_json::Value;

use super::applyset::{ApplySet, PART_OF_LABEL};
use super::{Cluster, Kind};
use crate::controller::resource;

/// How long to wait after an event before reconciling, so one write's burst of events (a
/// StatefulSet and its status) makes one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// After a failed reconcile, the next try.
const RETRY: Duration = Duration::from_secs(15);

/// A failed reconcile, as the runtime logs it; the reconcile itself reports to the Site.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileFailed(pub String);

impl Cluster {
    /// Runs `reconcile` for each Site (as JSON; of namespace `only`, or every namespace) when it changes, when a member of its ApplySet
    /// of one of `kinds` changes or is deleted, and `resync` after its last run, until
    /// `shutdown` resolves; a reconcile in progress then runs to its end.
    pub async fn watch_sites<F, Fut>(
        &self,
        only: Option<&str>,
        kinds: &[Kind],
        resync: Duration,
        shutdown: impl Future<Output = ()> + Send + Sync + 'static,
        reconcile: F,
    ) where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ReconcileFailed>> + Send + 'static,
    {
        let site_type = resource::api_resource();
        let mut controller = Controller::new_with(
            self.sites(only),
            watcher::Config::default(),
            site_type.clone(),
        )
        .with_config(Config::default().debounce(DEBOUNCE));
        let sites = controller.store();
        for kind in kinds {
            let api: Api<PartialObjectMeta<DynamicObject>> = match only {
                Some(namespace) if kind.namespaced => {
                    Api::namespaced_with(self.client(), namespace, &kind.resource)
                }
                _ => Api::all_with(self.client(), &kind.resource),
            };
            let (sites, site_type) = (sites.clone(), site_type.clone());
            controller = controller.watches_with(
                api,
                kind.resource.clone(),
                watcher::Config::default().labels(PART_OF_LABEL),
                move |member| {
                    let set = member
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|labels| labels.get(PART_OF_LABEL))
                        .cloned()
                        .unwrap_or_default();
                    sites
                        .state()
                        .into_iter()
                        .filter(|site| {
                            site.metadata
                                .namespace
                                .as_deref()
                                .is_some_and(|ns| ApplySet::new(ns).id == set)
                        })
                        .map(|site| ObjectRef::from_obj_with(site.as_ref(), site_type.clone()))
                        .collect::<Vec<_>>()
                },
            );
        }
        let reconcile = Arc::new(reconcile);
        controller
            .graceful_shutdown_on(shutdown)
            .run(
                move |site, _| {
                    let reconcile = Arc::clone(&reconcile);
                    let value = serde_json::to_value(site.as_ref()).unwrap_or_default();
                    async move {
                        reconcile(value).await?;
                        Ok::<_, ReconcileFailed>(Action::requeue(resync))
                    }
                },
                |_, _, _| Action::requeue(RETRY),
                Arc::new(()),
            )
            .for_each(|result| async move {
                if let Err(err) = result {
                    tracing::warn!("controller: {err}");
                }
            })
            .await;
    }
}
