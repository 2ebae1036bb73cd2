//! `spec.ingress` and the per-node `ingress` opt-ins: what is published needs the section, a
//! public host name of its own, and no tor-only site; Let's Encrypt needs an email address.

use std::collections::BTreeMap;

use crate::profile::check::{Checker, is_dns_label, is_dns_subdomain, is_public_host};
use crate::profile::facts::node_ingresses;
use crate::profile::site::{Site, TorMode};

pub(super) fn check(checker: &mut Checker, site: &Site) {
    let ingress = &site.spec.ingress;
    let tor_only = site.spec.tor.mode == TorMode::TorOnly;
    let mut hosts: Vec<(String, &str)> = node_ingresses(site)
        .into_iter()
        .map(|ingress| (ingress.path, ingress.host))
        .collect();
    for (path, _) in &hosts {
        if !ingress.enabled {
            checker.error(
                path,
                "an Ingress needs spec.ingress (ingress class, cert-manager email)",
                "add `spec.ingress: { email: you@example.com }`, or remove this entry",
            );
        } else if tor_only {
            checker.error(
                path,
                "a public Ingress exposes a tor-only site on clearnet",
                "remove it (use `onion: [rest, grpc]` for remote wallets), or use spec.tor.mode: hybrid",
            );
        }
    }
    if let Some(host) = &ingress.grafana {
        hosts.push(("spec.ingress.grafana".to_owned(), host));
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (path, host) in &hosts {
        if !is_public_host(host) {
            checker.error(
                path,
                format!("{host:?} is not a public host name"),
                "write a lowercase DNS name such as node.example.com",
            );
        }
        if let Some(first) = seen.get(host) {
            checker.error(
                path,
                format!("host {host} is already used by {first}"),
                "give every Ingress its own host name",
            );
        } else {
            seen.insert(host, path);
        }
    }
    if !ingress.enabled {
        return;
    }
    // Not refused like a node API: Grafana is the addon's, keeps its own login and serves
    // no node. But it puts the site's dashboards at a clearnet name of this machine.
    if let (true, Some(host)) = (tor_only, &ingress.grafana) {
        checker.warn(
            "spec.ingress.grafana",
            format!(
                "Grafana at https://{host} is public on clearnet, but spec.tor.mode is tor-only: its dashboards (height, peers, channels, balances) tie this machine's address to the site's onion nodes"
            ),
            format!(
                "remove it and reach Grafana with `microk8s kubectl port-forward -n {} svc/{}-grafana 3000:80`, or keep it if that link is acceptable",
                site.spec.monitoring.namespace, site.spec.monitoring.release
            ),
        );
    }
    if !is_dns_subdomain(&ingress.class_name) {
        checker.error(
            "spec.ingress.className",
            format!("{:?} is not an ingress class name", ingress.class_name),
            "use public on microk8s, or the name `kubectl get ingressclass` shows",
        );
    }
    if !is_dns_label(&ingress.controller_namespace) {
        checker.error(
            "spec.ingress.controllerNamespace",
            format!(
                "{:?} is not a valid namespace name",
                ingress.controller_namespace
            ),
            "use the namespace the ingress controller runs in, ingress on microk8s",
        );
    }
    match &ingress.email {
        None => checker.error(
            "spec.ingress",
            "Let's Encrypt needs an email address for the site's certificates",
            "add `email: you@example.com` under spec.ingress",
        ),
        Some(email) => {
            let valid = email
                .split_once('@')
                .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
                && !email.chars().any(char::is_whitespace);
            if !valid {
                checker.error(
                    "spec.ingress.email",
                    format!("{email:?} is not an email address"),
                    "write an address Let's Encrypt can send expiry notices to",
                );
            }
        }
    }
}
