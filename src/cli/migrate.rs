//! `promote migrate`: one tenant of one environment into another, without the repository.

use super::plan::sink;
use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::baseline::Live;
use promote_lib::diagnostic::Diagnostic;
use promote_lib::migrate::{self, Side};
use promote_lib::patch::three_way::Mode;
use promote_lib::pipeline::Project;
use promote_lib::plan::{Header, Outcome, Status, Summary};
use promote_lib::source::RepoFiles;

/// Migrate a tenant to another environment (the platform's tenant migration procedure): export
/// it, rewrite its tenant ID and the source environment's URL and variable values to the
/// destination's, drop credentials so that fresh ones are generated, show the plan, import
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Source: ENV:TENANT (a tenant key or ID of environments/<ENV>.yaml, or key:KEY, id:ID)
    #[arg(long, value_name = "ENV:TENANT")]
    pub from: String,
    /// Destination: ENV:TENANT (the tenant must be listed in that environment's file)
    #[arg(long, value_name = "ENV:TENANT")]
    pub to: String,
    /// What the import does with an object (client, policy, workspace, ...) the destination
    /// tenant already has
    #[arg(long, value_enum, default_value_t = MigrateMode::Fail)]
    pub mode: MigrateMode,
    /// Allow removing whole objects the destination tenant has and the source does not (an
    /// import replaces the whole configuration)
    #[arg(long)]
    pub allow_delete: bool,
    /// Allow removing more than a fifth of the destination's objects (with --allow-delete)
    #[arg(long)]
    pub force: bool,
    /// Copy the credentials instead of letting the destination generate fresh ones
    #[arg(long)]
    pub with_credentials: bool,
    /// Send the import with dry_run=true: the destination validates and changes nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write without asking (needed where there is no terminal to ask on, as in CI)
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub lock: super::lock::LockArgs,
}

/// `--mode` of migrate: the platform's import modes, said of the two tenants migrate has
/// (there is no repository value in a migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MigrateMode {
    /// Keep the destination's object; import only what it does not have
    Ignore,
    /// Refuse the whole import if the destination has any of the objects (nothing changes)
    Fail,
    /// Overwrite the destination's object with the source's
    Update,
}

impl From<MigrateMode> for Mode {
    fn from(m: MigrateMode) -> Mode {
        match m {
            MigrateMode::Ignore => Mode::Ignore,
            MigrateMode::Fail => Mode::Fail,
            MigrateMode::Update => Mode::Update,
        }
    }
}

fn split(arg: &str, flag: &str) -> Result<(String, String), Diagnostic> {
    match arg.split_once(':') {
        Some((env, tenant)) if !env.is_empty() && !tenant.is_empty() => {
            Ok((env.to_owned(), tenant.to_owned()))
        }
        _ => Err(Diagnostic::new(format!("{flag} `{arg}` is not ENV:TENANT"))
            .hint(format!("e.g. {flag} staging:acme"))),
    }
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &MigrateArgs) -> CommandResult {
    let (from_env, from_tenant) = split(&args.from, "--from")?;
    let (to_env, to_tenant) = split(&args.to, "--to")?;
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let (_, opened) = Project::open_each(&files, &[from_env.clone(), to_env.clone()])?;
    let [source_project, destination_project] = <[_; 2]>::try_from(opened)
        .unwrap_or_else(|_| unreachable!("two projects for two environments"));
    let (source_project, destination_project) = (source_project?, destination_project?);
    let from = source_project.select(&[from_tenant])?;
    let to = destination_project.select(&[to_tenant])?;
    let (Some(from), Some(to)) = (from.first().copied(), to.first().copied()) else {
        return Ok(Exit::Ok);
    };
    if from_env == to_env && from.id == to.id {
        return Err(Diagnostic::new("the source and the destination are the same tenant").into());
    }
    // The destination is written; a dry run writes nothing.
    let _lock = (!args.dry_run)
        .then(|| super::lock::hold(ui, global, &args.lock, &to_env, "migrate"))
        .transpose()?;
    let options = super::client_options(ui, global);
    // One connection when both tenants are in one environment (one embedded emulator per data
    // directory).
    let same_env = from_env == to_env;
    let both = [from, to];
    let source_live = Live::open(
        &global.repo,
        &source_project.env,
        if same_env { &both[..] } else { &both[..1] },
        options.clone(),
    )?;
    let other_live = if same_env {
        None
    } else {
        Some(Live::open(
            &global.repo,
            &destination_project.env,
            &[to],
            options,
        )?)
    };
    let destination_live = other_live.as_ref().unwrap_or(&source_live);
    let source = Side {
        live: &source_live,
        env: &source_project.env,
        tenant: from,
        ignore: source_project.ignore(from),
    };
    let destination = Side {
        live: destination_live,
        env: &destination_project.env,
        tenant: to,
        ignore: destination_project.ignore(to),
    };
    let mode = args.mode.into();
    let deletes = promote_lib::apply::Deletes {
        allow: args.allow_delete,
        force: args.force,
    };
    let prepared = migrate::prepare(&source, &destination, mode, args.with_credentials, deletes)?;
    let header = Header {
        version: promote_lib::plan::REPORT_VERSION,
        env: to_env.clone(),
        against: format!("live, from {}:{} ({})", from_env, from.key, from.id),
        mode,
        drift: Default::default(),
        ignore: destination_project.ignore_rules(&[to]),
        action: Some(
            if args.dry_run {
                "migrate (dry run)"
            } else {
                "migrate"
            }
            .into(),
        ),
    };
    if !prepared.untouched_redirects.is_empty() && ui.format == OutputFormat::Text {
        ui.warn(&format!(
            "{} redirect URI(s) were not derived from {from_env}'s URL or variables and are copied as they are; check them:\n{}",
            prepared.untouched_redirects.len(),
            prepared
                .untouched_redirects
                .iter()
                .map(|(at, uri)| format!("  {at}: {uri}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if !prepared.dropped.is_empty() {
        ui.warn(&dropped_credentials(
            &prepared.dropped,
            &args.to,
            &to_env,
            &to.key,
        ));
    }
    if prepared.new_tenant {
        ui.note(&format!(
            "{to_env} does not know tenant `{}`: it is imported through the system endpoints, which create it",
            to.id
        ));
    }
    let report = prepared.report.clone();
    if !args.dry_run {
        super::consent::ask(&super::consent::Request {
            yes: args.yes,
            question: format!(
                "Import {}:{} into {}:{} ({})?",
                from_env, from.key, to_env, to.key, to.id
            ),
            shown: format!(
                "Migration of {from_env}:{} into {to_env}:{}:\n{}",
                from.key,
                to.key,
                super::consent::summary([Some(&report)])
            ),
            done: "imported",
        })?;
    }
    let mut report = report;
    // Before the first write to a tenant its export is saved, as apply does: a migration can
    // be rolled back. A tenant the platform does not know yet has nothing to save.
    if !args.dry_run && !prepared.new_tenant {
        let backups = promote_lib::files::backups_dir(&global.repo)?;
        let taken = promote_lib::rollback::Taken {
            by: promote_lib::rollback::TakenBy::Migrate,
            source: None,
        };
        let saved = promote_lib::apply::backup(destination_live, to, &backups, &taken)?;
        report.backup = Some(saved.display().to_string());
    }
    let result = promote_lib::activity::tenant("migrate", &to_env, to, || {
        migrate::send(destination_live, to, &prepared, mode, args.dry_run)
    });
    let failed = result.is_err();
    match result {
        Ok(()) if args.dry_run => report.outcome = Some(Outcome::DryRun),
        Ok(()) => report.outcome = Some(Outcome::Applied),
        Err(d) => {
            report.outcome = Some(Outcome::Failed);
            report.status = Status::Error;
            report.errors = vec![d.context(&to_env, Some(&to.key))];
        }
    }
    let mut summary = Summary::default();
    summary.add(&report);
    let mut out = sink(ui, global);
    let _ = out
        .begin(&header)
        .and_then(|()| out.tenant(&report))
        .and_then(|()| out.end(&summary));
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

/// The warning that lists the credentials a migration drops, and how to supply them.
fn dropped_credentials(
    dropped: &[migrate::Dropped],
    to_arg: &str,
    to_env: &str,
    to_key: &str,
) -> String {
    let mut text = format!(
        "the import into {to_arg} does not carry {} credential(s) of the source:",
        dropped.len()
    );
    for d in dropped {
        text.push_str(&format!(
            "\n  {}: {}",
            d.at,
            if d.regenerated {
                "the destination generates a new one (whatever uses the old one needs the new value)"
            } else {
                "left out, and nothing stands in for it until it is supplied"
            }
        ));
    }
    text.push_str(&format!(
        "\nto supply them: migrate with --with-credentials (copies the source's values), or after the import name each in the tenant's templates with secret(\"NAME\"), set PROMOTE_SECRET_NAME (or the secrets file) and run `promote apply --env {to_env} --tenant {to_key} --rotate-secrets`"
    ));
    text
}
