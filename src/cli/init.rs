//! `promote init`: a new configuration repository, from scratch or from live tenants.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{CommandResult, Exit, GlobalArgs, Ui};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::export;
use promote_lib::source::RepoFiles;

/// Make a new configuration repository: an environment `local` on the embedded emulator and an
/// example tenant that apply at once; or, with --from-env, templates exported from the live
/// tenants of an environment file you wrote
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory of the new repository (default: the --repo directory)
    pub dir: Option<PathBuf>,
    /// Bootstrap templates/ from the live tenants of environments/ENV.yaml (with its target and
    /// tenants), exported with --templatize: one template per `template:` the entries name,
    /// from its first tenant
    #[arg(long, value_name = "ENV")]
    pub from_env: Option<String>,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &InitArgs) -> CommandResult {
    let dir = args.dir.clone().unwrap_or_else(|| global.repo.clone());
    match &args.from_env {
        None => {
            let created = promote_lib::init::create(&dir)?;
            let schemas = promote_lib::schema::dir_of(&dir);
            let (documents, files): (Vec<_>, Vec<_>) =
                created.files.iter().partition(|f| f.starts_with(&schemas));
            for f in files {
                ui.out(&format!("created {}\n", f.display()));
            }
            if !documents.is_empty() {
                ui.out(&format!(
                    "created {}/ ({} JSON Schema documents, for editors)\n",
                    schemas.display(),
                    documents.len()
                ));
            }
            if created.git {
                ui.out(&format!("made {} a git repository\n", dir.display()));
            }
            ui.out(&format!(
                "\nNext: cd {} && promote validate && promote apply --env local\n",
                dir.display()
            ));
            Ok(Exit::Ok)
        }
        Some(env) => from_env(ui, global, &dir, env),
    }
}

/// Exports one tenant per template the environment's entries name into templates/<template>/.
fn from_env(ui: &Ui, global: &GlobalArgs, dir: &std::path::Path, name: &str) -> CommandResult {
    if dir.join("templates").exists() {
        return Err(Diagnostic::new(format!(
            "{} already has templates/: --from-env writes new templates and overwrites nothing",
            dir.display()
        ))
        .hint("run it in a repository with only environments/, or export into another directory with `promote export --templatize`")
        .into());
    }
    // The state of what is applied lives in git: reading it needs a repository, which goes
    // again if the run fails.
    let git = promote_lib::init::NewGit::make(dir)?;
    let files = RepoFiles::environments_of(dir)?;
    let environment = files.environment(name)?;
    // Templates do not exist yet: the entries name them.
    let named: Vec<String> = match &environment.file.tenants {
        Some(entries) => entries
            .iter()
            .map(|(key, e)| {
                e.as_ref()
                    .and_then(|e| e.template.clone())
                    .unwrap_or_else(|| key.clone())
            })
            .collect(),
        None => {
            let why = format!(
                "environments/{name}.yaml lists no `tenants`: --from-env exports the tenants it lists"
            );
            return Err(Diagnostic::new(why).into());
        }
    };
    let tenants = environment.tenants(&named)?;
    // The first tenant of each template is its model.
    let mut models: BTreeMap<&str, &promote_lib::environment::Tenant> = BTreeMap::new();
    for t in &tenants {
        models.entry(t.template.as_str()).or_insert(t);
    }
    let chosen: Vec<&promote_lib::environment::Tenant> = models.values().copied().collect();
    let live = super::open_live(ui, global, &environment, &chosen)?;
    let options = export::Options {
        with_credentials: false,
        templatize: true,
        force: false,
    };
    // templates/ is made aside and moved into place only when every template was exported: a
    // failure (a missing credential, a refused export) leaves the directory as it was.
    let staging = promote_lib::init::Staging::new(dir)?;
    let mut problems = Vec::new();
    let mut done = Vec::new();
    for (template, t) in &models {
        let target = match promote_lib::files::inside(&staging.path().join("templates"), template) {
            Ok(p) => p,
            Err(e) => {
                problems.push(Diagnostic::new(format!("{e:#}")).context(name, Some(&t.key)));
                continue;
            }
        };
        let mut files = match export::tenant(&live, &environment, t, options) {
            Ok(files) => files,
            Err(ds) => {
                problems.extend(ds);
                continue;
            }
        };
        // templates/<template>/ is two directories below the repository.
        promote_lib::schema::add_modelines(&mut files, 2);
        match export::write_dir(&target, &files, export::Writing::default()) {
            Ok(changes) => done.push(format!(
                "templates/{template}/: {} file(s), from tenant {} ({})\n",
                changes.added.len(),
                t.key,
                t.id
            )),
            Err(e) => problems.push(Diagnostic::new(format!("{e:#}")).context(name, Some(&t.key))),
        }
    }
    if !problems.is_empty() {
        problems.push(
            Diagnostic::new(format!("nothing was written to {}", dir.display())).hint(format!(
                "fix the above and run `promote init --from-env {name}` again"
            )),
        );
        return Err(problems.into());
    }
    staging.finish()?;
    if git.keep() {
        ui.out(&format!("made {} a git repository\n", dir.display()));
    }
    for line in done {
        ui.out(&line);
    }
    promote_lib::files::work_dir(dir)?;
    promote_lib::schema::write(&promote_lib::schema::dir_of(dir))?;
    ui.out(&format!(
        "\nNext: promote plan --env {name}. Each template renders back exactly the tenant it came from; the other tenants of a shared template show how they differ from it, to turn into vars or {{% if %}} blocks.\n"
    ));
    Ok(Exit::Ok)
}
