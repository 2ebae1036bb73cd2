//! `spec.host`: the machine, and whether the site's pods fit it. The memory and CPU fit counts
//! every pod on each machine: the nodes, and what runs beside them ([`extra_pods`]).

use std::collections::BTreeMap;

use crate::profile::check::{Checker, is_dns_subdomain};
use crate::profile::facts::extra_pods;
use crate::profile::quantity::{Bytes, MAX_CPU, MAX_MEMORY, Millicores};
use crate::profile::site::Site;

/// The machine itself: its node name, memory, CPUs and what is reserved.
pub(super) fn check(checker: &mut Checker, site: &Site) {
    let host = &site.spec.host;
    if !is_dns_subdomain(&host.node_name) {
        checker.error(
            "spec.host.nodeName",
            format!("{:?} is not a valid Kubernetes node name", host.node_name),
            "use the name `kubectl get nodes` shows (lowercase, digits, '-' and '.')",
        );
    }
    if host.memory < Bytes::gib(1) {
        checker.error(
            "spec.host.memory",
            format!("{} is too little memory for a Bitcoin node", host.memory),
            "write the host's memory with a unit, for example `memory: 8Gi`",
        );
    } else if host.memory > MAX_MEMORY {
        checker.error(
            "spec.host.memory",
            format!(
                "{} is more memory than openlsp plans for (at most {MAX_MEMORY})",
                host.memory
            ),
            "write the host's memory with a unit, for example `memory: 8Gi`",
        );
    }
    if host.cpus == 0 {
        checker.error(
            "spec.host.cpus",
            "a host needs at least one CPU",
            "write the number of cores, for example `cpus: 4`",
        );
    }
    if host.reserved_memory >= host.memory {
        checker.error(
            "spec.host.reservedMemory",
            format!(
                "reserving {} leaves nothing of the host's {}",
                host.reserved_memory, host.memory
            ),
            "lower reservedMemory, or leave it out for the default (a quarter, at least 1.5Gi)",
        );
    }
}

/// Each node alone, and all pods of each machine together, fit its memory and CPUs.
pub(super) fn check_capacity(checker: &mut Checker, site: &Site) {
    let host = &site.spec.host;
    let budget = site.memory_budget();
    let mut per_machine: BTreeMap<&str, (Bytes, u64)> = BTreeMap::new();
    let nodes = site
        .spec
        .bitcoin
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("spec.bitcoin[{i}]"), &n.disk, n.resources))
        .chain(
            site.spec
                .lightning
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("spec.lightning[{i}]"), &n.disk, n.resources)),
        )
        .collect::<Vec<_>>();
    for (base, disk, resources) in &nodes {
        // Out of any range: reported by the node's own checks, and no sum means much with it.
        if resources.memory > MAX_MEMORY || resources.cpu > MAX_CPU {
            continue;
        }
        if resources.memory > budget {
            checker.error(
                &format!("{base}.resources.memory"),
                format!(
                    "the node needs {} of memory but the host has {} for pods ({} minus {} reserved)",
                    resources.memory, budget, host.memory, host.reserved_memory
                ),
                "lower resources.memory (and dbcache), or describe a bigger host",
            );
        }
        let machine = site.machine_of_disk(disk);
        let entry = per_machine.entry(machine).or_insert((Bytes(0), 0));
        entry.0 = entry.0.plus(resources.memory);
        entry.1 = entry.1.saturating_add(resources.cpu.0);
    }
    // Tor, the exporters, lndmon and the containers beside LND and CLN count too.
    for (machine, resources) in extra_pods(site) {
        let entry = per_machine.entry(machine).or_insert((Bytes(0), 0));
        entry.0 = entry.0.plus(resources.memory);
        entry.1 = entry.1.saturating_add(resources.cpu.0);
    }
    for (machine, (memory, cpu)) in per_machine {
        if memory > budget {
            checker.error(
                "spec.host.memory",
                format!(
                    "the pods on {machine} need {memory} of memory together, but the host has {budget} for pods ({} minus {} reserved)",
                    host.memory, host.reserved_memory
                ),
                "lower dbcache or resources.memory, move nodes to another machine, or reduce reservedMemory",
            );
        }
        if cpu > u64::from(host.cpus) * 1000 {
            checker.error(
                "spec.host.cpus",
                format!(
                    "the pods on {machine} request {} CPUs together, but the host has {}",
                    Millicores(cpu),
                    host.cpus
                ),
                "lower resources.cpu on some nodes",
            );
        }
    }
}
