//! Channel backups as the operator sees them. A node's pod publishes its cluster copy, Secret
//! `<node>-scb`: the backup file and the status of the backup container (what each target held
//! when last verified). This reads that status back and judges every target against the profile
//! and the cluster copy: fresh, stale or failing, with the reason. It also knows what a channel
//! backup file looks like. Pure: commands fetch the Secret and word what this returns.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::plan::names;
use crate::profile::Implementation;

/// How often the backup container checks every target when nothing changed.
pub const RECHECK: Duration = Duration::from_secs(300);
/// A target not verified for three checks is stale: the container is not running, or stuck.
pub const STALE_AFTER: Duration = Duration::from_secs(3 * 300);
/// The smallest channel backup LND writes: a 24-byte nonce, then the sealed multi backup
/// (version byte, channel count, a 16-byte tag) (lnd's chanbackup: multi.go and crypto.go).
pub const MIN_BACKUP_SIZE: usize = 24 + 1 + 4 + 16;
/// The smallest `emergency.recover` Core Lightning reads: a secretstream header (24 bytes) and
/// its authentication tag (17); its chanbackup plugin calls a shorter file corrupted.
pub const MIN_CLN_BACKUP_SIZE: usize = 24 + 17;
/// A larger file is not a channel backup (about 300 bytes per channel).
pub const MAX_BACKUP_SIZE: usize = 64 * 1024 * 1024;

/// What the backup container last reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The file's checksum and when it last changed (unix seconds), once the node wrote it.
    pub source: Option<(String, i64)>,
    pub targets: Vec<TargetStatus>,
}

/// One target in the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    pub name: String,
    /// The checksum of the copy last verified on it.
    pub sha256: Option<String>,
    /// When it was last verified (unix seconds; 0: never).
    pub verified: i64,
    /// Failed attempts since the container started.
    pub failures: u64,
    /// The last attempt's error, while it is failing.
    pub error: Option<String>,
}

/// Reads the status file: `source <sha256|-> <changed>` and one
/// `target <name> <sha256|-> <verified> <failures> [error...]` line per target. Lines that do
/// not parse are skipped.
pub fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    for line in text.lines() {
        let mut words = line.splitn(6, ' ');
        match words.next() {
            Some("source") => {
                let sha = words.next().filter(|s| is_sha256(s));
                let changed = words.next().and_then(|n| n.parse().ok());
                if let (Some(sha), Some(changed)) = (sha, changed) {
                    status.source = Some((sha.to_owned(), changed));
                }
            }
            Some("target") => {
                let (Some(name), Some(sha), Some(verified), Some(failures)) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    continue;
                };
                let (Ok(verified), Ok(failures)) = (verified.parse(), failures.parse()) else {
                    continue;
                };
                status.targets.push(TargetStatus {
                    name: name.to_owned(),
                    sha256: is_sha256(sha).then(|| sha.to_owned()),
                    verified,
                    failures,
                    error: words
                        .next()
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned),
                });
            }
            _ => {}
        }
    }
    status
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The SHA-256 of a backup, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The file a node of `implementation` keeps its channel backup in, and the key of its cluster
/// copy: LND's `channel.backup`, Core Lightning's `emergency.recover`.
pub fn backup_file(implementation: Implementation) -> &'static str {
    match implementation {
        Implementation::Lnd => names::LND_BACKUP_FILE,
        Implementation::Cln => names::CLN_BACKUP_FILE,
    }
}

/// Why `bytes` cannot be the channel backup a node of `implementation` wrote, if it cannot.
pub fn check_backup_file(implementation: Implementation, bytes: &[u8]) -> Result<(), String> {
    let (least, layout) = match implementation {
        Implementation::Lnd => (
            MIN_BACKUP_SIZE,
            "a nonce and a sealed, encrypted list of channels",
        ),
        Implementation::Cln => (
            MIN_CLN_BACKUP_SIZE,
            "a secretstream header and an encrypted, authenticated list of channels",
        ),
    };
    if bytes.len() < least {
        return Err(format!(
            "it has {} bytes; {} has at least {least} ({layout})",
            bytes.len(),
            backup_file(implementation)
        ));
    }
    if bytes.len() > MAX_BACKUP_SIZE {
        return Err(format!(
            "it has {} bytes, far more than a channel backup of any node",
            bytes.len()
        ));
    }
    Ok(())
}

/// How one target stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Fresh,
    Stale(String),
    Failing(String),
}

impl Verdict {
    /// `fresh`, `stale` or `failing`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Fresh => "fresh",
            Verdict::Stale(_) => "stale",
            Verdict::Failing(_) => "failing",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Fresh => None,
            Verdict::Stale(reason) | Verdict::Failing(reason) => Some(reason),
        }
    }
}

/// One target of one node, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReport {
    pub target: String,
    /// When it was last verified (unix seconds), if ever.
    pub verified: Option<i64>,
    pub sha256: Option<String>,
    /// Whether its copy is the cluster copy; None when either is unknown.
    pub matches_cluster: Option<bool>,
    pub verdict: Verdict,
}

/// `45s`, `12m`, `3h`, `2d`.
pub fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

/// Every target of the profile (`targets`, by name) for a node whose cluster copy holds
/// `cluster_copy` and status `status`, at `now` (unix seconds).
pub fn judge(
    targets: &[String],
    cluster_copy: Option<&[u8]>,
    status: Option<&Status>,
    now: i64,
) -> Vec<TargetReport> {
    let cluster_sha = cluster_copy.map(sha256_hex);
    targets
        .iter()
        .map(|target| {
            let reported = status.and_then(|s| s.targets.iter().find(|t| &t.name == target));
            let Some(reported) = reported else {
                return TargetReport {
                    target: target.clone(),
                    verified: None,
                    sha256: None,
                    matches_cluster: None,
                    verdict: Verdict::Stale(
                        "the backup container has not reported this target: is the node's pod running with this profile applied?"
                            .to_owned(),
                    ),
                };
            };
            let verified = (reported.verified > 0).then_some(reported.verified);
            let matches_cluster = match (&reported.sha256, &cluster_sha) {
                (Some(ours), Some(theirs)) => Some(ours == theirs),
                _ => None,
            };
            let verdict = if let Some(error) = &reported.error {
                Verdict::Failing(format!(
                    "{error} ({} failed attempts since the container started)",
                    reported.failures
                ))
            } else if reported.sha256.is_none() || verified.is_none() {
                Verdict::Stale("no copy verified there yet".to_owned())
            } else if matches_cluster == Some(false) {
                Verdict::Stale(
                    "it holds another version than the cluster copy: the backup container has not copied the latest change yet"
                        .to_owned(),
                )
            } else if now - reported.verified > STALE_AFTER.as_secs() as i64 {
                Verdict::Stale(format!(
                    "last verified {} ago; the backup container checks every {} minutes: is the node's pod running?",
                    age(now - reported.verified),
                    RECHECK.as_secs() / 60
                ))
            } else {
                Verdict::Fresh
            };
            TargetReport {
                target: target.clone(),
                verified,
                sha256: reported.sha256.clone(),
                matches_cluster,
                verdict,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn status(text: &str) -> Status {
        parse_status(text)
    }

    #[test]
    fn the_status_file_parses_and_bad_lines_are_skipped() {
        let text = format!(
            "source {A} 1700000000\ntarget usb {A} 1700000100 0 \ntarget nas - 0 3 dial tcp ***:22: connection refused\ntarget broken x\ngarbage\n"
        );
        let parsed = status(&text);
        assert_eq!(parsed.source, Some((A.to_owned(), 1_700_000_000)));
        assert_eq!(parsed.targets.len(), 2);
        assert_eq!(parsed.targets[0].error, None);
        assert_eq!(parsed.targets[1].sha256, None);
        assert_eq!(
            parsed.targets[1].error.as_deref(),
            Some("dial tcp ***:22: connection refused")
        );
    }

    #[test]
    fn fresh_stale_and_failing_targets() {
        let backup = b"a channel backup of forty-five bytes or more..".as_slice();
        let sha = sha256_hex(backup);
        let now = 1_700_001_000;
        let text = format!(
            "source {sha} 1700000000\ntarget fresh {sha} {} 0 \ntarget old {sha} {} 0 \ntarget other {A} {} 0 \ntarget down {sha} {} 4 connection refused\n",
            now - 60,
            now - 3600,
            now - 60,
            now - 3600
        );
        let parsed = status(&text);
        let names: Vec<String> = ["fresh", "old", "other", "down", "new"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let reports = judge(&names, Some(backup), Some(&parsed), now);
        let words: Vec<&str> = reports.iter().map(|r| r.verdict.word()).collect();
        assert_eq!(words, ["fresh", "stale", "stale", "failing", "stale"]);
        assert!(reports[1].verdict.reason().unwrap().contains("1h ago"));
        assert_eq!(reports[2].matches_cluster, Some(false));
        assert!(
            reports[3]
                .verdict
                .reason()
                .unwrap()
                .starts_with("connection refused (4 failed")
        );
        assert!(
            reports[4]
                .verdict
                .reason()
                .unwrap()
                .contains("not reported")
        );
        // Without a cluster copy nothing can be compared, and nothing is fresh by mistake.
        let without = judge(&names[..1], None, Some(&parsed), now);
        assert_eq!(without[0].matches_cluster, None);
    }

    #[test]
    fn ages_and_file_checks() {
        assert_eq!(age(59), "59s");
        assert_eq!(age(150), "2m");
        assert_eq!(age(3 * 3600 + 5), "3h");
        assert_eq!(age(-5), "0s");
        assert_eq!(age(3 * 86400), "3d");
        assert!(
            check_backup_file(Implementation::Lnd, &[0; 10])
                .unwrap_err()
                .contains("10 bytes; channel.backup has at least 45")
        );
        assert_eq!(
            check_backup_file(Implementation::Lnd, &[0; MIN_BACKUP_SIZE]),
            Ok(())
        );
        assert!(
            check_backup_file(Implementation::Cln, &[0; 40])
                .unwrap_err()
                .contains("40 bytes; emergency.recover has at least 41")
        );
        assert_eq!(
            check_backup_file(Implementation::Cln, &[0; MIN_CLN_BACKUP_SIZE]),
            Ok(())
        );
        assert!(
            check_backup_file(Implementation::Cln, &vec![0; MAX_BACKUP_SIZE + 1])
                .unwrap_err()
                .contains("far more")
        );
    }
}
