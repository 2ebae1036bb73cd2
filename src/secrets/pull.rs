//! The rebuild behind `secrets pull`: the state dir's values taken from the site's Secrets in the
//! cluster, through the catalog. Pure: commands fetch the Secrets and write what this returns.
//! A salt is not in any Secret as such; it is the salt of bitcoind's rpcauth line that matches
//! the pulled password.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::catalog::{Entry, SecretKind, Source};
use super::credential_check::LiveSecret;
use super::restore::Restored;
use super::rpcauth;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(
        "Secret {namespace}/{secret} is not in the cluster; was the site applied with this profile?"
    )]
    NotInCluster { namespace: String, secret: String },
    #[error("Secret {secret} has no key {key}")]
    NoKey { secret: String, key: &'static str },
    /// Phase 1 of a rotation: the old line's password is only in the state dir that started it,
    /// and a pulled state would drop that line.
    #[error(
        "{secret} is being rotated: bitcoind has {lines} rpcauth lines for {user} (phase 1), and the old password is not in the cluster; nothing was written\n  hint: finish the rotation first with the state dir that started it (openlsp secrets rotate --finish), then pull"
    )]
    BeingRotated {
        secret: String,
        lines: usize,
        user: String,
    },
    #[error("no rpcauth line of {user} in {secret} matches its password")]
    NoMatchingLine { user: String, secret: String },
    #[error("the password comes before its salt; this is a bug in openlsp")]
    SaltFirst,
}

/// The Secrets a pull reads, each once, in the order it reads them: the ones whose write dates
/// date the pulled values.
pub fn sources(entries: &[Entry]) -> Vec<&str> {
    let mut found: Vec<&str> = Vec::new();
    for (_, source) in entries.iter().flat_map(|e| &e.values) {
        if !found.contains(&source.secret()) {
            found.push(source.secret());
        }
    }
    found
}

/// The values of `entries` from the cluster's Secrets (`live`, of `namespace`), each dated when
/// the cluster last wrote its Secret (`written_at`, where known), with the generation of every
/// Secret that holds state values.
pub fn rebuild(
    entries: &[Entry],
    live: &BTreeMap<String, LiveSecret>,
    written_at: &BTreeMap<String, OffsetDateTime>,
    namespace: &str,
) -> Result<Restored, PullError> {
    let mut restored = Restored::default();
    for entry in entries {
        // A config the operator has not given yet is not in the cluster either.
        if entry.kind == SecretKind::RcloneConfig && !live.contains_key(&entry.secret) {
            continue;
        }
        if let Some(secret) = live.get(&entry.secret).filter(|_| !entry.values.is_empty()) {
            restored
                .generations
                .insert(entry.secret.clone(), secret.generation);
        }
        for (path, source) in &entry.values {
            let secret = source.secret();
            let data = &live
                .get(secret)
                .ok_or_else(|| PullError::NotInCluster {
                    namespace: namespace.to_owned(),
                    secret: secret.to_owned(),
                })?
                .data;
            if let Some(at) = written_at.get(secret) {
                restored.dates.insert(path.clone(), *at);
            }
            let value = match source {
                Source::Key { key, .. } => data.get(*key).cloned().ok_or(PullError::NoKey {
                    secret: secret.to_owned(),
                    key,
                })?,
                Source::RpcauthSalt { user, password, .. } => {
                    let password = restored
                        .values
                        .iter()
                        .find(|(p, _)| p == password)
                        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                        .ok_or(PullError::SaltFirst)?;
                    let conf = String::from_utf8_lossy(
                        data.get("rpcauth.conf")
                            .map(Vec::as_slice)
                            .unwrap_or_default(),
                    )
                    .into_owned();
                    let lines = rpcauth::lines_of(&conf, user).len();
                    if lines > 1 {
                        return Err(PullError::BeingRotated {
                            secret: entry.secret.clone(),
                            lines,
                            user: user.clone(),
                        });
                    }
                    rpcauth::matching_salt(&conf, user, &password)
                        .ok_or_else(|| PullError::NoMatchingLine {
                            user: user.clone(),
                            secret: secret.to_owned(),
                        })?
                        .into_bytes()
                }
            };
            restored.values.push((path.clone(), value));
        }
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::fixtures::{live, rpc_entry};

    const SALT: &str = "00112233445566778899aabbccddeeff";

    fn cluster(rpcauth_conf: &str) -> BTreeMap<String, LiveSecret> {
        BTreeMap::from([
            ("lnd-b-rpc".to_owned(), live(&[("password", b"pw")], 3)),
            (
                "b-rpcauth".to_owned(),
                live(&[("rpcauth.conf", rpcauth_conf.as_bytes())], 0),
            ),
        ])
    }

    #[test]
    fn the_salt_is_the_one_whose_line_matches_the_password() {
        let entries = [rpc_entry()];
        assert_eq!(sources(&entries), ["lnd-b-rpc", "b-rpcauth"]);
        let other = rpcauth::rpcauth_line("lnd2", "ffeeddccbbaa99887766554433221100", "pw");
        let conf = format!("{other}\n{}\n", rpcauth::rpcauth_line("lnd", SALT, "pw"));
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let written_at = BTreeMap::from([("b-rpcauth".to_owned(), at)]);
        let restored = rebuild(&entries, &cluster(&conf), &written_at, "ns").unwrap();
        assert_eq!(
            restored.values,
            [
                ("bitcoin/b/rpc/lnd/password".to_owned(), b"pw".to_vec()),
                (
                    "bitcoin/b/rpc/lnd/salt".to_owned(),
                    SALT.as_bytes().to_vec()
                )
            ]
        );
        assert_eq!(
            restored.dates,
            BTreeMap::from([("bitcoin/b/rpc/lnd/salt".to_owned(), at)])
        );
        assert_eq!(
            restored.generations,
            BTreeMap::from([("lnd-b-rpc".to_owned(), 3)])
        );
    }

    #[test]
    fn a_rotation_in_phase_one_a_stranger_line_or_a_missing_secret_is_refused() {
        let entries = [rpc_entry()];
        let none = BTreeMap::new();
        let both = format!(
            "{}\n{}\n",
            rpcauth::rpcauth_line("lnd", SALT, "old"),
            rpcauth::rpcauth_line("lnd", SALT, "pw")
        );
        assert!(matches!(
            rebuild(&entries, &cluster(&both), &none, "ns"),
            Err(PullError::BeingRotated { lines: 2, .. })
        ));
        let stranger = rpcauth::rpcauth_line("lnd", SALT, "not-pw");
        assert_eq!(
            rebuild(&entries, &cluster(&stranger), &none, "ns")
                .unwrap_err()
                .to_string(),
            "no rpcauth line of lnd in b-rpcauth matches its password"
        );
        let mut partial = cluster(&stranger);
        partial.remove("b-rpcauth");
        assert_eq!(
            rebuild(&entries, &partial, &none, "ns")
                .unwrap_err()
                .to_string(),
            "Secret ns/b-rpcauth is not in the cluster; was the site applied with this profile?"
        );
        let mut keyless = cluster(&stranger);
        keyless.insert("lnd-b-rpc".to_owned(), live(&[], 0));
        assert_eq!(
            rebuild(&entries, &keyless, &none, "ns")
                .unwrap_err()
                .to_string(),
            "Secret lnd-b-rpc has no key password"
        );
    }
}
