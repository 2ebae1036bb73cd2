//! `openlsp connect`: a URI and QR code for a mobile wallet (Zeus and others), built from what
//! the node published in the cluster: for LND an lndconnect URI with the certificate and admin
//! macaroon, for Core Lightning a `clnrest://` URI with the admin rune. It shows a credential
//! that controls the node, so it asks first and warns about screens.

use anyhow::{Context as _, bail};
use base64::Engine as _;

use super::Outcome;
use crate::cli::{ConnectArgs, GlobalArgs};
use crate::plan::context::shared::{CLN_REST_PORT, LND_GRPC_PORT, LND_REST_PORT, service_host};
use crate::plan::names;
use crate::profile::{Implementation, LightningNode, Site};
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

/// `clnrest://host:port?rune=<rune>`: what Zeus scans for CLNRest (ZeusLN/zeus,
/// utils/ConnectionFormatUtils.ts, `processCLNRestConnectUrl`: https unless the URI says
/// otherwise, and the rune percent-decoded).
pub fn clnrest_uri(host: &str, port: u16, rune: &[u8]) -> anyhow::Result<String> {
    let rune = std::str::from_utf8(rune).context("the published rune is not text")?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let mut encoded = String::new();
    for byte in rune.trim().bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(format!("clnrest://{host}:{port}?rune={encoded}"))
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
    let node = super::lightning_node(site, Some(&args.node))?;
    if node.implementation == Implementation::Cln {
        return connect_cln(ui, global, args, site, node).await;
    }
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
    confirm(ui, args, node, "admin macaroon")?;
    let uri = lndconnect_uri(&host, port, cert, macaroon)?;
    show(ui, &uri)
}

/// The warning before an admin credential is shown, and the typed name unless --yes.
fn confirm(ui: &Ui, args: &ConnectArgs, node: &LightningNode, what: &str) -> anyhow::Result<()> {
    let warning = format!(
        "This shows {}'s {what}: whoever sees the QR code or URI controls the node and its funds. Stop any screen sharing",
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
    Ok(())
}

/// The QR code and the URI, and the reminder about scrollback.
fn show(ui: &Ui, uri: &str) -> anyhow::Result<Outcome> {
    ui.stdout(&format!("{}\n{uri}\n", qr_code(uri)?));
    ui.warn("this is an admin credential: clear your terminal's scrollback when done");
    Ok(Outcome::Ok)
}

/// Core Lightning: Zeus connects through CLNRest with a host, a port and the admin rune.
async fn connect_cln(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ConnectArgs,
    site: &Site,
    node: &LightningNode,
) -> anyhow::Result<Outcome> {
    if args.grpc {
        bail!(
            "{} runs Core Lightning: wallets such as Zeus connect to it through CLNRest\n  hint: leave out --grpc",
            node.name
        );
    }
    let port = args.port.unwrap_or(CLN_REST_PORT);
    let host = match &args.host {
        Some(host) => host.clone(),
        None => {
            ui.warn(&format!(
                "the URI uses {}'s in-cluster name, which a phone cannot reach; pass --host (its API onion address with `onion: [rest]`, or a host that reaches port {CLN_REST_PORT})",
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
    let Some(rune) = data.get(names::CLN_ADMIN_RUNE) else {
        bail!(
            "{} has not published its runes yet (Secret {}/{secret}); its sidecar does once lightningd runs\n  hint: kubectl -n {} get pods",
            node.name,
            site.namespace(),
            site.namespace()
        );
    };
    confirm(ui, args, node, "admin rune")?;
    let uri = clnrest_uri(&host, port, rune)?;
    show(ui, &uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zeus splits the URI at `clnrest://`, `?`, `&` and the first `=` of each parameter, then
    /// percent-decodes the value: the rune's padding must survive, an IPv6 host keeps brackets.
    #[test]
    fn a_clnrest_uri_carries_the_rune_as_zeus_reads_it() {
        let rune = b"S34KtUW-6gqS_hD_9cc_PNhfF-NinZyBOCgr1aIrark9NCZtZXRob2Q9aW52b2ljZQ==";
        let uri = clnrest_uri("abc.onion", 3010, rune).unwrap();
        assert_eq!(
            uri,
            "clnrest://abc.onion:3010?rune=S34KtUW-6gqS_hD_9cc_PNhfF-NinZyBOCgr1aIrark9NCZtZXRob2Q9aW52b2ljZQ%3D%3D"
        );
        let (authority, query) = uri
            .strip_prefix("clnrest://")
            .unwrap()
            .split_once('?')
            .unwrap();
        assert_eq!(authority, "abc.onion:3010");
        let value = query.strip_prefix("rune=").unwrap();
        assert_eq!(value.replace("%3D", "="), String::from_utf8_lossy(rune));
        assert!(
            clnrest_uri("fd00::1", 3010, b"r")
                .unwrap()
                .starts_with("clnrest://[fd00::1]:3010?")
        );
    }

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
