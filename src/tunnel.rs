//! `openlsp tunnel`: how BTCPay reaches a Core Lightning node without the node's JSON-RPC ever
//! being exposed. BTCPay speaks to CLN only over the `lightning-rpc` unix socket or raw TCP
//! (BTCPayServer.Lightning's CLightningConnectionStringHandler.cs), and that RPC has no
//! authentication: whoever reaches it controls the node's funds. So the socket never leaves the
//! CLN pod. A `serve` end beside lightningd takes TLS connections, requires a client certificate
//! from the tunnel's CA, and only then opens the socket; a `connect` end beside BTCPay offers a
//! unix socket and carries each connection over that TLS, checking the server's certificate.
//! Both ends copy bytes and never read them: the tunnel knows nothing of lightningd.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A handshake (or the TCP connection before it) that takes longer is given up. Nothing bounds
/// an established connection: BTCPay waits on `waitanyinvoice` for as long as no invoice is
/// paid.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The three PEM files of one end: the CA the peer's certificate must chain to, and this end's
/// certificate and key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why an end cannot start. No variant carries a file's contents.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("reading {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{} holds no PEM {what}", path.display())]
    Pem { what: &'static str, path: PathBuf },
    #[error("the tunnel's TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the tunnel's CA: {0}")]
    Verifier(String),
    #[error("{0:?} is not a DNS name the server's certificate can carry")]
    ServerName(String),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TunnelError> {
    std::fs::read(path).map_err(|source| TunnelError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TunnelError> {
    let pem = read(what, path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TunnelError::Pem {
            what,
            path: path.to_owned(),
        })?;
    if certs.is_empty() {
        return Err(TunnelError::Pem {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TunnelError> {
    let pem = read("private key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TunnelError::Pem {
        what: "private key",
        path: path.to_owned(),
    })
}

fn roots(files: &TlsFiles) -> Result<RootCertStore, TunnelError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates("CA certificate", &files.ca)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The serve end's TLS: its certificate, and a client certificate from the CA required. Both
/// ends are openlsp, so TLS 1.3 only.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TunnelError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(files)?), provider())
        .build()
        .map_err(|err| TunnelError::Verifier(err.to_string()))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certificates("certificate", &files.cert)?,
            private_key(&files.key)?,
        )?;
    Ok(Arc::new(config))
}

/// The connect end's TLS: the server's certificate must chain to the CA and carry the name
/// dialled; this end shows its client certificate.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TunnelError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(files)?)
        .with_client_auth_cert(
            certificates("certificate", &files.cert)?,
            private_key(&files.key)?,
        )?;
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry.
pub fn server_name(name: &str) -> Result<ServerName<'static>, TunnelError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TunnelError::ServerName(name.to_owned()))
}

/// The serve end: each connection that completes the handshake with a certificate of the CA is
/// joined to `socket`. The socket is opened only then, so an unauthenticated peer never reaches
/// it; a refused one is logged with its address and rustls' reason, which holds no key material.
pub async fn serve(listener: TcpListener, config: Arc<ServerConfig>, socket: PathBuf) {
    let acceptor = TlsAcceptor::from(config);
    let socket = Arc::new(socket);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!("accepting a connection: {err}");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let socket = Arc::clone(&socket);
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => return refused(&peer.to_string(), &err),
                Err(_) => return tracing::warn!("refused {peer}: no TLS handshake within 10s"),
            };
            let mut rpc = match UnixStream::connect(socket.as_path()).await {
                Ok(rpc) => rpc,
                Err(err) => {
                    return tracing::warn!(
                        "{peer} is authenticated, but the RPC socket {} is not reachable: {err}",
                        socket.display()
                    );
                }
            };
            tracing::debug!("{peer}: joined to {}", socket.display());
            let mut tls = tls;
            if let Err(err) = tokio::io::copy_bidirectional(&mut tls, &mut rpc).await {
                tracing::debug!("{peer}: {err}");
            }
        });
    }
}

/// Logs a failed handshake: a peer that closed before sending anything (a TCP probe, a port
/// scan) at debug level, anything else as a warning.
fn refused(peer: &str, err: &io::Error) {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        tracing::debug!("{peer} closed before a TLS handshake");
    } else {
        tracing::warn!("refused {peer}: {err}");
    }
}

/// The connect end: each connection to the unix socket is carried over a new TLS connection to
/// `server` (host:port), whose certificate must carry `name`. A server that fails the check is
/// never sent a byte of the client's, and the client's connection is closed.
pub async fn connect(
    listener: UnixListener,
    config: Arc<ClientConfig>,
    server: String,
    name: ServerName<'static>,
) {
    let connector = TlsConnector::from(config);
    let server = Arc::new(server);
    loop {
        let mut local = match listener.accept().await {
            Ok((local, _)) => local,
            Err(err) => {
                tracing::warn!("accepting a connection: {err}");
                continue;
            }
        };
        let connector = connector.clone();
        let server = Arc::clone(&server);
        let name = name.clone();
        tokio::spawn(async move {
            let dial = async {
                let tcp = TcpStream::connect(server.as_str()).await?;
                connector.connect(name, tcp).await
            };
            let mut tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, dial).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => return tracing::warn!("tunnel to {server}: {err}"),
                Err(_) => return tracing::warn!("tunnel to {server}: no TLS handshake within 10s"),
            };
            if let Err(err) = tokio::io::copy_bidirectional(&mut local, &mut tls).await {
                tracing::debug!("tunnel to {server}: {err}");
            }
        });
    }
}

/// Binds the connect end's unix socket at `path`, readable and writable by this uid only (the
/// BTCPay container runs as the same uid). A socket left by an earlier run of the container is
/// replaced; any other file there is an error.
pub fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// What the kubelet's TCP probes reach: a port that accepts and closes, so a probe never starts
/// a TLS handshake or an RPC connection.
pub async fn health(listener: TcpListener) {
    loop {
        if let Err(err) = listener.accept().await {
            tracing::debug!("health probe: {err}");
        }
    }
}
