//! Export: a live tenant tree → the files of a template directory, and writing them.
//!
//! The files are deterministic (the layout's order, one YAML style, sidecars for script and
//! policy bodies) and each is a template that renders back to exactly what the platform holds:
//! literal template syntax is escaped. Volatile fields ([`VOLATILE`]) and, unless asked for,
//! credentials and the platform's own material (signing keys, generated secrets and salts) are
//! left out. With substitutions ([`Substitutions`]) environment-specific values
//! become expressions, file by file only where rendering gives back the same content. IDs from
//! the platform name files only through [`crate::keys::encode`], and names too long for a file
//! system are refused ([`crate::keys::check_path`]) for export and backup alike. Writing never
//! leaves the output directory nor follows a symlink, and replaces or removes only files an
//! earlier export wrote ([`MANIFEST`]) that are still exactly in the form export writes
//! ([`Form`]; the manifest alone proves nothing, being a file anyone can edit). [`fn@run`]
//! exports an environment's tenants.

mod form;
mod run;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::baseline::Live;
use crate::credentials::{self, Scope};
use crate::diagnostic::{Diagnostic, Doing, Result};
use crate::environment::{Environment, Tenant};
use crate::layout::{self, File};
use crate::render;
use crate::templatize::{self, Substitutions};
use crate::yaml;
use promote_platform::material;

pub use form::Form;
pub use run::{check_out, run, Exported, Exports, Outcome, Report};

/// Fields the platform maintains by itself on objects (timestamps of use and change): they
/// change without anyone changing the configuration, so they are never exported. Removed from
/// the tenant, from each workspace and from each keyed entry, not from inside user data.
pub(crate) const VOLATILE: &[&str] = &[
    "created_at",
    "updated_at",
    "last_active",
    "last_modified",
    "last_used_at",
    "last_login_at",
];

/// What an export writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep credentials (files then mode 0600).
    pub with_credentials: bool,
    /// Replace the tenant ID and variable values by expressions.
    pub templatize: bool,
    /// Overwrite files that are not as an earlier export wrote them ([`Writing::force`]).
    pub force: bool,
}

/// Exports tenant `t` of `env` from the platform: its files, ready to write.
pub fn tenant(
    live: &Live,
    env: &Environment,
    t: &Tenant,
    opts: Options,
) -> Result<Vec<File>, Vec<Diagnostic>> {
    let (_, mut tree) = live.export_bytes(t, opts.with_credentials)?;
    clean(&mut tree, opts.with_credentials);
    let subs = opts
        .templatize
        .then(|| Substitutions::new(render::context(env, t)));
    files(&tree, subs.as_ref()).map_err(|d| vec![d.context(&env.name, Some(&t.key))])
}

/// Removes what an export leaves out: volatile fields, and unless `keep_credentials` (a full
/// copy, made outside the repository) credentials and the platform's own material (signing keys,
/// generated secrets and salts: [`material`]), which a template must never hold.
pub(crate) fn clean(tree: &mut Value, keep_credentials: bool) {
    if !keep_credentials {
        credentials::strip(tree, Scope::Tenant);
        material::strip(tree, Scope::Tenant);
    }
    let mut objects = layout::entries(tree);
    objects.push(String::new());
    for at in objects {
        if let Some(Value::Object(map)) = tree.pointer_mut(&at) {
            for field in VOLATILE {
                map.remove(*field);
            }
        }
    }
}

/// The files of a (cleaned) tenant tree, paths relative to the tenant's directory.
/// Fails when a file name, made from an ID of the platform, is too long for a file system.
pub(crate) fn files(tree: &Value, subs: Option<&Substitutions>) -> Result<Vec<File>, Diagnostic> {
    let files = laid_out(tree, subs)?;
    for (path, _) in &files {
        crate::keys::check_path(path).map_err(|e| {
            Diagnostic::new(e.to_string()).hint(
                "export and backup write a file per object, named after its ID: give the object a shorter ID on the platform",
            )
        })?;
    }
    Ok(files)
}

fn laid_out(tree: &Value, subs: Option<&Substitutions>) -> Result<Vec<File>, Diagnostic> {
    let plain = layout::write(&layout::TENANT, tree)?;
    let Some(subs) = subs.filter(|s| !s.is_empty()) else {
        return Ok(plain
            .into_iter()
            .map(|(path, text)| {
                let text = templatize::escape(&text);
                (path, text)
            })
            .collect());
    };
    let mut marked_tree = tree.clone();
    let marked = subs.mark(&mut marked_tree);
    let marked_files = if marked.is_empty() {
        Vec::new()
    } else {
        layout::write(&layout::TENANT, &marked_tree)?
    };
    let mut marked_files: BTreeMap<String, String> = marked_files.into_iter().collect();
    Ok(plain
        .into_iter()
        .map(|(path, text)| {
            let escaped = templatize::escape(&text);
            let yaml = path.ends_with(".yaml");
            let templated = marked_files
                .remove(&path)
                .map(|m| subs.expressions(&templatize::escape(&m), &marked, yaml))
                .filter(|t| *t != escaped && renders_back(subs, &path, t, &text));
            (path, templated.unwrap_or(escaped))
        })
        .collect())
}

/// The YAML of `value` as a template, with substitutions where it renders back to the same
/// value, as [`files`] writes a file: what `adopt` inserts into a hand-written file.
pub(crate) fn yaml_template(value: &Value, subs: &Substitutions) -> String {
    let text = yaml::to_string(value);
    let escaped = templatize::escape(&text);
    let mut marked_value = value.clone();
    let marked = subs.mark(&mut marked_value);
    if marked.is_empty() {
        return escaped;
    }
    let marked_text = templatize::escape(&yaml::to_string(&marked_value));
    let templated = subs.expressions(&marked_text, &marked, true);
    if renders_back(subs, "snippet.yaml", &templated, &text) {
        templated
    } else {
        escaped
    }
}

/// Whether `template` renders to content equal to `text` (as YAML for `.yaml` files, as text
/// for sidecars).
fn renders_back(subs: &Substitutions, path: &str, template: &str, text: &str) -> bool {
    let Ok(rendered) = subs.render(template) else {
        return false;
    };
    if !path.ends_with(".yaml") {
        return rendered == text;
    }
    match (yaml::parse(&rendered, path), yaml::parse(text, path)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// What writing a tenant's files changed, by path relative to its directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Files an earlier export wrote and this one does not, left in place because they were
    /// changed since (export removes only what it wrote, as it wrote it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many files changed in all.
    pub(crate) fn len(&self) -> usize {
        self.added.len() + self.changed.len() + self.removed.len()
    }
}

/// `2 added, 1 changed, 0 removed` (and `, 1 kept` when some were).
impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} removed",
            self.added.len(),
            self.changed.len(),
            self.removed.len()
        )?;
        if !self.kept.is_empty() {
            write!(
                f,
                ", {} kept (changed since export wrote them: {})",
                self.kept.len(),
                self.kept.join(", ")
            )?;
        }
        Ok(())
    }
}

pub(crate) use crate::files::MANIFEST;

/// The first line of a [`MANIFEST`].
const MANIFEST_HEADER: &str =
    "# promote export: the files promote wrote in this directory, each after the SHA-1 of what it wrote; a later export replaces or removes only these, and only while they are unchanged and exactly in the form export writes";

/// How [`write_dir`] writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Writing<'a> {
    /// Files readable by the owner only (they hold credentials).
    pub private: bool,
    /// Overwrite files that are not as an earlier export wrote them (hand-written templates).
    pub force: bool,
    /// The form of the files: what a file must be, byte for byte, to be replaced or removed.
    pub form: Form<'a>,
}

/// Writes `files` into `dir` (created if needed). Export owns only what it wrote: the
/// [`MANIFEST`] `dir/.promote-export` lists each file it wrote with the digest of its content.
///
/// - A file whose content is already there is left alone.
/// - A file there with other content is replaced only if the manifest lists it with the digest
///   of that content (export wrote it, nobody changed it since) and the content is exactly in
///   the form export writes ([`Form`]: a path of the layout, no template syntax but the
///   expressions export writes, no comment, and read back and written again it gives the same
///   bytes). Any other (a hand-written template, an exported file edited since, a file an
///   older promote listed without a digest, a hand-written file a crafted manifest lists with
///   its digest) makes the whole write refused, naming the files, with nothing written, unless
///   `writing.force`.
/// - A file the manifest lists and this export does not write is removed, with the directories
///   it leaves empty, only on the same two conditions; otherwise it is kept (and reported in
///   [`Changes::kept`]), `force` or not.
///
/// The manifest is a file of the repository, so its digests prove nothing about who wrote a
/// file: a crafted manifest can make export replace or remove only a file that export could
/// have written as it is, which holds nothing a person wrote but values (and git has them).
/// Any clone re-exports over its own plain exports without `force`: the test needs no key.
///
/// Nothing else is ever removed. Refuses to write through a symlink, and never follows one
/// when removing.
pub fn write_dir(dir: &Path, files: &[File], writing: Writing) -> Result<Changes> {
    let mode = if writing.private {
        crate::files::WriteMode {
            private: true,
            sync: false,
        }
    } else {
        crate::files::WriteMode::COPY
    };
    crate::files::plain_dirs(dir, "", true)?;
    let wanted: BTreeMap<&str, &str> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    // Every path is checked before anything is written.
    for rel in wanted.keys() {
        crate::files::inside(dir, rel)?;
        crate::files::plain_dirs(dir, rel, false)?;
        if *rel == MANIFEST {
            return Err(Diagnostic::new(format!(
                "refusing to write {MANIFEST}: it is the list of the files an export wrote"
            )));
        }
    }
    let earlier = read_manifest(dir)?;
    let mut changes = Changes::default();
    let mut foreign = Vec::new();
    for (rel, text) in &wanted {
        let path = crate::files::inside(dir, rel)?;
        match present(&path) {
            Present::None => changes.added.push((*rel).to_owned()),
            Present::File(old) if old == text.as_bytes() => {}
            Present::File(old) => {
                if !written_by_export(&earlier, rel, &old, writing.form) {
                    foreign.push(*rel);
                }
                changes.changed.push((*rel).to_owned());
            }
            // A symlink or anything else there is not what export wrote; forced, it is
            // replaced, never followed.
            Present::Other => {
                foreign.push(*rel);
                changes.changed.push((*rel).to_owned());
            }
        }
    }
    if !foreign.is_empty() && !writing.force {
        return Err(refusal(dir, &foreign));
    }
    let stale: Vec<&String> = earlier
        .keys()
        .filter(|p| !wanted.contains_key(p.as_str()))
        .collect();
    // Listed before they are written: a run stopped midway leaves no file that a later export
    // would not know it wrote. A file it overwrites is listed with its new digest only once
    // written: until then it is not export's.
    let mut listed: BTreeMap<String, Option<String>> = earlier.clone();
    let mut new_files = false;
    for rel in &changes.added {
        new_files |= listed
            .insert(rel.clone(), Some(digest(wanted[rel.as_str()].as_bytes())))
            .is_none();
    }
    if new_files {
        write_manifest(dir, &listed, mode)?;
    }
    for rel in changes.added.iter().chain(&changes.changed) {
        let text = wanted[rel.as_str()];
        crate::files::write_under(dir, rel, text.as_bytes(), mode)?;
    }
    for rel in stale {
        let Ok(Present::File(content)) = crate::files::inside(dir, rel).as_deref().map(present)
        else {
            continue;
        };
        if !written_by_export(&earlier, rel, &content, writing.form) {
            changes.kept.push(rel.clone());
            continue;
        }
        if remove_written(dir, rel)? {
            changes.removed.push(rel.clone());
        }
    }
    let now: BTreeMap<String, Option<String>> = wanted
        .iter()
        .map(|(rel, text)| ((*rel).to_owned(), Some(digest(text.as_bytes()))))
        .collect();
    if now != earlier {
        write_manifest(dir, &now, mode)?;
    }
    Ok(changes)
}

/// Whether `content` at `rel` may be replaced or removed as export's own: the manifest lists
/// it with the digest of this content, and the content is exactly in the form export writes
/// (which no manifest can vouch for).
fn written_by_export(
    manifest: &BTreeMap<String, Option<String>>,
    rel: &str,
    content: &[u8],
    form: Form<'_>,
) -> bool {
    manifest.get(rel).and_then(Option::as_deref) == Some(&digest(content))
        && form::is_export_form(rel, content, form)
}

/// What is at a path export is to write.
enum Present {
    None,
    /// A regular file, with its content.
    File(Vec<u8>),
    /// A symlink, a directory, or a file that cannot be read.
    Other,
}

fn present(path: &Path) -> Present {
    match std::fs::symlink_metadata(path) {
        Err(_) => Present::None,
        Ok(m) if m.is_file() => match crate::files::read_input(path) {
            Ok(content) => Present::File(content),
            Err(_) => Present::Other,
        },
        Ok(_) => Present::Other,
    }
}

/// The refusal to overwrite `files` in `dir`, which export did not write as they are.
fn refusal(dir: &Path, files: &[&str]) -> Diagnostic {
    Diagnostic::new(format!(
        "refusing to overwrite {} file(s) in {} that are not as an export wrote them: {}",
        files.len(),
        dir.display(),
        first_of(files, 10)
    ))
    .hint("they hold changes made by hand (template tags, variables, secret(), comments) that an export would lose; export into another directory and compare, or pass --force to overwrite them")
}

/// The first `n` of `items`, and how many more there are.
pub(crate) fn first_of(items: &[&str], n: usize) -> String {
    let shown = items[..items.len().min(n)].join(", ");
    match items.len().saturating_sub(n) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The digest a [`MANIFEST`] records of a file's content: SHA-1, in hex.
fn digest(content: &[u8]) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The paths the [`MANIFEST`] of `dir` lists, each with the digest of what export wrote there
/// (`None` on a line an older promote wrote, with the path alone); none without a manifest.
/// Lines that are not paths inside `dir` are ignored (never removed).
fn read_manifest(dir: &Path) -> Result<BTreeMap<String, Option<String>>> {
    let path = dir.join(MANIFEST);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        // A symlink or a directory is not a manifest promote wrote: it lists nothing.
        Ok(_) => return Ok(BTreeMap::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).doing(|| format!("cannot read {}", path.display())),
    }
    let bytes =
        crate::files::read_input(&path).doing(|| format!("cannot read {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once("  ") {
            Some((hex, rel)) if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                (rel, Some(hex.to_ascii_lowercase()))
            }
            _ => (l, None),
        })
        .filter(|(rel, _)| *rel != MANIFEST && crate::files::inside(dir, rel).is_ok())
        .map(|(rel, hex)| (rel.to_owned(), hex))
        .collect())
}

/// Writes the [`MANIFEST`] of `dir` atomically: `<sha1>  <path>` per file, sorted (with the
/// mode of the files it lists: an export with credentials is owner-only, all of it).
fn write_manifest(
    dir: &Path,
    paths: &BTreeMap<String, Option<String>>,
    mode: crate::files::WriteMode,
) -> Result<()> {
    let mut text = format!("{MANIFEST_HEADER}\n");
    for (p, hex) in paths {
        if let Some(hex) = hex {
            text.push_str(hex);
            text.push_str("  ");
        }
        text.push_str(p);
        text.push('\n');
    }
    crate::files::write_under(dir, MANIFEST, text.as_bytes(), mode)?;
    Ok(())
}

/// Removes `dir/rel`, a file an earlier export wrote, if it is still a regular file reached
/// through plain directories, then the directories it leaves empty (up to `dir`, not `dir`).
/// Returns whether it was removed; a symlink, a directory, or a path through a symlink is
/// left alone.
fn remove_written(dir: &Path, rel: &str) -> Result<bool> {
    let Ok(path) = crate::files::inside(dir, rel) else {
        return Ok(false);
    };
    if crate::files::plain_dirs(dir, rel, false).is_err() {
        return Ok(false);
    }
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(false),
    }
    std::fs::remove_file(&path).doing(|| format!("cannot remove {}", path.display()))?;
    let mut parent = path.parent();
    while let Some(p) = parent.filter(|p| *p != dir && p.starts_with(dir)) {
        // Only an empty directory goes; one that holds anything stays, and so do its parents.
        if std::fs::remove_dir(p).is_err() {
            break;
        }
        parent = p.parent();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree() -> Value {
        json!({
            "name": "Acme",
            "created_at": "2026-01-01T00:00:00Z",
            "jwks": {"keys": [{"kty": "EC", "d": "PRIVATE"}]},
            "servers": {"acme-prod": {
                "name": "Acme {{ prod }}",
                "last_active": "2026-11-23T00:00:00Z",
                "clients": {"web": {"redirect_uris": ["https://acme-prod.example.com/cb"], "client_secret": "S3CRET", "updated_at": "x"}},
                "scripts": {"s": {"body": "function f() { return '{%' }"}},
                "metadata": {"created_at": "user data: kept"}
            }}
        })
    }

    #[test]
    fn cleaning_drops_volatile_fields_and_credentials() {
        let mut t = tree();
        clean(&mut t, false);
        assert!(t.get("created_at").is_none());
        assert!(t["servers"]["acme-prod"].get("last_active").is_none());
        let web = &t["servers"]["acme-prod"]["clients"]["web"];
        assert!(web.get("updated_at").is_none() && web.get("client_secret").is_none());
        assert!(t.get("jwks").is_none(), "signing keys are the platform's");
        assert_eq!(
            t["servers"]["acme-prod"]["metadata"]["created_at"],
            "user data: kept"
        );
        let mut kept = tree();
        clean(&mut kept, true);
        assert_eq!(
            kept["servers"]["acme-prod"]["clients"]["web"]["client_secret"],
            "S3CRET"
        );
    }

    fn render_back(files: &[File], subs: &Substitutions) -> Value {
        let rendered: Vec<File> = files
            .iter()
            .map(|(p, t)| (p.clone(), subs.render(t).unwrap()))
            .collect();
        layout::read(&layout::TENANT, &layout::Dir::from_files(rendered), "t").unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Trees of the platform's own shapes (every object type of its model, awkward IDs and
        /// texts), exported plain and templatized, render back to the tree.
        #[test]
        fn platform_shaped_trees_render_back(tree in promote_platform::arb::typed::tenant()) {
            let mut tree = tree;
            clean(&mut tree, false);
            let subs = Substitutions::new(json!({
                "tenant": {"id": "web.app"},
                "vars": {"domain": "plain"}
            }));
            for with in [None, Some(&subs)] {
                let out = files(&tree, with).unwrap();
                proptest::prop_assert_eq!(render_back(&out, &subs), tree.clone());
            }
        }
    }

    #[test]
    fn files_render_back_to_the_tree_with_and_without_substitutions() {
        let mut t = tree();
        clean(&mut t, false);
        let subs = Substitutions::new(json!({
            "tenant": {"id": "acme-prod"},
            "vars": {"domain": "acme-prod.example.com"}
        }));
        let plain = files(&t, None).unwrap();
        assert_eq!(render_back(&plain, &subs), t);
        let templated = files(&t, Some(&subs)).unwrap();
        assert_eq!(render_back(&templated, &subs), t);
        let web = &templated
            .iter()
            .find(|(p, _)| p == "workspaces/acme-prod/clients/web.yaml")
            .unwrap()
            .1;
        assert!(web.contains("https://{{ vars.domain }}/cb"), "{web}");
        // File names are never templated.
        assert!(templated
            .iter()
            .any(|(p, _)| p.starts_with("workspaces/acme-prod/")));
    }

    /// Every tenant of every environment of a repository, exported (its desired tree standing
    /// for the live one) with and without substitutions, renders back to that tree.
    pub(crate) fn round_trips_every_tenant(root: &Path) -> usize {
        let files_of_repo = crate::source::RepoFiles::from_work_tree(root).unwrap();
        let templates =
            std::sync::Arc::new(crate::render::Templates::compile(&files_of_repo).unwrap());
        let mut checked = 0;
        for env in ["local", "staging", "prod"] {
            let Ok(project) = crate::pipeline::Project::load(&templates, env) else {
                continue;
            };
            for t in project.select(&[]).unwrap() {
                let mut tree = project.desired(t).unwrap();
                clean(&mut tree, false);
                let subs = Substitutions::new(render::context(&project.env, t));
                let context = render::context(&project.env, t);
                let form = Form::Templates {
                    context: &context,
                    modelines: None,
                };
                for with in [None, Some(&subs)] {
                    let out = files(&tree, with).unwrap();
                    assert_eq!(render_back(&out, &subs), tree, "{env} {}", t.key);
                    // And each file is in the form export writes: a re-export replaces it.
                    for (path, text) in &out {
                        assert!(
                            form::is_export_form(path, text.as_bytes(), form),
                            "{env} {} {path}:\n{text}",
                            t.key
                        );
                    }
                }
                checked += 1;
            }
        }
        checked
    }

    #[test]
    fn the_example_round_trips() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        assert!(round_trips_every_tenant(root) >= 12);
    }

    #[test]
    fn writing_replaces_an_earlier_export_and_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("acme");
        let first = vec![
            ("tenant.yaml".to_string(), "name: a\n".to_string()),
            ("pools/p.yaml".to_string(), "{}\n".to_string()),
        ];
        let c = write_dir(&out, &first, Writing::default()).unwrap();
        assert_eq!(c.added, ["pools/p.yaml", "tenant.yaml"]);
        let second = vec![("tenant.yaml".to_string(), "name: b\n".to_string())];
        let c = write_dir(&out, &second, Writing::default()).unwrap();
        assert_eq!(
            c,
            Changes {
                added: vec![],
                changed: vec!["tenant.yaml".into()],
                removed: vec!["pools/p.yaml".into()],
                kept: vec![]
            }
        );
        assert!(!out.join("pools").exists());
        assert!(write_dir(&out, &second, Writing::default())
            .unwrap()
            .is_empty());
        let evil = vec![("../x.yaml".to_string(), String::new())];
        assert!(write_dir(&out, &evil, Writing::default()).is_err());
        #[cfg(unix)]
        {
            // A symlink in the directory is never written through, nor removed.
            std::os::unix::fs::symlink(dir.path(), out.join("link")).unwrap();
            let through = vec![("link/x.yaml".to_string(), String::new())];
            let e = write_dir(&out, &through, Writing::default()).unwrap_err();
            assert!(format!("{e:#}").contains("symlink"), "{e:#}");
            assert!(!dir.path().join("x.yaml").exists());
            assert!(out.join("link").is_symlink());
            assert_eq!(
                std::fs::read_to_string(out.join("tenant.yaml")).unwrap(),
                "name: b\n"
            );
            // The directory itself a symlink: refused.
            let elsewhere = dir.path().join("elsewhere");
            std::fs::create_dir(&elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, dir.path().join("linked")).unwrap();
            assert!(write_dir(&dir.path().join("linked"), &second, Writing::default()).is_err());
        }
    }

    /// Only the files an earlier export listed in its manifest are removed: a `.git` directory,
    /// notes and anything else in the directory stay, and so do the directories holding them.
    #[test]
    fn an_export_removes_only_files_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("acme");
        std::fs::create_dir_all(out.join(".git/objects")).unwrap();
        std::fs::write(out.join(".git/config"), "[core]\n").unwrap();
        std::fs::write(out.join("NOTES.md"), "mine\n").unwrap();
        std::fs::create_dir_all(out.join("pools")).unwrap();
        std::fs::write(out.join("pools/mine.yaml"), "mine\n").unwrap();
        let first = vec![
            ("tenant.yaml".to_string(), "name: a\n".to_string()),
            ("pools/p.yaml".to_string(), "{}\n".to_string()),
            (
                "workspaces/w/workspace.yaml".to_string(),
                "{}\n".to_string(),
            ),
        ];
        write_dir(&out, &first, Writing::default()).unwrap();
        let manifest = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
        assert!(
            manifest.ends_with("  workspaces/w/workspace.yaml\n")
                && manifest.contains("  pools/p.yaml\n"),
            "{manifest}"
        );
        let second = vec![("tenant.yaml".to_string(), "name: a\n".to_string())];
        let c = write_dir(&out, &second, Writing::default()).unwrap();
        assert_eq!(c.removed, ["pools/p.yaml", "workspaces/w/workspace.yaml"]);
        assert!(out.join(".git/config").is_file() && out.join(".git/objects").is_dir());
        assert!(out.join("NOTES.md").is_file() && out.join("pools/mine.yaml").is_file());
        assert!(
            !out.join("workspaces").exists(),
            "an emptied directory goes"
        );
        assert_eq!(
            std::fs::read_to_string(out.join(MANIFEST)).unwrap(),
            format!("{MANIFEST_HEADER}\n{}  tenant.yaml\n", digest(b"name: a\n"))
        );
        // A manifest that names files outside, or through a symlink, removes nothing there.
        let outside = dir.path().join("outside.yaml");
        std::fs::write(&outside, "keep\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path(), out.join("up")).unwrap();
        std::fs::write(
            out.join(MANIFEST),
            "../outside.yaml\nup/outside.yaml\n/etc/hostname\nNOTES.md/..\n",
        )
        .unwrap();
        write_dir(&out, &second, Writing::default()).unwrap();
        assert!(outside.is_file() && out.join("NOTES.md").is_file());
    }

    /// Regression (production safety, finding 8): `export --templatize --out templates` over
    /// hand-written templates turned variables back into literals and dropped `{% if %}` blocks
    /// and secret() lines. Export refuses to overwrite what it did not write as it is, naming
    /// the files and writing nothing; `force` overwrites.
    #[test]
    fn an_export_never_overwrites_a_file_it_did_not_write_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("acme");
        std::fs::create_dir_all(out.join("clients")).unwrap();
        let hand = "name: {{ vars.company }}\n{% if vars.eu %}region: eu\n{% endif %}\n";
        std::fs::write(out.join("tenant.yaml"), hand).unwrap();
        std::fs::write(out.join("clients/web.yaml"), "client_name: web\n").unwrap();
        let export = vec![
            ("tenant.yaml".to_string(), "name: Acme\n".to_string()),
            (
                "clients/web.yaml".to_string(),
                "client_name: web\n".to_string(),
            ),
            ("pools/p.yaml".to_string(), "{}\n".to_string()),
        ];
        let e = write_dir(&out, &export, Writing::default()).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("refusing to overwrite 1 file(s)") && e.contains("tenant.yaml"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("tenant.yaml")).unwrap(),
            hand
        );
        assert!(!out.join("pools").exists() && !out.join(MANIFEST).exists());
        // Forced, it overwrites; then the files are export's, and a second export replaces them.
        let force = Writing {
            force: true,
            ..Writing::default()
        };
        let c = write_dir(&out, &export, force).unwrap();
        assert_eq!((c.added.len(), c.changed.len()), (1, 1));
        let mut second = export.clone();
        second[0].1 = "name: Acme 2\n".into();
        assert_eq!(
            write_dir(&out, &second, Writing::default())
                .unwrap()
                .changed,
            ["tenant.yaml"]
        );
        // Edited by hand after the export: refused again.
        std::fs::write(out.join("tenant.yaml"), "name: {{ vars.company }}\n").unwrap();
        assert!(write_dir(&out, &export, Writing::default()).is_err());
    }

    /// A crafted (or older) manifest cannot make export delete a file: only a file whose
    /// content is what export recorded goes; one edited since is kept and reported.
    #[test]
    fn an_export_removes_only_what_it_wrote_as_it_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("acme");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("NOTES.md"), "mine\n").unwrap();
        std::fs::write(out.join("old.yaml"), "path-only line\n").unwrap();
        std::fs::write(
            out.join(MANIFEST),
            format!("NOTES.md\nold.yaml\n{}  forged.yaml\n", digest(b"other")),
        )
        .unwrap();
        std::fs::write(out.join("forged.yaml"), "mine too\n").unwrap();
        let one = vec![("tenant.yaml".to_string(), "name: a\n".to_string())];
        let force = Writing {
            force: true,
            ..Writing::default()
        };
        let c = write_dir(&out, &one, force).unwrap();
        assert!(c.removed.is_empty(), "{c:?}");
        assert_eq!(c.kept, ["NOTES.md", "forged.yaml", "old.yaml"]);
        for kept in ["NOTES.md", "old.yaml", "forged.yaml"] {
            assert!(out.join(kept).is_file(), "{kept}");
        }
        // What export wrote, unchanged, goes when it is no longer exported.
        let two = vec![
            ("tenant.yaml".to_string(), "name: a\n".to_string()),
            ("pools/p.yaml".to_string(), "{}\n".to_string()),
        ];
        write_dir(&out, &two, Writing::default()).unwrap();
        let c = write_dir(&out, &one, Writing::default()).unwrap();
        assert_eq!(c.removed, ["pools/p.yaml"]);
        assert!(out.join("NOTES.md").is_file());
    }

    /// Regression (an attacker's follow-up): a manifest listing a hand-written file with the
    /// digest of its content does not make it export's. Overwriting it is refused, removing it
    /// keeps it; a file exactly in export's form, listed so, is export's to replace.
    #[test]
    fn a_listed_digest_alone_does_not_make_a_file_exports() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("acme");
        let context = json!({"tenant": {"id": "acme-prod"}, "vars": {"company": "Acme"}});
        let writing = Writing {
            form: Form::Templates {
                context: &context,
                modelines: None,
            },
            ..Writing::default()
        };
        std::fs::create_dir_all(out.join("pools")).unwrap();
        let hand = "name: {{ vars.company }}\n";
        let mine = "# ours\n{}\n";
        std::fs::write(out.join("tenant.yaml"), hand).unwrap();
        std::fs::write(out.join("pools/mine.yaml"), mine).unwrap();
        std::fs::write(out.join("pools/plain.yaml"), "{}\n").unwrap();
        std::fs::write(
            out.join(MANIFEST),
            format!(
                "{}  tenant.yaml\n{}  pools/mine.yaml\n{}  pools/plain.yaml\n",
                digest(hand.as_bytes()),
                digest(mine.as_bytes()),
                digest(b"{}\n")
            ),
        )
        .unwrap();
        let export = vec![("tenant.yaml".to_string(), "name: Acme 2\n".to_string())];
        let e = format!("{:#}", write_dir(&out, &export, writing).unwrap_err());
        assert!(e.contains("tenant.yaml"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("tenant.yaml")).unwrap(),
            hand
        );
        // The template replaced by export's own form: replaced, and the plain file listed is
        // removed; the hand-written one is kept.
        std::fs::write(out.join("tenant.yaml"), "name: \"{{ vars.company }}\"\n").unwrap();
        let listed = std::fs::read_to_string(out.join(MANIFEST))
            .unwrap()
            .replace(
                &digest(hand.as_bytes()),
                &digest(b"name: \"{{ vars.company }}\"\n"),
            );
        std::fs::write(out.join(MANIFEST), listed).unwrap();
        let c = write_dir(&out, &export, writing).unwrap();
        assert_eq!(c.changed, ["tenant.yaml"]);
        assert_eq!(c.removed, ["pools/plain.yaml"]);
        assert_eq!(c.kept, ["pools/mine.yaml"]);
        assert_eq!(
            std::fs::read_to_string(out.join("pools/mine.yaml")).unwrap(),
            mine
        );
    }
}
