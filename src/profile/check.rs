//! The vocabulary every profile check is written in: a [`Checker`] that collects located
//! problems, and the predicates on names, paths and addresses that several sections share. A
//! leaf: it knows diagnostics and the source map, never a section of the site.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path};

use super::diagnostic::{Diagnostic, Severity};
use super::quantity::{MAX_CPU, MAX_MEMORY, MIN_CONTAINER_MEMORY};
use super::site::Resources;
use super::source_map::SourceMap;

/// Collects every problem of one profile, each located at its field's place in the file.
pub(super) struct Checker<'a> {
    file: &'a Path,
    map: &'a SourceMap,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(file: &'a Path, map: &'a SourceMap) -> Self {
        Checker {
            file,
            map,
            diagnostics: Vec::new(),
        }
    }

    /// Every problem found, in the order the checks found them.
    pub(super) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    fn push(&mut self, severity: Severity, path: &str, message: String, hint: Option<String>) {
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            location: self.map.value_location(path),
            path: path.to_owned(),
            message,
            hint,
        });
    }

    pub(super) fn error(
        &mut self,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, path, message.into(), Some(hint.into()));
    }

    /// Whether the profile writes `path`.
    pub(super) fn has(&self, path: &str) -> bool {
        self.map.contains(path)
    }

    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message.into(), Some(hint.into()));
    }

    /// A DNS-1123 label, such as the site's name or a disk's.
    pub(super) fn check_label(&mut self, path: &str, name: &str, what: &str) {
        if !is_dns_label(name) {
            self.error(
                path,
                format!("{what} {name:?} is not a valid DNS-1123 label"),
                "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            );
        }
    }

    /// A container's memory and CPU, each within what a container can be given. Whether they
    /// fit the host is the capacity check's business.
    pub(super) fn check_resources(&mut self, path: &str, resources: Resources) {
        if resources.memory < MIN_CONTAINER_MEMORY || resources.memory > MAX_MEMORY {
            self.error(
                &format!("{path}.memory"),
                format!(
                    "memory {} is outside {MIN_CONTAINER_MEMORY}..{MAX_MEMORY}",
                    resources.memory
                ),
                "write it with a unit, for example `memory: 2Gi`, or leave it out for the default",
            );
        }
        if resources.cpu.0 == 0 || resources.cpu > MAX_CPU {
            self.error(
                &format!("{path}.cpu"),
                format!("cpu {} is outside 1m..{MAX_CPU}", resources.cpu),
                "write cores or millicores, for example `cpu: 2` or `cpu: 500m`, or leave it out for the default",
            );
        }
    }

    /// An image reference, such as `lightninglabs/lnd:v0.19.3-beta`.
    pub(super) fn check_image(&mut self, path: &str, image: &str) {
        let valid = !image.is_empty()
            && !image.chars().any(char::is_whitespace)
            && !image.ends_with(':')
            && !image.starts_with(['/', ':', '@']);
        if !valid {
            self.error(
                path,
                format!("{image:?} is not an image reference"),
                "write repository:tag, for example `lightninglabs/lnd:v0.19.3-beta`",
            );
        }
    }
}

/// Whether `name` is a DNS-1123 label: lowercase alphanumerics and '-', at most 63 characters.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Whether `name` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Whether `path` is absolute and already normal (no `.`, `..`, `//` or trailing `/`).
pub fn is_normal_absolute_path(path: &str) -> bool {
    let as_path = Path::new(path);
    as_path.is_absolute()
        && !path.ends_with('/')
        && !path.contains("//")
        && as_path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// `#rrggbb`, as LND's `color` wants it.
pub(super) fn is_hex_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// An IP address or a CIDR range, as bitcoind's `rpcallowip` takes them.
pub(super) fn is_ip_or_cidr(text: &str) -> bool {
    match text.split_once('/') {
        None => text.parse::<IpAddr>().is_ok(),
        Some((ip, bits)) => match (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(bits)) => bits <= 32,
            (Ok(IpAddr::V6(_)), Ok(bits)) => bits <= 128,
            _ => false,
        },
    }
}

/// A Prometheus label value: what the operator's `release` selector can match.
pub(super) fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && value
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_alphanumeric())
}

/// Whether peers on the internet can reach `ip`: bitcoind refuses or silently drops an
/// `externalip` that is private, loopback, link-local, shared (CGNAT), documentation,
/// multicast or reserved.
pub(super) fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    // Global unicast is 2000::/3; ULAs (fc00::/7), link-local and multicast lie outside it.
    (first & 0xe000) == 0x2000 && !documentation
}

/// A public host name: a DNS subdomain with at least two labels.
pub(super) fn is_public_host(host: &str) -> bool {
    is_dns_subdomain(host) && host.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("lnd-2"));
        assert!(is_dns_label("a"));
        assert!(!is_dns_label("LND"));
        assert!(!is_dns_label("-lnd"));
        assert!(!is_dns_label("lnd-"));
        assert!(!is_dns_label("lnd_2"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_subdomain("pi4.local"));
    }

    #[test]
    fn normal_paths() {
        assert!(is_normal_absolute_path("/srv/blockchain"));
        assert!(!is_normal_absolute_path("srv/blockchain"));
        assert!(!is_normal_absolute_path("/srv/../etc"));
        assert!(!is_normal_absolute_path("/srv/"));
        assert!(!is_normal_absolute_path("/srv//x"));
    }

    #[test]
    fn ip_ranges() {
        assert!(is_ip_or_cidr("10.0.0.0/8"));
        assert!(is_ip_or_cidr("fd00::/8"));
        assert!(is_ip_or_cidr("127.0.0.1"));
        assert!(!is_ip_or_cidr("10.0.0.0/33"));
        assert!(!is_ip_or_cidr("cluster"));
    }

    #[test]
    fn public_addresses() {
        for public in ["81.2.69.160", "2a02:c207::1", "8.8.8.8"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
        for private in [
            "10.1.2.3",
            "192.168.1.1",
            "100.64.0.1",
            "203.0.113.5",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::1",
            "ff02::1",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn label_values_and_hosts() {
        assert!(is_label_value("kube-prom-stack"));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value("a b"));
        assert!(is_public_host("node.example.com"));
        assert!(!is_public_host("localhost"));
        assert!(!is_public_host("Node.example.com"));
    }
}
