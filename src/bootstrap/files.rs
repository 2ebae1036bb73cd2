//! The chain files on each side of a copy, read on the machine that has both: every file under
//! `blocks/`, `chainstate/` and `indexes/` with its size, the first bytes of the lowest-numbered
//! block file (which tell the network), the tip's height its debug.log names, and the free
//! space of the disk that holds it.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::network::{network_dir, unmask};
use crate::profile::Network;

/// What bitcoind writes while it runs and removes when it stops (`-pid`'s default).
pub const PID_FILE: &str = "bitcoind.pid";

/// The directories a bootstrap copies, in the order they are listed.
pub const CHAIN_DIRS: [&str; 3] = ["blocks", "chainstate", "indexes"];

/// Files of the chain directories, by path relative to the network's directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainFiles {
    pub files: BTreeMap<String, u64>,
}

/// A source's chain: the directory it is in, its files, the message start of its first block
/// file, un-XORed (None when it has no block file), the tip's height its debug.log names, and
/// the bitcoind.pid that says a node runs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub dir: String,
    pub files: ChainFiles,
    pub first_block_file: Option<String>,
    pub magic: Option<[u8; 4]>,
    pub tip: Option<u64>,
    pub running: Option<String>,
}

/// Why a side of the copy could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> InspectError + '_ {
    move |source| InspectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The temporary file rsync writes while copying `name`: `.name.XXXXXX`. One left by a killed
/// copy is not part of the chain (the copy script removes them).
pub fn is_rsync_temporary(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.rsplit_once('.'))
        .is_some_and(|(_, suffix)| {
            suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// `blk00042.dat` → 42.
fn block_file_number(name: &str) -> Option<u32> {
    name.strip_prefix("blk")?
        .strip_suffix(".dat")
        .filter(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))?
        .parse()
        .ok()
}

impl ChainFiles {
    pub fn total(&self) -> u64 {
        self.files.values().sum()
    }

    /// Whether `dir` (one of [`CHAIN_DIRS`]) has any file.
    pub fn has(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.files.keys().any(|path| path.starts_with(&prefix))
    }

    /// The chain directories that have files.
    pub fn dirs(&self) -> Vec<&'static str> {
        CHAIN_DIRS.into_iter().filter(|dir| self.has(dir)).collect()
    }

    /// The lowest-numbered block file (`blk00000.dat` unless the chain was pruned).
    pub fn first_block_file(&self) -> Option<(u32, String)> {
        self.files
            .keys()
            .filter_map(|path| path.strip_prefix("blocks/"))
            .filter_map(|name| block_file_number(name).map(|n| (n, name.to_owned())))
            .min()
    }

    /// The largest file: rsync holds a temporary copy of the file it writes.
    pub fn largest(&self) -> u64 {
        self.files.values().copied().max().unwrap_or(0)
    }
}

/// The directory of a datadir that holds a chain: `<datadir>/<network dir>` when it has
/// `blocks/`, else the datadir itself when it has `blocks/` (a network's directory given
/// directly, or mainnet), else another network's directory that has `blocks/`, so that the
/// preflight names the network the datadir holds instead of finding nothing.
pub fn chain_dir(datadir: &Path, network: Network) -> PathBuf {
    let has_blocks = |dir: &Path| dir.join("blocks").is_dir();
    let sub = network_dir(network);
    if !sub.is_empty() && has_blocks(&datadir.join(sub)) {
        return datadir.join(sub);
    }
    if has_blocks(datadir) {
        return datadir.to_path_buf();
    }
    Network::ALL
        .into_iter()
        .map(network_dir)
        .filter(|other| !other.is_empty())
        .map(|other| datadir.join(other))
        .find(|dir| has_blocks(dir))
        .unwrap_or_else(|| datadir.to_path_buf())
}

/// Free bytes for an unprivileged writer on the filesystem that holds `path`.
// statvfs's counts are 32 bits on 32-bit ARM (a Pi on armv7), so the conversions stay.
#[allow(clippy::useless_conversion)]
pub fn free_space(path: &Path) -> Result<u64, InspectError> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(|errno| InspectError::Io {
        path: path.to_path_buf(),
        source: io::Error::from(errno),
    })?;
    Ok(u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size())))
}

/// Every file under the chain directories of `dir` with its size; a missing directory has none.
pub fn read_local_files(dir: &Path) -> Result<ChainFiles, InspectError> {
    let mut files = BTreeMap::new();
    for top in CHAIN_DIRS {
        let mut stack = vec![PathBuf::from(top)];
        while let Some(relative) = stack.pop() {
            let path = dir.join(&relative);
            // The top directories may be symlinks (a separate -blocksdir): follow them.
            let entries = match fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io_error(&path)(err)),
            };
            for entry in entries {
                let entry = entry.map_err(io_error(&path))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = relative.join(&name);
                let kind = entry.file_type().map_err(io_error(&path))?;
                if kind.is_dir() {
                    stack.push(child);
                } else if kind.is_file() && !is_rsync_temporary(&name) {
                    let size = entry.metadata().map_err(io_error(&path))?.len();
                    files.insert(child.to_string_lossy().into_owned(), size);
                }
            }
        }
    }
    Ok(ChainFiles { files })
}

fn read_head(path: &Path, length: usize) -> Result<Vec<u8>, InspectError> {
    let mut bytes = Vec::with_capacity(length);
    fs::File::open(path)
        .map_err(io_error(path))?
        .take(length as u64)
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    Ok(bytes)
}

/// The chain of a local datadir for `network`.
pub fn read_local_chain(datadir: &Path, network: Network) -> Result<Chain, InspectError> {
    let dir = chain_dir(datadir, network);
    let files = read_local_files(&dir)?;
    let mut chain = Chain {
        dir: dir.display().to_string(),
        first_block_file: None,
        magic: None,
        tip: read_local_tip(&dir),
        running: [dir.join(PID_FILE), datadir.join(PID_FILE)]
            .into_iter()
            .find(|pid| pid.exists())
            .map(|pid| pid.display().to_string()),
        files,
    };
    if let Some((_, name)) = chain.files.first_block_file() {
        let head = read_head(&dir.join("blocks").join(&name), 4)?;
        let xor_path = dir.join("blocks/xor.dat");
        let key = if xor_path.is_file() {
            read_head(&xor_path, 8)?
        } else {
            Vec::new()
        };
        if let Ok(first) = <[u8; 4]>::try_from(head.as_slice()) {
            chain.magic = Some(unmask(first, &key));
        }
        chain.first_block_file = Some(name);
    }
    Ok(chain)
}

/// How much of the end of debug.log is read for the tip's height.
const LOG_TAIL: u64 = 1 << 20;

/// The height of the chain tip named by the last `UpdateTip` or `Loaded best chain` line of a
/// debug.log (an assumeutxo node's background validation aside).
pub fn tip_height(log: &str) -> Option<u64> {
    log.lines()
        .rev()
        .filter(|line| {
            (line.contains("UpdateTip") || line.contains("Loaded best chain"))
                && !line.contains("background validation")
        })
        .find_map(|line| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix("height="))
                .and_then(|height| height.parse().ok())
        })
}

/// The tip's height in `dir`/debug.log, if it names one.
pub fn read_local_tip(dir: &Path) -> Option<u64> {
    read_log_tip(&dir.join("debug.log"), 0)
}

/// The size of `dir`/debug.log now (0 when there is none): what [`read_log_tip`] skips to see
/// only what bitcoind logs from here on.
pub fn log_length(dir: &Path) -> u64 {
    fs::metadata(dir.join("debug.log")).map_or(0, |m| m.len())
}

/// The height the last tip line of `log` names, reading no further back than `from` (a length
/// of the log, from [`log_length`]) nor more than its last MiB. A log shorter than `from` was
/// started anew and is read whole.
pub fn read_log_tip(log: &Path, from: u64) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let mut file = fs::File::open(log).ok()?;
    let length = file.metadata().ok()?.len();
    let from = if from > length { 0 } else { from };
    file.seek(SeekFrom::Start(from.max(length.saturating_sub(LOG_TAIL))))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    tip_height(&String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tip_is_the_last_height_bitcoind_logged() {
        let log = "2026-01-01T00:00:01Z Loaded best chain: hashBestChain=00ab height=200 date=x\n\
                   2026-01-01T00:00:02Z UpdateTip: new best=00cd height=201 version=0x20000000\n\
                   2026-01-01T00:00:03Z [background validation] UpdateTip: new best=00ef height=7\n\
                   2026-01-01T00:00:04Z Shutdown: done\n";
        assert_eq!(tip_height(log), Some(201));
        assert_eq!(tip_height("no heights here"), None);
    }

    #[test]
    fn rsync_temporaries_are_not_chain_files() {
        assert!(is_rsync_temporary(".blk00003.dat.Xa81Qz"));
        assert!(!is_rsync_temporary("blk00003.dat"));
        assert!(!is_rsync_temporary(".lock"));
        assert!(!is_rsync_temporary("000123.ldb"));
    }

    #[test]
    fn a_local_chain_lists_its_files_and_reads_its_first_block_file() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("regtest");
        fs::create_dir_all(net.join("blocks/index")).unwrap();
        fs::create_dir_all(net.join("chainstate")).unwrap();
        // Pruned: the lowest block file left is blk00002.dat.
        fs::write(
            net.join("blocks/blk00002.dat"),
            [0xfa ^ 1, 0xbf ^ 2, 0xb5, 0xda, 9],
        )
        .unwrap();
        fs::write(net.join("blocks/blk00003.dat"), [0; 3]).unwrap();
        fs::write(net.join("blocks/xor.dat"), [1, 2, 0, 0, 0, 0, 0, 0]).unwrap();
        fs::write(net.join("blocks/index/000001.ldb"), [0; 10]).unwrap();
        fs::write(net.join("blocks/.blk00004.dat.AbC123"), [0; 99]).unwrap();
        fs::write(net.join("chainstate/CURRENT"), b"MANIFEST-000002\n").unwrap();
        let chain = read_local_chain(dir.path(), Network::Regtest).unwrap();
        assert_eq!(chain.dir, net.display().to_string());
        assert_eq!(chain.magic, Some([0xfa, 0xbf, 0xb5, 0xda]));
        assert_eq!(chain.first_block_file.as_deref(), Some("blk00002.dat"));
        assert_eq!(chain.files.files.len(), 5, "{:?}", chain.files);
        assert_eq!(chain.files.dirs(), ["blocks", "chainstate"]);
        assert_eq!(chain.files.total(), 5 + 3 + 8 + 10 + 16);
        // The network's directory given directly reads the same.
        assert_eq!(
            read_local_chain(&net, Network::Regtest).unwrap().files,
            chain.files
        );
    }
}
