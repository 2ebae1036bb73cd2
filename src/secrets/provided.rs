//! Secrets the operator provides, which openlsp never generates: the rclone config of backup
//! targets, and the SSH key `openlsp bootstrap --from-host` logs in with. Each is given once with
//! `openlsp secrets set NAME --from-file FILE`, kept in the state dir like every other value and
//! rendered only into its Secret. Here: where it is kept, what a value must look like, and the
//! remotes a config defines.

use std::fmt;

/// The key of the rclone config in its Secret, and the file name rclone reads.
pub const RCLONE_CONFIG_KEY: &str = "rclone.conf";
/// Longer values are refused: a Secret holds at most 1 MiB, and an rclone config is a few lines.
pub const MAX_SIZE: usize = 256 * 1024;

/// Where the state dir keeps provided secret `secret`.
pub fn path(secret: &str) -> String {
    format!("provided/{secret}/{RCLONE_CONFIG_KEY}")
}

/// The SSH key of `openlsp bootstrap --from-host`: its name for `secrets set`, and where the
/// state dir keeps it. No profile field names it: only a bootstrap uses it, and only while it
/// copies (its Secret is deleted afterwards).
pub const BOOTSTRAP_SSH: &str = "bootstrap-ssh";
pub const BOOTSTRAP_SSH_PATH: &str = "provided/bootstrap-ssh/id";

/// What `secrets set bootstrap-ssh` shows of a key: its type and the public key's SHA-256
/// fingerprint, as `ssh-keygen -l` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyInfo {
    pub algorithm: String,
    pub fingerprint: String,
}

/// Checks an SSH private key for the copy Job: OpenSSH's format, without a passphrase (the Job
/// cannot type one).
pub fn ssh_key(value: &[u8]) -> Result<SshKeyInfo, NotAConfig> {
    const NEW_KEY: &str = "make one for this copy: ssh-keygen -t ed25519 -N '' -f ~/.ssh/openlsp-bootstrap, and add the .pub to the source's authorized_keys";
    if value.len() > MAX_SIZE {
        return Err(NotAConfig(format!(
            "it has {} bytes, more than any SSH key (at most {MAX_SIZE})",
            value.len()
        )));
    }
    let text = std::str::from_utf8(value).map_err(|_| {
        NotAConfig(format!(
            "it is not text, so not an OpenSSH private key; {NEW_KEY}"
        ))
    })?;
    if text.contains("PUBLIC KEY") || text.starts_with("ssh-") || text.starts_with("ecdsa-") {
        return Err(NotAConfig(
            "it is a public key; give the private key (the file without .pub)".to_owned(),
        ));
    }
    let key = ssh_key::PrivateKey::from_openssh(text.trim()).map_err(|_| {
        NotAConfig(if text.contains("-----BEGIN") && !text.contains("OPENSSH PRIVATE KEY") {
            "it is a PEM key; convert it to OpenSSH's format with ssh-keygen -p -f KEY (on a copy), or make a new one".to_owned()
        } else {
            format!("it is not an OpenSSH private key; {NEW_KEY}")
        })
    })?;
    if key.is_encrypted() {
        return Err(NotAConfig(format!(
            "the key has a passphrase, which the copy Job cannot type; {NEW_KEY}"
        )));
    }
    Ok(SshKeyInfo {
        algorithm: key.algorithm().to_string(),
        fingerprint: key
            .public_key()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string(),
    })
}

/// One place the profile uses a provided secret: a backup target's rclone remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The target's field path, such as `spec.backup.targets[1].rclone`.
    pub field: String,
    /// The remote's name, which the config must define.
    pub remote: String,
    /// Whether what goes there is unencrypted (BTCPay's database dump), so the remote must be an
    /// rclone crypt remote.
    pub must_encrypt: bool,
}

/// Why a value is not an rclone config openlsp can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAConfig(pub String);

impl fmt::Display for NotAConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The remotes an rclone config defines (its `[section]` names), in file order. It must be
/// text, unencrypted (rclone would ask for the config password), and define at least one.
pub fn remotes(config: &[u8]) -> Result<Vec<String>, NotAConfig> {
    if config.len() > MAX_SIZE {
        return Err(NotAConfig(format!(
            "it has {} bytes; an rclone config of a few remotes has a few hundred (at most {MAX_SIZE})",
            config.len()
        )));
    }
    let text = std::str::from_utf8(config)
        .map_err(|_| NotAConfig("it is not text; an rclone config is an INI file".to_owned()))?;
    if text.contains("RCLONE_ENCRYPT_V0:") {
        return Err(NotAConfig(
            "it is encrypted with a config password, which the backup container cannot type; give the config unencrypted (rclone config show), it stays private in the state dir and a Secret".to_owned(),
        ));
    }
    let remotes: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix('[')?.strip_suffix(']').map(str::to_owned)
        })
        .collect();
    if remotes.is_empty() {
        return Err(NotAConfig(
            "it defines no remote (no [name] section); write one with `rclone config`, then give the file rclone config file shows".to_owned(),
        ));
    }
    Ok(remotes)
}

/// The `type` of remote `remote` in an rclone config (`crypt`, `sftp`, `s3`…), if it has one.
pub fn remote_type(config: &[u8], remote: &str) -> Option<String> {
    let text = std::str::from_utf8(config).ok()?;
    let mut in_remote = false;
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_remote = section == remote;
        } else if in_remote
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "type"
        {
            return Some(value.trim().to_owned());
        }
    }
    None
}

/// Why a use of a config fails: a remote it lacks, or a plain remote where the data must be
/// encrypted.
pub fn unusable(config_remotes: &[String], config: &[u8], used: &Use) -> Option<Unusable> {
    if !config_remotes.contains(&used.remote) {
        return Some(Unusable::Missing);
    }
    let kind = remote_type(config, &used.remote).unwrap_or_default();
    (used.must_encrypt && kind != "crypt").then_some(Unusable::NotEncrypted(kind))
}

/// See [`unusable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    Missing,
    /// The remote's type, which is not `crypt`.
    NotEncrypted(String),
}

/// The hint for [`Unusable::NotEncrypted`].
pub const ENCRYPT_HINT: &str = "wrap the remote in an rclone crypt remote (rclone config: new remote, type crypt, remote = <this remote>:<path>) and name that one, or leave this target out of spec.btcpay.backupTargets (docs/btcpay.md, \"Backups\")";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_openssh_private_key_without_passphrase_is_a_bootstrap_key() {
        let why = |value: &[u8]| ssh_key(value).unwrap_err().0;
        assert!(why(b"ssh-ed25519 AAAAC3Nza... me@host\n").contains("public key"));
        assert!(
            why(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n")
                .contains("PEM")
        );
        assert!(why(b"[nas]\ntype = sftp\n").contains("not an OpenSSH private key"));
        assert!(why(&[0xff, 0xfe]).contains("not text"));
        // (tests/bootstrap_ssh.rs gives real keys from ssh-keygen, with and without passphrase.)
    }

    #[test]
    fn a_dump_needs_a_crypt_remote() {
        let config =
            b"[nas]\ntype = sftp\nhost = nas.lan\n\n[safe]\ntype = crypt\nremote = nas:openlsp\n";
        let remotes = remotes(config).unwrap();
        let use_of = |remote: &str, must_encrypt| Use {
            field: "spec.backup.targets[0].rclone".to_owned(),
            remote: remote.to_owned(),
            must_encrypt,
        };
        assert_eq!(remote_type(config, "safe").as_deref(), Some("crypt"));
        assert_eq!(unusable(&remotes, config, &use_of("nas", false)), None);
        assert_eq!(unusable(&remotes, config, &use_of("safe", true)), None);
        assert_eq!(
            unusable(&remotes, config, &use_of("nas", true)),
            Some(Unusable::NotEncrypted("sftp".to_owned()))
        );
        assert_eq!(
            unusable(&remotes, config, &use_of("other", false)),
            Some(Unusable::Missing)
        );
    }

    #[test]
    fn a_config_is_text_with_remotes_and_no_encryption() {
        let config = b"[nas]\ntype = sftp\nhost = nas.lan\n\n[cloud]\ntype = s3\n";
        assert_eq!(remotes(config).unwrap(), ["nas", "cloud"]);
        assert!(
            remotes(b"type = sftp\n")
                .unwrap_err()
                .0
                .contains("no remote")
        );
        assert!(remotes(&[0xff, 0xfe]).unwrap_err().0.contains("not text"));
        let encrypted = b"# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabc\n";
        assert!(remotes(encrypted).unwrap_err().0.contains("encrypted"));
        assert!(
            remotes(&vec![b'#'; MAX_SIZE + 1])
                .unwrap_err()
                .0
                .contains("bytes")
        );
        assert_eq!(path("backup-rclone"), "provided/backup-rclone/rclone.conf");
    }
}
