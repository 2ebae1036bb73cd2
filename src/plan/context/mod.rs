//! What templates see: one context per service, computed here once so that templates never
//! build names, ports or paths themselves.
//!
//! A service is a template directory, and [`SERVICES`] is the one table of them: for each
//! directory, how often its templates render and what builds their context. Each service's
//! context is built in its own file (`site.rs`, `bitcoind.rs`, …) from the profile and the
//! secrets snapshot, over the vocabulary in `shared.rs` (ports, labels, volumes, secret values)
//! and `network.rs` (who may connect to each pod, and where it may connect to); service files
//! import those and, for what one service gives another (an onion key, an Ingress, inbound P2P),
//! the giver's file, never the other way round.
//!
//! Every template sees `site`: the site service's context, with each other once-per-site
//! service's context under its directory name (`site.tor`, `site.monitoring`, `site.ingress`),
//! so any template can read a site-wide fact. A once-per-node service's templates see its
//! context's fields beside `site` (`node`, `backend`, …). A service rendered on request (the
//! bootstrap's copy Job) is no part of the site: its verb renders it with
//! [`crate::plan::render_bootstrap`].

pub(crate) mod backup;
pub(crate) mod bitcoind;
pub(crate) mod bootstrap;
pub(crate) mod btcd;
pub(crate) mod btcpay;
pub(crate) mod cln;
pub(crate) mod ingress;
pub(crate) mod lnd;
pub(crate) mod monitoring;
pub(crate) mod network;
pub(crate) mod rtl;
pub(crate) mod shared;
pub(crate) mod site;
pub(crate) mod thunderhub;
pub(crate) mod tor;
pub(crate) mod ui;

use serde_json::{Map, Value};

use super::error::PlanError;
use crate::profile::{BitcoinImplementation, BitcoinNode, Implementation, LightningNode, Site};
use crate::secrets::Secrets;
use shared::to_value;

/// How often a service's templates render, with the function that builds the context of each.
#[derive(Clone, Copy)]
pub(crate) enum Scope {
    /// Once per site.
    Site(fn(&Site) -> Result<Value, PlanError>),
    /// Once per site, with the secrets snapshot. Its fields sit beside `site`, not in it, so
    /// the credential values it carries reach only its own templates.
    SiteSecrets(fn(&Site, &Secrets) -> Result<Value, PlanError>),
    /// Once per Bitcoin node (`spec.bitcoin`) that runs the implementation.
    EachBitcoin(
        BitcoinImplementation,
        fn(&Site, &BitcoinNode, &Secrets) -> Result<Value, PlanError>,
    ),
    /// Once per Lightning node (`spec.lightning`) that runs the implementation.
    EachLightning(
        Implementation,
        fn(&Site, &LightningNode, &Secrets) -> Result<Value, PlanError>,
    ),
    /// Only when a verb asks, with what it asks for; never with the site.
    OnRequest,
}

/// One template directory and how its templates render.
pub(crate) struct Service {
    pub(crate) dir: &'static str,
    pub(crate) scope: Scope,
}

/// The directory whose context is `site` itself.
const SITE: &str = "site";
/// The directory of `openlsp bootstrap`'s copy Job.
pub(crate) const BOOTSTRAP: &str = "bootstrap";

/// Every service openlsp renders. Adding one is a row here, its context file, its template
/// directory and its images-table row (docs/architecture.md).
pub(crate) const SERVICES: [Service; 13] = [
    Service {
        dir: SITE,
        scope: Scope::Site(|site| to_value(site::context(site))),
    },
    Service {
        dir: "bitcoind",
        scope: Scope::EachBitcoin(BitcoinImplementation::Bitcoind, |site, node, secrets| {
            to_value(bitcoind::context(site, node, secrets)?)
        }),
    },
    Service {
        dir: "btcd",
        scope: Scope::EachBitcoin(BitcoinImplementation::Btcd, |site, node, secrets| {
            to_value(btcd::context(site, node, secrets)?)
        }),
    },
    Service {
        dir: "lnd",
        scope: Scope::EachLightning(Implementation::Lnd, |site, node, secrets| {
            to_value(lnd::context(site, node, secrets)?)
        }),
    },
    Service {
        dir: "cln",
        scope: Scope::EachLightning(Implementation::Cln, |site, node, secrets| {
            to_value(cln::context(site, node, secrets)?)
        }),
    },
    Service {
        dir: "tor",
        scope: Scope::Site(|site| to_value(tor::context(site))),
    },
    Service {
        dir: "monitoring",
        scope: Scope::Site(|site| to_value(monitoring::context(site))),
    },
    Service {
        dir: "ingress",
        scope: Scope::Site(|site| to_value(ingress::context(site))),
    },
    Service {
        dir: "backup",
        scope: Scope::SiteSecrets(|site, secrets| to_value(backup::context(site, secrets)?)),
    },
    Service {
        dir: "btcpay",
        scope: Scope::SiteSecrets(|site, secrets| to_value(btcpay::context(site, secrets)?)),
    },
    Service {
        dir: "rtl",
        scope: Scope::SiteSecrets(|site, secrets| to_value(rtl::context(site, secrets)?)),
    },
    Service {
        dir: "thunderhub",
        scope: Scope::SiteSecrets(|site, secrets| to_value(thunderhub::context(site, secrets)?)),
    },
    Service {
        dir: BOOTSTRAP,
        scope: Scope::OnRequest,
    },
];

/// The service a template belongs to, from its directory.
pub(crate) fn service_of(template: &str) -> Result<&'static Service, PlanError> {
    let (dir, _) = template.split_once('/').unwrap_or_default();
    SERVICES
        .iter()
        .find(|service| service.dir == dir)
        .ok_or_else(|| PlanError::UnknownService {
            template: template.to_owned(),
            known: SERVICES
                .iter()
                .map(|service| service.dir)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Every context of a site: for each service, one per time its templates render.
pub(crate) struct Contexts {
    by_service: Vec<(&'static str, Vec<minijinja::Value>)>,
}

impl Contexts {
    /// Builds each service's contexts once, to be shared by all templates of the service.
    pub(crate) fn build(site: &Site, secrets: &Secrets) -> Result<Self, PlanError> {
        let site_value = site_value(site)?;
        let with_site = |context: Value| with_site(&site_value, context);
        let mut by_service = Vec::new();
        for service in &SERVICES {
            let contexts = match service.scope {
                Scope::OnRequest => Vec::new(),
                Scope::Site(_) => vec![with_site(Value::Object(Map::new()))],
                Scope::SiteSecrets(build) => vec![with_site(build(site, secrets)?)],
                Scope::EachBitcoin(implementation, build) => site
                    .spec
                    .bitcoin
                    .iter()
                    .filter(|node| node.implementation == implementation)
                    .map(|node| build(site, node, secrets).map(&with_site))
                    .collect::<Result<_, _>>()?,
                Scope::EachLightning(implementation, build) => site
                    .spec
                    .lightning
                    .iter()
                    .filter(|node| node.implementation == implementation)
                    .map(|node| build(site, node, secrets).map(&with_site))
                    .collect::<Result<_, _>>()?,
            };
            by_service.push((service.dir, contexts));
        }
        Ok(Contexts { by_service })
    }

    /// The context of a service rendered on request: `context`'s fields beside `site`.
    pub(crate) fn on_request(site: &Site, context: Value) -> Result<minijinja::Value, PlanError> {
        Ok(with_site(&site_value(site)?, context))
    }

    /// The contexts `service`'s templates render with, one per time they render.
    pub(crate) fn of(&self, service: &Service) -> &[minijinja::Value] {
        self.by_service
            .iter()
            .find(|(dir, _)| *dir == service.dir)
            .map_or(&[], |(_, contexts)| contexts)
    }
}

/// What every template sees as `site`: the site service's context, with each other
/// once-per-site service's context under its directory name.
fn site_value(site: &Site) -> Result<Value, PlanError> {
    let mut site_value = Map::new();
    for service in &SERVICES {
        if let Scope::Site(build) = service.scope {
            match build(site)? {
                Value::Object(fields) if service.dir == SITE => site_value.extend(fields),
                value => {
                    site_value.insert(service.dir.to_owned(), value);
                }
            }
        }
    }
    Ok(Value::Object(site_value))
}

/// `context`'s fields with `site` beside them.
fn with_site(site: &Value, context: Value) -> minijinja::Value {
    let mut map = match context {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    map.insert("site".to_owned(), site.clone());
    minijinja::Value::from_serialize(Value::Object(map))
}

/// What the operator should know before applying, from the services that have something to
/// say: public exposures, monitoring without lndmon, routes in an addon openlsp does not own.
pub(crate) fn warnings(site: &Site) -> Vec<String> {
    [ingress::warnings, monitoring::warnings, site::warnings]
        .iter()
        .flat_map(|warnings| warnings(site))
        .collect()
}
