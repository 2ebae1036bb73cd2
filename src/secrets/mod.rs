//! The credential core: what a site needs, the on-disk store, generation, the rotation plan,
//! the pull rebuild and encrypted export. Never prints; returns values and typed errors that
//! commands word for the operator.

pub mod backup;
pub mod catalog;
pub mod credential_check;
pub mod onion;
pub mod rotation;
pub mod rpcauth;
pub mod store;
pub mod tls;

pub use onion::OnionKey;
pub use store::{
    EXPORTER_RPC_USER, Requirement, Secrets, StateChange, StateDir, StateError, lnd_dns_names,
    onion_services, paths, requirements,
};
