//! Host files read through a root directory: `/` on the machine itself, a fixture tree in
//! tests (`--host-root`). Paths in messages are always the host's own (`/etc/fstab`), never
//! the root-prefixed ones, so reports read the same in tests and on the Pi.

use std::io;
use std::path::{Path, PathBuf};

use super::error::HostError;

#[derive(Debug, Clone)]
pub struct HostRoot {
    dir: PathBuf,
}

impl HostRoot {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        HostRoot { dir: dir.into() }
    }

    /// Where the host path `/etc/fstab` really is: `<root>/etc/fstab`.
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.dir.join(host_path.trim_start_matches('/'))
    }

    /// The file's text, or `None` when it does not exist.
    pub fn read(&self, host_path: &str) -> Result<Option<String>, HostError> {
        match std::fs::read(self.path(host_path)) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HostError::Read {
                path: host_path.to_owned(),
                source,
            }),
        }
    }

    /// Whether the host path is a directory (following symlinks).
    pub fn is_dir(&self, host_path: &str) -> bool {
        self.path(host_path).is_dir()
    }

    /// The permission bits of a host file, or `None` when it does not exist.
    pub fn mode(&self, host_path: &str) -> Option<u32> {
        crate::fsutil::mode_of(&self.path(host_path)).ok()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_under_the_root_and_reports_missing_files_as_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/modules"), "loop\n").unwrap();
        let root = HostRoot::new(dir.path());
        assert_eq!(
            root.read("/etc/modules").unwrap().as_deref(),
            Some("loop\n")
        );
        assert_eq!(root.read("/etc/fstab").unwrap(), None);
        assert!(root.is_dir("/etc"));
    }
}
