//! The only changes openlsp makes to a host: two reversible file edits (cgroup flags at the end
//! of the first line of cmdline.txt, `ip_conntrack` in /etc/modules). Each edit is planned as
//! before/after text so it can be shown first, keeps a pristine backup next to the file, is
//! written atomically with the file's own mode, and is a no-op when already done.
//! Everything else (snap, microk8s addons, groups, reboots, disks) is left to the operator.

use std::fs;

use super::checks::{CONNTRACK_MODULE, modules_list};
use super::cmdline::{CGROUP_FLAGS, CgroupFlags, with_cgroup_flags};
use super::error::HostError;
use super::inspect::{MODULES, Machine};
use super::root::HostRoot;
use crate::fsutil;

/// Suffix of the backup written next to an edited file.
pub const BACKUP_SUFFIX: &str = ".openlsp.bak";
/// Mode of `/etc/modules` when openlsp has to create it.
const NEW_FILE_MODE: u32 = 0o644;

/// One planned edit of a host file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The host path (`/boot/firmware/cmdline.txt`).
    pub path: String,
    /// The text now; `None` when the file does not exist yet.
    pub before: Option<String>,
    pub after: String,
    /// What the edit does, for the operator.
    pub summary: String,
    /// What the operator does before the edit takes effect.
    pub takes_effect: TakesEffect,
}

/// What makes an edit take effect; openlsp only says it, never does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakesEffect {
    /// The firmware reads cmdline.txt only at boot.
    Reboot,
    /// `/etc/modules` is read at boot; the module can also be loaded now.
    LoadModule(&'static str),
}

/// The operator's steps after `made` edits, derived from what each needs: one reboot covers
/// everything, else each module is loaded by hand (or at the next boot).
pub fn operator_steps<'a>(made: impl IntoIterator<Item = &'a Edit>) -> Vec<String> {
    let needs: Vec<TakesEffect> = made.into_iter().map(|edit| edit.takes_effect).collect();
    if needs.contains(&TakesEffect::Reboot) {
        let also = if needs
            .iter()
            .any(|n| matches!(n, TakesEffect::LoadModule(_)))
        {
            "; it loads the new modules too"
        } else {
            ""
        };
        return vec![format!(
            "sudo reboot   (the kernel reads cmdline.txt only at boot{also})"
        )];
    }
    needs
        .iter()
        .filter_map(|need| match need {
            TakesEffect::LoadModule(module) => Some(format!(
                "sudo modprobe {module}   (loads it now; /etc/modules loads it at every boot, so a reboot does too)"
            )),
            TakesEffect::Reboot => None,
        })
        .collect()
}

/// A file edit `--fix` knows about: needed, or already in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFix {
    Needed(Edit),
    Done { path: String, summary: String },
}

/// The file edits for this machine, in a fixed order; pure.
pub fn plan(machine: &Machine) -> Vec<FileFix> {
    let mut fixes = Vec::new();
    if let Some((path, text)) = &machine.cmdline {
        let summary = format!(
            "cgroup flags ({}) at the end of the first line",
            CGROUP_FLAGS.join(" ")
        );
        fixes.push(if CgroupFlags::of(text).complete() {
            FileFix::Done {
                path: (*path).to_owned(),
                summary,
            }
        } else {
            FileFix::Needed(Edit {
                path: (*path).to_owned(),
                before: Some(text.clone()),
                after: with_cgroup_flags(text),
                summary,
                takes_effect: TakesEffect::Reboot,
            })
        });
    }
    let summary = format!("load {CONNTRACK_MODULE} at boot");
    let modules = machine.modules.clone();
    fixes.push(match modules {
        Some(text) if modules_list(&text, CONNTRACK_MODULE) => FileFix::Done {
            path: MODULES.to_owned(),
            summary,
        },
        before => {
            let mut after = before.clone().unwrap_or_default();
            if !after.is_empty() && !after.ends_with('\n') {
                after.push('\n');
            }
            after.push_str(CONNTRACK_MODULE);
            after.push('\n');
            FileFix::Needed(Edit {
                path: MODULES.to_owned(),
                before,
                after,
                summary,
                takes_effect: TakesEffect::LoadModule(CONNTRACK_MODULE),
            })
        }
    });
    fixes
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The backup's host path, and whether this run wrote it (an older one is kept as it is:
    /// it holds the file before openlsp ever touched it).
    pub backup: Option<(String, bool)>,
}

/// Makes one edit: checks the file still reads as planned, writes the backup, then replaces
/// the file atomically with its own mode.
pub fn apply(root: &HostRoot, edit: &Edit) -> Result<Applied, HostError> {
    let target = root.path(&edit.path);
    let fail = |source: std::io::Error| HostError::Edit {
        path: edit.path.clone(),
        source,
    };
    if fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(HostError::Symlink {
            path: edit.path.clone(),
        });
    }
    let current = root.read(&edit.path)?;
    if current != edit.before {
        return Err(HostError::Changed {
            path: edit.path.clone(),
        });
    }
    let Some(before) = &edit.before else {
        fsutil::write_atomic(&target, edit.after.as_bytes(), NEW_FILE_MODE).map_err(fail)?;
        return Ok(Applied { backup: None });
    };
    let mode = fsutil::mode_of(&target).map_err(fail)?;
    let backup = format!("{}{BACKUP_SUFFIX}", edit.path);
    let wrote_backup =
        fsutil::create_atomic(&root.path(&backup), before.as_bytes(), mode).map_err(fail)?;
    fsutil::write_atomic(&target, edit.after.as_bytes(), mode).map_err(fail)?;
    Ok(Applied {
        backup: Some((backup, wrote_backup)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::inspect::HostEnv;
    use super::super::runner::fake::FakeRunner;
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fresh_host() -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("boot/firmware")).unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("boot/firmware/cmdline.txt"),
            "console=tty1 root=LABEL=writable rootwait\n",
        )
        .unwrap();
        fs::set_permissions(
            dir.path().join("boot/firmware/cmdline.txt"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        fs::write(dir.path().join("etc/modules"), "# modules\nloop").unwrap();
        let root = HostRoot::new(dir.path());
        (dir, root)
    }

    fn machine(root: &HostRoot) -> Machine {
        Machine::inspect(root, &FakeRunner::default(), &HostEnv::default()).unwrap()
    }

    fn needed(fixes: Vec<FileFix>) -> Vec<Edit> {
        fixes
            .into_iter()
            .filter_map(|fix| match fix {
                FileFix::Needed(edit) => Some(edit),
                FileFix::Done { .. } => None,
            })
            .collect()
    }

    #[test]
    fn edits_write_backups_keep_modes_and_are_idempotent() {
        let (dir, root) = fresh_host();
        let edits = needed(plan(&machine(&root)));
        assert_eq!(edits.len(), 2);
        for edit in &edits {
            let applied = apply(&root, edit).unwrap();
            assert_eq!(
                applied.backup,
                Some((format!("{}{BACKUP_SUFFIX}", edit.path), true))
            );
        }
        let cmdline = dir.path().join("boot/firmware/cmdline.txt");
        assert_eq!(
            fs::read_to_string(&cmdline).unwrap(),
            "console=tty1 root=LABEL=writable rootwait cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n"
        );
        assert_eq!(fsutil::mode_of(&cmdline).unwrap(), 0o755);
        assert_eq!(
            fs::read_to_string(dir.path().join("boot/firmware/cmdline.txt.openlsp.bak")).unwrap(),
            "console=tty1 root=LABEL=writable rootwait\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/modules")).unwrap(),
            "# modules\nloop\nip_conntrack\n"
        );
        let again = plan(&machine(&root));
        assert!(needed(again.clone()).is_empty(), "{again:?}");
        assert_eq!(again.len(), 2);
    }

    #[test]
    fn the_operator_steps_follow_from_the_edits_made() {
        let (_dir, root) = fresh_host();
        let edits = needed(plan(&machine(&root)));
        let [cmdline, modules] = [&edits[0], &edits[1]];
        assert_eq!(cmdline.takes_effect, TakesEffect::Reboot);
        assert_eq!(
            modules.takes_effect,
            TakesEffect::LoadModule(CONNTRACK_MODULE)
        );
        let both = operator_steps([cmdline, modules]);
        assert_eq!(both.len(), 1, "one reboot covers both: {both:?}");
        assert!(both[0].starts_with("sudo reboot"));
        assert!(both[0].contains("loads the new modules too"));
        let reboot = operator_steps([cmdline]);
        assert!(reboot[0].starts_with("sudo reboot") && !reboot[0].contains("modules"));
        let module = operator_steps([modules]);
        assert_eq!(module.len(), 1);
        assert!(
            module[0].starts_with("sudo modprobe ip_conntrack"),
            "{module:?}"
        );
        assert!(operator_steps([]).is_empty());
    }

    #[test]
    fn an_older_backup_is_never_overwritten() {
        let (dir, root) = fresh_host();
        let backup = dir.path().join("etc/modules.openlsp.bak");
        fs::write(&backup, "pristine\n").unwrap();
        let edit = needed(plan(&machine(&root))).pop().unwrap();
        assert_eq!(edit.path, "/etc/modules");
        let applied = apply(&root, &edit).unwrap();
        assert_eq!(
            applied.backup,
            Some(("/etc/modules.openlsp.bak".to_owned(), false))
        );
        assert_eq!(fs::read_to_string(&backup).unwrap(), "pristine\n");
    }

    #[test]
    fn a_file_changed_since_planning_or_a_symlink_is_left_alone() {
        let (dir, root) = fresh_host();
        let edits = needed(plan(&machine(&root)));
        fs::write(dir.path().join("etc/modules"), "changed\n").unwrap();
        let modules = edits.iter().find(|e| e.path == MODULES).unwrap();
        assert!(matches!(
            apply(&root, modules),
            Err(HostError::Changed { .. })
        ));
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/modules")).unwrap(),
            "changed\n"
        );
        fs::remove_file(dir.path().join("etc/modules")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("etc/modules")).unwrap();
        assert!(matches!(
            apply(&root, modules),
            Err(HostError::Symlink { .. })
        ));
    }

    #[test]
    fn a_missing_modules_file_is_created() {
        let (dir, root) = fresh_host();
        fs::remove_file(dir.path().join("etc/modules")).unwrap();
        let edit = needed(plan(&machine(&root))).pop().unwrap();
        assert_eq!(edit.before, None);
        assert_eq!(apply(&root, &edit).unwrap().backup, None);
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/modules")).unwrap(),
            "ip_conntrack\n"
        );
        assert_eq!(
            fsutil::mode_of(&dir.path().join("etc/modules")).unwrap(),
            0o644
        );
    }
}
