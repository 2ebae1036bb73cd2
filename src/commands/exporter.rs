//! `openlsp exporter cln`: what each CLN node's exporter pod runs. It serves GET /metrics and,
//! at most once per `--refresh`, asks the node over CLNRest (cln_rest.rs) and turns the answers
//! into metrics (cln_metrics.rs). A failed refresh is `cln_up 0` and its reason on stderr: the
//! exporter keeps serving, so Prometheus sees the node down rather than the exporter gone.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

use super::Outcome;
use crate::cli::{ClnExporterArgs, ExporterArgs, ExporterCommand};
use crate::cln_metrics::{self, METHODS, Snapshot};
use crate::cln_rest::ClnRest;
use crate::ui::Ui;

/// The text format's content type (version 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A whole refresh gives up after this long, inside Prometheus' default 10 s scrape timeout and
/// the readiness probe's 15 s: a node that accepts connections but never answers is `cln_up 0`,
/// not a failed scrape.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(8);

pub async fn run(ui: &Ui, args: &ExporterArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        ExporterCommand::Cln(args) => cln(ui, args).await,
    }
}

/// The last refresh: when, and the exposition it gave.
struct Cache {
    at: Option<Instant>,
    text: Arc<String>,
}

struct Exporter {
    args: ClnExporterArgs,
    cache: Mutex<Cache>,
}

async fn cln(ui: &Ui, args: &ClnExporterArgs) -> anyhow::Result<Outcome> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    ui.info(&format!(
        "serving CLN metrics of {} on http://{}/metrics",
        args.rest_url, args.listen
    ));
    let exporter = Arc::new(Exporter {
        args: args.clone(),
        cache: Mutex::new(Cache {
            at: None,
            text: Arc::new(String::new()),
        }),
    });
    // As PID 1 in its container, the process gets no default action for SIGTERM.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("handling SIGTERM")?;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!("accepting a connection: {err}");
                    continue;
                }
            },
            _ = term.recv() => return Ok(Outcome::Ok),
            _ = tokio::signal::ctrl_c() => return Ok(Outcome::Ok),
        };
        let exporter = Arc::clone(&exporter);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let exporter = Arc::clone(&exporter);
                async move { Ok::<_, Infallible>(exporter.answer(&request).await) }
            });
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("serving a scrape: {err}");
            }
        });
    }
}

impl Exporter {
    async fn answer<B>(&self, request: &http::Request<B>) -> http::Response<Full<Bytes>> {
        let response = http::Response::builder();
        if request.uri().path() != "/metrics" {
            return response
                .status(http::StatusCode::NOT_FOUND)
                .body(Full::new(Bytes::from_static(b"metrics are at /metrics\n")))
                .unwrap_or_default();
        }
        if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
            return response
                .status(http::StatusCode::METHOD_NOT_ALLOWED)
                .body(Full::default())
                .unwrap_or_default();
        }
        let text = self.metrics().await;
        response
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(Full::new(Bytes::from(text.as_bytes().to_vec())))
            .unwrap_or_default()
    }

    /// The cached exposition, refreshed first when it is older than `--refresh`. Scrapes that
    /// come during a refresh wait for it rather than start their own.
    async fn metrics(&self) -> Arc<String> {
        let mut cache = self.cache.lock().await;
        if cache.at.is_some_and(|at| at.elapsed() < self.args.refresh) {
            return Arc::clone(&cache.text);
        }
        let refreshed = tokio::time::timeout(REFRESH_TIMEOUT, self.refresh())
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "no complete answer within {}s",
                    REFRESH_TIMEOUT.as_secs()
                ))
            });
        let snapshot = match refreshed {
            Ok(snapshot) => Some(snapshot),
            Err(err) => {
                tracing::warn!("CLN refresh failed, cln_up is 0: {err:#}");
                None
            }
        };
        cache.text = Arc::new(cln_metrics::exposition(snapshot.as_ref()));
        cache.at = Some(Instant::now());
        Arc::clone(&cache.text)
    }

    /// Reads the rune and CA (the publish sidecar may fill or renew them at any time) and asks
    /// the node.
    async fn refresh(&self) -> anyhow::Result<Snapshot> {
        let args = &self.args;
        // Two small files on a memory-backed volume: no need for a blocking-task hop.
        let rune = std::fs::read_to_string(&args.rune_file)
            .with_context(|| format!("reading the rune from {}", args.rune_file.display()))?;
        let ca = std::fs::read(&args.ca_file)
            .with_context(|| format!("reading the CA from {}", args.ca_file.display()))?;
        let client = ClnRest::new(&args.rest_url, &rune, &ca)?;
        let mut answers: [Vec<u8>; 4] = Default::default();
        for (answer, method) in answers.iter_mut().zip(METHODS) {
            *answer = client.call(method).await?;
        }
        Ok(Snapshot::decode(&answers)?)
    }
}
