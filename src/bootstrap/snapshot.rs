//! A UTXO snapshot (`dumptxoutset`'s file) judged before anything touches the node: what its
//! metadata says, and whether the node's bitcoind would load it (`loadtxoutset` accepts only a
//! snapshot whose base block its chainparams pin, on the network it runs).
//!
//! The metadata format is Bitcoin Core's `SnapshotMetadata` (src/node/utxo_snapshot.h): the
//! magic bytes `utxo\xff`, a version (u16, little endian; 2 is the only one), the network's
//! message start, the base block's hash (32 bytes, reversed) and the number of coins (u64).

use std::fmt;

use super::network::network_of;
use super::preflight::Hex;
use crate::images;
use crate::profile::Network;
use crate::profile::quantity::Bytes;

/// The first bytes of every snapshot file.
const MAGIC: [u8; 5] = *b"utxo\xff";
/// The metadata versions bitcoind reads.
const VERSION: u16 = 2;
/// Magic, version, message start, base block hash and coin count.
pub const METADATA_LEN: usize = 5 + 2 + 4 + 32 + 8;

/// One snapshot a bitcoind release accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assumeutxo {
    pub network: Network,
    pub height: u64,
    pub blockhash: &'static str,
}

/// The bitcoind release whose table [`ASSUMEUTXO`] is.
pub const TABLE_RELEASE: &str = "Bitcoin Core 31.1";

/// `m_assumeutxo_data` of each network (height, blockhash), from bitcoin/bitcoin
/// src/kernel/chainparams.cpp at commit 284c42a3ceb98587895935139984c52e9958005d (the v30 line,
/// its headers-sync parameters dated 2025-09): the one version of that file that could be read
/// while this was written; plus the two entries bitcoin/bitcoin#34677 ("Chainparams and
/// headerssync updates pre-31.0", merged) added for 31.0, as its review lists them: mainnet
/// 935'000 and testnet3 4'840'000. docs/bootstrap.md says what to check for a newer tag.
pub const ASSUMEUTXO: [Assumeutxo; 11] = [
    Assumeutxo {
        network: Network::Mainnet,
        height: 840_000,
        blockhash: "0000000000000000000320283a032748cef8227873ff4872689bf23f1cda83a5",
    },
    Assumeutxo {
        network: Network::Mainnet,
        height: 880_000,
        blockhash: "000000000000000000010b17283c3c400507969a9c2afd1dcf2082ec5cca2880",
    },
    Assumeutxo {
        network: Network::Mainnet,
        height: 910_000,
        blockhash: "0000000000000000000108970acb9522ffd516eae17acddcb1bd16469194a821",
    },
    Assumeutxo {
        network: Network::Mainnet,
        height: 935_000,
        blockhash: "0000000000000000000147034958af1652b2b91bba607beacc5e72a56f0fb5ee",
    },
    Assumeutxo {
        network: Network::Testnet,
        height: 2_500_000,
        blockhash: "0000000000000093bcb68c03a9a168ae252572d348a2eaeba2cdf9231d73206f",
    },
    Assumeutxo {
        network: Network::Testnet,
        height: 4_840_000,
        blockhash: "00000000000000f4971a7fb37fbdff89315b69a2e1920c467654a382f0d64786",
    },
    Assumeutxo {
        network: Network::Testnet4,
        height: 90_000,
        blockhash: "0000000002ebe8bcda020e0dd6ccfbdfac531d2f6a81457191b99fc2df2dbe3b",
    },
    Assumeutxo {
        network: Network::Signet,
        height: 160_000,
        blockhash: "0000003ca3c99aff040f2563c2ad8f8ec88bd0fd6b8f0895cfaf1ef90353a62c",
    },
    // Regtest's are the blocks of Bitcoin Core's deterministic test chains (unit, fuzz and
    // functional tests), not of any chain mined elsewhere.
    Assumeutxo {
        network: Network::Regtest,
        height: 110,
        blockhash: "6affe030b7965ab538f820a56ef56c8149b7dc1d1c144af57113be080db7c397",
    },
    Assumeutxo {
        network: Network::Regtest,
        height: 200,
        blockhash: "385901ccbd69dff6bbd00065d01fb8a9e464dede7cfe0372443884f9b1dcf6b9",
    },
    Assumeutxo {
        network: Network::Regtest,
        height: 299,
        blockhash: "7cc695046fec709f8c9394b6f928f81e81fd3ac20977bb68760fa1faa7916ea2",
    },
];

/// What a snapshot file's metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub network: Network,
    /// The base block's hash, as bitcoind shows it (big endian hex).
    pub base_blockhash: String,
    pub coins: u64,
}

/// A snapshot the node's bitcoind loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loadable {
    pub metadata: Metadata,
    /// The base block's height, from the table.
    pub height: u64,
    /// What the operator should know (an image other than the pinned one).
    pub notes: Vec<String>,
}

/// A snapshot refused before anything changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "{file}: {} long, shorter than a snapshot's {METADATA_LEN}-byte metadata: it is truncated or not a UTXO snapshot; nothing was changed\n  hint: copy the whole file again (dumptxoutset writes it in one go) and check its size against the source's",
        Bytes(*.size).human()
    )]
    Truncated { file: String, size: u64 },
    #[error(
        "{file} starts with {found}, not a UTXO snapshot's magic bytes (7574786fff, \"utxo\\xff\"); nothing was changed\n  hint: name the file that bitcoin-cli dumptxoutset wrote"
    )]
    NotASnapshot { file: String, found: String },
    #[error(
        "{file}: snapshot metadata version {version}, but bitcoind reads version {VERSION} only; nothing was changed\n  hint: dump it with a bitcoind of the same major release as the node's"
    )]
    UnsupportedVersion { file: String, version: u16 },
    #[error(
        "{file}: its network message start {magic} is no Bitcoin network's; nothing was changed\n  hint: is it a Bitcoin Core snapshot?"
    )]
    UnknownNetwork { file: String, magic: String },
    #[error(
        "{file} is a {} snapshot, but {node} runs on {}; nothing was changed\n  hint: use a snapshot of {}",
        .found.as_str(), .expected.as_str(), .expected.as_str()
    )]
    WrongNetwork {
        file: String,
        node: String,
        found: Network,
        expected: Network,
    },
    #[error(
        "{file}: its base block {base} is not one that {TABLE_RELEASE} accepts on {}, so loadtxoutset would refuse it; nothing was changed\n  hint: {}{image_note}",
        .network.as_str(), supported_hint(*.network)
    )]
    UnknownBase {
        file: String,
        base: String,
        network: Network,
        image_note: String,
    },
    #[error(
        "{node} is btcd, which has no assumeutxo (loadtxoutset is bitcoind's); nothing was changed\n  hint: a btcd node syncs by itself"
    )]
    Btcd { node: String },
}

/// The snapshots a network accepts, for a hint.
fn supported_hint(network: Network) -> String {
    let heights: Vec<String> = supported(network)
        .map(|entry| format!("{} ({})", entry.height, entry.blockhash))
        .collect();
    if heights.is_empty() {
        format!(
            "{TABLE_RELEASE} accepts no snapshot on {}: sync the node, or bootstrap it with --from-dir",
            network.as_str()
        )
    } else {
        format!(
            "the snapshot heights {TABLE_RELEASE} accepts on {} are: {}",
            network.as_str(),
            heights.join(", ")
        )
    }
}

/// The table's snapshots of `network`.
pub fn supported(network: Network) -> impl Iterator<Item = &'static Assumeutxo> {
    ASSUMEUTXO
        .iter()
        .filter(move |entry| entry.network == network)
}

/// The metadata at the start of `file`'s bytes (`head`, at least [`METADATA_LEN`] of them when the
/// file has that many); `size` is the whole file's.
pub fn parse_metadata(file: &str, head: &[u8], size: u64) -> Result<Metadata, SnapshotError> {
    if !head.starts_with(&MAGIC[..head.len().min(MAGIC.len())]) {
        return Err(SnapshotError::NotASnapshot {
            file: file.to_owned(),
            found: Hex(&head[..head.len().min(MAGIC.len())]).to_string(),
        });
    }
    if head.len() < METADATA_LEN {
        return Err(SnapshotError::Truncated {
            file: file.to_owned(),
            size,
        });
    }
    let version = u16::from_le_bytes([head[5], head[6]]);
    if version != VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            file: file.to_owned(),
            version,
        });
    }
    let magic = [head[7], head[8], head[9], head[10]];
    let network = network_of(magic)
        .filter(|network| *network != Network::Simnet)
        .ok_or_else(|| SnapshotError::UnknownNetwork {
            file: file.to_owned(),
            magic: Hex(&magic).to_string(),
        })?;
    let mut hash = head[11..43].to_vec();
    hash.reverse();
    let mut coins = [0; 8];
    coins.copy_from_slice(&head[43..51]);
    Ok(Metadata {
        network,
        base_blockhash: Hex(&hash).to_string(),
        coins: u64::from_le_bytes(coins),
    })
}

/// The node that would load the snapshot, from the profile.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotNode<'a> {
    pub name: &'a str,
    pub network: Network,
    pub btcd: bool,
    pub image: &'a str,
}

/// Whether `node` loads the snapshot `metadata` of `file`.
pub fn check_snapshot(
    file: &str,
    metadata: Metadata,
    node: SnapshotNode<'_>,
) -> Result<Loadable, SnapshotError> {
    if node.btcd {
        return Err(SnapshotError::Btcd {
            node: node.name.to_owned(),
        });
    }
    if metadata.network != node.network {
        return Err(SnapshotError::WrongNetwork {
            file: file.to_owned(),
            node: node.name.to_owned(),
            found: metadata.network,
            expected: node.network,
        });
    }
    let pinned = node.image == images::BITCOIND;
    let image_note = if pinned {
        String::new()
    } else {
        format!(
            "\n  hint: this table is {TABLE_RELEASE}'s ({}); {} runs {}, whose bitcoind may accept other snapshots",
            images::BITCOIND,
            node.name,
            node.image
        )
    };
    let Some(entry) =
        supported(node.network).find(|entry| entry.blockhash == metadata.base_blockhash)
    else {
        return Err(SnapshotError::UnknownBase {
            file: file.to_owned(),
            base: metadata.base_blockhash,
            network: node.network,
            image_note,
        });
    };
    let mut notes = Vec::new();
    if !pinned {
        notes.push(format!(
            "{} runs {}, not {}: the snapshot is in {TABLE_RELEASE}'s table, and its bitcoind decides",
            node.name,
            node.image,
            images::BITCOIND
        ));
    }
    Ok(Loadable {
        height: entry.height,
        metadata,
        notes,
    })
}

impl fmt::Display for Assumeutxo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at height {} ({})",
            self.network.as_str(),
            self.height,
            self.blockhash
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::network::message_start;

    /// A snapshot's metadata, as bitcoind writes it.
    fn metadata_bytes(network: Network, base_blockhash: &str, coins: u64) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(VERSION.to_le_bytes());
        bytes.extend(message_start(network));
        let mut hash = hex::decode(base_blockhash).unwrap();
        hash.reverse();
        bytes.extend(hash);
        bytes.extend(coins.to_le_bytes());
        bytes
    }

    const REGTEST_299: &str = "7cc695046fec709f8c9394b6f928f81e81fd3ac20977bb68760fa1faa7916ea2";

    fn node(network: Network) -> SnapshotNode<'static> {
        SnapshotNode {
            name: "bitcoind",
            network,
            btcd: false,
            image: images::BITCOIND,
        }
    }

    fn parsed(network: Network, hash: &str) -> Metadata {
        let bytes = metadata_bytes(network, hash, 334);
        parse_metadata("utxo.dat", &bytes, bytes.len() as u64).unwrap()
    }

    #[test]
    fn metadata_gives_network_base_and_coins() {
        let metadata = parsed(Network::Regtest, REGTEST_299);
        assert_eq!(
            metadata,
            Metadata {
                network: Network::Regtest,
                base_blockhash: REGTEST_299.to_owned(),
                coins: 334,
            }
        );
    }

    #[test]
    fn the_table_has_every_network_but_simnet_and_unique_bases() {
        for network in [
            Network::Mainnet,
            Network::Testnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ] {
            assert!(supported(network).next().is_some(), "{network:?}");
        }
        assert!(supported(Network::Simnet).next().is_none());
        for entry in ASSUMEUTXO {
            assert_eq!(entry.blockhash.len(), 64, "{entry}");
            assert_eq!(
                ASSUMEUTXO
                    .iter()
                    .filter(|other| other.blockhash == entry.blockhash)
                    .count(),
                1
            );
        }
        assert_eq!(
            supported(Network::Regtest)
                .map(|e| e.height)
                .collect::<Vec<_>>(),
            [110, 200, 299],
            "the heights Knots 29 names in its own refusal"
        );
    }

    #[test]
    fn a_snapshot_in_the_table_loads_with_its_height() {
        let mainnet = "0000000000000000000108970acb9522ffd516eae17acddcb1bd16469194a821";
        let loadable = check_snapshot(
            "utxo.dat",
            parsed(Network::Mainnet, mainnet),
            node(Network::Mainnet),
        )
        .unwrap();
        assert_eq!(loadable.height, 910_000);
        assert!(loadable.notes.is_empty());
    }

    #[test]
    fn a_base_block_not_in_the_table_is_refused_with_the_supported_heights() {
        let other = "18e6c496bf31dd6d08057ed753ee9f6c684664cf674339c424783e795d24916e";
        let err = check_snapshot(
            "utxo.dat",
            parsed(Network::Regtest, other),
            node(Network::Regtest),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("utxo.dat: its base block {other} is not one that Bitcoin Core 31.1 accepts on regtest")),
            "{text}"
        );
        assert!(
            text.contains("accepts on regtest are: 110 (6affe030"),
            "{text}"
        );
        assert!(text.contains(", 299 (7cc69504"), "{text}");
    }

    #[test]
    fn another_network_btcd_and_another_image_are_judged() {
        let err = check_snapshot(
            "utxo.dat",
            parsed(Network::Signet, REGTEST_299),
            node(Network::Regtest),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string().lines().next().unwrap(),
            "utxo.dat is a signet snapshot, but bitcoind runs on regtest; nothing was changed"
        );
        let btcd = SnapshotNode {
            btcd: true,
            ..node(Network::Regtest)
        };
        assert!(matches!(
            check_snapshot("utxo.dat", parsed(Network::Regtest, REGTEST_299), btcd),
            Err(SnapshotError::Btcd { .. })
        ));
        let other_image = SnapshotNode {
            image: "bitcoin/bitcoin:32.0",
            ..node(Network::Regtest)
        };
        let loadable = check_snapshot(
            "utxo.dat",
            parsed(Network::Regtest, REGTEST_299),
            other_image,
        )
        .unwrap();
        assert!(
            loadable.notes[0].contains("bitcoin/bitcoin:32.0, not bitcoin/bitcoin:31.1"),
            "{:?}",
            loadable.notes
        );
        let unknown = "11".repeat(32);
        let err = check_snapshot("utxo.dat", parsed(Network::Regtest, &unknown), other_image)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("this table is Bitcoin Core 31.1's (bitcoin/bitcoin:31.1); bitcoind runs bitcoin/bitcoin:32.0"),
            "{err}"
        );
    }

    #[test]
    fn truncated_foreign_and_future_files_are_refused() {
        let whole = metadata_bytes(Network::Regtest, REGTEST_299, 1);
        assert!(matches!(
            parse_metadata("utxo.dat", &whole[..20], 20),
            Err(SnapshotError::Truncated { size: 20, .. })
        ));
        assert!(matches!(
            parse_metadata("utxo.dat", &whole[..3], 3),
            Err(SnapshotError::Truncated { size: 3, .. })
        ));
        assert!(matches!(
            parse_metadata("empty", &[], 0),
            Err(SnapshotError::Truncated { size: 0, .. })
        ));
        let err = parse_metadata("blk00000.dat", &[0xfa; 60], 60).unwrap_err();
        assert_eq!(
            err.to_string().lines().next().unwrap(),
            "blk00000.dat starts with fafafafafa, not a UTXO snapshot's magic bytes (7574786fff, \"utxo\\xff\"); nothing was changed"
        );
        let mut future = whole.clone();
        future[5] = 3;
        assert!(matches!(
            parse_metadata("utxo.dat", &future, 51),
            Err(SnapshotError::UnsupportedVersion { version: 3, .. })
        ));
        let mut simnet = whole;
        simnet[7..11].copy_from_slice(&message_start(Network::Simnet));
        assert!(matches!(
            parse_metadata("utxo.dat", &simnet, 51),
            Err(SnapshotError::UnknownNetwork { magic, .. }) if magic == "161c1412"
        ));
    }
}
