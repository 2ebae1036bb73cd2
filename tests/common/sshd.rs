//! A real OpenSSH server on loopback (Debian's `sshd`, scripts/test-deps.sh), the source host of
//! `openlsp bootstrap --from-host`: its own host key, one client key in its authorized_keys, and
//! a known_hosts with its key, all in a test's directory. Killed when dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, required_program, wait_for};

pub struct Sshd {
    child: Child,
    pub port: u16,
    /// Who logs in: the user running the tests.
    pub user: String,
    /// The private key authorized_keys admits (no passphrase).
    pub client_key: PathBuf,
    /// `[127.0.0.1]:<port>` with the server's host key.
    pub known_hosts: PathBuf,
}

/// `ssh-keygen -t ed25519` into `path` (and `path.pub`), with passphrase `passphrase`.
pub fn new_key(path: &Path, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "openlsp-test",
            "-N",
            passphrase,
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (scripts/test-deps.sh installs openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

impl Sshd {
    /// Starts sshd in `dir`; None (skipped) without OPENLSP_TEST_SSHD.
    pub fn start(dir: &Path) -> Option<Self> {
        let sshd = required_program(
            "OPENLSP_TEST_SSHD",
            "the source host of bootstrap --from-host",
        )?;
        fs::create_dir_all(dir).unwrap();
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        new_key(&host_key, "");
        new_key(&client_key, "");
        let authorized = dir.join("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        fs::set_permissions(&authorized, fs::Permissions::from_mode(0o600)).unwrap();
        // sshd's privilege separation directory, which the package's service would create.
        fs::create_dir_all("/run/sshd").expect("/run/sshd (the tests run as root, as sshd needs)");
        let port = free_port();
        let config = dir.join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {}\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        wait_for("sshd to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(drop)
                .map_err(|err| err.to_string())
        });
        let host_public = fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let mut fields = host_public.split_whitespace();
        let known_hosts = dir.join("known_hosts");
        fs::write(
            &known_hosts,
            format!(
                "[127.0.0.1]:{port} {} {}\n",
                fields.next().unwrap(),
                fields.next().unwrap()
            ),
        )
        .unwrap();
        let user = Command::new("id").arg("-un").output().unwrap();
        Some(Self {
            child,
            port,
            user: String::from_utf8(user.stdout).unwrap().trim().to_owned(),
            client_key,
            known_hosts,
        })
    }

    /// `user@127.0.0.1:<path>`, as --from-host takes it.
    pub fn source(&self, path: &Path) -> String {
        format!("{}@127.0.0.1:{}", self.user, path.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
