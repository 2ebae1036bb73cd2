//! LND's generated certificate: ECDSA P-256, the service's DNS names, LND's validity.

use std::fs;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::*;

use crate::common::Test;

#[test]
fn lnd_certificate_has_p256_key_and_every_service_name() {
    let test = Test::new().with_example("lsp-two-nodes");
    test.run(["render", "-p", "lsp-two-nodes.yaml"]).expect(0);
    let pem_text = fs::read(test.state_dir("lsp").join("lightning/lnd-routing/tls.cert")).unwrap();
    let (_, pem) = parse_x509_pem(&pem_text).unwrap();
    let cert = pem.parse_x509().unwrap();

    let key = cert.public_key();
    assert_eq!(
        key.algorithm.algorithm,
        oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
    );
    let curve = key.algorithm.parameters.as_ref().unwrap().as_oid().unwrap();
    assert_eq!(curve, oid_registry::OID_EC_P256);

    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
    {
        match name {
            GeneralName::DNSName(n) => dns.push((*n).to_owned()),
            GeneralName::IPAddress(bytes) => ips.push(bytes.len()),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    assert_eq!(
        dns,
        [
            "localhost",
            "lnd-routing",
            "lnd-routing.lsp",
            "lnd-routing.lsp.svc",
            "lnd-routing.lsp.svc.cluster.local",
            "routing.lsp.example.com",
        ]
    );
    assert_eq!(ips, [4, 16], "127.0.0.1 and ::1");

    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
    assert_eq!(days, 420, "14 months, as LND's own certificates");
    assert!(validity.is_valid(), "valid now");
    assert!(cert.is_ca());
    let usage = cert.key_usage().unwrap().unwrap().value;
    assert!(usage.digital_signature() && usage.key_cert_sign());
    assert!(
        cert.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );

    let key_pem =
        fs::read_to_string(test.state_dir("lsp").join("lightning/lnd-routing/tls.key")).unwrap();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn each_lnd_gets_its_own_key() {
    let test = Test::new().with_example("lsp-two-nodes");
    test.run(["render", "-p", "lsp-two-nodes.yaml"]).expect(0);
    let state = test.state_dir("lsp");
    let a = fs::read(state.join("lightning/lnd-routing/tls.key")).unwrap();
    let b = fs::read(state.join("lightning/lnd-customers/tls.key")).unwrap();
    assert_ne!(a, b);
}
