//! Offline backups of a state dir: every file (history included) in one archive, encrypted
//! with age and a passphrase (scrypt). Decryption fails before anything is written.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use age::secrecy::SecretString;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::records;
use super::restore::Restored;

const FORMAT: &str = "openlsp-state/1";
/// Shorter passphrases would make an offline guess at the backup too cheap.
pub const MIN_PASSPHRASE: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the passphrase has {0} characters; use at least {MIN_PASSPHRASE}")]
    WeakPassphrase(usize),
    #[error("wrong passphrase, or the file is not an openlsp export")]
    Decrypt,
    #[error("the file is not an openlsp export: {0}")]
    Format(String),
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// The files of one site's state dir.
#[derive(Serialize, Deserialize)]
pub struct Archive {
    pub format: String,
    pub site: String,
    /// Relative path → base64 contents.
    files: BTreeMap<String, String>,
}

impl Archive {
    pub fn new(site: &str, files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        Archive {
            format: FORMAT.to_owned(),
            site: site.to_owned(),
            files: files
                .into_iter()
                .map(|(path, value)| {
                    (
                        path,
                        base64::engine::general_purpose::STANDARD.encode(value),
                    )
                })
                .collect(),
        }
    }

    /// The files with their decoded contents.
    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>, BackupError> {
        self.files
            .iter()
            .map(|(path, value)| {
                let safe = !path.starts_with('/')
                    && !path.split('/').any(|part| part == ".." || part.is_empty());
                if !safe {
                    return Err(BackupError::Format(format!("unsafe path {path:?}")));
                }
                base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map(|bytes| (path.clone(), bytes))
                    .map_err(|err| BackupError::Format(format!("{path}: {err}")))
            })
            .collect()
    }

    /// What an import brings into the state dir: the values, and the record files (the audit
    /// log to merge, the dates and generations to keep) apart from them.
    pub fn restored(&self) -> Result<Restored, BackupError> {
        let mut restored = Restored::default();
        for (path, value) in self.files()? {
            let text = || String::from_utf8_lossy(&value).into_owned();
            match path.as_str() {
                records::AUDIT_LOG => restored.logs.push(value),
                records::CHANGED => restored.dates = records::parse_dates(&text()),
                records::GENERATIONS => restored.generations = records::parse_generations(&text()),
                _ => restored.values.push((path, value)),
            }
        }
        Ok(restored)
    }
}

pub fn encrypt(archive: &Archive, passphrase: &str) -> Result<Vec<u8>, BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(BackupError::WeakPassphrase(passphrase.chars().count()));
    }
    let plain = serde_json::to_vec(archive).map_err(|err| BackupError::Encrypt(err.to_string()))?;
    let encryptor = age::Encryptor::with_user_passphrase(SecretString::from(passphrase.to_owned()));
    let mut out = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|err| BackupError::Encrypt(err.to_string()))?;
    writer
        .write_all(&plain)
        .and_then(|()| writer.finish().map(drop))
        .map_err(|err| BackupError::Encrypt(err.to_string()))?;
    Ok(out)
}

pub fn decrypt(cipher: &[u8], passphrase: &str) -> Result<Archive, BackupError> {
    let decryptor = age::Decryptor::new_buffered(cipher).map_err(|_| BackupError::Decrypt)?;
    if !decryptor.is_scrypt() {
        return Err(BackupError::Format(
            "not encrypted with a passphrase".to_owned(),
        ));
    }
    let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|_| BackupError::Decrypt)?;
    let mut plain = Vec::new();
    reader
        .read_to_end(&mut plain)
        .map_err(|_| BackupError::Decrypt)?;
    let archive: Archive =
        serde_json::from_slice(&plain).map_err(|err| BackupError::Format(err.to_string()))?;
    if archive.format != FORMAT {
        return Err(BackupError::Format(format!(
            "unknown format {:?}",
            archive.format
        )));
    }
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_wrong_passphrase() {
        let archive = Archive::new("home", [("a/b".to_owned(), b"secret".to_vec())]);
        let cipher = encrypt(&archive, "correct horse battery").unwrap();
        assert!(!cipher.windows(6).any(|w| w == b"secret"));
        let back = decrypt(&cipher, "correct horse battery").unwrap();
        assert_eq!(back.site, "home");
        assert_eq!(
            back.files().unwrap(),
            vec![("a/b".to_owned(), b"secret".to_vec())]
        );
        assert!(matches!(
            decrypt(&cipher, "wrong horse battery"),
            Err(BackupError::Decrypt)
        ));
        assert!(matches!(
            decrypt(b"not age", "x"),
            Err(BackupError::Decrypt)
        ));
        assert!(matches!(
            encrypt(&archive, "short"),
            Err(BackupError::WeakPassphrase(5))
        ));
    }

    #[test]
    fn an_import_keeps_the_record_files_apart_from_the_values() {
        let archive = Archive::new(
            "home",
            [
                (
                    "audit.log".to_owned(),
                    b"2026-01-01T00-00-00Z me: a\n".to_vec(),
                ),
                ("changed".to_owned(), b"1700000000 a/b\n".to_vec()),
                ("generations".to_owned(), b"2 lnd-tls\n".to_vec()),
                (
                    "history/2026-01-01T00-00-00Z/a/b".to_owned(),
                    b"old".to_vec(),
                ),
                ("a/b".to_owned(), b"new".to_vec()),
            ],
        );
        let restored = archive.restored().unwrap();
        assert_eq!(
            restored.values,
            [
                ("a/b".to_owned(), b"new".to_vec()),
                (
                    "history/2026-01-01T00-00-00Z/a/b".to_owned(),
                    b"old".to_vec()
                )
            ]
        );
        assert_eq!(restored.logs, [b"2026-01-01T00-00-00Z me: a\n".to_vec()]);
        assert_eq!(restored.dates.len(), 1);
        assert_eq!(restored.generations["lnd-tls"], 2);
    }

    #[test]
    fn refuses_paths_outside_the_state_dir() {
        let archive = Archive::new("home", [("../escape".to_owned(), vec![1])]);
        assert!(archive.files().is_err());
    }
}
