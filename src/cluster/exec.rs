//! A command run in a pod's container (the API server's `exec`, over a WebSocket), as
//! `kubectl exec` runs it: how `bootstrap --utxo-snapshot` asks bitcoind through `bitcoin-cli`
//! in its own container, which reads the RPC cookie there, so no credential leaves the pod.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::AsyncReadExt as _;

use super::{Cluster, ClusterError};

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub stdout: String,
    pub stderr: String,
    /// 0 on success; the exit code the API server reports otherwise (-1 when it gave none).
    pub code: i32,
}

impl Cluster {
    /// Runs `command` in `container` of pod `namespace/pod` and waits for it to end, however
    /// long it takes: only the connection's own loss ends the wait early.
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: &[&str],
    ) -> Result<Executed, ClusterError> {
        let action = format!("run {} in pod {namespace}/{pod}", command[0]);
        let api: Api<Pod> = Api::namespaced(self.streams()?, namespace);
        let params = AttachParams::default()
            .container(container)
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let mut process = api
            .exec(pod, command.iter().copied(), &params)
            .await
            .map_err(|err| self.api_error(action.clone(), err))?;
        let status = process.take_status();
        let (mut out, mut err) = (process.stdout(), process.stderr());
        let read = |stream: Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>| async move {
            let mut text = String::new();
            if let Some(mut stream) = stream {
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes).await;
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        };
        let (stdout, stderr) = tokio::join!(read(out.take()), read(err.take()));
        let status = match status {
            Some(status) => status.await,
            None => None,
        };
        process
            .join()
            .await
            .map_err(|err| ClusterError::ConnectionLost {
                server: self.server.clone(),
                action: action.clone(),
                reason: err.to_string(),
            })?;
        let code = match status {
            Some(status) if status.status.as_deref() == Some("Success") => 0,
            Some(status) => status
                .details
                .and_then(|details| details.causes)
                .unwrap_or_default()
                .iter()
                .find(|cause| cause.reason.as_deref() == Some("ExitCode"))
                .and_then(|cause| cause.message.as_deref()?.parse().ok())
                .unwrap_or(-1),
            None => -1,
        };
        Ok(Executed {
            stdout,
            stderr,
            code,
        })
    }
}
