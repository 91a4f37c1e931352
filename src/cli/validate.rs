//! `promote validate`: every error and warning of every tenant of every environment, then the
//! exit code.

use super::output::Bars;
use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::source::RepoFiles;
use promote_lib::validate;

/// Check that every tenant renders, types every field as the platform does, references what
/// exists, and holds no plain-text credential
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Environment to check (repeatable); default: all of environments/
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Fail on warnings too (fields the platform does not know, values outside the values its
    /// API description lists), as `strict: true` in an environment file does
    #[arg(long)]
    pub strict: bool,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ValidateArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let checked = validate::repository(&files, &args.envs, args.strict, &Bars::new(ui.quiet));
    match ui.format {
        OutputFormat::Json => ui.json(&checked),
        OutputFormat::Text | OutputFormat::Markdown | OutputFormat::Html => {
            let errors = checked.grouped_errors();
            for group in &errors {
                ui.diagnostic_of_tenants(group);
            }
            for w in &checked.warnings {
                ui.warn(&w.to_string());
            }
            let mut found = Vec::new();
            if !checked.errors.is_empty() {
                // Counted as shown: an error many tenants share is one, as a warning is.
                found.push(format!("{} error(s)", errors.len()));
            }
            if !checked.warnings.is_empty() {
                found.push(format!(
                    "{} warning(s){}",
                    checked.warnings.len(),
                    if args.strict {
                        " (--strict: they fail)"
                    } else {
                        ""
                    }
                ));
            }
            let summary = format!(
                "{} tenant(s) in {} environment(s): {}",
                checked.tenants_checked,
                checked.environments.len(),
                if checked.valid && found.is_empty() {
                    "valid".to_owned()
                } else if checked.valid {
                    format!("valid, {}", found.join(", "))
                } else {
                    found.join(", ")
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
