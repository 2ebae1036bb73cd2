//! What `openlsp init` proposes for this machine: which mounted disks hold the chain and the
//! Lightning state, what the chain will need, and the site profile written from the answers.
//! Every answer is checked by rendering the profile and running the same validation as
//! `openlsp validate`, so the wizard and the profile never disagree.

use std::path::Path;

use super::inspect::{Machine, Space};
use super::mounts::{Mount, MountTable};
use crate::profile::quantity::Bytes;
use crate::profile::{self, Arch, MIN_PRUNE_MIB, Network, ProfileError, mainnet_chain_size};

/// A mounted filesystem that could be a data disk, with its size when `df` knew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCandidate {
    pub mount: Mount,
    pub space: Option<Space>,
}

impl DiskCandidate {
    /// The machine's data disks, with the sizes [`Machine::measure`] found.
    pub fn all(machine: &Machine) -> Vec<DiskCandidate> {
        machine
            .mounts
            .data_disks()
            .into_iter()
            .map(|mount| DiskCandidate {
                mount: mount.clone(),
                space: machine
                    .spaces
                    .get(&mount.target)
                    .and_then(|space| space.as_ref().ok().copied()),
            })
            .collect()
    }

    /// `/srv/blockchain (ext4, 1.8Ti, 1.7Ti free)`.
    pub fn label(&self) -> String {
        let space = self
            .space
            .map(|s| format!(", {}, {} free", s.size.human(), s.free.human()))
            .unwrap_or_default();
        format!("{} ({}{space})", self.mount.target, self.mount.fstype)
    }
}

/// Which candidate holds what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskProposal<'a> {
    pub blockchain: Option<&'a DiskCandidate>,
    pub lightning: Option<&'a DiskCandidate>,
}

fn named(candidate: &DiskCandidate, words: &[&str]) -> bool {
    let target = candidate.mount.target.to_ascii_lowercase();
    words.iter().any(|word| target.contains(word))
}

/// The chain goes on the disk named for it, else the biggest; Lightning on the disk named for
/// it, else the smallest of the others. Never both on one disk.
pub fn propose_disks(candidates: &[DiskCandidate]) -> DiskProposal<'_> {
    let size = |c: &&DiskCandidate| c.space.map_or(0, |s| s.size.0);
    let blockchain = candidates
        .iter()
        .find(|c| named(c, &["blockchain", "bitcoin", "chain"]))
        .or_else(|| candidates.iter().max_by_key(size));
    let others = || {
        candidates.iter().filter(move |c| {
            Some(c.mount.target.as_str()) != blockchain.map(|b| b.mount.target.as_str())
        })
    };
    let lightning = others()
        .find(|c| named(c, &["lightning", "lnd"]))
        .or_else(|| others().min_by_key(size));
    DiskProposal {
        blockchain,
        lightning,
    }
}

/// Whether Lightning state at `lightning` would share the blockchain's filesystem: the same
/// path, or a path on the filesystem mounted for the chain (a bind mount or a directory of
/// it). A chain path that is not mounted yet (it is on the root filesystem) shares nothing.
pub fn on_chain_filesystem(mounts: &MountTable, blockchain: &str, lightning: &str) -> bool {
    if blockchain == lightning {
        return true;
    }
    let (Some(chain), Some(state)) = (mounts.containing(blockchain), mounts.containing(lightning))
    else {
        return false;
    };
    let chain_on_root = mounts
        .root()
        .is_some_and(|root| root.same_filesystem(chain));
    !chain_on_root && chain.same_filesystem(state)
}

/// How much of the chain bitcoind keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainMode {
    /// The full chain and the transaction index.
    Txindex,
    /// The full chain, no index.
    Full,
    /// Only recent blocks, this many MiB.
    Pruned(u64),
}

impl ChainMode {
    /// What this choice costs in disk space on `network`.
    pub fn describe(self, network: Network) -> String {
        let size = |txindex: bool| {
            if network == Network::Mainnet {
                format!("about {}", mainnet_chain_size(txindex))
            } else {
                format!("far less than mainnet's {}", mainnet_chain_size(txindex))
            }
        };
        match self {
            ChainMode::Txindex => format!("full chain with txindex: needs {}", size(true)),
            ChainMode::Full => format!("full chain without txindex: needs {}", size(false)),
            ChainMode::Pruned(mib) => format!(
                "pruned to {mib} MiB of recent blocks: small, no txindex; LND works, but slower"
            ),
        }
    }

    /// Whether the chain fits on a disk of `size` (always, off mainnet or pruned).
    pub fn fits(self, network: Network, size: Bytes) -> bool {
        match self {
            ChainMode::Txindex if network == Network::Mainnet => size >= mainnet_chain_size(true),
            ChainMode::Full if network == Network::Mainnet => size >= mainnet_chain_size(false),
            _ => true,
        }
    }
}

/// A disk as the wizard writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskAnswer {
    pub path: String,
    pub size: Bytes,
}

/// The size written for a disk of `size` bytes: whole GiB, rounded down so it fits.
pub fn disk_size(size: Bytes) -> Bytes {
    let gib = size.0 / Bytes::gib(1).0;
    if gib > 0 {
        Bytes::gib(gib)
    } else {
        Bytes::mib(size.as_mib().max(1))
    }
}

/// Every answer of the wizard; the machine's own facts (arch, memory, cpus) included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub site: String,
    pub network: Network,
    pub node_name: String,
    pub arch: Arch,
    pub memory: Bytes,
    pub cpus: u32,
    pub blockchain: DiskAnswer,
    pub lightning: DiskAnswer,
    /// The operator accepted Lightning state on the blockchain's filesystem: one disk when
    /// the paths are the same, else the Lightning disk opts in.
    pub share_disk: bool,
    pub chain: ChainMode,
    pub alias: String,
    pub color: String,
}

/// LND's own default colour, also the wizard's.
pub const DEFAULT_COLOR: &str = "#3399ff";
pub const BITCOIN_NODE: &str = "bitcoind";
pub const LIGHTNING_NODE: &str = "lnd";

/// A YAML scalar: plain when that reads back as the same string, double-quoted otherwise.
fn scalar(text: &str) -> String {
    const KEYWORDS: [&str; 11] = [
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~", "",
    ];
    let plain = text.starts_with(|c: char| c.is_ascii_lowercase() || c == '/')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "/_.-".contains(c))
        && !KEYWORDS.contains(&text);
    if plain {
        text.to_owned()
    } else {
        serde_json::Value::String(text.to_owned()).to_string()
    }
}

impl Answers {
    /// The site profile, with short comments.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        let mut line = |text: &str| {
            out.push_str(text);
            out.push('\n');
        };
        line(
            "# Site profile written by `openlsp init`. `openlsp validate --show-effective` prints it",
        );
        line("# with every default filled in; docs/profile.md describes every field.");
        line(&format!("apiVersion: {}", profile::API_VERSION));
        line(&format!("kind: {}", profile::KIND));
        line("metadata:");
        line(&format!("  name: {}", scalar(&self.site)));
        line("spec:");
        line(&format!("  network: {}", self.network.as_str()));
        line("  # Every object of the site lives in this namespace.");
        line(&format!("  namespace: {}", scalar(&self.site)));
        line(
            "  # This machine as `openlsp init` found it (uname -m, /proc/meminfo, /proc/cpuinfo).",
        );
        line(&format!(
            "  host: {{ nodeName: {}, arch: {}, memory: {}, cpus: {} }}",
            scalar(&self.node_name),
            self.arch.as_str(),
            self.memory,
            self.cpus
        ));
        line("  # Mounted disks; each node keeps its data in <path>/<node name>.");
        line("  disks:");
        let one_disk = self.share_disk && self.blockchain.path == self.lightning.path;
        let (chain_disk, lightning_disk) = if one_disk {
            line(
                "    # One disk for both, as asked: if the chain fills it, LND cannot write channel state.",
            );
            line(&format!(
                "    data: {{ path: {}, size: {}, allowBitcoinAndLightning: true }}",
                scalar(&self.blockchain.path),
                self.blockchain.size.max(self.lightning.size)
            ));
            ("data", "data")
        } else {
            line(&format!(
                "    blockchain: {{ path: {}, size: {} }}",
                scalar(&self.blockchain.path),
                self.blockchain.size
            ));
            if self.share_disk {
                line(
                    "    # On the chain's filesystem, as asked: if the chain fills it, LND cannot write channel state.",
                );
                line(&format!(
                    "    lightning: {{ path: {}, size: {}, allowBitcoinAndLightning: true }}",
                    scalar(&self.lightning.path),
                    self.lightning.size
                ));
            } else {
                line(
                    "    # Lightning state on its own disk: a full chain disk can never stop LND writing it.",
                );
                line(&format!(
                    "    lightning: {{ path: {}, size: {} }}",
                    scalar(&self.lightning.path),
                    self.lightning.size
                ));
            }
            ("blockchain", "lightning")
        };
        line("  bitcoin:");
        line(&format!("    - name: {BITCOIN_NODE}"));
        line(&format!("      disk: {chain_disk}"));
        match self.chain {
            ChainMode::Txindex => line(&format!(
                "      txindex: true # {}",
                ChainMode::Txindex.describe(self.network)
            )),
            ChainMode::Full => line(&format!(
                "      txindex: false # {}",
                ChainMode::Full.describe(self.network)
            )),
            ChainMode::Pruned(mib) => line(&format!(
                "      prune: {mib} # MiB of recent blocks to keep; LND works with a pruned node, but slower"
            )),
        }
        line("  lightning:");
        line(&format!("    - name: {LIGHTNING_NODE}"));
        line(&format!(
            "      bitcoin: {BITCOIN_NODE} # its Bitcoin backend, by name"
        ));
        line(&format!("      disk: {lightning_disk}"));
        line(&format!(
            "      alias: {} # public name in the Lightning network graph",
            serde_json::Value::String(self.alias.clone())
        ));
        line(&format!(
            "      color: {}",
            serde_json::Value::String(self.color.clone())
        ));
        out
    }

    /// Validates the profile these answers make, exactly as `openlsp validate` would.
    pub fn validate(&self, file: &Path) -> Result<profile::LoadedProfile, ProfileError> {
        profile::parse(file, &self.to_yaml())
    }

    /// Why the answer at `field` (a profile path such as `spec.lightning[0].alias`) is not
    /// valid, if it is not; problems elsewhere in the profile are not reported here.
    pub fn problem_at(&self, field: &str) -> Option<String> {
        let Err(ProfileError::Invalid { diagnostics }) = self.validate(Path::new("openlsp.yaml"))
        else {
            return None;
        };
        diagnostics
            .into_iter()
            .find(|d| d.path == field || d.path.starts_with(&format!("{field}.")))
            .map(|d| match d.hint {
                Some(hint) => format!("{}; {hint}", d.message),
                None => d.message,
            })
    }

    /// Field paths of each answer in the profile the answers make.
    pub fn field(answer: Field) -> &'static str {
        match answer {
            Field::Site => "metadata.name",
            Field::NodeName => "spec.host.nodeName",
            Field::BlockchainPath => "spec.disks.blockchain.path",
            Field::LightningPath => "spec.disks.lightning.path",
            Field::Prune => "spec.bitcoin[0].prune",
            Field::Alias => "spec.lightning[0].alias",
            Field::Color => "spec.lightning[0].color",
        }
    }
}

/// The answers that are checked one by one while the wizard asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Site,
    NodeName,
    BlockchainPath,
    LightningPath,
    Prune,
    Alias,
    Color,
}

/// A starting point that validates, so each answer can be checked on its own.
pub fn placeholder_answers(arch: Arch, memory: Bytes, cpus: u32) -> Answers {
    Answers {
        site: "openlsp".to_owned(),
        network: Network::Mainnet,
        node_name: "node".to_owned(),
        arch,
        memory,
        cpus,
        blockchain: DiskAnswer {
            path: "/srv/blockchain".to_owned(),
            size: Bytes::gib(1024),
        },
        lightning: DiskAnswer {
            path: "/srv/lightning".to_owned(),
            size: Bytes::gib(20),
        },
        share_disk: false,
        chain: ChainMode::Pruned(MIN_PRUNE_MIB),
        alias: "openlsp".to_owned(),
        color: DEFAULT_COLOR.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(target: &str, gib: u64) -> DiskCandidate {
        DiskCandidate {
            mount: Mount {
                source: format!("/dev/{}", target.trim_start_matches("/srv/")),
                target: target.to_owned(),
                fstype: "ext4".to_owned(),
            },
            space: Some(Space {
                size: Bytes::gib(gib),
                free: Bytes::gib(gib),
            }),
        }
    }

    #[test]
    fn proposes_by_name_then_by_size() {
        let disks = [
            candidate("/srv/a", 30),
            candidate("/srv/b", 2000),
            candidate("/srv/c", 100),
        ];
        let proposal = propose_disks(&disks);
        assert_eq!(proposal.blockchain.unwrap().mount.target, "/srv/b");
        assert_eq!(proposal.lightning.unwrap().mount.target, "/srv/a");
        let named = [
            candidate("/srv/lightning", 2000),
            candidate("/srv/blockchain", 30),
        ];
        let proposal = propose_disks(&named);
        assert_eq!(proposal.blockchain.unwrap().mount.target, "/srv/blockchain");
        assert_eq!(proposal.lightning.unwrap().mount.target, "/srv/lightning");
        let one = [candidate("/srv/data", 900)];
        assert_eq!(propose_disks(&one).lightning, None);
    }

    fn pi() -> Answers {
        Answers {
            site: "home-pi".to_owned(),
            node_name: "pi4".to_owned(),
            chain: ChainMode::Txindex,
            alias: "my \"node\": #1".to_owned(),
            blockchain: DiskAnswer {
                path: "/srv/blockchain".to_owned(),
                size: Bytes::gib(1863),
            },
            ..placeholder_answers(Arch::Arm64, Bytes::gib(8), 4)
        }
    }

    #[test]
    fn the_written_profile_validates_and_says_what_was_answered() {
        let answers = pi();
        let loaded = answers.validate(Path::new("openlsp.yaml")).unwrap();
        let site = &loaded.site;
        assert_eq!(site.name(), "home-pi");
        assert_eq!(site.spec.host.node_name, "pi4");
        assert_eq!(site.spec.host.memory, Bytes::gib(8));
        assert!(site.spec.bitcoin[0].txindex);
        assert_eq!(site.spec.lightning[0].alias, "my \"node\": #1");
        assert_eq!(site.spec.disks["blockchain"].size, Bytes::gib(1863));
        assert!(!site.spec.disks["lightning"].allow_bitcoin_and_lightning);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn a_shared_disk_is_one_opted_in_disk() {
        let answers = Answers {
            share_disk: true,
            lightning: pi().blockchain,
            ..pi()
        };
        let site = answers.validate(Path::new("p.yaml")).unwrap().site;
        assert_eq!(site.spec.disks.len(), 1);
        assert!(site.spec.disks["data"].allow_bitcoin_and_lightning);
        // Without the opt-in the same paths are refused by validation.
        let refused = Answers {
            share_disk: false,
            ..answers
        };
        assert!(refused.validate(Path::new("p.yaml")).is_err());
    }

    #[test]
    fn each_answer_is_checked_by_profile_validation() {
        let answers = Answers {
            color: "blue".to_owned(),
            site: "Home Pi".to_owned(),
            chain: ChainMode::Pruned(10),
            ..pi()
        };
        assert!(
            answers
                .problem_at(Answers::field(Field::Color))
                .unwrap()
                .contains("#rrggbb")
        );
        assert!(
            answers
                .problem_at(Answers::field(Field::Site))
                .unwrap()
                .contains("DNS-1123")
        );
        assert!(
            answers
                .problem_at(Answers::field(Field::Prune))
                .unwrap()
                .contains("550")
        );
        assert_eq!(answers.problem_at(Answers::field(Field::NodeName)), None);
    }

    #[test]
    fn a_shared_filesystem_at_another_path_opts_the_lightning_disk_in() {
        let answers = Answers {
            share_disk: true,
            lightning: DiskAnswer {
                path: "/srv/lightning".to_owned(),
                size: Bytes::gib(1863),
            },
            ..pi()
        };
        let yaml = answers.to_yaml();
        assert!(
            yaml.contains("# On the chain's filesystem, as asked"),
            "{yaml}"
        );
        let site = answers.validate(Path::new("p.yaml")).unwrap().site;
        assert_eq!(site.spec.disks.len(), 2);
        assert!(site.spec.disks["lightning"].allow_bitcoin_and_lightning);
        assert!(!site.spec.disks["blockchain"].allow_bitcoin_and_lightning);
    }

    #[test]
    fn lightning_shares_the_chain_filesystem_by_device_not_by_name() {
        let mounts = MountTable::parse(
            "/dev/mmcblk0p2 / ext4 rw 0 0\n/dev/sda1 /srv/blockchain ext4 rw 0 0\n/dev/sda1 /srv/lightning ext4 rw 0 0\n/dev/sda2 /srv/lnd ext4 rw 0 0\n",
        );
        assert!(on_chain_filesystem(
            &mounts,
            "/srv/blockchain",
            "/srv/blockchain"
        ));
        assert!(on_chain_filesystem(
            &mounts,
            "/srv/blockchain",
            "/srv/lightning"
        ));
        assert!(on_chain_filesystem(
            &mounts,
            "/srv/blockchain",
            "/srv/blockchain/lnd"
        ));
        assert!(!on_chain_filesystem(&mounts, "/srv/blockchain", "/srv/lnd"));
        // Neither is mounted yet: both are on the root filesystem for now, which proves nothing.
        assert!(!on_chain_filesystem(&mounts, "/srv/chain", "/srv/ln"));
        assert!(!on_chain_filesystem(&mounts, "/srv/blockchain", "/srv/new"));
    }

    #[test]
    fn scalars_that_yaml_would_change_are_quoted() {
        assert_eq!(scalar("/srv/blockchain"), "/srv/blockchain");
        assert_eq!(scalar("home-pi"), "home-pi");
        assert_eq!(scalar("no"), "\"no\"");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("/srv/my disk"), "\"/srv/my disk\"");
    }

    #[test]
    fn chain_choices_state_their_size() {
        assert!(
            ChainMode::Txindex
                .describe(Network::Mainnet)
                .contains("920Gi")
        );
        assert!(ChainMode::Full.describe(Network::Mainnet).contains("850Gi"));
        assert!(!ChainMode::Txindex.fits(Network::Mainnet, Bytes::gib(900)));
        assert!(ChainMode::Full.fits(Network::Mainnet, Bytes::gib(900)));
        assert!(ChainMode::Txindex.fits(Network::Signet, Bytes::gib(50)));
        assert_eq!(disk_size(Bytes(2_000_398_934_016)), Bytes::gib(1863));
    }
}
