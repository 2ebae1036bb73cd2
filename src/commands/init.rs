//! `openlsp init`: check the machine (`--check`), make the safe file edits (`--fix`), or ask a
//! few questions and write the site profile. [`crate::host`] inspects, checks and proposes
//! disks, [`crate::profile::NewSite`] makes the profile from the answers; this file asks, hands
//! results to the ui and writes the file.

use std::io;
use std::path::Path;

use anyhow::{Context as _, bail};

use super::Outcome;
use crate::cli::{GlobalArgs, InitAnswers, InitArgs};
use crate::fsutil;
use crate::host::fix::{self, FileFix};
use crate::host::proposal::{DiskCandidate, disk_size, on_chain_filesystem, propose_disks};
use crate::host::{self, HostEnv, HostRoot, Machine, Report, Runner, SystemRunner};
use crate::profile::quantity::Bytes;
use crate::profile::{
    self, ChainMode, Choice, DEFAULT_COLOR, LoadedProfile, MIN_PRUNE_MIB, Network, NewDisk,
    NewSite, is_dns_label,
};
use crate::ui::Ui;

/// The written profile has no secrets: readable like any config file.
const PROFILE_MODE: u32 = 0o644;
const ASK_INSTEAD: &str = "pass the answers as flags (see `openlsp init --help`)";

/// The machine openlsp looks at: its files under a root, its programs through a runner.
struct Host<'a> {
    root: HostRoot,
    runner: &'a dyn Runner,
    env: HostEnv,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<Outcome> {
    if !args.host_root.is_dir() {
        bail!(
            "--host-root {}: not a directory; leave it out to check this machine (/)",
            args.host_root.display()
        );
    }
    // Programs such as `df` and microk8s's kubectl run elsewhere: give them absolute paths.
    let host_root = std::path::absolute(&args.host_root)
        .with_context(|| format!("--host-root {}", args.host_root.display()))?;
    let runner = SystemRunner::default();
    let host = Host {
        root: HostRoot::new(host_root),
        runner: &runner,
        env: HostEnv::from_env(),
    };
    if args.check {
        check(ui, global, &host)
    } else if args.fix {
        fix(ui, global, args, &host)
    } else {
        wizard(ui, global, args, &host)
    }
}

fn profile_exists(path: &Path) -> anyhow::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err).with_context(|| format!("looking for the profile {}", path.display())),
    }
}

/// The profile when one exists; a broken one is an error, as for every other command.
fn existing_profile(ui: &Ui, global: &GlobalArgs) -> anyhow::Result<Option<LoadedProfile>> {
    if profile_exists(&global.profile)? {
        Ok(Some(super::load_profile(ui, global)?))
    } else {
        Ok(None)
    }
}

fn inspect(host: &Host<'_>, site: Option<&profile::Site>) -> anyhow::Result<Machine> {
    host::inspect_for(&host.root, host.runner, &host.env, site)
        .with_context(|| format!("inspecting the host under {}", host.root.dir().display()))
}

fn check(ui: &Ui, global: &GlobalArgs, host: &Host<'_>) -> anyhow::Result<Outcome> {
    let loaded = existing_profile(ui, global)?;
    let site = loaded.as_ref().map(|l| &l.site);
    match site {
        Some(site) => ui.info(&format!(
            "checking this machine for site {} ({})",
            site.name(),
            global.profile.display()
        )),
        None => ui.info(&format!(
            "checking this machine; there is no {} yet, so disks are proposed from what is mounted",
            global.profile.display()
        )),
    }
    let machine = inspect(host, site)?;
    let report = host::preflight(&machine, site);
    ui.check_report(&report);
    fail_unless_passed(&report)
}

fn fail_unless_passed(report: &Report) -> anyhow::Result<Outcome> {
    let failed = report.count(host::Status::Fail);
    if failed > 0 {
        bail!(
            "{failed} check{} failed; make the fixes shown, then run `openlsp init --check` again",
            if failed == 1 { "" } else { "s" }
        );
    }
    Ok(Outcome::Ok)
}

fn fix(ui: &Ui, global: &GlobalArgs, args: &InitArgs, host: &Host<'_>) -> anyhow::Result<Outcome> {
    let loaded = existing_profile(ui, global)?;
    let site = loaded.as_ref().map(|l| &l.site);
    let machine = inspect(host, site)?;
    let mut edits = Vec::new();
    for planned in fix::plan(&machine) {
        match planned {
            FileFix::Done { path, summary } => {
                ui.success(&format!("{path}: {summary}: already done"));
            }
            FileFix::Needed(edit) => edits.push(edit),
        }
    }
    if edits.is_empty() {
        ui.success("no file needs an edit; nothing was changed");
    } else {
        for edit in &edits {
            ui.edit_preview(edit);
        }
        let question = format!(
            "Make {} (each file's original is kept as <file>{})?",
            if edits.len() == 1 {
                "this edit".to_owned()
            } else {
                format!("these {} edits", edits.len())
            },
            fix::BACKUP_SUFFIX
        );
        if !args.yes && !ui.confirm(&question, false, "pass --yes to make them without asking")? {
            bail!("nothing was changed: the edits were declined");
        }
        for edit in &edits {
            let applied = fix::apply(&host.root, edit)?;
            let backup = match applied.backup {
                Some((backup, true)) => format!("; original saved as {backup}"),
                Some((backup, false)) => {
                    format!("; {backup} from an earlier run is kept, it holds the original")
                }
                None => "; the file is new".to_owned(),
            };
            ui.success(&format!("{}: {}{backup}", edit.path, edit.summary));
        }
        ui.info(&format!(
            "for these edits to take effect:\n  {}",
            fix::operator_steps(&edits).join("\n  ")
        ));
    }
    let after = host::preflight(&inspect(host, site)?, site).problems();
    if after.checks.is_empty() {
        ui.success("every check passes");
    } else {
        ui.info("left to you (openlsp never installs software, changes groups, reboots or touches disks):");
        ui.check_report(&after);
    }
    Ok(Outcome::Ok)
}

/// One `--disk ROLE=PATH[:SIZE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DiskFlag {
    path: String,
    size: Option<Bytes>,
}

/// The answers given as flags, checked for form; each one given is not asked.
#[derive(Debug, Clone, Default)]
struct Given {
    site: Option<String>,
    network: Option<Network>,
    node: Option<String>,
    blockchain: Option<DiskFlag>,
    lightning: Option<DiskFlag>,
    share_disk: bool,
    chain: Option<ChainMode>,
    alias: Option<String>,
    color: Option<String>,
}

fn parse_network(name: &str) -> anyhow::Result<Network> {
    Network::ALL
        .into_iter()
        .find(|n| n.as_str() == name)
        .with_context(|| {
            format!("--network {name}: not a network openlsp knows; this is a bug in openlsp")
        })
}

fn parse_disk(flag: &str) -> anyhow::Result<(String, DiskFlag)> {
    let usage = "write --disk blockchain=/srv/blockchain or --disk lightning=/srv/lightning:20Gi";
    let Some((role, rest)) = flag.split_once('=') else {
        bail!("--disk {flag}: expected ROLE=PATH[:SIZE]; {usage}");
    };
    if role != "blockchain" && role != "lightning" {
        bail!("--disk {flag}: the role must be blockchain or lightning, not {role:?}; {usage}");
    }
    let (path, size) = match rest.rsplit_once(':') {
        Some((path, size)) => {
            let size = Bytes::parse(size).map_err(|err| anyhow::anyhow!("--disk {flag}: {err}"))?;
            (path, Some(size))
        }
        None => (rest, None),
    };
    if !profile::is_normal_absolute_path(path) || path == "/" {
        bail!(
            "--disk {flag}: {path:?} must be an absolute mount point other than /, without '.', '..' or a trailing '/'"
        );
    }
    Ok((
        role.to_owned(),
        DiskFlag {
            path: path.to_owned(),
            size,
        },
    ))
}

impl Given {
    fn from_flags(flags: &InitAnswers) -> anyhow::Result<Given> {
        let mut given = Given {
            site: flags.site.clone(),
            network: flags.network.as_deref().map(parse_network).transpose()?,
            node: flags.node.clone(),
            share_disk: flags.allow_bitcoin_and_lightning,
            alias: flags.alias.clone(),
            color: flags.lnd_color.clone(),
            ..Given::default()
        };
        for flag in &flags.disk {
            let (role, disk) = parse_disk(flag)?;
            let slot = if role == "blockchain" {
                &mut given.blockchain
            } else {
                &mut given.lightning
            };
            if slot.replace(disk).is_some() {
                bail!("--disk {role}=… is given twice; give each role once");
            }
        }
        given.chain = match (flags.txindex, flags.no_txindex, flags.prune) {
            (true, _, _) => Some(ChainMode::Txindex),
            (_, true, _) => Some(ChainMode::Full),
            (_, _, Some(mib)) => Some(ChainMode::Pruned(mib)),
            _ => None,
        };
        Ok(given)
    }
}

/// The machine's own facts every profile needs.
fn machine_facts(machine: &Machine) -> anyhow::Result<NewSite> {
    let Some(arch) = machine.arch() else {
        bail!(
            "cannot write spec.host.arch: `uname -m` says {}; openlsp runs on arm64 and amd64 (run `openlsp init --check`)",
            match &machine.uname {
                Ok(uname) => uname.clone(),
                Err(why) => why.clone(),
            }
        );
    };
    let memory = machine.memory().context(
        "cannot write spec.host.memory: /proc/meminfo has no MemTotal; run openlsp on the machine itself",
    )?;
    let cpus = machine.cpus.context(
        "cannot write spec.host.cpus: /proc/cpuinfo lists no processor; run openlsp on the machine itself",
    )?;
    Ok(NewSite::placeholder(arch, memory, cpus))
}

/// The size of a disk given as a flag: its own, else the mounted filesystem's.
fn flag_disk(machine: &Machine, disk: &DiskFlag) -> Option<NewDisk> {
    let size = disk.size.or_else(|| mounted_size(machine, &disk.path))?;
    Some(NewDisk {
        path: disk.path.clone(),
        size,
    })
}

fn mounted_size(machine: &Machine, path: &str) -> Option<Bytes> {
    machine.mounts.at(path)?;
    match machine.space_of(path)? {
        Ok(space) => Some(disk_size(space.size)),
        Err(_) => None,
    }
}

fn wizard(
    ui: &Ui,
    global: &GlobalArgs,
    args: &InitArgs,
    host: &Host<'_>,
) -> anyhow::Result<Outcome> {
    let path = &global.profile;
    if profile_exists(path)? && !args.force {
        bail!(
            "{} already exists; pass --force to replace it, or -p FILE to write another profile",
            path.display()
        );
    }
    let given = Given::from_flags(&args.answers)?;
    let mut machine = inspect(host, None)?;
    let flagged: Vec<String> = [&given.blockchain, &given.lightning]
        .into_iter()
        .flatten()
        .map(|d| d.path.clone())
        .collect();
    machine.measure(&host.root, host.runner, flagged.iter().map(String::as_str));
    let interactive = !args.non_interactive && ui.is_interactive();
    let answers = if interactive {
        ui.info("checking this machine first; the profile is written even if something fails");
        ui.check_report(&host::preflight(&machine, None));
        ask(ui, &machine, &given)?
    } else {
        from_flags(&machine, &given, args.non_interactive)?
    };
    let loaded = match answers.validate(path) {
        Ok(loaded) => loaded,
        Err(err) => {
            ui.info(
                "these answers do not make a valid profile (the places below are in the profile it would write); nothing was written",
            );
            return Err(err.into());
        }
    };
    write_profile(ui, path, &answers.to_yaml(), args.force)?;
    ui.success(&format!(
        "wrote {}: site {} on {} ({}, {} of memory, {} CPUs)",
        path.display(),
        answers.site,
        answers.network.as_str(),
        answers.arch.as_str(),
        answers.memory,
        answers.cpus
    ));
    for warning in &loaded.warnings {
        ui.warn_diagnostic(warning);
    }
    let report = host::preflight(&inspect(host, Some(&loaded.site))?, Some(&loaded.site));
    let problems = report.problems();
    if report.passed() && problems.checks.is_empty() {
        ui.success("this machine passes every check for the new profile");
    } else if report.passed() {
        ui.success("no check fails for the new profile; warnings:");
        ui.check_report(&problems);
    } else {
        ui.info("the machine is not ready yet; the profile is the desired state, so prepare the machine with these fixes:");
        ui.check_report(&problems);
    }
    let p = if path == Path::new("openlsp.yaml") {
        String::new()
    } else {
        format!(" -p {}", path.display())
    };
    let mut steps = Vec::new();
    if !report.passed() {
        steps.push(format!(
            "  openlsp init --check{p}   until every check passes"
        ));
    }
    steps.push(format!(
        "  openlsp diff{p}            what apply would change in the cluster"
    ));
    steps.push(format!("  openlsp apply{p}           create the site"));
    ui.info(&format!("next steps:\n{}", steps.join("\n")));
    Ok(Outcome::Ok)
}

/// Writes the profile atomically; with `force`, the profile it replaces is kept next to it.
fn write_profile(ui: &Ui, path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    let context = || format!("writing the profile {}", path.display());
    if force {
        match std::fs::read(path) {
            Ok(previous) => {
                let mut backup = path.as_os_str().to_owned();
                backup.push(fix::BACKUP_SUFFIX);
                let backup = Path::new(&backup);
                fsutil::write_atomic(backup, &previous, PROFILE_MODE).with_context(|| {
                    format!("saving the previous profile as {}", backup.display())
                })?;
                ui.info(&format!(
                    "the previous profile is saved as {}",
                    backup.display()
                ));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("reading the profile {}", path.display()));
            }
        }
        fsutil::write_atomic(path, text.as_bytes(), PROFILE_MODE).with_context(context)?;
    } else if !fsutil::create_atomic(path, text.as_bytes(), PROFILE_MODE).with_context(context)? {
        bail!(
            "{} appeared while openlsp was asking; nothing was written (pass --force to replace it)",
            path.display()
        );
    }
    Ok(())
}

/// Every answer from the flags and defaults; lists every missing flag at once.
fn from_flags(machine: &Machine, given: &Given, non_interactive: bool) -> anyhow::Result<NewSite> {
    let mut answers = machine_facts(machine)?;
    let mut missing = Vec::new();
    match &given.site {
        Some(site) => answers.site = site.clone(),
        None => missing.push("--site NAME".to_owned()),
    }
    match given.network {
        Some(network) => answers.network = network,
        None => missing.push("--network mainnet|testnet|testnet4|signet|regtest".to_owned()),
    }
    match given.node.clone().or_else(|| machine.hostname.clone()) {
        Some(node) => answers.node_name = node,
        None => missing.push("--node NAME (the hostname is unknown)".to_owned()),
    }
    for (role, flag, slot) in [
        ("blockchain", &given.blockchain, &mut answers.blockchain),
        ("lightning", &given.lightning, &mut answers.lightning),
    ] {
        match flag {
            None => missing.push(format!("--disk {role}=PATH")),
            Some(disk) => match flag_disk(machine, disk) {
                Some(answer) => *slot = answer,
                None => missing.push(format!(
                    "--disk {role}={}:SIZE ({} is not mounted, so its size is unknown)",
                    disk.path, disk.path
                )),
            },
        }
    }
    match given.chain {
        Some(chain) => answers.chain = chain,
        None => missing.push("--txindex | --no-txindex | --prune MIB".to_owned()),
    }
    if !missing.is_empty() {
        let why = if non_interactive {
            "--non-interactive takes every answer from flags"
        } else {
            "there is no terminal to ask on (stdin and stderr are not both a TTY)"
        };
        bail!(
            "{why}; missing:\n  {}\npass them (with --non-interactive in scripts), or run `openlsp init` in a terminal",
            missing.join("\n  ")
        );
    }
    let (chain, lightning) = (&answers.blockchain.path, &answers.lightning.path);
    let shared = on_chain_filesystem(&machine.mounts, chain, lightning);
    if shared && !given.share_disk {
        let what = if chain == lightning {
            format!("--disk blockchain and --disk lightning are both {chain}")
        } else {
            format!(
                "--disk lightning={lightning} is on the filesystem of --disk blockchain={chain}"
            )
        };
        bail!(
            "{what}: a full chain disk can close channels; give Lightning its own disk, or pass --allow-bitcoin-and-lightning to accept the risk"
        );
    }
    answers.share_disk = shared;
    answers.alias = given.alias.clone().unwrap_or_else(|| answers.site.clone());
    answers.color = given
        .color
        .clone()
        .unwrap_or_else(|| DEFAULT_COLOR.to_owned());
    Ok(answers)
}

/// A validator for one answer: the profile with this answer must have no error at `choice`.
fn valid_as(
    base: &NewSite,
    choice: Choice,
    set: impl Fn(&mut NewSite, &str),
) -> impl Fn(&str) -> Result<(), String> {
    let base = base.clone();
    move |text: &str| {
        let mut probe = base.clone();
        set(&mut probe, text.trim());
        match probe.problem_at(choice) {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

/// Sets one answer in a probe profile, for checking it.
type Setter = fn(&mut NewSite, &str);

/// The flag's answer, else the operator's, checked at its profile field as it is typed.
fn text_answer(
    ui: &Ui,
    given: Option<&str>,
    (base, choice, set): (&NewSite, Choice, Setter),
    prompt: &str,
    default: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(given) = given {
        return Ok(given.to_owned());
    }
    let check = valid_as(base, choice, set);
    Ok(ui
        .input(prompt, default, ASK_INSTEAD, check)?
        .trim()
        .to_owned())
}

/// The wizard: asks what the flags did not answer, checking each answer as it comes.
fn ask(ui: &Ui, machine: &Machine, given: &Given) -> anyhow::Result<NewSite> {
    let mut a = machine_facts(machine)?;
    let site_default = machine
        .hostname
        .clone()
        .filter(|h| is_dns_label(h))
        .unwrap_or_else(|| "openlsp".to_owned());
    a.site = text_answer(
        ui,
        given.site.as_deref(),
        (&a, Choice::Site, |p, t| p.site = t.to_owned()),
        "Site name (also the namespace)",
        Some(&site_default),
    )?;
    a.network = match given.network {
        Some(network) => network,
        None => {
            let items: Vec<String> = Network::ALL
                .iter()
                .map(|n| match n {
                    Network::Mainnet => "mainnet (real bitcoin)".to_owned(),
                    Network::Regtest => {
                        "regtest (local test chain, nothing to download)".to_owned()
                    }
                    other => format!("{} (public test network)", other.as_str()),
                })
                .collect();
            Network::ALL[ui.select("Bitcoin network", &items, 0, ASK_INSTEAD)?]
        }
    };
    a.node_name = text_answer(
        ui,
        given.node.as_deref(),
        (&a, Choice::NodeName, |p, t| p.node_name = t.to_owned()),
        "Kubernetes node name of this machine",
        machine.hostname.as_deref(),
    )?;
    let candidates = DiskCandidate::all(machine);
    let proposal = propose_disks(&candidates);
    a.blockchain = match given
        .blockchain
        .as_ref()
        .and_then(|d| flag_disk(machine, d))
    {
        Some(disk) => disk,
        None => ask_disk(
            ui,
            machine,
            "Disk for the blockchain",
            proposal.blockchain.map(|c| c.mount.target.as_str()),
            &a,
            Choice::BlockchainPath,
            given.blockchain.as_ref(),
        )?,
    };
    loop {
        let lightning = match given.lightning.as_ref().and_then(|d| flag_disk(machine, d)) {
            Some(disk) => disk,
            None => ask_disk(
                ui,
                machine,
                "Disk for Lightning state (channel state: keep it apart from the chain)",
                proposal.lightning.map(|c| c.mount.target.as_str()),
                &a,
                Choice::LightningPath,
                given.lightning.as_ref(),
            )?,
        };
        if !on_chain_filesystem(&machine.mounts, &a.blockchain.path, &lightning.path) {
            a.lightning = lightning;
            break;
        }
        let share = given.share_disk
            || ui.confirm(
                &format!(
                    "{} is on the blockchain's filesystem: if the chain fills it, LND cannot write channel state and channels can close. Share it anyway?",
                    lightning.path
                ),
                false,
                "pass --allow-bitcoin-and-lightning",
            )?;
        if share {
            a.lightning = lightning;
            a.share_disk = true;
            break;
        }
        if given.lightning.is_some() {
            bail!(
                "--disk lightning is on the blockchain's filesystem; give Lightning its own disk, or pass --allow-bitcoin-and-lightning"
            );
        }
    }
    a.chain = match given.chain {
        Some(chain) => chain,
        None => ask_chain(ui, &a)?,
    };
    let alias_default = a.site.clone();
    a.alias = text_answer(
        ui,
        given.alias.as_deref(),
        (&a, Choice::Alias, |p, t| p.alias = t.to_owned()),
        "LND alias (public name in the Lightning network)",
        Some(&alias_default),
    )?;
    a.color = text_answer(
        ui,
        given.color.as_deref(),
        (&a, Choice::Color, |p, t| p.color = t.to_owned()),
        "LND color (#rrggbb)",
        Some(DEFAULT_COLOR),
    )?;
    Ok(a)
}

/// One disk: a mounted data disk (`proposed`, a mount point, first) or another path.
fn ask_disk(
    ui: &Ui,
    machine: &Machine,
    prompt: &str,
    proposed: Option<&str>,
    answers: &NewSite,
    choice: Choice,
    flag: Option<&DiskFlag>,
) -> anyhow::Result<NewDisk> {
    let candidates = DiskCandidate::all(machine);
    let path = match flag {
        Some(flag) => flag.path.clone(),
        None => {
            let mut items: Vec<String> = candidates.iter().map(DiskCandidate::label).collect();
            items.push("another path (not mounted yet)".to_owned());
            let default = proposed
                .and_then(|p| candidates.iter().position(|c| c.mount.target == p))
                .unwrap_or(0);
            let picked = ui.select(prompt, &items, default, ASK_INSTEAD)?;
            match candidates.get(picked) {
                Some(candidate) => candidate.mount.target.clone(),
                None => {
                    let check = valid_as(answers, choice, move |p, t| {
                        let disk = if choice == Choice::LightningPath {
                            &mut p.lightning
                        } else {
                            &mut p.blockchain
                        };
                        disk.path = t.to_owned();
                    });
                    ui.input("Mount point", None, ASK_INSTEAD, check)?
                        .trim()
                        .to_owned()
                }
            }
        }
    };
    // A typed path may be mounted too (a bind mount is not offered as a disk of its own).
    let machine_size = candidates
        .iter()
        .find(|c| c.mount.target == path)
        .and_then(|c| c.space)
        .map(|space| disk_size(space.size))
        .or_else(|| mounted_size(machine, &path));
    let size = match machine_size {
        Some(size) => size,
        None => {
            let answer = ui.input(
                &format!("Size of the disk at {path} (e.g. 1Ti, 20Gi)"),
                None,
                ASK_INSTEAD,
                |text: &str| match Bytes::parse(text) {
                    Ok(size) if size.0 > 0 => Ok(()),
                    Ok(_) => Err("a disk needs a size".to_owned()),
                    Err(err) => Err(err),
                },
            )?;
            Bytes::parse(&answer).map_err(|err| anyhow::anyhow!(err))?
        }
    };
    Ok(NewDisk { path, size })
}

fn ask_chain(ui: &Ui, a: &NewSite) -> anyhow::Result<ChainMode> {
    let modes = [
        ChainMode::Txindex,
        ChainMode::Full,
        ChainMode::Pruned(MIN_PRUNE_MIB),
    ];
    let disk = &a.blockchain;
    let items: Vec<String> = modes
        .iter()
        .map(|mode| {
            let fits = match mode {
                ChainMode::Pruned(_) => String::new(),
                _ if a.network != Network::Mainnet => String::new(),
                _ if mode.fits(a.network, disk.size) => {
                    format!("; fits on {} ({})", disk.path, disk.size)
                }
                _ => format!("; does NOT fit on {} ({})", disk.path, disk.size),
            };
            match mode {
                ChainMode::Pruned(_) => {
                    "pruned: keep only recent blocks (550 MiB and up), no txindex; LND works, but slower".to_owned()
                }
                _ => format!("{}{fits}", mode.describe(a.network)),
            }
        })
        .collect();
    let default = modes
        .iter()
        .position(|mode| mode.fits(a.network, disk.size))
        .unwrap_or(2);
    match modes[ui.select(
        "How much of the chain to keep",
        &items,
        default,
        ASK_INSTEAD,
    )?] {
        ChainMode::Pruned(_) => {
            let check = valid_as(a, Choice::Prune, |p, t| {
                p.chain = ChainMode::Pruned(t.parse().unwrap_or(0));
            });
            let mib = ui.input(
                "Prune target in MiB",
                Some(&MIN_PRUNE_MIB.to_string()),
                ASK_INSTEAD,
                move |text: &str| match text.trim().parse::<u64>() {
                    Ok(_) => check(text),
                    Err(_) => Err(format!("{text:?} is not a whole number of MiB")),
                },
            )?;
            Ok(ChainMode::Pruned(
                mib.trim().parse().context("reading the prune target")?,
            ))
        }
        mode => Ok(mode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn disk_flags_name_a_role_a_path_and_maybe_a_size() {
        let (role, disk) = parse_disk("lightning=/srv/lightning:20Gi").unwrap();
        assert_eq!(role, "lightning");
        assert_eq!(disk.path, "/srv/lightning");
        assert_eq!(disk.size, Some(Bytes::gib(20)));
        let (_, disk) = parse_disk("blockchain=/srv/blockchain").unwrap();
        assert_eq!(disk.size, None);
        for bad in [
            "/srv/x",
            "chain=/srv/x",
            "blockchain=srv",
            "blockchain=/",
            "blockchain=/srv/x:lots",
        ] {
            assert!(parse_disk(bad).is_err(), "{bad}");
        }
    }
}
