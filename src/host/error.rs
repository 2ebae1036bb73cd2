//! Why the host could not be read or edited: the one error type of `host/`, kept apart so the
//! files that read and edit the host need nothing else from each other to return it.

/// Why the host could not be read or edited.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot edit {path}: {source}; run `sudo openlsp init --fix` or make the edit by hand")]
    Edit {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is a symlink; openlsp edits only regular files, so make this edit by hand")]
    Symlink { path: String },
    #[error(
        "{path} changed while openlsp was working on it; nothing was written, run `openlsp init --fix` again"
    )]
    Changed { path: String },
}
