//! File writes that never leave a half-written or world-readable file behind: write to a
//! temporary file in the same directory with the final mode, sync, then rename or link.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory openlsp keeps secrets in.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of every file holding secret material.
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` and its missing parents; directories this call creates get `mode`.
pub fn create_dir_all(dir: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut random = [0u8; 6];
    // A collision only makes create_new fail, which is reported; no secret depends on this.
    let _ = getrandom::fill(&mut random);
    target.with_file_name(format!(".{name}.{}.tmp", hex::encode(random)))
}

/// Whether `path` is a temporary file of [`write_atomic`] or [`create_atomic`] (left behind
/// only when the process was killed mid-write).
pub fn is_temp_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(middle) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    middle.rsplit_once('.').is_some_and(|(stem, random)| {
        !stem.is_empty() && random.len() == 12 && random.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn write_temp(target: &Path, contents: &[u8], mode: u32) -> io::Result<PathBuf> {
    let temp = temp_path(target);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)?;
    let written = file
        .write_all(contents)
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
        .and_then(|()| file.sync_all());
    if let Err(err) = written {
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    Ok(temp)
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Replaces `target` atomically with `contents`, created with `mode`.
pub fn write_atomic(target: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let temp = write_temp(target, contents, mode)?;
    if let Err(err) = fs::rename(&temp, target) {
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    if let Some(parent) = target.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Writes `target` only if it does not exist yet, atomically. Returns false (and writes
/// nothing) when another writer got there first, so concurrent runs agree on one value.
pub fn create_atomic(target: &Path, contents: &[u8], mode: u32) -> io::Result<bool> {
    let temp = write_temp(target, contents, mode)?;
    let linked = fs::hard_link(&temp, target);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            if let Some(parent) = target.parent() {
                sync_dir(parent);
            }
            Ok(true)
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err),
    }
}

/// The permission bits of `path`.
pub fn mode_of(path: &Path) -> io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_set_the_mode_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret");
        write_atomic(&target, b"one", PRIVATE_FILE).unwrap();
        write_atomic(&target, b"two", PRIVATE_FILE).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(mode_of(&target).unwrap(), 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temp_files_are_recognised_by_their_name_only() {
        assert!(is_temp_file(&temp_path(Path::new(
            "/s/hs_ed25519_secret_key"
        ))));
        assert!(is_temp_file(Path::new("/s/.password.0123456789ab.tmp")));
        for name in [
            ".password.tmp",
            "password.0123456789ab.tmp",
            "..0123456789ab.tmp",
            ".x.0123456789zz.tmp",
        ] {
            assert!(!is_temp_file(&Path::new("/s").join(name)), "{name}");
        }
    }

    #[test]
    fn create_atomic_keeps_the_first_value() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret");
        assert!(create_atomic(&target, b"first", PRIVATE_FILE).unwrap());
        assert!(!create_atomic(&target, b"second", PRIVATE_FILE).unwrap());
        assert_eq!(fs::read(&target).unwrap(), b"first");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
