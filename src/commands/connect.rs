//! `openlsp connect`: an lndconnect URI and QR code for a mobile wallet (Zeus and others),
//! built from the certificate and admin macaroon the node published in the cluster. It shows
//! a credential that controls the node, so it asks first and warns about screens.

use anyhow::{Context as _, bail};
use base64::Engine as _;

use super::Outcome;
use crate::cli::{ConnectArgs, GlobalArgs};
use crate::plan::context::shared::{LND_GRPC_PORT, LND_REST_PORT, service_host};
use crate::plan::names;
use crate::secrets::tls;
use crate::ui::Ui;

/// `lndconnect://host:port?cert=<base64url DER>&macaroon=<base64url>`, without padding.
pub fn lndconnect_uri(
    host: &str,
    port: u16,
    cert_pem: &[u8],
    macaroon: &[u8],
) -> anyhow::Result<String> {
    let cert = tls::read_certificate(cert_pem).context("the published tls.cert")?;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok(format!(
        "lndconnect://{host}:{port}?cert={}&macaroon={}",
        url.encode(&cert.der),
        url.encode(macaroon)
    ))
}

/// The URI as a QR code of half-height blocks, dark on light, with a quiet zone.
fn qr_code(uri: &str) -> anyhow::Result<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(uri.as_bytes()).context("the URI is too long for a QR code")?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ConnectArgs) -> anyhow::Result<Outcome> {
    let profile = super::load_profile(ui, global)?;
    let site = &profile.site;
    let node = super::lnd_node(site, Some(&args.node), "`openlsp connect`")?;
    let port = args.port.unwrap_or(if args.rest {
        LND_REST_PORT
    } else {
        LND_GRPC_PORT
    });
    let host = match (&args.host, node.tls_extra_domains.first()) {
        (Some(host), _) => host.clone(),
        (None, Some(domain)) => domain.clone(),
        (None, None) => {
            ui.warn(&format!(
                "{} has no extra TLS name, so the URI uses its in-cluster name, which a phone cannot reach; pass --host (and add it to tlsExtraDomains or tlsExtraIps)",
                node.name
            ));
            service_host(site, &node.name)
        }
    };
    let cluster = super::connect_cluster(global).await?;
    let secret = names::macaroons_secret(&node.name);
    let data = cluster
        .secret_data(site.namespace(), &secret)
        .await?
        .unwrap_or_default();
    let (Some(cert), Some(macaroon)) = (data.get("tls.cert"), data.get("admin.macaroon")) else {
        bail!(
            "{} has not published its certificate and macaroons yet (Secret {}/{secret}); its sidecar does once LND runs\n  hint: kubectl -n {} get pods",
            node.name,
            site.namespace(),
            site.namespace()
        );
    };
    let warning = format!(
        "This shows {}'s admin macaroon: whoever sees the QR code or URI controls the node and its funds. Stop any screen sharing",
        node.name
    );
    if args.yes {
        // --yes skips the question, not the warning.
        ui.warn(&warning);
    } else {
        let confirmed = ui.confirm_typed(&warning, &node.name, "pass --yes")?;
        if !confirmed {
            bail!("the node name was not confirmed; nothing was shown");
        }
    }
    let uri = lndconnect_uri(&host, port, cert, macaroon)?;
    ui.stdout(&format!("{}\n{uri}\n", qr_code(&uri)?));
    ui.warn("this is an admin credential: clear your terminal's scrollback when done");
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_carries_der_and_macaroon_in_base64url() {
        let pair = crate::secrets::tls::generate("lnd", &["lnd".to_owned()]).unwrap();
        let uri = lndconnect_uri(
            "node.example.com",
            10009,
            pair.cert_pem.as_bytes(),
            b"\x02\x01mac",
        )
        .unwrap();
        assert!(uri.starts_with("lndconnect://node.example.com:10009?cert="));
        let macaroon = uri.split("&macaroon=").nth(1).unwrap();
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(macaroon)
                .unwrap(),
            b"\x02\x01mac"
        );
        assert!(
            !uri.contains('=') || uri.matches('=').count() == 2,
            "no padding: {uri}"
        );
        assert!(
            lndconnect_uri("fd00::1", 8080, pair.cert_pem.as_bytes(), b"m")
                .unwrap()
                .starts_with("lndconnect://[fd00::1]:8080?")
        );
        assert!(qr_code(&uri).unwrap().lines().count() > 20);
    }
}
