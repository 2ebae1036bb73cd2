//! `render -o DIR`, written to disk: one file per object of the plan, each written atomically,
//! and the files an earlier render wrote but the plan no longer has removed. A directory
//! render did not write is refused, never overwritten. plan/ never touches the filesystem, so
//! this edge writes what [`crate::plan::output`] turns the plan into.

use std::path::Path;

use crate::fsutil;
use crate::plan::Plan;
use crate::plan::output::{SecretDisplay, file_name, printable, to_yaml};

/// Lists the files the last `render -o DIR` wrote, so stale ones can be removed.
const INDEX_FILE: &str = ".openlsp-render";

/// Writes one file per object into `dir` and returns how many. Revealed Secret values are
/// written 0600 in a 0700 directory.
pub fn write(plan: &Plan, dir: &Path, display: SecretDisplay) -> std::io::Result<usize> {
    let mode = if display == SecretDisplay::Revealed {
        fsutil::PRIVATE_FILE
    } else {
        0o644
    };
    let dir_mode = if display == SecretDisplay::Revealed {
        fsutil::PRIVATE_DIR
    } else {
        0o755
    };
    fsutil::create_dir_all(dir, dir_mode)?;
    let index = dir.join(INDEX_FILE);
    let previous: Vec<String> = match std::fs::read_to_string(&index) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let foreign = std::fs::read_dir(dir)?.next().is_some();
            if foreign {
                return Err(std::io::Error::other(format!(
                    "{} is not empty and was not written by openlsp render; choose an empty or new directory",
                    dir.display()
                )));
            }
            Vec::new()
        }
        Err(err) => return Err(err),
    };
    let names: Vec<String> = plan.objects.iter().map(file_name).collect();
    for (object, name) in plan.objects.iter().zip(&names) {
        let text = to_yaml(&printable(object, display));
        fsutil::write_atomic(&dir.join(name), text.as_bytes(), mode)?;
    }
    for stale in previous.iter().filter(|old| !names.contains(old)) {
        if !stale.contains('/') {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    fsutil::write_atomic(&index, (names.join("\n") + "\n").as_bytes(), 0o644)?;
    Ok(names.len())
}
