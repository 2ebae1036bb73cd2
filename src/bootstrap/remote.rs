//! `--from-host user@host:/datadir`: the source is another node's datadir, read over SSH with
//! the operator's key (the provided secret `bootstrap-ssh`) and a host key the operator already
//! trusts (their known_hosts). The preflight runs `inspect.sh` there with OpenSSH's `ssh` on this
//! machine; the copy Job runs rsync over `ssh` with the same options, so both check the same
//! host key at the same address.

use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::files::{Chain, ChainFiles, is_rsync_temporary, tip_height};
use super::network::{network_dir, unmask};
use crate::profile::Network;

/// A source given as `user@host:/path`, rsync's form (an IPv6 address in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSource {
    pub user: String,
    pub host: String,
    pub path: String,
}

impl RemoteSource {
    pub fn parse(text: &str) -> Result<Self, String> {
        let form = "give it as user@host:/path/to/datadir";
        let (user, rest) = text
            .split_once('@')
            .ok_or_else(|| format!("{text:?} names no user; {form}"))?;
        let (host, path) = match rest.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| format!("{text:?}: an unclosed [; {form}"))?;
                let path = after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("{text:?}: no :/path after ]; {form}"))?;
                (host, path)
            }
            None => rest
                .split_once(':')
                .ok_or_else(|| format!("{text:?} names no path; {form}"))?,
        };
        let plain = |word: &str| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
        };
        if !plain(user) || user.contains(':') || user.starts_with('-') {
            return Err(format!(
                "{user:?} is not a user name (letters, digits, . _ -); {form}"
            ));
        }
        if !plain(host) || host.starts_with('-') {
            return Err(format!("{host:?} is not a host name or address; {form}"));
        }
        if !path.starts_with('/') {
            return Err(format!("{path:?} is not an absolute path; {form}"));
        }
        if path.split('/').any(|part| part == "..")
            || !path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+@=,~".contains(c))
        {
            return Err(format!(
                "{path:?}: the copy script names it, so it may hold letters, digits and / . _ - + @ = , ~ only, and no ..; {form}"
            ));
        }
        Ok(Self {
            user: user.to_owned(),
            host: host.to_owned(),
            path: match path.trim_end_matches('/') {
                "" => "/".to_owned(),
                trimmed => trimmed.to_owned(),
            },
        })
    }

    /// The name under which its host key is in known_hosts: `host`, or `[host]:port` off port 22.
    pub fn known_hosts_name(&self, port: u16) -> String {
        if port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{port}", self.host)
        }
    }
}

impl fmt::Display for RemoteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.path)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.path)
        }
    }
}

/// Where the Job's pod finds the key and known_hosts (the Secret's mount).
pub const SSH_MOUNT: &str = "/run/openlsp-ssh";
/// The key's and known_hosts' names in that Secret (and directory).
pub const KEY_FILE: &str = "id";
pub const KNOWN_HOSTS_FILE: &str = "known_hosts";

/// `ssh`'s options for a source: key only from `key`, host key only from `known_hosts` under
/// the host's name (the connection goes to a resolved address), never asking, never writing.
pub fn ssh_options(source: &RemoteSource, port: u16, key: &str, known_hosts: &str) -> Vec<String> {
    let mut options = vec![
        "-p".to_owned(),
        port.to_string(),
        "-i".to_owned(),
        key.to_owned(),
    ];
    for option in [
        "BatchMode=yes".to_owned(),
        "IdentitiesOnly=yes".to_owned(),
        "IdentityAgent=none".to_owned(),
        "StrictHostKeyChecking=yes".to_owned(),
        format!("UserKnownHostsFile={known_hosts}"),
        "GlobalKnownHostsFile=/dev/null".to_owned(),
        // With an alias, ssh looks up the alias alone, so it carries the port ([host]:port).
        format!("HostKeyAlias={}", source.known_hosts_name(port)),
        "ConnectTimeout=30".to_owned(),
        "ServerAliveInterval=30".to_owned(),
        "ServerAliveCountMax=4".to_owned(),
    ] {
        options.push("-o".to_owned());
        options.push(option);
    }
    options
}

/// The source host's address: the host itself when it is one, else its first address. The Job
/// connects to it and its NetworkPolicy admits it alone.
pub fn resolve(host: &str, port: u16) -> Result<IpAddr, RemoteError> {
    if let Ok(address) = host.parse::<IpAddr>() {
        return Ok(address);
    }
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|err| RemoteError::Unresolved {
            host: host.to_owned(),
            reason: err.to_string(),
        })?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| RemoteError::Unresolved {
            host: host.to_owned(),
            reason: "no address".to_owned(),
        })
}

/// Why the source host could not be read. Nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "{host}: cannot resolve it ({reason}); nothing was changed\n  hint: give its address instead, as user@192.0.2.10:/path"
    )]
    Unresolved { host: String, reason: String },
    #[error(
        "{name} is not in {known_hosts}: openlsp copies only from a host whose key you already trust; nothing was changed\n  hint: connect once with ssh -p {port} {user}@{host} and compare the fingerprint it shows with the one on that host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), or pass --known-hosts FILE"
    )]
    UnknownHost {
        name: String,
        known_hosts: String,
        port: u16,
        user: String,
        host: String,
    },
    #[error(
        "{source_name}: the host's key is not the one {known_hosts} has for {name}; nothing was changed\n  hint: if the host was reinstalled, check its new key on the host and replace the line (ssh-keygen -R '{name}'); otherwise someone may be in the way"
    )]
    HostKeyChanged {
        source_name: String,
        name: String,
        known_hosts: String,
    },
    #[error(
        "{source_name}: the key of bootstrap-ssh was refused; nothing was changed\n  hint: add its public key (ssh-keygen -y -f KEY) to ~{user}/.ssh/authorized_keys on {host}"
    )]
    Refused {
        source_name: String,
        user: String,
        host: String,
    },
    #[error(
        "{source_name}: cannot connect: {reason}; nothing was changed\n  hint: is sshd running there and port {port} open from this machine?"
    )]
    Unreachable {
        source_name: String,
        port: u16,
        reason: String,
    },
    #[error(
        "{source_name}: {path} does not exist there; nothing was changed\n  hint: name the datadir that holds blocks/ and chainstate/"
    )]
    Missing { source_name: String, path: String },
    #[error(
        "{source_name}: rsync is not installed there, and the copy runs it on both ends; nothing was changed\n  hint: install it on the source host (apt install rsync)"
    )]
    NoRsync { source_name: String },
    #[error(
        "{tool} on this machine: {reason}\n  hint: --from-host needs OpenSSH's client here (apt install openssh-client)"
    )]
    Tool { tool: String, reason: String },
    #[error(
        "{source_name}: the preflight's answer ended early or is not openlsp's ({detail}); nothing was changed"
    )]
    Garbled { source_name: String, detail: String },
}

/// The lines of known_hosts `file` for `name` (`ssh-keygen -F`, which matches hashed names
/// too), comments left out. Empty when it has none.
pub fn known_hosts_entries(file: &Path, name: &str) -> Result<String, RemoteError> {
    if !file.is_file() {
        return Ok(String::new());
    }
    let output = Command::new("ssh-keygen")
        .arg("-F")
        .arg(name)
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| RemoteError::Tool {
            tool: "ssh-keygen".to_owned(),
            reason: err.to_string(),
        })?;
    // ssh-keygen -F exits 1 when it finds nothing.
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect())
}

/// An SSH connection to the source, as the preflight makes it on this machine.
pub struct Session<'a> {
    pub source: &'a RemoteSource,
    pub address: IpAddr,
    pub port: u16,
    pub key_file: &'a Path,
    /// The operator's known_hosts, which has the source's key.
    pub known_hosts_file: &'a Path,
}

impl Session<'_> {
    /// The source's chain for `network`, read by `inspect.sh` on the source host.
    pub fn read_chain(&self, network: Network) -> Result<Chain, RemoteError> {
        let script = inspect_script(&self.source.path, network);
        let mut child = Command::new("ssh")
            .args(ssh_options(
                self.source,
                self.port,
                &self.key_file.display().to_string(),
                &self.known_hosts_file.display().to_string(),
            ))
            .arg("-l")
            .arg(&self.source.user)
            .arg(self.address.to_string())
            .arg("sh -s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| RemoteError::Tool {
                tool: "ssh".to_owned(),
                reason: err.to_string(),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A connection that fails closes stdin early: its error is on stderr.
            let _ = stdin.write_all(script.as_bytes());
        }
        let output = child.wait_with_output().map_err(|err| RemoteError::Tool {
            tool: "ssh".to_owned(),
            reason: err.to_string(),
        })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() == Some(255) {
            return Err(self.connection_error(&stderr));
        }
        parse_inspection(
            &self.source.to_string(),
            &self.source.path,
            &String::from_utf8_lossy(&output.stdout),
        )
    }

    fn connection_error(&self, stderr: &str) -> RemoteError {
        let source_name = self.source.to_string();
        if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || stderr.contains("Host key verification failed")
        {
            return RemoteError::HostKeyChanged {
                source_name,
                name: self.source.known_hosts_name(self.port),
                known_hosts: self.known_hosts_file.display().to_string(),
            };
        }
        if stderr.contains("Permission denied") {
            return RemoteError::Refused {
                source_name,
                user: self.source.user.clone(),
                host: self.source.host.clone(),
            };
        }
        let reason = stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with("Warning:"))
            .unwrap_or("ssh exited with 255")
            .to_owned();
        RemoteError::Unreachable {
            source_name,
            port: self.port,
            reason,
        }
    }
}

/// `inspect.sh` with its inputs, single-quoted for the source's shell.
pub fn inspect_script(datadir: &str, network: Network) -> String {
    let others: Vec<&str> = Network::ALL
        .into_iter()
        .map(network_dir)
        .filter(|dir| !dir.is_empty())
        .collect();
    format!(
        "datadir={}\nnetwork_dir={}\nother_dirs={}\n{}",
        quote(datadir),
        quote(network_dir(network)),
        quote(&others.join(" ")),
        include_str!("inspect.sh")
    )
}

fn quote(text: &str) -> String {
    // RemoteSource::parse refuses NUL, so quoting cannot fail.
    shlex::try_quote(text).map_or_else(|_| "''".to_owned(), |quoted| quoted.into_owned())
}

/// The chain `inspect.sh` printed for `datadir` on `source_name`.
pub fn parse_inspection(
    source_name: &str,
    datadir: &str,
    output: &str,
) -> Result<Chain, RemoteError> {
    let garbled = |detail: &str| RemoteError::Garbled {
        source_name: source_name.to_owned(),
        detail: detail.to_owned(),
    };
    let mut lines = output.lines();
    let first = lines.next().ok_or_else(|| garbled("no output"))?;
    if first == "missing" {
        return Err(RemoteError::Missing {
            source_name: source_name.to_owned(),
            path: datadir.to_owned(),
        });
    }
    let dir = first
        .strip_prefix("dir ")
        .ok_or_else(|| garbled("no dir line"))?
        .to_owned();
    let mut chain = Chain {
        dir: dir.clone(),
        files: ChainFiles::default(),
        first_block_file: None,
        magic: None,
        tip: None,
        running: None,
    };
    let mut head: Option<Vec<u8>> = None;
    let mut xor = Vec::new();
    let mut log = String::new();
    let mut rsync = false;
    let mut ended = false;
    for line in lines {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "rsync" => rsync = rest == "yes",
            "running" => chain.running = Some(rest.to_owned()),
            "file" => {
                let (size, path) = rest.split_once(' ').ok_or_else(|| garbled(line))?;
                let size: u64 = size.parse().map_err(|_| garbled(line))?;
                let relative = path
                    .strip_prefix(&dir)
                    .map(|p| p.trim_start_matches('/').replace("//", "/"))
                    .ok_or_else(|| garbled(line))?;
                let name = relative.rsplit('/').next().unwrap_or_default();
                if !is_rsync_temporary(name) {
                    chain.files.files.insert(relative, size);
                }
            }
            "head" => {
                let (name, bytes) = rest.split_once(' ').unwrap_or((rest, ""));
                chain.first_block_file = Some(name.to_owned());
                head = Some(hex::decode(bytes).map_err(|_| garbled(line))?);
            }
            "xor" => xor = hex::decode(rest).map_err(|_| garbled(line))?,
            "log" => {
                log.push_str(rest);
                log.push('\n');
            }
            "end" => ended = true,
            _ => return Err(garbled(line)),
        }
    }
    if !ended {
        return Err(garbled("no end line"));
    }
    if !rsync {
        return Err(RemoteError::NoRsync {
            source_name: source_name.to_owned(),
        });
    }
    if let Some(first) = head.and_then(|bytes| <[u8; 4]>::try_from(bytes.as_slice()).ok()) {
        chain.magic = Some(unmask(first, &xor));
    }
    chain.tip = tip_height(&log);
    Ok(chain)
}

/// The operator's known_hosts: `$HOME/.ssh/known_hosts`.
pub fn default_known_hosts() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".ssh/known_hosts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_user_at_host_colon_absolute_path() {
        let source = RemoteSource::parse("bitcoin@node-a.lan:/srv/bitcoin/").unwrap();
        assert_eq!(
            (
                source.user.as_str(),
                source.host.as_str(),
                source.path.as_str()
            ),
            ("bitcoin", "node-a.lan", "/srv/bitcoin")
        );
        assert_eq!(source.to_string(), "bitcoin@node-a.lan:/srv/bitcoin");
        assert_eq!(source.known_hosts_name(22), "node-a.lan");
        assert_eq!(source.known_hosts_name(2222), "[node-a.lan]:2222");
        let v6 = RemoteSource::parse("me@[fd00::2]:/data").unwrap();
        assert_eq!(v6.host, "fd00::2");
        assert_eq!(v6.to_string(), "me@[fd00::2]:/data");
        for bad in [
            "node-a:/data",
            "me@node-a",
            "me@node-a:data",
            "me@node-a:/data/../etc",
            "-oProxyCommand=x@h:/d",
            "me@-oProxyCommand=x:/d",
            "me@[fd00::2/data",
            "me@node a:/d",
            "me@node-a:/srv/$(reboot)",
            "me@node-a:/srv/my chain",
        ] {
            assert!(RemoteSource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_options_pin_the_key_and_the_host_key_and_never_ask() {
        let source = RemoteSource::parse("me@node-a:/d").unwrap();
        let options = ssh_options(&source, 2222, "/k/id", "/k/known_hosts").join(" ");
        for wanted in [
            "-p 2222",
            "-i /k/id",
            "-o BatchMode=yes",
            "-o StrictHostKeyChecking=yes",
            "-o UserKnownHostsFile=/k/known_hosts",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o HostKeyAlias=[node-a]:2222",
            "-o IdentitiesOnly=yes",
        ] {
            assert!(options.contains(wanted), "{wanted} in {options}");
        }
    }

    #[test]
    fn the_script_gets_its_inputs_quoted() {
        let script = inspect_script("/srv/it's $HOME `x`", Network::Signet);
        let inputs: String = script.lines().take(3).map(|l| format!("{l}\n")).collect();
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{inputs}printf '%s|%s|%s' \"$datadir\" \"$network_dir\" \"$other_dirs\""
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            "/srv/it's $HOME `x`|signet|testnet3 testnet4 signet regtest simnet"
        );
    }

    #[test]
    fn an_inspection_gives_the_chain() {
        let output = "dir /srv/bitcoin/regtest\nrsync yes\n\
            file 16 /srv/bitcoin/regtest/blocks//blk00000.dat\n\
            file 8 /srv/bitcoin/regtest/blocks//xor.dat\n\
            file 99 /srv/bitcoin/regtest/blocks//.blk00001.dat.Ab12Cd\n\
            file 5 /srv/bitcoin/regtest/chainstate//CURRENT\n\
            head blk00000.dat fbbdb5da\nxor 0102000000000000\n\
            log 2026-01-01T00:00:02Z UpdateTip: new best=00cd height=300 version=0x20000000\n\
            end\n";
        let chain = parse_inspection("me@a:/srv/bitcoin", "/srv/bitcoin", output).unwrap();
        assert_eq!(chain.dir, "/srv/bitcoin/regtest");
        assert_eq!(chain.magic, Some([0xfa, 0xbf, 0xb5, 0xda]));
        assert_eq!(chain.tip, Some(300));
        assert_eq!(chain.files.files.len(), 3);
        assert_eq!(chain.files.dirs(), ["blocks", "chainstate"]);
        assert_eq!(chain.running, None);

        let running = output.replace(
            "rsync yes\n",
            "rsync yes\nrunning /srv/bitcoin/regtest/bitcoind.pid\n",
        );
        assert_eq!(
            parse_inspection("s", "/d", &running)
                .unwrap()
                .running
                .as_deref(),
            Some("/srv/bitcoin/regtest/bitcoind.pid")
        );
        assert!(matches!(
            parse_inspection("s", "/d", "missing\n"),
            Err(RemoteError::Missing { .. })
        ));
        assert!(matches!(
            parse_inspection("s", "/d", &output.replace("rsync yes", "rsync no")),
            Err(RemoteError::NoRsync { .. })
        ));
        assert!(matches!(
            parse_inspection("s", "/d", &output.replace("end\n", "")),
            Err(RemoteError::Garbled { .. })
        ));
        assert!(matches!(
            parse_inspection("s", "/d", "Welcome to node-a!\n"),
            Err(RemoteError::Garbled { .. })
        ));
    }
}
