//! Connecting like kubectl: `--kubeconfig`, `KUBECONFIG` (a list; missing entries skipped),
//! `~/.kube/config`, `--context`, then in-cluster config; the files and programs the user entry
//! names checked before the first request; and turning transport failures into one-line reasons
//! with a next step.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::{Cluster, ClusterError, resources::KindCache};

/// How long one request may go unanswered, unless the command asks for less.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// At most this long per request (default [`REQUEST_TIMEOUT`]): a server that stopped
    /// answering fails the run within it.
    pub request_timeout: Option<Duration>,
}

/// The kubeconfig the way kubectl finds it: `--kubeconfig`, else every file `$KUBECONFIG` lists
/// that exists (merged, the first to set a value wins), else `~/.kube/config`. None: no file.
fn read_kubeconfig(options: &ConnectOptions) -> Result<Option<Kubeconfig>, ClusterError> {
    let read = |path: &Path| {
        Kubeconfig::read_from(path)
            .map_err(|err| ClusterError::Kubeconfig(format!("{}: {err}", path.display())))
    };
    if let Some(path) = &options.kubeconfig {
        if !path.exists() {
            return Err(ClusterError::Kubeconfig(format!(
                "{} does not exist",
                path.display()
            )));
        }
        return read(path).map(Some);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let named: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        // kubectl skips a listed file that does not exist; so does openlsp.
        let existing: Vec<&PathBuf> = named.iter().filter(|p| p.exists()).collect();
        if existing.is_empty() && !named.is_empty() {
            return Err(ClusterError::Kubeconfig(format!(
                "$KUBECONFIG names no file that exists: {}",
                named
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut merged: Option<Kubeconfig> = None;
        for path in existing {
            let next = read(path)?;
            merged = Some(match merged {
                None => next,
                Some(first) => first.merge(next).map_err(|err| {
                    ClusterError::Kubeconfig(format!("{}: {err}", path.display()))
                })?,
            });
        }
        if merged.is_some() {
            return Ok(merged);
        }
    }
    let home = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube/config"));
    match home {
        Some(path) if path.exists() => read(&path).map(Some),
        _ => Ok(None),
    }
}

async fn load_config(options: &ConnectOptions) -> Result<Config, ClusterError> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    let Some(kubeconfig) = read_kubeconfig(options)? else {
        if options.context.is_some() {
            return Err(ClusterError::NoConfig);
        }
        return Config::incluster().map_err(|_| ClusterError::NoConfig);
    };
    if let Some(user) = selected_user(&kubeconfig, options.context.as_deref()) {
        check_user(user)?;
    }
    let source = options
        .kubeconfig
        .as_ref()
        .map(|path| format!("{}: ", path.display()))
        .unwrap_or_default();
    Config::from_custom_kubeconfig(kubeconfig, &kube_options)
        .await
        .map_err(|err| ClusterError::Kubeconfig(format!("{source}{err}")))
}

/// The user entry the chosen context (or the current one) names, if any.
fn selected_user<'a>(kubeconfig: &'a Kubeconfig, context: Option<&str>) -> Option<&'a AuthInfo> {
    let context = context.or(kubeconfig.current_context.as_deref())?;
    let user = kubeconfig
        .contexts
        .iter()
        .find(|named| named.name == context)?
        .context
        .as_ref()?
        .user
        .as_deref()?;
    kubeconfig
        .auth_infos
        .iter()
        .find(|named| named.name == user)?
        .auth_info
        .as_ref()
}

/// The files and the program the user entry names exist and can be read or run; otherwise the
/// error names that file, not the server it was meant for.
fn check_user(user: &AuthInfo) -> Result<(), ClusterError> {
    let files = [
        ("token file", &user.token_file),
        ("client certificate", &user.client_certificate),
        ("client key", &user.client_key),
    ];
    for (what, path) in files {
        if let Some(path) = path
            && let Err(err) = std::fs::File::open(path)
        {
            return Err(ClusterError::UserFile {
                what: format!("the {what} {path}"),
                reason: err.to_string(),
            });
        }
    }
    if let Some(command) = user.exec.as_ref().and_then(|exec| exec.command.as_deref())
        && !runnable(command)
    {
        return Err(ClusterError::UserFile {
            what: format!("the exec plugin {command}"),
            reason: if command.contains('/') {
                "no such executable file".to_owned()
            } else {
                "not found on PATH".to_owned()
            },
        });
    }
    Ok(())
}

/// Whether `command` names an executable file, itself or on PATH, as a shell would find it.
fn runnable(command: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        return executable(Path::new(command));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(command))))
}

impl Cluster {
    /// Connects and checks the server answers (GET /version).
    pub async fn connect(options: &ConnectOptions) -> Result<Self, ClusterError> {
        let mut config = load_config(options).await?;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(options.request_timeout.unwrap_or(REQUEST_TIMEOUT));
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let client = build_client(config.clone(), Http::OneOrTwo)
            .map_err(|err| ClusterError::Kubeconfig(format!("{server}: {}", root_cause(&err))))?;
        client
            .apiserver_version()
            .await
            .map_err(|err| classify_version(&server, err))?;
        Ok(Cluster {
            kinds: KindCache::new(client.clone()),
            client,
            config,
            streams: std::sync::OnceLock::new(),
            server,
            manager: super::FIELD_MANAGER,
        })
    }

    pub(super) fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The HTTP/1.1 client exec's WebSocket needs, built on the first exec (few commands exec).
    pub(super) fn streams(&self) -> Result<kube::Client, ClusterError> {
        if let Some(client) = self.streams.get() {
            return Ok(client.clone());
        }
        let client = build_client(self.config.clone(), Http::OneOnly).map_err(|err| {
            ClusterError::Kubeconfig(format!("{}: {}", self.server, root_cause(&err)))
        })?;
        Ok(self.streams.get_or_init(|| client).clone())
    }
}

/// A client that speaks HTTP/2 when the server offers it (ALPN), so concurrent requests share
/// one TLS connection instead of paying a handshake each; kube's own stack is HTTP/1 only.
/// Authentication, base URI and headers come from kube's layers, unchanged. A kubeconfig with
/// a proxy gets kube's default stack, which knows proxies.
/// Which HTTP versions a client offers the server: a WebSocket (exec) needs HTTP/1.1's upgrade.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Http {
    OneOrTwo,
    OneOnly,
}

fn build_client(config: Config, versions: Http) -> Result<Client, kube::Error> {
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
    let connector = match versions {
        Http::OneOrTwo => https.enable_http1().enable_http2().wrap_connector(http),
        Http::OneOnly => https.enable_http1().wrap_connector(http),
    };
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
    /// A connection, but no answer before the request's timeout (a stopped or hung server).
    NoAnswer,
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
    let mut message = innermost.to_string();
    // rustls appends a link to its manual to some messages; an operator needs the words only.
    if let Some(cut) = message.find(": https://") {
        message.truncate(cut);
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("close_notify") {
        "the server closed the connection".to_owned()
    } else if lower.contains("timed out") || lower.contains("deadline has elapsed") {
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
            return Some(Transport::NoAnswer);
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

/// What kube-client writes as the reason of an error answer that was not a Kubernetes `Status`
/// (an HTML page, plain text, nothing): then `message` is the answer's body.
const NOT_A_STATUS: &str = "Failed to parse error data";

/// An error answer's body in a few words: never a whole page.
fn describe_answer(code: u16, body: &str) -> String {
    let body = body.trim();
    let lower = body.to_ascii_lowercase();
    if body.is_empty() {
        format!("HTTP {code} with an empty body")
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        format!("HTTP {code} with an HTML page")
    } else {
        let first = body.lines().next().unwrap_or_default();
        let mut shown: String = first.chars().take(120).collect();
        if shown.len() < body.len() {
            shown.push('…');
        }
        format!("HTTP {code}: {shown}")
    }
}

/// The version check at connect: anything but a version (or a refusal of our credentials) means
/// the URL is not a Kubernetes API server, whatever it answered.
fn classify_version(server: &str, err: kube::Error) -> ClusterError {
    let answer = match &err {
        kube::Error::Api(status) if matches!(status.code, 401 | 403) => None,
        kube::Error::Api(status) if status.reason == NOT_A_STATUS => {
            Some(describe_answer(status.code, &status.message))
        }
        kube::Error::Api(status) if status.message.is_empty() => {
            Some(format!("HTTP {} without a message", status.code))
        }
        kube::Error::Api(status) => Some(format!("HTTP {}: {}", status.code, status.message)),
        // A 2xx answer that is not a version: a web page, another API.
        kube::Error::SerdeError(_) => Some("something that is not a Kubernetes version".to_owned()),
        _ => None,
    };
    match answer {
        Some(answer) => ClusterError::NotKubernetes {
            server: server.to_owned(),
            answer,
        },
        None => classify(server, "read the server version".to_owned(), err),
    }
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
                message: if status.reason == NOT_A_STATUS || status.message.is_empty() {
                    describe_answer(code, &status.message)
                } else {
                    status.message
                },
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
                Some(Transport::NoAnswer) => ClusterError::NoAnswer { server },
                None => ClusterError::Api {
                    action,
                    code: 0,
                    message: other.to_string(),
                },
            }
        }
    }
}

/// [`classify`] for a request after connecting: a server that no longer answers was lost
/// mid-run, not "unreachable" (it answered the version check).
pub(super) fn classify_mid_run(server: &str, action: String, err: kube::Error) -> ClusterError {
    match classify(server, action.clone(), err) {
        ClusterError::Unreachable { server, reason } => ClusterError::ConnectionLost {
            server,
            action,
            reason,
        },
        ClusterError::NoAnswer { server } => ClusterError::ConnectionLost {
            server,
            action,
            reason: "no answer before the request timed out".to_owned(),
        },
        other => other,
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
        assert_eq!(
            timeout.to_string().lines().next().unwrap(),
            "the cluster at https://h:1 accepted the connection but sent no answer before the request timed out (stopped, hung or overloaded)"
        );
        let timeout_mid_run = classify_mid_run(
            "https://h:1",
            "list Secrets".into(),
            kube::Error::Service(Box::new(tower::timeout::error::Elapsed::new())),
        );
        assert!(
            timeout_mid_run.to_string().contains(
                "mid-run, trying to list Secrets: no answer before the request timed out"
            ),
            "{timeout_mid_run}"
        );
    }

    #[test]
    fn a_connection_lost_after_connecting_says_so_without_the_rustls_link() {
        let eof = io(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify: https://docs.rs/rustls/latest/rustls/manual/_03_howto/index.html#unexpected-eof",
        );
        let lost = classify_mid_run("https://h:1", "list Secrets".into(), eof);
        assert_eq!(
            lost.to_string().lines().next().unwrap(),
            "lost the connection to the cluster at https://h:1 mid-run, trying to list Secrets: the server closed the connection"
        );
        let refused = classify_mid_run(
            "https://h:1",
            "list".into(),
            io(std::io::ErrorKind::ConnectionRefused, "os error 111"),
        );
        assert!(
            matches!(refused, ClusterError::ConnectionLost { .. }),
            "{refused}"
        );
        assert!(
            !refused.to_string().contains("microk8s running"),
            "{refused}"
        );
    }

    #[test]
    fn an_error_answer_is_described_never_dumped() {
        assert_eq!(describe_answer(404, ""), "HTTP 404 with an empty body");
        assert_eq!(
            describe_answer(502, "<HTML><body>bad</body></HTML>"),
            "HTTP 502 with an HTML page"
        );
        let long = format!("oops {}", "x".repeat(500));
        assert!(describe_answer(500, &long).chars().count() < 140);
        let empty = kube::Error::Api(
            kube::core::Status::failure("", NOT_A_STATUS)
                .with_code(404)
                .boxed(),
        );
        assert_eq!(
            classify("https://h:1", "get Lease/x".into(), empty).to_string(),
            "cannot get Lease/x: HTTP 404 with an empty body"
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
