//! Three-way planning, the heart of `promote plan`, in the manner of `kubectl apply`.
//!
//! Three trees meet: *last-applied* (what promote pushed last time), *desired* (rendered from
//! the repository now) and *live* (exported from the tenant now). Objects are walked key by
//! key; arrays and scalars are leaves compared whole.
//!
//! - Every leaf path of desired is owned: where live differs, the plan sets desired's value.
//!   Where desired has an object and live has something else (or nothing), that is one change
//!   of the whole subtree.
//! - A key in last-applied that desired no longer has is removed from live. Without a
//!   last-applied record nothing is ever removed: the plan is a two-way overlay.
//! - Keys in live that neither desired nor last-applied has (server defaults, fields set by
//!   other tools) are left alone.
//! - A path is a conflict when live moved away from last-applied and desired moved too (or
//!   desired removes a key whose live value moved). [`Mode`] resolves conflicts as the
//!   platform API does: `update` takes desired, `ignore` keeps live, `fail` refuses the plan.
//!
//! "Live moved" means live no longer holds what last-applied recorded there: a value that is
//! different or gone, or present where last-applied had nothing. Inside objects, keys that
//! last-applied never had (server defaults added to an object promote created) do not count as
//! a move, so removing a client that the server decorated with defaults is not a conflict.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{auto, ops::union, pointer, Patch};

pub use promote_platform::Mode;

/// What a change does at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Live has nothing at the path; the change creates it.
    Add,
    /// Live has a different value at the path; the change overwrites it.
    Replace,
    /// The repository dropped the path; the change deletes it from live.
    Remove,
}

/// Why a change is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The repository changed it since the last apply (or there is no last apply record).
    Desired,
    /// Live changed behind promote's back on a path the repository owns; promote restores it.
    Drift,
    /// Both changed; resolved in desired's favour by [`Mode::Update`].
    Conflict,
}

/// A value that is there, `null` included, read as `Some`; one that is not (`#[serde(default)]`)
/// is `None`. The values of [`Change`] and [`Conflict`] are written only when `Some`, so a
/// value set to null stays one when a plan file is read back, and is not taken for a removal.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One planned change at one path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// JSON pointer of the changed value.
    pub path: String,
    /// Add, replace or remove.
    pub kind: ChangeKind,
    /// The live value before the change (`None` for an add).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub old: Option<Value>,
    /// The value after the change (`None` for a remove).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub new: Option<Value>,
    /// Why the change is planned.
    pub reason: Reason,
}

/// What a plan does with drift: a path the platform changed since the last apply and the
/// repository did not (`--drift`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftPolicy {
    /// Plan the repository's value back (the default).
    #[default]
    Restore,
    /// Leave the platform's value: a plan then holds only what the repository changed since
    /// the last apply; the drift is listed in [`Plan::kept`].
    Keep,
}

impl DriftPolicy {
    /// Whether this is the default, [`DriftPolicy::Restore`].
    pub fn is_restore(&self) -> bool {
        *self == DriftPolicy::Restore
    }
}

/// A path that both live and the repository changed since the last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// JSON pointer of the conflicting value.
    pub path: String,
    /// The value last applied there (`None`: absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub last_applied: Option<Value>,
    /// The value the repository wants (`None`: the repository removed it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub desired: Option<Value>,
    /// The value live holds (`None`: absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub live: Option<Value>,
}

/// The plan for one tree: what changes and what conflicts. Planning borrows live and keeps
/// only what changes: beside the plan it returns the [`Touched`] parts of live and of the
/// result, which is all a patch needs; `Plan::result` builds the whole resulting tree (in tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The changes, in pointer order (keys sorted, parents before children).
    pub changes: Vec<Change>,
    /// Every conflict found, whatever the mode.
    pub conflicts: Vec<Conflict>,
    /// The conflicts left as live is, by [`Mode::Ignore`].
    pub skipped: Vec<Conflict>,
    /// The drift left as live is, by [`DriftPolicy::Keep`]: the changes that would restore it.
    pub kept: Vec<Change>,
}

impl Plan {
    /// Whether the plan changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Returns `live` (the tree the plan was made against) with the changes applied: a whole
    /// copy of the tree, for callers that need it; sending a plan needs only its touched parts.
    #[cfg(test)]
    pub(crate) fn result(&self, live: &Value) -> Value {
        let mut result = live.clone();
        for change in &self.changes {
            let Ok(tokens) = pointer::parse(&change.path) else {
                continue;
            };
            let Some((key, parents)) = tokens.split_last() else {
                result = change.new.clone().unwrap_or(Value::Null);
                continue;
            };
            let Some(Value::Object(map)) = result.pointer_mut(&pointer::from_keys(parents)) else {
                continue;
            };
            match &change.new {
                Some(value) => map.insert(key.clone(), value.clone()),
                None => map.remove(key),
            };
        }
        result
    }

    /// The whole objects (clients, workspaces, ...: the layout's entries) of `live` this plan
    /// removes, as pointers: what applying needs `--allow-delete` for.
    pub(crate) fn removed_objects(&self, live: &Value) -> Vec<String> {
        // Only a removal, or a replace of an object, can take an entry away: every plan of a
        // fleet asks, and most have neither, so live's entries are not listed for them.
        let may_remove = self.changes.iter().any(|c| match c.kind {
            ChangeKind::Remove => true,
            ChangeKind::Replace => c.old.as_ref().is_some_and(Value::is_object),
            ChangeKind::Add => false,
        });
        if !may_remove {
            return Vec::new();
        }
        crate::layout::entries(live)
            .into_iter()
            .filter(|p| !self.keeps(p))
            .collect()
    }

    /// Returns whether the result still has a value at `path`, where live has one.
    pub(crate) fn keeps(&self, path: &str) -> bool {
        for change in &self.changes {
            let rest = match path.strip_prefix(change.path.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => continue,
            };
            // Changes do not nest: the first that covers `path` decides.
            return change
                .new
                .as_ref()
                .is_some_and(|new| new.pointer(rest).is_some());
        }
        true
    }
}

/// The object at `parents` in `tree`, made (as empty objects) where missing; `None` where a
/// parent is not an object.
fn parents_of<'t, S: AsRef<str>>(
    tree: &'t mut Value,
    parents: &[S],
) -> Option<&'t mut Map<String, Value>> {
    let mut at = tree;
    for token in parents {
        let Value::Object(map) = at else { return None };
        let token = token.as_ref();
        // Most changes share their parents with the one before: no key is copied for those.
        if !map.contains_key(token) {
            map.insert(token.to_owned(), Value::Object(Map::new()));
        }
        at = map.get_mut(token)?;
    }
    match at {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The parts of a live tree (`before`) and of the planned result (`after`) that a plan
/// touches, each under its parent objects; everything else is left out of both. Both patch
/// formats diff objects key by key, and the keys left out are equal on both sides, so the patch
/// between these two is the patch between the whole trees, at the cost of the changes only.
#[derive(Debug, Clone, PartialEq)]
pub struct Touched {
    /// Live's values at the changed paths.
    pub before: Value,
    /// The result's values at the changed paths.
    pub after: Value,
}

impl Touched {
    /// Nothing touched: two empty objects.
    fn empty() -> Touched {
        Touched {
            before: Value::Object(Map::new()),
            after: Value::Object(Map::new()),
        }
    }

    /// The wire patch from live to the result: RFC 7396 when exact, else RFC 6902 (with `test`
    /// ops when `with_tests`).
    pub fn patch(&self, with_tests: bool) -> Patch {
        auto(&self.before, &self.after, with_tests)
    }

    /// [`Touched::patch`], taking the touched parts: the patch's values are the result's, moved.
    pub fn into_patch(self, with_tests: bool) -> Patch {
        super::auto_into(&self.before, self.after, with_tests)
    }

    /// Sets `value` at `tokens` of the result, where live (the tree the plan was made against)
    /// holds an object at every parent or the plan creates it.
    pub(crate) fn set(&mut self, live: &Value, tokens: &[String], value: Value) {
        let Some((key, parents)) = tokens.split_last() else {
            self.after = value;
            return;
        };
        // Parents live has (and the plan left as they are) are added to both sides, so that the
        // patch between the two still says only what changes.
        let mut at = Some(live);
        let mut before = Some(&mut self.before);
        for token in parents {
            at = at.and_then(|v| pointer::child(v, token));
            before = match (before, at) {
                (Some(Value::Object(map)), Some(Value::Object(_))) => Some(
                    map.entry(token.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                ),
                _ => None,
            };
        }
        if let Some(map) = parents_of(&mut self.after, parents) {
            map.insert(key.clone(), value);
        }
    }
}

/// The plan was refused by [`Mode::Fail`] because of conflicts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} conflict(s) between live changes and repository changes: {}", .conflicts.len(), paths(.conflicts))]
pub struct ConflictError {
    /// Every conflict found.
    pub conflicts: Vec<Conflict>,
}

fn paths(conflicts: &[Conflict]) -> String {
    let shown: Vec<&str> = conflicts.iter().map(|c| display_path(&c.path)).collect();
    shown.join(", ")
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "(root)"
    } else {
        path
    }
}

/// Plans the changes that bring `live` to `desired`, given what was `last_applied` (`None`: no
/// record, a two-way overlay that never removes); returns the plan and the parts of live and
/// of the result its changes touch (made as it plans them).
///
/// # Errors
/// [`ConflictError`], listing every conflict, only for [`Mode::Fail`] with at least one.
pub fn plan(
    last_applied: Option<&Value>,
    desired: &Value,
    live: &Value,
    mode: Mode,
) -> Result<(Plan, Touched), ConflictError> {
    plan_with_drift(last_applied, desired, live, mode, DriftPolicy::Restore)
}

/// [`plan`], with drift restored or kept by `drift`.
///
/// # Errors
/// [`ConflictError`], listing every conflict, only for [`Mode::Fail`] with at least one.
pub fn plan_with_drift(
    last_applied: Option<&Value>,
    desired: &Value,
    live: &Value,
    mode: Mode,
    drift: DriftPolicy,
) -> Result<(Plan, Touched), ConflictError> {
    let mut walk = Walk {
        mode,
        drift,
        tracked: last_applied.is_some(),
        changes: Vec::new(),
        conflicts: Vec::new(),
        skipped: Vec::new(),
        kept: Vec::new(),
    };
    let mut touched = Touched::empty();
    match (desired, live) {
        (Value::Object(want), Value::Object(now)) => {
            let mut sides = Sides::default();
            walk.objects(&mut Vec::new(), last_applied, want, now, &mut sides);
            touched.before = Value::Object(sides.before);
            touched.after = Value::Object(sides.after);
        }
        _ => {
            // A change of the whole tree (desired or live is not an object).
            if walk.set(&[], last_applied, desired, Some(live)) {
                touched.before = live.clone();
                touched.after = desired.clone();
            }
        }
    }
    if mode == Mode::Fail && !walk.conflicts.is_empty() {
        return Err(ConflictError {
            conflicts: walk.conflicts,
        });
    }
    let plan = Plan {
        changes: walk.changes,
        conflicts: walk.conflicts,
        skipped: walk.skipped,
        kept: walk.kept,
    };
    Ok((plan, touched))
}

/// The touched parts of one object of live (`before`) and of the result (`after`), as the
/// walk makes them: a key is in both when a change is below it, and holds live's value and the
/// result's where the change is at it.
#[derive(Default)]
struct Sides {
    before: Map<String, Value>,
    after: Map<String, Value>,
}

/// The state of one planning walk.
struct Walk {
    mode: Mode,
    drift: DriftPolicy,
    /// Whether there is a last-applied record at all.
    tracked: bool,
    changes: Vec<Change>,
    conflicts: Vec<Conflict>,
    skipped: Vec<Conflict>,
    kept: Vec<Change>,
}

impl Walk {
    /// Plans an object that is an object in both desired and live, at `path` (its keys: one
    /// list for the whole walk, as it was when it returns, made a pointer only for a change: a
    /// tree has many more keys than changes), and adds what the changes it plans touch to
    /// `touched`; returns whether it planned any.
    fn objects<'t>(
        &mut self,
        path: &mut Vec<&'t str>,
        was: Option<&'t Value>,
        want: &'t Map<String, Value>,
        now: &'t Map<String, Value>,
        touched: &mut Sides,
    ) -> bool {
        // Empty, and borrowed as long as the trees: its keys (none) may join `path`.
        static NONE: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        let was = match was {
            Some(Value::Object(was)) => was,
            _ => &NONE,
        };
        let mut any = false;
        // Live's keys come in the order of the union's: each is looked at once, not looked up.
        let mut live = now.iter().peekable();
        for (key, (was, want)) in union(was, want) {
            path.push(key);
            while live.next_if(|(k, _)| k.as_str() < key).is_some() {}
            let now = live.next_if(|(k, _)| k.as_str() == key).map(|(_, v)| v);
            match (want, now) {
                (Some(Value::Object(want)), Some(Value::Object(now))) => {
                    let mut below = Sides::default();
                    if self.objects(path, was, want, now, &mut below) {
                        // The parents of a change are objects on both sides.
                        touched
                            .before
                            .insert(key.to_owned(), Value::Object(below.before));
                        touched
                            .after
                            .insert(key.to_owned(), Value::Object(below.after));
                        any = true;
                    }
                }
                (Some(want), _) => {
                    if self.set(path, was, want, now) {
                        if let Some(now) = now {
                            touched.before.insert(key.to_owned(), now.clone());
                        }
                        touched.after.insert(key.to_owned(), want.clone());
                        any = true;
                    }
                }
                (None, Some(now)) => {
                    if let Some(was) = was {
                        if self.remove(path, was, now) {
                            touched.before.insert(key.to_owned(), now.clone());
                            any = true;
                        }
                    }
                }
                (None, None) => {}
            }
            path.pop();
        }
        any
    }

    /// Plans setting `want` where live has `now`; returns whether to apply it.
    fn set(
        &mut self,
        path: &[&str],
        was: Option<&Value>,
        want: &Value,
        now: Option<&Value>,
    ) -> bool {
        if now == Some(want) {
            return false;
        }
        let reason = match (self.tracked && moved(was, now), was != Some(want)) {
            (true, true) => Reason::Conflict,
            (true, false) => Reason::Drift,
            (false, _) => Reason::Desired,
        };
        let kind = if now.is_some() {
            ChangeKind::Replace
        } else {
            ChangeKind::Add
        };
        let change = Change {
            path: pointer_of(path),
            kind,
            old: now.cloned(),
            new: Some(want.clone()),
            reason,
        };
        self.decide(change, was)
    }

    /// Plans removing a key that last-applied had and desired dropped; returns whether to.
    fn remove(&mut self, path: &[&str], was: &Value, now: &Value) -> bool {
        let reason = if moved(Some(was), Some(now)) {
            Reason::Conflict
        } else {
            Reason::Desired
        };
        let change = Change {
            path: pointer_of(path),
            kind: ChangeKind::Remove,
            old: Some(now.clone()),
            new: None,
            reason,
        };
        self.decide(change, Some(was))
    }

    /// Records `change`, resolving it by the mode when it is a conflict, and keeping it out
    /// of the plan when it restores drift that [`DriftPolicy::Keep`] keeps.
    fn decide(&mut self, change: Change, was: Option<&Value>) -> bool {
        if change.reason == Reason::Drift && self.drift == DriftPolicy::Keep {
            self.kept.push(change);
            return false;
        }
        if change.reason != Reason::Conflict {
            self.changes.push(change);
            return true;
        }
        let conflict = Conflict {
            path: change.path.clone(),
            last_applied: was.cloned(),
            desired: change.new.clone(),
            live: change.old.clone(),
        };
        self.conflicts.push(conflict.clone());
        match self.mode {
            Mode::Update => {
                self.changes.push(change);
                true
            }
            Mode::Ignore => {
                self.skipped.push(conflict);
                false
            }
            Mode::Fail => false,
        }
    }
}

/// The JSON pointer of the keys of `path`.
fn pointer_of(path: &[&str]) -> String {
    let mut at = String::with_capacity(path.iter().map(|k| k.len() + 1).sum());
    for key in path {
        pointer::push(&mut at, key);
    }
    at
}

/// Whether live (`now`) moved away from what was last applied (`was`): a value that differs
/// or is gone, or one that appeared. Keys that live has and last-applied never had, inside
/// objects both have, are not a move.
fn moved(was: Option<&Value>, now: Option<&Value>) -> bool {
    match (was, now) {
        (Some(Value::Object(was)), Some(Value::Object(now))) => {
            was.iter().any(|(key, was)| moved(Some(was), now.get(key)))
        }
        _ => was != now,
    }
}

#[cfg(test)]
#[path = "three_way_tests.rs"]
mod tests;
