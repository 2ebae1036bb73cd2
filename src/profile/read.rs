//! Reading the profile's bytes, bounded: only a regular file, at most [`MAX_PROFILE_BYTES`], and
//! UTF-8. A device (`-p /dev/zero`), a FIFO or a huge file would otherwise be read until memory
//! runs out; invalid UTF-8 is reported at the `line:col` of its first bad byte.

use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use super::diagnostic::{Diagnostic, ProfileError, Severity};
use super::source_map::Location;

/// The largest profile openlsp reads. A real one is a few KiB; this leaves room for comments.
pub const MAX_PROFILE_BYTES: u64 = 4 * 1024 * 1024;

/// The profile's text, or why it cannot be one.
pub fn read_profile(path: &Path) -> Result<String, ProfileError> {
    let io_error = |source| ProfileError::Read {
        path: path.to_path_buf(),
        source,
    };
    // The file type first: opening a FIFO for reading would block until a writer appears.
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    check_kind(path, &metadata)?;
    // Non-blocking, in case the path was swapped for a FIFO since: the open never hangs.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    check_kind(path, &metadata)?;
    check_size(path, metadata.len())?;
    // The size can lie (files under /proc say 0) or grow meanwhile: never read past the cap.
    let mut bytes = Vec::new();
    file.take(MAX_PROFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    check_size(path, bytes.len() as u64)?;
    decode(path, bytes)
}

/// Text from bytes, or the place of the first byte that is not UTF-8.
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, ProfileError> {
    String::from_utf8(bytes).map_err(|err| {
        let bytes = err.as_bytes();
        let valid = err.utf8_error().valid_up_to();
        let bad = bytes[valid];
        whole_file(
            path,
            Some(location_of(bytes, valid)),
            format!("the profile is not UTF-8 text: byte 0x{bad:02x} here is invalid"),
            "save the file as UTF-8",
        )
    })
}

/// 1-based line and column (in characters) of byte `offset`, whose prefix is valid UTF-8.
fn location_of(bytes: &[u8], offset: usize) -> Location {
    let before = &bytes[..offset];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |newline| newline + 1);
    let col = std::str::from_utf8(&before[line_start..]).map_or(1, |text| text.chars().count() + 1);
    Location {
        line: before.iter().filter(|b| **b == b'\n').count() + 1,
        col,
    }
}

fn check_kind(path: &Path, metadata: &std::fs::Metadata) -> Result<(), ProfileError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(whole_file(
        path,
        None,
        format!("the profile must be a regular file, and this is {what}"),
        "pass the profile's file with -p FILE (default ./openlsp.yaml)",
    ))
}

fn check_size(path: &Path, size: u64) -> Result<(), ProfileError> {
    if size <= MAX_PROFILE_BYTES {
        return Ok(());
    }
    Err(whole_file(
        path,
        None,
        format!(
            "the profile is larger than openlsp reads ({} MiB); a site profile is a few KiB",
            MAX_PROFILE_BYTES / (1024 * 1024)
        ),
        "check that -p names the site profile (openlsp.yaml)",
    ))
}

fn whole_file(
    path: &Path,
    location: Option<Location>,
    message: String,
    hint: &str,
) -> ProfileError {
    ProfileError::Invalid {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: path.to_path_buf(),
            location,
            path: String::new(),
            message,
            hint: Some(hint.to_owned()),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(err: ProfileError) -> Diagnostic {
        match err {
            ProfileError::Invalid { mut diagnostics } => diagnostics.remove(0),
            other => panic!("not a located error: {other}"),
        }
    }

    #[test]
    fn invalid_utf8_is_located_at_its_first_bad_byte() {
        let bytes = b"a: 1\nname: caf\xc3\xa9 \xff!\n".to_vec();
        let diagnostic = first(decode(Path::new("p.yaml"), bytes).unwrap_err());
        assert_eq!(diagnostic.location, Some(Location { line: 2, col: 12 }));
        assert!(
            diagnostic.message.contains("0xff"),
            "{}",
            diagnostic.message
        );
        let start = first(decode(Path::new("p.yaml"), vec![0x80]).unwrap_err());
        assert_eq!(start.location, Some(Location { line: 1, col: 1 }));
    }

    #[test]
    fn devices_and_directories_are_refused_without_reading() {
        for path in ["/dev/zero", "/dev/null", "/"] {
            let diagnostic = first(read_profile(Path::new(path)).unwrap_err());
            assert!(
                diagnostic
                    .message
                    .starts_with("the profile must be a regular file"),
                "{path}: {}",
                diagnostic.message
            );
        }
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, vec![b'#'; MAX_PROFILE_BYTES as usize + 1]).unwrap();
        let diagnostic = first(read_profile(&path).unwrap_err());
        assert!(
            diagnostic.message.contains("larger"),
            "{}",
            diagnostic.message
        );
        std::fs::write(&path, b"a: 1\n").unwrap();
        assert_eq!(read_profile(&path).unwrap(), "a: 1\n");
    }
}
