//! The preflight of a chain copy, decided from what was read on both sides before anything
//! stops: the source holds a chain of the site's network, the target's disk has room for what
//! the copy adds, the copy cannot mix two chains, and the node's prune setting can take it.

use std::fmt;

use super::files::{CHAIN_DIRS, Chain, ChainFiles};
use super::network::network_of;
use crate::profile::Network;
use crate::profile::quantity::Bytes;

/// What the node keeps of the chain, from the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeChain {
    pub network: Network,
    pub prune: Option<u64>,
    pub txindex: bool,
}

/// The node's side: its network's directory, what it has there, and the disk's free space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dir: String,
    pub files: ChainFiles,
    pub free: u64,
}

/// A copy that passed the preflight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    /// Bytes in the source's chain directories.
    pub source_bytes: u64,
    /// What the disk needs free: what the copy adds to the target, plus rsync's temporary copy
    /// of one file.
    pub needed: u64,
    /// Free on the target's disk, with what `--delete` frees.
    pub free: u64,
    /// The chain directories the source has: the ones copied.
    pub dirs: Vec<&'static str>,
    /// The chain directories only the target has: removed with `--delete`.
    pub absent: Vec<&'static str>,
    /// Target files the source lacks (none, unless `--delete` removes them).
    pub extra: Vec<String>,
    /// What the operator should know: pruning and indexes after the copy.
    pub notes: Vec<String>,
}

/// A copy the preflight refuses. Nothing was changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "{dir} has no blocks/blk*.dat: it is not a Bitcoin datadir; nothing was changed\n  hint: name the datadir that holds blocks/ and chainstate/ (or its network's directory, such as .../testnet4)"
    )]
    NoBlocks { dir: String },
    #[error(
        "{dir} has blocks/ but no chainstate/: a copy needs both; nothing was changed\n  hint: copy a whole datadir of a node that was stopped cleanly"
    )]
    NoChainstate { dir: String },
    #[error(
        "{dir}/blocks/{file} starts with {magic}, the message start of no Bitcoin network; nothing was changed\n  hint: is it a Bitcoin Core datadir?"
    )]
    UnknownNetwork {
        dir: String,
        file: String,
        magic: String,
    },
    #[error(
        "{dir} holds a {} chain (blocks/{file}), but the site runs on {}; nothing was changed\n  hint: copy from a {} node",
        .found.as_str(), .expected.as_str(), .expected.as_str()
    )]
    WrongNetwork {
        dir: String,
        file: String,
        found: Network,
        expected: Network,
    },
    #[error(
        "the copy needs {} free on {target} but it has {} (the source's chain is {}); nothing was changed\n  hint: make room on the node's disk, or move the node to a bigger one",
        Bytes(*.needed).human(), Bytes(*.free).human(), Bytes(*.chain).human()
    )]
    NoRoom {
        target: String,
        needed: u64,
        free: u64,
        chain: u64,
    },
    #[error(
        "{target} has {count} file(s) the source lacks ({}): they belong to another chain, and copying over them would mix two databases; nothing was changed\n  hint: pass --delete to remove them during the copy (it asks first)",
        .examples.join(", ")
    )]
    ExtraFiles {
        target: String,
        count: usize,
        examples: Vec<String>,
    },
    #[error(
        "the source is pruned (its first block file is blocks/{file}) but {node} keeps the full chain: bitcoind would refuse to start without -reindex; nothing was changed\n  hint: copy from an unpruned node, or set prune for {node} in the profile"
    )]
    PrunedSource { file: String, node: String },
    #[error(
        "{pid} exists: a bitcoind runs on the source, and a copy of a chainstate it is writing is not consistent; nothing was changed\n  hint: stop that node first (bitcoin-cli stop); if it is not running, an unclean shutdown left the file: check, then remove it"
    )]
    SourceRunning { pid: String },
}

/// Four bytes as hex, `fabfb5da`.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// The network of a source's chain, or why it has none (or the wrong one).
pub fn check_network(chain: &Chain, expected: Network) -> Result<(), PreflightError> {
    let (Some(file), Some(magic)) = (&chain.first_block_file, chain.magic) else {
        return Err(PreflightError::NoBlocks {
            dir: chain.dir.clone(),
        });
    };
    match network_of(magic) {
        Some(found) if found == expected => Ok(()),
        Some(found) => Err(PreflightError::WrongNetwork {
            dir: chain.dir.clone(),
            file: file.clone(),
            found,
            expected,
        }),
        None => Err(PreflightError::UnknownNetwork {
            dir: chain.dir.clone(),
            file: file.clone(),
            magic: Hex(&magic).to_string(),
        }),
    }
}

/// Checks a copy of `source` into `target` for node `name`; `delete` allows removing the
/// target's files that the source lacks.
pub fn check_copy(
    name: &str,
    node: NodeChain,
    source: &Chain,
    target: &Target,
    delete: bool,
) -> Result<CopyPlan, PreflightError> {
    check_network(source, node.network)?;
    if let Some(pid) = &source.running {
        return Err(PreflightError::SourceRunning { pid: pid.clone() });
    }
    if !source.files.has("chainstate") {
        return Err(PreflightError::NoChainstate {
            dir: source.dir.clone(),
        });
    }
    let first = source.files.first_block_file();
    let pruned_source = first.as_ref().is_some_and(|(number, _)| *number > 0);
    if pruned_source && node.prune.is_none() {
        return Err(PreflightError::PrunedSource {
            file: first.map(|(_, name)| name).unwrap_or_default(),
            node: name.to_owned(),
        });
    }
    let extra: Vec<String> = target
        .files
        .files
        .keys()
        .filter(|path| !source.files.files.contains_key(*path))
        .cloned()
        .collect();
    if !extra.is_empty() && !delete {
        return Err(PreflightError::ExtraFiles {
            target: target.dir.clone(),
            count: extra.len(),
            examples: extra.iter().take(3).cloned().collect(),
        });
    }
    // What the copy adds: each source file's size beyond the target's file of the same name.
    let adds: u64 = source
        .files
        .files
        .iter()
        .map(|(path, size)| size.saturating_sub(target.files.files.get(path).copied().unwrap_or(0)))
        .sum();
    let needed = if adds == 0 {
        0
    } else {
        adds + source.files.largest()
    };
    let freed: u64 = if delete {
        extra
            .iter()
            .filter_map(|path| target.files.files.get(path))
            .sum()
    } else {
        0
    };
    let free = target.free.saturating_add(freed);
    if needed > free {
        return Err(PreflightError::NoRoom {
            target: target.dir.clone(),
            needed,
            free,
            chain: source.files.total(),
        });
    }
    let mut notes = Vec::new();
    if let Some(prune) = node.prune {
        if !pruned_source {
            notes.push(format!(
                "{name} is pruned: bitcoind deletes the copied blocks down to {prune} MiB when it starts"
            ));
        }
        if source.files.has("indexes/txindex") {
            notes.push(format!(
                "the source's transaction index is copied but unused: a pruned {name} keeps none"
            ));
        }
    } else if node.txindex && !source.files.has("indexes/txindex") {
        notes.push(format!(
            "the source has no transaction index: {name} builds one after it starts, which takes hours"
        ));
    }
    Ok(CopyPlan {
        source_bytes: source.files.total(),
        needed,
        free,
        dirs: source.files.dirs(),
        absent: CHAIN_DIRS
            .into_iter()
            .filter(|dir| !source.files.has(dir) && target.files.has(dir))
            .collect(),
        extra,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::network::message_start;

    fn files(entries: &[(&str, u64)]) -> ChainFiles {
        ChainFiles {
            files: entries.iter().map(|(p, s)| ((*p).to_owned(), *s)).collect(),
        }
    }

    fn chain(network: Network, entries: &[(&str, u64)]) -> Chain {
        let files = files(entries);
        let first = files.first_block_file().map(|(_, name)| name);
        Chain {
            dir: "/mnt/usb/bitcoin/regtest".to_owned(),
            magic: first.as_ref().map(|_| message_start(network)),
            first_block_file: first,
            files,
            tip: None,
            running: None,
        }
    }

    const FULL: NodeChain = NodeChain {
        network: Network::Regtest,
        prune: None,
        txindex: false,
    };

    fn target(entries: &[(&str, u64)], free: u64) -> Target {
        Target {
            dir: "/srv/blockchain/bitcoind/regtest".to_owned(),
            files: files(entries),
            free,
        }
    }

    const SOURCE: [(&str, u64); 3] = [
        ("blocks/blk00000.dat", 1000),
        ("blocks/rev00000.dat", 100),
        ("chainstate/000001.ldb", 50),
    ];

    #[test]
    fn an_empty_target_needs_room_for_the_whole_chain_and_one_file() {
        let source = chain(Network::Regtest, &SOURCE);
        let plan = check_copy("bitcoind", FULL, &source, &target(&[], 2150), false).unwrap();
        assert_eq!(
            (plan.source_bytes, plan.needed, plan.free),
            (1150, 2150, 2150)
        );
        assert_eq!(plan.dirs, ["blocks", "chainstate"]);
        let err = check_copy("bitcoind", FULL, &source, &target(&[], 2149), false).unwrap_err();
        assert_eq!(
            err.to_string().lines().next().unwrap(),
            "the copy needs 2.1Ki free on /srv/blockchain/bitcoind/regtest but it has 2.1Ki (the source's chain is 1.1Ki); nothing was changed"
        );
    }

    #[test]
    fn a_source_with_a_running_bitcoind_is_refused() {
        let mut source = chain(Network::Regtest, &SOURCE);
        source.running = Some("/mnt/usb/bitcoin/regtest/bitcoind.pid".to_owned());
        let err = check_copy("bitcoind", FULL, &source, &target(&[], 1 << 20), false).unwrap_err();
        assert_eq!(
            err,
            PreflightError::SourceRunning {
                pid: "/mnt/usb/bitcoin/regtest/bitcoind.pid".to_owned()
            }
        );
    }

    #[test]
    fn a_resumed_copy_needs_room_only_for_the_rest() {
        let source = chain(Network::Regtest, &SOURCE);
        let half = target(&[("blocks/blk00000.dat", 600)], 1600);
        let plan = check_copy("bitcoind", FULL, &source, &half, false).unwrap();
        assert_eq!(plan.needed, 400 + 100 + 50 + 1000);
        let done = target(&SOURCE, 0);
        assert_eq!(
            check_copy("bitcoind", FULL, &source, &done, false)
                .unwrap()
                .needed,
            0
        );
    }

    #[test]
    fn files_of_another_chain_need_delete_which_also_frees_their_room() {
        let source = chain(Network::Regtest, &SOURCE);
        let other = target(
            &[("chainstate/000900.log", 700), ("indexes/txindex/1.ldb", 5)],
            1500,
        );
        let err = check_copy("bitcoind", FULL, &source, &other, false).unwrap_err();
        assert!(
            matches!(&err, PreflightError::ExtraFiles { count: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("pass --delete"), "{err}");
        let plan = check_copy("bitcoind", FULL, &source, &other, true).unwrap();
        assert_eq!(plan.free, 1500 + 705);
        assert_eq!(plan.absent, ["indexes"]);
        assert_eq!(plan.extra.len(), 2);
    }

    #[test]
    fn the_network_comes_from_the_first_block_file() {
        let signet = chain(Network::Signet, &SOURCE);
        let err = check_copy("bitcoind", FULL, &signet, &target(&[], u64::MAX), false).unwrap_err();
        assert_eq!(
            err.to_string().lines().next().unwrap(),
            "/mnt/usb/bitcoin/regtest holds a signet chain (blocks/blk00000.dat), but the site runs on regtest; nothing was changed"
        );
        let mut garbage = chain(Network::Regtest, &SOURCE);
        garbage.magic = Some([1, 2, 3, 4]);
        assert!(matches!(
            check_network(&garbage, Network::Regtest),
            Err(PreflightError::UnknownNetwork { magic, .. }) if magic == "01020304"
        ));
        let empty = chain(Network::Regtest, &[("chainstate/1.ldb", 1)]);
        assert!(matches!(
            check_network(&empty, Network::Regtest),
            Err(PreflightError::NoBlocks { .. })
        ));
        let no_chainstate = chain(Network::Regtest, &SOURCE[..2]);
        assert!(matches!(
            check_copy(
                "bitcoind",
                FULL,
                &no_chainstate,
                &target(&[], u64::MAX),
                false
            ),
            Err(PreflightError::NoChainstate { .. })
        ));
    }

    #[test]
    fn a_pruned_source_fits_only_a_pruned_node() {
        let pruned = chain(
            Network::Regtest,
            &[("blocks/blk00007.dat", 10), ("chainstate/1.ldb", 1)],
        );
        let err = check_copy("bitcoind", FULL, &pruned, &target(&[], u64::MAX), false).unwrap_err();
        assert!(
            err.to_string()
                .contains("the source is pruned (its first block file is blocks/blk00007.dat)"),
            "{err}"
        );
        let pruned_node = NodeChain {
            prune: Some(550),
            ..FULL
        };
        let plan = check_copy(
            "bitcoind",
            pruned_node,
            &pruned,
            &target(&[], u64::MAX),
            false,
        )
        .unwrap();
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
        let full = chain(Network::Regtest, &SOURCE);
        let plan = check_copy(
            "bitcoind",
            pruned_node,
            &full,
            &target(&[], u64::MAX),
            false,
        )
        .unwrap();
        assert_eq!(
            plan.notes,
            [
                "bitcoind is pruned: bitcoind deletes the copied blocks down to 550 MiB when it starts"
            ]
        );
        let txindex = NodeChain {
            txindex: true,
            ..FULL
        };
        let plan = check_copy("bitcoind", txindex, &full, &target(&[], u64::MAX), false).unwrap();
        assert!(plan.notes[0].contains("builds one after it starts"));
    }
}
