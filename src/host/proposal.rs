//! What `openlsp init` proposes from this machine: which mounted disks hold the chain and the
//! Lightning state, whether two paths share a filesystem, and the size to write for a disk.
//! The profile itself is written by [`crate::profile::NewSite`].

use super::inspect::{Machine, Space};
use super::mounts::{Mount, MountTable};
use crate::profile::quantity::Bytes;

/// A mounted filesystem that could be a data disk, with its size when `df` knew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCandidate {
    pub mount: Mount,
    pub space: Option<Space>,
}

impl DiskCandidate {
    /// The machine's data disks, with the sizes [`Machine::measure`] found.
    pub fn all(machine: &Machine) -> Vec<DiskCandidate> {
        machine
            .mounts
            .data_disks()
            .into_iter()
            .map(|mount| DiskCandidate {
                mount: mount.clone(),
                space: machine
                    .spaces
                    .get(&mount.target)
                    .and_then(|space| space.as_ref().ok().copied()),
            })
            .collect()
    }

    /// `/srv/blockchain (ext4, 1.8Ti, 1.7Ti free)`.
    pub fn label(&self) -> String {
        let space = self
            .space
            .map(|s| format!(", {}, {} free", s.size.human(), s.free.human()))
            .unwrap_or_default();
        format!("{} ({}{space})", self.mount.target, self.mount.fstype)
    }
}

/// Which candidate holds what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskProposal<'a> {
    pub blockchain: Option<&'a DiskCandidate>,
    pub lightning: Option<&'a DiskCandidate>,
}

fn named(candidate: &DiskCandidate, words: &[&str]) -> bool {
    let target = candidate.mount.target.to_ascii_lowercase();
    words.iter().any(|word| target.contains(word))
}

/// The chain goes on the disk named for it, else the biggest; Lightning on the disk named for
/// it, else the smallest of the others. Never both on one disk.
pub fn propose_disks(candidates: &[DiskCandidate]) -> DiskProposal<'_> {
    let size = |c: &&DiskCandidate| c.space.map_or(0, |s| s.size.0);
    let blockchain = candidates
        .iter()
        .find(|c| named(c, &["blockchain", "bitcoin", "chain"]))
        .or_else(|| candidates.iter().max_by_key(size));
    let others = || {
        candidates.iter().filter(move |c| {
            Some(c.mount.target.as_str()) != blockchain.map(|b| b.mount.target.as_str())
        })
    };
    let lightning = others()
        .find(|c| named(c, &["lightning", "lnd"]))
        .or_else(|| others().min_by_key(size));
    DiskProposal {
        blockchain,
        lightning,
    }
}

/// Whether Lightning state at `lightning` would share the blockchain's filesystem: the same
/// path, or a path on the filesystem mounted for the chain (a bind mount or a directory of
/// it). A chain path that is not mounted yet (it is on the root filesystem) shares nothing.
pub fn on_chain_filesystem(mounts: &MountTable, blockchain: &str, lightning: &str) -> bool {
    if blockchain == lightning {
        return true;
    }
    let (Some(chain), Some(state)) = (mounts.containing(blockchain), mounts.containing(lightning))
    else {
        return false;
    };
    let chain_on_root = mounts
        .root()
        .is_some_and(|root| root.same_filesystem(chain));
    !chain_on_root && chain.same_filesystem(state)
}

/// The size written for a disk of `size` bytes: whole GiB, rounded down so it fits.
pub fn disk_size(size: Bytes) -> Bytes {
    let gib = size.0 / Bytes::gib(1).0;
    if gib > 0 {
        Bytes::gib(gib)
    } else {
        Bytes::mib(size.as_mib().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(target: &str, gib: u64) -> DiskCandidate {
        DiskCandidate {
            mount: Mount {
                source: format!("/dev/{}", target.trim_start_matches("/srv/")),
                target: target.to_owned(),
                fstype: "ext4".to_owned(),
            },
            space: Some(Space {
                size: Bytes::gib(gib),
                free: Bytes::gib(gib),
            }),
        }
    }

    #[test]
    fn proposes_by_name_then_by_size() {
        let disks = [
            candidate("/srv/a", 30),
            candidate("/srv/b", 2000),
            candidate("/srv/c", 100),
        ];
        let proposal = propose_disks(&disks);
        assert_eq!(proposal.blockchain.unwrap().mount.target, "/srv/b");
        assert_eq!(proposal.lightning.unwrap().mount.target, "/srv/a");
        let named = [
            candidate("/srv/lightning", 2000),
            candidate("/srv/blockchain", 30),
        ];
        let proposal = propose_disks(&named);
        assert_eq!(proposal.blockchain.unwrap().mount.target, "/srv/blockchain");
        assert_eq!(proposal.lightning.unwrap().mount.target, "/srv/lightning");
        let one = [candidate("/srv/data", 900)];
        assert_eq!(propose_disks(&one).lightning, None);
    }

    #[test]
    fn lightning_shares_the_chain_filesystem_by_device_not_by_name() {
        let mounts = MountTable::parse(
            "/dev/mmcblk0p2 / ext4 rw 0 0\n/dev/sda1 /srv/blockchain ext4 rw 0 0\n/dev/sda1 /srv/lightning ext4 rw 0 0\n/dev/sda2 /srv/lnd ext4 rw 0 0\n",
        );
        assert!(on_chain_filesystem(
            &mounts,
            "/srv/blockchain",
            "/srv/blockchain"
        ));
        assert!(on_chain_filesystem(
            &mounts,
            "/srv/blockchain",
            "/srv/lightning"
        ));
        assert!(on_chain_filesystem(
            &mounts,
            "/srv/blockchain",
            "/srv/blockchain/lnd"
        ));
        assert!(!on_chain_filesystem(&mounts, "/srv/blockchain", "/srv/lnd"));
        // Neither is mounted yet: both are on the root filesystem for now, which proves nothing.
        assert!(!on_chain_filesystem(&mounts, "/srv/chain", "/srv/ln"));
        assert!(!on_chain_filesystem(&mounts, "/srv/blockchain", "/srv/new"));
    }

    #[test]
    fn disks_are_written_in_whole_gib_rounded_down() {
        assert_eq!(disk_size(Bytes(2_000_398_934_016)), Bytes::gib(1863));
    }
}
