//! Export: a live tenant tree → the files of a template directory, and writing them.
//!
//! The files are deterministic (the layout's order, one YAML style, sidecars for script and
//! policy bodies) and each is a template that renders back to exactly what the platform holds:
//! literal template syntax is escaped. Volatile fields ([`VOLATILE`]) and, unless asked for,
//! credentials are left out. With substitutions ([`Substitutions`]) environment-specific values
//! become expressions, file by file only where rendering gives back the same content. IDs from
//! the platform name files only through [`crate::keys::encode`], and writing never leaves the
//! output directory nor follows a symlink.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::baseline::Live;
use crate::credentials::{self, Scope};
use crate::diagnostic::Diagnostic;
use crate::environment::{Environment, Tenant};
use crate::layout::{self, File};
use crate::render::Renderer;
use crate::templatize::{self, Substitutions};
use crate::yaml;

/// Fields the platform maintains by itself on objects (timestamps of use and change): they
/// change without anyone changing the configuration, so they are never exported. Removed from
/// the tenant, from each workspace and from each keyed entry, not from inside user data.
pub const VOLATILE: &[&str] = &[
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
        .then(|| Substitutions::new(Renderer::context(env, t)));
    files(&tree, subs.as_ref()).map_err(|d| vec![d.context(&env.name, Some(&t.key))])
}

/// Removes what an export leaves out: volatile fields, and credentials unless `keep_credentials`.
pub fn clean(tree: &mut Value, keep_credentials: bool) {
    if !keep_credentials {
        credentials::strip(tree, Scope::Tenant);
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
pub fn files(tree: &Value, subs: Option<&Substitutions>) -> Result<Vec<File>, Diagnostic> {
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
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many files changed in all.
    pub fn len(&self) -> usize {
        self.added.len() + self.changed.len() + self.removed.len()
    }
}

/// `2 added, 1 changed, 0 removed`.
impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} removed",
            self.added.len(),
            self.changed.len(),
            self.removed.len()
        )
    }
}

/// Writes `files` into `dir` (created if needed): files whose content is already there are left
/// alone, files of an earlier export that are gone are removed, and so are directories left
/// empty. With `private`, files are readable by the owner only (they hold credentials). Refuses
/// to write through a symlink.
pub fn write_dir(dir: &Path, files: &[File], private: bool) -> Result<Changes> {
    refuse_symlinks(dir, "")?;
    let mut changes = Changes::default();
    let wanted: BTreeMap<&str, &str> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    if dir.exists() {
        let mut empty_dirs = Vec::new();
        for entry in walkdir::WalkDir::new(dir).min_depth(1).contents_first(true) {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let rel = relative(dir, entry.path())?;
            if entry.file_type().is_dir() {
                empty_dirs.push(entry.into_path());
                continue;
            }
            if !wanted.contains_key(rel.as_str()) {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("cannot remove {}", entry.path().display()))?;
                changes.removed.push(rel);
            }
        }
        for d in empty_dirs {
            // Only empty ones go; the others hold files of this export.
            let _ = std::fs::remove_dir(&d);
        }
    }
    for (rel, text) in wanted {
        let path = crate::files::inside(dir, rel)?;
        refuse_symlinks(dir, rel)?;
        match std::fs::read(&path) {
            Ok(old) if old == text.as_bytes() => continue,
            Ok(_) => changes.changed.push(rel.to_owned()),
            Err(_) => changes.added.push(rel.to_owned()),
        }
        write_file(&path, text.as_bytes(), private)?;
    }
    Ok(changes)
}

/// Writes one file atomically (a temp file renamed over it); mode 0600 when `private`, else
/// 0644. Not fsync'd: an export is a working copy, recreated by running it again.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if !private {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Fails when `dir` or a directory of `rel` below it is a symlink (what is above `dir` is the
/// user's choice).
fn refuse_symlinks(dir: &Path, rel: &str) -> Result<()> {
    let mut at = dir.to_path_buf();
    let parents = rel.rsplit_once('/').map_or("", |(p, _)| p);
    let mut below = parents.split('/').filter(|p| !p.is_empty());
    loop {
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "refusing to write through the symlink {}: export writes plain directories",
                at.display()
            );
        }
        match below.next() {
            Some(part) => at.push(part),
            None => return Ok(()),
        }
    }
}

fn relative(dir: &Path, path: &Path) -> Result<String> {
    let rel = path
        .strip_prefix(dir)
        .with_context(|| format!("{} is not inside {}", path.display(), dir.display()))?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
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
        assert!(t["jwks"]["keys"][0].get("d").is_none());
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
        let mut checked = 0;
        for env in ["local", "staging", "prod"] {
            let Ok(project) = crate::pipeline::Project::load(&files_of_repo, env) else {
                continue;
            };
            for t in project.select(&[]).unwrap() {
                let mut tree = project.desired(t).unwrap();
                clean(&mut tree, false);
                let subs = Substitutions::new(Renderer::context(&project.env, t));
                for with in [None, Some(&subs)] {
                    let out = files(&tree, with).unwrap();
                    assert_eq!(render_back(&out, &subs), tree, "{env} {}", t.key);
                }
                checked += 1;
            }
        }
        checked
    }

    #[test]
    fn the_example_round_trips() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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
        let c = write_dir(&out, &first, false).unwrap();
        assert_eq!(c.added, ["pools/p.yaml", "tenant.yaml"]);
        let second = vec![("tenant.yaml".to_string(), "name: b\n".to_string())];
        let c = write_dir(&out, &second, false).unwrap();
        assert_eq!(
            c,
            Changes {
                added: vec![],
                changed: vec!["tenant.yaml".into()],
                removed: vec!["pools/p.yaml".into()]
            }
        );
        assert!(!out.join("pools").exists());
        assert!(write_dir(&out, &second, false).unwrap().is_empty());
        let evil = vec![("../x.yaml".to_string(), String::new())];
        assert!(write_dir(&out, &evil, false).is_err());
        #[cfg(unix)]
        {
            // A symlink left in the directory is removed, never written through.
            std::os::unix::fs::symlink(dir.path(), out.join("link")).unwrap();
            let through = vec![("link/x.yaml".to_string(), String::new())];
            write_dir(&out, &through, false).unwrap();
            assert!(!dir.path().join("x.yaml").exists());
            assert!(out.join("link").is_dir() && !out.join("link").is_symlink());
            // The directory itself a symlink: refused.
            let elsewhere = dir.path().join("elsewhere");
            std::fs::create_dir(&elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, dir.path().join("linked")).unwrap();
            assert!(write_dir(&dir.path().join("linked"), &second, false).is_err());
        }
    }
}
