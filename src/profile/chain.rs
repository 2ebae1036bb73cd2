//! What a Bitcoin node's chain needs on disk. The profile's checks, `openlsp init`'s questions
//! and its disk checks all judge a disk by these numbers.

use super::quantity::Bytes;

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
