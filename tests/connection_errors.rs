//! Connection errors that need no API server: a URL that answers with a web page or an empty
//! 404 (a tiny HTTP server on loopback, in the test), and a kubeconfig user whose token file,
//! exec plugin or client certificate is missing. Each is one line and a next step, exit 2, with
//! no page dumped and the missing file named. (A server lost mid-run: tests/e2e/faults.rs.)

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use crate::common::Test;

/// Serves `status` (`404 Not Found`) with `body` to every request on a loopback port, for at
/// most 50 connections; returns the server's URL.
fn serve((status, body): (&str, &str)) -> String {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

/// A kubeconfig for `server` whose user entry is `user` (YAML, indented for `user:`).
fn kubeconfig(server: &str, user: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{ server: \"{server}\" }}
users:
- name: u
  user:
{user}
contexts:
- name: x
  context: {{ cluster: c, user: u }}
current-context: x
"
    )
}

fn diff(test: &Test, kubeconfig: &str) -> String {
    let output = test
        .run(["diff", "-p", "pi4-mainnet.yaml", "--kubeconfig", kubeconfig])
        .expect(2);
    assert!(
        !test.state_dir("home-pi").exists(),
        "no state before the cluster answers"
    );
    output.stderr
}

const PAGE: (&str, &str) = (
    "200 OK",
    "<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>\n",
);
const EMPTY_404: (&str, &str) = ("404 Not Found", "");
const HTML_502: (&str, &str) = (
    "502 Bad Gateway",
    "<html><head><title>502 Bad Gateway</title></head></html>\n",
);

#[test]
fn a_server_that_is_not_kubernetes_is_named_so_without_its_page() {
    let test = Test::new().with_example("pi4-mainnet");
    let mut transcript = Vec::new();
    for (label, response) in [
        ("a web page (200)", PAGE),
        ("404, empty body", EMPTY_404),
        ("502, an HTML error page", HTML_502),
    ] {
        let server = serve(response);
        test.write("k", &kubeconfig(&server, "    token: abc"));
        let stderr = diff(&test, "k");
        assert!(
            stderr.starts_with(&format!(
                "error: {server} is not a Kubernetes API server: GET /version answered "
            )),
            "{label}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 2, "{label}: {stderr}");
        assert!(
            !stderr.contains("<h1>") && !stderr.contains("<title>"),
            "{stderr}"
        );
        assert!(!stderr.contains(": \n"), "nothing after a colon: {stderr}");
        transcript.push((label, stderr.replace(&server, "http://127.0.0.1:[port]")));
    }
    let parts: Vec<(&str, &str)> = transcript.iter().map(|(l, t)| (*l, t.as_str())).collect();
    assert_output_snapshot!("not_kubernetes", crate::common::transcript(&parts), &test);
}

#[test]
fn a_missing_credential_file_or_plugin_is_named_not_the_server() {
    let test = Test::new().with_example("pi4-mainnet");
    let server = serve(PAGE);
    let dir = test.path().display().to_string();
    let mut transcript = Vec::new();
    for (label, user, named) in [
        (
            "token file",
            format!("    tokenFile: {dir}/no-such-token"),
            format!("the token file {dir}/no-such-token"),
        ),
        (
            "relative client certificate",
            "    client-certificate: certs/missing.crt\n    client-key: certs/missing.key"
                .to_owned(),
            format!("the client certificate {dir}/certs/missing.crt"),
        ),
        (
            "exec plugin on PATH",
            "    exec: { apiVersion: client.authentication.k8s.io/v1beta1, command: openlsp-test-no-such-plugin }"
                .to_owned(),
            "the exec plugin openlsp-test-no-such-plugin".to_owned(),
        ),
        (
            "exec plugin by path",
            format!("    exec: {{ apiVersion: client.authentication.k8s.io/v1beta1, command: {dir}/bin/auth }}"),
            format!("the exec plugin {dir}/bin/auth"),
        ),
    ] {
        test.write("k", &kubeconfig(&server, &user));
        let stderr = diff(&test, &format!("{dir}/k"));
        assert!(
            stderr.starts_with(&format!("error: cannot use {named}, which the kubeconfig's user entry names: ")),
            "{label}: {stderr}"
        );
        assert!(!stderr.contains(&server), "{label}: names the server: {stderr}");
        assert_eq!(stderr.lines().count(), 2, "{label}: {stderr}");
        transcript.push((label, stderr));
    }
    let parts: Vec<(&str, &str)> = transcript.iter().map(|(l, t)| (*l, t.as_str())).collect();
    assert_output_snapshot!(
        "missing_credential_files",
        crate::common::transcript(&parts),
        &test
    );
}

/// `KUBECONFIG` lists files; kubectl skips one that does not exist, and so does openlsp. (With
/// the real API server: tests/e2e/connection.rs.) When none exists, the list is named.
#[test]
fn kubeconfig_skips_a_missing_entry_and_names_the_list_when_all_are_missing() {
    let test = Test::new().with_example("pi4-mainnet");
    let server = serve(PAGE);
    let good = test.write("good", &kubeconfig(&server, "    token: abc"));
    let missing = test.path().join("missing");
    let list = format!("{}:{}", missing.display(), good.display());
    let test = test.env("KUBECONFIG", &list);
    let output = test.run(["diff", "-p", "pi4-mainnet.yaml"]).expect(2);
    assert!(
        output.stderr.contains("is not a Kubernetes API server"),
        "the second entry was used: {}",
        output.stderr
    );
    let test = test.env(
        "KUBECONFIG",
        format!("{}:{}", missing.display(), missing.display()),
    );
    let output = test.run(["diff", "-p", "pi4-mainnet.yaml"]).expect(2);
    assert!(
        output.stderr.starts_with(
            "error: cannot use the kubeconfig: $KUBECONFIG names no file that exists: "
        ),
        "{}",
        output.stderr
    );
}
