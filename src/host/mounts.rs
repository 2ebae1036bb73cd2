//! `/proc/mounts` and `/etc/fstab`: which paths are mount points, which filesystem holds a
//! path, and what comes back after a reboot. Both files share one format.

use std::path::Path;

/// One line of a mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The device (`/dev/sda1`, `UUID=…`, `tmpfs`).
    pub source: String,
    /// The mount point.
    pub target: String,
    pub fstype: String,
}

impl Mount {
    /// Whether two mounts show the same filesystem (bind mounts share their device).
    pub fn same_filesystem(&self, other: &Mount) -> bool {
        if self.source.starts_with("/dev/") {
            self.source == other.source
        } else {
            self.target == other.target
        }
    }
}

/// Filesystems a data disk can carry; anything else (tmpfs, squashfs, vfat boot…) is not one.
const DATA_FILESYSTEMS: [&str; 7] = ["ext4", "ext3", "ext2", "xfs", "btrfs", "f2fs", "zfs"];
/// Mount points that belong to the system, not to data.
const SYSTEM_PREFIXES: [&str; 10] = [
    "/boot",
    "/snap",
    "/var/snap",
    "/var/lib/snapd",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/run",
    "/proc",
    "/sys",
    "/dev",
];

/// A parsed mount table, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    pub mounts: Vec<Mount>,
}

impl MountTable {
    /// Parses `/proc/mounts` or `/etc/fstab`: comments and short lines are skipped, octal
    /// escapes (`\040` for a space) are decoded.
    pub fn parse(text: &str) -> Self {
        let mounts = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let mut fields = line.split_whitespace().map(unescape);
                Some(Mount {
                    source: fields.next()?,
                    target: fields.next()?,
                    fstype: fields.next()?,
                })
            })
            .collect();
        MountTable { mounts }
    }

    /// The mount whose mount point is exactly `path` (the last one wins, as in the kernel).
    pub fn at(&self, path: &str) -> Option<&Mount> {
        self.mounts.iter().rev().find(|m| m.target == path)
    }

    /// The mount that holds `path`: the longest mount point that contains it.
    pub fn containing(&self, path: &str) -> Option<&Mount> {
        self.mounts
            .iter()
            .rev()
            .filter(|m| Path::new(path).starts_with(&m.target))
            .max_by_key(|m| Path::new(&m.target).components().count())
    }

    /// Mounted filesystems that could be a data disk, in file order.
    pub fn data_disks(&self) -> Vec<&Mount> {
        let mut disks: Vec<&Mount> = Vec::new();
        for mount in &self.mounts {
            let system = mount.target == "/"
                || SYSTEM_PREFIXES
                    .iter()
                    .any(|prefix| Path::new(&mount.target).starts_with(prefix));
            if DATA_FILESYSTEMS.contains(&mount.fstype.as_str())
                && !system
                && !disks.iter().any(|d| d.target == mount.target)
            {
                disks.push(mount);
            }
        }
        disks
    }
}

/// Decodes the octal escapes the kernel and fstab use for spaces, tabs and backslashes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/mmcblk0p2 / ext4 rw,relatime 0 0
/dev/mmcblk0p1 /boot/firmware vfat rw 0 0
/dev/loop3 /snap/microk8s/7687 squashfs ro 0 0
tmpfs /run tmpfs rw 0 0
/dev/sda1 /srv/blockchain ext4 rw,noatime 0 0
/dev/sdb1 /srv/my\\040disk ext4 rw 0 0
/dev/sda1 /srv/bound ext4 rw 0 0
";

    #[test]
    fn finds_mount_points_and_the_filesystem_holding_a_path() {
        let table = MountTable::parse(MOUNTS);
        assert_eq!(table.at("/srv/blockchain").unwrap().source, "/dev/sda1");
        assert!(table.at("/srv/lightning").is_none());
        assert_eq!(table.containing("/srv/lightning").unwrap().target, "/");
        assert_eq!(
            table.containing("/srv/blockchain/bitcoind").unwrap().target,
            "/srv/blockchain"
        );
        // A prefix of the name is not a parent directory.
        assert_eq!(table.containing("/srv/blockchainx").unwrap().target, "/");
        assert_eq!(table.at("/srv/my disk").unwrap().source, "/dev/sdb1");
    }

    #[test]
    fn data_disks_leave_out_the_system() {
        let table = MountTable::parse(MOUNTS);
        let targets: Vec<&str> = table
            .data_disks()
            .iter()
            .map(|m| m.target.as_str())
            .collect();
        assert_eq!(targets, ["/srv/blockchain", "/srv/my disk", "/srv/bound"]);
        let bound = table.at("/srv/bound").unwrap();
        assert!(bound.same_filesystem(table.at("/srv/blockchain").unwrap()));
        assert!(!bound.same_filesystem(table.at("/").unwrap()));
    }

    #[test]
    fn fstab_comments_and_blank_lines_are_skipped() {
        let table = MountTable::parse(
            "# <file system> <mount point>\n\nLABEL=writable / ext4 defaults 0 1\nUUID=1 /srv/lightning ext4 defaults,nofail 0 2\n",
        );
        assert_eq!(table.mounts.len(), 2);
        assert!(table.at("/srv/lightning").is_some());
    }
}
