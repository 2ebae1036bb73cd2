//! The preflight report: one line per check with its status, what was found and the exact
//! command or edit that fixes it. Built by [`super::checks`], printed by the ui.

/// ✓, ⚠ or ✗.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    /// Short name of the check (`cgroups`, `disk blockchain`).
    pub title: String,
    /// What was found, in host paths.
    pub found: String,
    /// Commands or edits that fix it, one per line; empty when it passes.
    pub fix: Vec<String>,
}

impl Check {
    pub fn pass(title: impl Into<String>, found: impl Into<String>) -> Self {
        Check {
            status: Status::Pass,
            title: title.into(),
            found: found.into(),
            fix: Vec::new(),
        }
    }

    pub fn warn(title: impl Into<String>, found: impl Into<String>, fix: Vec<String>) -> Self {
        Check {
            status: Status::Warn,
            title: title.into(),
            found: found.into(),
            fix,
        }
    }

    pub fn fail(title: impl Into<String>, found: impl Into<String>, fix: Vec<String>) -> Self {
        Check {
            status: Status::Fail,
            title: title.into(),
            found: found.into(),
            fix,
        }
    }
}

/// Every check of one run, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Checks that passed but are left out of `checks` (see [`Report::problems`]).
    pub hidden_passes: usize,
}

impl Report {
    /// How many checks had `status`, hidden ones included.
    pub fn count(&self, status: Status) -> usize {
        let shown = self.checks.iter().filter(|c| c.status == status).count();
        if status == Status::Pass {
            shown + self.hidden_passes
        } else {
            shown
        }
    }

    /// True when nothing failed (warnings are fine).
    pub fn passed(&self) -> bool {
        self.count(Status::Fail) == 0
    }

    /// Only the checks that are not ✓; the passes are still counted.
    pub fn problems(&self) -> Report {
        Report {
            checks: self
                .checks
                .iter()
                .filter(|c| c.status != Status::Pass)
                .cloned()
                .collect(),
            hidden_passes: self.count(Status::Pass),
        }
    }
}
