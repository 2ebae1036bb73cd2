//! The profile `openlsp init` writes for a new site: the few choices it asks for, rendered
//! through `new_site.yaml.j2` (beside this file) into a short profile with comments. Each choice
//! is checked by loading that profile exactly as `openlsp validate` would, so the wizard and
//! the profile never disagree.

use std::path::Path;
use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::chain::{ChainMode, MIN_PRUNE_MIB};
use super::defaults::DEFAULT_COLOR;
use super::diagnostic::ProfileError;
use super::load::{LoadedProfile, parse};
use super::quantity::Bytes;
use super::site::{API_VERSION, Arch, KIND, Network};

/// A disk as the new profile names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDisk {
    pub path: String,
    pub size: Bytes,
}

/// Everything a new site's profile is made from: the wizard's answers and the machine's own
/// facts (arch, memory, cpus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSite {
    pub site: String,
    pub network: Network,
    pub node_name: String,
    pub arch: Arch,
    pub memory: Bytes,
    pub cpus: u32,
    pub blockchain: NewDisk,
    pub lightning: NewDisk,
    /// The operator accepted Lightning state on the blockchain's filesystem: one disk when
    /// the paths are the same, else the Lightning disk opts in.
    pub share_disk: bool,
    pub chain: ChainMode,
    pub alias: String,
    pub color: String,
}

/// The choices that are checked one by one while the wizard asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Site,
    NodeName,
    BlockchainPath,
    LightningPath,
    Prune,
    Alias,
    Color,
}

impl Choice {
    /// Where the new profile writes this choice (`spec.lightning[0].alias`).
    fn path(self) -> &'static str {
        match self {
            Choice::Site => "metadata.name",
            Choice::NodeName => "spec.host.nodeName",
            Choice::BlockchainPath => "spec.disks.blockchain.path",
            Choice::LightningPath => "spec.disks.lightning.path",
            Choice::Prune => "spec.bitcoin[0].prune",
            Choice::Alias => "spec.lightning[0].alias",
            Choice::Color => "spec.lightning[0].color",
        }
    }
}

const TEMPLATE_NAME: &str = "new_site.yaml.j2";

/// The template, with a filter for each way it writes a string; nothing is escaped.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_filter("scalar", |text: String| scalar(&text));
    env.add_filter("quoted", |text: String| quoted(&text));
    env.add_template(TEMPLATE_NAME, include_str!("new_site.yaml.j2"))
        .expect("the new-site template parses; this is a bug in openlsp");
    env
});

/// What the template sees: every value ready to print.
#[derive(Serialize)]
struct Context<'a> {
    /// The first line: where editors find the schema.
    modeline: String,
    api_version: &'a str,
    kind: &'a str,
    site: &'a str,
    network: &'a str,
    node_name: &'a str,
    arch: &'a str,
    memory: String,
    cpus: u32,
    blockchain: DiskContext<'a>,
    lightning: DiskContext<'a>,
    /// Both paths are the same: one disk, opted in.
    one_disk: bool,
    one_disk_size: String,
    /// Lightning state on the chain's filesystem, opted in.
    share_disk: bool,
    txindex: bool,
    prune: Option<u64>,
    /// What the full chain needs, for its comment.
    chain_needs: String,
    alias: &'a str,
    color: &'a str,
}

#[derive(Serialize)]
struct DiskContext<'a> {
    path: &'a str,
    size: String,
}

impl<'a> From<&'a NewDisk> for DiskContext<'a> {
    fn from(disk: &'a NewDisk) -> Self {
        DiskContext {
            path: &disk.path,
            size: disk.size.to_string(),
        }
    }
}

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
    if plain { text.to_owned() } else { quoted(text) }
}

/// A double-quoted YAML scalar (JSON's string syntax, which YAML reads the same way).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

impl NewSite {
    /// A starting point that validates, so each choice can be checked on its own.
    pub fn placeholder(arch: Arch, memory: Bytes, cpus: u32) -> NewSite {
        NewSite {
            site: "openlsp".to_owned(),
            network: Network::Mainnet,
            node_name: "node".to_owned(),
            arch,
            memory,
            cpus,
            blockchain: NewDisk {
                path: "/srv/blockchain".to_owned(),
                size: Bytes::gib(1024),
            },
            lightning: NewDisk {
                path: "/srv/lightning".to_owned(),
                size: Bytes::gib(20),
            },
            share_disk: false,
            chain: ChainMode::Pruned(MIN_PRUNE_MIB),
            alias: "openlsp".to_owned(),
            color: DEFAULT_COLOR.to_owned(),
        }
    }

    /// The site profile, with short comments.
    pub fn to_yaml(&self) -> String {
        let (txindex, prune) = match self.chain {
            ChainMode::Txindex => (true, None),
            ChainMode::Full => (false, None),
            ChainMode::Pruned(mib) => (false, Some(mib)),
        };
        let context = Context {
            modeline: super::schema::modeline(super::schema::SCHEMA_URL),
            api_version: API_VERSION,
            kind: KIND,
            site: &self.site,
            network: self.network.as_str(),
            node_name: &self.node_name,
            arch: self.arch.as_str(),
            memory: self.memory.to_string(),
            cpus: self.cpus,
            blockchain: (&self.blockchain).into(),
            lightning: (&self.lightning).into(),
            one_disk: self.share_disk && self.blockchain.path == self.lightning.path,
            one_disk_size: self.blockchain.size.max(self.lightning.size).to_string(),
            share_disk: self.share_disk,
            txindex,
            prune,
            chain_needs: self.chain.describe(self.network),
            alias: &self.alias,
            color: &self.color,
        };
        TEMPLATES
            .get_template(TEMPLATE_NAME)
            .and_then(|template| template.render(context))
            .expect("the new-site template renders every choice; this is a bug in openlsp")
    }

    /// Validates the profile these choices make, exactly as `openlsp validate` would.
    pub fn validate(&self, file: &Path) -> Result<LoadedProfile, ProfileError> {
        parse(file, &self.to_yaml())
    }

    /// Why `choice` is not valid, if it is not; problems elsewhere in the profile are not
    /// reported here.
    pub fn problem_at(&self, choice: Choice) -> Option<String> {
        let Err(ProfileError::Invalid { diagnostics }) = self.validate(Path::new("openlsp.yaml"))
        else {
            return None;
        };
        let field = choice.path();
        diagnostics
            .into_iter()
            .find(|d| d.path == field || d.path.starts_with(&format!("{field}.")))
            .map(|d| match d.hint {
                Some(hint) => format!("{}; {hint}", d.message),
                None => d.message,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi() -> NewSite {
        NewSite {
            site: "home-pi".to_owned(),
            node_name: "pi4".to_owned(),
            chain: ChainMode::Txindex,
            alias: "my \"node\": #1".to_owned(),
            blockchain: NewDisk {
                path: "/srv/blockchain".to_owned(),
                size: Bytes::gib(1863),
            },
            ..NewSite::placeholder(Arch::Arm64, Bytes::gib(8), 4)
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
        // The one warning: no backup target yet, which init cannot know (docs/backup.md).
        let warnings: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(warnings, ["spec.lightning"], "{:?}", loaded.warnings);
    }

    #[test]
    fn a_shared_disk_is_one_opted_in_disk() {
        let answers = NewSite {
            share_disk: true,
            lightning: pi().blockchain,
            ..pi()
        };
        let site = answers.validate(Path::new("p.yaml")).unwrap().site;
        assert_eq!(site.spec.disks.len(), 1);
        assert!(site.spec.disks["data"].allow_bitcoin_and_lightning);
        // Without the opt-in the same paths are refused by validation.
        let refused = NewSite {
            share_disk: false,
            ..answers
        };
        assert!(refused.validate(Path::new("p.yaml")).is_err());
    }

    #[test]
    fn each_answer_is_checked_by_profile_validation() {
        let answers = NewSite {
            color: "blue".to_owned(),
            site: "Home Pi".to_owned(),
            chain: ChainMode::Pruned(10),
            ..pi()
        };
        assert!(
            answers
                .problem_at(Choice::Color)
                .unwrap()
                .contains("#rrggbb")
        );
        assert!(
            answers
                .problem_at(Choice::Site)
                .unwrap()
                .contains("DNS-1123")
        );
        assert!(answers.problem_at(Choice::Prune).unwrap().contains("550"));
        assert_eq!(answers.problem_at(Choice::NodeName), None);
    }

    #[test]
    fn a_shared_filesystem_at_another_path_opts_the_lightning_disk_in() {
        let answers = NewSite {
            share_disk: true,
            lightning: NewDisk {
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

    /// One disk, a pruned chain, and names YAML would read otherwise: the whole file, and the
    /// same choices after loading it back.
    #[test]
    fn one_pruned_disk_with_quoted_names_is_written_as_it_reads_back() {
        let answers = NewSite {
            site: "no".to_owned(),
            network: Network::Signet,
            node_name: "123".to_owned(),
            share_disk: true,
            lightning: NewDisk {
                path: "/srv/my disk".to_owned(),
                size: Bytes::gib(20),
            },
            blockchain: NewDisk {
                path: "/srv/my disk".to_owned(),
                size: Bytes::gib(900),
            },
            chain: ChainMode::Pruned(2000),
            alias: "<a & b>".to_owned(),
            ..pi()
        };
        assert_eq!(
            answers.to_yaml(),
            r##"# yaml-language-server: $schema=https://raw.githubusercontent.com/openlsp/openlsp/main/schema/site.schema.json
# Site profile written by `openlsp init`. `openlsp validate --show-effective` prints it
# with every default filled in; docs/profile.md describes every field.
apiVersion: openlsp.io/v1alpha1
kind: Site
metadata:
  name: "no"
spec:
  network: signet
  # Every object of the site lives in this namespace.
  namespace: "no"
  # This machine as `openlsp init` found it (uname -m, /proc/meminfo, /proc/cpuinfo).
  host: { nodeName: "123", arch: arm64, memory: 8Gi, cpus: 4 }
  # Mounted disks; each node keeps its data in <path>/<node name>.
  disks:
    # One disk for both, as asked: if the chain fills it, LND cannot write channel state.
    data: { path: "/srv/my disk", size: 900Gi, allowBitcoinAndLightning: true }
  bitcoin:
    - name: bitcoind
      disk: data
      prune: 2000 # MiB of recent blocks to keep; LND works with a pruned node, but slower
  lightning:
    - name: lnd
      bitcoin: bitcoind # its Bitcoin backend, by name
      disk: data
      alias: "<a & b>" # public name in the Lightning network graph
      color: "#3399ff"
"##
        );
        let site = answers.validate(Path::new("p.yaml")).unwrap().site;
        assert_eq!(site.name(), "no");
        assert_eq!(site.spec.host.node_name, "123");
        assert_eq!(site.spec.disks["data"].path, "/srv/my disk");
        assert_eq!(site.spec.bitcoin[0].prune, Some(2000));
        assert_eq!(site.spec.lightning[0].alias, "<a & b>");
    }

    #[test]
    fn scalars_that_yaml_would_change_are_quoted() {
        assert_eq!(scalar("/srv/blockchain"), "/srv/blockchain");
        assert_eq!(scalar("home-pi"), "home-pi");
        assert_eq!(scalar("no"), "\"no\"");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("/srv/my disk"), "\"/srv/my disk\"");
    }
}
