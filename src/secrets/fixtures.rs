//! Values the unit tests of secrets/ share: catalog entries, cluster Secrets and what a
//! certificate names.

use super::catalog::{Entry, SecretKind, Source};
use super::credential_check::LiveSecret;
use super::requirements::Requirement;

pub fn password(path: &str) -> Requirement {
    Requirement::Password {
        path: path.to_owned(),
    }
}

/// LND's wallet password, in Secret `lnd-wallet`.
pub fn wallet_entry() -> Entry {
    Entry {
        secret: "lnd-wallet".into(),
        kind: SecretKind::WalletPassword,
        node: "lnd".into(),
        values: vec![(
            "lightning/lnd/wallet-password".into(),
            Source::Key {
                secret: "lnd-wallet".into(),
                key: "password",
            },
        )],
        derived: vec![],
    }
}

/// LND's credential for bitcoind `b`: the password in `lnd-b-rpc`, the salt in the rpcauth
/// line of `b-rpcauth`.
pub fn rpc_entry() -> Entry {
    let password = "bitcoin/b/rpc/lnd/password".to_owned();
    Entry {
        secret: "lnd-b-rpc".into(),
        kind: SecretKind::RpcCredential,
        node: "lnd".into(),
        values: vec![
            (
                password.clone(),
                Source::Key {
                    secret: "lnd-b-rpc".into(),
                    key: "password",
                },
            ),
            (
                "bitcoin/b/rpc/lnd/salt".into(),
                Source::RpcauthSalt {
                    secret: "b-rpcauth".into(),
                    user: "lnd".into(),
                    password,
                },
            ),
        ],
        derived: vec!["b-rpcauth".into()],
    }
}

/// A Secret as the cluster has it.
pub fn live(pairs: &[(&str, &[u8])], generation: u64) -> LiveSecret {
    LiveSecret {
        data: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect(),
        generation,
    }
}

/// The subject alternative names of a PEM certificate, as one string to search.
pub fn alt_names(cert_pem: &[u8]) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    format!(
        "{:?}",
        cert.subject_alternative_name().unwrap().unwrap().value
    )
}
