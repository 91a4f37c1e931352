//! `promote schema`: the JSON Schema documents editors validate and complete the repository's
//! YAML files with.

use std::path::PathBuf;

use serde_json::json;

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::schema;

/// Write JSON Schema documents for the repository's YAML files into schema/ (tenant, workspace,
/// each collection's entries, environment files), for editors: files written by `export` and
/// `init` name theirs on their first line (`# yaml-language-server: $schema=...`)
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write the documents here instead of <repo>/schema
    #[arg(long, value_name = "DIR", conflicts_with_all = ["print", "annotate"])]
    pub out: Option<PathBuf>,
    /// Print the document of one kind instead of writing them all
    #[arg(long, value_name = "KIND", value_parser = clap::builder::PossibleValuesParser::new(schema::kinds()))]
    pub print: Option<String>,
    /// Write nothing: exit 1 when a document is missing from the directory or out of date
    #[arg(long, conflicts_with_all = ["print", "annotate"])]
    pub check: bool,
    /// Also add the `# yaml-language-server: $schema=` line to every file of templates/ and
    /// environments/ that has none, where it changes nothing rendered
    #[arg(long, conflicts_with = "print")]
    pub annotate: bool,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &SchemaArgs) -> CommandResult {
    if let Some(kind) = &args.print {
        ui.out(&schema::document(kind).text());
        return Ok(Exit::Ok);
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| schema::dir_of(&global.repo));
    if args.check {
        return check(ui, &dir);
    }
    let written = schema::write(&dir)?;
    let annotated = if args.annotate {
        Some(schema::annotate_repository(&global.repo)?)
    } else {
        None
    };
    if ui.format != OutputFormat::Text {
        let mut doc = json!({"version": 1, "dir": dir, "schemas": written});
        if let Some(a) = &annotated {
            doc["annotated"] = json!(a.annotated);
            doc["already"] = json!(a.already);
            doc["skipped"] = a
                .skipped
                .iter()
                .map(|(path, why)| json!({"path": path, "why": why}))
                .collect();
        }
        ui.json(&doc);
        return Ok(Exit::Ok);
    }
    let total = written.added.len() + written.changed.len() + written.unchanged.len();
    ui.out(&format!(
        "{}: {total} schema(s), {} added, {} changed, {} unchanged\n",
        dir.display(),
        written.added.len(),
        written.changed.len(),
        written.unchanged.len()
    ));
    if let Some(a) = annotated {
        for path in &a.annotated {
            ui.out(&format!("annotated {path}\n"));
        }
        for (path, why) in &a.skipped {
            ui.warn(&format!(
                "{path}: no $schema line added: {why}; add it by hand where it fits"
            ));
        }
        ui.out(&format!(
            "{} file(s) annotated, {} already were, {} left alone\n",
            a.annotated.len(),
            a.already.len(),
            a.skipped.len()
        ));
    }
    Ok(Exit::Ok)
}

fn check(ui: &Ui, dir: &std::path::Path) -> CommandResult {
    let stale = schema::stale(dir);
    if ui.format != OutputFormat::Text {
        ui.json(&json!({"version": 1, "dir": dir, "stale": stale}));
    }
    if stale.is_empty() {
        if ui.format == OutputFormat::Text {
            ui.out(&format!("{}: up to date\n", dir.display()));
        }
        return Ok(Exit::Ok);
    }
    Err(Diagnostic::new(format!(
        "{}: {} schema(s) missing or out of date: {}",
        dir.display(),
        stale.len(),
        stale.join(", ")
    ))
    .hint("run `promote schema` and commit the result")
    .into())
}
