//! All terminal output: results on stdout, messages on stderr, colour and TTY detection.
//! Honours --quiet, --color and NO_COLOR. Core modules never print; they return values here.

use std::io::{IsTerminal, Write};

use console::Style;

use crate::cli::{ColorChoice, GlobalArgs};
use crate::profile::{Diagnostic, ProfileError};

pub struct Ui {
    quiet: bool,
    color: bool,
    stdin_tty: bool,
    stderr_tty: bool,
}

impl Ui {
    pub fn new(global: &GlobalArgs) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stderr_tty && std::env::var_os("NO_COLOR").is_none(),
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        Ui {
            quiet: global.quiet,
            color,
            stdin_tty: std::io::stdin().is_terminal(),
            stderr_tty,
        }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
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
            eprintln!("{} {message}", Style::new().green().apply_to("✓"));
        }
    }

    pub fn warn(&self, message: &str) {
        eprintln!(
            "{} {message}",
            Style::new().yellow().bold().apply_to("warning:")
        );
    }

    pub fn warn_diagnostic(&self, diagnostic: &Diagnostic) {
        self.warn(&diagnostic.to_string());
    }

    fn error_line(&self, message: &str) {
        eprintln!("{} {message}", Style::new().red().bold().apply_to("error:"));
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
