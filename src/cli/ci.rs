//! `promote ci`: plan, or apply, exactly the tenants a merge changed, environment by
//! environment in promotion order.

use std::path::PathBuf;

use super::output::Bars;
use super::plan::{DriftArg, ModeArg};
use super::{CommandResult, Exit, Failure, GlobalArgs, OutputFormat, Ui};
use promote_lib::baseline::Live;
use promote_lib::ci::{self, Confirmation, Ran, Shard, SummaryFile};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::environment::{Environment, Tenant};
use promote_lib::progress;

/// Plan (or with --apply, apply) only the tenants a change from --base to --head affects, in
/// each environment in the order of their `requires:` gates; head is read from git, with no
/// checkout
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// The commit before the change (the merge base of a pull request, or the previous tip of
    /// the branch); git's all-zero ID means "nothing before"
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// The commit to plan or apply
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub head: String,
    /// Only this environment; repeatable (default: every environment of head)
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Apply, environment by environment, stopping at the first that fails
    #[arg(long)]
    pub apply: bool,
    /// With --apply: send everything with dry_run=true (the platform validates and changes
    /// nothing)
    #[arg(long, requires = "apply")]
    pub dry_run: bool,
    /// Only shard K of N of the affected tenants (a stable partition by tenant key), for a
    /// fleet split over N jobs
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Conflict resolution where the platform and the repository both changed a path
    #[arg(long, value_enum, default_value_t = ModeArg::Update)]
    pub mode: ModeArg,
    /// Drift (a path the platform changed and the repository did not since the last apply):
    /// restore the repository's value, or keep the platform's
    #[arg(long, value_enum, default_value_t = DriftArg::Restore)]
    pub drift: DriftArg,
    /// With --apply: allow removing whole objects the repository dropped, and forget (remove
    /// from the last-applied state) tenants whose entry was deleted
    #[arg(long)]
    pub allow_delete: bool,
    /// With --apply: allow removing more than a fifth of a tenant's objects
    #[arg(long)]
    pub force: bool,
    /// Write the markdown summary to FILE (default: $GITHUB_STEP_SUMMARY when set, appended)
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Without --apply: exit 2 when there are changes (0 none, 1 error)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Share the last-applied state (refs/promote/state) through this git remote (a name or a
    /// URL): pulled before planning, pushed after each environment applied, with other jobs'
    /// records kept
    #[arg(long, value_name = "REMOTE")]
    pub state_remote: Option<String>,
    /// Without --apply: also save each environment's plan to DIR/<ENV>.plan.json, for
    /// `promote ci --apply --plan DIR` to apply exactly
    #[arg(long, value_name = "DIR", conflicts_with = "apply")]
    pub save: Option<PathBuf>,
    /// With --apply: apply exactly the plans `promote ci --save DIR` saved (a tenant the
    /// platform changed since at a path its plan relies on is refused)
    #[arg(long, value_name = "DIR", requires = "apply")]
    pub plan: Option<PathBuf>,
    /// Write without asking (needed where there is no terminal to ask on, as in CI)
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub lock: super::lock::LockArgs,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &CiArgs) -> CommandResult {
    let options = ci::Options {
        base: args.base.clone(),
        head: args.head.clone(),
        envs: args.envs.clone(),
        apply: args.apply,
        dry_run: args.dry_run,
        shard: args.shard,
        mode: args.mode.into(),
        drift: args.drift.into(),
        allow_delete: args.allow_delete,
        force: args.force,
        state_remote: args.state_remote.clone(),
        summary: summary_file(args),
        lock_timeout: args.lock.timeout(),
        save: args.save.clone(),
        plans: args.plan.clone(),
    };
    if args.apply && !args.dry_run {
        super::lock::release_on_interrupt();
    }
    let host = Host {
        ui,
        global,
        yes: args.yes,
        bars: Bars::new(ui.quiet),
    };
    let stdout = std::io::stdout().lock();
    let out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let mut sink: Box<dyn ci::Sink> = match ui.format {
        OutputFormat::Text => Box::new(ci::Text::new(out, global.verbose > 0)),
        OutputFormat::Json => Box::new(ci::Json::new(out)),
        OutputFormat::Markdown | OutputFormat::Html => Box::new(ci::Markdown::new(out)),
    };
    let outcomes = match ci::run(&global.repo, &options, &host, sink.as_mut()) {
        Ok(Ran::Finished(outcomes)) => outcomes,
        // Why is said already (no terminal and no --yes, or declined).
        Ok(Ran::Declined) => return Ok(Exit::Error),
        Err(ci::Error::Invalid(problems)) => {
            for d in &problems {
                ui.diagnostic(d);
            }
            ui.note("nothing was applied: the head commit has errors");
            return Ok(Exit::Error);
        }
        Err(ci::Error::Input(problems)) => return Err(Failure::Input(problems)),
    };
    if let Some(env) = &outcomes.stopped {
        ui.note(&stopped_note(env, &outcomes, args.plan.is_some()));
    }
    Ok(if outcomes.failed() {
        Exit::Error
    } else if !args.apply && args.detailed_exitcode && outcomes.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// Where the markdown summary goes: `--summary FILE`, or appended to `$GITHUB_STEP_SUMMARY`.
fn summary_file(args: &CiArgs) -> Option<SummaryFile> {
    match (&args.summary, std::env::var_os("GITHUB_STEP_SUMMARY")) {
        (Some(p), _) => Some(SummaryFile {
            path: p.clone(),
            append: false,
        }),
        (None, Some(p)) if !p.is_empty() => Some(SummaryFile {
            path: PathBuf::from(p),
            append: true,
        }),
        _ => None,
    }
}

/// The command line as ci's host: stderr for messages, a progress bar per environment, and a
/// question on the terminal before an apply.
struct Host<'a> {
    ui: &'a Ui,
    global: &'a GlobalArgs,
    /// `--yes`: do not ask.
    yes: bool,
    /// The current environment's progress bar.
    bars: Bars,
}

impl ci::Host for Host<'_> {
    fn connect(&self, env: &Environment, tenants: &[&Tenant]) -> Result<Live, Vec<Diagnostic>> {
        super::open_live(self.ui, self.global, env, tenants)
    }

    fn confirm(&self, what: &Confirmation) -> bool {
        let asked = super::consent::ask(&super::consent::Request {
            yes: self.yes,
            question: format!(
                "Apply {} tenant(s) over {}?",
                what.tenants,
                what.environments.join(", ")
            ),
            shown: "Each environment's plan is made as it is applied; run without --apply to see them first.\n".into(),
            done: "applied",
        });
        match asked {
            Ok(()) => true,
            Err(d) => {
                self.bars.suspend(|| self.ui.diagnostic(&d));
                false
            }
        }
    }

    fn warn(&self, text: &str) {
        self.bars.suspend(|| self.ui.warn(text));
    }

    fn diagnostic(&self, d: &Diagnostic) {
        self.bars.suspend(|| self.ui.diagnostic(d));
    }

    fn note(&self, text: &str) {
        self.bars.suspend(|| self.ui.note(text));
    }
}

impl progress::Observer for Host<'_> {
    fn begin(&self, label: &str, total: usize) {
        self.bars.begin(label, total);
    }

    fn advance(&self) {
        self.bars.advance();
    }

    fn finish(&self) {
        self.bars.finish();
    }
}

/// What the closing line says of `env`, the environment whose apply failed. A tenant a saved
/// plan no longer fits (or one whose removal is refused) is not offered again by the next
/// merge, which plans only what its diff touches: it is planned again by hand, reviewed and
/// applied from that plan. Running the job again finishes only what an interruption stopped.
fn stopped_note(env: &str, outcomes: &ci::Outcomes, saved: bool) -> String {
    let head = format!("error: `{env}` failed; the environments after it were not run.");
    if !saved {
        return format!("{head} Do what each error says, then run the job again to finish: what is done is not changed again");
    }
    let mut keys: Vec<&str> = outcomes
        .environments
        .iter()
        .filter(|o| o.env == env)
        .flat_map(|o| o.errors.iter().filter_map(|d| d.tenant.as_deref()))
        .collect();
    keys.dedup();
    format!(
        "{head} The next merge does not plan a refused tenant again: plan it, review the plan and apply it by hand ({}, with --allow-delete where it removes objects), then run the job again for the environments after `{env}`",
        promote_lib::saved::plan_again(env, &keys)
    )
}
