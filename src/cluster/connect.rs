//! Connecting like kubectl: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, `--context`, then
//! in-cluster config; and turning transport failures into one-line reasons with a next step.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::{Cluster, ClusterError, resources::KindCache};

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

fn default_kubeconfig_exists() -> bool {
    std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
        || std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".kube/config").exists())
            .unwrap_or(false)
}

async fn load_config(options: &ConnectOptions) -> Result<Config, ClusterError> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    if let Some(path) = &options.kubeconfig {
        if !path.exists() {
            return Err(ClusterError::Kubeconfig(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let file = Kubeconfig::read_from(path)
            .map_err(|err| ClusterError::Kubeconfig(format!("{}: {err}", path.display())))?;
        return Config::from_custom_kubeconfig(file, &kube_options)
            .await
            .map_err(|err| ClusterError::Kubeconfig(format!("{}: {err}", path.display())));
    }
    if default_kubeconfig_exists() {
        return Config::from_kubeconfig(&kube_options)
            .await
            .map_err(|err| ClusterError::Kubeconfig(err.to_string()));
    }
    if options.context.is_some() {
        return Err(ClusterError::NoConfig);
    }
    Config::incluster().map_err(|_| ClusterError::NoConfig)
}

impl Cluster {
    /// Connects and checks the server answers (GET /version).
    pub async fn connect(options: &ConnectOptions) -> Result<Self, ClusterError> {
        let mut config = load_config(options).await?;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(60));
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let client = build_client(config)
            .map_err(|err| ClusterError::Kubeconfig(format!("{server}: {}", root_cause(&err))))?;
        client
            .apiserver_version()
            .await
            .map_err(|err| classify(&server, "read the server version".to_owned(), err))?;
        Ok(Cluster {
            kinds: KindCache::new(client.clone()),
            client,
            server,
            manager: super::FIELD_MANAGER,
        })
    }

    pub(super) fn client(&self) -> kube::Client {
        self.client.clone()
    }
}

/// A client that speaks HTTP/2 when the server offers it (ALPN), so concurrent requests share
/// one TLS connection instead of paying a handshake each; kube's own stack is HTTP/1 only.
/// Authentication, base URI and headers come from kube's layers, unchanged. A kubeconfig with
/// a proxy gets kube's default stack, which knows proxies.
fn build_client(config: Config) -> Result<Client, kube::Error> {
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use kube::client::ConfigExt as _;

    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls_pki_types::ServerName::try_from(name.clone()).map_err(|err| {
            kube::Error::BuildRequest(kube::core::request::Error::Validation(err.to_string()))
        })?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let connector = https.enable_http1().enable_http2().wrap_connector(http);
    let http_client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let timeout = config.read_timeout.unwrap_or(Duration::from_secs(60));
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .timeout(timeout)
        .map_err(tower::BoxError::from)
        .service(http_client);
    Ok(Client::new(service, config.default_namespace))
}

/// What went wrong below the HTTP layer.
#[derive(Debug, PartialEq, Eq)]
enum Transport {
    /// No connection: refused, timed out, reset, no route, unknown host.
    Unreachable(String),
    /// A connection, but the TLS handshake failed (certificate mismatch).
    Tls(String),
}

fn is_connection_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | TimedOut
            | HostUnreachable
            | NetworkUnreachable
            | AddrNotAvailable
            | BrokenPipe
            | UnexpectedEof
    )
}

/// `err` and its causes, outermost first. An `io::Error` wrapping another error hides it from
/// `source()` (rustls's handshake errors arrive that way), so this looks inside.
fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut chain = vec![err];
    let mut current = err;
    loop {
        let inner = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
        match inner {
            Some(next) => {
                chain.push(next);
                current = next;
            }
            None => return chain,
        }
    }
}

/// The innermost cause's text, with the usual socket errors in plain words.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let chain = causes(err);
    let innermost = chain[chain.len() - 1];
    let socket = chain
        .iter()
        .rev()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>());
    match socket.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::ConnectionRefused) => return "connection refused".to_owned(),
        Some(std::io::ErrorKind::TimedOut) => return "connection timed out".to_owned(),
        _ => {}
    }
    let message = innermost.to_string();
    let lower = message.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("deadline has elapsed") {
        "connection timed out".to_owned()
    } else if lower.contains("connection refused") {
        "connection refused".to_owned()
    } else {
        message
    }
}

/// Whether `err` failed to reach the server at all (as opposed to a server that answered
/// something we could not use), and how.
fn transport_failure(err: &(dyn std::error::Error + 'static)) -> Option<Transport> {
    let mut connecting = false;
    for cause in causes(err) {
        if let Some(client) = cause.downcast_ref::<hyper_util::client::legacy::Error>() {
            connecting |= client.is_connect();
        }
        if cause.is::<tower::timeout::error::Elapsed>() {
            return Some(Transport::Unreachable(
                "no answer before the request timed out".to_owned(),
            ));
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            // rustls reports handshake failures (an unknown issuer, a wrong name) this way.
            if io.kind() == std::io::ErrorKind::InvalidData && connecting {
                return Some(Transport::Tls(root_cause(err)));
            }
            if is_connection_io(io.kind()) {
                return Some(Transport::Unreachable(root_cause(err)));
            }
        }
    }
    connecting.then(|| Transport::Unreachable(root_cause(err)))
}

/// Maps a client error to what the operator should know and do. Only a failure to connect is
/// "cannot reach the cluster"; anything else gets its own reason.
pub(super) fn classify(server: &str, action: String, err: kube::Error) -> ClusterError {
    let server = server.to_owned();
    match err {
        kube::Error::Api(status) => match status.code {
            401 => ClusterError::Unauthorized { server },
            403 => ClusterError::Forbidden {
                action,
                message: status.message,
            },
            code => ClusterError::Api {
                action,
                code,
                message: status.message,
            },
        },
        // hyper errors are all about the connection (closed, reset, incomplete answer).
        kube::Error::HyperError(ref hyper) => ClusterError::Unreachable {
            server,
            reason: root_cause(hyper),
        },
        other => {
            let source: &(dyn std::error::Error + 'static) = &other;
            if let Some(auth) = find_cause::<kube::client::AuthError>(source) {
                return ClusterError::Credentials {
                    server,
                    reason: auth.to_string(),
                };
            }
            match transport_failure(source) {
                Some(Transport::Unreachable(reason)) => {
                    ClusterError::Unreachable { server, reason }
                }
                Some(Transport::Tls(reason)) => ClusterError::Tls { server, reason },
                None => ClusterError::Api {
                    action,
                    code: 0,
                    message: other.to_string(),
                },
            }
        }
    }
}

fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    causes(err)
        .into_iter()
        .find_map(|cause| cause.downcast_ref::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind, message: &str) -> kube::Error {
        kube::Error::Service(Box::new(std::io::Error::new(kind, message.to_owned())))
    }

    #[test]
    fn only_connection_failures_blame_the_server_being_down() {
        let refused = classify(
            "https://h:1",
            "list".into(),
            io(std::io::ErrorKind::ConnectionRefused, "os error 111"),
        );
        assert_eq!(
            refused.to_string(),
            "cannot reach the cluster at https://h:1: connection refused; is microk8s running? try: microk8s status"
        );
        let reset = classify(
            "https://h:1",
            "list".into(),
            io(std::io::ErrorKind::ConnectionReset, "reset by peer"),
        );
        assert!(matches!(reset, ClusterError::Unreachable { .. }), "{reset}");
        let timeout = classify(
            "https://h:1",
            "list".into(),
            kube::Error::Service(Box::new(tower::timeout::error::Elapsed::new())),
        );
        assert!(
            matches!(timeout, ClusterError::Unreachable { .. }),
            "{timeout}"
        );
    }

    #[test]
    fn other_client_errors_get_their_own_reason() {
        let garbage: serde_json::Error =
            serde_json::from_str::<serde_json::Value>("<html>").expect_err("not JSON");
        let bad_answer = classify(
            "https://h:1",
            "read the server version".into(),
            kube::Error::SerdeError(garbage),
        );
        let text = bad_answer.to_string();
        assert!(
            text.starts_with("cannot read the server version: Error deserializing response"),
            "{text}"
        );
        assert!(!text.contains("microk8s"), "{text}");

        let build = classify(
            "https://h:1",
            "apply ConfigMap/x".into(),
            kube::Error::BuildRequest(kube::core::request::Error::Validation("bad name".into())),
        );
        assert!(matches!(build, ClusterError::Api { .. }), "{build}");
        assert!(!build.to_string().contains("reach"), "{build}");

        let auth = classify(
            "https://h:1",
            "list".into(),
            kube::Error::Service(Box::new(kube::client::AuthError::ExecPluginFailed)),
        );
        assert!(
            auth.to_string()
                .starts_with("cannot get credentials for the cluster at https://h:1:"),
            "{auth}"
        );
    }
}
