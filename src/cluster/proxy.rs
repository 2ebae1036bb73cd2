//! Requests to a Service's port through the API server's proxy
//! (`services/https:<name>:<port>/proxy/...`): how `backup restore` reaches LND's REST API with
//! no port opened on this machine and no exec into the pod.

use super::{Cluster, ClusterError};

/// A named port of a Service.
pub struct ServicePort<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
    pub port: &'a str,
}

impl Cluster {
    /// `method path` on `to` over HTTPS, through the API server, with `headers`; the answer's
    /// body, or the error the server or the service gave.
    pub async fn proxy_https(
        &self,
        to: &ServicePort<'_>,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<String, ClusterError> {
        let ServicePort {
            namespace,
            service,
            port,
        } = to;
        let action = format!("{method} {path} on Service {namespace}/{service} port {port}");
        let mut request = http::Request::builder().method(method).uri(format!(
            "/api/v1/namespaces/{namespace}/services/https:{service}:{port}/proxy{path}"
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
