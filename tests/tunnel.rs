//! `openlsp tunnel`, the real binary at both ends, on loopback, with the certificates openlsp
//! renders for profiles/cln-shop.yaml. A plain byte server on a unix socket stands in for
//! lightningd's `lightning-rpc` (the tunnel never reads what it carries, so nothing here pretends
//! to be lightningd). Bytes flow both ways through connect → serve, also after the client closes
//! its sending half; a client without a certificate, or with one of another CA, gets nothing and
//! reaches nothing; a server whose certificate is of another CA or for another name is refused;
//! with lightningd down, an authenticated client's connection is closed and the reason logged;
//! no key appears in any output.

use std::io::{Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Daemon, Test, find, free_port, render, secret_value, wait_for};

/// The service name the server certificate carries for profiles/cln-shop.yaml.
const SERVER_NAME: &str = "cln.cln-shop.svc";

/// One end's files, written into the test's directory.
struct End {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// The key's PEM, which must appear in no output.
    key_pem: String,
}

/// Both ends of one rendered site: (server end, client end).
fn rendered_ends(test: &Test, tag: &str) -> (End, End) {
    let site = Test::new().with_example("cln-shop");
    let (docs, _) = render(&site, "cln-shop.yaml");
    let end = |secret: &str, side: &str| {
        let value = |key: &str| secret_value(&docs, secret, key);
        let key_pem = value("tls.key");
        End {
            ca: test.write(&format!("{tag}/{side}/ca.crt"), &value("ca.crt")),
            cert: test.write(&format!("{tag}/{side}/tls.crt"), &value("tls.crt")),
            key: test.write(&format!("{tag}/{side}/tls.key"), &key_pem),
            key_pem,
        }
    };
    (end("cln-tunnel", "server"), end("btcpay-tunnel", "client"))
}

/// The stand-in for lightningd's socket: answers each chunk it reads with `echo:` and the chunk,
/// and records every connection and byte that reaches it.
struct ByteServer {
    path: PathBuf,
    connections: Arc<Mutex<usize>>,
    received: Arc<Mutex<Vec<u8>>>,
}

fn start_byte_server(test: &Test) -> ByteServer {
    let path = test.path().join("lightning-rpc");
    let listener = UnixListener::bind(&path).unwrap();
    let connections = Arc::new(Mutex::new(0));
    let received = Arc::new(Mutex::new(Vec::new()));
    let (count, bytes) = (Arc::clone(&connections), Arc::clone(&received));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            *count.lock().unwrap() += 1;
            let bytes = Arc::clone(&bytes);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 65536];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    bytes.lock().unwrap().extend_from_slice(&buffer[..n]);
                    let mut answer = b"echo:".to_vec();
                    answer.extend_from_slice(&buffer[..n]);
                    if stream.write_all(&answer).is_err() {
                        break;
                    }
                }
            });
        }
    });
    ByteServer {
        path,
        connections,
        received,
    }
}

/// An end that trusts `ca`'s CA and shows `pair`'s certificate and key.
fn trusting(ca: &End, pair: &End) -> End {
    End {
        ca: ca.ca.clone(),
        cert: pair.cert.clone(),
        key: pair.key.clone(),
        key_pem: pair.key_pem.clone(),
    }
}

fn tls_args(end: &End) -> Vec<String> {
    vec![
        format!("--ca={}", end.ca.display()),
        format!("--cert={}", end.cert.display()),
        format!("--key={}", end.key.display()),
    ]
}

fn serve(test: &Test, end: &End, socket: &Path) -> (Daemon, u16) {
    let port = free_port();
    let mut args = vec![
        "tunnel".to_owned(),
        "serve".to_owned(),
        format!("--listen=127.0.0.1:{port}"),
        format!("--socket={}", socket.display()),
    ];
    args.extend(tls_args(end));
    let daemon = Daemon(test.spawn(args));
    wait_for("the serve end's port", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .map(|_| ())
            .map_err(|err| err.to_string())
    });
    (daemon, port)
}

/// The connect end, offering `name` in the test's directory, dialling `port` and checking
/// `server_name`.
fn connect(test: &Test, end: &End, port: u16, server_name: &str, name: &str) -> (Daemon, PathBuf) {
    let socket = test.path().join(name);
    let health = free_port();
    let mut args = vec![
        "tunnel".to_owned(),
        "connect".to_owned(),
        format!("--socket={}", socket.display()),
        format!("--server=127.0.0.1:{port}"),
        format!("--server-name={server_name}"),
        format!("--health=127.0.0.1:{health}"),
    ];
    args.extend(tls_args(end));
    let daemon = Daemon(test.spawn(args));
    wait_for("the connect end's socket", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", health)).map_err(|err| err.to_string())?;
        // Bound before the health port opens; connecting would open a tunnel connection.
        if socket.exists() {
            Ok(())
        } else {
            Err("no socket yet".to_owned())
        }
    });
    (daemon, socket)
}

/// Sends `message` through the socket and reads until the peer closes or 3 s pass.
fn exchange(socket: &Path, message: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream.write_all(message).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 65536];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if answer.len() >= message.len() + 5 {
            break;
        }
    }
    answer
}

/// The base64 body of a PEM key, line by line: none of it may be printed.
fn assert_no_key(log: &str, keys: &[&str]) {
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    for key in keys {
        for line in key.lines().filter(|line| !line.starts_with("-----")) {
            assert!(!log.contains(line), "a key line is in the output:\n{log}");
        }
    }
}

#[test]
fn bytes_flow_both_ways_and_only_the_tunnels_certificates_pass() {
    let test = Test::new();
    let (server, client) = rendered_ends(&test, "site");
    let (other_server, other_client) = rendered_ends(&test, "other");
    let keys = [
        server.key_pem.as_str(),
        client.key_pem.as_str(),
        other_server.key_pem.as_str(),
        other_client.key_pem.as_str(),
    ];
    let rpc = start_byte_server(&test);
    let (serve_end, port) = serve(&test, &server, &rpc.path);

    // Through connect → serve to the socket and back, small and large.
    let (good, socket) = connect(&test, &client, port, SERVER_NAME, "good.sock");
    assert_eq!(exchange(&socket, b"getinfo"), b"echo:getinfo");
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let answer = exchange(&socket, &large);
    assert!(
        answer.starts_with(b"echo:"),
        "{:?}",
        &answer[..answer.len().min(16)]
    );
    assert!(rpc.received.lock().unwrap().ends_with(&large));
    // A client that closes its sending half still gets the whole answer, then the end.
    let mut half = UnixStream::connect(&socket).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    half.write_all(b"listfunds").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    half.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"echo:listfunds");
    let reached = *rpc.connections.lock().unwrap();
    assert_eq!(reached, 3);

    // A client certificate of another CA: the serve end refuses it; the socket sees nothing.
    let mixed = trusting(&client, &other_client);
    let (foreign, foreign_socket) = connect(&test, &mixed, port, SERVER_NAME, "foreign.sock");
    assert_eq!(exchange(&foreign_socket, b"stop"), b"");

    // No client certificate at all.
    assert!(no_certificate_client(port, &client.ca).is_err());

    // A server certificate of another CA, or for another name: the connect end refuses it.
    let mixed = trusting(&other_client, &client);
    let (wrong_ca, wrong_ca_socket) = connect(&test, &mixed, port, SERVER_NAME, "wrong-ca.sock");
    assert_eq!(exchange(&wrong_ca_socket, b"stop"), b"");
    let (wrong_name, wrong_name_socket) =
        connect(&test, &client, port, "lnd.cln-shop.svc", "wrong-name.sock");
    assert_eq!(exchange(&wrong_name_socket, b"stop"), b"");

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        *rpc.connections.lock().unwrap(),
        reached,
        "a refused peer reached the socket"
    );
    assert!(
        !rpc.received
            .lock()
            .unwrap()
            .windows(4)
            .any(|w| w == b"stop")
    );

    // lightningd down (no socket): the authenticated connection is closed, and the log says why.
    let (down, down_port) = serve(&test, &server, &test.path().join("no-such-rpc"));
    let (down_client, down_socket) = connect(&test, &client, down_port, SERVER_NAME, "down.sock");
    assert_eq!(exchange(&down_socket, b"getinfo"), b"");
    let down_log = down.terminate("the serve end");
    assert!(down_log.contains("is not reachable"), "{down_log}");

    let serve_log = serve_end.terminate("the serve end");
    assert!(serve_log.contains("refused 127.0.0.1:"), "{serve_log}");
    let wrong_ca_log = wrong_ca.terminate("a connect end");
    assert!(
        wrong_ca_log.contains("invalid peer certificate"),
        "{wrong_ca_log}"
    );
    let wrong_name_log = wrong_name.terminate("a connect end");
    assert!(
        wrong_name_log.contains("invalid peer certificate"),
        "{wrong_name_log}"
    );
    for log in [
        serve_log,
        wrong_ca_log,
        wrong_name_log,
        down_log,
        down_client.terminate("a connect end"),
        good.terminate("a connect end"),
        foreign.terminate("a connect end"),
    ] {
        assert_no_key(&log, &keys);
    }
}

/// A TLS client that trusts the tunnel's CA but shows no certificate: the handshake or the
/// first read fails, and no byte comes back.
fn no_certificate_client(port: u16, ca: &Path) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(SERVER_NAME).unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"stop").map_err(|err| err.to_string())?;
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) if answer.is_empty() => Err("closed with nothing".to_owned()),
        Ok(_) => Ok(answer),
        Err(err) => Err(err.to_string()),
    }
}

/// The container named `name` of workload `kind/workload`.
fn container<'a>(docs: &'a [Value], kind: &str, workload: &str, name: &str) -> &'a Value {
    find(docs, kind, workload)["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{workload} has no container {name}"))
}

/// Both ends as rendered: non-root, read-only root, no capabilities, probed and sized; their
/// keys only as Secret files; BTCPay's connection string names the local socket and nothing
/// else; the node's Service carries the tunnel port.
#[test]
fn both_ends_render_as_locked_down_sidecars_with_files_from_secrets() {
    let site = Test::new().with_example("cln-shop");
    let (docs, _) = render(&site, "cln-shop.yaml");
    let settings = secret_value(&docs, "btcpay-settings", "settings.config");
    let lightning: Vec<&str> = settings
        .lines()
        .filter(|line| line.starts_with("btc.lightning="))
        .collect();
    assert_eq!(
        lightning,
        ["btc.lightning=type=clightning;server=unix:///run/cln-tunnel/lightning-rpc"]
    );
    for (kind, workload, name, secret) in [
        ("StatefulSet", "cln", "tunnel", "cln-tunnel"),
        ("StatefulSet", "btcpay", "cln-tunnel", "btcpay-tunnel"),
    ] {
        let c = container(&docs, kind, workload, name);
        let security = &c["securityContext"];
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(security["capabilities"]["drop"][0], "ALL", "{name}");
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            assert_eq!(
                c[probe]["tcpSocket"]["port"], "tunnel-health",
                "{name} {probe}"
            );
        }
        assert!(c["resources"]["limits"]["memory"].is_string(), "{name}");
        let args = c["args"].to_string();
        assert!(args.contains("--key=/etc/cln-tunnel/tls.key"), "{args}");
        let volumes = find(&docs, kind, workload)["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        assert!(
            volumes
                .iter()
                .any(|v| v["secret"]["secretName"] == secret && v["secret"]["defaultMode"] == 288),
            "{workload} mounts {secret}"
        );
        // The private key is a file of the Secret: in no argument or variable of any container.
        let key = secret_value(&docs, secret, "tls.key");
        let line = key.lines().nth(1).unwrap();
        for doc in docs.iter().filter(|d| d["kind"] != "Secret") {
            assert!(
                !doc.to_string().contains(line),
                "{secret}'s key outside its Secret"
            );
        }
    }
    let mounts = &container(&docs, "StatefulSet", "cln", "tunnel")["volumeMounts"];
    assert!(
        mounts
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "data" && m["mountPath"] == "/data" && m["readOnly"] == true),
        "{mounts}"
    );
    let ports = find(&docs, "Service", "cln")["spec"]["ports"].to_string();
    assert!(ports.contains(r#""name":"tunnel","port":9737"#), "{ports}");
}

/// A site whose BTCPay uses LND, or whose CLN no BTCPay uses, renders no tunnel.
#[test]
fn no_tunnel_without_a_store_on_core_lightning() {
    for example in ["shop", "cln-and-lnd"] {
        let site = Test::new().with_example(example);
        let (docs, _) = render(&site, &format!("{example}.yaml"));
        let text = serde_json::to_string(&docs).unwrap();
        assert!(!text.contains("tunnel"), "{example} renders a tunnel");
    }
}
