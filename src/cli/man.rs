//! `promote man`: manual pages (roff), for `man promote` and `man promote-plan`.

use std::path::PathBuf;

use anyhow::Context;
use clap::CommandFactory;

use super::{Cli, CommandResult, Exit, Ui};

/// Write the manual pages: promote.1 on stdout, or with --out DIR one page per command
/// (promote.1, promote-plan.1, ...)
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write every page to (e.g. /usr/local/share/man/man1)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(ui: &Ui, args: &ManArgs) -> CommandResult {
    let command = Cli::command();
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut out)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the pages to {}", dir.display()))?;
            ui.note(&format!("manual pages written to {}", dir.display()));
        }
    }
    Ok(Exit::Ok)
}
