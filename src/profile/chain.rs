//! How much of the chain a Bitcoin node keeps, and what that needs on disk. The profile's
//! checks, `openlsp init`'s questions and its disk checks all judge a disk by these numbers.

use super::quantity::Bytes;
use super::site::Network;

/// bitcoind refuses a smaller prune target.
pub const MIN_PRUNE_MIB: u64 = 550;
/// Mainnet chain size for a full (unpruned) node, November 2026, with room to grow for a year.
const MAINNET_FULL_NODE: Bytes = Bytes::gib(850);
/// Extra room the transaction index needs on mainnet.
const MAINNET_TXINDEX: Bytes = Bytes::gib(70);

/// Disk space a full mainnet node needs.
pub fn mainnet_chain_size(txindex: bool) -> Bytes {
    if txindex {
        Bytes(MAINNET_FULL_NODE.0 + MAINNET_TXINDEX.0)
    } else {
        MAINNET_FULL_NODE
    }
}

/// How much of the chain bitcoind keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainMode {
    /// The full chain and the transaction index.
    Txindex,
    /// The full chain, no index.
    Full,
    /// Only recent blocks, this many MiB.
    Pruned(u64),
}

impl ChainMode {
    /// What this choice costs in disk space on `network`.
    pub fn describe(self, network: Network) -> String {
        let size = |txindex: bool| {
            if network == Network::Mainnet {
                format!("about {}", mainnet_chain_size(txindex))
            } else {
                format!("far less than mainnet's {}", mainnet_chain_size(txindex))
            }
        };
        match self {
            ChainMode::Txindex => format!("full chain with txindex: needs {}", size(true)),
            ChainMode::Full => format!("full chain without txindex: needs {}", size(false)),
            ChainMode::Pruned(mib) => format!(
                "pruned to {mib} MiB of recent blocks: small, no txindex; LND works, but slower"
            ),
        }
    }

    /// Whether the chain fits on a disk of `size` (always, off mainnet or pruned).
    pub fn fits(self, network: Network, size: Bytes) -> bool {
        match self {
            ChainMode::Txindex if network == Network::Mainnet => size >= mainnet_chain_size(true),
            ChainMode::Full if network == Network::Mainnet => size >= mainnet_chain_size(false),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_choices_state_their_size() {
        assert!(
            ChainMode::Txindex
                .describe(Network::Mainnet)
                .contains("920Gi")
        );
        assert!(ChainMode::Full.describe(Network::Mainnet).contains("850Gi"));
        assert!(!ChainMode::Txindex.fits(Network::Mainnet, Bytes::gib(900)));
        assert!(ChainMode::Full.fits(Network::Mainnet, Bytes::gib(900)));
        assert!(ChainMode::Txindex.fits(Network::Signet, Bytes::gib(50)));
    }
}
