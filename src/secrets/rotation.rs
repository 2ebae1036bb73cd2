//! What rotating a secret changes in the state dir, computed before anything is written so
//! the plan can be shown first. RPC credentials rotate in two phases: phase 1 keeps the
//! previous password beside the new one (bitcoind accepts both), phase 2 drops it once every
//! client runs with the new one. Certificates are reissued with the same names and a new key; the
//! tunnel to a CLN node gets a new CA with its two pairs.

use std::collections::BTreeSet;

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
    #[error("no secret named {name:?}\n  hint: rotatable secrets of this site: {known}")]
    Unknown { name: String, known: String },
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
        SecretKind::RpcCredential
        | SecretKind::Tls
        | SecretKind::UiPassword
        | SecretKind::Tunnel => return Ok(()),
        SecretKind::WalletPassword => {
            "the wallet is encrypted with it; change it with lncli changepassword"
        }
        SecretKind::Seed => "the seed is the wallet; move funds to a new node instead",
        SecretKind::Macaroons => "LND issues them; bake or revoke macaroons with lncli",
        SecretKind::Runes => {
            "CLN issues them; make or revoke runes with lightning-cli createrune and blacklistrune"
        }
        SecretKind::OnionKey => {
            "the onion address is derived from the key: a new key is an address peers and wallets do not know"
        }
        SecretKind::DatabasePassword => {
            "PostgreSQL keeps it as a hash it made at the database's first start: change it with ALTER ROLE in the database first (docs/btcpay.md, \"Changing a database password\")"
        }
        SecretKind::BtcdRpcCredential => {
            "btcd has one RPC user, not rpcauth lines, and reads its password only when it starts: no second password can bridge the change, so every LND on it would lose its chain backend until both restart. To replace it, follow docs/secrets.md, \"A btcd node's RPC password\""
        }
        SecretKind::RcloneConfig => {
            "the operator gives it; give the new one with openlsp secrets set NAME --from-file FILE"
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

/// What one step of a rotation writes to the state dir: the changes, and the paths whose
/// current values are copied to history first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub changes: Vec<StateChange>,
    pub history: Vec<String>,
}

/// The entries `rotate` works on: every one whose phase 1 waits (`finish`), every rotatable one
/// (`all`), or those `names` names. Naming one that cannot be rotated says why.
pub fn select<'a>(
    entries: &'a [Entry],
    names: &[String],
    all: bool,
    finish: bool,
    secrets: &Secrets,
) -> Result<Vec<&'a Entry>, RotationError> {
    if finish {
        return Ok(entries.iter().filter(|e| is_pending(e, secrets)).collect());
    }
    if all {
        return Ok(entries.iter().filter(|e| e.is_rotatable()).collect());
    }
    let mut chosen: Vec<&Entry> = Vec::new();
    for name in names {
        let matching: Vec<&Entry> = entries.iter().filter(|e| &e.secret == name).collect();
        let Some(first) = matching.first() else {
            let known: BTreeSet<&str> = entries
                .iter()
                .filter(|e| e.is_rotatable())
                .map(|e| e.secret.as_str())
                .collect();
            return Err(RotationError::Unknown {
                name: name.clone(),
                known: known.into_iter().collect::<Vec<_>>().join(", "),
            });
        };
        // One Secret can carry two entries (the wallet password and the seed).
        match matching.iter().find(|e| e.is_rotatable()) {
            Some(entry) => chosen.push(entry),
            None => check_rotatable(first)?,
        }
    }
    Ok(chosen)
}

/// Phase 1 of a rotation, as [`begin`] plans it.
#[derive(Debug)]
pub struct Begun<'a> {
    /// Targets whose rotation starts now.
    pub started: Vec<&'a Entry>,
    /// RPC credentials whose phase 1 was recorded but not completed (a timeout, Ctrl-C): their
    /// values stay, and the same writes run again in the same order.
    pub resumed: Vec<&'a Entry>,
    /// New values of the started ones; their current values go to history.
    pub step: Step,
}

/// Phase 1 of `targets` (the whole rotation, for certificates).
pub fn begin<'a>(
    targets: &[&'a Entry],
    secrets: &Secrets,
    requirements: &[Requirement],
) -> Result<Begun<'a>, RotationError> {
    let (resumed, started): (Vec<&Entry>, Vec<&Entry>) =
        targets.iter().partition(|e| is_pending(e, secrets));
    let mut step = Step::default();
    for entry in &started {
        step.changes.extend(start(entry, secrets, requirements)?);
        step.history.extend(entry.state_paths());
    }
    Ok(Begun {
        started,
        resumed,
        step,
    })
}

/// A site that is not in the cluster yet has no client to keep running: new values simply
/// replace the old ones, with no previous copy and no second phase.
pub fn replace(
    targets: &[&Entry],
    secrets: &Secrets,
    requirements: &[Requirement],
) -> Result<Step, RotationError> {
    let mut step = Step::default();
    for entry in targets {
        let previous: BTreeSet<String> = entry
            .state_paths()
            .iter()
            .map(|p| paths::previous(p))
            .collect();
        step.changes.extend(
            start(entry, secrets, requirements)?
                .into_iter()
                .filter(|c| c.path().is_none_or(|p| !previous.contains(p))),
        );
        step.history.extend(entry.state_paths());
    }
    Ok(step)
}

/// Phase 2 of `targets`: every previous credential goes, to history first.
pub fn finish_all(targets: &[&Entry], secrets: &Secrets) -> Step {
    Step {
        changes: targets.iter().flat_map(|e| finish(e, secrets)).collect(),
        history: targets
            .iter()
            .flat_map(|e| e.state_paths())
            .map(|p| paths::previous(&p))
            .collect(),
    }
}

/// The order in which a rotation's Secrets reach the cluster. Clients switch to a new RPC
/// password only once bitcoind accepts it: bitcoind's side (the rpcauth Secrets derived from
/// the credentials) goes first, and once its pods are ready, the clients' credential Secrets
/// and the pods that consume them follow.
#[derive(Debug, PartialEq, Eq)]
pub struct Rollout<'a> {
    /// The RPC credentials among the targets, which rotate in two phases.
    pub two_phase: Vec<&'a Entry>,
    /// Secrets written in the second group, with their consumers: the clients' credentials.
    pub second: BTreeSet<String>,
    /// Secrets whose consumers must be ready before the second group: bitcoind's rpcauth.
    pub ready_first: BTreeSet<String>,
    /// The Secret of every target: their consumers are waited for at the end.
    pub all: BTreeSet<String>,
}

pub fn rollout<'a>(targets: &[&'a Entry]) -> Rollout<'a> {
    let two_phase: Vec<&Entry> = targets
        .iter()
        .copied()
        .filter(|e| e.kind == SecretKind::RpcCredential)
        .collect();
    Rollout {
        second: two_phase.iter().map(|e| e.secret.clone()).collect(),
        ready_first: two_phase.iter().flat_map(|e| e.derived.clone()).collect(),
        all: targets.iter().map(|e| e.secret.clone()).collect(),
        two_phase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OnionKey;
    use crate::secrets::catalog::Source;
    use crate::secrets::fixtures::{alt_names, rpc_entry, wallet_entry};

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
            "[Generation(lnd-b-rpc = 1), Write(bitcoin/b/rpc/lnd/previous/password), Write(bitcoin/b/rpc/lnd/previous/salt), Write(bitcoin/b/rpc/lnd/password), Write(bitcoin/b/rpc/lnd/salt)]"
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
        assert_eq!(next.generation("lnd-b-rpc"), 1);
        let done = next.with_changes(&finish(&entry, &next));
        assert!(!is_pending(&entry, &done));
        assert_eq!(done.generation("lnd-b-rpc"), 2, "phase 2 is recorded too");
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
        let names = alt_names(next.get("lightning/lnd/tls.cert").unwrap());
        for name in ["localhost", "lnd.ns.svc", onion.address().as_str()] {
            assert!(names.contains(name), "{name} missing from {names}");
        }
        assert!(next.get("lightning/lnd/tls.key").is_some());
    }

    #[test]
    fn a_wallet_password_is_not_rotatable() {
        assert!(matches!(
            start(&wallet_entry(), &Secrets::default(), &[]),
            Err(RotationError::NotRotatable(..))
        ));
    }

    /// btcd's one password cannot be rotated, and naming it says why; its own certificate
    /// can, and `--all` takes it but not the password.
    #[test]
    fn a_btcd_password_is_refused_with_its_reason_and_its_certificate_rotates() {
        let (entries, _, secrets) = example("simnet-kiln");
        let refused = select(
            &entries,
            &["btcd-rpcpass".to_owned()],
            false,
            false,
            &secrets,
        )
        .unwrap_err()
        .to_string();
        assert!(
            refused.starts_with("btcd-rpcpass cannot be rotated: btcd has one RPC user"),
            "{refused}"
        );
        assert!(refused.contains("docs/secrets.md"), "{refused}");
        let all = names(&select(&entries, &[], true, false, &secrets).unwrap());
        assert!(!all.contains(&"btcd-rpcpass".to_owned()), "{all:?}");
        // simnet-kiln's certificate is cert-manager's: nothing of openlsp's to rotate.
        assert!(!all.contains(&"btcd-rpc-tls".to_owned()), "{all:?}");
        // Without `tls`, openlsp makes it, and it rotates like LND's.
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/simnet-kiln.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("      tls: { issuer: btcd-ca }\n", "");
        let site = crate::profile::parse(&path, &text).unwrap().site;
        let entries = crate::secrets::catalog::catalog(&site);
        let all = names(&select(&entries, &[], true, false, &secrets).unwrap());
        assert!(all.contains(&"btcd-rpc-tls".to_owned()), "{all:?}");
        let tls = entries.iter().find(|e| e.secret == "btcd-rpc-tls").unwrap();
        assert_eq!(
            tls.derived,
            ["lnd-btcd-rpc"],
            "LND's Secret carries the certificate"
        );
    }

    /// The catalog, requirements and a loaded state of the playground profile.
    fn playground() -> (Vec<Entry>, Vec<Requirement>, Secrets) {
        example("regtest-playground")
    }

    /// The tunnel of a store on CLN rotates as a whole: a new CA with both pairs, in one phase,
    /// and the client's Secret is named as derived from it.
    #[test]
    fn the_cln_tunnel_rotates_its_ca_and_both_pairs_at_once() {
        let (entries, requirements, secrets) = example("cln-shop");
        let all = select(&entries, &[], true, false, &secrets).unwrap();
        assert!(
            names(&all).contains(&"cln-tunnel".to_owned()),
            "{:?}",
            names(&all)
        );
        let tunnel = all.iter().find(|e| e.secret == "cln-tunnel").unwrap();
        assert_eq!(tunnel.kind, SecretKind::Tunnel);
        assert_eq!(tunnel.derived, ["btcpay-tunnel"]);
        let changes = start(tunnel, &secrets, &requirements).unwrap();
        let next = secrets.with_changes(&changes);
        for (path, source) in &tunnel.values {
            assert_ne!(next.get(path), secrets.get(path), "{path} is new");
            assert!(
                ["cln-tunnel", "btcpay-tunnel"].contains(&source.secret()),
                "{path}"
            );
        }
        assert!(!is_pending(tunnel, &next), "one phase");
        assert_eq!(next.generation("cln-tunnel"), 1);
    }

    /// The catalog, requirements and a loaded state of example profile `name`.
    fn example(name: &str) -> (Vec<Entry>, Vec<Requirement>, Secrets) {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("profiles/{name}.yaml"));
        let site = crate::profile::load(&path).unwrap().site;
        let requirements = crate::secrets::requirements(&site);
        let mut secrets = Secrets::default();
        for requirement in &requirements {
            for (path, value) in generate(requirement, &secrets).unwrap() {
                secrets.insert(path, value);
            }
        }
        (
            crate::secrets::catalog::catalog(&site),
            requirements,
            secrets,
        )
    }

    fn names(entries: &[&Entry]) -> Vec<String> {
        entries.iter().map(|e| e.secret.clone()).collect()
    }

    #[test]
    fn select_takes_names_all_or_the_pending_ones() {
        let (entries, requirements, secrets) = playground();
        let all = select(&entries, &[], true, false, &secrets).unwrap();
        assert_eq!(names(&all), ["lnd-bitcoind-rpc", "lnd-tls"]);
        let named = select(&entries, &["lnd-tls".into()], false, false, &secrets).unwrap();
        assert_eq!(names(&named), ["lnd-tls"]);
        assert!(
            select(&entries, &[], false, true, &secrets)
                .unwrap()
                .is_empty()
        );
        let begun = begin(&all, &secrets, &requirements).unwrap();
        let next = secrets.with_changes(&begun.step.changes);
        let pending = select(&entries, &[], false, true, &next).unwrap();
        assert_eq!(
            names(&pending),
            ["lnd-bitcoind-rpc"],
            "certificates have one phase"
        );

        let unknown = select(&entries, &["nope".into()], false, false, &secrets).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "no secret named \"nope\"\n  hint: rotatable secrets of this site: lnd-bitcoind-rpc, lnd-tls"
        );
        // The wallet Secret carries the wallet password and the seed: neither rotates.
        let wallet = select(&entries, &["lnd-wallet".into()], false, false, &secrets).unwrap_err();
        assert!(
            wallet
                .to_string()
                .starts_with("lnd-wallet cannot be rotated: the wallet is encrypted with it"),
            "{wallet}"
        );
    }

    #[test]
    fn begin_resumes_a_recorded_phase_one_and_starts_the_rest() {
        let (entries, requirements, secrets) = playground();
        let all = select(&entries, &[], true, false, &secrets).unwrap();
        let begun = begin(&all, &secrets, &requirements).unwrap();
        assert_eq!(names(&begun.started), ["lnd-bitcoind-rpc", "lnd-tls"]);
        assert!(begun.resumed.is_empty());
        assert_eq!(
            begun.step.history,
            [
                "bitcoin/bitcoind/rpc/lnd/password",
                "bitcoin/bitcoind/rpc/lnd/salt",
                "lightning/lnd/tls.cert",
                "lightning/lnd/tls.key"
            ]
        );
        // Phase 1 recorded, then interrupted: the credential resumes with the values it has.
        let next = secrets.with_changes(&begun.step.changes);
        let again = begin(&all, &next, &requirements).unwrap();
        assert_eq!(names(&again.resumed), ["lnd-bitcoind-rpc"]);
        assert_eq!(names(&again.started), ["lnd-tls"]);
        assert!(
            again
                .step
                .changes
                .iter()
                .filter_map(StateChange::path)
                .all(|p| p.starts_with("lightning/lnd/")),
            "{:?}",
            again.step.changes
        );
    }

    #[test]
    fn a_site_not_in_the_cluster_gets_new_values_without_phases() {
        let (entries, requirements, secrets) = playground();
        let all = select(&entries, &[], true, false, &secrets).unwrap();
        let step = replace(&all, &secrets, &requirements).unwrap();
        assert_eq!(
            format!("{:?}", step.changes),
            "[Generation(lnd-bitcoind-rpc = 1), Write(bitcoin/bitcoind/rpc/lnd/password), Write(bitcoin/bitcoind/rpc/lnd/salt), Generation(lnd-tls = 1), Write(lightning/lnd/tls.cert), Write(lightning/lnd/tls.key)]"
        );
        let next = secrets.with_changes(&step.changes);
        assert!(
            select(&entries, &[], false, true, &next)
                .unwrap()
                .is_empty()
        );
        assert_eq!(step.history.len(), 4);
    }

    #[test]
    fn finish_all_drops_every_previous_value_to_history() {
        let (entries, requirements, secrets) = playground();
        let rpc = select(
            &entries,
            &["lnd-bitcoind-rpc".into()],
            false,
            false,
            &secrets,
        )
        .unwrap();
        let next =
            secrets.with_changes(&begin(&rpc, &secrets, &requirements).unwrap().step.changes);
        let step = finish_all(&rpc, &next);
        assert_eq!(
            step.history,
            [
                "bitcoin/bitcoind/rpc/lnd/previous/password",
                "bitcoin/bitcoind/rpc/lnd/previous/salt"
            ]
        );
        let done = next.with_changes(&step.changes);
        assert!(!is_pending(rpc[0], &done));
        assert_eq!(done.generation("lnd-bitcoind-rpc"), 2);
    }

    #[test]
    fn bitcoinds_side_goes_first_and_the_clients_credentials_second() {
        let (entries, _, secrets) = playground();
        let all = select(&entries, &[], true, false, &secrets).unwrap();
        let both = rollout(&all);
        assert_eq!(names(&both.two_phase), ["lnd-bitcoind-rpc"]);
        assert_eq!(both.second, BTreeSet::from(["lnd-bitcoind-rpc".to_owned()]));
        assert_eq!(
            both.ready_first,
            BTreeSet::from(["bitcoind-rpcauth".to_owned()])
        );
        assert_eq!(
            both.all,
            BTreeSet::from(["lnd-bitcoind-rpc".to_owned(), "lnd-tls".to_owned()])
        );
        let tls_only = rollout(&all[1..]);
        assert!(tls_only.two_phase.is_empty() && tls_only.second.is_empty());
    }
}
