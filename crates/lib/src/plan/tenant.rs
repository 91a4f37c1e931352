//! The plan of one tenant as reports show it: its status, counts, changes, conflicts and
//! patch, every value redacted where a credential may be. Planning (`plan`, `prepare`) fills
//! it; reports print it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::credentials::{self, Places, Scope};
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::patch::three_way::{Change, ChangeKind, Conflict};
use crate::patch::{merge, Format, Patch};

/// What happens to a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Desired equals the baseline.
    Unchanged,
    /// Some paths change.
    Changes,
    /// The baseline does not have the tenant: it is created whole.
    Create,
    /// The tenant could not be planned; `errors` says why.
    Error,
}

/// What apply did with a tenant (absent from a plan report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The change was sent and checked: the tenant holds what the repository says.
    Applied,
    /// Nothing to send.
    Unchanged,
    /// Sent with `dry_run=true`: the platform accepted it and changed nothing.
    DryRun,
    /// Sent and accepted, but the platform holds only part of it: `changes` are what it took,
    /// `not_applied` what it did not (see `errors`).
    PartlyApplied,
    /// See `errors`; other tenants went on.
    Failed,
}

/// How many changes of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub add: usize,
    pub replace: usize,
    pub remove: usize,
}

impl Counts {
    /// Counts `changes` by kind.
    pub(crate) fn of(changes: &[Change]) -> Counts {
        let mut c = Counts::default();
        for change in changes {
            match change.kind {
                ChangeKind::Add => c.add += 1,
                ChangeKind::Replace => c.replace += 1,
                ChangeKind::Remove => c.remove += 1,
            }
        }
        c
    }

    pub(crate) fn plus(self, o: Counts) -> Counts {
        Counts {
            add: self.add + o.add,
            replace: self.replace + o.replace,
            remove: self.remove + o.remove,
        }
    }
}

/// The plan of one tenant, redacted, ready to print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantPlan {
    pub key: String,
    pub id: String,
    pub template: String,
    pub status: Status,
    pub counts: Counts,
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
    /// Conflicts left as live by `--mode ignore`.
    pub skipped: Vec<Conflict>,
    /// Drift left as live by `--drift keep`: the changes that would have restored it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Change>,
    /// The patch that would be sent: `{"format": "rfc7396"|"rfc6902", "patch": ...}`.
    pub patch: Option<Value>,
    pub errors: Vec<Diagnostic>,
    /// What apply did (apply reports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Where apply saved the tenant's export before writing (apply reports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Where apply sent a credential from `secret()` (pointers only, never values; apply
    /// reports only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// The planned changes the platform did not take (apply reports of a tenant partly
    /// applied only); `counts` and `changes` are then those it took.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_applied: Vec<Change>,
    /// Apply of a saved plan only: the platform already held what the plan sets (an earlier
    /// run of the plan, or the same change made by hand), so nothing was sent.
    #[serde(rename = "already_applied", skip_serializing_if = "std::ops::Not::not")]
    pub already: bool,
    /// The whole objects (clients, workspaces, ...) the plan removes, as pointers: applying
    /// them needs `--allow-delete`.
    #[serde(rename = "objects_removed", skip_serializing_if = "Vec::is_empty")]
    pub removes: Vec<String>,
    /// The tenant's own values (ID, key, string variables) and the placeholders that stand
    /// for them where reports for people group tenants with the same change (not in JSON).
    #[serde(skip)]
    pub placeholders: Vec<(String, String)>,
}

impl TenantPlan {
    /// A report for `tenant` with nothing in it yet (status `error` until filled).
    pub fn empty(tenant: &Tenant) -> TenantPlan {
        TenantPlan {
            key: tenant.key.clone(),
            id: tenant.id.clone(),
            template: tenant.template.clone(),
            status: Status::Error,
            counts: Counts::default(),
            changes: Vec::new(),
            conflicts: Vec::new(),
            skipped: Vec::new(),
            kept: Vec::new(),
            patch: None,
            errors: Vec::new(),
            outcome: None,
            backup: None,
            secrets: Vec::new(),
            not_applied: Vec::new(),
            already: false,
            removes: Vec::new(),
            placeholders: placeholders(tenant),
        }
    }
}

impl TenantPlan {
    /// Takes `held` (the credential values of this tenant's export) out of every value, path
    /// and message the report shows.
    pub(crate) fn scrub(&mut self, held: &crate::scrub::Held) {
        let change = |c: &mut Change| {
            held.string(&mut c.path);
            c.old
                .iter_mut()
                .chain(c.new.iter_mut())
                .for_each(|v| held.value(v));
        };
        let conflict = |c: &mut Conflict| {
            held.string(&mut c.path);
            c.last_applied
                .iter_mut()
                .chain(c.desired.iter_mut())
                .chain(c.live.iter_mut())
                .for_each(|v| held.value(v));
        };
        self.changes.iter_mut().for_each(change);
        self.kept.iter_mut().for_each(change);
        self.not_applied.iter_mut().for_each(change);
        self.conflicts.iter_mut().for_each(conflict);
        self.skipped.iter_mut().for_each(conflict);
        self.patch.iter_mut().for_each(|p| held.value(p));
        self.removes.iter_mut().for_each(|r| held.string(r));
        for e in &mut self.errors {
            held.string(&mut e.message);
            e.hint
                .iter_mut()
                .chain(e.pointer.iter_mut())
                .for_each(|t| held.string(t));
        }
    }
}

/// The values of `tenant`'s own that reports may abstract, each with its placeholder: its ID,
/// its key and the string values of its variables (the environment's are the same for every
/// tenant and need none).
fn placeholders(tenant: &Tenant) -> Vec<(String, String)> {
    let mut out = vec![
        (tenant.id.clone(), "{{ tenant.id }}".to_owned()),
        (tenant.key.clone(), "{{ tenant.key }}".to_owned()),
    ];
    for (name, value) in tenant.vars.iter() {
        if let Value::String(s) = value {
            if !out.iter().any(|(v, _)| v == s) {
                out.push((s.clone(), format!("{{{{ vars.{name} }}}}")));
            }
        }
    }
    out
}

/// Whether a report shows the `secret()` markers in credential fields of a value, which
/// depends on whose the value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Markers {
    /// Shown: the value is the repository's rendering, whose markers name its secrets in its
    /// own words (`<secret:ACME_WEBHOOK_KEY>`).
    Shown,
    /// Redacted like any credential: the value comes from elsewhere (the platform, a baseline,
    /// a backup, a record), where a string shaped like a marker may be a secret
    /// (`<secret:sk_live_...>`).
    Hidden,
}

/// Redacts every credential of `tree` (a tree of `scope`), its markers as `markers` says.
pub(crate) fn redact_tree(tree: &mut Value, scope: Scope, markers: Markers) {
    match markers {
        Markers::Shown => credentials::redact_in_place(tree, scope),
        Markers::Hidden => credentials::hide_in_place(tree, scope),
    }
}

/// `value` as a report may show it at `path`: redacted where a credential may be (markers
/// too: [`Markers::Hidden`]), and every credential value this process holds (the platform
/// client's secret, a `PROMOTE_SECRET_*` value) scrubbed wherever it is ([`crate::scrub`]).
pub(crate) fn redact_value(path: &str, value: Option<Value>) -> Option<Value> {
    redact_value_at(
        path,
        credentials::place_may_hold(path, Scope::Tenant),
        value,
        Markers::Hidden,
    )
}

/// [`redact_value`], where `place_may_hold` says whether the place may hold a credential
/// whatever its value ([`credentials::place_may_hold`], asked once for a change's values), and
/// `markers` whether its markers are shown.
pub(crate) fn redact_value_at(
    path: &str,
    place_may_hold: bool,
    value: Option<Value>,
    markers: Markers,
) -> Option<Value> {
    let value = value?;
    let value = if place_may_hold || credentials::names_inside(&value, Scope::Tenant) {
        match markers {
            Markers::Shown => credentials::redact_at(path, &value, Scope::Tenant),
            Markers::Hidden => credentials::hide_at(path, &value, Scope::Tenant),
        }
    } else {
        value
    };
    Some(crate::scrub::value(value))
}

/// `c` with its values redacted where a credential may be; `places` asks where (the changes of
/// one tenant, in the order the plan found them, share it). The old value is live's, whose
/// markers are hidden; `new` says whether the new value's are shown.
pub(crate) fn redact_change(mut c: Change, places: &mut Places, new: Markers) -> Change {
    c.path = crate::scrub::scrub(&c.path).into_owned();
    let place = places.may_hold(&c.path);
    c.old = redact_value_at(&c.path, place, c.old.take(), Markers::Hidden);
    c.new = redact_value_at(&c.path, place, c.new.take(), new);
    c.path = shown_path(c.path, place && c.kind == ChangeKind::Remove);
    c
}

/// `path` as a report shows it: cut at the credential field it lies strictly inside (then
/// `/<redacted>`) when its keys are `foreign`, not the repository's rendering — a removal's are
/// live's or a record's, and a key inside a credential field may be the secret
/// (`api_key: {"sk_live_...": true}`).
pub(crate) fn shown_path(path: String, foreign: bool) -> String {
    if !foreign {
        return path;
    }
    inside_field(&path, Scope::Tenant).unwrap_or(path)
}

/// `c` with its values redacted where a credential may be ([`redact_change`]): the markers of
/// the last-applied record and of live hidden, those of desired as `desired` says.
pub(crate) fn redact_conflict(mut c: Conflict, places: &mut Places, desired: Markers) -> Conflict {
    c.path = crate::scrub::scrub(&c.path).into_owned();
    let place = places.may_hold(&c.path);
    let hidden = Markers::Hidden;
    c.last_applied = redact_value_at(&c.path, place, c.last_applied.take(), hidden);
    c.desired = redact_value_at(&c.path, place, c.desired.take(), desired);
    c.live = redact_value_at(&c.path, place, c.live.take(), hidden);
    c.path = shown_path(c.path, place && c.desired.is_none());
    c
}

/// Returns the JSON form of a patch (`{"format", "patch"}`) with every credential value
/// redacted; the patch is taken, not copied. `markers` says whether the markers of the values
/// it sets are shown; those of the values its `test` ops hold (live's) never are.
pub(crate) fn redact_patch(patch: Patch, markers: Markers) -> Value {
    let format = Value::String(format!("rfc{}", patch.format().as_str()));
    let body = redacted_body(patch.format(), patch.into_json(), Scope::Tenant, markers);
    let mut json = Map::new();
    json.insert("format".to_owned(), format);
    json.insert("patch".to_owned(), body);
    Value::Object(json)
}

/// Returns the body of a patch (a merge document or an op list) between trees of `scope`, with
/// every credential value redacted and nothing inside a credential field shown, its keys
/// included: for `diff`, whose two trees may be anything, an export holding
/// `api_key: {"sk_live_...": true}` or an IdP's `credentials` keyed by a secret among them. A
/// credential field's value is `<redacted>` whole, `secret()` markers included (a string shaped
/// like one may be a secret: neither tree is known to be the repository's rendering); an op's
/// path (and `from`) below a field ends at the field, then `<redacted>`, and its value is
/// `<redacted>`.
pub fn redact_patch_body(patch: &Patch, scope: Scope) -> Value {
    redacted_body(patch.format(), patch.to_json(), scope, Markers::Hidden)
}

/// `at` cut at the credential field it lies strictly inside, followed by `/<redacted>`; `None`
/// when it lies inside none (or is no pointer).
fn inside_field(at: &str, scope: Scope) -> Option<String> {
    credentials::field_holding(at, scope).map(|field| format!("{field}/{}", credentials::REDACTED))
}

/// Returns `json`, the body of a patch in `format`, with every credential value redacted: the
/// markers of the values it sets as `markers` says, those of its `test` ops' values (live's)
/// hidden.
fn redacted_body(format: Format, mut json: Value, scope: Scope, markers: Markers) -> Value {
    match format {
        Format::Merge7396 => credentials::redact_where(&mut json, scope, |at, v| match markers {
            Markers::Hidden => !v.is_null(),
            // A null inside a credential field removes a key of live's, which may be the
            // secret: the field is not shown.
            Markers::Shown => {
                credentials::holds_plain_text(at, v) || (!v.is_null() && merge::holds_null(v))
            }
        }),
        Format::Json6902 => {
            // Most ops are nowhere near a credential field: asked first, in op order.
            let mut places = Places::new(scope);
            if let Value::Array(ops) = &mut json {
                for op in ops.iter_mut().filter_map(Value::as_object_mut) {
                    let path = op
                        .get("path")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
                    let test = kind == "test";
                    // A `test` op's path and value are live's, a `remove`'s path is; every
                    // op's is when the tree sent is not the repository's rendering.
                    let foreign = test || kind == "remove" || markers == Markers::Hidden;
                    if let Some(value) = op.get_mut("value") {
                        *value = match (test, markers) {
                            (false, Markers::Shown) => credentials::redact_at(&path, value, scope),
                            _ => credentials::hide_at(&path, value, scope),
                        };
                    }
                    if !foreign {
                        continue;
                    }
                    // An op's path below a credential field ends at it, then `<redacted>`, and
                    // its value, whose keys would show what the path no longer does, is
                    // `<redacted>`.
                    let mut cut = false;
                    for key in ["path", "from"] {
                        if let Some(Value::String(at)) = op.get_mut(key) {
                            if !places.may_hold(at) {
                                continue;
                            }
                            if let Some(field) = inside_field(at, scope) {
                                *at = field;
                                cut = true;
                            }
                        }
                    }
                    if let (true, Some(value)) = (cut, op.get_mut("value")) {
                        *value = Value::String(credentials::REDACTED.to_owned());
                    }
                }
            }
        }
    }
    crate::scrub::value(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A patch shows the markers of what it sets when that is the repository's rendering,
    /// never those of the values its `test` ops hold (live's), nor any of a tree from elsewhere.
    #[test]
    fn a_patch_shows_only_the_repositorys_markers() {
        let at = "/servers/w/webhooks/h/api_key";
        let ops: json_patch::Patch = serde_json::from_value(json!([
            {"op": "test", "path": at, "value": "<secret:sk_live_1>"},
            {"op": "replace", "path": at, "value": "<secret:HOOK_KEY>"},
        ]))
        .unwrap();
        let shown = redact_patch(Patch::Ops(ops.clone()), Markers::Shown);
        assert_eq!(shown["patch"][0]["value"], json!(credentials::REDACTED));
        assert_eq!(shown["patch"][1]["value"], json!("<secret:HOOK_KEY>"));
        let hidden = redact_patch(Patch::Ops(ops), Markers::Hidden);
        assert_eq!(hidden["patch"][1]["value"], json!(credentials::REDACTED));
        let merge =
            json!({"servers": {"w": {"webhooks": {"h": {"api_key": "<secret:sk_live_1>"}}}}});
        let shown = redact_patch(Patch::Merge(merge.clone()), Markers::Shown);
        assert_eq!(
            shown["patch"].pointer(at),
            Some(&json!("<secret:sk_live_1>"))
        );
        let hidden = redact_patch(Patch::Merge(merge), Markers::Hidden);
        assert_eq!(
            hidden["patch"].pointer(at),
            Some(&json!(credentials::REDACTED))
        );
        let change = Change {
            path: at.to_owned(),
            kind: crate::patch::three_way::ChangeKind::Replace,
            old: Some(json!("<secret:sk_live_1>")),
            new: Some(json!("<secret:HOOK_KEY>")),
            reason: crate::patch::three_way::Reason::Desired,
        };
        let c = redact_change(change, &mut Places::new(Scope::Tenant), Markers::Shown);
        assert_eq!(c.old, Some(json!(credentials::REDACTED)));
        assert_eq!(c.new, Some(json!("<secret:HOOK_KEY>")));
    }
}
