//! What rotating a secret changes in the state dir, computed before anything is written so
//! the plan can be shown first. RPC credentials rotate in two phases: phase 1 keeps the
//! previous password beside the new one (bitcoind accepts both), phase 2 drops it once every
//! client runs with the new one. Certificates are reissued with the same names and a new key.

use super::catalog::{Entry, SecretKind};
use super::generate::{GenerateError, generate};
use super::requirements::{Requirement, paths};
use super::snapshot::{Secrets, StateChange};

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("{0} cannot be rotated: {1}")]
    NotRotatable(String, &'static str),
    #[error(
        "{0} is already being rotated\n  hint: finish that rotation first: openlsp secrets rotate --finish"
    )]
    Pending(String),
    #[error("cannot generate the new value: {0}")]
    Generate(GenerateError),
    #[error("{0} has no value in the state dir; this is a bug in openlsp")]
    Missing(String),
}

/// Whether phase 1 of an RPC credential rotation waits for `--finish`.
pub fn is_pending(entry: &Entry, secrets: &Secrets) -> bool {
    entry.kind == SecretKind::RpcCredential
        && entry
            .values
            .iter()
            .any(|(path, _)| secrets.get(&paths::previous(path)).is_some())
}

fn value<'a>(secrets: &'a Secrets, path: &str) -> Result<&'a [u8], RotationError> {
    secrets
        .get(path)
        .ok_or_else(|| RotationError::Missing(path.to_owned()))
}

/// Why `entry` cannot be rotated, if it cannot: a wallet password, seed, macaroon or onion key
/// cannot be swapped underneath the node.
fn check_rotatable(entry: &Entry) -> Result<(), RotationError> {
    let why = match entry.kind {
        SecretKind::RpcCredential | SecretKind::Tls => return Ok(()),
        SecretKind::WalletPassword => {
            "the wallet is encrypted with it; change it with lncli changepassword"
        }
        SecretKind::Seed => "the seed is the wallet; move funds to a new node instead",
        SecretKind::Macaroons => "LND issues them; bake or revoke macaroons with lncli",
        SecretKind::OnionKey => {
            "the onion address is derived from the key: a new key is an address peers and wallets do not know"
        }
    };
    Err(RotationError::NotRotatable(entry.secret.clone(), why))
}

/// The requirements that make `entry`'s values, each once, in the order of its values.
fn requirements_of<'a>(
    entry: &Entry,
    requirements: &'a [Requirement],
) -> Result<Vec<&'a Requirement>, RotationError> {
    let mut found: Vec<&Requirement> = Vec::new();
    for (path, _) in &entry.values {
        let requirement = requirements
            .iter()
            .find(|r| r.files().contains(&path.as_str()))
            .ok_or_else(|| RotationError::Missing(path.clone()))?;
        if !found.contains(&requirement) {
            found.push(requirement);
        }
    }
    Ok(found)
}

/// The changes of phase 1 (RPC credentials) or of the whole rotation (certificates). New values
/// are made by [`generate`], as on first creation: a certificate keeps its names, the onion
/// address of the node's API included.
pub fn start(
    entry: &Entry,
    secrets: &Secrets,
    requirements: &[Requirement],
) -> Result<Vec<StateChange>, RotationError> {
    check_rotatable(entry)?;
    if is_pending(entry, secrets) {
        return Err(RotationError::Pending(entry.secret.clone()));
    }
    let mut changes = vec![next_generation(entry, secrets)];
    if entry.kind == SecretKind::RpcCredential {
        // Phase 1: bitcoind accepts the previous credential beside the new one.
        for (path, _) in &entry.values {
            changes.push(StateChange::Write {
                path: paths::previous(path),
                value: value(secrets, path)?.to_vec(),
            });
        }
    }
    for requirement in requirements_of(entry, requirements)? {
        let values = generate(requirement, secrets).map_err(|err| match err {
            GenerateError::NoOnionKey(path) => RotationError::Missing(path),
            other => RotationError::Generate(other),
        })?;
        changes.extend(
            values
                .into_iter()
                .map(|(path, value)| StateChange::Write { path, value }),
        );
    }
    Ok(changes)
}

/// The entry's Secret one generation on: every replacement is recorded, so a state dir
/// copied before it is known to be older than the cluster.
fn next_generation(entry: &Entry, secrets: &Secrets) -> StateChange {
    StateChange::Generation {
        secret: entry.secret.clone(),
        generation: secrets.generation(&entry.secret) + 1,
    }
}

/// Phase 2: drop the previous credential. It is a generation too: a copy of the state dir
/// from phase 1 would bring the old password back.
pub fn finish(entry: &Entry, secrets: &Secrets) -> Vec<StateChange> {
    std::iter::once(next_generation(entry, secrets))
        .chain(entry.values.iter().map(|(path, _)| StateChange::Remove {
            path: paths::previous(path),
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OnionKey;
    use crate::secrets::catalog::Source;

    fn rpc_requirements() -> Vec<Requirement> {
        vec![
            Requirement::Password {
                path: "bitcoin/b/rpc/lnd/password".into(),
            },
            Requirement::Salt {
                path: "bitcoin/b/rpc/lnd/salt".into(),
            },
        ]
    }

    fn rpc_entry() -> Entry {
        let source = Source::Key {
            secret: "s".into(),
            key: "password",
        };
        Entry {
            secret: "lnd-bitcoind-rpc".into(),
            kind: SecretKind::RpcCredential,
            node: "lnd".into(),
            values: vec![
                ("bitcoin/b/rpc/lnd/password".into(), source.clone()),
                ("bitcoin/b/rpc/lnd/salt".into(), source),
            ],
            derived: vec![],
        }
    }

    #[test]
    fn phase_one_keeps_the_previous_credential_and_phase_two_drops_it() {
        let mut secrets = Secrets::default();
        secrets.insert("bitcoin/b/rpc/lnd/password", b"old-password".to_vec());
        secrets.insert("bitcoin/b/rpc/lnd/salt", b"old-salt".to_vec());
        let entry = rpc_entry();
        let requirements = rpc_requirements();
        let changes = start(&entry, &secrets, &requirements).unwrap();
        assert_eq!(
            format!("{changes:?}"),
            "[Generation(lnd-bitcoind-rpc = 1), Write(bitcoin/b/rpc/lnd/previous/password), Write(bitcoin/b/rpc/lnd/previous/salt), Write(bitcoin/b/rpc/lnd/password), Write(bitcoin/b/rpc/lnd/salt)]"
        );
        let next = secrets.with_changes(&changes);
        let salt = next.get("bitcoin/b/rpc/lnd/salt").unwrap();
        assert_eq!(
            crate::secrets::value_check::check_stored(
                &requirements,
                "bitcoin/b/rpc/lnd/salt",
                salt
            ),
            Ok(()),
            "made as on first creation"
        );
        assert_eq!(
            next.get("bitcoin/b/rpc/lnd/previous/password"),
            Some(&b"old-password"[..])
        );
        assert_ne!(
            next.get("bitcoin/b/rpc/lnd/password"),
            Some(&b"old-password"[..])
        );
        assert!(is_pending(&entry, &next));
        assert!(matches!(
            start(&entry, &next, &requirements),
            Err(RotationError::Pending(_))
        ));
        assert_eq!(next.generation("lnd-bitcoind-rpc"), 1);
        let done = next.with_changes(&finish(&entry, &next));
        assert!(!is_pending(&entry, &done));
        assert_eq!(
            done.generation("lnd-bitcoind-rpc"),
            2,
            "phase 2 is recorded too"
        );
        assert_eq!(
            done.get("bitcoin/b/rpc/lnd/password"),
            next.get("bitcoin/b/rpc/lnd/password")
        );
    }

    #[test]
    fn a_reissued_certificate_keeps_its_names_and_onion_address() {
        let onion = OnionKey::generate().unwrap();
        let mut secrets = Secrets::default();
        secrets.insert("tor/lnd-rpc/hs_ed25519_secret_key", onion.secret_file());
        let requirements = vec![Requirement::Tls {
            cert: "lightning/lnd/tls.cert".into(),
            key: "lightning/lnd/tls.key".into(),
            common_name: "lnd".into(),
            alt_names: vec!["localhost".into(), "lnd.ns.svc".into()],
            onion_names: vec!["tor/lnd-rpc/hs_ed25519_secret_key".into()],
        }];
        let source = Source::Key {
            secret: "lnd-tls".into(),
            key: "tls.crt",
        };
        let entry = Entry {
            secret: "lnd-tls".into(),
            kind: SecretKind::Tls,
            node: "lnd".into(),
            values: vec![
                ("lightning/lnd/tls.cert".into(), source.clone()),
                ("lightning/lnd/tls.key".into(), source),
            ],
            derived: vec![],
        };
        let changes = start(&entry, &secrets, &requirements).unwrap();
        let next = secrets.with_changes(&changes);
        let pem = next.get("lightning/lnd/tls.cert").unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem).unwrap();
        let cert = pem.parse_x509().unwrap();
        let names = format!(
            "{:?}",
            cert.subject_alternative_name().unwrap().unwrap().value
        );
        for name in ["localhost", "lnd.ns.svc", onion.address().as_str()] {
            assert!(names.contains(name), "{name} missing from {names}");
        }
        assert!(next.get("lightning/lnd/tls.key").is_some());
    }

    #[test]
    fn a_wallet_password_is_not_rotatable() {
        let entry = Entry {
            kind: SecretKind::WalletPassword,
            ..rpc_entry()
        };
        assert!(matches!(
            start(&entry, &Secrets::default(), &[]),
            Err(RotationError::NotRotatable(..))
        ));
    }
}
