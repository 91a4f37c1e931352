//! `promote validate`: every error of every tenant of every environment, then the exit code.

use super::output::Bars;
use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::source::RepoFiles;
use promote_lib::validate;

/// Check that every tenant renders, is well-formed, references what exists, and holds no
/// plain-text credential
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Environment to check (repeatable); default: all of environments/
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ValidateArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let checked = validate::repository(&files, &args.envs, &Bars::new(ui.quiet));
    match ui.format {
        OutputFormat::Json => ui.json(&checked),
        OutputFormat::Text | OutputFormat::Markdown | OutputFormat::Html => {
            for d in &checked.errors {
                ui.diagnostic(d);
            }
            let summary = format!(
                "{} tenant(s) in {} environment(s): {}",
                checked.tenants_checked,
                checked.environments.len(),
                if checked.valid {
                    "valid".to_owned()
                } else {
                    format!("{} error(s)", checked.errors.len())
                }
            );
            if checked.valid {
                ui.note(&summary);
            } else {
                eprintln!("{summary}");
            }
        }
    }
    Ok(if checked.valid { Exit::Ok } else { Exit::Error })
}
