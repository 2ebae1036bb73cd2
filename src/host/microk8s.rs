//! What microk8s says about itself: the snap's version (`snap list microk8s`) and
//! `microk8s status --format yaml`, read line by line because addon descriptions are free text
//! that does not always survive a YAML parser.

use std::collections::BTreeSet;

/// The addons openlsp's objects rely on, in the order `microk8s enable` gets them.
pub const REQUIRED_ADDONS: [&str; 5] = [
    "dns",
    "ingress",
    "observability",
    "cert-manager",
    "hostpath-storage",
];
/// Oldest microk8s release openlsp supports (major, minor).
pub const MIN_VERSION: (u32, u32) = (1, 28);
/// The snap channel the install and refresh commands name.
pub const CHANNEL: &str = "1.28/stable";

/// The version column of microk8s in `snap list microk8s` (`v1.28.15`).
pub fn snap_version(snap_list: &str) -> Option<String> {
    snap_list
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"microk8s"))
        .and_then(|fields| fields.get(1).map(|v| (*v).to_owned()))
}

/// `v1.28.15` (or `1.28`) as (1, 28).
pub fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// What `microk8s status --format yaml` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub running: bool,
    pub enabled: BTreeSet<String>,
}

impl Status {
    pub fn parse(text: &str) -> Option<Self> {
        let mut running = None;
        let mut enabled = BTreeSet::new();
        let mut addon: Option<String> = None;
        for line in text.lines() {
            let line = line.trim().trim_start_matches("- ").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "running" if running.is_none() => {
                    running = Some(value.eq_ignore_ascii_case("true"));
                }
                "name" => addon = Some(value.to_owned()),
                "status" => {
                    if let Some(name) = addon.take()
                        && value == "enabled"
                    {
                        enabled.insert(name);
                    }
                }
                _ => {}
            }
        }
        Some(Status {
            running: running?,
            enabled,
        })
    }

    /// The required addons that are not enabled, in `microk8s enable` order.
    pub fn missing_addons(&self) -> Vec<&'static str> {
        REQUIRED_ADDONS
            .into_iter()
            .filter(|addon| !self.enabled.contains(*addon))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
microk8s:
  running: True
high-availability:
  enabled: False
  nodes:
    - address: 10.0.0.5:19001
      role: voter
addons:
  - name: cert-manager
    description: Cloud native certificate management: with a colon
    version: 1.8.0
    status: enabled
  - name: dns
    description: CoreDNS
    version: 1.10.1
    status: enabled
  - name: ingress
    description: Ingress controller for external access
    version: 1.8.0
    status: disabled
";

    #[test]
    fn reads_running_and_enabled_addons() {
        let status = Status::parse(STATUS).unwrap();
        assert!(status.running);
        assert_eq!(
            status
                .enabled
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["cert-manager", "dns"]
        );
        assert_eq!(
            status.missing_addons(),
            ["ingress", "observability", "hostpath-storage"]
        );
    }

    #[test]
    fn a_stopped_microk8s_and_garbage_are_told_apart() {
        let stopped = "microk8s:\n  running: False\n  message: microk8s is not running. Use microk8s inspect for a deeper inspection.\n";
        assert!(!Status::parse(stopped).unwrap().running);
        assert_eq!(
            Status::parse("Insufficient permissions to access MicroK8s."),
            None
        );
    }

    #[test]
    fn versions() {
        let list = "Name      Version   Rev    Tracking       Publisher   Notes\nmicrok8s  v1.28.15  7687   1.28/stable    canonical✓  classic\n";
        assert_eq!(snap_version(list).as_deref(), Some("v1.28.15"));
        assert_eq!(parse_version("v1.28.15"), Some((1, 28)));
        assert_eq!(parse_version("1.31"), Some((1, 31)));
        assert!(parse_version("v1.27.9").unwrap() < MIN_VERSION);
        assert_eq!(parse_version("latest"), None);
    }
}
