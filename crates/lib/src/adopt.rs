//! Adopt: bring what was made by hand on the platform under management.
//!
//! `promote adopt --env E --tenant T POINTER...` exports tenant T and, for each pointer, writes
//! what the platform holds there into the tenant's template directory, then records it as
//! applied, so that afterwards `plan` and `drift` show nothing there:
//!
//! - **where**: the layout decides ([`layout::write`] of the desired tree with the value added):
//!   a whole object that is a file in the layout (a client, a policy and its `.rego`, a whole
//!   workspace) becomes new files, written as `export --templatize` writes them
//!   ([`export::files`]: the tenant ID and the variables' values as expressions where that
//!   renders back exactly, template syntax escaped); a field inside an object whose file exists
//!   is inserted into that file textually ([`insert`]), keeping its comments and formatting.
//!   A file is never overwritten; a place that cannot take the lines safely is refused with the
//!   YAML to paste and where.
//! - **what**: the export without credentials and without the platform's material (signing
//!   keys, generated secrets and salts) or volatile fields ([`export::clean`]): a client's
//!   secret is never written; the client in the repository then leaves it to the platform.
//! - **check**: the tenant is rendered again from the files written; it must hold exactly what
//!   it held before plus the live value at each pointer. Otherwise every write is undone and
//!   the command says why.
//! - **record**: the tenant's last-applied record gains the live value at each pointer. A
//!   tenant promote never applied has no record to add to: adopt refuses it (apply it first),
//!   rather than write a partial record that would make `drift` vouch for the rest.
//!
//! Refused, each with its reason, before anything is written: a pointer that is not a JSON
//! pointer or names the whole tenant, the platform's material or a credential, a key that
//! cannot name a file (empty, or too long for a file system: `..` and `/` are written encoded, inside the directory, by [`crate::keys`]), a path the platform does not hold, and one the repository
//! already has. The caller holds the environment's lock (the state is written).

mod insert;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::baseline::Live;
use crate::credentials::{self, Scope};
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::export;
use crate::layout;
use crate::patch::pointer;
use crate::pipeline::Project;
use crate::prepare::Desired;
use crate::render::{self, Templates};
use crate::source::RepoFiles;
use crate::state::{self, AppliedRecord};
use crate::templatize::Substitutions;
use promote_platform::material;

/// A file adopt wrote, as `templates/...` relative to the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    pub file: String,
    /// Whether the file is new (else lines were inserted into it).
    pub created: bool,
    /// The first and last line written (1-based).
    pub lines: (usize, usize),
}

/// A pointer taken in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adopted {
    pub pointer: String,
    pub written: Vec<Written>,
}

/// A pointer refused, with why, and for a place that could not take the lines, the YAML to
/// paste by hand and where.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub pointer: String,
    pub error: Diagnostic,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paste: Option<Paste>,
}

/// YAML to paste by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paste {
    /// The file, as `templates/...`.
    pub file: String,
    /// Where in it ("under `metadata:` (line 12)").
    pub place: String,
    pub yaml: String,
}

/// What `promote adopt` did: what `--output json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub env: String,
    pub tenant: String,
    pub id: String,
    pub adopted: Vec<Adopted>,
    pub refused: Vec<Refused>,
    /// Whether the last-applied record was updated.
    pub recorded: bool,
    /// The other tenants rendered from the same template, as `env/tenant`: their next plan
    /// adds what was adopted.
    pub also_used_by: Vec<String>,
}

impl Report {
    /// The line that names the template's other users, when it has some: "the template is
    /// also used by staging/acme: their next plan adds this".
    pub fn also_used_line(&self) -> Option<String> {
        if self.also_used_by.is_empty() {
            return None;
        }
        let users: Vec<&str> = self.also_used_by.iter().map(String::as_str).collect();
        Some(format!(
            "the template is also used by {}: their next plan adds this",
            export::first_of(&users, 10)
        ))
    }
}

/// What `-v` logs when a tenant's adoption ends.
impl crate::activity::Outcome for Result<Report, Vec<Diagnostic>> {
    fn outcome(&self) -> String {
        match self {
            Ok(r) => format!(
                "adopted {} path(s), refused {}",
                r.adopted.len(),
                r.refused.len()
            ),
            Err(problems) => crate::activity::failed(problems),
        }
    }
}

/// Adopts `pointers` of tenant `t` of `project` from `live` into the templates of the work tree
/// at `repo` (values equal to the tenant's ID or a variable written as that expression, unless
/// `literal`), and records them as applied. Refused pointers are in the report; an error is
/// returned when nothing could be checked (the tenant cannot be rendered or exported, it was
/// never applied) or the files written did not render back (they are then undone).
pub fn run(
    repo: &Path,
    project: &Project,
    live: &Live,
    t: &Tenant,
    pointers: &[String],
    literal: bool,
) -> Result<Report, Vec<Diagnostic>> {
    let env = &project.env.name;
    let at = |d: Diagnostic| d.context(env, Some(&t.key));
    let Some(last) = live.last_applied(t)? else {
        return Err(vec![at(Diagnostic::new(format!(
            "tenant `{}` was never applied by promote: there is no last-applied record to adopt into",
            t.key
        ))
        .hint(format!(
            "apply it first (`promote apply --env {env} --tenant {}`), then adopt what only the platform has; or bring a whole tenant in with `promote export --templatize`",
            project.name_of(t)
        )))]);
    };
    let mut live_tree = live.export(t)?;
    export::clean(&mut live_tree, false);
    let mut desired = Desired::render(project, t, true)?.tree;
    material::strip(&mut desired, Scope::Tenant);
    let context = render::context(&project.env, t);
    let subs = if literal {
        Substitutions::literal(context)
    } else {
        Substitutions::new(context)
    };
    let mut work = Work {
        dir: format!("templates/{}", t.template),
        sources: &project.files.templates,
        template: &t.template,
        edits: BTreeMap::new(),
        tree: desired,
    };
    let mut report = Report {
        version: 1,
        env: env.clone(),
        tenant: t.key.clone(),
        id: t.id.clone(),
        adopted: Vec::new(),
        refused: Vec::new(),
        recorded: false,
        also_used_by: Vec::new(),
    };
    for p in pointers {
        let refused = |error: Diagnostic, paste| Refused {
            pointer: p.clone(),
            error: at(error.pointer(p.clone())),
            paste,
        };
        let segments = match check(p, &work.tree, &live_tree) {
            Ok(s) => s,
            Err(e) => {
                report.refused.push(refused(e, None));
                continue;
            }
        };
        let value = live_tree.pointer(p).cloned().unwrap_or(Value::Null);
        // A credential this process knows (the platform client's secret) in a field that does
        // not say so: never written into the repository.
        if crate::scrub::holds_known(&value.to_string()) {
            report.refused.push(refused(
                Diagnostic::new("the platform's value there holds a credential promote knows (the platform client's secret, or a secret() value): it is not written into the repository")
                    .hint("remove the credential from the platform, then adopt again"),
                None,
            ));
            continue;
        }
        match work.adopt(&segments, value, &subs) {
            Ok(written) => report.adopted.push(Adopted {
                pointer: p.clone(),
                written,
            }),
            Err((e, paste)) => report.refused.push(refused(e, paste)),
        }
    }
    if report.adopted.is_empty() {
        return Ok(report);
    }
    let templates_dir = repo.join("templates");
    let undo = work.write(&templates_dir).map_err(|e| vec![at(e)])?;
    if let Err(e) = rendered_back(repo, env, t, &work.tree) {
        undo.run(&templates_dir);
        return Err(vec![at(e.hint(
            "nothing was written: adopt the object whole, or write the lines by hand",
        ))]);
    }
    let mut tree = last.tree;
    for a in &report.adopted {
        let segments = pointer::parse(&a.pointer).unwrap_or_default();
        crate::apply::put(&mut tree, &segments, live_tree.pointer(&a.pointer).cloned());
    }
    let record = AppliedRecord {
        tree,
        source: last.source,
    };
    let mut recorder = state::Recorder::new(repo, env).map_err(|e| vec![at(e)])?;
    recorder
        .add(&t.key, &record.encode())
        .map_err(|e| vec![at(e)])?;
    let adopted: Vec<String> = report.adopted.iter().map(|a| a.pointer.clone()).collect();
    recorder
        .commit(&message(env, &t.key, &adopted), false)
        .map_err(|e| vec![at(e)])?;
    report.recorded = true;
    report.also_used_by = other_users(&project.templates, &t.template, env, &t.key);
    Ok(report)
}

/// The state commit's message: what was adopted, then the environment's trailer.
fn message(env: &str, key: &str, pointers: &[String]) -> String {
    format!(
        "adopt {env}: {key}, {} path(s)\n\n{}\n\n{}: {env}\n",
        pointers.len(),
        pointers.join("\n"),
        state::history::ENVIRONMENT_TRAILER
    )
}

/// Returns the segments of pointer `p` if it may be adopted into `tree` (the desired tree, with
/// what was adopted so far) from `live` (cleaned).
fn check(p: &str, tree: &Value, live: &Value) -> Result<Vec<String>, Diagnostic> {
    let segments = pointer::parse(p).map_err(|e| {
        Diagnostic::new(format!("`{p}` is not a JSON pointer: {e}"))
            .hint("a pointer into the tenant's tree, e.g. /servers/default/clients/hotfix")
    })?;
    if segments.is_empty() {
        return Err(Diagnostic::new("the pointer names the whole tenant")
            .hint("name objects or fields inside it; `promote export --templatize` brings a whole tenant in"));
    }
    if let Some(m) = material::covering(p, Scope::Tenant) {
        return Err(Diagnostic::new(format!(
            "`{p}` is the platform's own material: never written into templates"
        ))
        .hint(m.why));
    }
    if is_credential(&segments) {
        return Err(Diagnostic::new(format!(
            "`{p}` is a credential: it never goes into git"
        ))
        .hint("name it in the template with {{ secret(\"NAME\") }} and supply the value at apply time"));
    }
    if let Some(bad) = segments.iter().find(|s| crate::keys::dir_name(s).is_err()) {
        return Err(Diagnostic::new(format!(
            "the key {} cannot name a file inside the template directory",
            crate::diagnostic::quoted(bad)
        ))
        .hint("rename it on the platform first"));
    }
    if live.pointer(p).is_none() {
        return Err(Diagnostic::new(format!(
            "the platform holds nothing at `{p}` (or only what templates never hold: volatile timestamps)"
        ))
        .hint("`promote drift` lists what only the platform has, with the adopt command that takes it in"));
    }
    if tree.pointer(p).is_some() {
        return Err(Diagnostic::new(format!(
            "the repository already has `{p}`"
        ))
        .hint("`promote plan` shows how it differs from the platform; change the template to keep the platform's value"));
    }
    // The deepest place the repository has on the way must be a map to add to.
    for n in (0..segments.len()).rev() {
        if let Some(v) = tree.pointer(&pointer::from_keys(&segments[..n])) {
            if !v.is_object() {
                return Err(Diagnostic::new(format!(
                    "the repository has {} at `{}`, not a map",
                    layout::kind(v),
                    pointer::from_keys(&segments[..n])
                ))
                .hint("`promote plan` shows how it differs from the platform"));
            }
            break;
        }
    }
    Ok(segments)
}

/// Whether a credential field is at or above the path `segments` (by the credentials' own
/// patterns: a client whose ID is `secret` is no credential).
fn is_credential(segments: &[String]) -> bool {
    let mut probe = Value::Object(serde_json::Map::new());
    crate::apply::put(&mut probe, segments, Some(Value::String("x".into())));
    let at = pointer::from_keys(segments);
    let mut found = false;
    credentials::for_each(&probe, Scope::Tenant, |field, _| {
        found |= at == field || at.starts_with(&format!("{field}/"));
    });
    found
}

/// The adoption in progress: the files changed so far (in memory) and the tree they render to.
struct Work<'a> {
    /// `templates/<template>`, for messages.
    dir: String,
    /// The repository's templates, by path under `templates/`.
    sources: &'a BTreeMap<String, String>,
    template: &'a str,
    /// Path relative to the template directory → (created, new text).
    edits: BTreeMap<String, (bool, String)>,
    /// The desired tree with what was adopted so far.
    tree: Value,
}

impl Work<'_> {
    /// The current text of `rel` in the template directory (with this run's edits).
    fn text(&self, rel: &str) -> Option<&str> {
        match self.edits.get(rel) {
            Some((_, text)) => Some(text),
            None => self
                .sources
                .get(&format!("{}/{rel}", self.template))
                .map(String::as_str),
        }
    }

    fn shown(&self, rel: &str) -> String {
        format!("{}/{rel}", self.dir)
    }

    /// Adds `value` at `segments` to the files and the tree; returns what it wrote.
    fn adopt(
        &mut self,
        segments: &[String],
        value: Value,
        subs: &Substitutions,
    ) -> Result<Vec<Written>, (Diagnostic, Option<Paste>)> {
        let plain = |d: Diagnostic| (d, None);
        let mut after = self.tree.clone();
        crate::apply::put(&mut after, segments, Some(value.clone()));
        let before: BTreeMap<String, String> = layout::write(&layout::TENANT, &self.tree)
            .map_err(plain)?
            .into_iter()
            .collect();
        let laid_out = layout::write(&layout::TENANT, &after).map_err(plain)?;
        let changed: Vec<&String> = laid_out
            .iter()
            .filter(|(path, text)| before.get(path) != Some(text))
            .map(|(path, _)| path)
            .collect();
        let (new, existing): (Vec<&String>, Vec<&String>) =
            changed.into_iter().partition(|p| !before.contains_key(*p));
        let mut written = Vec::new();
        let mut edits = Vec::new();
        if !new.is_empty() {
            let templated: BTreeMap<String, String> = export::files(&after, Some(subs))
                .map_err(plain)?
                .into_iter()
                .collect();
            for rel in new {
                if self.text(rel).is_some() {
                    return Err(plain(Diagnostic::new(format!(
                        "{} exists (its entry renders to nothing for this tenant): adopt never overwrites a file",
                        self.shown(rel)
                    ))));
                }
                let text = templated[rel].clone();
                written.push(Written {
                    file: self.shown(rel),
                    created: true,
                    lines: (1, text.lines().count()),
                });
                edits.push((rel.clone(), (true, text)));
            }
        }
        match existing.as_slice() {
            [] => {}
            [rel] => {
                let (file, used) = layout::file_of(&layout::TENANT, &after, segments);
                if file != **rel || used >= segments.len() || !rel.ends_with(".yaml") {
                    return Err(plain(Diagnostic::new(format!(
                        "adopting it would change {} in a way adopt does not write",
                        self.shown(rel)
                    ))));
                }
                let keys = &segments[used..];
                // The deepest key the file already has; the rest is the new snippet.
                let have = (0..keys.len())
                    .rev()
                    .find(|n| {
                        self.tree
                            .pointer(&pointer::from_keys(&segments[..used + n]))
                            .is_some()
                    })
                    .unwrap_or(0);
                let mut snippet_value = value;
                for key in keys[have + 1..].iter().rev() {
                    snippet_value = serde_json::json!({ key.as_str(): snippet_value });
                }
                let snippet = export::yaml_template(
                    &serde_json::json!({ keys[have].as_str(): snippet_value }),
                    subs,
                );
                let parent: Vec<&str> = keys[..have].iter().map(String::as_str).collect();
                let Some(text) = self.text(rel) else {
                    return Err(plain(Diagnostic::new(format!(
                        "{} is not a file of the template",
                        self.shown(rel)
                    ))));
                };
                match insert::insert(text, &parent, &snippet) {
                    Ok(done) => {
                        let created = self.edits.get(*rel).is_some_and(|(c, _)| *c);
                        written.push(Written {
                            file: self.shown(rel),
                            created,
                            lines: done.lines,
                        });
                        edits.push(((*rel).clone(), (created, done.text)));
                    }
                    Err(refusal) => {
                        let d = Diagnostic::new(format!(
                            "cannot insert it into {} safely: {}",
                            self.shown(rel),
                            refusal.reason
                        ))
                        .hint("paste the YAML shown below there by hand, then run adopt again to record it");
                        return Err((
                            d,
                            Some(Paste {
                                file: self.shown(rel),
                                place: refusal.place,
                                yaml: snippet,
                            }),
                        ));
                    }
                }
            }
            several => {
                let names: Vec<String> = several.iter().map(|r| self.shown(r)).collect();
                return Err(plain(Diagnostic::new(format!(
                    "adopting it would change several existing files ({}): adopt only adds files or lines",
                    names.join(", ")
                ))));
            }
        }
        self.edits.extend(edits);
        self.tree = after;
        Ok(written)
    }

    /// Writes the edits under `templates`; returns how to undo them.
    fn write(&self, templates: &Path) -> Result<Undo, Diagnostic> {
        let mut undo = Undo::default();
        for (rel, (created, text)) in &self.edits {
            let rel = format!("{}/{rel}", self.template);
            let old = if *created {
                None
            } else {
                self.sources.get(&rel).cloned()
            };
            let mode = crate::files::WriteMode::COPY;
            let result = match &old {
                None => crate::files::create_under(templates, &rel, text.as_bytes(), mode),
                Some(_) => crate::files::write_under(templates, &rel, text.as_bytes(), mode),
            };
            if let Err(e) = result {
                undo.run(templates);
                return Err(Diagnostic::new(format!(
                    "cannot write templates/{rel}: {e}; nothing was written"
                )));
            }
            undo.files.push((rel, old));
        }
        Ok(undo)
    }
}

/// How to take back the files adopt wrote.
#[derive(Debug, Default)]
struct Undo {
    /// Path under `templates/`, and its text before (None: adopt created it).
    files: Vec<(String, Option<String>)>,
}

impl Undo {
    fn run(&self, templates: &Path) {
        for (rel, old) in self.files.iter().rev() {
            let Ok(path) = crate::files::inside(templates, rel) else {
                continue;
            };
            match old {
                Some(text) => {
                    let _ = crate::files::write_under(
                        templates,
                        rel,
                        text.as_bytes(),
                        crate::files::WriteMode::COPY,
                    );
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                    // The directories it made, if now empty.
                    let mut parent = path.parent();
                    while let Some(p) = parent.filter(|p| *p != templates) {
                        if std::fs::remove_dir(p).is_err() {
                            break;
                        }
                        parent = p.parent();
                    }
                }
            }
        }
    }
}

/// Renders tenant `t` of `env` from the work tree at `repo` again and checks that it gives
/// exactly `expected`.
fn rendered_back(repo: &Path, env: &str, t: &Tenant, expected: &Value) -> Result<(), Diagnostic> {
    let failed = |ds: Vec<Diagnostic>| {
        let first = ds
            .into_iter()
            .next()
            .map(|d| d.to_string())
            .unwrap_or_default();
        Diagnostic::new(format!(
            "the templates written do not render: {first}; they were undone"
        ))
    };
    let files = RepoFiles::from_work_tree(repo).map_err(failed)?;
    let project = Project::open(&files, env).map_err(failed)?;
    let tenant = project
        .tenants
        .iter()
        .find(|x| x.key == t.key)
        .ok_or_else(|| Diagnostic::new("the tenant is gone from the environment"))?;
    let mut tree = Desired::render(&project, tenant, true)
        .map_err(failed)?
        .tree;
    material::strip(&mut tree, Scope::Tenant);
    if tree == *expected {
        return Ok(());
    }
    let mut differ = Vec::new();
    differences(expected, &tree, "", &mut differ);
    Err(Diagnostic::new(format!(
        "the templates written render differently from the platform's value at {}; they were undone",
        differ
            .iter()
            .take(5)
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The pointers where `a` and `b` differ (at most a few dozen), into `out`.
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    if out.len() >= 20 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let here = pointer::join(at, key);
                match (x.get(key), y.get(key)) {
                    (Some(v), Some(w)) => differences(v, w, &here, out),
                    _ => out.push(here),
                }
            }
        }
        _ => out.push(if at.is_empty() { "/".into() } else { at.into() }),
    }
}

/// The tenants of every environment but `env`/`key` rendered from template `template`, as
/// `env/tenant`. Environments that do not load are passed over.
fn other_users(templates: &Arc<Templates>, template: &str, env: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for name in templates.files().environments.keys() {
        let Ok(project) = Project::load(templates, name) else {
            continue;
        };
        for t in &project.tenants {
            if t.template == template && !(name == env && t.key == key) {
                out.push(format!("{name}/{}", t.key));
            }
        }
    }
    out
}

/// Returns the `promote adopt` command that takes `pointers` of tenant `tenant` of `env` in,
/// each word quoted for a POSIX shell where it needs it.
pub fn command(env: &str, tenant: &str, pointers: &[&str]) -> String {
    let mut words = vec![
        "promote".to_owned(),
        "adopt".to_owned(),
        "--env".to_owned(),
        shell_word(env),
        "--tenant".to_owned(),
        shell_word(tenant),
    ];
    words.extend(pointers.iter().map(|p| shell_word(p)));
    words.join(" ")
}

/// `word` as one word of a POSIX shell: as it is when it holds only safe characters; in single
/// quotes (a `'` inside written `'\''`) when it holds only printable ones; else in `$'...'`
/// quotes with every other character escaped (`\n`, `\x1b`, `\u2028`), so that the command
/// names the key it means and printing it cannot start a line or move the terminal.
fn shell_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c));
    if safe {
        return word.to_owned();
    }
    // Bidirectional controls, line and paragraph separators (as messages escape them) and the
    // byte order mark move text in a terminal or a log as control characters do.
    let printable = |c: char| !c.is_control() && !crate::diagnostic::is_invisible_or_reordering(c);
    if word.chars().all(printable) {
        return format!("'{}'", word.replace('\'', "'\\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{:04x}", c as u32)),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_are_quoted_for_a_shell() {
        assert_eq!(
            command("prod", "acme", &["/servers/default/clients/hotfix"]),
            "promote adopt --env prod --tenant acme /servers/default/clients/hotfix"
        );
        assert_eq!(
            command("prod", "a b", &["/servers/w/clients/it's", "/x~1y"]),
            "promote adopt --env prod --tenant 'a b' '/servers/w/clients/it'\\''s' '/x~1y'"
        );
        // From the attacker's try: a key with a new line, a CI command, escapes and a carriage
        // return is written so that it names that key and prints on one line.
        assert_eq!(
            shell_word("/m/q\n::error x::f\u{1b}[31m\rz'\\\u{2028}é"),
            "$'/m/q\\n::error x::f\\x1b[31m\\rz\\'\\\\\\u2028é'"
        );
    }

    #[test]
    fn undoing_puts_files_back_and_removes_what_adopt_created() {
        let dir = tempfile::tempdir().unwrap();
        let templates = dir.path();
        std::fs::create_dir_all(templates.join("acme/clients")).unwrap();
        std::fs::write(templates.join("acme/clients/web.yaml"), "edited\n").unwrap();
        std::fs::create_dir_all(templates.join("acme/workspaces/new/clients")).unwrap();
        std::fs::write(templates.join("acme/workspaces/new/clients/c.yaml"), "{}\n").unwrap();
        let undo = Undo {
            files: vec![
                (
                    "acme/clients/web.yaml".into(),
                    Some("# mine\nname: web\n".into()),
                ),
                ("acme/workspaces/new/clients/c.yaml".into(), None),
            ],
        };
        undo.run(templates);
        assert_eq!(
            std::fs::read_to_string(templates.join("acme/clients/web.yaml")).unwrap(),
            "# mine\nname: web\n"
        );
        assert!(!templates.join("acme/workspaces").exists());
        assert!(templates.join("acme/clients").is_dir());
    }

    #[test]
    fn pointers_that_cannot_be_adopted_are_refused_with_why() {
        let live = json!({"servers": {"w": {"clients": {"c": {"client_name": "C", "metadata": {"o": 1}}, "": {}}}}});
        let tree = json!({"servers": {"w": {"clients": {"c": {"client_name": "C"}}}}});
        let refused = |p: &str| format!("{:#}", check(p, &tree, &live).unwrap_err());
        assert!(refused("servers").contains("not a JSON pointer"));
        assert!(refused("").contains("whole tenant"));
        assert!(refused("/servers/w/clients/c/client_secret").contains("credential"));
        assert!(refused("/jwks").contains("material"));
        assert!(refused("/servers/w/idps/i/credentials/client_secret").contains("credential"));
        assert!(refused("/servers/w/webhooks/h/api_key").contains("credential"));
        let named = json!({"servers": {"w": {"clients": {"secret": {"client_name": "S"}}}}});
        assert!(check("/servers/w/clients/secret", &tree, &named).is_ok());
        assert!(refused("/servers/w/clients/").contains("cannot name a file"));
        assert!(refused("/servers/w/clients/d").contains("holds nothing"));
        assert!(refused("/servers/w/clients/c/client_name").contains("already has"));
        assert!(check("/servers/w/clients/c/metadata/o", &tree, &live).is_ok());
        // `..` and `/` in an ID are written encoded (`%2E.`, `%2F`): inside the directory.
        let dots = json!({"servers": {"w": {"clients": {"..": {}, "a/b": {}}}}});
        assert!(check("/servers/w/clients/..", &tree, &dots).is_ok());
        assert!(check("/servers/w/clients/a~1b", &tree, &dots).is_ok());
        let scalar = json!({"servers": {"w": {"clients": {"c": {"metadata": "x"}}}}});
        assert!(format!(
            "{:#}",
            check("/servers/w/clients/c/metadata/o", &scalar, &live).unwrap_err()
        )
        .contains("not a map"));
    }
}
