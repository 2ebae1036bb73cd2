//! Reads the machine once: host files under the root, programs through the runner. The result
//! is plain data ([`Machine`]), so every check and proposal is a pure function of it.

use std::collections::BTreeMap;

use super::cmdline::CMDLINE_PATHS;
use super::error::HostError;
use super::kubeconfig::{self, Target, Unusable};
use super::microk8s::{self, Status};
use super::mounts::MountTable;
use super::root::HostRoot;
use super::runner::{RunError, Runner};
use crate::profile::Arch;
use crate::profile::quantity::Bytes;

/// Where the operator's environment points: `$HOME` and `$KUBECONFIG`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostEnv {
    pub home: Option<String>,
    pub kubeconfig: Option<String>,
}

impl HostEnv {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        HostEnv {
            home: var("HOME"),
            kubeconfig: var("KUBECONFIG"),
        }
    }
}

/// The operating system from `/etc/os-release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub pretty_name: String,
}

/// microk8s as snap knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Microk8s {
    /// `snap` itself is missing.
    SnapMissing,
    /// snap works but microk8s is not installed.
    NotInstalled,
    /// snap could not answer.
    Unknown(String),
    Installed {
        /// The snap's version (`v1.28.15`).
        version: Option<String>,
        /// `microk8s status`, or why it could not be read.
        status: Result<Status, String>,
    },
}

impl Microk8s {
    /// Whether microk8s says it is running.
    pub fn running(&self) -> bool {
        matches!(self, Microk8s::Installed { status: Ok(status), .. } if status.running)
    }
}

/// Whether the API server answered `/readyz` through the operator's kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiProbe {
    /// It answered `ok`.
    Answered,
    /// It was asked and did not answer `ok`: what kubectl said.
    Failed(String),
    /// Not asked, and why (microk8s is not running, the kubeconfig is not usable).
    NotAsked(String),
}

/// Who runs openlsp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// Size and free space of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub size: Bytes,
    pub free: Bytes,
}

/// Everything the checks and the wizard need to know about the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `uname -m`, or why it failed.
    pub uname: Result<String, String>,
    /// `MemTotal` from `/proc/meminfo`.
    pub mem_total: Option<Bytes>,
    pub cpus: Option<u32>,
    pub os: Option<OsRelease>,
    pub hostname: Option<String>,
    /// The Raspberry Pi boot command line: its host path and text.
    pub cmdline: Option<(&'static str, String)>,
    /// `/proc/cmdline`: what the running kernel booted with.
    pub booted_cmdline: Option<String>,
    /// `/sys/fs/cgroup/cgroup.controllers` (cgroup v2), for machines without cmdline.txt.
    pub cgroup_controllers: Option<String>,
    /// `/etc/modules`.
    pub modules: Option<String>,
    /// Whether dpkg lists `linux-modules-extra-raspi` as installed (None: no dpkg status).
    pub raspi_modules_extra: Option<bool>,
    pub mounts: MountTable,
    pub fstab: Option<MountTable>,
    pub microk8s: Microk8s,
    pub user: Result<User, String>,
    /// The kubeconfig's host path (None when `$HOME` is unset) and its mode if it exists.
    pub kubeconfig: Option<String>,
    pub kubeconfig_mode: Option<u32>,
    /// Where its current context points, or why it cannot; None when it does not exist.
    pub kubeconfig_target: Option<Result<Target, Unusable>>,
    /// `/readyz` asked through that kubeconfig, as `openlsp apply` will reach the cluster.
    pub api: ApiProbe,
    /// `df` of the filesystem at each mount point asked about.
    pub spaces: BTreeMap<String, Result<Space, String>>,
    /// Whether each directory asked about exists.
    pub dirs: BTreeMap<String, bool>,
}

const MEMINFO: &str = "/proc/meminfo";
const CPUINFO: &str = "/proc/cpuinfo";
const OS_RELEASE: &str = "/etc/os-release";
const HOSTNAME: &str = "/etc/hostname";
pub const MODULES: &str = "/etc/modules";
pub const MOUNTS: &str = "/proc/mounts";
pub const FSTAB: &str = "/etc/fstab";
const PROC_CMDLINE: &str = "/proc/cmdline";
const CGROUP_CONTROLLERS: &str = "/sys/fs/cgroup/cgroup.controllers";
const DPKG_STATUS: &str = "/var/lib/dpkg/status";
pub const RASPI_MODULES_EXTRA: &str = "linux-modules-extra-raspi";

impl Machine {
    /// Reads every host file and asks every program; only unreadable files are errors.
    pub fn inspect(
        root: &HostRoot,
        runner: &dyn Runner,
        env: &HostEnv,
    ) -> Result<Machine, HostError> {
        let mut cmdline = None;
        for path in CMDLINE_PATHS {
            if let Some(text) = root.read(path)? {
                cmdline = Some((path, text));
                break;
            }
        }
        let kubeconfig = kubeconfig_path(env);
        let kubeconfig_mode = kubeconfig.as_deref().and_then(|path| root.mode(path));
        let kubeconfig_target = kubeconfig
            .as_deref()
            .filter(|_| kubeconfig_mode.is_some())
            .map(|path| match root.read(path) {
                Ok(text) => kubeconfig::target(&text.unwrap_or_default()),
                Err(HostError::Read { source, .. }) => {
                    Err(Unusable::Unreadable(source.to_string()))
                }
                Err(err) => Err(Unusable::Unreadable(err.to_string())),
            });
        let microk8s = inspect_microk8s(runner);
        let api = probe_api(
            runner,
            root,
            &microk8s,
            kubeconfig.as_deref(),
            kubeconfig_target.as_ref(),
        );
        Ok(Machine {
            uname: run_text(runner, "uname", &["-m"]),
            mem_total: root.read(MEMINFO)?.as_deref().and_then(mem_total),
            cpus: root.read(CPUINFO)?.as_deref().and_then(cpu_count),
            os: root.read(OS_RELEASE)?.as_deref().map(os_release),
            hostname: hostname(root, runner)?,
            cmdline,
            booted_cmdline: root.read(PROC_CMDLINE)?,
            cgroup_controllers: root.read(CGROUP_CONTROLLERS)?,
            modules: root.read(MODULES)?,
            raspi_modules_extra: root
                .read(DPKG_STATUS)?
                .map(|status| dpkg_installed(&status, RASPI_MODULES_EXTRA)),
            mounts: MountTable::parse(&root.read(MOUNTS)?.unwrap_or_default()),
            fstab: root.read(FSTAB)?.as_deref().map(MountTable::parse),
            microk8s,
            user: user(runner),
            kubeconfig,
            kubeconfig_mode,
            kubeconfig_target,
            api,
            spaces: BTreeMap::new(),
            dirs: BTreeMap::new(),
        })
    }

    /// Runs `df` on the mount point holding each path (once per mount point), under the root
    /// like every other host read.
    pub fn measure<'a>(
        &mut self,
        root: &HostRoot,
        runner: &dyn Runner,
        paths: impl IntoIterator<Item = &'a str>,
    ) {
        for path in paths {
            let Some(target) = self.mounts.containing(path).map(|m| m.target.clone()) else {
                continue;
            };
            if let std::collections::btree_map::Entry::Vacant(entry) = self.spaces.entry(target) {
                let space = df(
                    runner,
                    &root.path(entry.key()).to_string_lossy(),
                    entry.key(),
                );
                entry.insert(space);
            }
        }
    }

    /// Records whether each directory exists on the host.
    pub fn look_for_dirs<'a>(&mut self, root: &HostRoot, dirs: impl IntoIterator<Item = &'a str>) {
        for dir in dirs {
            self.dirs.insert(dir.to_owned(), root.is_dir(dir));
        }
    }

    /// The space of the filesystem holding `path`, if it was measured.
    pub fn space_of(&self, path: &str) -> Option<&Result<Space, String>> {
        let target = &self.mounts.containing(path)?.target;
        self.spaces.get(target)
    }

    /// The architecture in profile terms, when it is one openlsp runs on.
    pub fn arch(&self) -> Option<Arch> {
        match self.uname.as_deref().ok()? {
            "aarch64" | "arm64" | "aarch64_be" => Some(Arch::Arm64),
            "x86_64" | "amd64" => Some(Arch::Amd64),
            _ => None,
        }
    }

    /// Installed memory: `MemTotal` rounded up to a whole GiB, since the kernel keeps some
    /// for itself (an 8 GB Pi reports about 7.6 GiB).
    pub fn memory(&self) -> Option<Bytes> {
        self.mem_total
            .map(|total| Bytes::gib(total.0.div_ceil(Bytes::gib(1).0)))
    }

    pub fn is_ubuntu(&self) -> bool {
        self.os.as_ref().is_some_and(|os| os.id == "ubuntu")
    }

    /// A Raspberry Pi boots from a `cmdline.txt`.
    pub fn is_raspberry_pi(&self) -> bool {
        self.cmdline.is_some()
    }
}

fn kubeconfig_path(env: &HostEnv) -> Option<String> {
    if let Some(first) = env
        .kubeconfig
        .as_deref()
        .and_then(|list| list.split(':').find(|p| !p.is_empty()))
    {
        return Some(first.to_owned());
    }
    env.home
        .as_deref()
        .map(|home| format!("{}/.kube/config", home.trim_end_matches('/')))
}

/// The trimmed stdout of a program that must succeed, or why it did not.
fn run_text(runner: &dyn Runner, program: &str, args: &[&str]) -> Result<String, String> {
    match runner.run(program, args) {
        Ok(output) if output.success => Ok(output.stdout.trim().to_owned()),
        Ok(output) => Err(output.first_error_line()),
        Err(err) => Err(err.to_string()),
    }
}

fn mem_total(meminfo: &str) -> Option<Bytes> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => Some(Bytes(value * 1024)),
        _ => None,
    }
}

fn cpu_count(cpuinfo: &str) -> Option<u32> {
    let count = cpuinfo
        .lines()
        .filter(|line| {
            line.split(':')
                .next()
                .is_some_and(|key| key.trim() == "processor")
        })
        .count();
    u32::try_from(count).ok().filter(|n| *n > 0)
}

fn os_release(text: &str) -> OsRelease {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    OsRelease {
        id: value("ID"),
        pretty_name: value("PRETTY_NAME"),
    }
}

fn hostname(root: &HostRoot, runner: &dyn Runner) -> Result<Option<String>, HostError> {
    let from_file = root
        .read(HOSTNAME)?
        .and_then(|text| text.lines().next().map(|l| l.trim().to_owned()));
    let name = from_file
        .filter(|name| !name.is_empty())
        .or_else(|| run_text(runner, "hostname", &[]).ok())
        .filter(|name| !name.is_empty());
    Ok(name.map(|name| name.to_ascii_lowercase()))
}

/// Whether the dpkg status database lists `package` as installed.
fn dpkg_installed(status: &str, package: &str) -> bool {
    status.split("\n\n").any(|stanza| {
        let mut name = None;
        let mut state = None;
        for line in stanza.lines() {
            if let Some(value) = line.strip_prefix("Package:") {
                name = Some(value.trim());
            } else if let Some(value) = line.strip_prefix("Status:") {
                state = Some(value.trim());
            }
        }
        name == Some(package) && state == Some("install ok installed")
    })
}

fn inspect_microk8s(runner: &dyn Runner) -> Microk8s {
    let listed = match runner.run("snap", &["list", "microk8s"]) {
        Err(RunError::NotFound { .. }) => return Microk8s::SnapMissing,
        Err(err) => return Microk8s::Unknown(err.to_string()),
        Ok(output) if !output.success => return Microk8s::NotInstalled,
        Ok(output) => output,
    };
    let version = microk8s::snap_version(&listed.stdout);
    let status = match runner.run("microk8s", &["status", "--format", "yaml"]) {
        Ok(output) => Status::parse(&output.stdout).ok_or_else(|| output.first_error_line()),
        Err(RunError::NotFound { .. }) => {
            Err("the snap is installed but `microk8s` is not on PATH (add /snap/bin)".to_owned())
        }
        Err(err) => Err(err.to_string()),
    };
    Microk8s::Installed { version, status }
}

/// Asks `/readyz` with the operator's kubeconfig (`--kubeconfig` makes microk8s's kubectl
/// use it instead of its own admin credentials), when microk8s runs and the file is usable.
fn probe_api(
    runner: &dyn Runner,
    root: &HostRoot,
    microk8s: &Microk8s,
    kubeconfig: Option<&str>,
    target: Option<&Result<Target, Unusable>>,
) -> ApiProbe {
    match microk8s {
        Microk8s::Installed {
            status: Err(why), ..
        } => return ApiProbe::NotAsked(why.clone()),
        Microk8s::Installed { .. } if !microk8s.running() => {
            return ApiProbe::NotAsked("microk8s is not running".to_owned());
        }
        Microk8s::Installed { .. } => {}
        _ => return ApiProbe::NotAsked("microk8s is not installed".to_owned()),
    }
    let (Some(path), Some(Ok(_))) = (kubeconfig, target) else {
        return ApiProbe::NotAsked("there is no usable kubeconfig to ask with".to_owned());
    };
    let file = root.path(path).to_string_lossy().into_owned();
    let args = ["kubectl", "--kubeconfig", &file, "get", "--raw", "/readyz"];
    match runner.run("microk8s", &args) {
        Ok(output) if output.success && output.stdout.trim() == "ok" => ApiProbe::Answered,
        Ok(output) => ApiProbe::Failed(output.first_error_line()),
        Err(err) => ApiProbe::Failed(err.to_string()),
    }
}

fn user(runner: &dyn Runner) -> Result<User, String> {
    let name = run_text(runner, "id", &["-un"])?;
    let groups = run_text(runner, "id", &["-nG"])?;
    Ok(User {
        name,
        groups: groups.split_whitespace().map(str::to_owned).collect(),
    })
}

/// `df` of `file` (the mount point under the root); messages name the host's `target`.
fn df(runner: &dyn Runner, file: &str, target: &str) -> Result<Space, String> {
    let text = run_text(
        runner,
        "df",
        &["--block-size=1", "--output=size,avail", "--", file],
    )?;
    let numbers: Vec<u64> = text
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers[..] {
        [size, free] => Ok(Space {
            size: Bytes(size),
            free: Bytes(free),
        }),
        _ => Err(format!("cannot read the output of `df {target}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::runner::fake::FakeRunner;
    use super::*;

    #[test]
    fn parses_proc_and_etc_files() {
        assert_eq!(
            mem_total("MemTotal:        7998036 kB\nMemFree: 1 kB\n"),
            Some(Bytes(7998036 * 1024))
        );
        assert_eq!(
            cpu_count("processor\t: 0\nmodel\t: x\n\nprocessor\t: 1\n"),
            Some(2)
        );
        let os = os_release("PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nID=ubuntu\nID_LIKE=debian\n");
        assert_eq!(os.id, "ubuntu");
        assert_eq!(os.pretty_name, "Ubuntu 24.04.1 LTS");
        let status = "Package: a\nStatus: install ok installed\n\nPackage: linux-modules-extra-raspi\nStatus: deinstall ok config-files\n";
        assert!(!dpkg_installed(status, RASPI_MODULES_EXTRA));
        assert!(dpkg_installed(status, "a"));
    }

    #[test]
    fn an_8_gb_pi_has_8_gib() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(dir.path().join("proc/meminfo"), "MemTotal: 7998036 kB\n").unwrap();
        let runner = FakeRunner::default().ok("uname -m", "aarch64\n");
        let machine =
            Machine::inspect(&HostRoot::new(dir.path()), &runner, &HostEnv::default()).unwrap();
        assert_eq!(machine.memory(), Some(Bytes::gib(8)));
        assert_eq!(machine.arch(), Some(Arch::Arm64));
        assert_eq!(machine.microk8s, Microk8s::SnapMissing);
        assert!(machine.user.is_err());
        assert_eq!(machine.kubeconfig, None);
    }

    #[test]
    fn microk8s_stopped_or_denied_is_read_not_fatal() {
        let list = "Name Version Rev Tracking Publisher Notes\nmicrok8s v1.28.15 1 1.28/stable canonical classic\n";
        let stopped = FakeRunner::default().ok("snap list microk8s", list).ok(
            "microk8s status --format yaml",
            "microk8s:\n  running: False\n",
        );
        let microk8s = inspect_microk8s(&stopped);
        let root = HostRoot::new("/nonexistent");
        assert_eq!(
            probe_api(&stopped, &root, &microk8s, None, None),
            ApiProbe::NotAsked("microk8s is not running".to_owned())
        );
        let Microk8s::Installed { version, status } = microk8s else {
            panic!("installed");
        };
        assert_eq!(version.as_deref(), Some("v1.28.15"));
        assert!(!status.unwrap().running);
        let denied = FakeRunner::default().ok("snap list microk8s", list).fails(
            "microk8s status --format yaml",
            "Insufficient permissions to access MicroK8s.\n",
        );
        let Microk8s::Installed { status, .. } = inspect_microk8s(&denied) else {
            panic!("installed");
        };
        assert_eq!(
            status,
            Err("Insufficient permissions to access MicroK8s.".to_owned())
        );
        let absent =
            FakeRunner::default().fails("snap list microk8s", "error: no matching snaps installed");
        assert_eq!(inspect_microk8s(&absent), Microk8s::NotInstalled);
    }

    #[test]
    fn df_and_the_api_probe_are_given_paths_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let write = |path: &str, text: &str| {
            let file = root.path(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        };
        write(
            MOUNTS,
            "/dev/sda2 / ext4 rw 0 0\n/dev/sda1 /srv/chain ext4 rw 0 0\n",
        );
        write(
            "/home/op/.kube/config",
            "clusters: [{ name: c, cluster: { server: \"https://127.0.0.1:16443\" } }]\ncontexts: [{ name: m, context: { cluster: c, user: u } }]\nusers: [{ name: u, user: { token: t } }]\ncurrent-context: m\n",
        );
        let under = |path: &str| root.path(path).display().to_string();
        let list = "Name Version\nmicrok8s v1.28.15\n";
        let runner = FakeRunner::default()
            .ok("snap list microk8s", list)
            .ok(
                "microk8s status --format yaml",
                "microk8s:\n  running: True\n",
            )
            .ok(
                &format!(
                    "microk8s kubectl --kubeconfig {} get --raw /readyz",
                    under("/home/op/.kube/config")
                ),
                "ok\n",
            )
            .ok(
                &format!(
                    "df --block-size=1 --output=size,avail -- {}",
                    under("/srv/chain")
                ),
                "1B-blocks Avail\n100 50\n",
            );
        let env = HostEnv {
            home: Some("/home/op".to_owned()),
            kubeconfig: None,
        };
        let mut machine = Machine::inspect(&root, &runner, &env).unwrap();
        assert_eq!(machine.api, ApiProbe::Answered);
        assert_eq!(
            machine.kubeconfig_target,
            Some(Ok(Target {
                context: "m".to_owned(),
                server: "https://127.0.0.1:16443".to_owned()
            }))
        );
        machine.measure(&root, &runner, ["/srv/chain/bitcoind"]);
        assert_eq!(
            machine.space_of("/srv/chain/lnd"),
            Some(&Ok(Space {
                size: Bytes(100),
                free: Bytes(50)
            }))
        );
        // Without a usable kubeconfig the API is not asked at all.
        write("/home/op/.kube/config", "clusters: []\n");
        let machine = Machine::inspect(&root, &runner, &env).unwrap();
        assert!(
            matches!(machine.api, ApiProbe::NotAsked(_)),
            "{:?}",
            machine.api
        );
    }

    #[test]
    fn kubeconfig_follows_kubeconfig_then_home() {
        let env = HostEnv {
            home: Some("/home/ubuntu/".to_owned()),
            kubeconfig: None,
        };
        assert_eq!(
            kubeconfig_path(&env).as_deref(),
            Some("/home/ubuntu/.kube/config")
        );
        let env = HostEnv {
            kubeconfig: Some(":/etc/k.yaml:/other".to_owned()),
            ..env
        };
        assert_eq!(kubeconfig_path(&env).as_deref(), Some("/etc/k.yaml"));
    }
}
