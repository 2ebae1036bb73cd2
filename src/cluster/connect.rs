//! Connecting like kubectl: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, `--context`, then
//! in-cluster config; and turning transport failures into one-line reasons with a next step.

use std::error::Error as _;
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
        let client = build_client(config).map_err(|err| ClusterError::Unreachable {
            server: server.clone(),
            reason: root_cause(&err),
        })?;
        client
            .apiserver_version()
            .await
            .map_err(|err| classify(&server, "read the server version".to_owned(), err))?;
        Ok(Cluster {
            kinds: KindCache::new(client.clone()),
            client,
            server,
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

/// The innermost cause, in words a person can act on.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: &(dyn std::error::Error + 'static) = err;
    let mut message = current.to_string();
    loop {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".to_owned(),
                std::io::ErrorKind::TimedOut => return "connection timed out".to_owned(),
                _ => {}
            }
        }
        match current.source() {
            Some(next) => {
                current = next;
                message = current.to_string();
            }
            None => break,
        }
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("deadline") || lower.contains("elapsed") {
        "connection timed out".to_owned()
    } else if lower.contains("refused") {
        "connection refused".to_owned()
    } else {
        message
    }
}

/// Maps a client error to what the operator should know and do.
pub(super) fn classify(server: &str, action: String, err: kube::Error) -> ClusterError {
    match err {
        kube::Error::Api(status) => match status.code {
            401 => ClusterError::Unauthorized {
                server: server.to_owned(),
            },
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
        other => {
            let source: &(dyn std::error::Error + 'static) = &other;
            let reason = root_cause(source);
            if reason == "connection refused"
                || reason == "connection timed out"
                || other.source().is_some()
            {
                ClusterError::Unreachable {
                    server: server.to_owned(),
                    reason,
                }
            } else {
                ClusterError::Api {
                    action,
                    code: 0,
                    message: reason,
                }
            }
        }
    }
}
