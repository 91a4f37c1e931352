//! Load → render → validate, for one repository snapshot and one environment.
//!
//! [`Project`] holds what a command needs before it looks at any tenant: the files, the
//! compiled templates (a [`Templates`] compiled once per snapshot and shared by every
//! environment loaded from it), the environment and its tenants. [`Project::desired`] then turns one
//! tenant into its validated tree, or into diagnostics that name the template file and line;
//! [`Project::validated`] also returns its warnings (fields the platform does not know, values
//! outside the values its API description lists), which are errors in an environment whose file
//! says `strict: true`. The project counts the warnings of the tenants it rendered, for the one
//! line plan, apply and ci show per environment ([`Project::warnings_line`]).
//! Everything per tenant is independent, so commands run it in a rayon batch
//! ([`rendered::render`] for `promote render`).

pub mod rendered;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::environment::{Environment, Tenant};
use crate::ignore::{self, Ignore, Rule};
use crate::render::filled::{Filled, Laid, View};
use crate::render::{self, Pattern, Templates};
use crate::source::RepoFiles;
use crate::validate::{self, Findings, Holes, Problem};

/// The most errors, and the most warnings, of one tenant that are located in its templates and
/// shown; the rest are counted.
const MAX_LOCATED: usize = 50;

/// The most patterns whose holes a project keeps ([`Project::known`]), and the most places
/// of holes it keeps in all (a place takes about 150 bytes): a fleet's tenants share a few
/// patterns of a few thousand places; the tenants of any other are validated whole.
const MAX_PATTERNS: usize = 256;
const MAX_PLACES: usize = 200_000;

/// The most values of laid-out patterns' trees a project keeps (a value takes about 100
/// bytes): past it, the tenants of another pattern are built whole.
const MAX_LAID: usize = 500_000;

/// One environment of one repository snapshot, ready to render.
pub struct Project<'a> {
    pub files: &'a RepoFiles,
    pub templates: Arc<Templates<'a>>,
    /// Shared with the snapshot, which parsed it ([`RepoFiles::environment`]).
    pub env: Arc<Environment>,
    pub tenants: Vec<Tenant>,
    /// The number of warnings of each tenant rendered so far, by key (a tenant rendered twice
    /// counts once).
    warned: Mutex<BTreeMap<String, usize>>,
    /// The ignore rules of each template's tenants: the environment's, then the template's own
    /// (its `promote.yaml`).
    ignores: BTreeMap<String, Ignore>,
    /// What is known of each pattern the tenants rendered so far were built from, `None` for
    /// a pattern whose tree has a finding outside its holes (or that was not kept).
    known: Mutex<Kept>,
}

/// What a project knows of the patterns its tenants were built from ([`Project::known`]).
#[derive(Default)]
struct Kept {
    patterns: HashMap<Pattern, Option<Arc<Known>>>,
    /// How many places of holes, and values of laid-out trees, they keep in all.
    places: usize,
    laid: usize,
}

/// A pattern whose tree has no finding outside its holes.
struct Known {
    /// Where validating a tenant of it reads.
    holes: Holes,
    /// Its laid-out tree, unless [`MAX_LAID`] values of others were kept.
    laid: Option<Arc<Laid>>,
}

/// A tenant's validated tree, built or read in place ([`Project::desired_in_place`]).
pub(crate) enum InPlace {
    Whole(Value),
    /// A tenant of a pattern, all of whose holes validate: its tree is never built whole.
    Filled(Filled),
}

impl InPlace {
    /// The whole tree.
    pub(crate) fn into_value(self) -> Value {
        match self {
            InPlace::Whole(tree) => tree,
            InPlace::Filled(filled) => filled.into_value(),
        }
    }
}

/// A tenant rendered and validated.
#[derive(Debug)]
pub struct Validated {
    /// The tree, or the errors that stop it (with the warnings, in a strict environment).
    pub tree: Result<Value, Vec<Diagnostic>>,
    /// The warnings, each pointing into the template (none in a strict environment: there
    /// they are errors).
    pub warnings: Vec<Diagnostic>,
}

impl<'a> Project<'a> {
    /// Returns environment `env` of the snapshot `templates` were compiled from, its tenants
    /// resolved.
    pub fn load(templates: &Arc<Templates<'a>>, env: &str) -> Result<Project<'a>, Vec<Diagnostic>> {
        let read = Environed::read(templates.files(), env)?;
        Ok(Project::of(templates, read))
    }

    /// Compiles the templates of `files` and returns their environment `env`, its tenants
    /// resolved: [`Templates::compile`] then [`Project::load`], the two at once
    /// ([`Project::open_each`]).
    pub fn open(files: &'a RepoFiles, env: &str) -> Result<Project<'a>, Vec<Diagnostic>> {
        let (_, mut opened) = Project::open_each(files, &[env.to_owned()])?;
        opened
            .pop()
            .unwrap_or_else(|| unreachable!("one project for one environment"))
    }

    /// Compiles the templates of `files` and loads each of `envs` with them, the compiling and
    /// the reading at once: neither needs the other (an environment is read from the files
    /// alone), and each takes tens of milliseconds (a few thousand tenants' entries, a hundred
    /// template files), which a command that plans a few tenants (`ci` after a merge, `plan
    /// --tenant`) otherwise spends on one core. The templates' errors, when they have any,
    /// are returned, as when they are compiled first; otherwise each environment's project or
    /// errors, in the order of `envs`.
    #[allow(clippy::type_complexity)]
    pub fn open_each(
        files: &'a RepoFiles,
        envs: &[String],
    ) -> Result<
        (
            Arc<Templates<'a>>,
            Vec<Result<Project<'a>, Vec<Diagnostic>>>,
        ),
        Vec<Diagnostic>,
    > {
        let read_all = || -> Vec<Result<Environed, Vec<Diagnostic>>> {
            envs.iter().map(|env| Environed::read(files, env)).collect()
        };
        let (templates, read) = std::thread::scope(|scope| {
            let reading = std::thread::Builder::new()
                .name("environment".to_owned())
                .spawn_scoped(scope, read_all);
            let templates = Templates::compile(files);
            let read = match reading {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to spare: read them here.
                Err(_) => read_all(),
            };
            (templates, read)
        });
        let templates = Arc::new(templates?);
        let projects = read
            .into_iter()
            .map(|read| read.map(|read| Project::of(&templates, read)))
            .collect();
        Ok((templates, projects))
    }

    /// The project of `templates` and of what was read of one of their environments.
    fn of(templates: &Arc<Templates<'a>>, read: Environed) -> Project<'a> {
        Project {
            files: templates.files(),
            templates: Arc::clone(templates),
            env: read.env,
            tenants: read.tenants,
            warned: Mutex::default(),
            ignores: read.ignores,
            known: Mutex::default(),
        }
    }

    /// Returns the paths promote leaves alone in `tenant`: the environment's rules and its
    /// template's.
    pub fn ignore(&self, tenant: &Tenant) -> &Ignore {
        static NONE: Ignore = Ignore::none();
        self.ignores.get(&tenant.template).unwrap_or(&NONE)
    }

    /// Returns every ignore rule of `tenants`, each once: what a report's header lists.
    pub fn ignore_rules(&self, tenants: &[&Tenant]) -> Vec<Rule> {
        let mut rules: Vec<Rule> = Vec::new();
        for t in tenants {
            for rule in self.ignore(t).rules() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
        rules
    }

    /// Returns the tenants named in `only` (all when empty), each by its key or its ID, or by
    /// `key:KEY` or `id:ID` (neither holds a `:`); unknown names are errors, and so is a name
    /// that is one tenant's key and another's ID.
    pub fn select(&self, only: &[String]) -> Result<Vec<&Tenant>, Vec<Diagnostic>> {
        self.select_by(only, |name| {
            let by_key = |key: &str| self.tenants.iter().find(|t| t.key == key);
            let by_id = |id: &str| self.tenants.iter().find(|t| t.id == id);
            if let Some(key) = name.strip_prefix("key:") {
                return by_key(key).ok_or_else(|| self.unknown(name));
            }
            if let Some(id) = name.strip_prefix("id:") {
                return by_id(id).ok_or_else(|| self.unknown(name));
            }
            match (by_key(name), by_id(name)) {
                (Some(k), Some(i)) if k.key != i.key => Err(self.ambiguous(name, k, i)),
                (Some(t), _) | (None, Some(t)) => Ok(t),
                (None, None) => Err(self.unknown(name)),
            }
        })
    }

    /// What names tenant `t` on the command line (`--tenant`): its key, or `key:KEY` when its
    /// key is another tenant's ID.
    pub fn name_of(&self, t: &Tenant) -> String {
        if self.tenants.iter().any(|o| o.id == t.key && o.key != t.key) {
            format!("key:{}", t.key)
        } else {
            t.key.clone()
        }
    }

    /// Returns the tenants whose keys are `keys` (all when empty); unknown keys are errors.
    pub fn select_keys(&self, keys: &[String]) -> Result<Vec<&Tenant>, Vec<Diagnostic>> {
        self.select_by(keys, |key| {
            (self.tenants.iter().find(|t| &t.key == key)).ok_or_else(|| self.unknown(key))
        })
    }

    /// The tenants `find` finds for `names`, each once, in the order named (all when none).
    fn select_by<'p>(
        &'p self,
        names: &[String],
        find: impl Fn(&String) -> Result<&'p Tenant, Diagnostic>,
    ) -> Result<Vec<&'p Tenant>, Vec<Diagnostic>> {
        if names.is_empty() {
            return Ok(self.tenants.iter().collect());
        }
        let mut out: Vec<&Tenant> = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            match find(name) {
                Ok(t) if out.iter().any(|o| o.key == t.key) => {}
                Ok(t) => out.push(t),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    fn unknown(&self, name: &str) -> Diagnostic {
        Diagnostic::new(format!(
            "environment `{}` has no tenant `{name}`",
            self.env.name
        ))
        .in_file(&self.env.path)
        .hint(format!(
            "tenants of {}: {}",
            self.env.name,
            self.tenants
                .iter()
                .map(|t| t.key.as_str())
                .take(20)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// `name` is the key of tenant `by_key` and the ID of tenant `by_id`: which one is meant
    /// is not guessed.
    fn ambiguous(&self, name: &str, by_key: &Tenant, by_id: &Tenant) -> Diagnostic {
        Diagnostic::new(format!(
            "`{name}` names two tenants of `{}`: it is the key of tenant `{}` and the ID of tenant `{}`",
            self.env.name, by_key.key, by_id.key
        ))
        .in_file(&self.env.path)
        .hint(format!(
            "say which: `key:{name}` names tenant `{}`, `id:{name}` tenant `{}`",
            by_key.key, by_id.key
        ))
    }

    /// Returns the rendered and validated tree of `tenant`: its warnings are left out (and
    /// not located in the templates, which costs a search per warning of every tenant of a
    /// fleet), and counted for [`Project::warnings_line`].
    pub fn desired(&self, tenant: &Tenant) -> Result<Value, Vec<Diagnostic>> {
        self.check(tenant, false).tree
    }

    /// Returns the rendered and validated tree of `tenant` and its warnings, every one
    /// pointing into the template. In an environment whose file says `strict: true` the
    /// warnings are errors.
    pub fn validated(&self, tenant: &Tenant) -> Validated {
        self.check(tenant, true)
    }

    /// [`Project::validated`], the warnings left out unless `with_warnings` (or they are
    /// errors here).
    fn check(&self, tenant: &Tenant, with_warnings: bool) -> Validated {
        match self.templates.render_tree(&self.env, tenant) {
            Ok(rendered) => self.validate(tenant, rendered, with_warnings),
            Err(errors) => Validated {
                tree: Err(errors),
                warnings: Vec::new(),
            },
        }
    }

    /// [`Project::desired`], a tenant of a pattern left as its pattern's laid-out tree and the
    /// values of its holes when they validate ([`InPlace::Filled`]): what reads it in part (a
    /// directory baseline read against it) builds only what it keeps.
    pub(crate) fn desired_in_place(&self, tenant: &Tenant) -> Result<InPlace, Vec<Diagnostic>> {
        let parts = self.templates.render_parts(&self.env, tenant)?;
        let known = parts.plain_pattern().and_then(|p| self.known(p));
        let parts = match known
            .as_ref()
            .and_then(|k| Some((k, Arc::clone(k.laid.as_ref()?))))
        {
            Some((known, laid)) => match parts.into_filled(laid) {
                Ok(filled) if known.holes.clean(filled.view()) => {
                    return Ok(InPlace::Filled(filled));
                }
                // Validated whole, which finds and says what the holes hold.
                Ok(filled) => {
                    let rendered = render::Tree {
                        value: filled.into_value(),
                        may_hold_markers: false,
                        pattern: None,
                    };
                    return self
                        .validate(tenant, rendered, false)
                        .tree
                        .map(InPlace::Whole);
                }
                Err(parts) => parts,
            },
            None => parts,
        };
        let rendered = self.templates.lay_out(&self.env, tenant, parts)?;
        self.validate(tenant, rendered, false)
            .tree
            .map(InPlace::Whole)
    }

    /// Validates the rendered tree of `tenant` ([`Project::check`]).
    fn validate(&self, tenant: &Tenant, rendered: render::Tree, with_warnings: bool) -> Validated {
        let tree = rendered.value;
        // A tree built from a pattern is read at its holes, when the pattern's tree is clean
        // outside them; whatever that finds is found and said by validating the tree whole.
        let clean = !rendered.may_hold_markers
            && rendered
                .pattern
                .and_then(|p| self.known(&p))
                .is_some_and(|known| known.holes.clean(View::whole(&tree)));
        let found = if clean {
            Findings::default()
        } else {
            validate::rendered(&tree, rendered.may_hold_markers)
        };
        if !found.warnings.is_empty() {
            self.warned
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(tenant.key.clone(), found.warnings.len());
        }
        // Locating a problem searches its template: a template with thousands of problems
        // (hostile, or one mistake in a generated loop) is shown by its first ones and a count,
        // so that the work and the output stay bounded.
        let located = |problems: &[Problem], kind: &str| -> Vec<Diagnostic> {
            let mut out: Vec<Diagnostic> = problems
                .iter()
                .take(MAX_LOCATED)
                .map(|p| {
                    self.locate(tenant, &tree, p)
                        .context(&self.env.name, Some(&tenant.key))
                })
                .collect();
            if problems.len() > MAX_LOCATED {
                out.push(
                    Diagnostic::new(format!(
                        "and {} more {kind} in this tenant, not shown (the first {MAX_LOCATED} are)",
                        problems.len() - MAX_LOCATED
                    ))
                    .context(&self.env.name, Some(&tenant.key))
                    .hint("fix the ones shown and validate again"),
                );
            }
            out
        };
        let mut errors = located(&found.errors, "errors");
        let mut warnings = Vec::new();
        if self.is_strict() {
            let why = format!("an error here: {} says `strict: true`", self.env.path);
            errors.extend(
                located(&found.warnings, "warnings")
                    .into_iter()
                    .map(|mut d| {
                        d.hint = Some(match d.hint.take() {
                            Some(hint) => format!("{hint} ({why})"),
                            None => why.clone(),
                        });
                        d
                    }),
            );
        } else if with_warnings {
            warnings = located(&found.warnings, "warnings");
        }
        if !errors.is_empty() {
            return Validated {
                tree: Err(errors),
                warnings,
            };
        }
        // The platform reads a field written in another case as its own: plans compare the
        // tree it reads with what it holds.
        let mut tree = tree;
        promote_platform::model::rename_folded(&mut tree, &found.folded);
        Validated {
            tree: Ok(tree),
            warnings,
        }
    }

    /// What is known of `pattern`, read from its laid-out tree the first time one of its
    /// tenants is validated; `None` when its tree has a finding outside its holes, or the
    /// project already keeps [`MAX_PATTERNS`] others.
    fn known(&self, pattern: &Pattern) -> Option<Arc<Known>> {
        let lock = || self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = lock();
        if let Some(known) = kept.patterns.get(pattern) {
            return known.clone();
        }
        if kept.patterns.len() >= MAX_PATTERNS || kept.places >= MAX_PLACES {
            return None;
        }
        drop(kept);
        // Read outside the lock: another thread may read the same pattern meanwhile, and
        // both find the same.
        let read = self.templates.laid(pattern).and_then(|laid| {
            let holes = Holes::of(laid.tree(), &render::is_hole)?;
            Some((holes, laid))
        });
        let mut kept = lock();
        if let Some(known) = kept.patterns.get(pattern) {
            return known.clone();
        }
        // Past the bounds, the pattern is remembered without its holes (its tenants are
        // validated whole), or without its tree (they are built whole).
        let known = read
            .filter(|(holes, _)| kept.places + holes.size() <= MAX_PLACES)
            .map(|(holes, laid)| {
                kept.places += holes.size();
                let laid = (kept.laid + laid.size() <= MAX_LAID).then(|| {
                    kept.laid += laid.size();
                    Arc::new(laid)
                });
                Arc::new(Known { holes, laid })
            });
        kept.patterns.insert(pattern.clone(), known.clone());
        known
    }

    /// Whether warnings are errors in this environment (`strict: true`).
    pub fn is_strict(&self) -> bool {
        self.env.file.strict == Some(true)
    }

    /// Returns the line that plan, apply and ci show for the warnings of the tenants rendered
    /// so far, when there are any: a count and the command that lists them. None in a strict
    /// environment, where they are errors and shown as such.
    pub fn warnings_line(&self) -> Option<String> {
        let warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.is_empty() || self.is_strict() {
            return None;
        }
        let count: usize = warned.values().sum();
        Some(format!(
            "{count} warning(s) in {} tenant(s) of {}: fields the platform does not know (it drops them), written in another case, or with values its API description does not list; run `promote validate --env {}`",
            warned.len(),
            self.env.name,
            self.env.name
        ))
    }

    /// Returns a problem of a rendered tree as a diagnostic pointing into the template.
    fn locate(&self, tenant: &Tenant, tree: &Value, problem: &Problem) -> Diagnostic {
        let location =
            crate::render::template_location(self.files, &tenant.template, tree, &problem.pointer);
        let mut d = Diagnostic::new(problem.message.clone())
            .at(location)
            .pointer(problem.pointer.clone());
        if let Some(hint) = &problem.hint {
            d = d.hint(hint.clone());
        }
        d
    }
}

/// What a project holds of its environment: read from the snapshot's files alone.
struct Environed {
    env: Arc<Environment>,
    tenants: Vec<Tenant>,
    ignores: BTreeMap<String, Ignore>,
}

impl Environed {
    /// Reads environment `env` of `files`, resolves its tenants and their ignore rules.
    fn read(files: &RepoFiles, env: &str) -> Result<Environed, Vec<Diagnostic>> {
        let env = files.environment(env).map_err(|d| vec![d])?;
        if let Some(required) = env.file.requires.as_deref() {
            if !files.environments.contains_key(required) || required == env.name {
                let known: Vec<&str> = files.environments.keys().map(String::as_str).collect();
                return Err(vec![Diagnostic::new(format!(
                    "environment `{}` requires `{required}`, which is not another environment",
                    env.name
                ))
                .at(env.locate(&["requires"]))
                .hint(format!("environments: {}", known.join(", ")))]);
            }
        }
        let tenants = env.tenants(&files.template_dirs())?;
        let ignores = ignores(files, &env, &tenants)?;
        Ok(Environed {
            env,
            tenants,
            ignores,
        })
    }
}

/// Returns the ignore rules of each template `tenants` use: the environment's, then those of
/// the template's `promote.yaml`.
///
/// # Errors
/// Every bad rule and every unreadable `promote.yaml`, at its line.
fn ignores(
    files: &RepoFiles,
    env: &Environment,
    tenants: &[Tenant],
) -> Result<BTreeMap<String, Ignore>, Vec<Diagnostic>> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for t in tenants {
        if out.contains_key(&t.template) {
            continue;
        }
        let mut rules = env.ignore.clone();
        let name = format!("{}/{}", t.template, ignore::TEMPLATE_SETTINGS);
        if let Some(text) = files.templates.get(&name) {
            let source = files.display(&format!("templates/{name}"));
            match ignore::template_rules(&source, text) {
                Ok(more) => rules.extend(more),
                Err(e) => problems.extend(e),
            }
        }
        out.insert(t.template.clone(), Ignore::new(rules));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    #[test]
    fn validation_errors_point_into_the_template() {
        let files = RepoFiles {
            templates: [
                ("acme/tenant.yaml".to_owned(), "name: acme\n".to_owned()),
                (
                    "acme/workspaces/w/workspace.yaml".to_owned(),
                    "name: w\ntheme_binding:\n  # the brand\n  theme_id: nope\n".to_owned(),
                ),
                (
                    "acme/workspaces/w/clients/c.yaml".to_owned(),
                    "client_name: c\nclient_secret: hunter2\n".to_owned(),
                ),
            ]
            .into(),
            environments: [("prod".to_owned(), "target: {url: https://x}\n".to_owned())].into(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        };
        let project = Project::open(&files, "prod").unwrap();
        let errors: Vec<String> = project
            .desired(&project.tenants[0])
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("templates/acme/workspaces/w/workspace.yaml:4:3: unknown theme `nope` (env prod, tenant acme)"), "{}", errors[0]);
        assert!(errors[1].starts_with("templates/acme/workspaces/w/clients/c.yaml:2:1: plain-text credential in the repository"), "{}", errors[1]);
    }

    /// A project of one tenant whose client file is `client`, in an environment file `env`.
    fn one_client(client: &str, env: &str) -> RepoFiles {
        RepoFiles {
            templates: [
                ("acme/tenant.yaml".to_owned(), "name: acme\n".to_owned()),
                (
                    "acme/workspaces/w/workspace.yaml".to_owned(),
                    "name: w\n".to_owned(),
                ),
                (
                    "acme/workspaces/w/clients/c.yaml".to_owned(),
                    client.to_owned(),
                ),
            ]
            .into(),
            environments: [("prod".to_owned(), env.to_owned())].into(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        }
    }

    /// Opening compiles the templates while the environment is read; what it returns is what
    /// compiling then loading returns: the templates' errors when both have some, the
    /// environment's when only it has, and the same project when neither has.
    #[test]
    fn opening_answers_as_compiling_then_loading() {
        let bad_template = "client_name: {{ vars.port\n";
        let bad_env = "target: {url: https://x}\nrequires: nowhere\n";
        let good_env = "target: {url: https://x}\nvars: {port: 1}\n";
        let messages = |r: Result<Project<'_>, Vec<Diagnostic>>| -> Vec<String> {
            match r {
                Ok(_) => Vec::new(),
                Err(errors) => errors.iter().map(|d| d.to_string()).collect(),
            }
        };
        for (client, env) in [
            (bad_template, bad_env),
            (bad_template, good_env),
            ("client_name: c\n", bad_env),
        ] {
            let files = one_client(client, env);
            let opened = messages(Project::open(&files, "prod"));
            let loaded = match Templates::compile(&files) {
                Ok(t) => messages(Project::load(&Arc::new(t), "prod")),
                Err(errors) => errors.iter().map(|d| d.to_string()).collect(),
            };
            assert!(!opened.is_empty(), "{client:?} {env:?}");
            assert_eq!(opened, loaded, "{client:?} {env:?}");
        }
        let files = one_client("client_name: c\n", good_env);
        let project = Project::open(&files, "prod").unwrap();
        assert_eq!(project.env.name, "prod");
        assert_eq!(project.tenants.len(), 1);
        assert_eq!(project.tenants[0].key, "acme");
    }

    /// Templated values are typed after rendering: a wrong type from a variable points at the
    /// line and column of the template that wrote it.
    #[test]
    fn a_wrong_type_from_a_variable_points_at_the_template_line() {
        let files = one_client(
            "client_name: c\nclient_uri: {{ vars.port }}\n",
            "target: {url: https://x}\nvars: {port: 8443}\n",
        );
        let project = Project::open(&files, "prod").unwrap();
        let errors = project.desired(&project.tenants[0]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(
            errors[0].to_string(),
            "templates/acme/workspaces/w/clients/c.yaml:2:1: `client_uri` must be a string, not a number: the platform refuses the whole tenant (400) (env prod, tenant acme)\n  at /servers/w/clients/c/client_uri\n  hint: quote the value to make it a string"
        );
    }

    #[test]
    fn warnings_are_returned_counted_and_errors_in_a_strict_environment() {
        let client = "client_name: c\ntoken_endpoint_auth_methd: none\n";
        let files = one_client(client, "target: {url: https://x}\n");
        let project = Project::open(&files, "prod").unwrap();
        assert_eq!(project.warnings_line(), None);
        let validated = project.validated(&project.tenants[0]);
        assert!(validated.tree.is_ok());
        assert_eq!(validated.warnings.len(), 1);
        assert!(validated.warnings[0].to_string().starts_with(
            "templates/acme/workspaces/w/clients/c.yaml:2:1: `token_endpoint_auth_methd` is not a field of a client (TreeClient): the platform drops it (env prod, tenant acme)"
        ), "{}", validated.warnings[0]);
        // Rendered again, the tenant's warnings count once.
        assert!(project.desired(&project.tenants[0]).is_ok());
        assert_eq!(
            project.warnings_line().unwrap(),
            "1 warning(s) in 1 tenant(s) of prod: fields the platform does not know (it drops them), written in another case, or with values its API description does not list; run `promote validate --env prod`"
        );

        let files = one_client(client, "target: {url: https://x}\nstrict: true\n");
        let project = Project::open(&files, "prod").unwrap();
        let validated = project.validated(&project.tenants[0]);
        assert_eq!(validated.warnings, []);
        let errors = validated.tree.unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].hint.as_deref(),
            Some("did you mean `token_endpoint_auth_method`? (an error here: environments/prod.yaml says `strict: true`)")
        );
    }

    #[test]
    fn unknown_tenant_is_an_error() {
        let files = RepoFiles {
            templates: [("acme/tenant.yaml".to_owned(), "{}".to_owned())].into(),
            environments: [("prod".to_owned(), "target: {url: https://x}\n".to_owned())].into(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        };
        let project = Project::open(&files, "prod").unwrap();
        let err = project.select(&["nope".to_owned()]).unwrap_err();
        assert!(err[0].to_string().contains("has no tenant `nope`"));
    }

    /// Regression: `--tenant k1` picked tenant `k-1` (whose ID is `k1`, and whose key sorts
    /// first) over tenant `k1`, silently; and `promote ci`, which selects by key, did the same.
    #[test]
    fn a_name_that_is_one_tenants_key_and_anothers_id_is_refused() {
        let files = RepoFiles {
            templates: [("t/tenant.yaml".to_owned(), "{}".to_owned())].into(),
            environments: [(
                "prod".to_owned(),
                "target: {url: https://x}\ntenants:\n  k1: {template: t, id: aa1}\n  k-1: {template: t, id: k1}\n  z: {template: t, id: z}\n"
                    .to_owned(),
            )]
            .into(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        };
        let project = Project::open(&files, "prod").unwrap();
        let keys = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            let selected = project.select(&names).map_err(|e| e[0].to_string())?;
            Ok::<_, String>(selected.iter().map(|t| t.key.clone()).collect::<Vec<_>>())
        };
        let err = keys(&["k1"]).unwrap_err();
        assert!(
            err.contains("`k1` names two tenants of `prod`: it is the key of tenant `k1` and the ID of tenant `k-1`"),
            "{err}"
        );
        assert!(
            err.contains("say which: `key:k1` names tenant `k1`, `id:k1` tenant `k-1`"),
            "{err}"
        );
        assert_eq!(keys(&["aa1", "k-1"]).unwrap(), ["k1", "k-1"]);
        assert_eq!(keys(&["key:k1", "id:k1"]).unwrap(), ["k1", "k-1"]);
        assert!(keys(&["key:aa1"])
            .unwrap_err()
            .contains("has no tenant `key:aa1`"));
        // Refused among other names too; a tenant whose key is its own ID is one tenant.
        assert_eq!(keys(&["aa1", "k1"]).map_err(|_| ()), Err(()));
        assert_eq!(keys(&["z", "z", "id:z"]).unwrap(), ["z"]);
        // Each tenant's name for the command line names it.
        for t in &project.tenants {
            let named = keys(&[project.name_of(t).as_str()]).unwrap();
            assert_eq!(named, std::slice::from_ref(&t.key));
        }
        let k1 = project.tenants.iter().find(|t| t.key == "k1").unwrap();
        assert_eq!(project.name_of(k1), "key:k1");
        let by_key = project.select_keys(&["k1".to_owned()]).unwrap();
        assert_eq!(by_key[0].id, "aa1");
    }
}
