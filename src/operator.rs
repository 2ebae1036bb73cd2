//! Who runs openlsp, as the lock holder and the audit log name them: the name of the process's
//! uid, so a shell without `$USER` (cron, `env -i`, a container) still says who it was.

/// The user name of this process's uid; `$USER` where the uid has no name (a container's
/// arbitrary uid), else `uid <n>`.
pub fn user_name() -> String {
    let uid = nix::unistd::getuid();
    if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
        return user.name;
    }
    match std::env::var("USER") {
        Ok(name) if !name.is_empty() => name,
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_uid_whatever_the_environment_says() {
        let expected = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .map(|user| user.name);
        if let Some(name) = expected {
            assert_eq!(user_name(), name);
        }
        assert!(!user_name().is_empty());
    }
}
