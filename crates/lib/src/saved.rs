//! Saved plans: the plan file `promote plan --save` writes and `promote apply --plan` applies.
//!
//! A plan file is one JSON document: the environment, the commit it was planned from (and the
//! git trees of its configuration, so that a merge commit with the same configuration is
//! recognised), the mode, and per tenant with something to send exactly what is sent: an RFC
//! 6902 patch that starts with `test` ops on every value it changes or relies on, the
//! workspaces it imports, and what it assumes of the platform ([`Assumption`]: a value by
//! digest, or that a path is absent where RFC 6902 cannot test it). Apply checks every
//! assumption against a fresh export before it sends anything to a tenant, and refuses a
//! tenant whose platform moved; it never plans again.
//!
//! The file holds no credential value: where apply supplies a `secret()` credential (objects it
//! creates), the file holds the repository's marker (`<secret:NAME>`), resolved at apply time
//! from the same place `promote apply` reads it. The exports the plan is made from carry no
//! credentials, and the platform's material is left out as everywhere else.
//!
//! What is recorded as last applied is the desired tree rendered again from the plan's commit,
//! checked against the digest the file holds ([`SavedChange::desired_sha1`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credentials::Scope;
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::ignore::Ignore;
use crate::patch::three_way::{self, Change, Conflict, DriftPolicy, Mode};
use crate::patch::{ops, pointer, Patch};
use crate::pipeline::Project;
use crate::plan::{Counts, Status, TenantPlan};
use crate::prepare::{Desired, PreparedPlan, Sending};
use promote_platform::material;

/// The `kind` of a plan file.
pub const KIND: &str = "promote-plan";

/// The version of the plan file's shape.
pub const VERSION: u32 = 1;

/// A saved plan: what `plan --save` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Always [`KIND`].
    pub kind: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The environment planned.
    pub env: String,
    /// The commit the plan was made from (HEAD when planned).
    pub commit: String,
    /// The git trees of the commit's configuration ([`config_tree`]).
    pub config_tree: String,
    /// How conflicts were resolved: `update`, `ignore` or `fail`.
    pub mode: String,
    /// What the plan did where only the platform changed a path (`--drift`); `restore` when
    /// absent.
    #[serde(default)]
    pub drift: DriftPolicy,
    /// When the plan was made (RFC 3339, UTC).
    pub created: String,
    /// Whether every tenant of the environment was planned (no `--tenant` selection).
    pub complete: bool,
    /// Every tenant planned, in tenant order.
    pub tenants: Vec<SavedTenant>,
}

/// How a plan file stands to the commit it is applied at ([`PlanFile::fit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// It is the plan's commit.
    SameCommit,
    /// Another commit with the same configuration (a merge of the reviewed change).
    SameConfiguration,
    /// Another configuration.
    Other,
}

/// One tenant of a plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedTenant {
    pub key: String,
    pub id: String,
    /// What is sent; absent when the tenant had nothing to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<SavedChange>,
}

/// What a plan file sends to one tenant, and what it assumes of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedChange {
    pub template: String,
    pub status: Status,
    pub counts: Counts,
    /// The planned changes, redacted as a report shows them (apply checks them after sending).
    pub changes: Vec<Change>,
    /// The conflicts found, redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// The conflicts `--mode ignore` left as the platform holds them, redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Conflict>,
    /// Where the patch carries a `secret()` marker that apply resolves (pointers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// What the platform must hold for the patch to apply as planned.
    pub assumes: Vec<Assumption>,
    /// The RFC 6902 patch, `test` ops first; credentials as `secret()` markers.
    pub patch: Vec<Value>,
    /// The workspaces created by import after the patch, by ID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workspaces: BTreeMap<String, Value>,
    /// A digest (SHA-1, hex) of the desired tree the plan was made from.
    pub desired_sha1: String,
    /// Where `--mode ignore` kept the platform's value: the last-applied value recorded there
    /// (`null`: absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Kept>,
}

/// What a plan assumes the platform holds at one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assumption {
    pub path: String,
    /// `sha1:<hex>` of the value the plan was made against, `absent`, or `present` (a map
    /// the patch adds to).
    pub holds: String,
}

/// A conflict `--mode ignore` skipped: what the last-applied record keeps at its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    pub path: String,
    pub last_applied: Option<Value>,
}

/// A path the platform changed since the plan was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub path: String,
    /// What the platform held when the plan was made, redacted (`None`: absent, or a map
    /// where [`Moved::was_map`]).
    pub was: Option<Value>,
    /// Whether the plan relied only on a map being there (the parent of a value it adds).
    pub was_map: bool,
    /// What the platform holds now, redacted (`None`: absent).
    pub now: Option<Value>,
}

/// [`Assumption::holds`] of a path the platform must not have.
const ABSENT: &str = "absent";
/// [`Assumption::holds`] of a map the platform must have (the parent of an added value).
const PRESENT: &str = "present";

impl PlanFile {
    /// Reads and checks the plan file at `path`.
    ///
    /// # Errors
    /// A file that cannot be read, is not a plan file, or is of another version; each names
    /// the file.
    pub fn read(path: &Path) -> Result<PlanFile, Diagnostic> {
        let shown = path.display();
        let bytes = std::fs::read(path)
            .map_err(|e| Diagnostic::new(format!("cannot read the plan file {shown}: {e}")))?;
        let not_a_plan = |why: String| {
            Diagnostic::new(format!("{shown} is not a promote plan file: {why}"))
                .hint("give the file `promote plan --save FILE` wrote")
        };
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| not_a_plan(e.to_string()))?;
        if json.get("kind").and_then(Value::as_str) != Some(KIND) {
            return Err(not_a_plan(format!("its `kind` is not `{KIND}`")));
        }
        let version = json.get("version").and_then(Value::as_u64);
        if version != Some(u64::from(VERSION)) {
            return Err(Diagnostic::new(format!(
                "the plan file {shown} is of version {}, and this promote reads version {VERSION}",
                version.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
            ))
            .hint("plan again with this promote (`promote plan --save FILE`)"));
        }
        let file: PlanFile = serde_json::from_value(json).map_err(|e| not_a_plan(e.to_string()))?;
        if Mode::parse(&file.mode).is_none() {
            return Err(not_a_plan(format!("unknown mode `{}`", file.mode)));
        }
        Ok(file)
    }

    /// The mode the plan was made with.
    pub fn mode(&self) -> Mode {
        // `read` checked it; a file made here holds a mode's own spelling.
        Mode::parse(&self.mode).unwrap_or(Mode::Update)
    }

    /// Writes the plan file to `path` (it holds no credential: a CI artifact may keep it).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), Diagnostic> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Diagnostic::new(format!("cannot write the plan file: {e}")))?;
        bytes.push(b'\n');
        // The patch holds the platform's values as they are (its `test` ops must match them):
        // where the platform holds a credential this process knows in a field that does not
        // say so (the client secret echoed into `metadata`), the file is not written.
        if crate::scrub::holds_known(&String::from_utf8_lossy(&bytes)) {
            return Err(Diagnostic::new(format!(
                "the plan was not saved to {}: a value the plan relies on holds a credential (the platform client's secret or a secret() value) in a field that is not a credential field",
                path.display()
            ))
            .hint("find it with `promote plan --output json` (shown as <redacted>), remove it from the platform, and plan again"));
        }
        std::fs::write(path, bytes).map_err(|e| {
            Diagnostic::new(format!(
                "cannot write the plan file {}: {e}",
                path.display()
            ))
        })
    }

    /// The tenants of `project` (loaded from the plan's commit, or from one with the same
    /// configuration) that the plan names, in the plan's order.
    ///
    /// # Errors
    /// A tenant the project does not have, one named twice, or one whose ID is not the
    /// project's: the file was edited.
    pub fn select<'p>(&self, project: &'p Project<'_>) -> Result<Vec<&'p Tenant>, Vec<Diagnostic>> {
        let mut out: Vec<&Tenant> = Vec::with_capacity(self.tenants.len());
        for saved in &self.tenants {
            let found = project.tenants.iter().find(|t| t.key == saved.key);
            match found {
                Some(t) if t.id == saved.id && !out.iter().any(|o| o.key == t.key) => out.push(t),
                _ => {
                    return Err(vec![Diagnostic::new(format!(
                        "the plan of `{}` names tenant `{}` ({}), which its commit does not have as such (or names it twice)",
                        self.env,
                        crate::diagnostic::quoted(&saved.key),
                        crate::diagnostic::quoted(&saved.id)
                    ))
                    .hint("the plan file was edited: plan again with `promote plan --save`")])
                }
            }
        }
        Ok(out)
    }

    /// The current time as [`PlanFile::created`] holds it.
    pub fn now() -> String {
        crate::clock::rfc3339(crate::clock::now())
    }

    /// Refuses this plan, read from `path`, for environment `env` when it is another
    /// environment's.
    ///
    /// # Errors
    /// The plan is of another environment.
    pub fn check_env(&self, path: &Path, env: &str) -> Result<(), Diagnostic> {
        if self.env == env {
            return Ok(());
        }
        Err(Diagnostic::new(format!(
            "the plan file {} is a plan of environment `{}`, not `{env}`",
            path.display(),
            crate::diagnostic::quoted(&self.env)
        )))
    }

    /// How this plan stands to commit `head`, whose configuration trees `head_tree` gives
    /// (asked only when `head` is not the plan's commit).
    pub fn fit(&self, head: &str, head_tree: impl FnOnce() -> Option<String>) -> Fit {
        if head == self.commit {
            Fit::SameCommit
        } else if head_tree().is_some_and(|t| t == self.config_tree) {
            Fit::SameConfiguration
        } else {
            Fit::Other
        }
    }

    /// The plan's commit as messages show it: its first 12 digits (the file is anyone's to
    /// edit: a commit that is not one is shown as a word, never as it is).
    pub fn short_commit(&self) -> String {
        crate::state::short_source(&self.commit)
    }

    /// The plan of `tenants` of environment `env`, made now from `commit` of the repository at
    /// `repo` with `policy`; `complete` when every tenant the run could change was planned.
    ///
    /// # Errors
    /// The commit's configuration trees cannot be read.
    pub fn new(
        repo: &Path,
        env: &str,
        commit: String,
        (mode, drift): (Mode, DriftPolicy),
        complete: bool,
        tenants: Vec<SavedTenant>,
    ) -> Result<PlanFile, Diagnostic> {
        Ok(PlanFile {
            kind: KIND.into(),
            version: VERSION,
            env: env.to_owned(),
            config_tree: config_tree(repo, &commit)?,
            commit,
            mode: mode.as_str().into(),
            drift,
            created: PlanFile::now(),
            complete,
            tenants,
        })
    }
}

impl SavedChange {
    /// What `prepared` (made against `live`, with `secret()` markers supplied instead of
    /// values) sends, as a plan file holds it; `None` when it sends nothing. What the tenant's
    /// `ignore` rules name is neither tested nor assumed: another system owns it, and may
    /// change it between plan and apply (a client removed whole goes with it).
    pub(crate) fn new(
        prepared: &PreparedPlan,
        live: &Value,
        ignore: &Ignore,
    ) -> Option<SavedChange> {
        if prepared.sending.is_empty() {
            return None;
        }
        let whole = material::without(live, Scope::Tenant);
        let mut live = whole.clone().into_owned();
        ignore.strip(&mut live);
        let mut after = live.clone();
        // The patch was made against this very tree (`prepare` leaves the ignored paths out
        // too): it applies. Were it to test one, it is made against the tree as read.
        if prepared.sending.patch.apply(&mut after).is_err() {
            live = whole.into_owned();
            after = live.clone();
            let _ = prepared.sending.patch.apply(&mut after);
        }
        let diff = ops::diff(&live, &after, true);
        let mut patch = Vec::new();
        let mut assumes = Vec::new();
        for op in Patch::Ops(diff).to_json().as_array().into_iter().flatten() {
            let path = op["path"].as_str().unwrap_or_default().to_owned();
            match op["op"].as_str() {
                Some("test") => {
                    for (at, value) in leaves(&path, &op["value"]) {
                        assumes.push(Assumption {
                            path: at.clone(),
                            holds: format!("sha1:{}", hex_digest(value)),
                        });
                        patch.push(serde_json::json!({"op": "test", "path": at, "value": value}));
                    }
                }
                Some("add") => {
                    let parent = path[..path.rfind('/').unwrap_or(0)].to_owned();
                    if !parent.is_empty() && !assumes.iter().any(|a| a.path == parent) {
                        assumes.push(Assumption {
                            path: parent,
                            holds: PRESENT.into(),
                        });
                    }
                    assumes.push(Assumption {
                        path,
                        holds: ABSENT.into(),
                    });
                    patch.push(op.clone());
                }
                _ => patch.push(op.clone()),
            }
        }
        for (wid, _) in &prepared.sending.workspaces {
            assumes.push(Assumption {
                path: pointer::join("/servers", wid),
                holds: ABSENT.into(),
            });
        }
        let report = &prepared.report;
        Some(SavedChange {
            template: report.template.clone(),
            status: report.status,
            counts: report.counts,
            changes: report.changes.clone(),
            conflicts: report.conflicts.clone(),
            skipped: report.skipped.clone(),
            secrets: report.secrets.clone(),
            assumes,
            patch,
            workspaces: prepared.sending.workspaces.iter().cloned().collect(),
            desired_sha1: hex_digest(&prepared.desired.tree),
            kept: prepared
                .plan
                .skipped
                .iter()
                .map(|c| Kept {
                    path: c.path.clone(),
                    last_applied: c.last_applied.clone(),
                })
                .collect(),
        })
    }

    /// The paths the platform changed since the plan was made: where `current` (an export
    /// without credentials) does not hold what the plan assumes.
    pub fn moved(&self, current: &Value) -> Vec<Moved> {
        let current = material::without(current, Scope::Tenant);
        let planned: BTreeMap<&str, &Value> = self
            .patch
            .iter()
            .filter(|op| op["op"] == "test")
            .filter_map(|op| Some((op["path"].as_str()?, op.get("value")?)))
            .collect();
        let mut moved = Vec::new();
        for a in &self.assumes {
            let now = current.pointer(&a.path);
            let holds = if a.holds == ABSENT {
                now.is_none()
            } else if a.holds == PRESENT {
                now.is_some_and(Value::is_object)
            } else {
                now.is_some_and(|v| a.holds == format!("sha1:{}", hex_digest(v)))
            };
            if !holds {
                let redacted = |v: Option<&Value>| crate::plan::redact_value(&a.path, v.cloned());
                moved.push(Moved {
                    path: a.path.clone(),
                    was: match a.holds.as_str() {
                        PRESENT | ABSENT => None,
                        _ => redacted(planned.get(a.path.as_str()).copied()),
                    },
                    was_map: a.holds == PRESENT,
                    now: redacted(now),
                });
            }
        }
        moved
    }

    /// Whether the platform already holds what the plan sends: `current` (an export without
    /// credentials) has every value the patch adds or replaces as planned (credentials and
    /// `secret()` markers' places left out: an export carries neither), none of the paths it
    /// removes, and every workspace it imports as planned. An earlier run of the same plan, or
    /// a colleague who made the same change by hand, leaves a tenant so.
    pub fn already_applied(&self, current: &Value) -> bool {
        let current = material::without(current, Scope::Tenant);
        verify::written(self).is_ok_and(|written| {
            written
                .iter()
                .all(|w| match (w.op, &w.value, current.pointer(&w.path)) {
                    ("remove", _, now) => now.is_none(),
                    (_, Some(want), Some(has)) => same_but_markers(want, has),
                    _ => false,
                })
        })
    }

    /// The prepared plan apply sends: the file's patch and workspaces with every `secret()`
    /// marker resolved by `resolve`, its report, and `desired` (rendered again from the plan's
    /// commit) to record.
    ///
    /// # Errors
    /// The patch is not an RFC 6902 patch, or a marker cannot be resolved.
    pub(crate) fn prepared(
        self,
        tenant: &Tenant,
        desired: Desired,
        resolve: impl Fn(&Value) -> Result<Value, Diagnostic>,
    ) -> Result<PreparedPlan, Diagnostic> {
        let ops: Vec<Value> = self.patch.iter().map(&resolve).collect::<Result<_, _>>()?;
        let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops)).map_err(|e| {
            Diagnostic::new(format!(
                "the plan file's patch of tenant `{}` is not an RFC 6902 patch: {e}",
                tenant.key
            ))
        })?;
        let workspaces = self
            .workspaces
            .iter()
            .map(|(wid, ws)| Ok((wid.clone(), resolve(ws)?)))
            .collect::<Result<Vec<_>, Diagnostic>>()?;
        let sending = Sending {
            patch: Patch::Ops(ops),
            workspaces,
        };
        let mut report = TenantPlan::empty(tenant);
        report.status = self.status;
        report.counts = self.counts;
        report.changes = self.changes;
        report.conflicts = self.conflicts.clone();
        report.skipped = self.skipped;
        report.secrets = self.secrets;
        // What a saved plan sends was rendered by the repository: its markers are its own.
        report.patch = Some(sending.redacted(crate::plan::Markers::Shown));
        let skipped = self
            .kept
            .into_iter()
            .map(|k| Conflict {
                path: k.path,
                last_applied: k.last_applied,
                desired: None,
                live: None,
            })
            .collect();
        Ok(PreparedPlan {
            plan: three_way::Plan {
                changes: report.changes.clone(),
                conflicts: self.conflicts,
                skipped,
                kept: Vec::new(),
            },
            report,
            sending,
            desired,
        })
    }
}

/// The commands that plan `keys` (tenants of `env` a saved plan no longer fits) again, to
/// review and apply: `promote plan --env E --tenant T --save FILE`, then `promote apply --plan
/// FILE`. More than a few tenants are named `KEY`.
pub fn plan_again(env: &str, keys: &[&str]) -> String {
    let tenants = if !keys.is_empty() && keys.len() <= 5 {
        keys.iter().map(|k| format!(" --tenant {k}")).collect()
    } else {
        " --tenant KEY".to_owned()
    };
    format!("`promote plan --env {env}{tenants} --save FILE`, then `promote apply --plan FILE`")
}

/// Most characters of a value a refusal shows on its line; longer values are shown as the
/// lines that differ.
const SHORT: usize = 200;

/// The moved paths in words, for an error: `/name (was "a" when planned, now "b")`; where
/// either value is long, the difference as the plan reports show it (a line diff of a long
/// string, the fields of an object that differ), on the lines below.
pub fn moved_text(moved: &[Moved]) -> String {
    use crate::report::lines::{self, Mark};
    moved
        .iter()
        .map(|m| {
            let path = crate::report::path_text(&m.path);
            let shown = |v: &Option<Value>, map: bool| match v {
                Some(v) => lines::value_text(v, lines::Values::Real),
                None if map => "a map".to_owned(),
                None => ABSENT.to_owned(),
            };
            let (was, now) = (shown(&m.was, m.was_map), shown(&m.now, false));
            let (Some(old), Some(new)) = (&m.was, &m.now) else {
                return format!("{path} (was {was} when planned, now {now})");
            };
            if was.chars().count() <= SHORT && now.chars().count() <= SHORT {
                return format!("{path} (was {was} when planned, now {now})");
            }
            let change = Change {
                path: m.path.clone(),
                kind: crate::patch::three_way::ChangeKind::Replace,
                old: Some(old.clone()),
                new: Some(new.clone()),
                reason: crate::patch::three_way::Reason::Desired,
            };
            let mut text = format!("{path} (- as it was when planned, + as it is now):");
            for l in lines::change(&change, lines::Replace::Pair, lines::Values::Real) {
                let mark = match l.mark {
                    Mark::Add => "+ ",
                    Mark::Remove => "- ",
                    Mark::Replace => "~ ",
                    Mark::Note => "! ",
                    Mark::Context | Mark::Hunk => "  ",
                };
                text.push_str(&format!("\n  {}{mark}{}", "  ".repeat(l.depth), l.text));
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `has` is `want`, but where `want` holds a `secret()` marker (whose value the
/// platform holds and an export may not show).
fn same_but_markers(want: &Value, has: &Value) -> bool {
    let marker = |v: &Value| {
        v.as_str()
            .is_some_and(|s| crate::credentials::marker_name(s).is_some())
    };
    match (want, has) {
        (Value::Object(w), Value::Object(h)) => {
            h.keys().all(|k| w.contains_key(k))
                && w.iter().all(|(k, v)| match h.get(k) {
                    Some(hv) => same_but_markers(v, hv),
                    None => marker(v),
                })
        }
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(w, h)| same_but_markers(w, h))
        }
        _ => marker(want) || want == has,
    }
}

/// The leaves of `value` at `at`, by pointer: a test op on a map becomes one test per value
/// under it, so that the platform's credentials (which an export leaves out) are not tested.
fn leaves<'v>(at: &str, value: &'v Value) -> Vec<(String, &'v Value)> {
    match value {
        Value::Object(map) if !map.is_empty() => map
            .iter()
            .flat_map(|(k, v)| leaves(&pointer::join(at, k), v))
            .collect(),
        _ => vec![(at.to_owned(), value)],
    }
}

/// The SHA-1 of `value`'s compact JSON (keys sorted), in hex.
pub(crate) fn hex_digest(value: &Value) -> String {
    use sha1::Digest as _;
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    sha1::Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The git trees of the configuration at `rev` of the repository at `root`: `templates/` and
/// `environments/` (`templates:<id> environments:<id>`). Two commits with the same
/// configuration render the same.
///
/// # Errors
/// `root` is not in a git repository, or `rev` is not a commit of it.
pub fn config_tree(root: &Path, rev: &str) -> Result<String, Diagnostic> {
    let repo = discover(root)?;
    let commit = crate::source::resolve(&repo, rev)?;
    let tree = commit
        .tree()
        .map_err(|e| Diagnostic::new(format!("cannot read commit {rev}: {}", e.message())))?;
    let prefix = crate::source::repo_prefix(&repo, root);
    let ids: Vec<String> = ["templates", "environments"]
        .iter()
        .map(|sub| {
            let id = tree
                .get_path(&prefix.join(sub))
                .map_or_else(|_| "none".to_owned(), |e| e.id().to_string());
            format!("{sub}:{id}")
        })
        .collect();
    Ok(ids.join(" "))
}

/// The git repository `root` is in.
fn discover(root: &Path) -> Result<git2::Repository, Diagnostic> {
    git2::Repository::discover(root).map_err(|e| {
        Diagnostic::new(format!(
            "a saved plan names the commit it was made from, and {} is not in a git repository: {}",
            root.display(),
            e.message()
        ))
    })
}

/// The commit HEAD is at, if the repository at `root` has one.
pub fn head_commit(root: &Path) -> Option<String> {
    let git = git2::Repository::discover(root).ok()?;
    let id = git.head().ok()?.peel_to_commit().ok()?.id();
    Some(id.to_string())
}

/// Refuses a work tree with uncommitted changes under `templates/` or `environments/`: a saved
/// plan names the commit it was made from, and must be what that commit renders.
///
/// # Errors
/// The changed files (the first few), with what to do.
pub fn check_committed(root: &Path) -> Result<(), Diagnostic> {
    let repo = discover(root)?;
    let prefix = crate::source::repo_prefix(&repo, root);
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    for sub in ["templates", "environments"] {
        opts.pathspec(prefix.join(sub));
    }
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(|e| Diagnostic::new(format!("cannot read git status: {}", e.message())))?;
    let mut changed: Vec<String> = statuses
        .iter()
        .filter(|s| !s.status().is_ignored())
        .filter_map(|s| s.path().ok().map(crate::diagnostic::quoted))
        .collect();
    if changed.is_empty() {
        // What git does not list (a file it ignores) is still read from the work tree: what
        // renders must be what the commit holds.
        changed = rendered_files_not_committed(root);
    }
    if changed.is_empty() {
        return Ok(());
    }
    let more = changed.len().saturating_sub(5);
    let mut list = changed[..changed.len().min(5)].join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    Err(Diagnostic::new(format!(
        "the configuration has uncommitted changes ({list}), and a saved plan names the commit it was made from"
    ))
    .hint("commit (or stash) the changes under templates/ and environments/, then plan again"))
}

/// Refuses to write a plan file at `path` inside the configuration of the repository at `root`
/// (`templates/` or `environments/`): it would be read back as configuration (a `.yaml` plan
/// file under a template is a tenant's object) and make the next `plan --save` refuse the
/// uncommitted file.
///
/// # Errors
/// When `path` is inside either directory.
pub fn check_place(root: &Path, path: &Path) -> Result<(), Diagnostic> {
    // The path may not exist yet: its nearest existing ancestor says where it is.
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut resolved = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    resolved.extend(rest.iter().rev());
    for dir in ["templates", "environments"] {
        let Ok(config) = root.join(dir).canonicalize() else {
            continue;
        };
        if resolved.starts_with(&config) {
            return Err(Diagnostic::new(format!(
                "a plan file is not written under {dir}/: {} would be read as configuration",
                path.display()
            ))
            .hint("save it outside the configuration, e.g. under .promote/ (git-ignored) or the CI job's workspace"));
        }
    }
    Ok(())
}

/// The configuration files the work tree at `root` gives the renderer that HEAD does not hold
/// as they are (a file git ignores under `templates/`), as messages name them.
fn rendered_files_not_committed(root: &Path) -> Vec<String> {
    let (Ok(work), Ok(head)) = (
        crate::source::RepoFiles::from_work_tree(root),
        crate::source::RepoFiles::from_revision(root, "HEAD"),
    ) else {
        // Either cannot be read: the plan itself says why.
        return Vec::new();
    };
    let differ =
        |dir: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, ext: &str| {
            a.iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .map(|k| crate::diagnostic::quoted(&format!("{dir}/{k}{ext}")))
                .collect::<Vec<_>>()
        };
    let mut out = differ("templates", &work.templates, &head.templates, "");
    // Environments are held by name.
    out.extend(differ(
        "environments",
        &work.environments,
        &head.environments,
        ".yaml",
    ));
    out
}

pub(crate) mod verify;

#[cfg(test)]
mod tests;
