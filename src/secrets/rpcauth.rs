//! bitcoind RPC credentials exactly as Bitcoin Core's share/rpcauth/rpcauth.py makes them, so
//! bitcoind only ever sees a salted HMAC and never a plaintext password.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A fresh RPC password: 32 random bytes from the OS CSPRNG, URL-safe base64 (as rpcauth.py).
pub fn generate_password() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE.encode(bytes))
}

/// A fresh salt: 16 random bytes as 32 lowercase hex characters.
pub fn generate_salt() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// HMAC-SHA256 keyed with the salt's hex text (its UTF-8 bytes), over the password.
pub fn password_hmac(salt_hex: &str, password: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(salt_hex.as_bytes()).expect("HMAC accepts any key length");
    mac.update(password.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `rpcauth=<user>:<salt>$<hmac>`.
pub fn rpcauth_line(user: &str, salt_hex: &str, password: &str) -> String {
    format!(
        "rpcauth={user}:{salt_hex}${}",
        password_hmac(salt_hex, password)
    )
}

/// `user`'s rpcauth lines in an rpcauth file, as (salt, hmac): one normally, two while a
/// rotation is in phase 1.
pub fn lines_of<'a>(rpcauth_conf: &'a str, user: &str) -> Vec<(&'a str, &'a str)> {
    rpcauth_conf
        .lines()
        .filter_map(|line| {
            line.strip_prefix("rpcauth=")?
                .strip_prefix(user)?
                .strip_prefix(':')?
                .split_once('$')
        })
        .collect()
}

/// The salt of `user`'s rpcauth line that matches `password`.
pub fn matching_salt(rpcauth_conf: &str, user: &str, password: &str) -> Option<String> {
    lines_of(rpcauth_conf, user)
        .into_iter()
        .find(|(salt, hmac)| password_hmac(salt, password) == *hmac)
        .map(|(salt, _)| salt.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salt_of_the_matching_line_is_found() {
        let conf = "# comment\nrpcauth=lnd:cb77f0957de88ff388cf817ddbc7273b$19e36f227e69de2990476013bc4d73e1541043410685353f81374a01c4943f09\nrpcauth=lnd:00$ff\nrpcauth=lndx:00$ff\n";
        assert_eq!(
            matching_salt(conf, "lnd", "correct horse battery staple").as_deref(),
            Some("cb77f0957de88ff388cf817ddbc7273b")
        );
        assert_eq!(matching_salt(conf, "lnd", "wrong"), None);
        assert_eq!(
            matching_salt(conf, "other", "correct horse battery staple"),
            None
        );
        assert_eq!(lines_of(conf, "lnd").len(), 2, "lndx is another user");
    }

    #[test]
    fn matches_bitcoin_cores_test_vector() {
        assert_eq!(
            rpcauth_line(
                "lnd",
                "cb77f0957de88ff388cf817ddbc7273b",
                "correct horse battery staple"
            ),
            "rpcauth=lnd:cb77f0957de88ff388cf817ddbc7273b$19e36f227e69de2990476013bc4d73e1541043410685353f81374a01c4943f09"
        );
    }

    #[test]
    fn generated_values_have_rpcauth_py_shapes() {
        let salt = generate_salt().unwrap();
        assert_eq!(salt.len(), 32);
        assert!(
            salt.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let password = generate_password().unwrap();
        assert_eq!(password.len(), 44);
        assert!(
            password
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b))
        );
        assert_ne!(generate_password().unwrap(), password);
    }
}
