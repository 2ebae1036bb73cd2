//! The preflight checks of `openlsp init`: a pure function from what [`Machine`] found (and
//! the site profile, when there is one) to a [`Report`]. Each failed check names the exact
//! command or edit that fixes it; `--fix` makes only the file edits marked as its own.
//! They are cut by what they look at: [`machine`] (the hardware and the boot setup),
//! [`cluster`] (microk8s and the way in to its API server) and [`disks`] (the data disks, or
//! without a profile the ones `init` would propose); this file runs them in the order the
//! report shows them.

mod cluster;
mod disks;
mod machine;

pub(super) use disks::node_dirs;
pub(super) use machine::{CONNTRACK_MODULE, modules_list};

use super::inspect::Machine;
use super::report::Report;
use crate::profile::Site;
use cluster::{access, microk8s_checks};
use disks::{proposed_disks, site_disks};
use machine::{architecture, cgroups, kernel_module, memory, node_name, raspi_modules};

/// Every check, in the order the report shows them.
pub fn preflight(machine: &Machine, site: Option<&Site>) -> Report {
    let mut checks = vec![architecture(machine, site), memory(machine, site)];
    checks.extend(node_name(machine, site));
    checks.push(cgroups(machine));
    checks.push(kernel_module(machine));
    checks.extend(raspi_modules(machine));
    checks.extend(microk8s_checks(machine));
    checks.extend(access(machine));
    match site {
        Some(site) => checks.extend(site_disks(machine, site)),
        None => checks.extend(proposed_disks(machine)),
    }
    Report {
        checks,
        hidden_passes: 0,
    }
}

/// The machine and the site the checks' tests start from, and how they find a check.
#[cfg(test)]
mod fixtures {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::host::inspect::{ApiProbe, Machine, Microk8s, Space, User};
    use crate::host::kubeconfig::Target;
    use crate::host::microk8s::{REQUIRED_ADDONS, Status as Microk8sStatus};
    use crate::host::mounts::MountTable;
    use crate::host::report::{Check, Report, Status};
    use crate::profile::Site;
    use crate::profile::quantity::Bytes;

    /// An amd64 box with microk8s ready and two data disks, as `Machine::inspect` would read it.
    pub(super) fn machine() -> Machine {
        let mounts = "/dev/nvme0n1p2 / ext4 rw 0 0\n/dev/sda1 /srv/blockchain ext4 rw 0 0\n/dev/sdb1 /srv/lightning xfs rw 0 0\n";
        let space = |gib| {
            Ok(Space {
                size: Bytes::gib(gib),
                free: Bytes::gib(gib - 1),
            })
        };
        Machine {
            uname: Ok("x86_64".to_owned()),
            mem_total: Some(Bytes::mib(15_800)),
            cpus: Some(8),
            os: None,
            hostname: Some("box".to_owned()),
            cmdline: None,
            booted_cmdline: None,
            cgroup_controllers: Some("cpuset cpu io memory pids\n".to_owned()),
            modules: Some("ip_conntrack\n".to_owned()),
            raspi_modules_extra: None,
            mounts: MountTable::parse(mounts),
            fstab: Some(MountTable::parse(mounts)),
            microk8s: Microk8s::Installed {
                version: Some("v1.31.2".to_owned()),
                status: Ok(Microk8sStatus {
                    running: true,
                    enabled: REQUIRED_ADDONS.iter().map(|a| (*a).to_owned()).collect(),
                }),
            },
            user: Ok(User {
                name: "op".to_owned(),
                groups: vec!["op".to_owned(), "microk8s".to_owned()],
            }),
            kubeconfig: Some("/home/op/.kube/config".to_owned()),
            kubeconfig_mode: Some(0o600),
            kubeconfig_target: Some(Ok(Target {
                context: "microk8s".to_owned(),
                server: "https://127.0.0.1:16443".to_owned(),
            })),
            api: ApiProbe::Answered,
            spaces: BTreeMap::from([
                ("/srv/blockchain".to_owned(), space(1000)),
                ("/srv/lightning".to_owned(), space(50)),
                ("/".to_owned(), space(100)),
            ]),
            dirs: BTreeMap::from([
                ("/srv/blockchain/bitcoind".to_owned(), true),
                ("/srv/lightning/lnd".to_owned(), true),
            ]),
        }
    }

    pub(super) fn site(disks: &str, bitcoin: &str) -> Site {
        let text = format!(
            "apiVersion: openlsp.io/v1alpha1\nkind: Site\nmetadata: {{ name: s }}\nspec:\n  network: mainnet\n  host: {{ nodeName: box, arch: amd64, memory: 16Gi, cpus: 8 }}\n  disks: {disks}\n  bitcoin:\n    - {{ name: bitcoind, disk: blockchain, {bitcoin} }}\n  lightning:\n    - {{ name: lnd, bitcoin: bitcoind, disk: lightning }}\n"
        );
        crate::profile::parse(Path::new("t.yaml"), &text)
            .unwrap()
            .site
    }

    pub(super) const DISKS: &str = "{ blockchain: { path: /srv/blockchain, size: 950Gi }, lightning: { path: /srv/lightning, size: 20Gi } }";

    pub(super) fn check_titled<'a>(report: &'a Report, title: &str) -> &'a Check {
        report
            .checks
            .iter()
            .find(|c| c.title == title)
            .unwrap_or_else(|| panic!("no check {title}: {report:#?}"))
    }

    pub(super) fn status_of(report: &Report, title: &str) -> Status {
        check_titled(report, title).status
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{DISKS, machine, site};
    use super::*;
    use crate::host::report::{Check, Status};

    #[test]
    fn a_ready_amd64_machine_passes_everything() {
        let site = site(DISKS, "txindex: true");
        let report = preflight(&machine(), Some(&site));
        let not_passed: Vec<&Check> = report
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .collect();
        assert!(not_passed.is_empty(), "{not_passed:#?}");
        // No cmdline.txt: the cgroup controllers decide.
        assert!(report.checks[3].found.contains("cpuset and memory cgroups"));
    }
}
