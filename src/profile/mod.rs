//! The site profile: the desired state of one site. Loads YAML, reports every problem with
//! `file:line:col`, field path and a next step, and fills in defaults. This file only names the
//! parts and what the rest of openlsp may use of them.

mod chain;
mod check;
mod defaults;
mod diagnostic;
mod facts;
mod input;
mod load;
mod new_site;
pub mod quantity;
mod site;
mod source_map;
mod validate;

pub use chain::{ChainMode, MIN_PRUNE_MIB, mainnet_chain_size};
pub use check::{is_dns_label, is_dns_subdomain, is_normal_absolute_path};
pub use defaults::{
    DEFAULT_COLOR, DEFAULT_RPC_ALLOW_IP, EXPORTER_CPU, EXPORTER_MEMORY, HEADERS_EXPORTER_CPU,
    HEADERS_EXPORTER_MEMORY, LND_SIDECAR_CPU, LND_SIDECAR_MEMORY, LND_WALLET_INIT_MEMORY,
    LNDMON_CPU, LNDMON_MEMORY, bitcoind_memory, default_dbcache_mib, default_inbound,
    default_reserved_memory,
};
pub use diagnostic::{Diagnostic, ProfileError, Severity};
pub use facts::{extra_pods, public_exposures};
pub use load::{LoadedProfile, load, parse};
pub use new_site::{Choice, NewDisk, NewSite};
pub use site::{
    API_VERSION, Acme, Arch, BitcoinIngress, BitcoinNode, Disk, Host, Inbound, Ingress, KIND,
    LightningNode, LndApi, Metadata, Monitoring, Network, Networking, Resources, Site, SiteSpec,
    Tor, TorMode,
};
pub use source_map::{Location, SourceMap};
