//! The preflight checks of `openlsp init`: a pure function from what [`Machine`] found (and
//! the site profile, when there is one) to a [`Report`]. Each failed check names the exact
//! command or edit that fixes it; `--fix` makes only the file edits marked as its own.

use std::collections::BTreeSet;

use super::cmdline::{CGROUP_FLAGS, CgroupFlags, booted_with_flags};
use super::inspect::{ApiProbe, FSTAB, MODULES, Machine, Microk8s, RASPI_MODULES_EXTRA, Space};
use super::kubeconfig::Unusable;
use super::microk8s::{self, REQUIRED_ADDONS};
use super::mounts::Mount;
use super::proposal::{DiskCandidate, propose_disks};
use super::report::{Check, Report, Status};
use crate::images;
use crate::profile::quantity::Bytes;
use crate::profile::{Disk, Network, Site, mainnet_chain_size};

/// bitcoind with txindex plus LND wants this much memory.
const RECOMMENDED_MEMORY: Bytes = Bytes::gib(8);
/// The kernel module microk8s's Calico needs loaded at boot.
pub const CONNTRACK_MODULE: &str = "ip_conntrack";

const FIX_COMMAND: &str = "sudo openlsp init --fix";

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

fn architecture(machine: &Machine, site: Option<&Site>) -> Check {
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

fn memory(machine: &Machine, site: Option<&Site>) -> Check {
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

fn node_name(machine: &Machine, site: Option<&Site>) -> Option<Check> {
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

fn cgroups(machine: &Machine) -> Check {
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

fn kernel_module(machine: &Machine) -> Check {
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

fn raspi_modules(machine: &Machine) -> Option<Check> {
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

fn install_microk8s() -> String {
    format!(
        "sudo snap install microk8s --classic --channel={}",
        microk8s::CHANNEL
    )
}

fn enable_addons(addons: &[&str]) -> String {
    format!("microk8s enable {}", addons.join(" "))
}

fn microk8s_checks(machine: &Machine) -> Vec<Check> {
    let all_addons = || {
        Check::fail(
            "addons",
            "cannot tell: microk8s is not installed",
            vec![format!(
                "after installing: {}",
                enable_addons(&REQUIRED_ADDONS)
            )],
        )
    };
    let (version, status) = match &machine.microk8s {
        Microk8s::SnapMissing => {
            return vec![
                Check::fail(
                    "microk8s",
                    "snap is not installed, so neither is microk8s",
                    vec!["sudo apt install snapd".to_owned(), install_microk8s()],
                ),
                all_addons(),
            ];
        }
        Microk8s::NotInstalled => {
            return vec![
                Check::fail("microk8s", "not installed", vec![install_microk8s()]),
                all_addons(),
            ];
        }
        Microk8s::Unknown(why) => {
            return vec![Check::fail(
                "microk8s",
                format!("cannot ask snap about microk8s: {why}"),
                vec!["check that snapd runs: `systemctl status snapd`".to_owned()],
            )];
        }
        Microk8s::Installed {
            version, status, ..
        } => (version, status),
    };
    let mut checks = Vec::new();
    let refresh = format!("sudo snap refresh microk8s --channel={}", microk8s::CHANNEL);
    let (major, minor) = microk8s::MIN_VERSION;
    let mut installed = match version.as_deref().map(|v| (v, microk8s::parse_version(v))) {
        Some((v, Some(parsed))) if parsed >= microk8s::MIN_VERSION => {
            Check::pass("microk8s", format!("{v} (snap)"))
        }
        Some((v, Some(_))) => Check::fail(
            "microk8s",
            format!("{v} is older than {major}.{minor}"),
            vec![refresh],
        ),
        Some((v, None)) => Check::warn(
            "microk8s",
            format!("cannot read the version {v:?}; openlsp needs {major}.{minor} or newer"),
            vec![format!("if it is older: {refresh}")],
        ),
        None => Check::warn(
            "microk8s",
            format!("installed, version unknown; openlsp needs {major}.{minor} or newer"),
            vec![format!("if it is older: {refresh}")],
        ),
    };
    if matches!(status, Ok(status) if !status.running) {
        installed.status = Status::Fail;
        installed.found.push_str(", not running");
        installed
            .fix
            .push("sudo microk8s start; if it stays down: `microk8s inspect`".to_owned());
    }
    checks.push(installed);
    match status {
        Err(why) => {
            let fix = if why.contains("permission") {
                "see the microk8s group check below".to_owned()
            } else {
                "sudo microk8s start; if it stays down: `microk8s inspect`".to_owned()
            };
            checks.push(Check::fail(
                "addons",
                format!("cannot read `microk8s status`: {why}"),
                vec![fix],
            ));
        }
        Ok(status) if !status.running => checks.push(Check::fail(
            "addons",
            "cannot tell: microk8s is not running",
            vec![format!(
                "once it runs, if they are missing: {}",
                enable_addons(&REQUIRED_ADDONS)
            )],
        )),
        Ok(status) => {
            let missing = status.missing_addons();
            checks.push(if missing.is_empty() {
                Check::pass("addons", format!("enabled: {}", REQUIRED_ADDONS.join(" ")))
            } else {
                Check::fail(
                    "addons",
                    format!("not enabled: {}", missing.join(" ")),
                    vec![enable_addons(&missing)],
                )
            });
        }
    }
    checks
}

fn access(machine: &Machine) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(match &machine.user {
        Err(why) => Check::warn(
            "microk8s group",
            format!("cannot tell the user's groups: {why}"),
            vec!["check with `id -nG`".to_owned()],
        ),
        Ok(user) if user.name == "root" => Check::pass(
            "microk8s group",
            "running as root; run `openlsp init --check` again as the operator's user",
        ),
        Ok(user) if user.groups.iter().any(|g| g == "microk8s") => Check::pass(
            "microk8s group",
            format!("{} is in the microk8s group", user.name),
        ),
        Ok(user) => Check::fail(
            "microk8s group",
            format!("{} is not in the microk8s group", user.name),
            vec![
                "sudo usermod -a -G microk8s $USER".to_owned(),
                "then log out and back in (or run `newgrp microk8s`)".to_owned(),
            ],
        ),
    });
    checks.push(kubeconfig(machine));
    checks.push(api_server(machine));
    checks
}

/// Writes a fresh kubeconfig from microk8s, private from the start.
fn write_kubeconfig(path: &str) -> String {
    format!(
        "mkdir -p {dir} && (umask 077 && microk8s config > {path})",
        dir = path.rsplit_once('/').map_or(".", |(dir, _)| dir)
    )
}

/// Replaces a kubeconfig that cannot be used, keeping the old one.
fn replace_kubeconfig(path: &str) -> String {
    format!("mv {path} {path}.old && (umask 077 && microk8s config > {path})")
}

fn kubeconfig(machine: &Machine) -> Check {
    let title = "kubeconfig";
    let Some(path) = &machine.kubeconfig else {
        return Check::fail(
            title,
            "HOME is not set, so there is no ~/.kube/config",
            vec!["run openlsp from a login shell, or set KUBECONFIG".to_owned()],
        );
    };
    let (Some(mode), Some(target)) = (machine.kubeconfig_mode, &machine.kubeconfig_target) else {
        return Check::fail(
            title,
            format!("{path} does not exist"),
            vec![write_kubeconfig(path)],
        );
    };
    let target = match target {
        Ok(target) => target,
        Err(unusable) => {
            let fix = match unusable {
                Unusable::Unreadable(_) => {
                    format!("it was probably written with sudo: sudo chown $USER {path}")
                }
                Unusable::NoCurrentContext { contexts } if !contexts.is_empty() => format!(
                    "pick the microk8s context: microk8s kubectl --kubeconfig {path} config use-context <name>; or {}",
                    replace_kubeconfig(path)
                ),
                _ => replace_kubeconfig(path),
            };
            return Check::fail(title, format!("{path} {unusable}"), vec![fix]);
        }
    };
    let points = format!("context {}, server {}", target.context, target.server);
    if mode & 0o077 != 0 {
        return Check::warn(
            title,
            format!(
                "{path} ({points}) is readable by other users (mode {mode:04o}); it holds cluster-admin credentials"
            ),
            vec![format!("chmod 600 {path}")],
        );
    }
    Check::pass(title, format!("{path}: {points}, private"))
}

fn api_server(machine: &Machine) -> Check {
    let title = "API server";
    if !matches!(machine.microk8s, Microk8s::Installed { .. }) {
        return Check::fail(
            title,
            "none: microk8s is not installed",
            vec!["after installing microk8s: microk8s status --wait-ready".to_owned()],
        );
    }
    let start = "sudo microk8s start && microk8s status --wait-ready".to_owned();
    let path = machine.kubeconfig.as_deref().unwrap_or("~/.kube/config");
    match &machine.api {
        ApiProbe::Answered => Check::pass(title, format!("answers /readyz through {path}")),
        ApiProbe::Failed(why) => Check::fail(
            title,
            format!("does not answer through {path}: {why}"),
            vec![
                start,
                format!(
                    "if `microk8s kubectl get --raw /readyz` answers but this does not, {path} is stale: {}",
                    replace_kubeconfig(path)
                ),
            ],
        ),
        ApiProbe::NotAsked(why) => {
            let fix = if machine.microk8s.running() {
                "make the kubeconfig usable first (see the kubeconfig check)".to_owned()
            } else {
                start
            };
            Check::fail(title, format!("not asked: {why}"), vec![fix])
        }
    }
}

/// What the report says about a filesystem: `ext4 on /dev/sda1, 1.8Ti (1.7Ti free)`.
fn describe(mount: &Mount, space: Option<&Result<Space, String>>) -> String {
    let space = match space {
        Some(Ok(space)) => format!(", {} ({} free)", space.size.human(), space.free.human()),
        Some(Err(why)) => format!(", size unknown ({why})"),
        None => String::new(),
    };
    format!("{} on {}{space}", mount.fstype, mount.source)
}

fn fstab_line(path: &str, mount: Option<&Mount>) -> String {
    match mount {
        Some(mount) if mount.source.starts_with("/dev/") => format!(
            "echo \"UUID=$(sudo blkid -s UUID -o value {}) {path} {} defaults,nofail 0 2\" | sudo tee -a {FSTAB}",
            mount.source, mount.fstype
        ),
        _ => format!(
            "mount the disk first, then add `UUID=<uuid> {path} <fstype> defaults,nofail 0 2` to {FSTAB}"
        ),
    }
}

fn fstab_check(machine: &Machine, title: String, path: &str, mount: Option<&Mount>) -> Check {
    match &machine.fstab {
        None => Check::fail(
            title,
            format!("{FSTAB} does not exist"),
            vec![fstab_line(path, mount)],
        ),
        Some(fstab) if fstab.at(path).is_some() => {
            Check::pass(title, format!("{path} is in {FSTAB}"))
        }
        Some(_) => Check::fail(
            title,
            format!("{path} is not in {FSTAB}, so it is not mounted after a reboot"),
            vec![fstab_line(path, mount)],
        ),
    }
}

fn mount_fix(path: &str) -> Vec<String> {
    vec![
        "find the partition with `lsblk -f` (never format a disk that holds data)".to_owned(),
        format!(
            "sudo mkdir -p {path} && sudo mount /dev/<partition> {path}, and add it to {FSTAB}"
        ),
    ]
}

fn site_disks(machine: &Machine, site: &Site) -> Vec<Check> {
    let mut checks = Vec::new();
    let here = &site.spec.host.node_name;
    for (name, disk) in &site.spec.disks {
        let title = format!("disk {name}");
        if &disk.node_name != here {
            checks.push(Check::warn(
                title,
                format!("{} is on node {}, not this one", disk.path, disk.node_name),
                vec![format!("run `openlsp init --check` on {}", disk.node_name)],
            ));
            continue;
        }
        checks.push(disk_mount(machine, name, disk));
        checks.extend(chain_sizes(machine, site, name, disk));
        let mount = machine.mounts.at(&disk.path);
        if !(mount.is_none() && disk.allow_root_filesystem) {
            checks.push(fstab_check(
                machine,
                format!("fstab {name}"),
                &disk.path,
                mount,
            ));
        }
        checks.extend(data_dirs(machine, site, name, disk));
    }
    for lnd in &site.spec.lightning {
        if let Some(disk) = site.spec.disks.get(&lnd.disk)
            && &disk.node_name == here
        {
            checks.push(isolation(machine, site, &lnd.name, &lnd.disk, disk));
        }
    }
    checks
}

fn disk_mount(machine: &Machine, name: &str, disk: &Disk) -> Check {
    let title = format!("disk {name}");
    let path = &disk.path;
    let space = machine.space_of(path);
    let (found, mounted) = match machine.mounts.at(path) {
        Some(mount) => (format!("{path}: {}", describe(mount, space)), true),
        None => {
            let found = match machine.mounts.containing(path) {
                Some(mount) => format!(
                    "{path} is not a mount point; it is a directory on the filesystem mounted at {}",
                    mount.target
                ),
                None => format!("{path} is not a mount point"),
            };
            (found, false)
        }
    };
    if !mounted && !disk.allow_root_filesystem {
        return Check::fail(title, found, mount_fix(path));
    }
    if let Some(Ok(space)) = space
        && disk.size > space.size
    {
        return Check::fail(
            title,
            format!(
                "{found}; the profile wants {} but the filesystem has {}",
                disk.size,
                space.size.human()
            ),
            vec![format!(
                "set `spec.disks.{name}.size: {}` (or less), or use a bigger disk",
                Bytes::gib(space.size.0 / Bytes::gib(1).0)
            )],
        );
    }
    if !mounted {
        return Check::warn(
            title,
            format!("{found} (allowRootFilesystem: true)"),
            vec![format!(
                "better: give it its own partition mounted at {path}"
            )],
        );
    }
    Check::pass(title, format!("{found}; the profile wants {}", disk.size))
}

fn chain_sizes(machine: &Machine, site: &Site, name: &str, disk: &Disk) -> Vec<Check> {
    if site.spec.network != Network::Mainnet {
        return Vec::new();
    }
    let space = match machine.space_of(&disk.path) {
        Some(Ok(space)) => Some(*space),
        _ => None,
    };
    site.spec
        .bitcoin
        .iter()
        .enumerate()
        .filter(|(_, node)| node.disk == name && node.prune.is_none())
        .map(|(i, node)| {
            let title = format!("chain {}", node.name);
            let needed = mainnet_chain_size(node.txindex);
            let what = format!(
                "a full mainnet chain{} needs about {needed}",
                if node.txindex { " with txindex" } else { "" }
            );
            let prune = format!("or keep only recent blocks: `spec.bitcoin[{i}].prune: 550` (or more)");
            match space {
                None => Check::warn(
                    title,
                    format!("{what}; the size of {} is unknown", disk.path),
                    vec![format!("check with `df -h {}`", disk.path)],
                ),
                Some(space) if space.size < needed => Check::fail(
                    title,
                    format!("{what}, but {} holds only {}", disk.path, space.size.human()),
                    vec!["use a bigger disk".to_owned(), prune],
                ),
                Some(space) if space.free < needed => Check::warn(
                    title,
                    format!(
                        "{what}, and {} has {} free: enough only if the chain is already partly there",
                        disk.path,
                        space.free.human()
                    ),
                    vec!["free space on the disk".to_owned(), prune],
                ),
                Some(space) => Check::pass(
                    title,
                    format!("{what}; {} has {} free", disk.path, space.free.human()),
                ),
            }
        })
        .collect()
}

fn data_dirs(machine: &Machine, site: &Site, name: &str, disk: &Disk) -> Vec<Check> {
    let mounted = machine.mounts.at(&disk.path).is_some() || disk.allow_root_filesystem;
    node_dirs(site, name, &disk.path)
        .into_iter()
        .map(|(node, dir, uid)| {
            let title = format!("data dir {node}");
            let exists = machine.dirs.get(&dir).copied().unwrap_or(false);
            let create = format!("sudo install -d -o {uid} -g {uid} -m 0700 {dir}");
            match (mounted, exists) {
                (true, true) => Check::pass(title, format!("{dir} exists")),
                (true, false) => Check::warn(
                    title,
                    format!("{dir} does not exist yet; the pod waits for it"),
                    vec![create],
                ),
                (false, true) => Check::fail(
                    title,
                    format!("{dir} exists on the root filesystem because {} is not mounted: {node} would write there", disk.path),
                    vec![
                        format!("move it out of the way (`sudo mv {dir} {dir}.old`), mount the disk, then: {create}"),
                    ],
                ),
                (false, false) => Check::warn(
                    title,
                    format!("{dir} does not exist; create it once {} is mounted", disk.path),
                    vec![create],
                ),
            }
        })
        .collect()
}

/// The data directories of the nodes on disk `name`: (node, `<path>/<node>`, uid).
pub fn node_dirs(site: &Site, name: &str, path: &str) -> Vec<(String, String, i64)> {
    let bitcoin = site
        .spec
        .bitcoin
        .iter()
        .filter(|n| n.disk == name)
        .map(|n| (n.name.clone(), images::BITCOIND_UID));
    let lightning = site
        .spec
        .lightning
        .iter()
        .filter(|n| n.disk == name)
        .map(|n| (n.name.clone(), images::LND_UID));
    bitcoin
        .chain(lightning)
        .map(|(node, uid)| {
            let dir = format!("{path}/{node}");
            (node, dir, uid)
        })
        .collect()
}

fn isolation(machine: &Machine, site: &Site, node: &str, name: &str, disk: &Disk) -> Check {
    let title = format!("isolation {node}");
    let Some(fs) = machine.mounts.containing(&disk.path) else {
        return Check::warn(
            title,
            format!(
                "cannot tell which filesystem holds {} (no /proc/mounts)",
                disk.path
            ),
            vec!["run `openlsp init --check` on the machine itself".to_owned()],
        );
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let mut accepted = Vec::new();
    if fs.target == "/" {
        if disk.allow_root_filesystem {
            accepted.push(format!(
                "on the root filesystem (spec.disks.{name}.allowRootFilesystem: true)"
            ));
        } else {
            problems.push(format!("{} is on the root filesystem: if the system fills it, LND cannot write channel state", disk.path));
            fixes.push(format!(
                "or accept the risk: `spec.disks.{name}.allowRootFilesystem: true`"
            ));
        }
    }
    let chains: BTreeSet<String> = site
        .spec
        .bitcoin
        .iter()
        .filter_map(|b| {
            let chain_disk = site.spec.disks.get(&b.disk)?;
            let chain_fs = machine.mounts.containing(&chain_disk.path)?;
            chain_fs
                .same_filesystem(fs)
                .then(|| format!("{} ({})", b.name, chain_disk.path))
        })
        .collect();
    if !chains.is_empty() {
        let list = chains.into_iter().collect::<Vec<_>>().join(", ");
        if disk.allow_bitcoin_and_lightning {
            accepted.push(format!("shares a filesystem with the chain of {list} (spec.disks.{name}.allowBitcoinAndLightning: true)"));
        } else {
            problems.push(format!("{} is on the same filesystem as the chain of {list}: a full chain disk can close channels", disk.path));
            fixes.push(format!(
                "or accept the risk: `spec.disks.{name}.allowBitcoinAndLightning: true`"
            ));
        }
    }
    if !problems.is_empty() {
        fixes.insert(0, format!("give Lightning its own partition (20Gi is plenty), mount it at {} and add it to {FSTAB}", disk.path));
        return Check::fail(title, problems.join("; "), fixes);
    }
    if !accepted.is_empty() {
        return Check::warn(
            title,
            format!("Lightning state of {node} {}", accepted.join("; ")),
            vec!["better: a partition of its own for Lightning state".to_owned()],
        );
    }
    Check::pass(
        title,
        format!(
            "{} ({}) is apart from the root filesystem and every chain",
            disk.path, fs.source
        ),
    )
}

fn proposed_disks(machine: &Machine) -> Vec<Check> {
    let candidates = DiskCandidate::all(machine);
    let mut checks = Vec::new();
    for candidate in &candidates {
        let mount = &candidate.mount;
        checks.push(Check::pass(
            format!("disk {}", mount.target),
            describe(mount, machine.spaces.get(&mount.target)),
        ));
        checks.push(fstab_check(
            machine,
            format!("fstab {}", mount.target),
            &mount.target,
            Some(mount),
        ));
    }
    let shared = shared_mounts(machine, &candidates);
    let proposal = propose_disks(&candidates);
    let title = "disks";
    checks.push(match (&proposal.blockchain, &proposal.lightning) {
        (None, _) => Check::fail(
            title,
            format!("no data disk is mounted, only the system's own filesystems{shared}"),
            vec![
                "mount the blockchain disk at /srv/blockchain and a separate partition for Lightning at /srv/lightning, both in /etc/fstab".to_owned(),
                "`lsblk -f` lists the partitions; openlsp never partitions or formats a disk".to_owned(),
            ],
        ),
        (Some(chain), None) => Check::fail(
            title,
            format!("only one data disk ({}): Lightning state needs its own partition{shared}", chain.mount.target),
            vec!["create a small partition (20Gi is plenty) for Lightning, mount it at /srv/lightning and add it to /etc/fstab".to_owned()],
        ),
        (Some(chain), Some(lightning)) => {
            let full = mainnet_chain_size(false);
            let found = format!(
                "`openlsp init` proposes blockchain={}, lightning={}, apart from each other and from the root filesystem{shared}",
                chain.mount.target, lightning.mount.target
            );
            match chain.space {
                Some(space) if space.size < full => Check::warn(
                    title,
                    format!("{found}; {} ({}) is too small for a full mainnet chain (about {full}, {} with txindex)", chain.mount.target, space.size.human(), mainnet_chain_size(true)),
                    vec!["use a bigger disk for mainnet, or prune (`--prune 550`)".to_owned()],
                ),
                _ => Check::pass(title, found),
            }
        }
    });
    checks
}

/// The data mounts that are no disk of their own (bind mounts of a proposed disk or of the
/// root filesystem), as `; not a disk of its own: …` for the disks check, or nothing.
fn shared_mounts(machine: &Machine, candidates: &[DiskCandidate]) -> String {
    let root = machine.mounts.root();
    let shared: Vec<String> = machine
        .mounts
        .data_mounts()
        .into_iter()
        .filter(|mount| !candidates.iter().any(|c| &c.mount == *mount))
        .filter_map(|mount| {
            if root.is_some_and(|root| root.same_filesystem(mount)) {
                return Some(format!("{} is on the root filesystem", mount.target));
            }
            candidates
                .iter()
                .find(|c| c.mount.same_filesystem(mount))
                .map(|c| {
                    format!(
                        "{} is {} again, the filesystem of {}",
                        mount.target, mount.source, c.mount.target
                    )
                })
        })
        .collect();
    if shared.is_empty() {
        String::new()
    } else {
        format!("; not a disk of its own: {}", shared.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::super::inspect::User;
    use super::super::kubeconfig::Target;
    use super::super::microk8s::Status as Microk8sStatus;
    use super::super::mounts::MountTable;
    use super::*;

    /// An amd64 box with microk8s ready and two data disks, as `Machine::inspect` would read it.
    fn machine() -> Machine {
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

    fn site(disks: &str, bitcoin: &str) -> Site {
        let text = format!(
            "apiVersion: openlsp.io/v1alpha1\nkind: Site\nmetadata: {{ name: s }}\nspec:\n  network: mainnet\n  host: {{ nodeName: box, arch: amd64, memory: 16Gi, cpus: 8 }}\n  disks: {disks}\n  bitcoin:\n    - {{ name: bitcoind, disk: blockchain, {bitcoin} }}\n  lightning:\n    - {{ name: lnd, bitcoin: bitcoind, disk: lightning }}\n"
        );
        crate::profile::parse(Path::new("t.yaml"), &text)
            .unwrap()
            .site
    }

    const DISKS: &str = "{ blockchain: { path: /srv/blockchain, size: 950Gi }, lightning: { path: /srv/lightning, size: 20Gi } }";

    fn check_titled<'a>(report: &'a Report, title: &str) -> &'a Check {
        report
            .checks
            .iter()
            .find(|c| c.title == title)
            .unwrap_or_else(|| panic!("no check {title}: {report:#?}"))
    }

    fn status_of(report: &Report, title: &str) -> Status {
        check_titled(report, title).status
    }

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

    #[test]
    fn microk8s_problems_name_their_commands() {
        let mut m = machine();
        m.microk8s = Microk8s::Installed {
            version: Some("v1.27.9".to_owned()),
            status: Ok(Microk8sStatus {
                running: false,
                enabled: Default::default(),
            }),
        };
        m.api = ApiProbe::NotAsked("microk8s is not running".to_owned());
        m.user = Ok(User {
            name: "root".to_owned(),
            groups: vec!["root".to_owned()],
        });
        m.kubeconfig_mode = Some(0o644);
        let report = preflight(&m, None);
        let fixes = |title: &str| {
            report
                .checks
                .iter()
                .find(|c| c.title == title)
                .unwrap()
                .fix
                .join("\n")
        };
        assert!(fixes("microk8s").contains("sudo snap refresh microk8s --channel=1.28/stable"));
        assert!(fixes("microk8s").contains("sudo microk8s start"));
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.found == "v1.27.9 is older than 1.28, not running")
        );
        assert!(fixes("addons").contains("once it runs"));
        assert_eq!(status_of(&report, "microk8s group"), Status::Pass);
        assert_eq!(status_of(&report, "kubeconfig"), Status::Warn);
        assert!(fixes("kubeconfig").contains("chmod 600 /home/op/.kube/config"));
        assert_eq!(status_of(&report, "API server"), Status::Fail);
    }

    #[test]
    fn disks_must_fit_what_the_profile_and_the_chain_want() {
        let m = machine();
        let too_big = "{ blockchain: { path: /srv/blockchain, size: 2Ti }, lightning: { path: /srv/lightning, size: 20Gi } }";
        let report = preflight(&m, Some(&site(too_big, "txindex: true")));
        let disk = check_titled(&report, "disk blockchain");
        assert_eq!(disk.status, Status::Fail);
        assert!(
            disk.fix[0].contains("spec.disks.blockchain.size: 1000Gi"),
            "{disk:?}"
        );
        // 1000Gi holds the full chain (850Gi) and with txindex (920Gi); not 1100Gi.
        assert_eq!(status_of(&report, "chain bitcoind"), Status::Pass);
        let mut small = machine();
        small.spaces.insert(
            "/srv/blockchain".to_owned(),
            Ok(Space {
                size: Bytes::gib(900),
                free: Bytes::gib(900),
            }),
        );
        let report = preflight(&small, Some(&site(DISKS, "txindex: true")));
        assert_eq!(status_of(&report, "chain bitcoind"), Status::Fail);
        let report = preflight(&small, Some(&site(DISKS, "prune: 550")));
        assert!(
            report.checks.iter().all(|c| c.title != "chain bitcoind"),
            "pruned"
        );
    }

    #[test]
    fn a_missing_data_dir_is_a_warning_with_the_install_command() {
        let mut m = machine();
        m.dirs.insert("/srv/lightning/lnd".to_owned(), false);
        let report = preflight(&m, Some(&site(DISKS, "txindex: true")));
        let dir = check_titled(&report, "data dir lnd");
        assert_eq!(dir.status, Status::Warn);
        assert_eq!(
            dir.fix,
            ["sudo install -d -o 1000 -g 1000 -m 0700 /srv/lightning/lnd"]
        );
    }

    #[test]
    fn without_a_profile_one_data_disk_is_not_enough() {
        let mut m = machine();
        m.mounts = MountTable::parse("/dev/sda2 / ext4 rw 0 0\n/dev/sda3 /data ext4 rw 0 0\n");
        let report = preflight(&m, None);
        let disks = check_titled(&report, "disks");
        assert_eq!(disks.status, Status::Fail);
        assert!(disks.found.contains("only one data disk (/data)"));
        // /data is mounted, but not in this machine's fstab: ✗, as with a profile.
        assert_eq!(status_of(&report, "disk /data"), Status::Pass);
        assert_eq!(status_of(&report, "fstab /data"), Status::Fail);
    }

    #[test]
    fn without_a_profile_a_bind_mount_of_the_chain_or_root_is_no_lightning_disk() {
        let mut m = machine();
        m.mounts = MountTable::parse(
            "/dev/nvme0n1p2 / ext4 rw 0 0\n/dev/sda1 /srv/blockchain ext4 rw 0 0\n/dev/sda1 /srv/lightning ext4 rw 0 0\n/dev/nvme0n1p2 /srv/lnd ext4 rw 0 0\n",
        );
        let report = preflight(&m, None);
        let disks = check_titled(&report, "disks");
        assert_eq!(disks.status, Status::Fail, "{disks:?}");
        assert!(
            disks.found.contains(
                "only one data disk (/srv/blockchain): Lightning state needs its own partition; not a disk of its own: /srv/lightning is /dev/sda1 again, the filesystem of /srv/blockchain, /srv/lnd is on the root filesystem"
            ),
            "{disks:?}"
        );
        assert!(
            report
                .checks
                .iter()
                .all(|c| c.title != "disk /srv/lightning")
        );
    }

    #[test]
    fn fstab_entries_match_with_or_without_a_trailing_slash() {
        let mut m = machine();
        m.fstab = Some(MountTable::parse(
            "UUID=1 /srv/blockchain/ ext4 defaults 0 2\nUUID=2 /srv/lightning xfs defaults 0 2\n",
        ));
        let report = preflight(&m, Some(&site(DISKS, "txindex: true")));
        assert_eq!(status_of(&report, "fstab blockchain"), Status::Pass);
        let report = preflight(&m, None);
        assert_eq!(status_of(&report, "fstab /srv/blockchain"), Status::Pass);
    }

    #[test]
    fn the_api_is_judged_through_the_operators_kubeconfig() {
        let mut m = machine();
        m.kubeconfig_target = Some(Err(Unusable::NoCurrentContext {
            contexts: Vec::new(),
        }));
        m.api = ApiProbe::NotAsked("there is no usable kubeconfig to ask with".to_owned());
        let report = preflight(&m, None);
        let kubeconfig = check_titled(&report, "kubeconfig");
        assert_eq!(kubeconfig.status, Status::Fail);
        assert_eq!(
            kubeconfig.found,
            "/home/op/.kube/config has no current-context and no contexts"
        );
        assert_eq!(
            kubeconfig.fix,
            [
                "mv /home/op/.kube/config /home/op/.kube/config.old && (umask 077 && microk8s config > /home/op/.kube/config)"
            ]
        );
        let api = check_titled(&report, "API server");
        assert_eq!(api.status, Status::Fail);
        assert!(api.fix[0].contains("see the kubeconfig check"), "{api:?}");

        m.kubeconfig_target = Some(Err(Unusable::NoCurrentContext {
            contexts: vec!["prod".to_owned(), "microk8s".to_owned()],
        }));
        let report = preflight(&m, None);
        let kubeconfig = check_titled(&report, "kubeconfig");
        assert!(
            kubeconfig.fix[0].contains("config use-context <name>"),
            "{kubeconfig:?}"
        );

        let mut stale = machine();
        stale.api =
            ApiProbe::Failed("The connection to the server 10.0.0.9:16443 was refused".to_owned());
        let report = preflight(&stale, None);
        assert_eq!(status_of(&report, "kubeconfig"), Status::Pass);
        let api = check_titled(&report, "API server");
        assert_eq!(api.status, Status::Fail);
        assert!(
            api.found
                .contains("through /home/op/.kube/config: The connection")
        );
        assert!(
            api.fix[1].contains("/home/op/.kube/config is stale"),
            "{api:?}"
        );
    }
}
