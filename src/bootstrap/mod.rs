//! Chain bootstrap: a new Bitcoin node synced in hours instead of days, from a copy of a chain
//! the operator trusts (a datadir on the machine that has the node's disk, or another node's
//! datadir over SSH: [`remote`]) or from a UTXO snapshot that bitcoind loads (assumeutxo:
//! [`snapshot`]).
//!
//! This module decides and never prints or talks to the cluster: what each side of the copy
//! holds ([`files`]), which network a chain is ([`network`]), whether the copy may go ahead
//! ([`preflight`]), whether the node would load a snapshot ([`snapshot`]), and what the copy Job
//! is told ([`CopyJob`], rendered by plan/ from templates/bootstrap/). commands/bootstrap/ runs
//! the steps through deploy/ and cluster/: preflight, stop, copy, start, summary.

pub mod files;
pub mod network;
pub mod preflight;
pub mod remote;
pub mod snapshot;

/// What the copy Job does, as plan/ renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyJob {
    /// The chain directory (a network's directory of a datadir): on the node's machine, mounted
    /// read-only in the Job's pod, or on the source host of `remote`.
    pub source: String,
    /// Set when the source is another host, read over SSH.
    pub remote: Option<RemoteCopy>,
    /// The chain directories the source has (copied), and those only the target has (removed
    /// with `delete`).
    pub dirs: Vec<&'static str>,
    pub absent: Vec<&'static str>,
    /// Remove the target's files that the source lacks, inside the chain directories only.
    pub delete: bool,
    /// rsync's `--bwlimit`, in KiB per second.
    pub bwlimit: Option<u64>,
    /// The command-line arguments that repeat this bootstrap, recorded on the Job and the node.
    pub arguments: String,
}

/// A source host as the copy Job reaches it: its address (which its NetworkPolicy admits alone),
/// the login, the name its host key is under, and the Secret's values.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteCopy {
    pub user: String,
    /// The host as the operator named it: the key's name in known_hosts.
    pub host: String,
    pub address: std::net::IpAddr,
    pub port: u16,
    /// The private key (the provided secret `bootstrap-ssh`).
    pub key: Vec<u8>,
    /// known_hosts lines for the host, from the operator's known_hosts.
    pub known_hosts: String,
}

impl std::fmt::Debug for RemoteCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCopy")
            .field("user", &self.user)
            .field("host", &self.host)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("key", &"<not shown>")
            .finish_non_exhaustive()
    }
}

/// What the snapshot's copy Job does, as plan/ renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCopy {
    /// The snapshot file on the node's machine, mounted read-only in the Job's pod.
    pub file: String,
    /// Its name in the node's snapshot directory.
    pub name: String,
    /// The command-line arguments that repeat this bootstrap, recorded on the Job.
    pub arguments: String,
}

/// How far rsync has come, from one of its `--info=progress2` lines:
/// `  1,234,567  12%   10.23MB/s    0:00:12 (xfr#3, to-chk=10/20)`.
pub fn progress_of(line: &str) -> Option<(u64, u8)> {
    let mut words = line.split_whitespace();
    let bytes = words.next()?;
    let percent = words.next()?.strip_suffix('%')?.parse().ok()?;
    if !bytes.chars().all(|c| c.is_ascii_digit() || c == ',') {
        return None;
    }
    Some((bytes.replace(',', "").parse().ok()?, percent))
}

/// The bytes the copy script reports in its result (`copied <bytes>`, the container's
/// termination message).
pub fn copied_of(message: &str) -> Option<u64> {
    message
        .lines()
        .find_map(|line| line.strip_prefix("copied "))
        .and_then(|bytes| bytes.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsync_progress_lines_give_bytes_and_percent() {
        assert_eq!(
            progress_of("  1,234,567  12%   10.23MB/s    0:00:12 (xfr#3, to-chk=10/20)"),
            Some((1_234_567, 12))
        );
        assert_eq!(progress_of("openlsp-bootstrap: copying blocks"), None);
        assert_eq!(progress_of("Number of files: 12 (reg: 10, dir: 2)"), None);
    }

    #[test]
    fn the_result_line_gives_the_bytes_copied() {
        assert_eq!(copied_of("copied 4096\n"), Some(4096));
        assert_eq!(copied_of("failed: rsync exited with code 23\n"), None);
    }
}
