//! The credential core: everything about a site's credentials, apart from rendering them.
//!
//! - what a site needs: [`requirements`](mod@requirements) (and the state paths templates read);
//! - the in-memory [`snapshot`] rendering reads, and the checks of each value by kind
//!   ([`value_check`]);
//! - the on-disk [`store`] (the state dir: locks, atomic 0600 writes, history) with its
//!   [`records`] (dates, generations, the audit log);
//! - one [`generate()`] for first creation and rotation alike;
//! - the [`catalog`] of a site's Kubernetes Secrets, the [`rotation`] plan, the [`pull`] rebuild
//!   from the cluster, the [`restore`] of pulled or imported values, encrypted [`backup`]s, the
//!   state-vs-cluster [`credential_check`] and [`fingerprint`]s that show a secret without its
//!   value; the credentials of a site that lives only in the cluster ([`in_cluster`], the
//!   controller's);
//! - what the operator [`provided`] (an rclone config), which is kept but never generated;
//! - the primitives [`tls`], [`onion`] and [`rpcauth`].
//!
//! It never prints and never talks to the cluster: it returns values and typed errors, and
//! commands fetch, write and word them for the operator.

pub mod backup;
pub mod catalog;
pub mod credential_check;
pub mod fingerprint;
#[cfg(test)]
mod fixtures;
pub mod generate;
pub mod in_cluster;
pub mod onion;
pub mod provided;
pub mod pull;
pub mod records;
pub mod requirements;
pub mod restore;
pub mod rotation;
pub mod rpcauth;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod value_check;

pub use onion::OnionKey;
pub use requirements::{
    BTCD_RPC_USER, BTCPAY_ONION, DATABASE_ROLES, EXPORTER_RPC_USER, NBXPLORER_RPC_USER,
    Requirement, TUNNEL_FILES, lnd_dns_names, onion_services, paths, requirements,
};
pub use snapshot::{Secrets, StateChange};
pub use store::{StateDir, StateError};
