//! Which network a copied chain belongs to. Every record in `blocks/blk*.dat` starts with the
//! network's message start bytes; since Bitcoin Core 28 the block files are XORed with the key
//! in `blocks/xor.dat`. The bytes and directory names are Bitcoin Core's
//! (src/kernel/chainparams.cpp, src/chainparamsbase.cpp).

use crate::profile::Network;

/// `pchMessageStart` of each network. Signet's is the first four bytes of the double SHA-256
/// of the default signet challenge.
pub fn message_start(network: Network) -> [u8; 4] {
    match network {
        Network::Mainnet => [0xf9, 0xbe, 0xb4, 0xd9],
        Network::Testnet => [0x0b, 0x11, 0x09, 0x07],
        Network::Testnet4 => [0x1c, 0x16, 0x3f, 0x28],
        Network::Signet => [0x0a, 0x03, 0xcf, 0x40],
        Network::Regtest => [0xfa, 0xbf, 0xb5, 0xda],
        // btcd's wire.SimNet (0x12141c16, little endian): no bitcoind chain has it, and
        // bootstrap refuses btcd nodes.
        Network::Simnet => [0x16, 0x1c, 0x14, 0x12],
    }
}

/// The network whose message start `bytes` are.
pub fn network_of(bytes: [u8; 4]) -> Option<Network> {
    Network::ALL
        .into_iter()
        .find(|network| message_start(*network) == bytes)
}

/// The subdirectory of a datadir that holds a network's chain (`regtest`); mainnet's is the
/// datadir itself.
pub fn network_dir(network: Network) -> &'static str {
    match network {
        Network::Mainnet => "",
        Network::Testnet => "testnet3",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        Network::Simnet => "simnet",
    }
}

/// The first four bytes of a block file as written, un-XORed with the key of `blocks/xor.dat`
/// (absent before Bitcoin Core 28, all zeros when obfuscation is off).
pub fn unmask(first: [u8; 4], xor_key: &[u8]) -> [u8; 4] {
    if xor_key.is_empty() {
        return first;
    }
    let mut bytes = first;
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte ^= xor_key[index % xor_key.len()];
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_is_told_apart_by_its_message_start() {
        for network in Network::ALL {
            assert_eq!(network_of(message_start(network)), Some(network));
        }
        assert_eq!(network_of([0, 0, 0, 0]), None);
    }

    #[test]
    fn a_block_file_xored_with_its_key_shows_its_network() {
        let key = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let regtest = message_start(Network::Regtest);
        let written = [
            regtest[0] ^ 0x11,
            regtest[1] ^ 0x22,
            regtest[2] ^ 0x33,
            regtest[3] ^ 0x44,
        ];
        assert_eq!(network_of(unmask(written, &key)), Some(Network::Regtest));
        assert_eq!(unmask(regtest, &[]), regtest, "no key: written as is");
        assert_eq!(
            unmask(regtest, &[0; 8]),
            regtest,
            "a zero key changes nothing"
        );
    }
}
