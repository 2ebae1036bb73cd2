//! The state dir against the cluster, before anything is generated or written: a credential is
//! generated only when neither has it, and the cluster's live credentials (a wallet password,
//! an onion key, an RPC password) are never replaced by a lost, partial or older state dir.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::catalog::{Entry, SecretKind, Source};
use super::rpcauth;
use super::snapshot::{Secrets, StateChange};

/// A Secret as the cluster has it: decoded data and the generation it was annotated with.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LiveSecret {
    pub data: BTreeMap<String, Vec<u8>>,
    pub generation: u64,
}

impl fmt::Debug for LiveSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSecret")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("generation", &self.generation)
            .finish()
    }
}

/// What is wrong with one credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The cluster has values the state dir lacks (their state paths).
    OnlyInCluster(Vec<String>),
    /// Both have the values, and they differ (state paths).
    Differs(Vec<String>),
    /// The cluster's Secret was replaced (rotated) more often than the state dir knows.
    Older { state: u64, cluster: u64 },
}

/// One credential whose state dir value must not go to the cluster as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The Kubernetes Secret, as `openlsp secrets list` names it.
    pub secret: String,
    pub kind: SecretKind,
    pub node: String,
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} of {}): ", self.secret, self.kind, self.node)?;
        match &self.problem {
            Problem::OnlyInCluster(paths) => write!(
                f,
                "the cluster has it, the state dir has no {}",
                paths.join(", ")
            ),
            Problem::Differs(paths) => write!(
                f,
                "the state dir's {} {} from the cluster's",
                paths.join(", "),
                if paths.len() == 1 {
                    "differs"
                } else {
                    "differ"
                }
            ),
            Problem::Older { state, cluster } => write!(
                f,
                "the cluster's is generation {cluster}, the state dir's {state}: this state dir was copied before a rotation"
            ),
        }
    }
}

/// How one stored value compares with the cluster's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compared {
    /// The cluster does not have it (the state dir's, or a new one, is written).
    NotInCluster,
    Same,
    Differs,
    OnlyInCluster,
}

fn compare(state: Option<&[u8]>, live: Option<&[u8]>) -> Compared {
    match (state, live) {
        (_, None) => Compared::NotInCluster,
        (None, Some(_)) => Compared::OnlyInCluster,
        (Some(ours), Some(theirs)) if ours == theirs => Compared::Same,
        (Some(_), Some(_)) => Compared::Differs,
    }
}

/// One value of `entry` against the cluster. A salt is in the cluster when bitcoind has an
/// rpcauth line for its user; it is the same when one of them is this salt with this password.
fn compare_value(
    path: &str,
    source: &Source,
    state: &Secrets,
    cluster: &BTreeMap<String, LiveSecret>,
) -> Compared {
    match source {
        Source::Key { secret, key } => compare(
            state.get(path),
            cluster
                .get(secret)
                .and_then(|s| s.data.get(*key))
                .map(Vec::as_slice),
        ),
        Source::RpcauthSalt {
            secret,
            user,
            password,
        } => {
            let conf = cluster
                .get(secret)
                .and_then(|s| s.data.get("rpcauth.conf"))
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .unwrap_or_default();
            let lines = rpcauth::lines_of(&conf, user);
            if lines.is_empty() {
                return Compared::NotInCluster;
            }
            let (Some(salt), Some(password)) = (state.get(path), state.get(password)) else {
                return Compared::OnlyInCluster;
            };
            let salt = String::from_utf8_lossy(salt);
            let hmac = rpcauth::password_hmac(&salt, &String::from_utf8_lossy(password));
            if lines.iter().any(|(s, h)| *s == salt && *h == hmac) {
                Compared::Same
            } else {
                Compared::Differs
            }
        }
    }
}

/// Every credential of `entries` whose state dir value may not be written over the cluster's.
/// A state dir one generation ahead is in the middle of its own rotation and may.
pub fn check(
    entries: &[Entry],
    state: &Secrets,
    cluster: &BTreeMap<String, LiveSecret>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for entry in entries.iter().filter(|e| !e.values.is_empty()) {
        let state_generation = state.generation(&entry.secret);
        let cluster_generation = cluster.get(&entry.secret).map_or(0, |s| s.generation);
        let finding = |problem| Finding {
            secret: entry.secret.clone(),
            kind: entry.kind,
            node: entry.node.clone(),
            problem,
        };
        if cluster_generation > state_generation {
            findings.push(finding(Problem::Older {
                state: state_generation,
                cluster: cluster_generation,
            }));
            continue;
        }
        let compared: Vec<(&String, Compared)> = entry
            .values
            .iter()
            .map(|(path, source)| (path, compare_value(path, source, state, cluster)))
            .collect();
        let with = |wanted: Compared| -> Vec<String> {
            compared
                .iter()
                .filter(|(_, c)| *c == wanted)
                .map(|(path, _)| (*path).clone())
                .collect()
        };
        let missing = with(Compared::OnlyInCluster);
        let differing = with(Compared::Differs);
        if !missing.is_empty() {
            findings.push(finding(Problem::OnlyInCluster(missing)));
        } else if !differing.is_empty() && state_generation == cluster_generation {
            findings.push(finding(Problem::Differs(differing)));
        }
    }
    findings
}

/// `--replace-secrets` named a secret whose values openlsp does not keep.
#[derive(Debug, thiserror::Error)]
#[error(
    "--replace-secrets: this site has no secret named {name:?} that openlsp keeps\n  hint: known: {known}"
)]
pub struct UnknownSecret {
    pub name: String,
    /// The secrets that can be named, sorted, comma-separated.
    pub known: String,
}

/// Checks that every one of `names` is a secret of `entries` with values in the state dir.
pub fn check_names(entries: &[Entry], names: &[String]) -> Result<(), UnknownSecret> {
    let kept = || entries.iter().filter(|e| !e.values.is_empty());
    let Some(name) = names
        .iter()
        .find(|name| !kept().any(|e| &e.secret == *name))
    else {
        return Ok(());
    };
    let known: BTreeSet<&str> = kept().map(|e| e.secret.as_str()).collect();
    Err(UnknownSecret {
        name: name.clone(),
        known: known.into_iter().collect::<Vec<_>>().join(", "),
    })
}

/// The generations that writing the state dir's values over the cluster's records: one past
/// both sides, so neither older copy wins again.
pub fn replacement_generations(
    replacing: &[Finding],
    state: &Secrets,
    cluster: &BTreeMap<String, LiveSecret>,
) -> Vec<StateChange> {
    replacing
        .iter()
        .map(|finding| StateChange::Generation {
            secret: finding.secret.clone(),
            generation: state
                .generation(&finding.secret)
                .max(cluster.get(&finding.secret).map_or(0, |s| s.generation))
                + 1,
        })
        .collect()
}

/// Why `diff`, `apply` or `rotate` stopped before writing anything.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.state_dir, .findings))]
pub struct Mismatch {
    pub state_dir: String,
    pub findings: Vec<Finding>,
}

fn describe(state_dir: &str, findings: &[Finding]) -> String {
    let mut text = format!(
        "the state dir {state_dir} does not hold the credentials the cluster has; nothing was generated or changed"
    );
    for finding in findings {
        text.push_str(&format!("\n  {finding}"));
    }
    let names = |rotatable_only: bool| -> Vec<&str> {
        let names: BTreeSet<&str> = findings
            .iter()
            .filter(|f| {
                !rotatable_only
                    || matches!(
                        f.kind,
                        SecretKind::RpcCredential | SecretKind::Tls | SecretKind::Tunnel
                    )
            })
            .map(|f| f.secret.as_str())
            .collect();
        names.into_iter().collect()
    };
    text.push_str(
        "\n  hint: take the cluster's values: openlsp secrets pull (add --force to replace values that differ; the state dir's go to history/)",
    );
    let rotatable = names(true);
    if !rotatable.is_empty() {
        text.push_str(&format!(
            "\n  hint: if a new value was meant, rotate it: openlsp secrets rotate {}",
            rotatable.join(" ")
        ));
    }
    text.push_str(&format!(
        "\n  hint: to write the state dir's values over the cluster's anyway: openlsp apply --replace-secrets {} (a wallet password or onion key the node was not set up with breaks the node)",
        names(false).join(",")
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::fixtures::{live, rpc_entry, wallet_entry};

    fn state(pairs: &[(&str, &[u8])], generations: &[(&str, u64)]) -> Secrets {
        let mut secrets = Secrets::default();
        for (path, value) in pairs {
            secrets.insert(*path, value.to_vec());
        }
        let changes: Vec<_> = generations
            .iter()
            .map(|(secret, generation)| StateChange::Generation {
                secret: (*secret).to_owned(),
                generation: *generation,
            })
            .collect();
        secrets.with_changes(&changes)
    }

    #[test]
    fn a_value_is_new_only_when_neither_side_has_it() {
        let entries = [wallet_entry()];
        let empty = BTreeMap::new();
        assert!(check(&entries, &Secrets::default(), &empty).is_empty());
        let cluster = BTreeMap::from([("lnd-wallet".to_owned(), live(&[("password", b"pw")], 0))]);
        let findings = check(&entries, &Secrets::default(), &cluster);
        assert_eq!(
            findings[0].problem,
            Problem::OnlyInCluster(vec!["lightning/lnd/wallet-password".into()])
        );
        assert!(
            findings[0]
                .to_string()
                .starts_with("lnd-wallet (wallet password of lnd): the cluster has it")
        );
        // The seed lndinit writes into the same Secret is not a state value.
        let seed_only = BTreeMap::from([("lnd-wallet".to_owned(), live(&[("seed", b"words")], 0))]);
        assert!(check(&entries, &Secrets::default(), &seed_only).is_empty());
    }

    #[test]
    fn differing_values_are_refused_unless_the_state_is_a_rotation_ahead() {
        let entries = [wallet_entry()];
        let cluster = BTreeMap::from([("lnd-wallet".to_owned(), live(&[("password", b"old")], 0))]);
        let ours = state(&[("lightning/lnd/wallet-password", b"new")], &[]);
        assert!(matches!(
            check(&entries, &ours, &cluster)[0].problem,
            Problem::Differs(_)
        ));
        let same = state(&[("lightning/lnd/wallet-password", b"old")], &[]);
        assert!(check(&entries, &same, &cluster).is_empty());
        let ahead = state(
            &[("lightning/lnd/wallet-password", b"new")],
            &[("lnd-wallet", 1)],
        );
        assert!(check(&entries, &ahead, &cluster).is_empty());
    }

    #[test]
    fn an_older_state_is_refused_even_with_the_same_values() {
        let entries = [wallet_entry()];
        let cluster = BTreeMap::from([("lnd-wallet".to_owned(), live(&[("password", b"pw")], 2))]);
        let older = state(
            &[("lightning/lnd/wallet-password", b"pw")],
            &[("lnd-wallet", 1)],
        );
        assert_eq!(
            check(&entries, &older, &cluster)[0].problem,
            Problem::Older {
                state: 1,
                cluster: 2
            }
        );
    }

    #[test]
    fn a_salt_matches_when_bitcoind_has_its_line() {
        let entries = [rpc_entry()];
        let salt = "00112233445566778899aabbccddeeff";
        let line = rpcauth::rpcauth_line("lnd", salt, "pw");
        let other = rpcauth::rpcauth_line("lnd", "ffeeddccbbaa99887766554433221100", "pw");
        let ours = state(
            &[
                ("bitcoin/b/rpc/lnd/password", b"pw"),
                ("bitcoin/b/rpc/lnd/salt", salt.as_bytes()),
            ],
            &[],
        );
        let with_line = |conf: &str| {
            BTreeMap::from([
                ("lnd-b-rpc".to_owned(), live(&[("password", b"pw")], 0)),
                (
                    "b-rpcauth".to_owned(),
                    live(&[("rpcauth.conf", conf.as_bytes())], 0),
                ),
            ])
        };
        assert!(check(&entries, &ours, &with_line(&line)).is_empty());
        // Phase 1 of a rotation: two lines, one of them ours.
        let both = format!("{other}\n{line}\n");
        assert!(check(&entries, &ours, &with_line(&both)).is_empty());
        assert_eq!(
            check(&entries, &ours, &with_line(&other))[0].problem,
            Problem::Differs(vec!["bitcoin/b/rpc/lnd/salt".into()])
        );
        // bitcoind knows the user, the state dir does not: never a new password.
        let only_rpcauth = BTreeMap::from([(
            "b-rpcauth".to_owned(),
            live(&[("rpcauth.conf", line.as_bytes())], 0),
        )]);
        assert_eq!(
            check(&entries, &Secrets::default(), &only_rpcauth)[0].problem,
            Problem::OnlyInCluster(vec!["bitcoin/b/rpc/lnd/salt".into()])
        );
    }

    /// Every value the state dir holds for a site is checked against the cluster: the
    /// catalog (what the check reads) covers every requirement (what generation writes).
    #[test]
    fn every_generated_value_has_a_place_in_the_cluster() {
        for name in [
            "full-stack",
            "lsp-two-nodes",
            "pi4-mainnet",
            "regtest-playground",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("profiles")
                .join(format!("{name}.yaml"));
            let site = crate::profile::load(&path).unwrap().site;
            let checked: BTreeSet<String> = crate::secrets::catalog::catalog(&site)
                .iter()
                .flat_map(|e| e.state_paths())
                .collect();
            for requirement in crate::secrets::requirements(&site) {
                for file in requirement.files() {
                    assert!(checked.contains(file), "{name}: {file} is never checked");
                }
            }
        }
    }

    #[test]
    fn only_secrets_with_state_values_can_be_replaced() {
        let seed = Entry {
            kind: SecretKind::Seed,
            values: vec![],
            ..wallet_entry()
        };
        let entries = [wallet_entry(), seed, rpc_entry()];
        assert!(check_names(&entries, &["lnd-wallet".into(), "lnd-b-rpc".into()]).is_ok());
        let err = check_names(&entries, &["lnd-b-rpc".into(), "lnd-macaroons".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--replace-secrets: this site has no secret named \"lnd-macaroons\" that openlsp keeps\n  hint: known: lnd-b-rpc, lnd-wallet"
        );
    }

    #[test]
    fn a_replacement_is_one_generation_past_both_sides() {
        let finding = |secret: &str| Finding {
            secret: secret.into(),
            kind: SecretKind::WalletPassword,
            node: "lnd".into(),
            problem: Problem::Differs(vec![]),
        };
        let ours = state(&[], &[("a", 3), ("b", 1)]);
        let cluster = BTreeMap::from([
            ("a".to_owned(), live(&[], 1)),
            ("b".to_owned(), live(&[], 4)),
        ]);
        assert_eq!(
            format!(
                "{:?}",
                replacement_generations(
                    &[finding("a"), finding("b"), finding("c")],
                    &ours,
                    &cluster
                )
            ),
            "[Generation(a = 4), Generation(b = 5), Generation(c = 1)]"
        );
    }

    #[test]
    fn the_message_names_each_secret_and_both_ways_out() {
        let mismatch = Mismatch {
            state_dir: "/state".into(),
            findings: vec![Finding {
                secret: "lnd-tls".into(),
                kind: SecretKind::Tls,
                node: "lnd".into(),
                problem: Problem::Differs(vec!["lightning/lnd/tls.key".into()]),
            }],
        };
        let text = mismatch.to_string();
        assert!(
            text.contains("lnd-tls (TLS of lnd): the state dir's lightning/lnd/tls.key differs")
        );
        assert!(text.contains("openlsp secrets pull"));
        assert!(text.contains("openlsp secrets rotate lnd-tls"));
    }
}
