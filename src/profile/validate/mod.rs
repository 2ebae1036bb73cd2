//! Semantic checks on the effective site, one file per profile section; this file runs them in
//! the order their problems are reported. Every problem comes with its location and a next
//! step, and all of them are reported at once, not just the first.

mod apps;
mod backup;
mod bitcoin;
mod btcd;
mod btcpay;
mod disks;
mod header;
mod host;
mod ingress;
mod lightning;
mod monitoring;
mod networking;
mod nodes;
mod tor;

use std::path::Path;

use super::check::Checker;
use super::diagnostic::Diagnostic;
use super::site::Site;
use super::source_map::SourceMap;

/// Every problem of `site`, errors and warnings, located in `file` through `map`.
pub(super) fn check(file: &Path, map: &SourceMap, site: &Site) -> Vec<Diagnostic> {
    let mut checker = Checker::new(file, map);
    header::check(&mut checker, site);
    host::check(&mut checker, site);
    disks::check(&mut checker, site);
    nodes::check(&mut checker, site);
    bitcoin::check(&mut checker, site);
    btcd::check(&mut checker, site);
    lightning::check(&mut checker, site);
    disks::check_sharing(&mut checker, site);
    tor::check(&mut checker, site);
    networking::check(&mut checker, site);
    monitoring::check(&mut checker, site);
    ingress::check(&mut checker, site);
    backup::check(&mut checker, site);
    btcpay::check(&mut checker, site);
    apps::check(&mut checker, site);
    host::check_capacity(&mut checker, site);
    disks::check_chain_size(&mut checker, site);
    checker.into_diagnostics()
}
