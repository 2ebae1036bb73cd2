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
pub(crate) mod quantity;
mod read;
mod resource;
pub(crate) mod schema;
mod site;
mod source_map;
mod validate;

pub(crate) use chain::{ChainMode, MIN_PRUNE_MIB, mainnet_chain_size};
pub(crate) use check::{is_dns_label, is_normal_absolute_path};
pub(crate) use defaults::{
    BACKUP_CPU, CLN_EXPORTER_CPU, CLN_EXPORTER_MEMORY, CLN_INIT_CPU, CLN_INIT_MEMORY,
    DEFAULT_COLOR, DEFAULT_RPC_ALLOW_IP, DUMP_CPU, DUMP_MEMORY, EXPORTER_CPU, EXPORTER_MEMORY,
    HEADERS_EXPORTER_CPU, HEADERS_EXPORTER_MEMORY, LND_SIDECAR_CPU, LND_SIDECAR_MEMORY,
    LND_WALLET_INIT_MEMORY, LNDMON_CPU, LNDMON_MEMORY, NBXPLORER_CPU, NBXPLORER_MEMORY,
    POSTGRES_CPU, POSTGRES_MEMORY, TUNNEL_CPU, TUNNEL_MEMORY, backup_memory, backup_memory_for,
};
pub(crate) use diagnostic::{Diagnostic, ProfileError};
pub(crate) use facts::public_exposures;
pub(crate) use load::{LoadedProfile, load, parse};
pub(crate) use new_site::{Choice, NewDisk, NewSite};
pub(crate) use read::decode;
pub(crate) use resource::from_resource;
pub(crate) use site::{
    Acme, App, AppKind, Arch, BitcoinImplementation, BitcoinNode, Btcpay, Disk, Implementation,
    Inbound, IssuerKind, LightningNode, LndApi, Network, Resources, Site, TorMode,
};
pub(crate) use source_map::SourceMap;
