//! The controller: the `Site` custom resource reconciled continuously from inside the cluster.
//! Each reconcile is the pipeline `apply` runs (profile, secrets, plan, diff, deploy) with the
//! profile read from the Site and the credentials from the cluster's Secrets, under field
//! manager `openlsp-controller`; what it saw goes into the Site's status and Events.
//! Also here: what `controller install` applies.

pub mod install;
pub mod reconcile;
pub mod resource;
pub mod run;
pub mod status;
