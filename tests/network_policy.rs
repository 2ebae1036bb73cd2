//! Least network privilege, checked the way a network plugin enforces NetworkPolicy: every
//! rendered policy of every example profile (and of a tor-only site) is evaluated for every pair
//! of the site's pods and of stand-ins for what lives around them (the internet, the API server,
//! the cluster DNS, Prometheus, the ingress controller, another namespace's pod, a stranger pod
//! in the site's namespace, cert-manager's solver). The connections the policies allow must be
//! exactly the declared table of intended ones, and every connection the rendered configuration
//! makes (a Service address in a config file or argument, a ServiceMonitor, an Ingress backend,
//! the API server for a pod with a token) must be among them. Also: no container carries a
//! credential in its environment or arguments. tests/e2e/network_policy.rs applies the policies
//! on the real API server.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::{Value, json};

use crate::common::{self, Test, appended, edited, render};

/// Labels of namespace `name`, as Kubernetes sets them.
fn namespace_labels(name: &str) -> Value {
    json!({ "kubernetes.io/metadata.name": name })
}

/// A pod of the site, or a stand-in for something around it.
pub struct Endpoint {
    pub name: String,
    /// None: outside the cluster's pod network.
    namespace: Option<String>,
    labels: Value,
    ip: IpAddr,
    /// Where it listens: (port, protocol).
    ports: BTreeSet<(u64, String)>,
    /// Whether it opens connections (the API server and the DNS only answer).
    connects: bool,
}

fn tcp(ports: &[u64]) -> BTreeSet<(u64, String)> {
    ports.iter().map(|&p| (p, "TCP".to_owned())).collect()
}

/// Whether a label selector (`matchLabels` and `In` expressions; `{}` selects all) selects
/// `labels`.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let labels_match = selector["matchLabels"]
        .as_object()
        .is_none_or(|wanted| wanted.iter().all(|(key, value)| &labels[key] == value));
    let expressions_match = selector["matchExpressions"]
        .as_array()
        .is_none_or(|expressions| {
            expressions.iter().all(|expression| {
                assert_eq!(expression["operator"], "In", "{expression}");
                let values = expression["values"].as_array().unwrap();
                values.contains(&labels[expression["key"].as_str().unwrap()])
            })
        });
    labels_match && expressions_match
}

/// Whether `ip` is in `cidr`.
fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let (network, bits) = cidr.split_once('/').unwrap();
    let network: IpAddr = network.parse().unwrap();
    let bits: u32 = bits.parse().unwrap();
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// Whether a rule's peer (`from` or `to` entry) of a policy in `namespace` is `other`.
fn peer_matches(peer: &Value, namespace: &str, other: &Endpoint) -> bool {
    if let Some(block) = peer.get("ipBlock") {
        assert!(peer.get("podSelector").is_none() && peer.get("namespaceSelector").is_none());
        let excepted = block["except"].as_array().is_some_and(|except| {
            except
                .iter()
                .any(|c| in_cidr(other.ip, c.as_str().unwrap()))
        });
        return in_cidr(other.ip, block["cidr"].as_str().unwrap()) && !excepted;
    }
    let Some(other_namespace) = &other.namespace else {
        return false;
    };
    let namespace_ok = match peer.get("namespaceSelector") {
        Some(selector) => selects(selector, &namespace_labels(other_namespace)),
        None => other_namespace == namespace,
    };
    let pod_ok = peer
        .get("podSelector")
        .is_none_or(|selector| selects(selector, &other.labels));
    namespace_ok && pod_ok
}

/// Whether a rule's `ports` admit `port`. openlsp writes numbers: a named port in an egress rule
/// would be looked up on the destination.
fn port_matches(rule: &Value, port: u64, protocol: &str) -> bool {
    rule["ports"].as_array().is_none_or(|ports| {
        ports.is_empty()
            || ports.iter().any(|p| {
                let number = p["port"].as_u64().expect("policy ports are numbers");
                number == port && p["protocol"].as_str().unwrap_or("TCP") == protocol
            })
    })
}

/// Whether the policies of `namespace` let `subject` accept (`Ingress`) or open (`Egress`) a
/// connection with `other` on `port`. Namespaces other than the site's have no policies here.
fn admits(
    policies: &[&Value],
    namespace: &str,
    subject: &Endpoint,
    direction: &str,
    other: &Endpoint,
    port: u64,
    protocol: &str,
) -> bool {
    if subject.namespace.as_deref() != Some(namespace) {
        return true;
    }
    let (rules_key, peers_key) = match direction {
        "Ingress" => ("ingress", "from"),
        _ => ("egress", "to"),
    };
    let selecting: Vec<&&Value> = policies
        .iter()
        .filter(|policy| {
            let spec = &policy["spec"];
            let types = spec["policyTypes"]
                .as_array()
                .expect("openlsp's policies name their policyTypes");
            selects(&spec["podSelector"], &subject.labels) && types.iter().any(|t| t == direction)
        })
        .collect();
    if selecting.is_empty() {
        return true;
    }
    selecting.iter().any(|policy| {
        policy["spec"][rules_key].as_array().is_some_and(|rules| {
            rules.iter().any(|rule| {
                let peers_ok = rule[peers_key].as_array().is_none_or(|peers| {
                    peers.is_empty()
                        || peers
                            .iter()
                            .any(|peer| peer_matches(peer, namespace, other))
                });
                peers_ok && port_matches(rule, port, protocol)
            })
        })
    })
}

/// One rendered site, with its pods and the stand-ins around it.
pub struct Site {
    pub docs: Vec<Value>,
    pub namespace: String,
    pub endpoints: Vec<Endpoint>,
}

fn is_workload(doc: &Value) -> bool {
    ["Deployment", "StatefulSet", "DaemonSet"].contains(&doc["kind"].as_str().unwrap())
}

impl Site {
    pub fn new(docs: Vec<Value>, monitoring: &str, controller: &str) -> Self {
        let namespace = docs.iter().find(|d| d["kind"] == "Namespace").unwrap()["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut endpoints = Vec::new();
        for (i, workload) in docs.iter().filter(|d| is_workload(d)).enumerate() {
            let pod = &workload["spec"]["template"];
            let labels = pod["metadata"]["labels"].clone();
            let mut ports = BTreeSet::new();
            for container in pod["spec"]["containers"].as_array().unwrap() {
                for port in container["ports"].as_array().into_iter().flatten() {
                    let protocol = port["protocol"].as_str().unwrap_or("TCP").to_owned();
                    ports.insert((port["containerPort"].as_u64().unwrap(), protocol));
                }
            }
            // A Service's numeric targetPort is a port the pod listens on too (bitcoind's
            // onion bind, LND's metrics).
            for service in docs.iter().filter(|d| d["kind"] == "Service") {
                if !selects(
                    &json!({ "matchLabels": service["spec"]["selector"] }),
                    &labels,
                ) {
                    continue;
                }
                for port in service["spec"]["ports"].as_array().unwrap() {
                    if let Some(number) = port["targetPort"].as_u64() {
                        let protocol = port["protocol"].as_str().unwrap_or("TCP").to_owned();
                        ports.insert((number, protocol));
                    }
                }
            }
            endpoints.push(Endpoint {
                name: workload["metadata"]["name"].as_str().unwrap().to_owned(),
                namespace: Some(namespace.clone()),
                labels,
                ip: format!("10.1.0.{}", i + 10).parse().unwrap(),
                ports,
                connects: true,
            });
        }
        let stand_in = |name: &str, namespace: Option<&str>, labels, ip: &str, ports| Endpoint {
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            labels,
            ip: ip.parse().unwrap(),
            connects: !["api-server", "cluster-dns"].contains(&name),
            ports,
        };
        let mut dns_ports = tcp(&[53]);
        dns_ports.insert((53, "UDP".to_owned()));
        endpoints.extend([
            stand_in(
                "internet",
                None,
                json!({}),
                "203.0.113.7",
                tcp(&[443, 8333, 9001, 9735]),
            ),
            // microk8s' API server on the machine's LAN address.
            stand_in("api-server", None, json!({}), "192.168.1.10", tcp(&[16443])),
            stand_in(
                "cluster-dns",
                Some("kube-system"),
                json!({ "k8s-app": "kube-dns" }),
                "10.1.200.10",
                dns_ports,
            ),
            stand_in(
                "prometheus",
                Some(monitoring),
                json!({ "app.kubernetes.io/name": "prometheus" }),
                "10.1.201.1",
                tcp(&[9090]),
            ),
            stand_in(
                "ingress-controller",
                Some(controller),
                json!({ "name": "nginx-ingress-microk8s" }),
                "10.1.202.1",
                tcp(&[80, 443]),
            ),
            stand_in(
                "elsewhere",
                Some("default"),
                json!({ "app": "other" }),
                "10.1.203.1",
                tcp(&[443, 8080]),
            ),
            stand_in(
                "stranger",
                Some(&namespace),
                json!({ "app": "debug" }),
                "10.1.204.1",
                tcp(&[8080]),
            ),
            stand_in(
                "acme-solver",
                Some(&namespace),
                json!({ "acme.cert-manager.io/http01-solver": "true" }),
                "10.1.205.1",
                tcp(&[8089]),
            ),
        ]);
        Site {
            docs,
            namespace,
            endpoints,
        }
    }

    fn endpoint(&self, name: &str) -> &Endpoint {
        self.endpoints
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no endpoint {name}"))
    }

    fn policies(&self) -> Vec<&Value> {
        self.docs
            .iter()
            .filter(|d| d["kind"] == "NetworkPolicy")
            .collect()
    }

    /// Whether the policies let `from` connect to `to` on `port`.
    fn allows(&self, from: &Endpoint, to: &Endpoint, port: u64, protocol: &str) -> bool {
        let policies = self.policies();
        admits(
            &policies,
            &self.namespace,
            from,
            "Egress",
            to,
            port,
            protocol,
        ) && admits(
            &policies,
            &self.namespace,
            to,
            "Ingress",
            from,
            port,
            protocol,
        )
    }

    /// Every allowed connection from or to the site's namespace, one line per destination
    /// port: `to:port <- from, …`, or `to:port <- *` when the destination admits everyone (each
    /// source's own egress policy still applies: the default deny keeps a stranger pod out).
    pub fn allowed(&self) -> BTreeSet<String> {
        let ours = |e: &Endpoint| e.namespace.as_deref() == Some(self.namespace.as_str());
        let policies = self.policies();
        let mut lines = BTreeSet::new();
        for to in &self.endpoints {
            for (port, protocol) in &to.ports {
                let senders: Vec<&Endpoint> = self
                    .endpoints
                    .iter()
                    .filter(|from| from.connects && from.name != to.name)
                    .filter(|from| ours(from) || ours(to))
                    .collect();
                let from: Vec<&str> = senders
                    .iter()
                    .filter(|from| self.allows(from, to, *port, protocol))
                    .map(|from| from.name.as_str())
                    .collect();
                if from.is_empty() {
                    continue;
                }
                let everyone = ours(to)
                    && senders.iter().all(|from| {
                        admits(
                            &policies,
                            &self.namespace,
                            to,
                            "Ingress",
                            from,
                            *port,
                            protocol,
                        )
                    });
                let from = if everyone {
                    "*".to_owned()
                } else {
                    from.join(", ")
                };
                lines.insert(format!(
                    "{}:{} <- {from}",
                    to.name,
                    port_text(*port, protocol)
                ));
            }
        }
        lines
    }

    /// The pods a Service selects and the port its `port` reaches on them.
    fn service_targets(&self, service: &str, port: u64) -> Vec<(String, u64)> {
        let Some(service) = self
            .docs
            .iter()
            .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == service)
        else {
            return Vec::new();
        };
        let Some(service_port) = service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["port"] == port)
        else {
            return Vec::new();
        };
        let selector = json!({ "matchLabels": service["spec"]["selector"] });
        self.docs
            .iter()
            .filter(|d| is_workload(d))
            .filter(|w| selects(&selector, &w["spec"]["template"]["metadata"]["labels"]))
            .map(|workload| {
                let target = &service_port["targetPort"];
                let number = target.as_u64().unwrap_or_else(|| {
                    workload["spec"]["template"]["spec"]["containers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                        .find(|p| &p["name"] == target)
                        .expect("a named targetPort is a container port")["containerPort"]
                        .as_u64()
                        .unwrap()
                });
                (
                    workload["metadata"]["name"].as_str().unwrap().to_owned(),
                    number,
                )
            })
            .collect()
    }

    /// Every connection the rendered configuration makes, as `(from, to, port)`.
    pub fn needed(&self) -> BTreeSet<(String, String, String)> {
        let mut needed = BTreeSet::new();
        let mut add = |from: &str, to: &str, port: String| {
            needed.insert((from.to_owned(), to.to_owned(), port));
        };
        let suffix = format!(".{}.svc", self.namespace);
        for workload in self.docs.iter().filter(|d| is_workload(d)) {
            let name = workload["metadata"]["name"].as_str().unwrap();
            let pod = &workload["spec"]["template"]["spec"];
            // What the pod reads: its arguments and the ConfigMaps and Secrets it mounts.
            let mut texts: Vec<String> = Vec::new();
            for container in pod["containers"]
                .as_array()
                .unwrap()
                .iter()
                .chain(pod["initContainers"].as_array().into_iter().flatten())
            {
                for key in ["command", "args"] {
                    for arg in container[key].as_array().into_iter().flatten() {
                        texts.push(arg.as_str().unwrap().to_owned());
                    }
                }
            }
            for volume in pod["volumes"].as_array().into_iter().flatten() {
                let mut sources = vec![
                    ("ConfigMap", &volume["configMap"]["name"]),
                    ("Secret", &volume["secret"]["secretName"]),
                ];
                for source in volume["projected"]["sources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    sources.push(("ConfigMap", &source["configMap"]["name"]));
                    sources.push(("Secret", &source["secret"]["name"]));
                }
                for (kind, object) in sources {
                    let Some(object) = object.as_str() else {
                        continue;
                    };
                    let Some(doc) = self
                        .docs
                        .iter()
                        .find(|d| d["kind"] == kind && d["metadata"]["name"] == object)
                    else {
                        continue; // made at run time (the macaroons) or by Kubernetes
                    };
                    for value in doc["data"].as_object().into_iter().flatten().map(|e| e.1) {
                        let value = value.as_str().unwrap();
                        texts.push(match kind {
                            "Secret" => {
                                String::from_utf8_lossy(&common::base64_decode(value)).into_owned()
                            }
                            _ => value.to_owned(),
                        });
                    }
                }
                if volume["projected"]["sources"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s.get("serviceAccountToken").is_some()))
                {
                    add(name, "api-server", "16443".to_owned());
                }
            }
            for text in &texts {
                for (service, port) in service_addresses(text, &suffix) {
                    add(name, "cluster-dns", "53/UDP".to_owned());
                    add(name, "cluster-dns", "53".to_owned());
                    let targets = self.service_targets(&service, port);
                    assert!(
                        !targets.is_empty(),
                        "{name} uses {service}:{port}, which nothing serves"
                    );
                    for (target, number) in targets {
                        add(name, &target, number.to_string());
                    }
                }
            }
        }
        // Prometheus scrapes what the ServiceMonitors select.
        for monitor in self.docs.iter().filter(|d| d["kind"] == "ServiceMonitor") {
            let selector = &monitor["spec"]["selector"];
            for service in self
                .docs
                .iter()
                .filter(|d| d["kind"] == "Service" && selects(selector, &d["metadata"]["labels"]))
            {
                for endpoint in monitor["spec"]["endpoints"].as_array().unwrap() {
                    let port = service["spec"]["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|p| p["name"] == endpoint["port"])
                        .unwrap()["port"]
                        .as_u64()
                        .unwrap();
                    let name = service["metadata"]["name"].as_str().unwrap();
                    for (target, number) in self.service_targets(name, port) {
                        add("prometheus", &target, number.to_string());
                    }
                }
            }
        }
        // The ingress controller forwards to each Ingress's backend, and to cert-manager's
        // solver while it orders the Ingress's certificate.
        for ingress in self.docs.iter().filter(|d| {
            d["kind"] == "Ingress" && d["metadata"]["namespace"] == self.namespace.as_str()
        }) {
            let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
            let targets = self.service_targets(
                backend["name"].as_str().unwrap(),
                backend["port"]["number"].as_u64().unwrap(),
            );
            for (target, number) in targets {
                add("ingress-controller", &target, number.to_string());
            }
            add("ingress-controller", "acme-solver", "8089".to_owned());
        }
        needed
    }
}

/// `service:port` of every `<service>.<namespace>.svc:<port>` in `text`, and of a bitcoin.conf's
/// `rpcconnect=<service>.<namespace>.svc` with its `rpcport=`.
fn service_addresses(text: &str, suffix: &str) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let rpcport = text
        .lines()
        .find_map(|line| {
            // bitcoin-cli's (bitcoind exporter) and CLN's bcli plugin's.
            line.strip_prefix("rpcport=")
                .or_else(|| line.strip_prefix("bitcoin-rpcport="))
        })
        .map(|port| port.trim().parse::<u64>().unwrap());
    for (at, _) in text.match_indices(suffix) {
        let start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(0, |i| i + 1);
        let service = &text[start..at];
        let rest = &text[at + suffix.len()..];
        let port = match rest.strip_prefix(':') {
            Some(rest) => {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            }
            None if text[..start].ends_with("rpcconnect=") => rpcport,
            // A name without a port (LND's tlsextradomain) is no connection.
            None => None,
        };
        if let Some(port) = port {
            found.push((service.to_owned(), port));
        }
    }
    found
}

fn port_text(port: u64, protocol: &str) -> String {
    match protocol {
        "TCP" => port.to_string(),
        other => format!("{port}/{other}"),
    }
}

/// A site to check: its documents and the namespaces of Prometheus and the ingress controller.
fn site(test: &Test, profile: &str, monitoring: &str, controller: &str) -> Site {
    let (docs, _) = render(test, profile);
    Site::new(docs, monitoring, controller)
}

/// Asserts that the allowed connections are exactly `expected`, and include every needed one.
#[track_caller]
fn assert_connections(name: &str, site: &Site, expected: &[&str]) {
    let allowed = site.allowed();
    let expected: BTreeSet<String> = expected.iter().map(|line| (*line).to_owned()).collect();
    let unintended: Vec<&String> = allowed.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&allowed).collect();
    assert!(
        unintended.is_empty() && missing.is_empty(),
        "{name}: allowed but not intended: {unintended:#?}\nintended but not allowed: {missing:#?}\nallowed: {allowed:#?}"
    );
    let needed = site.needed();
    assert!(
        needed.len() > 3,
        "{name}: the configuration makes connections"
    );
    for (from, to, port) in needed {
        let (number, protocol) = port.split_once('/').unwrap_or((&port, "TCP"));
        assert!(
            site.allows(
                site.endpoint(&from),
                site.endpoint(&to),
                number.parse().unwrap(),
                protocol
            ),
            "{name}: {from} needs {to}:{port}, which the policies do not allow"
        );
    }
    // Every pod of the site is under a policy of its own besides the default deny.
    for workload in site.docs.iter().filter(|d| is_workload(d)) {
        let labels = &workload["spec"]["template"]["metadata"]["labels"];
        let own = site
            .policies()
            .into_iter()
            .filter(|p| p["metadata"]["name"] != "default-deny")
            .filter(|p| selects(&p["spec"]["podSelector"], labels))
            .count();
        assert_eq!(
            own, 1,
            "{name}: {} has {own} policies",
            workload["metadata"]["name"]
        );
    }
}

/// Nothing reaches or leaves a pod the site does not know, and every pod of the site has a
/// policy: the namespace's default deny.
#[test]
fn the_sites_namespace_denies_by_default() {
    let test = Test::new().with_example("pi4-mainnet");
    let site = site(&test, "pi4-mainnet.yaml", "observability", "ingress");
    let deny = common::find(&site.docs, "NetworkPolicy", "default-deny");
    assert_eq!(
        deny["spec"],
        json!({ "podSelector": {}, "policyTypes": ["Ingress", "Egress"] })
    );
    let stranger = site.endpoint("stranger");
    for other in &site.endpoints {
        for (port, protocol) in &other.ports {
            if other.name != "stranger" {
                assert!(
                    !site.allows(stranger, other, *port, protocol),
                    "stranger -> {}",
                    other.name
                );
            }
        }
    }
}

#[test]
fn full_stack_admits_exactly_the_intended_connections() {
    let test = Test::new().with_example("full-stack");
    let site = site(&test, "full-stack.yaml", "observability", "ingress");
    assert_connections(
        "full-stack",
        &site,
        &[
            "acme-solver:8089 <- ingress-controller",
            "api-server:16443 <- tor, bitcoind, lnd",
            "bitcoind-exporter:9332 <- prometheus",
            "bitcoind-exporter:9333 <- prometheus",
            "bitcoind:28332 <- lnd",
            "bitcoind:28333 <- lnd",
            "bitcoind:8332 <- bitcoind-exporter, lnd",
            "bitcoind:8333 <- *",
            "bitcoind:8334 <- tor",
            "cluster-dns:53 <- bitcoind-exporter, lnd-lndmon, thunderhub, tor, bitcoind, lnd",
            "cluster-dns:53/UDP <- bitcoind-exporter, lnd-lndmon, thunderhub, tor, bitcoind, lnd",
            "elsewhere:443 <- tor, bitcoind, lnd",
            "elsewhere:8080 <- tor, bitcoind, lnd",
            "ingress-controller:443 <- tor, bitcoind, lnd",
            "ingress-controller:80 <- tor, bitcoind, lnd",
            "internet:443 <- tor, bitcoind, lnd",
            "internet:8333 <- tor, bitcoind, lnd",
            "internet:9001 <- tor, bitcoind, lnd",
            "internet:9735 <- tor, bitcoind, lnd",
            "lnd-lndmon:9092 <- prometheus",
            "lnd:10009 <- lnd-lndmon, thunderhub, tor",
            "lnd:8080 <- tor, ingress-controller",
            "lnd:8989 <- prometheus",
            "lnd:9741 <- prometheus",
            "lnd:9735 <- *",
            "prometheus:9090 <- tor, bitcoind, lnd",
            "thunderhub:3000 <- tor",
            "tor:9050 <- bitcoind, lnd",
        ],
    );
}

#[test]
fn pi4_mainnet_admits_exactly_the_intended_connections() {
    let test = Test::new().with_example("pi4-mainnet");
    let site = site(&test, "pi4-mainnet.yaml", "observability", "ingress");
    assert_connections(
        "pi4-mainnet",
        &site,
        &[
            "api-server:16443 <- tor, bitcoind, lnd",
            "bitcoind:28332 <- lnd",
            "bitcoind:28333 <- lnd",
            "bitcoind:8332 <- lnd",
            "bitcoind:8333 <- *",
            "bitcoind:8334 <- tor",
            "cluster-dns:53 <- tor, bitcoind, lnd",
            "cluster-dns:53/UDP <- tor, bitcoind, lnd",
            "elsewhere:443 <- tor, bitcoind, lnd",
            "elsewhere:8080 <- tor, bitcoind, lnd",
            "ingress-controller:443 <- tor, bitcoind, lnd",
            "ingress-controller:80 <- tor, bitcoind, lnd",
            "internet:443 <- tor, bitcoind, lnd",
            "internet:8333 <- tor, bitcoind, lnd",
            "internet:9001 <- tor, bitcoind, lnd",
            "internet:9735 <- tor, bitcoind, lnd",
            "lnd:9735 <- *",
            "prometheus:9090 <- tor, bitcoind, lnd",
            "tor:9050 <- bitcoind, lnd",
        ],
    );
}

#[test]
fn lsp_two_nodes_admits_exactly_the_intended_connections() {
    let test = Test::new().with_example("lsp-two-nodes");
    let site = site(&test, "lsp-two-nodes.yaml", "observability", "ingress");
    assert_connections(
        "lsp-two-nodes",
        &site,
        &[
            "api-server:16443 <- tor, bitcoind, lnd-customers, lnd-routing",
            "bitcoind:28332 <- lnd-customers, lnd-routing",
            "bitcoind:28333 <- lnd-customers, lnd-routing",
            "bitcoind:8332 <- lnd-customers, lnd-routing",
            "bitcoind:8333 <- *",
            "bitcoind:8334 <- tor",
            "cluster-dns:53 <- tor, bitcoind, lnd-customers, lnd-routing",
            "cluster-dns:53/UDP <- tor, bitcoind, lnd-customers, lnd-routing",
            "elsewhere:443 <- tor, bitcoind, lnd-customers, lnd-routing",
            "elsewhere:8080 <- tor, bitcoind, lnd-customers, lnd-routing",
            "ingress-controller:443 <- tor, bitcoind, lnd-customers, lnd-routing",
            "ingress-controller:80 <- tor, bitcoind, lnd-customers, lnd-routing",
            "internet:443 <- tor, bitcoind, lnd-customers, lnd-routing",
            "internet:8333 <- tor, bitcoind, lnd-customers, lnd-routing",
            "internet:9001 <- tor, bitcoind, lnd-customers, lnd-routing",
            "internet:9735 <- tor, bitcoind, lnd-customers, lnd-routing",
            "lnd-customers:9735 <- *",
            "lnd-routing:9735 <- *",
            "prometheus:9090 <- tor, bitcoind, lnd-customers, lnd-routing",
            "tor:9050 <- bitcoind, lnd-customers, lnd-routing",
        ],
    );
}

#[test]
fn regtest_playground_admits_exactly_the_intended_connections() {
    let test = Test::new().with_example("regtest-playground");
    let site = site(&test, "regtest-playground.yaml", "observability", "ingress");
    assert_connections(
        "regtest-playground",
        &site,
        &[
            "api-server:16443 <- bitcoind, lnd",
            "bitcoind:18443 <- lnd",
            "bitcoind:18444 <- *",
            "bitcoind:28332 <- lnd",
            "bitcoind:28333 <- lnd",
            "cluster-dns:53 <- bitcoind, lnd",
            "cluster-dns:53/UDP <- bitcoind, lnd",
            "elsewhere:443 <- bitcoind, lnd",
            "elsewhere:8080 <- bitcoind, lnd",
            "ingress-controller:443 <- bitcoind, lnd",
            "ingress-controller:80 <- bitcoind, lnd",
            "internet:443 <- bitcoind, lnd",
            "internet:8333 <- bitcoind, lnd",
            "internet:9001 <- bitcoind, lnd",
            "internet:9735 <- bitcoind, lnd",
            "lnd:9735 <- *",
            "prometheus:9090 <- bitcoind, lnd",
        ],
    );
}

/// tor-only at the network level: the nodes reach only Tor, the cluster DNS, their bitcoind and
/// (LND's lndinit containers) the API server at a private address; nothing on the internet.
#[test]
fn tor_only_nodes_reach_only_tor_dns_their_bitcoind_and_the_api_server() {
    let test = appended("pi4-mainnet", "  tor: { mode: tor-only }");
    let site = site(&test, "openlsp.yaml", "observability", "ingress");
    assert_connections(
        "pi4-mainnet tor-only",
        &site,
        &[
            "api-server:16443 <- tor, lnd",
            "bitcoind:28332 <- lnd",
            "bitcoind:28333 <- lnd",
            "bitcoind:8332 <- lnd",
            "bitcoind:8334 <- tor",
            "cluster-dns:53 <- tor, bitcoind, lnd",
            "cluster-dns:53/UDP <- tor, bitcoind, lnd",
            "elsewhere:443 <- tor, lnd",
            "elsewhere:8080 <- tor",
            "ingress-controller:443 <- tor, lnd",
            "ingress-controller:80 <- tor",
            "internet:443 <- tor",
            "internet:8333 <- tor",
            "internet:9001 <- tor",
            "internet:9735 <- tor",
            "lnd:9735 <- tor",
            "prometheus:9090 <- tor",
            "tor:9050 <- bitcoind, lnd",
        ],
    );
}

/// btcd with LND on simnet, tor-only: LND reaches btcd's RPC (no ZMQ: btcd has none), Tor brings
/// btcd's and LND's onion peers, and neither reaches the internet.
#[test]
fn simnet_kiln_tor_only_admits_exactly_the_intended_connections() {
    let test = edited(
        "simnet-kiln",
        "tor: { mode: \"off\" }",
        "tor: { mode: tor-only }",
    );
    let site = site(&test, "openlsp.yaml", "observability", "ingress");
    assert_connections(
        "simnet-kiln tor-only",
        &site,
        &[
            "api-server:16443 <- tor, lnd",
            "btcd:18555 <- tor",
            "btcd:18556 <- lnd",
            "cluster-dns:53 <- tor, btcd, lnd",
            "cluster-dns:53/UDP <- tor, btcd, lnd",
            "elsewhere:443 <- tor, lnd",
            "elsewhere:8080 <- tor",
            "ingress-controller:443 <- tor, lnd",
            "ingress-controller:80 <- tor",
            "internet:443 <- tor",
            "internet:8333 <- tor",
            "internet:9001 <- tor",
            "internet:9735 <- tor",
            "lnd:9735 <- tor",
            "prometheus:9090 <- tor",
            "tor:9050 <- btcd, lnd",
        ],
    );
}

/// CLN beside LND on one bitcoind: CLN reaches bitcoind's RPC but not its ZMQ (bcli polls), its
/// clnrest and gRPC only through Tor (the profile's `onion`), P2P from anywhere.
#[test]
fn cln_and_lnd_admit_exactly_the_intended_connections() {
    let test = Test::new().with_example("cln-and-lnd");
    let site = site(&test, "cln-and-lnd.yaml", "observability", "ingress");
    assert_connections(
        "cln-and-lnd",
        &site,
        &[
            "api-server:16443 <- tor, bitcoind, cln, lnd",
            "bitcoind:28332 <- lnd",
            "bitcoind:28333 <- lnd",
            "bitcoind:8332 <- cln, lnd",
            "bitcoind:8333 <- *",
            "bitcoind:8334 <- tor",
            "cln:3010 <- rtl, tor",
            "cln:9735 <- *",
            "cln:9736 <- tor",
            "cluster-dns:53 <- rtl, tor, bitcoind, cln, lnd",
            "cluster-dns:53/UDP <- rtl, tor, bitcoind, cln, lnd",
            "elsewhere:443 <- tor, bitcoind, cln, lnd",
            "elsewhere:8080 <- tor, bitcoind, cln, lnd",
            "ingress-controller:443 <- tor, bitcoind, cln, lnd",
            "ingress-controller:80 <- tor, bitcoind, cln, lnd",
            "internet:443 <- tor, bitcoind, cln, lnd",
            "internet:8333 <- tor, bitcoind, cln, lnd",
            "internet:9001 <- tor, bitcoind, cln, lnd",
            "internet:9735 <- tor, bitcoind, cln, lnd",
            "lnd:8080 <- rtl",
            "lnd:9735 <- *",
            "prometheus:9090 <- tor, bitcoind, cln, lnd",
            "tor:9050 <- bitcoind, cln, lnd",
        ],
    );
}

/// With monitoring, Prometheus scrapes CLN's exporter and CLN's backup container like LND's;
/// the exporter reaches only its node's clnrest and the cluster DNS.
#[test]
fn cln_with_monitoring_admits_prometheus_to_its_exporter_and_backup_metrics() {
    let test = appended("cln-and-lnd", "  monitoring: {}");
    let site = site(&test, "openlsp.yaml", "observability", "ingress");
    assert_connections(
        "cln-and-lnd monitoring",
        &site,
        &[
            "api-server:16443 <- tor, bitcoind, cln, lnd",
            "bitcoind-exporter:9332 <- prometheus",
            "bitcoind-exporter:9333 <- prometheus",
            "bitcoind:28332 <- lnd",
            "bitcoind:28333 <- lnd",
            "bitcoind:8332 <- bitcoind-exporter, cln, lnd",
            "bitcoind:8333 <- *",
            "bitcoind:8334 <- tor",
            "cln-exporter:9750 <- prometheus",
            "cln:3010 <- cln-exporter, rtl, tor",
            "cln:9735 <- *",
            "cln:9736 <- tor",
            "cln:9741 <- prometheus",
            "cluster-dns:53 <- bitcoind-exporter, cln-exporter, lnd-lndmon, rtl, tor, bitcoind, cln, lnd",
            "cluster-dns:53/UDP <- bitcoind-exporter, cln-exporter, lnd-lndmon, rtl, tor, bitcoind, cln, lnd",
            "elsewhere:443 <- tor, bitcoind, cln, lnd",
            "elsewhere:8080 <- tor, bitcoind, cln, lnd",
            "ingress-controller:443 <- tor, bitcoind, cln, lnd",
            "ingress-controller:80 <- tor, bitcoind, cln, lnd",
            "internet:443 <- tor, bitcoind, cln, lnd",
            "internet:8333 <- tor, bitcoind, cln, lnd",
            "internet:9001 <- tor, bitcoind, cln, lnd",
            "internet:9735 <- tor, bitcoind, cln, lnd",
            "lnd-lndmon:9092 <- prometheus",
            "lnd:10009 <- lnd-lndmon",
            "lnd:8989 <- prometheus",
            "lnd:8080 <- rtl",
            "lnd:9735 <- *",
            "lnd:9741 <- prometheus",
            "prometheus:9090 <- tor, bitcoind, cln, lnd",
            "tor:9050 <- bitcoind, cln, lnd",
        ],
    );
}

/// tor-only with CLN: the pod reaches only Tor, its bitcoind's RPC, the cluster DNS and (its
/// publish sidecar) the API server.
#[test]
fn tor_only_cln_reaches_only_tor_dns_and_its_bitcoinds_rpc() {
    let test = common::edited(
        "cln-and-lnd",
        "  networking:\n    ipv6: true\n    inbound: loadBalancer\n    externalIPs: [81.2.69.160, \"2a02:c207::1\"]",
        "  tor: { mode: tor-only }",
    );
    let site = site(&test, "openlsp.yaml", "observability", "ingress");
    assert_connections(
        "cln-and-lnd tor-only",
        &site,
        &[
            "api-server:16443 <- tor, cln, lnd",
            "bitcoind:28332 <- lnd",
            "bitcoind:28333 <- lnd",
            "bitcoind:8332 <- cln, lnd",
            "bitcoind:8334 <- tor",
            "cln:3010 <- rtl, tor",
            "cln:9735 <- tor",
            "cln:9736 <- tor",
            "cluster-dns:53 <- rtl, tor, bitcoind, cln, lnd",
            "cluster-dns:53/UDP <- rtl, tor, bitcoind, cln, lnd",
            "elsewhere:443 <- tor, cln, lnd",
            "elsewhere:8080 <- tor",
            "ingress-controller:443 <- tor, cln, lnd",
            "ingress-controller:80 <- tor",
            "internet:443 <- tor",
            "internet:8333 <- tor",
            "internet:9001 <- tor",
            "internet:9735 <- tor",
            "lnd:8080 <- rtl",
            "lnd:9735 <- tor",
            "prometheus:9090 <- tor",
            "tor:9050 <- bitcoind, cln, lnd",
        ],
    );
}

/// A store on Core Lightning: BTCPay's pod alone reaches the node's tunnel port (the RPC socket
/// itself never leaves the CLN pod), and BTCPay reaches no other port of the node.
#[test]
fn cln_shop_admits_only_btcpay_to_the_tunnel() {
    let test = Test::new().with_example("cln-shop");
    let site = site(&test, "cln-shop.yaml", "observability", "ingress");
    assert_connections(
        "cln-shop",
        &site,
        &[
            "api-server:16443 <- tor, bitcoind, cln",
            "bitcoind:8332 <- btcpay, cln",
            "bitcoind:8333 <- *",
            "bitcoind:8334 <- tor",
            "bitcoind:8339 <- btcpay",
            "btcpay-postgres:5432 <- btcpay",
            "btcpay:49392 <- tor",
            "cln:9735 <- *",
            "cln:9737 <- btcpay",
            "cluster-dns:53 <- tor, bitcoind, btcpay, cln",
            "cluster-dns:53/UDP <- tor, bitcoind, btcpay, cln",
            "elsewhere:443 <- tor, bitcoind, btcpay, cln",
            "elsewhere:8080 <- tor, bitcoind, cln",
            "ingress-controller:443 <- tor, bitcoind, btcpay, cln",
            "ingress-controller:80 <- tor, bitcoind, cln",
            "internet:443 <- tor, bitcoind, btcpay, cln",
            "internet:8333 <- tor, bitcoind, cln",
            "internet:9001 <- tor, bitcoind, cln",
            "internet:9735 <- tor, bitcoind, cln",
            "prometheus:9090 <- tor, bitcoind, cln",
            "tor:9050 <- bitcoind, btcpay, cln",
        ],
    );
}

/// Non-default namespaces of Prometheus and the ingress controller reach the policies, and a
/// published bitcoind RPC admits the ingress controller.
#[test]
fn the_monitoring_and_ingress_controller_namespaces_come_from_the_profile() {
    let test = common::edited(
        "full-stack",
        "    namespace: observability\n",
        "    namespace: monit\n",
    );
    let text = std::fs::read_to_string(test.path().join("openlsp.yaml")).unwrap();
    test.write(
        "openlsp.yaml",
        &text
            .replacen(
                "      txindex: true\n",
                "      txindex: true\n      ingress: { rpc: rpc.example.com }\n",
                1,
            )
            .replacen(
                "    acme: staging\n",
                "    acme: staging\n    controllerNamespace: nginx\n",
                1,
            ),
    );
    let connections = [
        ("prometheus", "bitcoind-exporter", 9332),
        ("prometheus", "bitcoind-exporter", 9333),
        ("prometheus", "lnd", 8989),
        ("prometheus", "lnd-lndmon", 9092),
        ("ingress-controller", "bitcoind", 8332),
        ("ingress-controller", "lnd", 8080),
        ("ingress-controller", "acme-solver", 8089),
    ];
    let moved = site(&test, "openlsp.yaml", "monit", "nginx");
    let default = Site::new(moved.docs.clone(), "observability", "ingress");
    for (from, to, port) in connections {
        let allowed =
            |site: &Site| site.allows(site.endpoint(from), site.endpoint(to), port, "TCP");
        assert!(allowed(&moved), "{from} -> {to}:{port}");
        assert!(
            !allowed(&default),
            "{from} -> {to}:{port} from the default namespace"
        );
    }
    // Everything the configuration needs is still allowed.
    let allowed = moved.allowed();
    let lines: Vec<&str> = allowed.iter().map(String::as_str).collect();
    assert_connections("full-stack, other namespaces", &moved, &lines);
}

/// Names in environment variables that would carry a credential.
const CREDENTIAL_WORDS: [&str; 7] = ["PASS", "SECRET", "TOKEN", "KEY", "MACAROON", "RUNE", "SEED"];

/// No container of any profile gets a credential through its environment (readable by any local
/// process in /proc/<pid>/environ) or its arguments (readable in ps): no `secretKeyRef` or
/// `envFrom` Secret, no value that is a secret of the state dir, no credential-named variable
/// with a literal value.
#[test]
fn no_container_has_a_credential_in_its_environment_or_arguments() {
    // (workload, container, variable) allowed to take a Secret through env, each with why:
    // none. The exporter's RPC password is a mounted file (BITCOIN_CONF_PATH).
    const ALLOWED: [(&str, &str, &str); 0] = [];
    let mut containers = 0;
    for name in common::example_profiles() {
        let test = Test::new().with_example(&name);
        let (docs, _) = render(&test, &format!("{name}.yaml"));
        let namespace = docs.iter().find(|d| d["kind"] == "Namespace").unwrap();
        let site_name = namespace["metadata"]["labels"]["openlsp.io/site"]
            .as_str()
            .unwrap();
        let needles = common::secret_needles(&test.state_dir(site_name));
        for workload in docs.iter().filter(|d| is_workload(d)) {
            let workload_name = workload["metadata"]["name"].as_str().unwrap();
            let pod = &workload["spec"]["template"]["spec"];
            for container in pod["containers"]
                .as_array()
                .unwrap()
                .iter()
                .chain(pod["initContainers"].as_array().into_iter().flatten())
            {
                containers += 1;
                let container_name = container["name"].as_str().unwrap();
                let place = format!("{name}: {workload_name}/{container_name}");
                // Where the container mounts Secret volumes: a variable naming a file there
                // (POSTGRES_PASSWORD_FILE) points at a credential, it does not hold one.
                let secret_volumes: Vec<&str> = pod["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|v| v.get("secret").is_some())
                    .filter_map(|v| v["name"].as_str())
                    .collect();
                let secret_mounts: Vec<String> = container["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| secret_volumes.contains(&m["name"].as_str().unwrap_or_default()))
                    .filter_map(|m| m["mountPath"].as_str())
                    .map(|path| format!("{}/", path.trim_end_matches('/')))
                    .collect();
                assert!(
                    container["envFrom"]
                        .as_array()
                        .is_none_or(|from| from.iter().all(|f| f.get("secretRef").is_none())),
                    "{place}: envFrom a Secret"
                );
                for var in container["env"].as_array().into_iter().flatten() {
                    let var_name = var["name"].as_str().unwrap();
                    if var["valueFrom"].get("secretKeyRef").is_some() {
                        assert!(
                            ALLOWED.contains(&(workload_name, container_name, var_name)),
                            "{place}: {var_name} comes from a Secret"
                        );
                    }
                    if let Some(value) = var["value"].as_str() {
                        for needle in &needles {
                            assert!(
                                !value.contains(needle.as_str()),
                                "{place}: {var_name} holds a secret"
                            );
                        }
                        let upper = var_name.to_ascii_uppercase();
                        let names_a_mounted_secret = secret_mounts
                            .iter()
                            .any(|mount| format!("{value}/").starts_with(mount.as_str()));
                        assert!(
                            !CREDENTIAL_WORDS.iter().any(|word| upper.contains(word))
                                || var_name == "GOMEMLIMIT"
                                || names_a_mounted_secret,
                            "{place}: {var_name} looks like a credential"
                        );
                    }
                }
                for key in ["command", "args"] {
                    for arg in container[key].as_array().into_iter().flatten() {
                        let arg = arg.as_str().unwrap();
                        for needle in &needles {
                            assert!(
                                !arg.contains(needle.as_str()),
                                "{place}: an argument holds a secret"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(containers > 20, "{containers} containers checked");
}
