//! All terminal output: results on stdout, messages on stderr, colour and TTY detection.
//! Honours --quiet, --color and NO_COLOR, deciding colour for stdout and stderr apart. Core
//! modules never print; they return values here.

use std::io::{IsTerminal, Write};

use console::Style;

use crate::deploy::{Progress, Transfer, WaitProgress};
use crate::object::Stage;
use crate::profile::{Diagnostic, ProfileError};

#[derive(Clone)]
pub struct Ui {
    quiet: bool,
    /// Colour on stderr (messages, prompts, progress); stdout decides its own.
    stderr_color: bool,
    stdin_tty: bool,
    stderr_tty: bool,
}

/// When to colour output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Auto,
    Always,
    Never,
}

/// Whether one stream gets colour: `--color always|never` decide; `auto` colours a terminal
/// unless NO_COLOR is set to something (https://no-color.org).
pub fn stream_color(choice: Colour, is_terminal: bool, no_color: bool) -> bool {
    match choice {
        Colour::Always => true,
        Colour::Never => false,
        Colour::Auto => is_terminal && !no_color,
    }
}

/// Styles for text written to stderr (coloured by stderr's own setting).
fn err_style() -> Style {
    Style::new().for_stderr()
}

impl Ui {
    pub fn new(colour: Colour, quiet: bool) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stdout_color = stream_color(colour, std::io::stdout().is_terminal(), no_color);
        let stderr_color = stream_color(colour, stderr_tty, no_color);
        // `openlsp diff > plan.txt` from a terminal: plain stdout, coloured messages.
        console::set_colors_enabled(stdout_color);
        console::set_colors_enabled_stderr(stderr_color);
        Ui {
            quiet,
            stderr_color,
            stdin_tty: std::io::stdin().is_terminal(),
            stderr_tty,
        }
    }

    /// Whether questions can be asked: stdin and stderr are terminals.
    pub fn is_interactive(&self) -> bool {
        self.stdin_tty && self.stderr_tty
    }

    /// A result, on stdout, exactly as given.
    pub fn stdout(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`openlsp render | head`) is not an error worth reporting.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Progress and context on stderr; silent with --quiet.
    pub fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A success line on stderr; silent with --quiet.
    pub fn success(&self, message: &str) {
        if !self.quiet {
            eprintln!("{} {message}", err_style().green().apply_to("✓"));
        }
    }

    pub fn warn(&self, message: &str) {
        eprintln!(
            "{} {message}",
            err_style().yellow().bold().apply_to("warning:")
        );
    }

    pub fn warn_diagnostic(&self, diagnostic: &Diagnostic) {
        self.warn(&diagnostic.to_string());
    }

    fn error_line(&self, message: &str) {
        eprintln!("{} {message}", err_style().red().bold().apply_to("error:"));
    }

    /// Prints an error with its causes; profile errors print one line per problem.
    pub fn error(&self, err: &anyhow::Error) {
        if let Some(profile_error) = err.downcast_ref::<ProfileError>() {
            match profile_error {
                ProfileError::Invalid { diagnostics } => {
                    for diagnostic in diagnostics {
                        self.error_line(&diagnostic.to_string());
                    }
                    if diagnostics.len() > 1 {
                        eprintln!("{} problems in the profile", diagnostics.len());
                    }
                }
                other => {
                    self.error_line(&other.to_string());
                    if let Some(hint) = other.hint() {
                        eprintln!("  hint: {hint}");
                    }
                }
            }
            return;
        }
        self.error_line(&err.to_string());
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
    }
}

/// Why a question could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{0} needs an answer, but there is no terminal to ask on; {1}")]
    NotInteractive(String, String),
    #[error("cannot read the answer: {0}")]
    Terminal(#[from] dialoguer::Error),
}

/// Questions on the terminal (stderr). Each refuses without a TTY and says which flag answers it.
impl Ui {
    fn theme(&self) -> Box<dyn dialoguer::theme::Theme> {
        if self.stderr_color {
            Box::new(dialoguer::theme::ColorfulTheme::default())
        } else {
            Box::new(dialoguer::theme::SimpleTheme)
        }
    }

    fn require_tty(&self, what: &str, instead: &str) -> Result<(), PromptError> {
        if self.is_interactive() {
            Ok(())
        } else {
            Err(PromptError::NotInteractive(
                what.to_owned(),
                instead.to_owned(),
            ))
        }
    }

    /// Yes or no. `instead` tells a script how to answer without a terminal (e.g. "pass --yes").
    pub fn confirm(&self, prompt: &str, default: bool, instead: &str) -> Result<bool, PromptError> {
        self.require_tty(prompt, instead)?;
        Ok(dialoguer::Confirm::with_theme(self.theme().as_ref())
            .with_prompt(prompt)
            .default(default)
            .interact()?)
    }

    /// True only if the operator types `expected` exactly (for destructive steps).
    pub fn confirm_typed(
        &self,
        prompt: &str,
        expected: &str,
        instead: &str,
    ) -> Result<bool, PromptError> {
        self.require_tty(prompt, instead)?;
        let answer: String = dialoguer::Input::with_theme(self.theme().as_ref())
            .with_prompt(format!("{prompt} (type {expected:?} to confirm)"))
            .allow_empty(true)
            .interact_text()?;
        Ok(answer.trim() == expected)
    }

    /// Free text with a default; `validate` returns an error message for bad answers.
    pub fn input(
        &self,
        prompt: &str,
        default: Option<&str>,
        instead: &str,
        validate: impl Fn(&str) -> Result<(), String>,
    ) -> Result<String, PromptError> {
        self.require_tty(prompt, instead)?;
        let theme = self.theme();
        let mut input = dialoguer::Input::<String>::with_theme(theme.as_ref()).with_prompt(prompt);
        if let Some(default) = default {
            input = input.default(default.to_owned());
        }
        Ok(input
            .validate_with(|text: &String| validate(text))
            .interact_text()?)
    }

    /// One of `items`; returns its index.
    pub fn select(
        &self,
        prompt: &str,
        items: &[String],
        default: usize,
        instead: &str,
    ) -> Result<usize, PromptError> {
        self.require_tty(prompt, instead)?;
        Ok(dialoguer::Select::with_theme(self.theme().as_ref())
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact()?)
    }
}

/// Tables and secrets the operator asked to see.
impl Ui {
    /// A table on stdout, columns padded to their widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let mut out = line(headers.iter().map(|h| h.to_string()).collect());
        out.push('\n');
        for row in rows {
            out.push_str(&line(row.clone()));
            out.push('\n');
        }
        self.stdout(&out);
    }

    /// A passphrase, not echoed; asked twice when `confirm`.
    pub fn passphrase(
        &self,
        prompt: &str,
        confirm: bool,
        instead: &str,
    ) -> Result<String, PromptError> {
        self.require_tty(prompt, instead)?;
        let theme = self.theme();
        let mut input = dialoguer::Password::with_theme(theme.as_ref()).with_prompt(prompt);
        if confirm {
            input = input.with_confirmation("Repeat it", "the two did not match");
        }
        Ok(input.interact()?)
    }
}

/// Plans and diffs on stdout.
impl Ui {
    /// A unified diff, coloured by line.
    pub fn diff(&self, text: &str) {
        let mut out = String::new();
        push_coloured_diff(&mut out, text);
        self.stdout(&out);
    }

    /// One line per object that changes, as `+ create StatefulSet/lnd`.
    pub fn change_line(&self, change: &crate::diff::Change) {
        use crate::diff::Action;
        let (symbol, verb, style) = match change.action {
            Action::Create => ("+", "create", Style::new().green()),
            Action::Change => ("~", "change", Style::new().yellow()),
            Action::Prune if change.data => ("-", "prune (data)", Style::new().red().bold()),
            Action::Prune => ("-", "prune", Style::new().red()),
            Action::Keep => ("=", "keep (data)", Style::new().dim()),
            Action::Unchanged => return,
        };
        let mut line = format!("{} {verb} {}", style.apply_to(symbol), change.id);
        if let Some(note) = change.note {
            line.push_str(&format!(" ({note})"));
        }
        for conflict in &change.conflicts {
            line.push_str(&format!(
                "\n    ! {} is owned by {:?}",
                conflict.field, conflict.manager
            ));
        }
        self.stdout(&format!("{line}\n"));
    }

    /// `openlsp status`: per component its pods and what is wrong with the next step, the onion
    /// addresses, the last write and the Site's conditions on stdout; the one-line summary last.
    pub fn site_health(&self, title: &str, health: &crate::health::Health) {
        let mut text = format!("{title}\n");
        let width = health
            .components
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        for component in &health.components {
            text.push_str(&format!(
                "  {:width$}  {}/{} ready  {} restart{}\n",
                component.name,
                component.ready,
                component.wanted,
                component.restarts,
                if component.restarts == 1 { "" } else { "s" }
            ));
            for problem in &component.problems {
                text.push_str(&format!(
                    "    {}\n      next: {}\n",
                    problem.what, problem.next
                ));
            }
        }
        if !health.onions.is_empty() {
            text.push_str("onion addresses:\n");
            for (service, address) in &health.onions {
                text.push_str(&format!("  {service}  {address}\n"));
            }
        }
        if !health.chain.is_empty() {
            text.push_str("chain (Prometheus):\n");
            for line in &health.chain {
                text.push_str(&format!("  {line}\n"));
            }
        }
        if !health.backups.is_empty() {
            text.push_str("channel backups:\n");
            for line in &health.backups {
                text.push_str(&format!("  {line}\n"));
            }
        }
        text.push_str(&format!(
            "last write: {}\n",
            health.last_write.as_deref().unwrap_or("none yet")
        ));
        if !health.conditions.is_empty() {
            text.push_str("Site conditions (openlsp controller):\n");
            for condition in &health.conditions {
                text.push_str(&format!("  {condition}\n"));
            }
        }
        text.push_str(&health.summary());
        text.push('\n');
        self.stdout(&text);
    }

    /// Every change of a plan: full diffs of changes (and of creates when `full_creates`), one
    /// line for creates, prunes and kept data, then the summary.
    pub fn show_changes(&self, changes: &crate::diff::ChangeSet, full_creates: bool) {
        use crate::diff::Action;
        for change in &changes.changes {
            match change.action {
                Action::Unchanged => {}
                Action::Create if !full_creates => self.change_line(change),
                Action::Create | Action::Change => {
                    self.change_line(change);
                    self.diff(&crate::diff::unified(change));
                }
                Action::Prune | Action::Keep => self.change_line(change),
            }
        }
        self.summary(&changes.summary());
    }

    pub fn summary(&self, summary: &crate::diff::Summary) {
        self.stdout(&format!("{}\n", Style::new().bold().apply_to(summary)));
    }

    /// Live readiness of workloads: a spinner per workload on a terminal, a line per change
    /// of state otherwise.
    pub fn wait_display(&self, names: &[String]) -> WaitDisplay {
        let bars = (self.stderr_tty && !self.quiet).then(|| {
            let multi = indicatif::MultiProgress::new();
            let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
                .expect("valid template");
            let bars = names
                .iter()
                .map(|name| {
                    let bar = multi.add(indicatif::ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(name.clone());
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    bar
                })
                .collect();
            (multi, bars)
        });
        WaitDisplay {
            names: names.to_vec(),
            last: vec![String::new(); names.len()],
            bars,
            quiet: self.quiet,
        }
    }
}

/// A long copy: a bar of bytes on a terminal (a spinner while the total is unknown), a line per
/// new step otherwise (every tenth of the way for bytes).
pub struct TransferDisplay {
    what: String,
    total: Option<u64>,
    bar: Option<indicatif::ProgressBar>,
    last_note: String,
    last_tenth: Option<u64>,
    quiet: bool,
}

impl Ui {
    pub fn transfer_display(&self, what: &str, total: Option<u64>) -> TransferDisplay {
        let bar = (self.stderr_tty && !self.quiet).then(|| {
            let bar = match total {
                Some(total) => {
                    let bar = indicatif::ProgressBar::new(total);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar
                }
                None => {
                    let bar = indicatif::ProgressBar::new_spinner();
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
                            .expect("valid template"),
                    );
                    bar
                }
            };
            bar.set_prefix(what.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        TransferDisplay {
            what: what.to_owned(),
            total,
            bar,
            last_note: String::new(),
            last_tenth: None,
            quiet: self.quiet,
        }
    }
}

impl Transfer for TransferDisplay {
    fn update(&mut self, done: Option<u64>, note: &str) {
        if let Some(bar) = &self.bar {
            if let Some(done) = done {
                bar.set_position(done);
            }
            bar.set_message(note.to_owned());
            return;
        }
        if self.quiet {
            return;
        }
        let tenth = done
            .zip(self.total)
            .map(|(done, total)| done * 10 / total.max(1));
        let moved = tenth.is_some() && tenth != self.last_tenth;
        if moved || (done.is_none() && note != self.last_note) {
            self.last_tenth = tenth;
            self.last_note = note.to_owned();
            eprintln!("{}: {note}", self.what);
        }
    }

    fn finish(self: Box<Self>, message: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(message.to_owned()),
            None if !self.quiet => eprintln!("{}: {message}", self.what),
            None => {}
        }
    }
}

pub struct WaitDisplay {
    names: Vec<String>,
    last: Vec<String>,
    bars: Option<(indicatif::MultiProgress, Vec<indicatif::ProgressBar>)>,
    quiet: bool,
}

impl WaitDisplay {
    pub fn update(&mut self, index: usize, ready: bool, message: &str) {
        let text = if ready {
            format!("ready ({message})")
        } else {
            message.to_owned()
        };
        if self.last[index] == text {
            return;
        }
        self.last[index] = text.clone();
        match &self.bars {
            Some((_, bars)) if ready => bars[index]
                .finish_with_message(format!("{} {text}", err_style().green().apply_to("✓"))),
            Some((_, bars)) => bars[index].set_message(text),
            None if !self.quiet => eprintln!("{}: {text}", self.names[index]),
            None => {}
        }
    }

    pub fn finish(self) {
        if let Some((multi, bars)) = self.bars {
            for bar in bars {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
            let _ = multi.clear();
        }
    }
}

/// The deploy engine's progress: a line per stage and note, live readiness while waiting.
impl Progress for Ui {
    fn stage(&self, stage: Stage, objects: usize) {
        self.info(&format!(
            "stage {} ({stage:?}): applying {objects} object(s)",
            stage.number()
        ));
    }

    fn note(&self, message: &str) {
        self.info(message);
    }

    fn waiting(&self, names: &[String]) -> Box<dyn WaitProgress> {
        Box::new(self.wait_display(names))
    }
}

impl WaitProgress for WaitDisplay {
    fn update(&mut self, index: usize, ready: bool, message: &str) {
        WaitDisplay::update(self, index, ready, message);
    }

    fn finish(self: Box<Self>) {
        WaitDisplay::finish(*self);
    }
}

/// Host preflight reports and file edits (`openlsp init`). Reports and diffs are results, so
/// they go to stdout; paths are the host's own, never prefixed with --host-root.
impl Ui {
    fn status_symbol(status: crate::host::Status) -> console::StyledObject<&'static str> {
        match status {
            crate::host::Status::Pass => Style::new().green().apply_to("✓"),
            crate::host::Status::Warn => Style::new().yellow().apply_to("⚠"),
            crate::host::Status::Fail => Style::new().red().bold().apply_to("✗"),
        }
    }

    /// One line per check, `fix:` lines under those that need one, then the counts.
    pub fn check_report(&self, report: &crate::host::Report) {
        use crate::host::Status;
        let width = report
            .checks
            .iter()
            .map(|c| c.title.chars().count())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for check in &report.checks {
            let symbol = Self::status_symbol(check.status);
            text.push_str(&format!(
                "{symbol} {:<width$}  {}\n",
                check.title, check.found
            ));
            for (i, fix) in check.fix.iter().enumerate() {
                let label = if i == 0 { "fix:" } else { "    " };
                text.push_str(&format!("  {:<width$}  {label} {fix}\n", ""));
            }
        }
        let hidden = if report.hidden_passes > 0 {
            " (✓ not shown)"
        } else {
            ""
        };
        text.push_str(&format!(
            "summary: {} ✓  {} ⚠  {} ✗{hidden}\n",
            report.count(Status::Pass),
            report.count(Status::Warn),
            report.count(Status::Fail)
        ));
        self.stdout(&text);
    }

    /// A planned file edit as a unified diff.
    pub fn edit_preview(&self, edit: &crate::host::fix::Edit) {
        let before = edit.before.as_deref().unwrap_or("");
        let diff = similar::TextDiff::from_lines(before, &edit.after);
        let after_label = format!("{} (after the edit)", edit.path);
        let unified = diff
            .unified_diff()
            .context_radius(2)
            .header(&edit.path, &after_label)
            .to_string();
        let mut text = format!("{}: {}\n", edit.path, edit.summary);
        push_coloured_diff(&mut text, &unified);
        self.stdout(&text);
    }
}

/// Appends a unified diff to `out`, each line coloured by its kind.
fn push_coloured_diff(out: &mut String, diff: &str) {
    for line in diff.lines() {
        let styled = if line.starts_with("+++") || line.starts_with("---") {
            Style::new().bold().apply_to(line).to_string()
        } else if line.starts_with('+') {
            Style::new().green().apply_to(line).to_string()
        } else if line.starts_with('-') {
            Style::new().red().apply_to(line).to_string()
        } else if line.starts_with("@@") {
            Style::new().cyan().apply_to(line).to_string()
        } else {
            line.to_owned()
        };
        out.push_str(&styled);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stream_decides_its_own_colour() {
        // A diff redirected to a file from a terminal: stdout plain, stderr coloured.
        assert!(!stream_color(Colour::Auto, false, false));
        assert!(stream_color(Colour::Auto, true, false));
        assert!(!stream_color(Colour::Auto, true, true), "NO_COLOR");
        assert!(stream_color(Colour::Always, false, true));
        assert!(!stream_color(Colour::Never, true, false));
    }
}
