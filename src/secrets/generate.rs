//! The one way a credential is made. First creation (the store's `ensure`) and rotation (the
//! rotation plan's `start`) both call [`generate`], so a rotated password, salt or certificate
//! is made exactly as the first one was.

use super::onion::{OnionKey, OnionKeyError};
use super::requirements::Requirement;
use super::rpcauth;
use super::snapshot::Secrets;
use super::tls::{self, TlsError};

/// Why a value could not be made. No variant has a `source`: each reads as one line, which the
/// store and the rotation plan put after their own words.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{0}")]
    Random(getrandom::Error),
    #[error("{0}")]
    Tls(TlsError),
    /// An onion key whose address the certificate carries is not among the known values.
    #[error("{0} has no value in the state dir; this is a bug in openlsp")]
    NoOnionKey(String),
    #[error("{path}: {reason}")]
    OnionKey { path: String, reason: OnionKeyError },
    /// The operator gives this value; nothing makes it.
    #[error("{0} is given by the operator, never generated; this is a bug in openlsp")]
    Provided(String),
}

/// New values for every file of `requirement`, as (state path, value) in the order of
/// [`Requirement::files`]. A certificate also names the onion addresses of the keys in its
/// `onion_names`, read from `known`: the same names on first creation and on every reissue.
pub fn generate(
    requirement: &Requirement,
    known: &Secrets,
) -> Result<Vec<(String, Vec<u8>)>, GenerateError> {
    Ok(match requirement {
        Requirement::Password { path } => {
            let password = rpcauth::generate_password().map_err(GenerateError::Random)?;
            vec![(path.clone(), password.into_bytes())]
        }
        Requirement::Salt { path } => {
            let salt = rpcauth::generate_salt().map_err(GenerateError::Random)?;
            vec![(path.clone(), salt.into_bytes())]
        }
        Requirement::OnionKey { path } => {
            let key = OnionKey::generate().map_err(GenerateError::Random)?;
            vec![(path.clone(), key.secret_file())]
        }
        Requirement::Words { path } => {
            let words = generate_words().map_err(GenerateError::Random)?;
            vec![(path.clone(), words.into_bytes())]
        }
        Requirement::Provided { path, .. } => return Err(GenerateError::Provided(path.clone())),
        Requirement::Tunnel {
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
            server_names,
            client_name,
        } => {
            let pki =
                tls::generate_tunnel(server_names, client_name).map_err(GenerateError::Tls)?;
            vec![
                (ca.clone(), pki.ca_pem.into_bytes()),
                (server_cert.clone(), pki.server.cert_pem.into_bytes()),
                (server_key.clone(), pki.server.key_pem.into_bytes()),
                (client_cert.clone(), pki.client.cert_pem.into_bytes()),
                (client_key.clone(), pki.client.key_pem.into_bytes()),
            ]
        }
        Requirement::Tls {
            cert,
            key,
            common_name,
            alt_names,
            onion_names,
        } => {
            let mut names = alt_names.clone();
            for path in onion_names {
                let file = known
                    .get(path)
                    .ok_or_else(|| GenerateError::NoOnionKey(path.clone()))?;
                let onion =
                    OnionKey::from_secret_file(file).map_err(|reason| GenerateError::OnionKey {
                        path: path.clone(),
                        reason,
                    })?;
                names.push(onion.address());
            }
            let pair = tls::generate(common_name, &names).map_err(GenerateError::Tls)?;
            vec![
                (cert.clone(), pair.cert_pem.into_bytes()),
                (key.clone(), pair.key_pem.into_bytes()),
            ]
        }
    })
}

/// 12 BIP39 words from 128 bits of the system's randomness.
fn generate_words() -> Result<String, getrandom::Error> {
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy)?;
    let mnemonic = bip39::Mnemonic::from_entropy(&entropy)
        .expect("16 bytes of entropy always make 12 words; this is a bug in openlsp");
    Ok(mnemonic.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::fixtures::alt_names;
    use crate::secrets::value_check::check_stored;

    fn tls(onion_names: Vec<String>) -> Requirement {
        Requirement::Tls {
            cert: "lightning/lnd/tls.cert".into(),
            key: "lightning/lnd/tls.key".into(),
            common_name: "lnd".into(),
            alt_names: vec!["localhost".into(), "lnd.ns.svc".into()],
            onion_names,
        }
    }

    /// Whatever is generated passes the check a stored value of its kind gets when loaded.
    #[test]
    fn every_kind_makes_values_its_check_accepts() {
        let onion = OnionKey::generate().unwrap();
        let mut known = Secrets::default();
        known.insert("tor/lnd-rpc/hs_ed25519_secret_key", onion.secret_file());
        let needed = vec![
            Requirement::Password { path: "pw".into() },
            Requirement::Salt {
                path: "salt".into(),
            },
            Requirement::OnionKey {
                path: "tor/x/hs_ed25519_secret_key".into(),
            },
            Requirement::Words {
                path: "lightning/cln/hsm-words".into(),
            },
            tls(vec!["tor/lnd-rpc/hs_ed25519_secret_key".into()]),
            Requirement::Tunnel {
                ca: "t/ca.crt".into(),
                server_cert: "t/server.crt".into(),
                server_key: "t/server.key".into(),
                client_cert: "t/client.crt".into(),
                client_key: "t/client.key".into(),
                server_names: vec!["cln.ns.svc".into()],
                client_name: "btcpay".into(),
            },
        ];
        for requirement in &needed {
            let values = generate(requirement, &known).unwrap();
            let paths: Vec<&str> = values.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(paths, requirement.files());
            for (path, value) in &values {
                assert_eq!(check_stored(&needed, path, value), Ok(()), "{path}");
            }
        }
        let values = generate(&needed[0], &known).unwrap();
        assert_ne!(
            values,
            generate(&needed[0], &known).unwrap(),
            "fresh each time"
        );
    }

    #[test]
    fn words_are_12_english_bip39_words_with_a_valid_checksum() {
        let words = generate_words().unwrap();
        assert_eq!(words.split(' ').count(), 12, "{words}");
        let parsed = bip39::Mnemonic::parse_in(bip39::Language::English, &words).unwrap();
        assert_eq!(parsed.to_string(), words);
        assert_ne!(words, generate_words().unwrap(), "fresh each time");
    }

    #[test]
    fn a_certificate_names_its_onion_address_and_needs_the_key() {
        let onion = OnionKey::generate().unwrap();
        let mut known = Secrets::default();
        known.insert("tor/lnd-rpc/hs_ed25519_secret_key", onion.secret_file());
        let requirement = tls(vec!["tor/lnd-rpc/hs_ed25519_secret_key".into()]);
        let values = generate(&requirement, &known).unwrap();
        let names = alt_names(&values[0].1);
        for name in ["localhost", "lnd.ns.svc", onion.address().as_str()] {
            assert!(names.contains(name), "{name} missing from {names}");
        }
        assert!(matches!(
            generate(&requirement, &Secrets::default()),
            Err(GenerateError::NoOnionKey(path)) if path == "tor/lnd-rpc/hs_ed25519_secret_key"
        ));
        let mut damaged = Secrets::default();
        damaged.insert("tor/lnd-rpc/hs_ed25519_secret_key", b"short".to_vec());
        assert!(matches!(
            generate(&requirement, &damaged),
            Err(GenerateError::OnionKey { .. })
        ));
    }
}
