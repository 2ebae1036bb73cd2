//! The credential core: what a site needs ([`requirements`]), the in-memory snapshot rendering
//! reads ([`snapshot`]), the checks of each value by kind ([`value_check`]), the on-disk store
//! ([`store`], with its [`records`]), the [`catalog`] of a site's Kubernetes Secrets, the
//! [`rotation`] plan, the state-vs-cluster [`credential_check`] and encrypted [`backup`]s, over the
//! primitives [`tls`], [`onion`] and [`rpcauth`]. Never prints: it returns values and typed
//! errors that commands word for the operator.

pub mod backup;
pub mod catalog;
pub mod credential_check;
pub mod fingerprint;
#[cfg(test)]
mod fixtures;
pub mod generate;
pub mod onion;
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

pub use generate::{GenerateError, generate};
pub use onion::OnionKey;
pub use requirements::{
    EXPORTER_RPC_USER, Requirement, lnd_dns_names, onion_services, paths, requirements,
};
pub use snapshot::{Secrets, StateChange};
pub use store::{StateDir, StateError};
