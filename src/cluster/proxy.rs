//! Requests to a Service's port through the API server's proxy
//! (`services/<scheme>:<name>:<port>/proxy/...`): how `backup restore` reaches LND's REST API
//! and `status` the monitoring addon's Prometheus, with no port opened on this machine and no
//! exec into a pod.

use super::{Cluster, ClusterError};

/// A named port of a Service, and the scheme it speaks.
pub struct ServicePort<'a> {
    /// `https` or `http`.
    pub scheme: &'a str,
    pub namespace: &'a str,
    pub service: &'a str,
    pub port: &'a str,
}

impl Cluster {
    /// `method path` on `to`, through the API server, with `headers`; the answer's body, or
    /// the error the server or the service gave.
    pub async fn proxy(
        &self,
        to: &ServicePort<'_>,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<String, ClusterError> {
        let ServicePort {
            scheme,
            namespace,
            service,
            port,
        } = to;
        let action = format!("{method} {path} on Service {namespace}/{service} port {port}");
        let mut request = http::Request::builder().method(method).uri(format!(
            "/api/v1/namespaces/{namespace}/services/{scheme}:{service}:{port}/proxy{path}"
        ));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(body.unwrap_or_default())
            .map_err(|err| ClusterError::Api {
                action: action.clone(),
                code: 0,
                message: err.to_string(),
            })?;
        match self.client().request_text(request).await {
            Ok(text) => Ok(text),
            Err(kube::Error::Api(status)) => Err(ClusterError::Api {
                action,
                code: status.code,
                message: status.message.clone(),
            }),
            Err(err) => Err(self.api_error(action, err)),
        }
    }
}
