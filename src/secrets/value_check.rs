//! Each stored value checked for its kind, as openlsp generates it: passwords of the generated
//! alphabet and length, hex salts, keys that parse, onion keys in Tor's format. A value that is
//! not is damaged, and is never regenerated over.

use super::onion::OnionKey;
use super::provided;
use super::requirements::{Requirement, paths};
use super::snapshot::Secrets;
use super::tls;

/// Length of a generated password: 32 bytes in URL-safe base64, with its padding.
const PASSWORD_LEN: usize = 44;
/// Length of a generated salt: 16 bytes in hex.
const SALT_LEN: usize = 32;

/// Why a stored value (the file `relative` of `requirement`) is not what `requirement`
/// generates, if it is not. A TLS pair is also checked as a pair: [`check_pair`].
pub(super) fn check_value(
    requirement: &Requirement,
    relative: &str,
    value: &[u8],
) -> Result<(), String> {
    match requirement {
        Requirement::Password { path } if paths::is_importable_password(path) => {
            // Moved in by `openlsp import kiln`, or generated: any printable ASCII of a length
            // btcd.conf and lndinit take (lndinit wants 8 or more), on one line.
            let printable = |b: &u8| b.is_ascii_graphic();
            if !(8..=1024).contains(&value.len()) || !value.iter().all(printable) {
                return Err(format!(
                    "it is not a password openlsp generated or imported (8 to 1024 printable ASCII characters, no spaces; found {} bytes{})",
                    value.len(),
                    newline_note(value)
                ));
            }
        }
        Requirement::Password { .. } => {
            let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
            let (body, padding) = value.split_at(value.len().min(PASSWORD_LEN - 1));
            if value.len() != PASSWORD_LEN || !body.iter().all(alphabet) || padding != b"=" {
                return Err(format!(
                    "it is not a password openlsp generated ({PASSWORD_LEN} characters of URL-safe base64; found {} bytes{})",
                    value.len(),
                    newline_note(value)
                ));
            }
        }
        Requirement::Salt { .. } => {
            let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
            if value.len() != SALT_LEN || !value.iter().all(hex) {
                return Err(format!(
                    "it is not a salt ({SALT_LEN} lowercase hex digits; found {} bytes)",
                    value.len()
                ));
            }
        }
        Requirement::OnionKey { .. } => {
            OnionKey::from_secret_file(value).map_err(|err| err.to_string())?;
        }
        Requirement::Words { .. } => {
            let text = std::str::from_utf8(value).map_err(|_| "the words are not text")?;
            let words = bip39::Mnemonic::parse_in(bip39::Language::English, text)
                .map_err(|_| "they are not BIP39 words with a valid checksum".to_owned())?;
            if words.word_count() != 12 || words.to_string() != text {
                return Err(
                    "they are not 12 BIP39 words, one space between them, as openlsp writes them"
                        .to_owned(),
                );
            }
        }
        Requirement::Provided { .. } => {
            provided::remotes(value).map_err(|err| err.to_string())?;
        }
        Requirement::Tls { cert, .. } => check_pem(relative == cert, value)?,
        Requirement::Tunnel {
            server_key,
            client_key,
            ..
        } => check_pem(relative != server_key && relative != client_key, value)?,
    }
    Ok(())
}

/// " ending in a newline" for a value that ends in one (an editor's or `echo`'s), for the
/// message that refuses it.
fn newline_note(value: &[u8]) -> &'static str {
    if value.ends_with(b"\n") {
        " ending in a newline"
    } else {
        ""
    }
}

/// A PEM certificate (`is_cert`) or private key, or why it is not.
fn check_pem(is_cert: bool, value: &[u8]) -> Result<(), String> {
    let what = if is_cert {
        "certificate"
    } else {
        "private key"
    };
    let text = std::str::from_utf8(value).map_err(|_| format!("the {what} is not text"))?;
    if is_cert {
        tls::read_certificate(text.as_bytes()).map_err(|err| err.to_string())?;
    } else {
        tls::check_key(text)?;
    }
    Ok(())
}

/// Why a certificate of a TLS requirement (LND's, or the tunnel's server or client) is not for
/// its key, if both are in `secrets`: the file to name (the certificate) and the reason.
pub(super) fn check_pair(
    requirement: &Requirement,
    secrets: &Secrets,
) -> Result<(), (String, String)> {
    let pairs = match requirement {
        Requirement::Tls { cert, key, .. } => vec![(cert, key)],
        Requirement::Tunnel {
            server_cert,
            server_key,
            client_cert,
            client_key,
            ..
        } => vec![(server_cert, server_key), (client_cert, client_key)],
        _ => Vec::new(),
    };
    for (cert, key) in pairs {
        if let (Some(cert_pem), Some(key_pem)) = (secrets.get(cert), secrets.get(key)) {
            tls::check_pair(cert_pem, key_pem)
                .map_err(|reason| (cert.clone(), format!("{reason} in {key}")))?;
        }
    }
    Ok(())
}

/// Checks a value about to be stored at `path` (or its previous copy during a rotation) as
/// the store checks it when loading it; paths no requirement names pass.
pub fn check_stored(needed: &[Requirement], path: &str, value: &[u8]) -> Result<(), String> {
    for requirement in needed {
        for file in requirement.files() {
            if path == file || path == paths::previous(file) {
                return check_value(requirement, file, value);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// btcd's and a wallet's password may come from kiln's manifests: any printable one-line
    /// text of 8 or more; every other password stays openlsp's own form.
    #[test]
    fn an_imported_password_is_taken_only_where_an_import_puts_one() {
        let btcd = paths::rpc_password("btcd", super::super::BTCD_RPC_USER);
        let wallet = paths::wallet_password("lnd");
        let lnd = paths::rpc_password("bitcoind", "lnd");
        let needed: Vec<Requirement> = [&btcd, &wallet, &lnd]
            .into_iter()
            .map(|path| Requirement::Password { path: path.clone() })
            .collect();
        assert_eq!(check_stored(&needed, &btcd, b"kiln-plain-password"), Ok(()));
        assert_eq!(check_stored(&needed, &wallet, b"hunter2!x"), Ok(()));
        for bad in [&b"short"[..], b"has a space", b"newline-at-end\n"] {
            assert!(check_stored(&needed, &btcd, bad).is_err(), "{bad:?}");
        }
        assert!(check_stored(&needed, &lnd, b"kiln-plain-password").is_err());
    }

    #[test]
    fn each_kind_is_checked_and_a_previous_copy_like_its_value() {
        let needed = [
            Requirement::Password {
                path: "rpc/pw".to_owned(),
            },
            Requirement::Salt {
                path: "rpc/salt".to_owned(),
            },
        ];
        let password = super::super::rpcauth::generate_password().unwrap();
        assert_eq!(check_stored(&needed, "rpc/pw", password.as_bytes()), Ok(()));
        let newline = format!("{password}\n");
        let err = check_stored(&needed, "rpc/previous/pw", newline.as_bytes()).unwrap_err();
        assert!(err.contains("ending in a newline"), "{err}");
        assert_eq!(
            check_stored(&needed, "rpc/salt", b"00112233445566778899aabbccddeeff"),
            Ok(())
        );
        let err =
            check_stored(&needed, "rpc/salt", b"00112233445566778899AABBCCDDEEFF").unwrap_err();
        assert!(err.contains("lowercase hex"), "{err}");
        assert_eq!(
            check_stored(&needed, "somewhere/else", b"anything"),
            Ok(()),
            "paths no requirement names pass"
        );
    }
}
