//! The command line: parse arguments, run a command, print, exit.
//!
//! Each subcommand is one file with its `Args` (whose doc comment is its help) and a `run`
//! function; the library does the work. Exit codes are documented in the README and `--help`:
//! 0 success or no changes, 1 error, 2 changes present (with `--detailed-exitcode`).

mod adopt;
mod apply;
mod apply_plan;
mod backup;
mod ci;
mod completions;
mod consent;
mod diff;
mod drift;
mod export;
mod init;
mod lock;
mod man;
mod migrate;
mod output;
mod plan;
mod render;
mod rollback;
mod schema;
mod serve;
mod unlock;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use output::Ui;

use promote_lib::diagnostic::Diagnostic;

/// What `promote --version` says after the name: the version and the commit the binary was
/// built from (`build.rs`: from git, from a published crate's `.cargo_vcs_info.json`, or
/// `unknown commit`), e.g. `0.1.0 (commit 4120b01c3d2e)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PROMOTE_COMMIT"), ")");

/// Identity-platform tenants as YAML in git: render, validate, diff, plan and apply them
/// through the Configuration Promotion API.
#[derive(Debug, Parser)]
#[command(name = "promote", version = VERSION, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 success or no changes, 1 error, 2 changes present (--detailed-exitcode)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Configuration repository (holds templates/ and environments/)
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More logging on stderr (-v info, -vv debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr, no progress bar
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// No colours, even on a terminal
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Do not verify the platform's TLS certificate, and allow plain HTTP beyond loopback
    /// (a test platform only: credentials can then be read on the way)
    #[arg(long, global = true)]
    pub insecure: bool,
}

/// The API client's options for this run; warns when `--insecure` is on.
pub fn client_options(ui: &Ui, global: &GlobalArgs) -> promote_lib::client::Options {
    if global.insecure {
        ui.warn("--insecure: the platform's TLS certificate is not verified and plain HTTP is allowed; never use it against production");
    }
    promote_lib::client::Options {
        insecure: global.insecure,
        ..promote_lib::client::Options::default()
    }
}

/// Whether a person is at the terminal (stdin and stderr are both terminals).
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The connection to `env`'s platform (live exports, the last-applied state) for `tenants`,
/// with this run's client options.
pub fn open_live(
    ui: &Ui,
    global: &GlobalArgs,
    env: &promote_lib::environment::Environment,
    tenants: &[&promote_lib::environment::Tenant],
) -> Result<promote_lib::baseline::Live, Vec<Diagnostic>> {
    promote_lib::baseline::Live::open(&global.repo, env, tenants, client_options(ui, global))
}

/// Loads environment `env` of the work tree, finds its tenant `tenant` (key or ID) and runs
/// `work` on them: the start of the commands that act on one tenant.
pub fn with_tenant(
    global: &GlobalArgs,
    env: &str,
    tenant: &str,
    work: impl FnOnce(
        &promote_lib::pipeline::Project,
        &promote_lib::environment::Tenant,
    ) -> CommandResult,
) -> CommandResult {
    let files = promote_lib::source::RepoFiles::from_work_tree(&global.repo)?;
    let project = promote_lib::pipeline::Project::open(&files, env)?;
    let tenants = project.select(&[tenant.to_owned()])?;
    match tenants.first() {
        Some(t) => work(&project, t),
        None => Ok(Exit::Ok),
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people, coloured on a terminal
    Text,
    /// Stable, documented machine output
    Json,
    /// For a pull request comment
    Markdown,
    /// One self-contained page for review (`plan` only; with `--out FILE`)
    Html,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Render(render::RenderArgs),
    Validate(validate::ValidateArgs),
    Diff(diff::DiffArgs),
    Plan(plan::PlanArgs),
    Apply(apply::ApplyArgs),
    Rollback(rollback::RollbackArgs),
    Export(export::ExportArgs),
    Backup(backup::BackupArgs),
    Drift(drift::DriftArgs),
    Adopt(adopt::AdoptArgs),
    Migrate(migrate::MigrateArgs),
    Ci(ci::CiArgs),
    Unlock(unlock::UnlockArgs),
    Schema(schema::SchemaArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
    Serve(serve::ServeArgs),
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, no changes.
    Ok = 0,
    /// Something failed; the messages say what.
    Error = 1,
    /// Changes present (only with `--detailed-exitcode`).
    Changes = 2,
}

/// Why a command stopped early.
#[derive(Debug)]
pub enum Failure {
    /// Problems in the user's input, all of them.
    Input(Vec<Diagnostic>),
    /// Anything else (I/O, git), with its chain of causes.
    Other(anyhow::Error),
}

impl From<Vec<Diagnostic>> for Failure {
    fn from(d: Vec<Diagnostic>) -> Self {
        Failure::Input(d)
    }
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Input(vec![d])
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Other(e.into())
    }
}

/// The result of a command.
pub type CommandResult = Result<Exit, Failure>;

/// Runs the command line of this process and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap: 0 for --help/--version, 2 for usage errors; usage errors are errors here.
            return ExitCode::from(if e.use_stderr() { Exit::Error as u8 } else { 0 });
        }
    };
    let ui = Ui::new(&cli.global);
    promote_lib::credentials::secrets::register_known();
    if cli.global.output == OutputFormat::Html && !matches!(cli.command, Command::Plan(_)) {
        ui.failure(&Failure::Input(vec![Diagnostic::new(
            "--output html is a report of `promote plan`",
        )
        .hint("use --output text, json or markdown here")]));
        return ExitCode::from(Exit::Error as u8);
    }
    init_logging(&cli.global, matches!(cli.command, Command::Serve(_)));
    let result = match &cli.command {
        Command::Init(args) => init::run(&ui, &cli.global, args),
        Command::Render(args) => render::run(&ui, &cli.global, args),
        Command::Validate(args) => validate::run(&ui, &cli.global, args),
        Command::Diff(args) => diff::run(&ui, args),
        Command::Plan(args) => plan::run(&ui, &cli.global, args),
        Command::Apply(args) => apply::run(&ui, &cli.global, args),
        Command::Rollback(args) => rollback::run(&ui, &cli.global, args),
        Command::Export(args) => export::run(&ui, &cli.global, args),
        Command::Backup(args) => backup::run(&ui, &cli.global, args),
        Command::Drift(args) => drift::run(&ui, &cli.global, args),
        Command::Adopt(args) => adopt::run(&ui, &cli.global, args),
        Command::Migrate(args) => migrate::run(&ui, &cli.global, args),
        Command::Ci(args) => ci::run(&ui, &cli.global, args),
        Command::Unlock(args) => unlock::run(&ui, &cli.global, args),
        Command::Schema(args) => schema::run(&ui, &cli.global, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(&ui, args),
        Command::Serve(args) => serve::run(&ui, args),
    };
    let code = match result {
        Ok(exit) => exit,
        Err(failure) => {
            ui.failure(&failure);
            Exit::Error
        }
    };
    ExitCode::from(code as u8)
}

/// Sets up the log on stderr (never stdout: `--output json` stays clean there), every line
/// scrubbed of credential values ([`promote_lib::scrub`]):
///
/// - default: warnings and errors; `-q`: errors only;
/// - `-v` (info): what promote does, one line each: every HTTP request to the platform
///   (method, path, query, status, time, retries), each tenant's start and outcome, the
///   last-applied state read and written, the promotion gate;
/// - `-vv` (debug): more: templates compiled, tenants rendered, request and answer sizes, what
///   was skipped and why, and the embedded emulator's own request log (target
///   `promote::serve`, which `promote serve` shows at its default level);
/// - `PROMOTE_LOG`: any `tracing` filter, the HTTP and TLS libraries held at info.
fn init_logging(global: &GlobalArgs, serving: bool) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    // The HTTP and TLS libraries log the bytes they send at debug and trace: Authorization
    // headers, request bodies with secrets. Whatever PROMOTE_LOG asks, they say no more than
    // info (their directives in it are dropped); and every line is scrubbed of the credential
    // values this process holds.
    const WIRE: &[&str] = &[
        "ureq",
        "ureq_proto",
        "rustls",
        "hyper",
        "hyper_util",
        "h2",
        "axum",
        "tower",
    ];
    let asked = std::env::var("PROMOTE_LOG").ok().map(|spec| {
        spec.split(',')
            .filter(|d| {
                let target = d.split(['=', '[']).next().unwrap_or(d).trim();
                !WIRE
                    .iter()
                    .any(|w| target == *w || target.starts_with(&format!("{w}::")))
            })
            .collect::<Vec<_>>()
            .join(",")
    });
    let custom = asked.is_some();
    let filter = asked
        .and_then(|spec| tracing_subscriber::EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| {
            // The emulator's request log: one line per request under `promote serve` unless
            // quiet; for an embedded emulator only at -vv, since at -v the client's own lines
            // already show each request.
            let requests = match (serving, global.quiet, global.verbose) {
                (_, true, _) => "",
                (true, false, _) => ",promote::serve=info",
                (false, false, 0 | 1) => ",promote::serve=warn",
                (false, false, _) => "",
            };
            tracing_subscriber::EnvFilter::new(format!("promote={level}{requests}"))
        });
    let filter = WIRE
        .iter()
        .fold(filter, |f, target| match format!("{target}=info").parse() {
            Ok(directive) => f.add_directive(directive),
            Err(_) => f,
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(promote_lib::scrub::stderr)
        .with_ansi(console::colors_enabled_stderr())
        // At -v the lines are for people: which module said it is noise there.
        .with_target(custom || global.verbose >= 2 || serving)
        .without_time()
        .try_init();
}

/// Warns when some of `tenants` of `env` were last applied from a commit the work tree's HEAD
/// does not contain (another branch, another worktree): what HEAD says replaces it, and the
/// plan shows the reverted changes as ordinary ones. Nothing to say without git or a commit.
fn warn_foreign(
    ui: &Ui,
    repo: &std::path::Path,
    env: &str,
    tenants: &[&promote_lib::environment::Tenant],
) -> Result<(), promote_lib::diagnostic::Diagnostic> {
    let head = git2::Repository::discover(repo)
        .ok()
        .and_then(|git| git.head().ok()?.peel_to_commit().ok().map(|c| c.id()));
    let Some(head) = head else {
        return Ok(());
    };
    let foreign = promote_lib::lineage::foreign(repo, env, tenants, head)?;
    if !foreign.is_empty() {
        ui.warn(&foreign.warning(env, &head.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The `promote` command lines of the CI examples, with CI variables replaced by sample
    /// values, split into arguments.
    fn example_commands(yaml: &str) -> Vec<Vec<String>> {
        fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                serde_json::Value::Object(m) => m.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let tree = promote_lib::yaml::parse(yaml, "example").expect("the example is YAML");
        let mut all = Vec::new();
        strings(&tree, &mut all);
        all.iter()
            .filter_map(|s| s.split_once("\"$PROMOTE\" ").map(|(_, rest)| rest))
            .map(|command| {
                let mut text = command
                    .replace("${{ matrix.shard }}", "2")
                    .replace("$CI_NODE_INDEX", "2")
                    .replace("$CI_NODE_TOTAL", "4")
                    // Set from the pull request's `promote:allow-delete` label, else empty.
                    .replace("$ALLOW_DELETE", "--allow-delete");
                while let Some(start) = text.find("${{") {
                    let end = text[start..]
                        .find("}}")
                        .map_or(text.len(), |e| start + e + 2);
                    text.replace_range(start..end, "prod");
                }
                std::iter::once("promote".to_owned())
                    .chain(
                        text.split_whitespace()
                            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned()),
                    )
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_command_of_the_ci_examples_parses() {
        for (name, yaml, expected) in [
            (
                "github-actions.yml",
                include_str!("../../examples/ci/github-actions.yml"),
                5,
            ),
            (
                "gitlab-ci.yml",
                include_str!("../../examples/ci/gitlab-ci.yml"),
                5,
            ),
        ] {
            let commands = example_commands(yaml);
            assert_eq!(commands.len(), expected, "{name}: {commands:?}");
            for args in commands {
                if let Err(e) = Cli::try_parse_from(&args) {
                    panic!("{name}: {args:?} does not parse: {e}");
                }
            }
        }
    }
}
