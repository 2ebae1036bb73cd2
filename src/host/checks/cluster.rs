//! The checks of the cluster openlsp deploys to: microk8s (installed, new enough, running), its
//! addons, and the operator's way in: the microk8s group, the kubeconfig, and whether the API
//! server answers through it.

use crate::host::inspect::{ApiProbe, Machine, Microk8s};
use crate::host::kubeconfig::Unusable;
use crate::host::microk8s::{self, REQUIRED_ADDONS};
use crate::host::report::{Check, Status};

fn install_microk8s() -> String {
    format!(
        "sudo snap install microk8s --classic --channel={}",
        microk8s::CHANNEL
    )
}

fn enable_addons(addons: &[&str]) -> String {
    format!("microk8s enable {}", addons.join(" "))
}

pub(super) fn microk8s_checks(machine: &Machine) -> Vec<Check> {
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

pub(super) fn access(machine: &Machine) -> Vec<Check> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{check_titled, machine, status_of};
    use super::super::preflight;
    use super::*;
    use crate::host::inspect::User;
    use crate::host::microk8s::Status as Microk8sStatus;

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
