//! Baselines: what a plan measures the desired trees against.
//!
//! - `dir:DIR`: exports or renders on disk, one per tenant key: `DIR/<key>.json` (what
//!   `render --out` writes) or a YAML directory `DIR/<key>/` in the repository layout. These
//!   stand for live trees with no record of what promote applied, so the plan is a two-way
//!   overlay that never removes (server defaults in an export are not the repository's to drop).
//! - `rev:REV`: the same environment rendered from a git revision. That tree is what the
//!   repository said before, so it is both the last-applied record and the live tree: the plan
//!   shows exactly what the change between REV and the work tree does, removals included.
//! - `live` (the default): each tenant exported from the platform, and what promote last applied
//!   to it from `refs/promote/state`: a true three-way plan. Credentials are left out of the
//!   comparison on both sides (exports do not carry them; the repository has only markers).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::Value;

use crate::client::{self, PlatformClient};
use crate::connect::Connection;
use crate::diagnostic::{Diagnostic, Location};
use crate::environment::{Environment, Tenant};
use crate::keys;
use crate::layout;
use crate::pipeline::{InPlace, Project};
use crate::source::{not_utf8, RepoFiles};
use crate::state::{AppliedRecord, Snapshot};
use crate::yaml;

mod against;

/// Where the baseline comes from, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Against {
    Live,
    Dir(PathBuf),
    Rev(String),
}

impl FromStr for Against {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("dir", dir)) if !dir.is_empty() => Ok(Against::Dir(PathBuf::from(dir))),
            Some(("rev", rev)) if !rev.is_empty() => Ok(Against::Rev(rev.to_owned())),
            _ if s == "live" => Ok(Against::Live),
            _ => Err(format!(
                "`{s}` is not a baseline: use live, dir:DIR or rev:REV"
            )),
        }
    }
}

impl std::fmt::Display for Against {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Against::Live => f.write_str("live"),
            Against::Dir(d) => write!(f, "dir:{}", d.display()),
            Against::Rev(r) => write!(f, "rev:{r}"),
        }
    }
}

/// The trees of one baseline, for one tenant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BaseTrees {
    /// What promote last applied (None: unknown).
    pub last_applied: Option<Value>,
    /// What the tenant holds now.
    pub live: Value,
}

/// A loaded baseline, ready to answer per tenant.
pub enum Baseline<'a> {
    Dir(PathBuf),
    /// The environment at a revision (None: the environment did not exist there).
    Rev(Option<Box<Project<'a>>>),
    Live(Box<Live>),
}

/// The live baseline: a client of the environment's platform and the last-applied state.
pub struct Live {
    /// Keeps an embedded emulator running while the baseline is used.
    pub connection: Connection,
    pub client: PlatformClient,
    pub state: Snapshot,
    /// How many tenants are exported at once.
    pub concurrency: usize,
    /// The environment's name, for messages.
    pub env: String,
}

impl Live {
    /// Connects to `env`'s target for `tenants` and reads the state of `repo`.
    pub fn open(
        repo: &Path,
        env: &Environment,
        tenants: &[&Tenant],
        options: client::Options,
    ) -> Result<Live, Vec<Diagnostic>> {
        let owned: Vec<Tenant> = tenants.iter().map(|t| (*t).clone()).collect();
        let connection = Connection::open(repo, env, &owned).map_err(|d| vec![d])?;
        let ids: Vec<String> = owned.iter().map(|t| t.id.clone()).collect();
        let concurrency = env.file.target.concurrency.unwrap_or(16).clamp(1, 256);
        let target = &env.file.target;
        let roots = match (&target.ca_file, &target.ca_pem) {
            (Some(file), Some(pem)) => Some(client::parse_roots(pem).map_err(|e| {
                vec![Diagnostic::new(format!("target.ca_file {file}: {e}"))
                    .at(env.locate(&["target", "ca_file"]))
                    .context(&env.name, None)]
            })?),
            (Some(file), None) => Some(client::read_roots(&repo.join(file)).map_err(|e| {
                vec![Diagnostic::new(format!("target.ca_file {file}: {e}"))
                    .at(env.locate(&["target", "ca_file"]))
                    .context(&env.name, None)
                    .hint("a PEM file of the certificate authorities that sign the platform's certificate, relative to the repository")]
            })?),
            (None, _) => None,
        };
        let options = client::Options {
            connections: concurrency,
            roots,
            token_hosts: env.file.target.token_hosts.clone().unwrap_or_default(),
            ..options
        };
        let client = PlatformClient::new(&connection, &ids, options).map_err(|e| {
            vec![Diagnostic::new(e)
                .at(env.locate(&["target", "url"]))
                .context(&env.name, None)]
        })?;
        let state = Snapshot::open(repo, &env.name).map_err(|e| {
            vec![Diagnostic::new(format!(
                "cannot read the last-applied state: {e:#}"
            ))]
        })?;
        Ok(Live {
            env: env.name.clone(),
            concurrency,
            connection,
            client,
            state,
        })
    }

    /// What promote last applied to `tenant`, from the state.
    pub(crate) fn last_applied(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<AppliedRecord>, Vec<Diagnostic>> {
        self.state.get(&tenant.key).map_err(|e| {
            vec![
                Diagnostic::new(format!("cannot read the last-applied state: {e:#}"))
                    .context(&self.env, Some(&tenant.key)),
            ]
        })
    }

    /// Exports one tenant's live tree, without credentials.
    pub(crate) fn export(&self, tenant: &Tenant) -> Result<Value, Vec<Diagnostic>> {
        self.export_bytes(tenant, false).map(|(_, tree)| tree)
    }

    /// Exports one tenant's live tree, with the platform's answer as it came (for a backup).
    pub(crate) fn export_bytes(
        &self,
        tenant: &Tenant,
        with_credentials: bool,
    ) -> Result<(Vec<u8>, Value), Vec<Diagnostic>> {
        let env = &self.env;
        self.client
            .export_bytes(client::Target::Tenant(&tenant.id), with_credentials)
            .map_err(|f| {
                let hint = match f.status() {
                    Some(401) => "check the client credentials the environment file names",
                    Some(403) => "the client needs the read_configuration or manage_configuration scope on this tenant",
                    Some(404) => "the tenant does not exist on the platform: create it there first, or fix its `id` in the environment file",
                    None if matches!(f.kind, client::RequestErrorKind::Protocol(_)) => "the answer is not what the Configuration Promotion API promises: check that target.url is the platform (promote adds /api/hub itself)",
                    // Running again meets the same certificate.
                    None if matches!(f.kind, client::RequestErrorKind::Tls(_)) => "the platform's certificate could not be verified: check that target.url names the platform's host; running again will not help",
                    _ => "the platform could not be read; run again, or check target.url",
                };
                vec![Diagnostic::new(format!("cannot export tenant `{}`: {f}", tenant.id))
                    .context(env, Some(&tenant.key))
                    .hint(hint)]
            })
    }
}

impl<'a> Baseline<'a> {
    /// Returns the baseline for the environment `env`. `rev_files` must hold the snapshot of the
    /// revision when `against` is `rev:`.
    pub fn open(
        against: &Against,
        env: &str,
        rev_files: Option<&'a RepoFiles>,
    ) -> Result<Baseline<'a>, Vec<Diagnostic>> {
        match (against, rev_files) {
            (Against::Dir(dir), _) => {
                if !dir.is_dir() {
                    return Err(vec![Diagnostic::new(format!(
                        "baseline directory {} does not exist",
                        dir.display()
                    ))
                    .hint("write one with `promote render --env ENV --out DIR`")]);
                }
                Ok(Baseline::Dir(dir.clone()))
            }
            (Against::Rev(_), Some(files)) => {
                if !files.environments.contains_key(env) {
                    return Ok(Baseline::Rev(None));
                }
                Project::open(files, env).map(|p| Baseline::Rev(Some(Box::new(p))))
            }
            (Against::Rev(rev), None) => Err(vec![Diagnostic::new(format!(
                "revision {rev} was not loaded"
            ))]),
            (Against::Live, _) => Err(vec![Diagnostic::new(
                "a live baseline is opened with Live::open",
            )]),
        }
    }

    /// Returns the baseline of one tenant, read against its `desired` tree; `None` when the
    /// baseline does not have it (a tenant the change creates). A JSON file of a directory
    /// baseline is read so that what it holds alike with `desired` is taken out of both
    /// ([`against`]): the plan of the two trees left is the plan of the whole ones. A tenant
    /// read in place is then left as what is left of it, built; otherwise it is left in place.
    pub(crate) fn tenant(
        &self,
        tenant: &Tenant,
        desired: &mut InPlace,
    ) -> Result<Option<BaseTrees>, Vec<Diagnostic>> {
        match self {
            Baseline::Live(live) => {
                let tree = live.export(tenant)?;
                let last_applied = live.last_applied(tenant)?.map(|a| a.tree);
                Ok(Some(BaseTrees {
                    last_applied,
                    live: tree,
                }))
            }
            Baseline::Dir(dir) => {
                Ok(
                    read_dir_tree(dir, &tenant.key, desired)?.map(|live| BaseTrees {
                        last_applied: None,
                        live,
                    }),
                )
            }
            Baseline::Rev(None) => Ok(None),
            Baseline::Rev(Some(project)) => {
                let Some(old) = project.tenants.iter().find(|t| t.key == tenant.key) else {
                    return Ok(None);
                };
                let tree = project.templates.render(&project.env, old)?;
                Ok(Some(BaseTrees {
                    last_applied: Some(tree.clone()),
                    live: tree,
                }))
            }
        }
    }
}

/// Returns the tree stored for `key` in a baseline directory, if any; a JSON file is read
/// against `desired` ([`against`]).
fn read_dir_tree(
    dir: &Path,
    key: &str,
    desired: &mut InPlace,
) -> Result<Option<Value>, Vec<Diagnostic>> {
    let name = keys::encode(key).map_err(|e| vec![Diagnostic::new(e.to_string())])?;
    let json = dir.join(format!("{name}.json"));
    let sub = dir.join(&name);
    // Whatever is at a tenant's name is its baseline: one that cannot be read as such (a pipe,
    // a device, a broken link, a directory named .json) would otherwise make the tenant look
    // new, and a plan create it whole.
    let here = |p: &Path| p.symlink_metadata().is_ok();
    let (json_here, sub_here) = (here(&json), here(&sub));
    let json_file = json_here && json.is_file();
    let sub_dir = sub_here && sub.is_dir();
    let refuse = |p: &Path, what: String| {
        vec![Diagnostic::new(what)
            .in_file(p.display().to_string())
            .hint(format!("a baseline holds tenant `{key}` as one regular file {name}.json or one directory {name}/ (`promote render --out DIR`, `promote export`)"))]
    };
    if json_here && sub_here {
        return Err(refuse(
            &sub,
            format!("the baseline holds tenant `{key}` twice, as {name}.json and as {name}"),
        ));
    }
    if json_here && !json_file {
        return Err(refuse(
            &json,
            "the baseline of a tenant is not a regular file (a directory, a device, a pipe or a broken link)".to_owned(),
        ));
    }
    if sub_here && !sub_dir {
        return Err(refuse(
            &sub,
            "the baseline of a tenant is neither a .json file nor a directory".to_owned(),
        ));
    }
    let (tree, file) = if json_file {
        (
            read_json_against(&json, desired).map_err(|d| vec![d])?,
            json,
        )
    } else {
        if !sub_dir {
            // A tree saved in another form would otherwise make the tenant look new.
            for other in [format!("{name}.yaml"), format!("{name}.yml")] {
                let other = dir.join(other);
                if other.exists() {
                    return Err(vec![Diagnostic::new(format!(
                        "a baseline holds tenant `{key}` as {name}.json or as the directory {name}/, not this file"
                    ))
                    .in_file(other.display().to_string())
                    .hint("write the baseline with `promote render --env ENV --out DIR` (JSON) or `--format yaml` (directories), or rename the file to .json if it holds JSON")]);
                }
            }
            return Ok(None);
        }
        (read_layout_dir(&sub)?, sub)
    };
    // As an export that is not a tenant tree is refused: a plan finds the credentials of a
    // tree by their places, which a collection that is not a map of maps would hide.
    match layout::shape_problem(&layout::TENANT, &tree) {
        None => Ok(Some(tree)),
        Some(problem) => Err(vec![Diagnostic::new(format!(
            "the baseline is not a tenant tree: {problem}"
        ))
        .in_file(file.display().to_string())
        .hint("a baseline holds tenants as `promote render --out DIR` or `promote export` writes them: every collection (workspaces, clients, mfa_methods, ...) a map of maps")]),
    }
}

/// Returns the tree of a baseline's JSON file read against `desired` ([`against`]): what both
/// hold alike is taken out of both, and a tenant read in place is left as what is left of it.
/// With `PROMOTE_NO_CACHE=1`, or where serde_json refuses the text, the whole file is read (for
/// the error it reports).
fn read_json_against(path: &Path, desired: &mut InPlace) -> Result<Value, Diagnostic> {
    let (shown, text) = read_text(path)?;
    if !crate::render::straight_path_asked() {
        match desired {
            InPlace::Whole(tree) => {
                if let Ok(live) = against::read(&text, tree) {
                    return Ok(live);
                }
            }
            InPlace::Filled(filled) => {
                if let Ok((live, left)) = against::read_in_place(&text, filled.view()) {
                    *desired = InPlace::Whole(left);
                    return Ok(live);
                }
            }
        }
    }
    tree_of_text(path, &shown, &text)
}

/// Returns the tree of a JSON or YAML file.
pub fn read_tree_file(path: &Path) -> Result<Value, Diagnostic> {
    let (shown, text) = read_text(path)?;
    tree_of_text(path, &shown, &text)
}

/// The text of `path` (as shown in messages, and read).
fn read_text(path: &Path) -> Result<(String, String), Diagnostic> {
    let shown = path.display().to_string();
    let bytes = crate::files::read_input(path)
        .map_err(|e| Diagnostic::new(format!("cannot read: {e}")).in_file(&shown))?;
    let text =
        String::from_utf8(bytes).map_err(|e| not_utf8(&shown, e.as_bytes(), &e.utf8_error()))?;
    Ok((shown, text))
}

/// The tree of `text`, read from `path` (shown as `shown`): JSON when the file is named so or
/// the text opens as JSON does, else YAML.
fn tree_of_text(path: &Path, shown: &str, text: &str) -> Result<Value, Diagnostic> {
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with(['{', '[']);
    if is_json {
        serde_json::from_str(text).map_err(|e| {
            Diagnostic::new(format!(
                "invalid JSON: {}",
                yaml::strip_position(&e.to_string())
            ))
            .at(Location::at(shown, e.line().max(1), e.column().max(1)))
        })
    } else {
        yaml::parse(text, shown)
    }
}

/// Returns the tree of a YAML directory in the repository layout: a tenant (`tenant.yaml`) or a
/// workspace (`workspace.yaml`). The expressions `export` writes for a literal `{{`, `{%` or `{#`
/// are read as that text ([`crate::templatize::unescape`]).
pub fn read_layout_dir(dir: &Path) -> Result<Value, Vec<Diagnostic>> {
    let node = if dir.join(layout::TENANT.file).is_file() {
        &layout::TENANT
    } else if dir.join(layout::WORKSPACE.file).is_file() {
        &layout::WORKSPACE
    } else {
        return Err(vec![Diagnostic::new(
            "not a tenant or workspace directory: it has no tenant.yaml or workspace.yaml",
        )
        .in_file(dir.display().to_string())]);
    };
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(
                    Diagnostic::new(format!("cannot read: {e}")).in_file(dir.display().to_string()),
                );
                continue;
            }
        };
        let shown = entry.path().display().to_string();
        if entry.file_type().is_symlink() {
            problems.push(
                Diagnostic::new("symlinks are not followed in a tree directory").in_file(shown),
            );
            continue;
        }
        // The list of the files an export wrote is not part of the tree.
        if !entry.file_type().is_file() || entry.file_name() == crate::files::MANIFEST {
            continue;
        }
        let Some(rel) = entry.path().strip_prefix(dir).ok().and_then(|p| p.to_str()) else {
            problems.push(Diagnostic::new("file name is not UTF-8").in_file(shown));
            continue;
        };
        match crate::files::read_input(entry.path()).map(String::from_utf8) {
            // promote writes directories (exports, backups) as templates that render back to
            // the tree: literal `{{` is written as an expression.
            Ok(Ok(text)) => {
                files.push((rel.replace('\\', "/"), crate::templatize::unescape(&text)))
            }
            Ok(Err(e)) => problems.push(not_utf8(&shown, e.as_bytes(), &e.utf8_error())),
            Err(e) => problems.push(Diagnostic::new(format!("cannot read: {e}")).in_file(shown)),
        }
    }
    let tree = layout::read(
        node,
        &layout::Dir::from_files(files),
        &dir.display().to_string(),
    );
    match tree {
        Ok(tree) if problems.is_empty() => Ok(tree),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_against() {
        assert_eq!("dir:/x".parse::<Against>(), Ok(Against::Dir("/x".into())));
        assert_eq!(
            "rev:HEAD~1".parse::<Against>(),
            Ok(Against::Rev("HEAD~1".into()))
        );
        assert_eq!("live".parse::<Against>(), Ok(Against::Live));
        assert!("dir:".parse::<Against>().is_err());
        assert!("other".parse::<Against>().is_err());
    }
}
