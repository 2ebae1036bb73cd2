//! How a secret is shown without its value: a short hash, a certificate's hash and expiry, an
//! onion key's address (which is public). `secrets list` and `secrets seed` show these, so an
//! operator can compare two copies without either being printed.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::catalog::SecretKind;
use super::onion::OnionKey;
use super::tls;
use crate::plan::names;

/// A certificate that expires within this many days is due for renewal.
pub const RENEW_WITHIN_DAYS: i64 = 30;

/// `sha256:` and the first 16 hex digits of the hash of `values`, in order.
pub fn fingerprint<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for value in values {
        hasher.update(value);
    }
    format!("sha256:{}", &hex::encode(hasher.finalize())[..16])
}

/// What identifies a secret the state dir holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A fingerprint, an onion address, or `unreadable`.
    pub print: String,
    /// When a certificate expires.
    pub expires: Option<OffsetDateTime>,
}

/// The identity of a secret of `kind` from its state values (in catalog order): a certificate
/// by the hash of its DER, an onion key by its address, anything else by the hash of its values.
pub fn of_values(kind: SecretKind, values: &[Vec<u8>]) -> Identity {
    let unreadable = || Identity {
        print: "unreadable".to_owned(),
        expires: None,
    };
    let first = values.first().map(Vec::as_slice).unwrap_or_default();
    match kind {
        // The tunnel by its CA, its first value.
        SecretKind::Tls | SecretKind::Tunnel => match tls::read_certificate(first) {
            Ok(cert) => Identity {
                print: fingerprint([cert.der.as_slice()]),
                expires: Some(cert.not_after),
            },
            Err(_) => unreadable(),
        },
        SecretKind::OnionKey => match OnionKey::from_secret_file(first) {
            Ok(key) => Identity {
                print: key.address(),
                expires: None,
            },
            Err(_) => unreadable(),
        },
        _ => Identity {
            print: fingerprint(values.iter().map(Vec::as_slice)),
            expires: None,
        },
    }
}

/// The print of a secret only the cluster holds (the seed, the macaroons, the runes), from its Secret's
/// data (None: the Secret is not there).
pub fn of_cluster_data(kind: SecretKind, data: Option<&BTreeMap<String, Vec<u8>>>) -> String {
    match (kind, data) {
        (SecretKind::Seed, Some(data)) => data.get(names::SEED_KEY).map_or_else(
            || "(not created yet)".to_owned(),
            |seed| fingerprint([seed.as_slice()]),
        ),
        (SecretKind::Macaroons, Some(data)) => {
            let macaroons: Vec<&Vec<u8>> = data
                .iter()
                .filter(|(key, _)| key.ends_with(".macaroon"))
                .map(|(_, value)| value)
                .collect();
            if macaroons.is_empty() {
                "(not published yet)".to_owned()
            } else {
                format!(
                    "{} ({} macaroons)",
                    fingerprint(macaroons.iter().map(|m| m.as_slice())),
                    macaroons.len()
                )
            }
        }
        (SecretKind::Runes, Some(data)) => {
            let runes: Vec<&Vec<u8>> = data
                .iter()
                .filter(|(key, _)| key.ends_with(".rune"))
                .map(|(_, value)| value)
                .collect();
            if runes.is_empty() {
                "(not published yet)".to_owned()
            } else {
                format!(
                    "{} ({} runes)",
                    fingerprint(runes.iter().map(|r| r.as_slice())),
                    runes.len()
                )
            }
        }
        _ => "(not in the cluster)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_a_short_hash_of_the_values_in_order() {
        // sha256("abc")
        assert_eq!(fingerprint([&b"abc"[..]]), "sha256:ba7816bf8f01cfea");
        assert_eq!(fingerprint([&b"a"[..], b"bc"]), fingerprint([&b"abc"[..]]));
        let identity = of_values(SecretKind::RpcCredential, &[b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(identity.print, "sha256:ba7816bf8f01cfea");
        assert_eq!(identity.expires, None);
    }

    #[test]
    fn certificates_and_onion_keys_show_what_is_public() {
        let pair = tls::generate("lnd", &["lnd".to_owned()]).unwrap();
        let cert = tls::read_certificate(pair.cert_pem.as_bytes()).unwrap();
        let identity = of_values(
            SecretKind::Tls,
            &[pair.cert_pem.into_bytes(), pair.key_pem.into_bytes()],
        );
        assert_eq!(identity.print, fingerprint([cert.der.as_slice()]));
        assert_eq!(identity.expires, Some(cert.not_after));
        let key = OnionKey::from_seed(&[3u8; 32]);
        assert_eq!(
            of_values(SecretKind::OnionKey, &[key.secret_file()]).print,
            key.address()
        );
        assert_eq!(
            of_values(SecretKind::Tls, &[b"garbage".to_vec()]),
            Identity {
                print: "unreadable".to_owned(),
                expires: None
            }
        );
        assert_eq!(of_values(SecretKind::OnionKey, &[]).print, "unreadable");
    }

    #[test]
    fn cluster_only_secrets_are_named_by_what_they_hold() {
        let seed = BTreeMap::from([(names::SEED_KEY.to_owned(), b"abc".to_vec())]);
        assert_eq!(
            of_cluster_data(SecretKind::Seed, Some(&seed)),
            "sha256:ba7816bf8f01cfea"
        );
        assert_eq!(
            of_cluster_data(SecretKind::Seed, Some(&BTreeMap::new())),
            "(not created yet)"
        );
        let published = BTreeMap::from([
            ("admin.macaroon".to_owned(), b"a".to_vec()),
            ("readonly.macaroon".to_owned(), b"bc".to_vec()),
            ("tls.cert".to_owned(), b"cert".to_vec()),
        ]);
        assert_eq!(
            of_cluster_data(SecretKind::Macaroons, Some(&published)),
            "sha256:ba7816bf8f01cfea (2 macaroons)"
        );
        let runes = BTreeMap::from([
            ("admin.rune".to_owned(), b"a".to_vec()),
            ("ca.pem".to_owned(), b"cert".to_vec()),
            ("readonly.rune".to_owned(), b"bc".to_vec()),
        ]);
        assert_eq!(
            of_cluster_data(SecretKind::Runes, Some(&runes)),
            "sha256:ba7816bf8f01cfea (2 runes)"
        );
        assert_eq!(
            of_cluster_data(SecretKind::Runes, Some(&BTreeMap::new())),
            "(not published yet)"
        );
        assert_eq!(
            of_cluster_data(SecretKind::Macaroons, Some(&BTreeMap::new())),
            "(not published yet)"
        );
        assert_eq!(
            of_cluster_data(SecretKind::Seed, None),
            "(not in the cluster)"
        );
    }
}
