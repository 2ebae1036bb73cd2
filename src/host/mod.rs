//! What `openlsp init` knows about the machine it runs on. Host files are read under a root
//! directory (`--host-root`, so tests use fixture trees) and programs run through one
//! [`Runner`] (so tests replace them); [`checks`] turns what was found into the preflight
//! report and [`fix`] makes the few safe file edits. Nothing here prints.

mod checks;
mod cmdline;
mod error;
pub(crate) mod fix;
mod inspect;
mod kubeconfig;
mod microk8s;
mod mounts;
pub(crate) mod proposal;
mod report;
mod root;
mod runner;

pub(crate) use checks::preflight;
pub(crate) use error::HostError;
pub(crate) use inspect::{HostEnv, Machine};
pub(crate) use report::{Report, Status};
pub(crate) use root::HostRoot;
pub(crate) use runner::{Runner, SystemRunner};

use crate::profile::Site;

/// Inspects the machine and measures what the checks need: the disks of `site` and its nodes'
/// data directories, or, without a site, every mounted data disk.
pub(crate) fn inspect_for(
    root: &HostRoot,
    runner: &dyn Runner,
    env: &HostEnv,
    site: Option<&Site>,
) -> Result<Machine, HostError> {
    let mut machine = Machine::inspect(root, runner, env)?;
    match site {
        Some(site) => {
            let paths: Vec<String> = site.spec.disks.values().map(|d| d.path.clone()).collect();
            machine.measure(root, runner, paths.iter().map(String::as_str));
            let dirs: Vec<String> = site
                .spec
                .disks
                .iter()
                .flat_map(|(name, disk)| checks::node_dirs(site, name, &disk.path))
                .map(|(_, dir, _)| dir)
                .collect();
            machine.look_for_dirs(root, dirs.iter().map(String::as_str));
        }
        None => {
            // Every data mount, bind mounts included: the wizard may be given any of them.
            let targets: Vec<String> = machine
                .mounts
                .data_mounts()
                .iter()
                .map(|m| m.target.clone())
                .collect();
            machine.measure(root, runner, targets.iter().map(String::as_str));
        }
    }
    Ok(machine)
}
