//! `openlsp tunnel serve|connect`: what the tunnel containers of a CLN node's pod and BTCPay's
//! pod run (tunnel.rs says why there is a tunnel). Orchestration only: read the certificates,
//! bind, run until SIGTERM.

use anyhow::Context as _;

use super::Outcome;
use crate::cli::{TunnelArgs, TunnelCommand, TunnelConnectArgs, TunnelServeArgs, TunnelTlsArgs};
use crate::tunnel::{self, TlsFiles};
use crate::ui::Ui;

pub async fn run(ui: &Ui, args: &TunnelArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        TunnelCommand::Serve(args) => serve(ui, args).await,
        TunnelCommand::Connect(args) => connect(ui, args).await,
    }
}

fn files(args: &TunnelTlsArgs) -> TlsFiles {
    TlsFiles {
        ca: args.ca.clone(),
        cert: args.cert.clone(),
        key: args.key.clone(),
    }
}

async fn serve(ui: &Ui, args: &TunnelServeArgs) -> anyhow::Result<Outcome> {
    let config = tunnel::server_config(&files(&args.tls)).context(
        "the serve end needs the tunnel's CA certificate and server pair, mounted from Secret <cln>-tunnel (openlsp apply writes it)",
    )?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    health(args.health).await?;
    ui.info(&format!(
        "serving {} to holders of a tunnel client certificate on {}",
        args.socket.display(),
        args.listen
    ));
    let served = tunnel::serve(listener, config, args.socket.clone());
    until_terminated(served).await
}

async fn connect(ui: &Ui, args: &TunnelConnectArgs) -> anyhow::Result<Outcome> {
    let config = tunnel::client_config(&files(&args.tls)).context(
        "the connect end needs the tunnel's CA certificate and client pair, mounted from Secret btcpay-tunnel (openlsp apply writes it)",
    )?;
    let host = args
        .server
        .rsplit_once(':')
        .map_or(args.server.as_str(), |(host, _)| host);
    let name = tunnel::server_name(args.server_name.as_deref().unwrap_or(host))?;
    let listener = tunnel::bind_unix(&args.socket)
        .with_context(|| format!("offering the socket {}", args.socket.display()))?;
    health(args.health).await?;
    ui.info(&format!(
        "carrying connections to {} over TLS to {}",
        args.socket.display(),
        args.server
    ));
    let carried = tunnel::connect(listener, config, args.server.clone(), name);
    until_terminated(carried).await
}

/// Starts the probes' port, if asked for.
async fn health(addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    if let Some(addr) = addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for probes on {addr}"))?;
        tokio::spawn(tunnel::health(listener));
    }
    Ok(())
}

/// Runs `work` until SIGTERM or Ctrl-C: as PID 1 in its container, the process gets no default
/// action for SIGTERM.
async fn until_terminated(work: impl Future<Output = ()>) -> anyhow::Result<Outcome> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("handling SIGTERM")?;
    tokio::select! {
        () = work => Ok(Outcome::Ok),
        _ = term.recv() => Ok(Outcome::Ok),
        _ = tokio::signal::ctrl_c() => Ok(Outcome::Ok),
    }
}
