//! Printing: where output goes, colours, and how failures look.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use console::style;

use super::{Failure, GlobalArgs, OutputFormat};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::progress::{self, ProgressBar};
use promote_lib::scrub::scrub;

/// How this run prints.
#[derive(Debug, Clone)]
pub struct Ui {
    pub format: OutputFormat,
    pub quiet: bool,
}

impl Ui {
    /// Returns the printing setup for the global options; decides colours once for the process.
    pub fn new(global: &GlobalArgs) -> Ui {
        let no_color =
            global.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if no_color {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        } else {
            console::set_colors_enabled(std::io::stdout().is_terminal());
            console::set_colors_enabled_stderr(std::io::stderr().is_terminal());
        }
        Ui {
            format: global.output,
            quiet: global.quiet,
        }
    }

    /// Writes `text` to stdout. A closed pipe (`promote plan | head`) is not an error.
    pub fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    /// Writes a JSON document to stdout, pretty, with a trailing newline. Keys are sorted
    /// (through `serde_json::Value`), whatever the order of a struct's fields.
    pub fn json(&self, value: &impl serde::Serialize) {
        let value = serde_json::to_value(value).unwrap_or_default();
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        self.out(&text);
    }

    /// Prints one diagnostic to stderr.
    pub fn diagnostic(&self, d: &Diagnostic) {
        let text = d.to_string();
        eprintln!(
            "{} {}",
            style("error:").red().bold().for_stderr(),
            scrub(&text)
        );
    }

    /// Prints an error that several tenants share, with how many and the first of them.
    pub fn diagnostic_of_tenants(&self, group: &promote_lib::validate::Shared) {
        eprintln!(
            "{} {}",
            style("error:").red().bold().for_stderr(),
            scrub(&group.to_string())
        );
    }

    /// Prints a warning to stderr, even when quiet.
    pub fn warn(&self, text: &str) {
        eprintln!(
            "{} {}",
            style("warning:").yellow().bold().for_stderr(),
            scrub(text)
        );
    }

    /// Prints a note to stderr unless quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", scrub(text));
        }
    }

    /// Prints why a command failed.
    pub fn failure(&self, failure: &Failure) {
        match failure {
            Failure::Input(diagnostics) => {
                for d in diagnostics {
                    self.diagnostic(d);
                }
                if diagnostics.len() > 1 {
                    eprintln!(
                        "{} {} errors",
                        style("error:").red().bold().for_stderr(),
                        diagnostics.len()
                    );
                }
            }
            Failure::Other(e) => {
                let text = e.to_string();
                eprintln!(
                    "{} {}",
                    style("error:").red().bold().for_stderr(),
                    scrub(&text)
                );
                for cause in e.chain().skip(1) {
                    eprintln!("  caused by: {}", scrub(&cause.to_string()));
                }
            }
        }
    }
}

/// Progress bars on stderr for the library's batches, one at a time (hidden when quiet, in CI
/// or off a terminal).
pub struct Bars {
    quiet: bool,
    bar: Mutex<ProgressBar>,
}

impl Bars {
    /// Returns no bar yet, for a run that is `quiet` or not.
    pub fn new(quiet: bool) -> Bars {
        Bars {
            quiet,
            bar: Mutex::new(ProgressBar::hidden()),
        }
    }

    /// The current bar (a clone shares it).
    fn current(&self) -> ProgressBar {
        match self.bar.lock() {
            Ok(bar) => bar.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Runs `f` (which prints to stderr) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.current().suspend(f)
    }
}

impl progress::Observer for Bars {
    fn begin(&self, label: &str, total: usize) {
        let bar = progress::bar(total, label, self.quiet);
        match self.bar.lock() {
            Ok(mut current) => *current = bar,
            Err(poisoned) => *poisoned.into_inner() = bar,
        }
    }

    fn advance(&self) {
        self.current().inc(1);
    }

    fn finish(&self) {
        self.current().finish_and_clear();
    }
}
