//! `spec.monitoring`: the names the observability addon selects by, the exporter images, and
//! the networks lndmon knows, and that CLN's exporter has an image to run.

use crate::images;
use crate::profile::check::{Checker, is_dns_label, is_label_value};
use crate::profile::site::{Implementation, Network, Site};

pub(super) fn check(checker: &mut Checker, site: &Site) {
    let monitoring = &site.spec.monitoring;
    if !is_label_value(&monitoring.release) || monitoring.release.is_empty() {
        checker.error(
            "spec.monitoring.release",
            format!("{:?} is not a Kubernetes label value", monitoring.release),
            "use the Helm release name of kube-prometheus-stack, kube-prom-stack on microk8s",
        );
    }
    if !is_dns_label(&monitoring.namespace) {
        checker.error(
            "spec.monitoring.namespace",
            format!("{:?} is not a valid namespace name", monitoring.namespace),
            "use the namespace Grafana runs in, observability on microk8s",
        );
    }
    checker.check_image("spec.monitoring.exporterImage", &monitoring.exporter_image);
    checker.check_image("spec.monitoring.lndmonImage", &monitoring.lndmon_image);
    checker.check_image(
        "spec.monitoring.clnExporterImage",
        &monitoring.cln_exporter_image,
    );
    let any_cln = site
        .spec
        .lightning
        .iter()
        .any(|node| node.implementation == Implementation::Cln);
    if monitoring.enabled
        && any_cln
        && monitoring.cln_exporter_image == images::CONTROLLER_PLACEHOLDER
    {
        checker.warn(
            "spec.monitoring.clnExporterImage",
            "CLN's exporter runs openlsp's own image, and openlsp publishes none: the exporter pods cannot pull the placeholder, so no CLN metrics or CLN alerts work",
            "build the Containerfile, push it to a registry the cluster pulls from and set spec.monitoring.clnExporterImage (docs/controller.md)",
        );
    }
    let lndmon_network = matches!(
        site.spec.network,
        Network::Mainnet | Network::Testnet | Network::Regtest
    );
    let any_lnd = site
        .spec
        .lightning
        .iter()
        .any(|node| node.implementation == Implementation::Lnd);
    if monitoring.enabled && monitoring.lndmon && !lndmon_network && any_lnd {
        checker.error(
            "spec.monitoring.lndmon",
            format!(
                "lndmon knows only mainnet, testnet and regtest, not {}",
                site.spec.network.as_str()
            ),
            "set spec.monitoring.lndmon: false; LND's own metrics are still scraped",
        );
    }
}
