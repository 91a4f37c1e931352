//! Fleet-aware review: tenants whose plans are the same once their own values are abstracted
//! (their ID and key, and the string values of their variables) form one group, shown once
//! with the tenants it applies to.
//!
//! A change to a shared template gives thousands of tenants the same diff; a report for people
//! shows it once, so that a reviewer reads one change and sees where it goes. Tenants are
//! grouped first by their concrete plan: tenants whose changes are literally the same form a
//! group shown with the real values. Only tenants whose concrete plans differ are merged by
//! the abstracted plan (their ID, key and variables as placeholders: `{{ tenant.id }}`,
//! `{{ vars.region }}`), and such a group shows the placeholders. So a literal text that
//! happens to equal one tenant's variable (` - gold support` where some tenants have
//! `vars.plan: gold`) is shown as the text, not as a placeholder, and the change stays one
//! group. A group holds one representative plan and the tenants' names: a fleet of 10,000
//! tenants with one shared change holds one diff. A tenant with errors, or one apply failed or
//! partly applied, is never grouped: its outcome is shown on its own, and reports show such
//! tenants first ([`Groups::ordered`]).

use std::borrow::Cow;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::ser::{Serialize, SerializeTuple, Serializer};
use serde_json::Value;

use super::lines::Values;
use crate::patch::three_way::{Change, Conflict};
use crate::plan::{Counts, Outcome, Status, TenantPlan};

/// Shortest value of a tenant abstracted: shorter ones (`eu`, `1`) say too little to be told
/// from the rest of a value.
pub(crate) const MIN_ABSTRACTED: usize = 3;

/// The tenants of a report in groups, in the order each group was first seen.
pub(crate) struct Groups {
    groups: Vec<Group>,
    /// The group of each concrete plan, while that group holds only that plan.
    concrete: HashMap<[u8; 20], usize>,
    /// The group of each abstracted plan.
    abstracted: HashMap<[u8; 20], usize>,
    /// Bytes of the representatives held, of the others (`[0]`) and of tenants shown first
    /// (`[1]`, [`Group::first`]): each within the limit, so that a failure late in a large
    /// fleet is still shown.
    held: [usize; 2],
    limit: usize,
}

/// Tenants with the same plan once their own values are abstracted.
pub(crate) struct Group {
    /// The first tenant's plan (without its patch); `None` when the report held more than its
    /// limit already: the group is then only listed.
    rep: Option<TenantPlan>,
    /// Each tenant's key and ID, in report order.
    pub tenants: Vec<(String, String)>,
    /// The counts of each tenant's changes (the same for all).
    pub counts: Counts,
    /// The digest of the first tenant's concrete plan (`None` for a tenant shown alone).
    concrete: Option<[u8; 20]>,
    /// Whether the tenants' concrete plans differ: the group is then shown abstracted.
    mixed: bool,
    /// Whether the group is shown before the others: a tenant with errors, failed or partly
    /// applied.
    pub first: bool,
}

/// Whether plan `t` shows values that placeholders may stand for.
pub(crate) fn shows_values(t: &TenantPlan) -> bool {
    !t.changes.is_empty() || !t.conflicts.is_empty() || !t.secrets.is_empty() || t.backup.is_some()
}

impl Groups {
    /// Groups that hold representatives of at most about `limit` bytes (JSON); past it a new
    /// group is only counted and named.
    pub(crate) fn new(limit: usize) -> Groups {
        Groups {
            groups: Vec::new(),
            concrete: HashMap::new(),
            abstracted: HashMap::new(),
            held: [0, 0],
            limit,
        }
    }

    /// Adds tenant `t` to its group, or starts one: the group of the same concrete plan,
    /// else the group of the same abstracted plan.
    pub(crate) fn add(&mut self, t: &TenantPlan) {
        let name = (t.key.clone(), t.id.clone());
        let alone = alone(t);
        let concrete = (!alone).then(|| concrete_signature(t));
        if let Some(&i) = concrete.as_ref().and_then(|c| self.concrete.get(c)) {
            self.groups[i].tenants.push(name);
            return;
        }
        let signature = if alone { None } else { signature(t) };
        if let Some(&i) = signature.as_ref().and_then(|s| self.abstracted.get(s)) {
            let g = &mut self.groups[i];
            g.tenants.push(name);
            // Its concrete plan differs (else it was found above): shown abstracted now, and
            // a tenant of its concrete plan joins by its own abstracted plan.
            if !g.mixed {
                g.mixed = true;
                if let Some(c) = g.concrete {
                    self.concrete.remove(&c);
                }
            }
            return;
        }
        let rep = shown_part(t);
        let size = serde_json::to_string(&rep).map_or(0, |s| s.len());
        let first = first(t);
        let held = &mut self.held[usize::from(first)];
        let rep = (held.saturating_add(size) <= self.limit).then(|| {
            *held += size;
            rep
        });
        if let Some(c) = concrete {
            self.concrete.insert(c, self.groups.len());
        }
        if let Some(s) = signature {
            self.abstracted.insert(s, self.groups.len());
        }
        self.groups.push(Group {
            rep,
            tenants: vec![name],
            counts: t.counts,
            concrete,
            mixed: false,
            first,
        });
    }

    /// The groups, in the order each was first seen.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    /// The groups with errors, failures and tenants partly applied first, then the others,
    /// each in the order first seen.
    pub(crate) fn ordered(&self) -> impl Iterator<Item = &Group> {
        let first = self.groups.iter().filter(|g| g.first);
        first.chain(self.groups.iter().filter(|g| !g.first))
    }
}

impl Group {
    /// The plan to show: the first tenant's as it is when the tenants' plans are literally
    /// the same, with the tenant-specific values as placeholders when they differ; `None` for
    /// a group only listed.
    pub(crate) fn shown(&self) -> Option<TenantPlan> {
        let rep = self.rep.as_ref()?;
        Some(if self.mixed {
            abstracted(rep)
        } else {
            rep.clone()
        })
    }

    /// Whose values the group's plan shows: the tenants' own when their plans are literally
    /// the same, placeholders for them when they differ.
    pub(crate) fn values(&self) -> Values {
        if self.mixed {
            Values::Placeholders
        } else {
            Values::Real
        }
    }

    /// Whether the group is shown with placeholders for each tenant's own values.
    pub(crate) fn shows_placeholders(&self) -> bool {
        self.mixed && self.rep.as_ref().is_some_and(shows_values)
    }

    /// The tenants of a group of several as a report names them: `in 1,998 tenants: t0001,
    /// t0002, … and 1,988 more`, at most `max` names.
    pub(crate) fn names(&self, max: usize) -> String {
        let n = self.tenants.len();
        let shown: Vec<&str> = self
            .tenants
            .iter()
            .take(max)
            .map(|(k, _)| k.as_str())
            .collect();
        let mut out = match shown.as_slice() {
            [one] => return (*one).to_owned(),
            [a, b] => return format!("in {a} and {b}"),
            _ => format!("in {} tenants: {}", thousands(n), shown.join(", ")),
        };
        if n > shown.len() {
            out.push_str(&format!(" and {} more", thousands(n - shown.len())));
        }
        out
    }
}

/// `n` with a comma between thousands: `1,998`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether `t` is shown on its own whatever others hold: errors and failures are per tenant,
/// and a tenant with nothing to show (listed by `--verbose`) is listed by name.
fn alone(t: &TenantPlan) -> bool {
    first(t)
        || (t.status == Status::Unchanged
            && t.secrets.is_empty()
            && t.conflicts.is_empty()
            && t.kept.is_empty())
}

/// Whether `t` is shown before the others: an error, a failure or a tenant partly applied.
pub(crate) fn first(t: &TenantPlan) -> bool {
    !t.errors.is_empty()
        || t.status == Status::Error
        || matches!(t.outcome, Some(Outcome::Failed | Outcome::PartlyApplied))
}

/// What two tenants with literally the same plan share: a digest of the plan without their
/// key and ID (and their values, which only placeholders use).
fn concrete_signature(t: &TenantPlan) -> [u8; 20] {
    digest(t, &Texts::AsIs)
}

/// What two tenants of one group share: a digest of the plan with their own values
/// abstracted (the key and ID, which differ, left out); `None` when its values could not be
/// looked for (the tenant is then grouped only by its concrete plan). A cryptographic
/// digest, not a fast hash: templates are untrusted, and two plans made to share a 64-bit
/// hash would show a reviewer one change for another.
fn signature(t: &TenantPlan) -> Option<[u8; 20]> {
    // `t` has no errors here (a tenant with errors is alone).
    Some(digest(t, &Texts::Abstracted(Placeholders::of(t)?)))
}

/// The digest of what a report for people shows of `t` ([`shown_part`]), its texts read as
/// `texts` says, without its key and ID: written into the digest as it is serialised, nothing
/// copied (through a buffer: serde_json writes in small pieces, and each costs the digest more
/// than a buffer).
fn digest(t: &TenantPlan, texts: &Texts) -> [u8; 20] {
    use sha1::Digest as _;
    use std::io::Write as _;
    let mut hasher = sha1::Sha1::new();
    let mut out = std::io::BufWriter::with_capacity(1 << 15, &mut hasher);
    // Writing into a digest cannot fail, nor can serialising values serde_json read.
    let _ = serde_json::to_writer(&mut out, &Signed { t, texts });
    let _ = out.flush();
    drop(out);
    hasher.finalize().into()
}

/// What a report for people shows of `t`: all but its patch (which may be large, and which
/// only the JSON report shows).
fn shown_part(t: &TenantPlan) -> TenantPlan {
    TenantPlan {
        key: t.key.clone(),
        id: t.id.clone(),
        template: t.template.clone(),
        status: t.status,
        counts: t.counts,
        changes: t.changes.clone(),
        conflicts: t.conflicts.clone(),
        skipped: t.skipped.clone(),
        patch: None,
        errors: t.errors.clone(),
        outcome: t.outcome,
        backup: t.backup.clone(),
        secrets: t.secrets.clone(),
        not_applied: t.not_applied.clone(),
        already: t.already,
        removes: t.removes.clone(),
        kept: t.kept.clone(),
        placeholders: t.placeholders.clone(),
    }
}

/// `t` as a group of mixed plans shows it: every value of its own (`t.placeholders`)
/// replaced by its placeholder, in paths and values, and its key and ID left empty; `t` as it
/// is when its values could not be looked for.
pub(crate) fn abstracted(t: &TenantPlan) -> TenantPlan {
    let Some(placeholders) = Placeholders::of(t) else {
        // Not reached: a group is shown abstracted only when its first tenant's values were
        // found (its abstracted plan is what others joined).
        return t.clone();
    };
    let texts = Texts::Abstracted(placeholders);
    let s = |text: &str| texts.text(text).into_owned();
    let v = |value: &mut Option<Value>| value.take().map(|value| texts.value(value));
    let mut out = t.clone();
    out.key = String::new();
    out.id = String::new();
    for c in out
        .changes
        .iter_mut()
        .chain(out.not_applied.iter_mut())
        .chain(out.kept.iter_mut())
    {
        c.path = s(&c.path);
        c.old = v(&mut c.old);
        c.new = v(&mut c.new);
    }
    for c in out.conflicts.iter_mut().chain(out.skipped.iter_mut()) {
        c.path = s(&c.path);
        c.last_applied = v(&mut c.last_applied);
        c.live = v(&mut c.live);
        c.desired = v(&mut c.desired);
    }
    for p in &mut out.secrets {
        *p = s(p);
    }
    out.backup = out.backup.as_deref().map(|b| texts.backup(b));
    out
}

/// What a `{{` that a value holds itself is shown as once values are abstracted: Tera's own
/// way of writing it, so that a value that holds the text `{{ tenant.id }}` is never taken
/// for (nor grouped with) a tenant's ID abstracted.
const LITERAL_OPEN: &str = "{{ '{{' }}";

/// A tenant's own values, found in a text in one pass: at the first place where any starts,
/// the longest (a tenant ID `acme-prod` before its key `acme`), and `{{` before all.
struct Placeholders {
    finder: AhoCorasick,
    /// What stands for each value, by the finder's pattern number.
    shown: Vec<String>,
}

impl Placeholders {
    /// The values of `t` worth abstracting, with `{{`; `None` if they could not be compiled
    /// (an automaton past its size limits).
    fn of(t: &TenantPlan) -> Option<Placeholders> {
        Placeholders::new(&t.placeholders)
    }

    /// `values` (each with its placeholder) worth abstracting, with `{{`.
    fn new(values: &[(String, String)]) -> Option<Placeholders> {
        let mut subs: Vec<(&str, &str)> = values
            .iter()
            .filter(|(value, _)| value.chars().count() >= MIN_ABSTRACTED)
            .map(|(v, p)| (v.as_str(), p.as_str()))
            .collect();
        subs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        subs.insert(0, ("{{", LITERAL_OPEN));
        // Leftmost-first: where several start at the same place, the first in this order.
        let finder = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(subs.iter().map(|(value, _)| value))
            .ok()?;
        let shown = subs.iter().map(|(_, p)| (*p).to_owned()).collect();
        Some(Placeholders { finder, shown })
    }

    /// `text` with each value replaced by its placeholder and each `{{` written as
    /// [`LITERAL_OPEN`] (a placeholder is never replaced in turn).
    fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut found = self.finder.find_iter(text).peekable();
        if found.peek().is_none() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut at = 0;
        for m in found {
            out.push_str(&text[at..m.start()]);
            out.push_str(&self.shown[m.pattern().as_usize()]);
            at = m.end();
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// How a group reads a tenant's texts: as they are (its concrete plan), or with its own
/// values as placeholders (its abstracted plan).
enum Texts {
    AsIs,
    Abstracted(Placeholders),
}

impl Texts {
    fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self {
            Texts::AsIs => Cow::Borrowed(text),
            Texts::Abstracted(p) => p.text(text),
        }
    }

    /// `v` with its strings and keys read as [`Texts::text`].
    fn value(&self, v: Value) -> Value {
        crate::scrub::with_texts(v, &|text| self.text(text))
    }

    /// Where a tenant's backup went: each is a file of its own, named by the time it was
    /// taken, so an abstracted plan shows the directory.
    fn backup(&self, b: &str) -> String {
        match self {
            Texts::AsIs => b.to_owned(),
            Texts::Abstracted(_) => match b.rsplit_once('/') {
                Some((dir, _)) => format!("{}/…", self.text(dir)),
                None => "…".to_owned(),
            },
        }
    }
}

/// A plan as its digest reads it: what [`shown_part`] keeps but the key and ID, its texts
/// read as `texts` says. Two plans write the same bytes exactly when what a report shows of
/// them is the same (an abstracted object's keys are written in the order its rebuilt map
/// would hold them).
struct Signed<'a> {
    t: &'a TenantPlan,
    texts: &'a Texts,
}

/// One part of a plan read as [`Signed`] reads it. A value that may be absent is written as
/// `null` when absent and in a list when present: a `null` present is another change.
struct With<'a, T: ?Sized>(&'a T, &'a Texts);

impl Serialize for Signed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (t, texts) = (self.t, self.texts);
        let mut out = s.serialize_tuple(14)?;
        out.serialize_element(&t.template)?;
        out.serialize_element(&t.status)?;
        out.serialize_element(&t.counts)?;
        out.serialize_element(&With(&t.changes[..], texts))?;
        out.serialize_element(&With(&t.conflicts[..], texts))?;
        out.serialize_element(&With(&t.skipped[..], texts))?;
        out.serialize_element(&t.errors)?;
        out.serialize_element(&t.outcome)?;
        out.serialize_element(&t.backup.as_deref().map(|b| texts.backup(b)))?;
        let secrets: Vec<Cow<str>> = t.secrets.iter().map(|p| texts.text(p)).collect();
        out.serialize_element(&secrets)?;
        out.serialize_element(&With(&t.not_applied[..], texts))?;
        out.serialize_element(&t.already)?;
        out.serialize_element(&t.removes)?;
        out.serialize_element(&With(&t.kept[..], texts))?;
        out.end()
    }
}

impl<T> Serialize for With<'_, [T]>
where
    for<'a> With<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|item| With(item, self.1)))
    }
}

impl Serialize for With<'_, Change> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, texts) = (self.0, self.1);
        let mut out = s.serialize_tuple(5)?;
        out.serialize_element(&texts.text(&c.path))?;
        out.serialize_element(&c.kind)?;
        out.serialize_element(&c.old.as_ref().map(|v| [With(v, texts)]))?;
        out.serialize_element(&c.new.as_ref().map(|v| [With(v, texts)]))?;
        out.serialize_element(&c.reason)?;
        out.end()
    }
}

impl Serialize for With<'_, Conflict> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, texts) = (self.0, self.1);
        let mut out = s.serialize_tuple(4)?;
        out.serialize_element(&texts.text(&c.path))?;
        out.serialize_element(&c.last_applied.as_ref().map(|v| [With(v, texts)]))?;
        out.serialize_element(&c.desired.as_ref().map(|v| [With(v, texts)]))?;
        out.serialize_element(&c.live.as_ref().map(|v| [With(v, texts)]))?;
        out.end()
    }
}

impl Serialize for With<'_, Value> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let texts = self.1;
        match self.0 {
            Value::String(text) => s.serialize_str(&texts.text(text)),
            Value::Array(a) => s.collect_seq(a.iter().map(|v| With(v, texts))),
            Value::Object(m) => {
                let mut entries: Vec<(Cow<str>, &Value)> =
                    m.iter().map(|(k, v)| (texts.text(k), v)).collect();
                if let Texts::Abstracted(_) = texts {
                    // Keys are unique still (placeholders are told from text), but their
                    // order may be another.
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                s.collect_map(entries.into_iter().map(|(k, v)| (k, With(v, texts))))
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::environment::Tenant;
    use crate::patch::three_way::{Change, ChangeKind, Reason};
    use proptest::prelude::*;
    use serde_json::json;

    fn substitute(text: &str, subs: &[(&str, &str)]) -> String {
        let values: Vec<(String, String)> = subs
            .iter()
            .map(|(v, p)| ((*v).to_owned(), (*p).to_owned()))
            .collect();
        let placeholders = Placeholders::new(&values).unwrap();
        placeholders.text(text).into_owned()
    }

    fn tenant(key: &str, region: &str) -> TenantPlan {
        let mut vars = serde_json::Map::new();
        vars.insert("region".to_owned(), json!(region));
        let t = Tenant {
            key: key.to_owned(),
            id: format!("{key}-prod"),
            template: "saas".to_owned(),
            vars: vars.into(),
        };
        let mut p = TenantPlan::empty(&t);
        p.status = Status::Changes;
        p.changes = vec![Change {
            path: "/url".to_owned(),
            kind: ChangeKind::Replace,
            old: Some(json!(format!(
                "https://{key}-prod.{region}.old.example.com"
            ))),
            new: Some(json!(format!("https://{key}-prod.{region}.example.com"))),
            reason: Reason::Desired,
        }];
        p.counts = Counts::of(&p.changes);
        p
    }

    #[test]
    fn a_thousand_tenants_with_one_shared_change_are_one_group() {
        let mut groups = Groups::new(1 << 20);
        for i in 0..1000 {
            groups.add(&tenant(
                &format!("t{i:04}"),
                if i % 2 == 0 { "eu-west" } else { "us-east" },
            ));
        }
        let all: Vec<&Group> = groups.iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].tenants.len(), 1000);
        // One plan held, not a thousand.
        assert!(groups.held[0] < 2_000, "{:?}", groups.held);
        assert_eq!(
            all[0].names(3),
            "in 1,000 tenants: t0000, t0001, t0002 and 997 more"
        );
        let shown = all[0].shown().unwrap();
        assert_eq!(
            shown.changes[0].new,
            Some(json!(
                "https://{{ tenant.id }}.{{ vars.region }}.example.com"
            ))
        );
    }

    #[test]
    fn a_tenant_with_an_extra_change_is_a_group_of_its_own() {
        let mut groups = Groups::new(1 << 20);
        groups.add(&tenant("globex", "eu-west"));
        let mut extra = tenant("initech", "eu-west");
        extra.changes.push(Change {
            path: "/name".to_owned(),
            kind: ChangeKind::Replace,
            old: Some(json!("a")),
            new: Some(json!("b")),
            reason: Reason::Desired,
        });
        groups.add(&extra);
        groups.add(&tenant("umbrella", "us-east"));
        let all: Vec<&Group> = groups.iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].names(10), "in globex and umbrella");
        assert_eq!(all[1].names(10), "initech");
        // A group of one shows the tenant's own values.
        assert_eq!(
            all[1].shown().unwrap().changes[0].new,
            Some(json!("https://initech-prod.eu-west.example.com"))
        );
    }

    #[test]
    fn failures_stay_per_tenant() {
        let mut groups = Groups::new(1 << 20);
        for key in ["a1", "a2", "a3"] {
            let mut t = tenant(key, "eu-west");
            t.outcome = Some(Outcome::Failed);
            t.errors = vec![Diagnostic::new("refused")];
            groups.add(&t);
        }
        assert_eq!(groups.iter().count(), 3);
    }

    #[test]
    fn past_the_limit_groups_are_only_named() {
        let mut groups = Groups::new(0);
        groups.add(&tenant("abc", "eu-west"));
        groups.add(&tenant("abd", "eu-west"));
        let g = groups.iter().next().unwrap();
        assert!(g.shown().is_none());
        assert_eq!(g.tenants.len(), 2);
    }

    /// Regression: a value that holds the text of a placeholder itself is not the same change
    /// as a tenant's own value abstracted: a reviewer would read `{{ tenant.id }}` as each
    /// tenant's ID where one tenant gets the literal text.
    #[test]
    fn a_literal_placeholder_is_not_grouped_with_an_abstracted_value() {
        let mut groups = Groups::new(1 << 20);
        groups.add(&tenant("globex", "eu-west"));
        let mut literal = tenant("initech", "eu-west");
        literal.changes[0].new = Some(json!("https://{{ tenant.id }}.eu-west.example.com"));
        groups.add(&literal);
        let all: Vec<&Group> = groups.iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            substitute("{{ tenant.id }}", &[("acme", "{{ tenant.key }}")]),
            "{{ '{{' }} tenant.id }}"
        );
        // Also where a tenant has no value long enough to abstract.
        assert_eq!(
            substitute("{{ x", &[("ab", "{{ tenant.key }}")]),
            "{{ '{{' }} x"
        );
    }

    #[test]
    fn substitution_is_one_pass_and_longest_first() {
        let subs = [
            ("acme-prod", "{{ tenant.id }}"),
            ("acme", "{{ tenant.key }}"),
            ("ten", "{{ vars.x }}"),
        ];
        assert_eq!(
            substitute("acme-prod/acme/tenant", &subs),
            "{{ tenant.id }}/{{ tenant.key }}/{{ vars.x }}ant"
        );
        assert_eq!(thousands(1998), "1,998");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    /// Regression: a template gained the literal text ` - gold support available`; tenants
    /// with `vars.plan: gold` were a group showing `{{ vars.plan }} support available`, the
    /// others a second group: one change shown as two, and literal text as a placeholder.
    #[test]
    fn a_literal_text_equal_to_a_variable_is_one_group_with_the_real_text() {
        let mut groups = Groups::new(1 << 20);
        for (i, plan) in ["gold", "silver", "gold", "bronze"].iter().enumerate() {
            let mut t = tenant(&format!("t{i:04}"), "eu-west");
            t.placeholders
                .push((plan.to_string(), "{{ vars.plan }}".to_owned()));
            t.changes[0] = Change {
                path: "/description".to_owned(),
                kind: ChangeKind::Replace,
                old: Some(json!("Acme")),
                new: Some(json!("Acme - gold support available")),
                reason: Reason::Desired,
            };
            groups.add(&t);
        }
        let all: Vec<&Group> = groups.iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].tenants.len(), 4);
        assert!(!all[0].shows_placeholders());
        assert_eq!(
            all[0].shown().unwrap().changes[0].new,
            Some(json!("Acme - gold support available"))
        );
        // Concrete plans that differ still merge by the abstracted plan, shown abstracted.
        let mut groups = Groups::new(1 << 20);
        groups.add(&tenant("globex", "eu-west"));
        groups.add(&tenant("globex", "eu-west"));
        groups.add(&tenant("initech", "eu-west"));
        let all: Vec<&Group> = groups.iter().collect();
        assert_eq!(all.len(), 1);
        assert!(all[0].shows_placeholders());
    }

    #[test]
    fn failures_come_first_and_have_their_own_budget() {
        let mut failed = tenant("zzz", "eu-west");
        failed.errors = vec![Diagnostic::new("refused")];
        let size = serde_json::to_string(&shown_part(&failed)).unwrap().len();
        let mut groups = Groups::new(size);
        groups.add(&tenant("abc", "eu-west"));
        let mut other = tenant("abd", "eu-west");
        other.counts.add = 9;
        groups.add(&other);
        groups.add(&failed);
        let order: Vec<(&str, bool)> = groups
            .ordered()
            .map(|g| (g.tenants[0].0.as_str(), g.shown().is_some()))
            .collect();
        // The others' budget is spent after `abc`; the failure is held in its own.
        assert_eq!(order, [("zzz", true), ("abc", true), ("abd", false)]);
    }

    /// Texts made of pieces that are tenant values, parts of them, braces and plain text.
    fn arb_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("acme"),
            Just("acme-prod"),
            Just("globex"),
            Just("globex-prod"),
            Just("eu-west"),
            Just("{{"),
            Just("{{ tenant.id }}"),
            Just("{"),
            Just("-"),
            Just("ac"),
            Just("x"),
        ];
        proptest::collection::vec(piece, 0..4).prop_map(|p| p.concat())
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i8>().prop_map(|n| json!(n)),
            arb_text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map(arb_text(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A plan of tenant `acme` or `globex` (both in `eu-west`) with one change.
    fn arb_plan() -> impl Strategy<Value = TenantPlan> {
        (
            prop_oneof![Just("acme"), Just("globex")],
            arb_text(),
            proptest::option::of(arb_value()),
            proptest::option::of(arb_value()),
        )
            .prop_map(|(key, path, old, new)| {
                let mut t = tenant(key, "eu-west");
                t.changes[0].path = format!("/{path}");
                t.changes[0].old = old;
                t.changes[0].new = new;
                t
            })
    }

    proptest! {
        /// Two plans share a digest exactly when what a report shows of them is the same:
        /// as they are (without key and ID), and abstracted.
        #[test]
        fn digests_are_equal_exactly_when_the_shown_plans_are(a in arb_plan(), b in arb_plan()) {
            let bare = |t: &TenantPlan| {
                let mut t = shown_part(t);
                t.key = String::new();
                t.id = String::new();
                t.placeholders = Vec::new();
                t
            };
            prop_assert_eq!(
                concrete_signature(&a) == concrete_signature(&b),
                bare(&a) == bare(&b)
            );
            let shown = |t: &TenantPlan| bare(&abstracted(&shown_part(t)));
            prop_assert_eq!(
                signature(&a).unwrap() == signature(&b).unwrap(),
                shown(&a) == shown(&b)
            );
        }
    }
}
