//! `promote completions SHELL`: the shell completion script, on stdout.

use clap::CommandFactory;

use super::{Cli, CommandResult, Exit};

/// Print the completion script for a shell (e.g. `promote completions bash >
/// /etc/bash_completion.d/promote`)
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: &CompletionsArgs) -> CommandResult {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "promote", &mut out);
    Ok(Exit::Ok)
}
