//! The configuration repository's files, read once: from the work tree or from a git revision.
//!
//! Rendering never touches the file system itself; it works on a [`RepoFiles`] snapshot. That is
//! what lets `plan --against rev:REV` render an old commit straight from the object database,
//! with no checkout, through exactly the code that renders the work tree.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::diagnostic::{Diagnostic, Location};
use crate::environment::{is_valid_name, Environment};

/// Where a snapshot was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    WorkTree,
    /// A git revision as the user named it, and the commit it resolved to.
    Revision {
        rev: String,
        commit: String,
    },
}

/// The text files of `templates/` and `environments/`.
#[derive(Debug, Clone)]
pub struct RepoFiles {
    /// Files under `templates/`, by '/'-separated path relative to `templates/`.
    pub templates: BTreeMap<String, String>,
    /// Environment files by environment name (never changed once read: [`Self::environment`]
    /// keeps what it parsed of them).
    pub environments: BTreeMap<String, String>,
    pub origin: Origin,
    /// The environments parsed so far.
    pub(crate) parsed: Parsed,
}

/// The environments of a snapshot parsed so far, by name, with what parsing them answered: each
/// file is parsed once however often it is asked for (`ci` asked for a changed environment and
/// for its base three times each, and a 1,000-tenant file takes about 77 million instructions
/// to parse). Each is held once, shared with those that asked for it: a command holds no second
/// copy of its environment (1.4 KB a tenant).
#[derive(Default)]
pub(crate) struct Parsed(Mutex<BTreeMap<String, Parse>>);

/// What parsing an environment file answered.
type Parse = Result<Arc<Environment>, Diagnostic>;

impl Parsed {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Parse>> {
        // A panic while the map was held left it whole (an insert of a finished value).
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clone for Parsed {
    fn clone(&self) -> Self {
        Parsed(Mutex::new(self.lock().clone()))
    }
}

impl fmt::Debug for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.lock().keys()).finish()
    }
}

/// A git revision that names no commit of the repository.
#[derive(Debug)]
pub(crate) struct Unresolved {
    /// The revision as given.
    pub rev: String,
    /// Why git could not resolve it.
    pub reason: String,
}

impl From<Unresolved> for Diagnostic {
    fn from(u: Unresolved) -> Diagnostic {
        Diagnostic::new(format!(
            "cannot resolve git revision `{}`: {}",
            u.rev, u.reason
        ))
        .hint("name a commit, branch or tag, e.g. rev:HEAD~1 or rev:origin/main")
    }
}

/// Returns the commit git revision `rev` names in `repo`.
pub(crate) fn resolve<'r>(
    repo: &'r git2::Repository,
    rev: &str,
) -> Result<git2::Commit<'r>, Unresolved> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| Unresolved {
            rev: rev.to_owned(),
            reason: e.message().to_owned(),
        })
}

impl RepoFiles {
    /// Returns the files of the work tree at `root`. Symlinks leaving the repository, files that
    /// are not UTF-8, and unreadable files are reported, all of them.
    pub fn from_work_tree(root: &Path) -> Result<RepoFiles, Vec<Diagnostic>> {
        Self::read_work_tree(root, true)
    }

    /// Returns the environment files of the work tree at `root`, which need not have templates
    /// yet (`init --from-env` makes them from the tenants an environment names).
    pub fn environments_of(root: &Path) -> Result<RepoFiles, Vec<Diagnostic>> {
        Self::read_work_tree(root, false)
    }

    fn read_work_tree(root: &Path, templates_needed: bool) -> Result<RepoFiles, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let canonical_root = root.canonicalize().map_err(|e| {
            vec![Diagnostic::new(format!(
                "cannot open the repository {}: {e}",
                root.display()
            ))
            .hint("pass the configuration repository with --repo DIR")]
        })?;
        let templates = read_tree(&canonical_root, "templates", &mut problems);
        let mut environments = BTreeMap::new();
        for (name, text) in read_tree(&canonical_root, "environments", &mut problems) {
            insert_environment(&mut environments, &name, text, &mut problems);
        }
        let read = templates
            .keys()
            .map(|rel| format!("templates/{rel}"))
            .chain(
                environments
                    .keys()
                    .map(|name| format!("environments/{name}.yaml")),
            );
        problems.extend(diffless(&canonical_root, read));
        if templates_needed && !canonical_root.join("templates").is_dir() {
            problems.push(
                Diagnostic::new(format!("{} has no templates/ directory", root.display()))
                    .hint("run promote in a configuration repository (or pass --repo DIR); `promote init` creates one"),
            );
        }
        finish(
            RepoFiles {
                templates,
                environments,
                origin: Origin::WorkTree,
                parsed: Parsed::default(),
            },
            problems,
        )
    }

    /// Returns the files as they are at git revision `rev` of the repository holding `root`,
    /// read from the object database.
    pub fn from_revision(root: &Path, rev: &str) -> Result<RepoFiles, Vec<Diagnostic>> {
        let one = |d: Diagnostic| vec![d];
        let repo = git2::Repository::discover(root).map_err(|e| {
            one(Diagnostic::new(format!(
                "{} is not in a git repository: {}",
                root.display(),
                e.message()
            )))
        })?;
        let commit = resolve(&repo, rev).map_err(|e| one(e.into()))?;
        let prefix = repo_prefix(&repo, root);
        let tree = commit
            .tree()
            .map_err(|e| one(Diagnostic::new(e.message().to_owned())))?;
        let mut problems = Vec::new();
        // Sizes are read from object headers, before any blob is loaded.
        let odb = repo.odb().ok();
        let files = |sub: &str, problems: &mut Vec<Diagnostic>| {
            let path = prefix.join(sub);
            let mut out = BTreeMap::new();
            let Ok(entry) = tree.get_path(&path) else {
                return out;
            };
            let Ok(subtree) = entry.to_object(&repo).and_then(|o| o.peel_to_tree()) else {
                return out;
            };
            let walked = subtree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
                let name = e.name().unwrap_or("");
                let rel = format!("{dir}{name}");
                if name.starts_with('.') {
                    return git2::TreeWalkResult::Skip;
                }
                match e.kind() {
                    Some(git2::ObjectType::Blob) if e.filemode() == 0o120000 => {
                        let shown = format!("{sub}/{rel}@{rev}");
                        let link_dir = path.join(dir.trim_end_matches('/'));
                        match follow_link(&repo, &tree, &prefix, &link_dir, e) {
                            Ok(text) => {
                                out.insert(rel, text);
                            }
                            Err(why) => problems.push(Diagnostic::new(why).in_file(shown)),
                        }
                    }
                    Some(git2::ObjectType::Blob) => {
                        let size = odb
                            .as_ref()
                            .and_then(|db| db.read_header(e.id()).ok())
                            .map(|(n, _)| n as u64);
                        if let Some(n) = size.filter(|n| *n > crate::files::MAX_INPUT_FILE) {
                            problems.push(
                                Diagnostic::new(crate::files::too_large(n))
                                    .in_file(format!("{sub}/{rel}@{rev}")),
                            );
                            return git2::TreeWalkResult::Ok;
                        }
                        match e.to_object(&repo).map(|o| o.peel_to_blob()) {
                            Ok(Ok(blob)) => match std::str::from_utf8(blob.content()) {
                                Ok(text) => {
                                    out.insert(rel, text.to_owned());
                                }
                                Err(err) => problems.push(not_utf8(
                                    &format!("{sub}/{rel}@{rev}"),
                                    blob.content(),
                                    &err,
                                )),
                            },
                            _ => problems.push(
                                Diagnostic::new("cannot read blob")
                                    .in_file(format!("{sub}/{rel}@{rev}")),
                            ),
                        }
                    }
                    _ => {}
                }
                git2::TreeWalkResult::Ok
            });
            if let Err(e) = walked {
                problems.push(Diagnostic::new(format!(
                    "cannot read {sub}/ at {rev}: {}",
                    e.message()
                )));
            }
            out
        };
        let templates = files("templates", &mut problems);
        let mut environments = BTreeMap::new();
        for (name, text) in files("environments", &mut problems) {
            insert_environment(&mut environments, &name, text, &mut problems);
        }
        finish(
            RepoFiles {
                templates,
                environments,
                origin: Origin::Revision {
                    rev: rev.to_owned(),
                    commit: commit.id().to_string(),
                },
                parsed: Parsed::default(),
            },
            problems,
        )
    }

    /// Returns the names of the template directories: those under `templates/` whose name does
    /// not start with `_` (`_shared/` holds partials).
    pub(crate) fn template_dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = self
            .templates
            .keys()
            .filter_map(|p| p.split_once('/').map(|(d, _)| d))
            .filter(|d| !d.starts_with('_'))
            .map(str::to_owned)
            .collect();
        dirs.dedup();
        dirs
    }

    /// Returns the path of a repository file as messages show it.
    pub(crate) fn display(&self, path: &str) -> String {
        match &self.origin {
            Origin::WorkTree => path.to_owned(),
            Origin::Revision { rev, .. } => format!("{path}@{rev}"),
        }
    }

    /// Returns environment `name`, parsed the first time it is asked for.
    pub fn environment(&self, name: &str) -> Result<Arc<Environment>, Diagnostic> {
        if let Some(parsed) = self.parsed.lock().get(name) {
            return parsed.clone();
        }
        // Parsed without the lock held: another thread asking for another file is not held up.
        let parsed = self.parse_environment(name).map(Arc::new);
        self.parsed.lock().insert(name.to_owned(), parsed.clone());
        parsed
    }

    /// Parses environment `name`.
    fn parse_environment(&self, name: &str) -> Result<Environment, Diagnostic> {
        let path = format!("environments/{name}.yaml");
        let Some(text) = self.environments.get(name) else {
            let known: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            return Err(Diagnostic::new(format!(
                "no environment `{name}`: {} does not exist",
                self.display(&path)
            ))
            .hint(if known.is_empty() {
                "create environments/<name>.yaml".to_owned()
            } else {
                format!("environments here: {}", known.join(", "))
            }));
        };
        Environment::parse(name, &self.display(&path), text)
    }
}

fn finish(files: RepoFiles, mut problems: Vec<Diagnostic>) -> Result<RepoFiles, Vec<Diagnostic>> {
    let at = match &files.origin {
        Origin::Revision { rev, .. } => format!("@{rev}"),
        Origin::WorkTree => String::new(),
    };
    for (rel, text) in &files.templates {
        if let Some(d) = unseen_line_break(&format!("templates/{rel}{at}"), rel, text) {
            problems.push(d);
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// The files among `paths` (relative to the configuration repository at `root`) that git shows
/// no diff of: `.gitattributes` unsets `diff` for them (`-diff`, or `binary`), so a review of a
/// change to one reads "Binary files differ" while promote applies it. Outside a git repository
/// there is nothing to check.
fn diffless(root: &Path, paths: impl Iterator<Item = String>) -> Vec<Diagnostic> {
    // Looked for first: opening a repository starts libgit2 (its TLS setup reads the system's
    // certificates, ~57 million instructions), which a directory outside git need not pay.
    if !root.ancestors().any(|dir| dir.join(".git").exists()) {
        return Vec::new();
    }
    let Ok(git) = git2::Repository::discover(root) else {
        return Vec::new();
    };
    let prefix = repo_prefix(&git, root);
    paths
        .filter(|rel| {
            let value = git.get_attr(&prefix.join(rel), "diff", git2::AttrCheckFlags::default());
            matches!(value.map(git2::AttrValue::from_string), Ok(git2::AttrValue::False))
        })
        .map(|rel| {
            Diagnostic::new("git shows no diff of this file: `.gitattributes` unsets `diff` for it (`-diff` or `binary`), so a review of a change to it reads \"Binary files differ\" while promote applies the change")
                .in_file(rel)
                .hint("remove that attribute from what matches templates/ and environments/: a review must see every change to what promote applies")
        })
        .collect()
}

/// The error for a line break in a template's sidecar (a script's `.js`, a policy's `.rego`)
/// that its language reads and a review does not show ([`crate::layout::hidden_line_break`]),
/// with its line and column. YAML files are checked as they are read ([`crate::yaml::parse`]),
/// where such characters inside quotes are allowed; `export` writes a text holding one in the
/// entry's YAML file, escaped, instead of a sidecar.
fn unseen_line_break(shown: &str, rel: &str, text: &str) -> Option<Diagnostic> {
    let ext = rel.rsplit_once('.').map_or("", |(_, ext)| ext);
    if ext == "yaml" {
        return None;
    }
    let (offset, c) = crate::layout::hidden_line_break(ext, text)?;
    let (line, column) = crate::diagnostic::line_column(text, offset);
    let (what, hint) = match c {
        '\r' => (
            "a carriage return (U+000D) without a line feed after it: `git diff` in a terminal prints the rest of the line over its start, hiding what comes before it".to_owned(),
            "remove it, or end the line with a line feed (`\\r\\n` is read as usual)".to_owned(),
        ),
        c => (
            format!(
                "U+{:04X} in a script: JavaScript ends a line there (a `//` comment ends and what follows runs), while editors and reviews show no line break",
                u32::from(c)
            ),
            format!("remove it; in a string, write it as \\u{:04x}", u32::from(c)),
        ),
    };
    Some(
        Diagnostic::new(what)
            .at(crate::diagnostic::Location::at(shown, line, column))
            .hint(hint),
    )
}

fn insert_environment(
    out: &mut BTreeMap<String, String>,
    rel: &str,
    text: String,
    problems: &mut Vec<Diagnostic>,
) {
    let path = format!("environments/{rel}");
    match rel.strip_suffix(".yaml") {
        Some(name) if is_valid_name(name) && !name.contains('/') => {
            out.insert(name.to_owned(), text);
        }
        _ => problems.push(
            Diagnostic::new("unexpected file in environments/")
                .in_file(path)
                .hint("environments/ holds one <name>.yaml per environment; names use letters, digits, '.', '_', '-'"),
        ),
    }
}

/// Returns the path of `root` inside the repository's work tree ("" at the top).
/// The text of the file a symlink of a git revision points at, read from the same revision.
/// As in a work tree, the target must be a file inside the configuration repository (`prefix`
/// in the git tree); a directory, a link to a link, or anything outside is refused.
fn follow_link(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    prefix: &Path,
    link_dir: &Path,
    entry: &git2::TreeEntry<'_>,
) -> Result<String, String> {
    let target = entry
        .to_object(repo)
        .ok()
        .and_then(|o| o.peel_to_blob().ok())
        .and_then(|b| String::from_utf8(b.content().to_vec()).ok())
        .ok_or("cannot read the symlink")?;
    if Path::new(&target).is_absolute() {
        return Err(format!(
            "symlink leaves the repository (to {target}); everything a template uses must be inside the repository"
        ));
    }
    // Resolve `..` against the link's directory, within the git tree.
    let mut parts: Vec<String> = link_dir
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("symlink leaves the repository (to {target})"));
                }
            }
            p => parts.push(p.to_owned()),
        }
    }
    let resolved: std::path::PathBuf = parts.iter().collect();
    if !resolved.starts_with(prefix) {
        return Err(format!("symlink leaves the repository (to {target})"));
    }
    if let Some(part) = hidden_part(resolved.strip_prefix(prefix).ok()) {
        return Err(into_hidden(&part, &target));
    }
    let found = tree
        .get_path(&resolved)
        .map_err(|_| format!("broken symlink (to {target})"))?;
    if found.filemode() == 0o120000 {
        return Err(format!(
            "symlink to a symlink (to {target}): link the file itself"
        ));
    }
    match found.to_object(repo).map(|o| o.into_blob()) {
        Ok(Ok(blob)) => String::from_utf8(blob.content().to_vec())
            .map_err(|_| format!("the file the symlink points at ({target}) is not UTF-8")),
        _ => Err("symlinked directories are not followed".to_owned()),
    }
}

pub(crate) fn repo_prefix(repo: &git2::Repository, root: &Path) -> PathBuf {
    let workdir = repo.workdir().and_then(|w| w.canonicalize().ok());
    let root = root.canonicalize().ok();
    match (workdir, root) {
        (Some(w), Some(r)) => r
            .strip_prefix(&w)
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        _ => PathBuf::new(),
    }
}

/// Reads every text file under `root/sub`, by '/'-separated path relative to it.
fn read_tree(root: &Path, sub: &str, problems: &mut Vec<Diagnostic>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let base = root.join(sub);
    if std::fs::symlink_metadata(&base).is_ok_and(|m| m.file_type().is_symlink()) {
        problems.push(
            Diagnostic::new("symlinked directories are not followed")
                .in_file(sub)
                .hint(format!("make {sub}/ a directory of the repository")),
        );
        return out;
    }
    if !base.is_dir() {
        return out;
    }
    let walker = walkdir::WalkDir::new(&base)
        .follow_links(false)
        .follow_root_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map(|p| display_rel(root, p))
                    .unwrap_or_else(|| sub.to_owned());
                problems.push(Diagnostic::new(format!("cannot read: {e}")).in_file(path));
                continue;
            }
        };
        let path = entry.path();
        let shown = display_rel(root, path);
        let Some(rel) = path
            .strip_prefix(&base)
            .ok()
            .and_then(|r| r.to_str())
            .map(|r| r.replace('\\', "/"))
        else {
            problems.push(Diagnostic::new("file name is not UTF-8").in_file(shown));
            continue;
        };
        let file_type = entry.file_type();
        let real = if file_type.is_symlink() {
            match path.canonicalize() {
                Ok(target) if hidden_part(target.strip_prefix(root).ok()).is_some() => {
                    let rel = target.strip_prefix(root).unwrap_or(&target);
                    let part = hidden_part(Some(rel)).unwrap_or_default();
                    problems.push(
                        Diagnostic::new(into_hidden(&part, &rel.display().to_string()))
                            .in_file(shown)
                            .hint(
                                "link a file outside hidden directories, or copy its content here",
                            ),
                    );
                    continue;
                }
                // Not a directory: read_input refuses anything but a regular file, and says so.
                Ok(target) if target.starts_with(root) && !target.is_dir() => target,
                Ok(target) if target.starts_with(root) => {
                    problems.push(
                        Diagnostic::new("symlinked directories are not followed")
                            .in_file(shown)
                            .hint("link the files, or move the directory here"),
                    );
                    continue;
                }
                Ok(target) => {
                    problems.push(
                        Diagnostic::new(format!("symlink leaves the repository (to {})", target.display()))
                            .in_file(shown)
                            .hint("everything a template uses must be inside the repository, so git holds what is applied"),
                    );
                    continue;
                }
                Err(e) => {
                    problems.push(Diagnostic::new(format!("broken symlink: {e}")).in_file(shown));
                    continue;
                }
            }
        } else if file_type.is_file() {
            path.to_path_buf()
        } else {
            continue;
        };
        match crate::files::read_input(&real) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    out.insert(rel, text);
                }
                Err(e) => problems.push(not_utf8(&shown, e.as_bytes(), &e.utf8_error())),
            },
            Err(e) => problems.push(Diagnostic::new(format!("cannot read: {e}")).in_file(shown)),
        }
    }
    out
}

/// The first hidden component (`.git`, `.promote`, ...) of `rel`, a path inside the repository.
/// Templates and environment files never read hidden files, so neither do their symlinks.
fn hidden_part(rel: Option<&Path>) -> Option<String> {
    rel?.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .find(|c| c.starts_with('.') && c != "." && c != "..")
        .map(|c| c.into_owned())
}

/// Why a symlink whose target `target` is inside the hidden directory `part` is refused.
fn into_hidden(part: &str, target: &str) -> String {
    format!(
        "symlink into {part}/ (to {target}): promote never reads hidden files such as .git/ and .promote/ (git credentials, backups, emulator data) through templates or environments"
    )
}

/// Returns the diagnostic for a file that is not UTF-8, at the first byte that is not.
pub(crate) fn not_utf8(path: &str, bytes: &[u8], err: &std::str::Utf8Error) -> Diagnostic {
    // The bytes before `valid_up_to` are UTF-8 by definition.
    let valid = std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default();
    let (line, column) = crate::diagnostic::line_column(valid, valid.len());
    Diagnostic::new("file is not UTF-8 text")
        .at(Location::at(path, line, column))
        .hint("save the file as UTF-8")
}

fn display_rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(prod: &str) -> RepoFiles {
        RepoFiles {
            templates: BTreeMap::new(),
            environments: [("prod".to_owned(), prod.to_owned())].into(),
            origin: Origin::WorkTree,
            parsed: Parsed::default(),
        }
    }

    /// An environment is parsed once, the first time it is asked for, and answers the same
    /// every time after: a file that parses, one that does not, and one that is not there.
    #[test]
    fn an_environment_is_parsed_once_and_answers_the_same() {
        let good = files("target: {url: https://x}\ntenants: {acme: {template: saas}}\n");
        let first = good.environment("prod").expect("parses");
        assert_eq!(good.parsed.lock().len(), 1);
        let again = good.environment("prod").expect("parses");
        assert_eq!((&again.text, &again.path), (&first.text, &first.path));
        let keys = |e: &Environment| {
            e.file
                .tenants
                .as_ref()
                .map(|t| t.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(keys(&again), keys(&first));
        assert_eq!(keys(&first), Some(vec!["acme".to_owned()]));

        let bad = files("target: [\n");
        let first = bad.environment("prod").expect_err("does not parse");
        assert_eq!(bad.environment("prod").expect_err("still"), first);
        assert_eq!(bad.parsed.lock().len(), 1);

        let missing = good.environment("staging").expect_err("no such file");
        assert_eq!(good.environment("staging").expect_err("still"), missing);
        assert!(good.parsed.lock().keys().eq(["prod", "staging"]));
    }
}
