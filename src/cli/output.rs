//! Printing: where output goes, colours, and how failures look.

use std::io::{IsTerminal, Write};

use console::style;

use super::{Failure, GlobalArgs, OutputFormat};
use promote_lib::credentials::scrub::scrub;
use promote_lib::diagnostic::Diagnostic;

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
