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

    /// The mount whose mount point is `path` (the last one wins, as in the kernel);
    /// `/srv/x/` and `/srv/x` are the same mount point.
    pub fn at(&self, path: &str) -> Option<&Mount> {
        let path = mount_point(path);
        self.mounts
            .iter()
            .rev()
            .find(|m| mount_point(&m.target) == path)
    }

    /// The mount that holds `path`: the longest mount point that contains it; of several
    /// mounts on one point the last wins, as in [`MountTable::at`].
    pub fn containing(&self, path: &str) -> Option<&Mount> {
        // `max_by_key` keeps the last of equal keys, so file order decides ties.
        self.mounts
            .iter()
            .filter(|m| Path::new(path).starts_with(&m.target))
            .max_by_key(|m| Path::new(&m.target).components().count())
    }

    /// The root filesystem's mount.
    pub fn root(&self) -> Option<&Mount> {
        self.at("/")
    }

    /// Every mount of a data filesystem outside the system's own places, in file order; a
    /// filesystem mounted at several places (bind mounts) is listed at each of them.
    pub fn data_mounts(&self) -> Vec<&Mount> {
        self.mounts
            .iter()
            .filter(|mount| {
                let system = mount.target == "/"
                    || SYSTEM_PREFIXES
                        .iter()
                        .any(|prefix| Path::new(&mount.target).starts_with(prefix));
                DATA_FILESYSTEMS.contains(&mount.fstype.as_str()) && !system
            })
            .collect()
    }

    /// The filesystems that could be a data disk, each once, at its first mount point, in file
    /// order. A bind mount of one of them or of the root filesystem is not another disk.
    pub fn data_disks(&self) -> Vec<&Mount> {
        let root = self.root();
        let mut disks: Vec<&Mount> = Vec::new();
        for mount in self.data_mounts() {
            let on_root = root.is_some_and(|root| root.same_filesystem(mount));
            if !on_root && !disks.iter().any(|d| d.same_filesystem(mount)) {
                disks.push(mount);
            }
        }
        disks
    }
}

/// A mount point without trailing slashes (`/` stays `/`).
fn mount_point(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/",
        trimmed => trimmed,
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
        assert_eq!(targets, ["/srv/blockchain", "/srv/my disk"]);
        let bound = table.at("/srv/bound").unwrap();
        assert!(bound.same_filesystem(table.at("/srv/blockchain").unwrap()));
        assert!(!bound.same_filesystem(table.at("/").unwrap()));
        assert_eq!(
            table.data_mounts().len(),
            3,
            "the bind mount is still a mount"
        );
    }

    #[test]
    fn a_bind_mount_of_the_root_filesystem_is_not_a_data_disk() {
        let table = MountTable::parse(
            "/dev/root / ext4 rw 0 0\n/dev/root /srv/lightning ext4 rw 0 0\n/dev/sda1 /srv/chain xfs rw 0 0\n",
        );
        let targets: Vec<&str> = table
            .data_disks()
            .iter()
            .map(|m| m.target.as_str())
            .collect();
        assert_eq!(targets, ["/srv/chain"]);
    }

    #[test]
    fn the_last_mount_on_a_point_wins_for_at_and_containing_alike() {
        let table = MountTable::parse(
            "/dev/sda2 / ext4 rw 0 0\n/dev/sda1 /srv/x ext4 rw 0 0\n/dev/sdb1 /srv/x xfs rw 0 0\n",
        );
        assert_eq!(table.at("/srv/x").unwrap().source, "/dev/sdb1");
        assert_eq!(table.containing("/srv/x").unwrap().source, "/dev/sdb1");
        assert_eq!(table.containing("/srv/x/lnd").unwrap().source, "/dev/sdb1");
    }

    #[test]
    fn a_trailing_slash_names_the_same_mount_point() {
        let fstab =
            MountTable::parse("UUID=1 /srv/x/ ext4 defaults 0 2\nLABEL=w / ext4 defaults 0 1\n");
        assert_eq!(fstab.at("/srv/x").unwrap().source, "UUID=1");
        assert_eq!(fstab.at("/srv/x/").unwrap().source, "UUID=1");
        assert_eq!(fstab.at("/").unwrap().source, "LABEL=w");
        assert!(fstab.at("/srv").is_none());
        assert_eq!(mount_point("//"), "/");
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
