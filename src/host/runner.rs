//! The one way openlsp runs a program on the host (`microk8s`, `snap`, `id`, `df`, `uname`,
//! `hostname`). Everything goes through [`Runner`], so unit tests swap in a fake and CLI tests
//! put fake scripts on `PATH`. A program that is not installed is an answer, not a crash.

use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished program printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// The first non-empty line of stderr, else of stdout: what to quote when it failed.
    pub fn first_error_line(&self) -> String {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("no output")
            .to_owned()
    }
}

/// Why a program could not be run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("`{program}` is not installed (not found on PATH)")]
    NotFound { program: String },
    #[error("`{command}` did not finish within {seconds}s")]
    TimedOut { command: String, seconds: u64 },
    #[error("cannot run `{command}`: {message}")]
    Failed { command: String, message: String },
}

/// Runs one program with arguments and collects its output.
pub trait Runner {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, RunError>;
}

/// Runs programs from `PATH`, in the C locale, without stdin, with a time limit.
#[derive(Debug, Clone)]
pub struct SystemRunner {
    timeout: Duration,
}

impl Default for SystemRunner {
    fn default() -> Self {
        // `microk8s status` can take half a minute on a busy Pi.
        SystemRunner {
            timeout: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
impl SystemRunner {
    pub fn with_timeout(timeout: Duration) -> Self {
        SystemRunner { timeout }
    }
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

fn drain(mut stream: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stream.read_to_end(&mut buffer);
        buffer
    })
}

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, RunError> {
        let command = command_line(program, args);
        let failed = |err: io::Error| RunError::Failed {
            command: command.clone(),
            message: err.to_string(),
        };
        let mut child = match Command::new(program)
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(RunError::NotFound {
                    program: program.to_owned(),
                });
            }
            Err(err) => return Err(failed(err)),
        };
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait().map_err(failed)? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    // Only the child we started; its readers are left to finish on their own.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(RunError::TimedOut {
                        command,
                        seconds: self.timeout.as_secs(),
                    });
                }
                None => thread::sleep(Duration::from_millis(10)),
            }
        };
        let collect = |handle: Option<thread::JoinHandle<Vec<u8>>>| {
            handle
                .and_then(|h| h.join().ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default()
        };
        Ok(CommandOutput {
            success: status.success(),
            stdout: collect(stdout),
            stderr: collect(stderr),
        })
    }
}

#[cfg(test)]
pub mod fake {
    //! A runner that answers from a table, for unit tests.

    use std::collections::HashMap;

    use super::{CommandOutput, RunError, Runner, command_line};

    #[derive(Debug, Default)]
    pub struct FakeRunner {
        answers: HashMap<String, CommandOutput>,
    }

    impl FakeRunner {
        /// `command` (program and arguments joined by spaces) succeeds and prints `stdout`.
        pub fn ok(mut self, command: &str, stdout: &str) -> Self {
            self.answers.insert(
                command.to_owned(),
                CommandOutput {
                    success: true,
                    stdout: stdout.to_owned(),
                    stderr: String::new(),
                },
            );
            self
        }

        /// `command` fails and prints `stderr`.
        pub fn fails(mut self, command: &str, stderr: &str) -> Self {
            self.answers.insert(
                command.to_owned(),
                CommandOutput {
                    success: false,
                    stdout: String::new(),
                    stderr: stderr.to_owned(),
                },
            );
            self
        }
    }

    impl Runner for FakeRunner {
        /// Unknown commands behave like programs that are not installed.
        fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, RunError> {
            self.answers
                .get(&command_line(program, args))
                .cloned()
                .ok_or_else(|| RunError::NotFound {
                    program: program.to_owned(),
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_not_found_not_an_error() {
        let result = SystemRunner::default().run("openlsp-no-such-program", &["--version"]);
        assert_eq!(
            result,
            Err(RunError::NotFound {
                program: "openlsp-no-such-program".to_owned()
            })
        );
    }

    #[test]
    fn collects_output_and_status() {
        let output = SystemRunner::default()
            .run("sh", &["-c", "echo out; echo err >&2; exit 3"])
            .unwrap();
        assert!(!output.success);
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.first_error_line(), "err");
    }

    #[test]
    fn a_hanging_program_times_out() {
        let runner = SystemRunner::with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let result = runner.run("sleep", &["5"]);
        assert!(
            matches!(result, Err(RunError::TimedOut { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
