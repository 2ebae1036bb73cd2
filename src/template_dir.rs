//! `--templates DIR`, read from disk: every template file under DIR as a (relative path,
//! source) pair, for [`crate::plan::TemplateSet::with_overrides`]. plan/ never touches the
//! filesystem, so this edge reads the directory for it; what the files mean (which are
//! templates, which directory is a service) stays in plan/.

use std::path::{Path, PathBuf};

use crate::plan::templates::is_template;

/// A `--templates` directory that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("--templates {}: {reason}", dir.display())]
pub struct TemplateDirError {
    pub dir: PathBuf,
    pub reason: String,
}

/// Every template under `dir` (hidden files and directories skipped), with its path relative
/// to `dir` (`lnd/service.yaml.j2`), in path order.
pub fn read(dir: &Path) -> Result<Vec<(String, String)>, TemplateDirError> {
    let error = |reason: String| TemplateDirError {
        dir: dir.to_path_buf(),
        reason,
    };
    if !dir.is_dir() {
        return Err(error("it is not a directory".to_owned()));
    }
    let mut found = Vec::new();
    walk(dir, &mut found).map_err(|err| error(err.to_string()))?;
    let mut templates = Vec::new();
    for path in found {
        let relative = path
            .strip_prefix(dir)
            .expect("walk stays under dir")
            .to_string_lossy()
            .replace('\\', "/");
        if !is_template(&relative) {
            continue;
        }
        let source =
            std::fs::read_to_string(&path).map_err(|err| error(format!("{relative}: {err}")))?;
        templates.push((relative, source));
    }
    Ok(templates)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_templates_by_relative_path_and_skips_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("lnd/service.yaml.j2", "a");
        write("site/z.yaml.j2", "b");
        write("site/README.md", "not a template");
        write("site/.swap.yaml.j2", "hidden");
        write(".git/x.j2", "hidden");
        assert_eq!(
            read(dir.path()).unwrap(),
            vec![
                ("lnd/service.yaml.j2".to_owned(), "a".to_owned()),
                ("site/z.yaml.j2".to_owned(), "b".to_owned()),
            ]
        );
    }

    #[test]
    fn a_path_that_is_not_a_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            read(&file).unwrap_err().to_string(),
            format!("--templates {}: it is not a directory", file.display())
        );
    }
}
