//! `promote plan`: what applying the repository would change, per tenant.

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::baseline::{Against, Baseline};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::patch::three_way::{DriftPolicy, Mode};
use promote_lib::pipeline::Project;
use promote_lib::plan;
use promote_lib::plan::Header;
use promote_lib::progress;
use promote_lib::report::{self, Sink};
use promote_lib::saved::{PlanFile, SavedTenant};
use promote_lib::source::RepoFiles;

/// Show what applying the repository would change, tenant by tenant
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Environment to plan (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID, or key:KEY, id:ID); repeatable
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Baseline: live (export each tenant from the platform; three-way with the last-applied
    /// state), dir:DIR (one <key>.json or <key>/ per tenant) or rev:REV (the environment
    /// rendered at a git revision)
    #[arg(long, value_name = "BASELINE", default_value = "live")]
    pub against: Against,
    /// Conflict resolution where the platform and the repository both changed a path
    #[arg(long, value_enum, default_value_t = ModeArg::Update)]
    pub mode: ModeArg,
    /// Drift (a path the platform changed and the repository did not since the last apply):
    /// restore the repository's value, or keep the platform's
    #[arg(long, value_enum, default_value_t = DriftArg::Restore)]
    pub drift: DriftArg,
    /// Exit 2 when there are changes (0 none, 1 error), like `terraform plan`
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Write the report to FILE instead of stdout (e.g. `--output html --out plan.html`)
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Also save the plan to PLANFILE, for `promote apply --plan PLANFILE` to apply exactly
    /// (against live only; the configuration must be committed)
    #[arg(long, value_name = "PLANFILE")]
    pub save: Option<std::path::PathBuf>,
}

/// `--mode`, as the platform API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Keep the platform's value
    Ignore,
    /// Stop with an error and change nothing
    Fail,
    /// Take the repository's value
    Update,
}

/// `--drift`: what a plan does where only the platform changed a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DriftArg {
    /// Plan the repository's value back
    Restore,
    /// Keep the platform's value: plan only what the repository changed since the last apply
    Keep,
}

impl From<DriftArg> for DriftPolicy {
    fn from(d: DriftArg) -> DriftPolicy {
        match d {
            DriftArg::Restore => DriftPolicy::Restore,
            DriftArg::Keep => DriftPolicy::Keep,
        }
    }
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Ignore => Mode::Ignore,
            ModeArg::Fail => Mode::Fail,
            ModeArg::Update => Mode::Update,
        }
    }
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &PlanArgs) -> CommandResult {
    // A saved plan is applied to the platform it was made against, from the commit it names.
    let saving = match &args.save {
        Some(path) => {
            if !matches!(args.against, Against::Live) {
                return Err(Diagnostic::new(format!(
                    "a saved plan is made against live, not {}",
                    args.against
                ))
                .hint("leave --against out with --save")
                .into());
            }
            promote_lib::saved::check_place(&global.repo, path)?;
            promote_lib::saved::check_committed(&global.repo)?;
            let commit = promote_lib::saved::head_commit(&global.repo).ok_or_else(|| {
                Diagnostic::new("a saved plan names the commit it was made from, and the repository has none yet")
                    .hint("commit the configuration, then plan again")
            })?;
            Some((path, commit))
        }
        None => None,
    };
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let project = Project::open(&files, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let rev_files = match &args.against {
        Against::Rev(rev) => Some(RepoFiles::from_revision(&global.repo, rev)?),
        Against::Dir(_) | Against::Live => None,
    };
    let baseline = match &args.against {
        Against::Live => Baseline::Live(Box::new(super::open_live(
            ui,
            global,
            &project.env,
            &tenants,
        )?)),
        other => Baseline::open(other, &args.env, rev_files.as_ref())?,
    };
    if let Against::Live = args.against {
        super::warn_foreign(ui, &global.repo, &args.env, &tenants)?;
    }
    let bar = progress::bar(tenants.len(), &format!("plan {}", args.env), ui.quiet);
    let header = Header {
        version: promote_lib::plan::REPORT_VERSION,
        env: project.env.name.clone(),
        against: args.against.to_string(),
        mode: args.mode.into(),
        action: None,
        drift: args.drift.into(),
        ignore: project.ignore_rules(&tenants),
    };
    let mut sink = match &args.out {
        Some(path) => file_sink(ui, global, path)?,
        None => sink(ui, global),
    };
    // A closed pipe (`promote plan | head`) ends the output, not the plan's exit code.
    let mut open = sink.begin(&header).is_ok();
    let text_output = ui.format == OutputFormat::Text;
    let mut saved = Vec::new();
    let mut each = |tenant: plan::TenantPlan, change| {
        bar.inc(1);
        if saving.is_some() {
            saved.push(SavedTenant {
                key: tenant.key.clone(),
                id: tenant.id.clone(),
                change,
            });
        }
        // The report may go to a file; the reasons for the exit code always reach stderr.
        if !text_output {
            for d in &tenant.errors {
                bar.suspend(|| ui.diagnostic(d));
            }
        }
        if open {
            open = sink.tenant(&tenant).is_ok();
        }
    };
    let summary = plan::plan_to_save(
        &project,
        &tenants,
        &baseline,
        (header.mode, header.drift),
        saving.is_some(),
        &mut each,
    );
    bar.finish_and_clear();
    if open {
        let _ = sink.end(&summary);
    }
    if let Some(line) = project.warnings_line() {
        ui.warn(&line);
    }
    if summary.has_errors() && text_output {
        ui.note(&format!(
            "error: {} tenant(s) could not be planned (see above)",
            summary.errors
        ));
    }
    if let Some((path, commit)) = saving {
        if summary.has_errors() {
            ui.note(&format!(
                "the plan was not saved to {}: a plan with errors cannot be applied",
                path.display()
            ));
        } else {
            let file = PlanFile::new(
                &global.repo,
                &project.env.name,
                commit,
                (header.mode, header.drift),
                args.tenants.is_empty(),
                saved,
            )?;
            file.write(path)?;
            ui.note(&format!(
                "saved the plan to {}: apply exactly it with `promote apply --plan {}`",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(if summary.has_errors() {
        Exit::Error
    } else if args.detailed_exitcode && summary.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// The report writer for this run's `--output`, on stdout.
pub fn sink(ui: &Ui, global: &GlobalArgs) -> Box<dyn Sink> {
    let stdout = std::io::stdout().lock();
    sink_to(
        ui,
        global,
        std::io::BufWriter::with_capacity(1 << 16, stdout),
    )
}

/// The report writer for this run's `--output`, into the file `path`.
fn file_sink(
    ui: &Ui,
    global: &GlobalArgs,
    path: &std::path::Path,
) -> Result<Box<dyn Sink>, super::Failure> {
    let file = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot write the report to {}: {e}", path.display()))?;
    Ok(sink_to(ui, global, std::io::BufWriter::new(file)))
}

/// The report writer for this run's `--output`, into `out`.
fn sink_to<'a, W: std::io::Write + 'a>(ui: &Ui, global: &GlobalArgs, out: W) -> Box<dyn Sink + 'a> {
    match ui.format {
        OutputFormat::Text => Box::new(report::Text::new(out, global.verbose > 0)),
        OutputFormat::Json => Box::new(report::Json::new(out)),
        OutputFormat::Markdown => Box::new(report::Markdown::new(out)),
        OutputFormat::Html => Box::new(report::Html::new(out)),
    }
}
