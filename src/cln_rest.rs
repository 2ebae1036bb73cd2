//! A client of Core Lightning's REST API (the clnrest plugin), for the CLN exporter: one
//! `POST /v1/<method>` with a rune in the `Rune:` header (ElementsProject/lightning
//! doc/developers-guide/app-development/rest.md), answered `201 Created` with the method's JSON.
//!
//! TLS is verified against the node's own CA (`ca.pem`, which its publish sidecar puts into
//! `<node>-rpc`). lightningd's certificates name the server `cln` and `localhost`, never the
//! Service's DNS name, so the client checks the name `cln`, as CLN's own clients do.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

/// The name lightningd's certificates carry (plugins/rest-plugin/src/certs.rs and cln-grpc).
pub const SERVER_NAME: &str = "cln";

/// How long one call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer larger than this is not a read-only call's JSON.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClnRestError {
    #[error("the CA file holds no PEM certificate")]
    NoCertificate,
    #[error("the CA certificate is not usable")]
    Ca(#[source] rustls::Error),
    #[error("{0}: this is a bug in openlsp")]
    Bug(String),
    #[error("the rune is not a valid header value")]
    Rune,
    #[error("{url} is not a URL: {reason}")]
    Url { url: String, reason: String },
    #[error("{method}: {reason}")]
    Transport { method: String, reason: String },
    #[error("{method}: no answer within {}s", CALL_TIMEOUT.as_secs())]
    Timeout { method: String },
    #[error("{method}: HTTP {status}: {body}")]
    Status {
        method: String,
        status: u16,
        body: String,
    },
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct ClnRest {
    base: String,
    rune: http::HeaderValue,
    client: HttpsClient,
}

impl ClnRest {
    /// A client of `base` (`https://host:port`) that trusts only `ca_pem` and sends `rune`.
    pub fn new(base: &str, rune: &str, ca_pem: &[u8]) -> Result<Self, ClnRestError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|_| ClnRestError::NoCertificate)?;
            roots.add(cert).map_err(ClnRestError::Ca)?;
            found = true;
        }
        if !found {
            return Err(ClnRestError::NoCertificate);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| ClnRestError::Bug(format!("ring's TLS versions: {err}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(SERVER_NAME)
            .map_err(|err| ClnRestError::Bug(format!("server name {SERVER_NAME}: {err}")))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CALL_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            .enable_http1()
            .wrap_connector(http);
        let mut value = http::HeaderValue::from_str(rune.trim()).map_err(|_| ClnRestError::Rune)?;
        value.set_sensitive(true);
        let base = base.trim_end_matches('/').to_owned();
        base.parse::<http::Uri>().map_err(|err| ClnRestError::Url {
            url: base.clone(),
            reason: err.to_string(),
        })?;
        Ok(Self {
            base,
            rune: value,
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Calls `method` without parameters and returns its JSON answer.
    pub async fn call(&self, method: &str) -> Result<Vec<u8>, ClnRestError> {
        let transport = |reason: String| ClnRestError::Transport {
            method: method.to_owned(),
            reason,
        };
        let request = http::Request::post(format!("{}/v1/{method}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("Rune", self.rune.clone())
            .body(Full::new(Bytes::from_static(b"{}")))
            .map_err(|err| transport(err.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| transport(error_chain(&err)))?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|err| transport(err.to_string()))?
                .to_bytes();
            Ok::<_, ClnRestError>((status, body))
        };
        let (status, body) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| ClnRestError::Timeout {
                method: method.to_owned(),
            })??;
        if !status.is_success() {
            // CLNRest's error JSON (code and message, e.g. a rune that is not authorized).
            // The rune never goes into a log, even if an answer were to quote it.
            let mut text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            if let Ok(rune) = self.rune.to_str() {
                text = text.replace(rune, "<rune>");
            }
            return Err(ClnRestError::Status {
                method: method.to_owned(),
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(body.to_vec())
    }
}

/// An error and its causes, `: `-joined: hyper's own message alone says only "client error".
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let err = ClnRest::new("https://cln:3010", "rune", b"not a pem").err();
        assert!(matches!(err, Some(ClnRestError::NoCertificate)), "{err:?}");
    }

    #[test]
    fn a_rune_with_a_newline_inside_is_refused() {
        let ca = rcgen::generate_simple_self_signed(vec!["cln".to_owned()]).unwrap();
        let err = ClnRest::new("https://cln:3010", "ab\ncd", ca.cert.pem().as_bytes()).err();
        assert!(matches!(err, Some(ClnRestError::Rune)), "{err:?}");
        assert!(ClnRest::new("https://cln:3010", "abcd\n", ca.cert.pem().as_bytes()).is_ok());
    }
}
