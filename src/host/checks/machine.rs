//! The checks of the machine under the cluster: its architecture and memory (against the
//! profile, when there is one), its node name, and what microk8s needs from the boot setup: the
//! cgroup flags, the conntrack module and, on Ubuntu on a Raspberry Pi, the extra modules.

use crate::host::cmdline::{CGROUP_FLAGS, CgroupFlags, booted_with_flags};
use crate::host::inspect::{MODULES, Machine, RASPI_MODULES_EXTRA};
use crate::host::report::Check;
use crate::profile::Site;
use crate::profile::quantity::Bytes;

/// bitcoind with txindex plus LND wants this much memory.
const RECOMMENDED_MEMORY: Bytes = Bytes::gib(8);
/// The kernel module microk8s's Calico needs loaded at boot.
pub const CONNTRACK_MODULE: &str = "ip_conntrack";

const FIX_COMMAND: &str = "sudo openlsp init --fix";
pub(super) fn architecture(machine: &Machine, site: Option<&Site>) -> Check {
    let title = "architecture";
    let uname = match &machine.uname {
        Ok(uname) => uname,
        Err(why) => {
            return Check::fail(
                title,
                format!("cannot tell: `uname -m` failed: {why}"),
                vec!["run openlsp on the machine itself, where `uname -m` works".to_owned()],
            );
        }
    };
    let Some(arch) = machine.arch() else {
        return Check::fail(
            title,
            format!("`uname -m` says {uname}: not a 64-bit ARM or x86 system"),
            vec![
                "flash a 64-bit image: Ubuntu Server 24.04 LTS (arm64) or Raspberry Pi OS (64-bit)"
                    .to_owned(),
            ],
        );
    };
    if let Some(site) = site
        && site.spec.host.arch != arch
    {
        return Check::warn(
            title,
            format!(
                "{} ({uname}), but the profile says spec.host.arch: {}",
                arch.as_str(),
                site.spec.host.arch.as_str()
            ),
            vec![format!(
                "set `spec.host.arch: {}` in the profile",
                arch.as_str()
            )],
        );
    }
    let os = machine
        .os
        .as_ref()
        .map(|os| format!(", {}", os.pretty_name))
        .unwrap_or_default();
    Check::pass(title, format!("{} ({uname}){os}", arch.as_str()))
}

pub(super) fn memory(machine: &Machine, site: Option<&Site>) -> Check {
    let title = "memory";
    let Some(installed) = machine.memory() else {
        return Check::warn(
            title,
            "cannot read MemTotal from /proc/meminfo",
            vec!["check the machine's memory with `free -h`".to_owned()],
        );
    };
    let cpus = machine
        .cpus
        .map(|n| format!(", {n} CPU{}", if n == 1 { "" } else { "s" }))
        .unwrap_or_default();
    let total = machine
        .mem_total
        .map(|t| format!(" (MemTotal {})", t.human()))
        .unwrap_or_default();
    let found = format!("{installed}{total}{cpus}");
    if let Some(site) = site
        && site.spec.host.memory > installed
    {
        return Check::warn(
            title,
            format!(
                "{found}, but the profile says spec.host.memory: {}",
                site.spec.host.memory
            ),
            vec![format!(
                "set `spec.host.memory: {installed}` so the pods' memory is sized for this machine"
            )],
        );
    }
    let txindex = site.is_none_or(|site| site.spec.bitcoin.iter().any(|b| b.txindex));
    if installed < RECOMMENDED_MEMORY && txindex {
        return Check::warn(
            title,
            format!("{found}: bitcoind with txindex plus LND wants {RECOMMENDED_MEMORY}"),
            vec![
                "use an 8 GB Raspberry Pi 4, or run bitcoind without txindex (`txindex: false`)"
                    .to_owned(),
            ],
        );
    }
    Check::pass(title, found)
}

pub(super) fn node_name(machine: &Machine, site: Option<&Site>) -> Option<Check> {
    let site = site?;
    let hostname = machine.hostname.as_deref()?;
    let wanted = &site.spec.host.node_name;
    Some(if hostname == wanted {
        Check::pass(
            "node name",
            format!("{hostname}, as spec.host.nodeName says"),
        )
    } else {
        Check::warn(
            "node name",
            format!(
                "this machine is {hostname}, but spec.host.nodeName is {wanted}; volumes bind to the node of that name"
            ),
            vec![format!(
                "set `spec.host.nodeName: {hostname}` if this is the machine (`microk8s kubectl get nodes` shows its name)"
            )],
        )
    })
}

pub(super) fn cgroups(machine: &Machine) -> Check {
    let title = "cgroups";
    let flags = CGROUP_FLAGS.join(" ");
    let Some((path, text)) = &machine.cmdline else {
        let controllers: Vec<&str> = machine
            .cgroup_controllers
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if controllers.contains(&"cpuset") && controllers.contains(&"memory") {
            return Check::pass(
                title,
                "no Raspberry Pi cmdline.txt; the kernel has the cpuset and memory cgroups",
            );
        }
        return Check::warn(
            title,
            "no /boot/firmware/cmdline.txt or /boot/cmdline.txt, and the cpuset and memory cgroups are not confirmed",
            vec![
                "on a Raspberry Pi, mount the boot partition; elsewhere enable the cpuset and memory cgroup controllers in the boot loader's kernel parameters".to_owned(),
            ],
        );
    };
    let state = CgroupFlags::of(text);
    if state.complete() {
        if let Some(booted) = &machine.booted_cmdline
            && !booted_with_flags(booted)
        {
            return Check::warn(
                title,
                format!("{path} has the flags, but the running kernel booted without them"),
                vec!["sudo reboot".to_owned()],
            );
        }
        return Check::pass(title, format!("{path}: the first line has {flags}"));
    }
    let missing = state.missing.join(" ");
    let mut found = format!("{path}: the first line lacks {missing}");
    if let Some((_, line)) = state.misplaced.first() {
        found.push_str(&format!(
            " (line {line} has some, but the firmware reads only the first line)"
        ));
    }
    Check::fail(
        title,
        found,
        vec![format!(
            "append ` {missing}` to the end of the first line of {path} (`{FIX_COMMAND}` does this), then `sudo reboot`"
        )],
    )
}

/// Whether `/etc/modules` loads `module` (one module per line, `#` comments).
pub fn modules_list(modules: &str, module: &str) -> bool {
    modules
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .any(|line| line.split_whitespace().next() == Some(module))
}

pub(super) fn kernel_module(machine: &Machine) -> Check {
    let title = "kernel module";
    let listed = machine
        .modules
        .as_deref()
        .is_some_and(|text| modules_list(text, CONNTRACK_MODULE));
    if listed {
        return Check::pass(
            title,
            format!("{CONNTRACK_MODULE} is loaded at boot ({MODULES})"),
        );
    }
    let found = if machine.modules.is_some() {
        format!("{CONNTRACK_MODULE} is not in {MODULES}")
    } else {
        format!("{MODULES} does not exist")
    };
    Check::fail(
        title,
        found,
        vec![format!(
            "add the line `{CONNTRACK_MODULE}` to {MODULES} (`{FIX_COMMAND}` does this)"
        )],
    )
}

pub(super) fn raspi_modules(machine: &Machine) -> Option<Check> {
    if !(machine.is_ubuntu() && machine.is_raspberry_pi()) {
        return None;
    }
    let title = "raspi modules";
    Some(match machine.raspi_modules_extra {
        Some(true) => Check::pass(
            title,
            format!("{RASPI_MODULES_EXTRA} is installed (Calico needs it)"),
        ),
        _ => Check::warn(
            title,
            format!(
                "Ubuntu on a Raspberry Pi: Calico, microk8s's network, needs {RASPI_MODULES_EXTRA}, which dpkg does not list"
            ),
            vec![format!("sudo apt install {RASPI_MODULES_EXTRA}")],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{DISKS, machine, site, status_of};
    use super::super::preflight;
    use super::*;
    use crate::host::report::Status;

    #[test]
    fn small_32_bit_or_misdescribed_machines_are_reported() {
        let mut m = machine();
        m.uname = Ok("armv7l".to_owned());
        m.mem_total = Some(Bytes::mib(3_800));
        let report = preflight(&m, None);
        assert_eq!(status_of(&report, "architecture"), Status::Fail);
        assert_eq!(status_of(&report, "memory"), Status::Warn);
        let m = machine();
        let mut site = site(DISKS, "txindex: true");
        site.spec.host.memory = Bytes::gib(32);
        site.spec.host.node_name = "pi4".to_owned();
        let report = preflight(&m, Some(&site));
        assert_eq!(status_of(&report, "memory"), Status::Warn);
        assert_eq!(status_of(&report, "node name"), Status::Warn);
    }
}
