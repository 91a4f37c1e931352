//! Apply: push each tenant's plan to the platform, check that it took, record what was applied.
//!
//! Per tenant, in this order, and nothing of one tenant stops or hides another:
//!
//! 1. render and validate (the command refuses to start when any tenant is invalid);
//! 2. export live, plan three-way against the last-applied state (conflicts per `--mode`);
//! 3. refuse removals of whole objects without `--allow-delete`, and above a fifth of the
//!    tenant's objects without `--force`;
//! 4. save a backup (the export with credentials, as the platform sent it, mode 0600) before
//!    the first write;
//! 5. supply credentials from `secret()` for objects this apply creates (or every one with
//!    `--rotate-secrets`), from `PROMOTE_SECRET_<NAME>` or the secrets file (`PROMOTE_SECRETS_FILE`);
//! 6. send one patch (RFC 7396 when exact, else RFC 6902 with `test` ops), then import each new
//!    workspace; with `--dry-run` the platform validates and changes nothing;
//! 7. export again and check that every planned path holds its desired value: the platform can
//!    answer 204 and still drop part of a change;
//! 8. the caller records the tenants that succeeded in `refs/promote/state`.

pub mod backup_name;
pub mod fleet;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::baseline::Live;
use crate::client::Target;
use crate::credentials::{self, secrets, Scope};
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::ignore::Ignore;
use crate::layout;
use crate::patch::pointer;
use crate::patch::three_way::{self, Change, ChangeKind, Conflict, DriftPolicy, Mode, Touched};
use crate::pipeline::Project;
use crate::plan::{Outcome, Status, TenantPlan};
use crate::prepare::{prepare, Desired, Policy, PreparedPlan};
use crate::scrub::Held;
use crate::state::{AppliedRecord, Encoded};

/// How an apply runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// Drift restored (the default) or kept (`--drift keep`): then only what the repository
    /// changed since the last apply is sent.
    pub drift: DriftPolicy,
    pub dry_run: bool,
    pub allow_delete: bool,
    pub force: bool,
    pub rotate_secrets: bool,
    /// Where backups go: `<dir>/<env>/<tenant>/<timestamp>.json`.
    pub backups: PathBuf,
    /// The source commit, recorded in the state.
    pub source: Option<String>,
    /// Make up a random value for a secret whose variable is not set (emulator targets only:
    /// `apply --env local` works on a fresh machine).
    pub invent_secrets: bool,
    /// The tenants applied are all those the source commit can change (the whole environment,
    /// or everything a change affects): a clean apply of a new source is then recorded even
    /// when nothing changed, for the promotion gates. Not for a `--tenant` selection.
    pub complete: bool,
}

impl Options {
    /// What this apply may remove.
    pub(crate) fn deletes(&self) -> Deletes {
        Deletes {
            allow: self.allow_delete,
            force: self.force,
        }
    }
}

/// What a write may remove from a tenant: whole objects with `--allow-delete` (`allow`), more
/// than a fifth of them also with `--force` ([`check_removals`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Deletes {
    pub allow: bool,
    pub force: bool,
}

/// Removing more than this share of a tenant's objects needs `--force`.
pub(crate) const DELETE_CAP: f64 = 0.2;

/// What applying one tenant did: its report, and what to record if it succeeded.
#[derive(Debug)]
pub struct TenantApply {
    pub report: TenantPlan,
    pub record: Option<Encoded>,
}

/// A tenant after planning, before anything is sent to it.
#[derive(Debug)]
pub(crate) enum Planned {
    /// The repository's tenant does not render or validate: nothing of the run may be applied.
    Invalid(TenantApply),
    /// Nothing is to be sent: the tenant failed (see its report) or has no change.
    Done(TenantApply),
    /// A plan with something to send, held until it is sent.
    Ready(Box<Ready>),
}

/// A tenant's prepared plan, held between planning and sending.
#[derive(Debug)]
pub(crate) struct Ready {
    /// The prepared plan, its desired tree taken out (`null`) while it is held.
    prepared: PreparedPlan,
    /// The desired tree as compact JSON: a fifth of the memory the tree takes, and a fleet
    /// holds many.
    desired: Vec<u8>,
    /// A digest of the live tree the plan was made against: the plan is sent as it is only to
    /// a tenant that still holds that tree, and made again otherwise.
    live: [u8; 20],
}

impl Ready {
    /// Holds `prepared`, made against `live`.
    fn new(mut prepared: PreparedPlan, live: &Value) -> Ready {
        let tree = std::mem::take(&mut prepared.desired.tree);
        // Serializing a `Value` cannot fail: its map keys are strings.
        let desired = serde_json::to_vec(&tree).unwrap_or_default();
        Ready {
            prepared,
            desired,
            live: digest(live),
        }
    }

    /// About how many bytes of memory the plan holds: its desired tree and its patch (twice:
    /// what is sent and what the report shows).
    pub(crate) fn held_bytes(&self) -> usize {
        let patch = self.prepared.report.patch.as_ref().map_or(0, approx_bytes);
        self.desired.len() + 2 * patch
    }

    /// The report of the held plan.
    pub(crate) fn report(&self) -> &TenantPlan {
        &self.prepared.report
    }

    /// The prepared plan, its desired tree back.
    fn prepared(self) -> PreparedPlan {
        let mut prepared = self.prepared;
        // What `new` wrote, read back: valid JSON.
        prepared.desired.tree = serde_json::from_slice(&self.desired).unwrap_or_default();
        prepared
    }
}

/// About how many bytes of memory `value` takes: its strings and keys, and a fixed cost per
/// value and per map entry.
fn approx_bytes(value: &Value) -> usize {
    const VALUE: usize = 32;
    const ENTRY: usize = 48;
    match value {
        Value::String(s) => VALUE + s.len(),
        Value::Array(items) => VALUE + items.iter().map(approx_bytes).sum::<usize>(),
        Value::Object(map) => {
            VALUE
                + map
                    .iter()
                    .map(|(k, v)| ENTRY + k.len() + approx_bytes(v))
                    .sum::<usize>()
        }
        _ => VALUE,
    }
}

/// Returns the report of a tenant that failed with `errors`, from what `report` shows so far.
fn failed(env: &str, t: &Tenant, mut report: TenantPlan, errors: Vec<Diagnostic>) -> TenantApply {
    report.status = Status::Error;
    report.outcome = Some(Outcome::Failed);
    report.errors = errors
        .into_iter()
        .map(|d| d.context(env, Some(&t.key)))
        .collect();
    TenantApply {
        report,
        record: None,
    }
}

/// Plans one tenant for applying: renders it (once per apply), exports it, and prepares the
/// plan against its last-applied record. Never panics on the platform's answers; every failure
/// is in the report.
pub(crate) fn plan(project: &Project, live: &Live, t: &Tenant, opts: &Options) -> Planned {
    let env = &project.env.name;
    let desired = match Desired::render(project, t, true) {
        Ok(desired) => desired,
        Err(e) => return Planned::Invalid(failed(env, t, TenantPlan::empty(t), e)),
    };
    match export_and_plan(live, t, project.ignore(t), desired, opts) {
        Ok((planned, ..)) => planned,
        Err(e) => Planned::Done(failed(env, t, TenantPlan::empty(t), e)),
    }
}

/// Exports tenant `t` with credentials (the bytes serve the backup). Returns the bytes, the
/// export without credentials, and the credential values it held: nothing shown of the tenant
/// shows them, wherever the platform put them (a client secret copied into a description).
fn export_held(live: &Live, t: &Tenant) -> Result<(Vec<u8>, Value, Held), Vec<Diagnostic>> {
    let (exported, mut current) = live.export_bytes(t, true)?;
    let held = held_in(&[&current]);
    credentials::strip(&mut current, Scope::Tenant);
    Ok((exported, current, held))
}

/// The credential values `trees` (tenant trees with credentials) hold.
pub(crate) fn held_in(trees: &[&Value]) -> Held {
    let mut values = Vec::new();
    for tree in trees {
        credentials::for_each(tree, Scope::Tenant, |_, value| strings(value, &mut values));
    }
    Held::new(values)
}

/// Every string of `value` (a structured credential's keys are field names, not secrets).
fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// `out` with the `held` credential values taken out of its report.
fn scrubbed(mut out: TenantApply, held: &Held) -> TenantApply {
    out.report.scrub(held);
    out
}

/// Exports tenant `t` (with credentials, as the platform sends them: the bytes serve the
/// backup) and plans `desired` against it. Returns the plan, the export's bytes, the export
/// without credentials, and the credentials it held (taken out of the plan's report).
fn export_and_plan(
    live: &Live,
    t: &Tenant,
    ignore: &Ignore,
    desired: Desired,
    opts: &Options,
) -> Result<(Planned, Vec<u8>, Value, Held), Vec<Diagnostic>> {
    let (exported, current, held) = export_held(live, t)?;
    let last_applied = live.last_applied(t)?.map(|a| a.tree);
    let mut planned = plan_against(
        &live.env,
        (t, ignore),
        desired,
        last_applied.as_ref(),
        &current,
        opts,
    );
    // A plan held to send is scrubbed once sent (what it reads back is the plan's own); the
    // prompt before shows only its paths.
    if let Planned::Done(done) | Planned::Invalid(done) = &mut planned {
        done.report.scrub(&held);
    }
    Ok((planned, exported, current, held))
}

/// Prepares `desired` against `current` (live without credentials), leaving alone the paths
/// `ignore` names, and checks what apply may send: credentials supplied, removals allowed.
fn plan_against(
    env: &str,
    (t, ignore): (&Tenant, &Ignore),
    desired: Desired,
    last: Option<&Value>,
    current: &Value,
    opts: &Options,
) -> Planned {
    let supply = |references: &[(String, Value)], live: &Value, touched: &mut Touched| {
        supply_secrets(
            references,
            live,
            touched,
            opts.rotate_secrets,
            opts.invent_secrets,
        )
    };
    let policy = Policy {
        mode: opts.mode,
        drift: opts.drift,
        ignore,
    };
    let prepared = match prepare(t, desired, last, current, policy, false, Some(&supply)) {
        Ok(prepared) => prepared,
        Err(refused) => {
            // The conflicts `--mode fail` refused stay in the report, with their three values.
            return Planned::Done(self::refused(env, t, refused.report, vec![refused.error]));
        }
    };
    if prepared.plan.is_empty() && prepared.report.secrets.is_empty() {
        let PreparedPlan {
            mut report,
            plan,
            desired,
            ..
        } = prepared;
        report.outcome = Some(Outcome::Unchanged);
        // Nothing to send; the state still learns what the tenant is meant to hold.
        return Planned::Done(TenantApply {
            report,
            record: record_unsent(desired.tree, &plan.skipped, last, opts),
        });
    }
    if let Err(d) = check_removals(current, &prepared.plan, opts.deletes()) {
        return Planned::Done(refused(env, t, prepared.report, vec![d]));
    }
    Planned::Ready(Box::new(Ready::new(prepared, current)))
}

/// A digest of a tree: serde_json objects keep their keys sorted, so equal trees give equal
/// digests.
fn digest(tree: &Value) -> [u8; 20] {
    use sha1::Digest as _;
    let bytes = serde_json::to_vec(tree).unwrap_or_default();
    sha1::Sha1::digest(bytes).into()
}

/// Sends a planned tenant: saves a backup before the first write, sends the prepared plan (or,
/// when the tenant changed since it was planned, the plan made again against what it holds
/// now, leaving alone what `ignore` names), checks that it took, and returns what to record.
pub(crate) fn send(
    live: &Live,
    (t, ignore): (&Tenant, &Ignore),
    ready: Ready,
    opts: &Options,
) -> TenantApply {
    let env = &live.env;
    // One export serves the backup (with credentials, as the platform sent it) and the check
    // that the tenant still holds what the plan was made against.
    let (exported, current, held) = match export_held(live, t) {
        Ok(export) => export,
        Err(e) => return failed(env, t, ready.prepared.report, e),
    };
    let out = send_exported(live, (t, ignore), ready, exported, current, opts);
    scrubbed(out, &held)
}

/// Plans tenant `t` and sends the plan at once, with the one export serving both: what
/// [`fleet`] does for a tenant whose plan it did not hold.
pub(crate) fn plan_and_send(
    project: &Project,
    live: &Live,
    t: &Tenant,
    opts: &Options,
) -> TenantApply {
    let env = &project.env.name;
    let desired = match Desired::render(project, t, true) {
        Ok(desired) => desired,
        Err(e) => return failed(env, t, TenantPlan::empty(t), e),
    };
    let ignore = project.ignore(t);
    match export_and_plan(live, t, ignore, desired, opts) {
        Ok((Planned::Ready(ready), exported, current, held)) => {
            let out = send_exported(live, (t, ignore), *ready, exported, current, opts);
            scrubbed(out, &held)
        }
        Ok((Planned::Done(done) | Planned::Invalid(done), ..)) => done,
        Err(e) => failed(env, t, TenantPlan::empty(t), e),
    }
}

/// [`send`] with the tenant's export (`exported`, with credentials) and `current` (that export
/// without them) already made.
fn send_exported(
    live: &Live,
    (t, ignore): (&Tenant, &Ignore),
    ready: Ready,
    exported: Vec<u8>,
    current: Value,
    opts: &Options,
) -> TenantApply {
    let env = &live.env;
    let moved = digest(&current) != ready.live;
    let prepared = ready.prepared();
    let prepared = if !moved {
        prepared
    } else {
        // The platform moved since the plan: plan again, so that what is sent (and shown) is
        // made against what the tenant holds now.
        let last_applied = match live.last_applied(t) {
            Ok(a) => a.map(|a| a.tree),
            Err(e) => return refused(env, t, prepared.report, e),
        };
        match plan_against(
            env,
            (t, ignore),
            prepared.desired,
            last_applied.as_ref(),
            &current,
            opts,
        ) {
            Planned::Ready(again) => again.prepared(),
            Planned::Done(done) | Planned::Invalid(done) => return done,
        }
    };
    send_prepared(live, t, prepared, exported, current, opts)
}

/// Sends a saved plan's change to tenant `t` ([`crate::saved`]): exports the tenant, refuses it
/// when the platform moved at a path the plan assumes or the plan removes objects `opts` does
/// not allow, and otherwise sends exactly the file's patch (markers resolved) as
/// [`send_prepared`] does. `desired` is the tree rendered again from the plan's commit, to
/// record.
pub(crate) fn send_saved(
    live: &Live,
    t: &Tenant,
    change: crate::saved::SavedChange,
    desired: Desired,
    opts: &Options,
) -> TenantApply {
    let (exported, current, held) = match export_held(live, t) {
        Ok(export) => export,
        Err(e) => return failed(&live.env, t, TenantPlan::empty(t), e),
    };
    let out = send_saved_exported(live, t, (change, desired), (exported, current), opts);
    scrubbed(out, &held)
}

/// [`send_saved`] with the tenant's export (`exported`, with credentials) and `current` (that
/// export without them) made.
fn send_saved_exported(
    live: &Live,
    t: &Tenant,
    (change, desired): (crate::saved::SavedChange, Desired),
    (exported, current): (Vec<u8>, Value),
    opts: &Options,
) -> TenantApply {
    let env = &live.env;
    let moved = change.moved(&current);
    let already = !moved.is_empty() && change.already_applied(&current);
    let invent = opts.invent_secrets;
    if already {
        // Markers stay markers: nothing is sent.
        return match change.prepared(t, desired, |v| Ok(v.clone())) {
            Ok(prepared) => already_applied(live, t, prepared, opts),
            Err(d) => refused(env, t, TenantPlan::empty(t), vec![d]),
        };
    }
    let prepared = match change.prepared(t, desired, |v| resolve_markers(v, invent)) {
        Ok(prepared) => prepared,
        Err(d) => return refused(env, t, TenantPlan::empty(t), vec![d]),
    };
    if !moved.is_empty() {
        let error = Diagnostic::new(format!(
            "the platform changed {} path(s) the saved plan relies on since it was made, and does not hold what the plan sets either; nothing was sent to this tenant: {}",
            moved.len(),
            crate::saved::moved_text(&moved)
        ))
        .hint(format!(
            "plan this tenant again, review the new plan and apply that: {}",
            crate::saved::plan_again(env, &[t.key.as_str()])
        ));
        return refused(env, t, prepared.report, vec![error]);
    }
    if let Err(d) = check_removals(&current, &prepared.plan, opts.deletes()) {
        return refused(env, t, prepared.report, vec![d]);
    }
    send_prepared(live, t, prepared, exported, current, opts)
}

/// A saved plan's tenant whose platform already holds what the plan sets (an earlier run of
/// the plan, or the same change made by hand): nothing is sent, and what the plan applies is
/// recorded as a normal apply records it, unless the state already has it.
fn already_applied(live: &Live, t: &Tenant, prepared: PreparedPlan, opts: &Options) -> TenantApply {
    let PreparedPlan {
        mut report,
        plan,
        desired,
        ..
    } = prepared;
    let last_applied = match live.last_applied(t) {
        Ok(a) => a.map(|a| a.tree),
        Err(e) => return refused(&live.env, t, report, e),
    };
    report.status = Status::Unchanged;
    report.outcome = Some(Outcome::Unchanged);
    report.already = true;
    report.counts = crate::plan::Counts::default();
    report.changes.clear();
    report.conflicts.clear();
    report.secrets.clear();
    report.patch = None;
    TenantApply {
        report,
        record: record_unsent(desired.tree, &plan.skipped, last_applied.as_ref(), opts),
    }
}

/// The record of a tenant to which nothing was sent because it holds what the repository
/// says: `desired` with the `skipped` conflicts as last applied, unless the state (`last`)
/// has it already or this is a dry run.
fn record_unsent(
    desired: Value,
    skipped: &[Conflict],
    last: Option<&Value>,
    opts: &Options,
) -> Option<Encoded> {
    let tree = recorded(desired, skipped);
    let known = last.is_some_and(|l| *l == tree);
    let record = AppliedRecord {
        tree,
        source: opts.source.clone(),
    };
    (!known && !opts.dry_run).then(|| record.encode())
}

/// [`failed`] for a tenant refused before anything was sent to it: its report lists no
/// secrets as sent.
fn refused(env: &str, t: &Tenant, mut report: TenantPlan, errors: Vec<Diagnostic>) -> TenantApply {
    report.secrets.clear();
    failed(env, t, report, errors)
}

/// Sends `prepared` to tenant `t`, whose export is `exported` (with credentials) and `current`
/// (without): saves the backup, sends, reads back, and returns what to record.
fn send_prepared(
    live: &Live,
    t: &Tenant,
    prepared: PreparedPlan,
    exported: Vec<u8>,
    current: Value,
    opts: &Options,
) -> TenantApply {
    let env = &live.env;
    let PreparedPlan {
        mut report,
        sending,
        plan,
        desired,
    } = prepared;
    if !opts.dry_run {
        let taken = crate::rollback::Taken {
            by: crate::rollback::TakenBy::Apply,
            source: opts.source.clone(),
        };
        match save_backup(env, t, &exported, &opts.backups, &taken) {
            Ok(path) => report.backup = Some(path.display().to_string()),
            Err(d) => return refused(env, t, report, vec![d]),
        }
    }
    drop(exported);
    let record = AppliedRecord {
        tree: recorded(desired.tree, &plan.skipped),
        source: opts.source.clone(),
    };
    let how = (opts.mode, opts.dry_run);
    if let Err(d) = sending.send(&live.client, &t.id, how, "change", || {
        sending.applied_to(current)
    }) {
        return failed(env, t, report, vec![d]);
    }
    if opts.dry_run {
        report.outcome = Some(Outcome::DryRun);
        return TenantApply {
            report,
            record: None,
        };
    }
    let after = match live.export(t) {
        Ok(tree) => tree,
        Err(e) => return failed(env, t, report, e),
    };
    let (took, missed) = read_back(std::mem::take(&mut report.changes), &after);
    if missed.is_empty() {
        report.changes = took;
        report.outcome = Some(Outcome::Applied);
        return TenantApply {
            report,
            record: Some(record.encode()),
        };
    }
    let missing = missing_paths(&missed, took.len());
    if took.is_empty() {
        // Nothing took: the tenant failed, and its plan stays as it was.
        report.changes = missed;
        return failed(env, t, report, vec![missing]);
    }
    report.changes = took;
    partly_applied(env, t, report, missed, missing, record, &after)
}

/// The error of a tenant whose platform did not take the `missed` changes (and took `took`
/// others).
fn missing_paths(missed: &[Change], took: usize) -> Diagnostic {
    let shown: Vec<String> = missed
        .iter()
        .map(|c| crate::report::path_text(&c.path))
        .collect();
    let paths: Vec<&str> = shown.iter().map(String::as_str).collect();
    let rest = if took == 0 {
        "nothing of the change was applied"
    } else {
        "the rest was applied and recorded"
    };
    Diagnostic::new(format!(
        "the platform accepted the change but {} of its {} path(s) do not hold the desired value: {}",
        missed.len(),
        missed.len() + took,
        first_of(&paths, 10)
    ))
    .hint(match dropped_fields(missed) {
        Some(fields) => format!("the platform drops fields it does not know, and the configuration has {fields}; {rest}. Fix the field names (`promote validate` lists them) and apply again"),
        None => format!("the platform dropped part of the change (an idp whose identity pool does not exist is silently not created, for one); {rest}. Fix the configuration and apply again"),
    })
}

/// The fields of the `missed` changes that the platform's model does not know, which it drops
/// on every write, in words: "`scopez` at /servers/w/clients/c/scopez (did you mean `scopes`?)".
fn dropped_fields(missed: &[Change]) -> Option<String> {
    let model = promote_platform::model::tenant();
    let mut unknown = Vec::new();
    for c in missed {
        let (Some(new), Ok(tokens)) = (&c.new, pointer::parse(&c.path)) else {
            continue;
        };
        unknown.extend(model.unknown_in(&tokens, new));
    }
    let words: Vec<String> = unknown
        .iter()
        .map(|u| {
            let near = u
                .nearest
                .as_ref()
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            format!(
                "`{}` at {}{near}",
                crate::diagnostic::quoted(&u.field),
                crate::report::path_text(&u.pointer)
            )
        })
        .collect();
    let shown: Vec<&str> = words.iter().map(String::as_str).collect();
    (!words.is_empty()).then(|| first_of(&shown, 5))
}

/// The report and record of a tenant that took only part of its change: `report.changes` are
/// what it took, `missed` what it did not. What it took is recorded as applied, so that the
/// next plan neither shows it again nor takes it for drift; at the paths it missed the state
/// records what the platform holds (`after`), so the next plan shows those changes again.
fn partly_applied(
    env: &str,
    t: &Tenant,
    mut report: TenantPlan,
    missed: Vec<Change>,
    error: Diagnostic,
    mut record: AppliedRecord,
    after: &Value,
) -> TenantApply {
    for c in &missed {
        let Ok(tokens) = pointer::parse(&c.path) else {
            continue;
        };
        put(&mut record.tree, &tokens, after.pointer(&c.path).cloned());
    }
    report.counts = crate::plan::Counts::of(&report.changes);
    report.not_applied = missed;
    report.outcome = Some(Outcome::PartlyApplied);
    report.errors = vec![error.context(env, Some(&t.key))];
    TenantApply {
        report,
        record: Some(record.encode()),
    }
}

/// Splits the `changes` sent into what the platform took and what it did not, reading what it
/// holds `after`. A change of a map it took in part (a new workspace created without the one
/// field it dropped) counts as taken, and only the places it did not take are missed, each
/// as a change of its own, so that the report names them rather than the whole map.
fn read_back(changes: Vec<Change>, after: &Value) -> (Vec<Change>, Vec<Change>) {
    let mut took = Vec::new();
    let mut missed = Vec::new();
    for c in changes {
        let now = after.pointer(&c.path);
        match (c.kind, now, &c.new) {
            (ChangeKind::Remove, None, _) => took.push(c),
            (ChangeKind::Remove, Some(_), _) => missed.push(c),
            (_, Some(now), Some(new)) if holds(now, new) => took.push(c),
            (_, Some(now @ Value::Object(_)), Some(new @ Value::Object(_))) => {
                let mut places = Vec::new();
                unheld(&c.path, Some(now), new, &mut places);
                missed.extend(places.into_iter().map(|(path, old, new)| Change {
                    kind: if old.is_some() {
                        ChangeKind::Replace
                    } else {
                        ChangeKind::Add
                    },
                    path,
                    old,
                    new: Some(new),
                    reason: c.reason,
                }));
                took.push(c);
            }
            _ => missed.push(c),
        }
    }
    (took, missed)
}

/// Collects the deepest places at or below `at` where `live` does not hold `desired` (see
/// [`holds`]), with what live has there.
fn unheld(
    at: &str,
    live: Option<&Value>,
    desired: &Value,
    out: &mut Vec<(String, Option<Value>, Value)>,
) {
    match (live, desired) {
        (Some(Value::Object(l)), Value::Object(d)) => {
            for (k, dv) in d {
                unheld(&pointer::join(at, k), l.get(k), dv, out);
            }
        }
        (Some(l), d) if l == d => {}
        (l, d) => out.push((at.to_owned(), l.cloned(), d.clone())),
    }
}

/// Whether `live` holds `desired`: equal, or for maps every key of `desired` held recursively
/// (the platform adds what it generates itself, such as signing keys, and server defaults).
fn holds(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| l.get(k).is_some_and(|lv| holds(lv, dv))),
        _ => live == desired,
    }
}

/// The first `n` of `paths`, and how many more there are.
fn first_of(paths: &[&str], n: usize) -> String {
    let shown = paths[..paths.len().min(n)].join(", ");
    match paths.len().saturating_sub(n) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Refuses removing whole objects without `--allow-delete`, and too many without `--force`
/// (apply's rule, which rollback and migrate follow too).
pub(crate) fn check_removals(
    live: &Value,
    planned: &three_way::Plan,
    deletes: Deletes,
) -> Result<(), Diagnostic> {
    let Deletes {
        allow: allow_delete,
        force,
    } = deletes;
    let removed = planned.removed_objects(live);
    if removed.is_empty() {
        return Ok(());
    }
    let before = layout::entries(live);
    let removed: Vec<&str> = removed.iter().map(|s| s.as_str()).collect();
    let list = first_of(&removed, 10);
    if !allow_delete {
        return Err(Diagnostic::new(format!(
            "the plan removes {} object(s): {list}",
            removed.len()
        ))
        .hint("removing objects from a live tenant needs --allow-delete (check the plan first)"));
    }
    if removed.len() as f64 > DELETE_CAP * before.len() as f64 && !force {
        return Err(Diagnostic::new(format!(
            "the plan removes {} of the tenant's {} objects, more than a fifth: {list}",
            removed.len(),
            before.len()
        ))
        .hint("a removal this large is usually a mistake (a wrong template or tenant ID); if it is meant, add --force"));
    }
    Ok(())
}

/// Puts credential values into the plan's result (`touched`) where the repository names them with `secret()`, for
/// objects this apply creates (everywhere with `rotate`). The values come from
/// `PROMOTE_SECRET_<NAME>` or the secrets file ([`secrets`]). Returns the pointers it filled (never the values).
fn supply_secrets(
    references: &[(String, Value)],
    live: &Value,
    touched: &mut Touched,
    rotate: bool,
    invent: bool,
) -> Result<Vec<String>, Diagnostic> {
    supply_with(references, live, touched, rotate, |value| {
        resolve_markers(value, invent)
    })
}

/// Puts the repository's `secret()` markers (not their values) into the plan's result where
/// apply would supply credentials: what a saved plan holds ([`crate::saved`]); apply resolves
/// them when it sends the plan. Returns the pointers it filled.
pub(crate) fn supply_markers(
    references: &[(String, Value)],
    live: &Value,
    touched: &mut Touched,
) -> Result<Vec<String>, Diagnostic> {
    supply_with(references, live, touched, false, |value| Ok(value.clone()))
}

/// Puts `resolve(marker)` into `touched` for each reference of an object `live` does not have
/// (every reference with `rotate`). Returns the pointers it filled.
fn supply_with(
    references: &[(String, Value)],
    live: &Value,
    touched: &mut Touched,
    rotate: bool,
    resolve: impl Fn(&Value) -> Result<Value, Diagnostic>,
) -> Result<Vec<String>, Diagnostic> {
    let mut sent = Vec::new();
    for (at, value) in references {
        let Ok(tokens) = pointer::parse(at) else {
            continue;
        };
        let created = layout::entry_prefixes(&layout::TENANT, &tokens)
            .iter()
            .any(|n| live.pointer(&pointer::from_keys(&tokens[..*n])).is_none());
        if !(created || rotate) {
            continue;
        }
        touched.set(live, &tokens, resolve(value)?);
        sent.push(at.clone());
    }
    Ok(sent)
}

/// Replaces every `<secret:NAME>` marker in `value` with its value ([`secrets::lookup`]: the
/// variable `PROMOTE_SECRET_NAME` or the secrets file), or a random value when neither has it
/// and `invent` is on.
pub(crate) fn resolve_markers(value: &Value, invent: bool) -> Result<Value, Diagnostic> {
    Ok(match value {
        Value::String(s) => match credentials::marker_name(s) {
            Some(name) => match secrets::lookup(name)? {
                Some(v) => {
                    crate::scrub::register(&v);
                    Value::String(v)
                }
                None if invent => Value::String(
                    promote_platform::random::secret()
                        .map_err(|e| Diagnostic::new(format!("no randomness: {e}")))?,
                ),
                None => {
                    return Err(Diagnostic::new(format!(
                        "secret `{name}` is needed to create an object but {}",
                        secrets::sources(name)
                    ))
                    .hint(format!(
                        "export {}=... (from your secret store), or name a secrets file outside the repository with {}, and apply again",
                        secrets::var(name),
                        secrets::FILE_VAR
                    )))
                }
            },
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_markers(v, invent))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_markers(v, invent)?)))
                .collect::<Result<Map<_, _>, Diagnostic>>()?,
        ),
        other => other.clone(),
    })
}

/// What the state records as applied: the desired tree, except where `--mode ignore` kept the
/// platform's value. Nothing was applied there, so the last-applied value stays, and the path
/// stays a conflict (not drift) until one side gives in.
fn recorded(desired: Value, skipped: &[Conflict]) -> Value {
    let mut tree = desired;
    for c in skipped {
        let Ok(tokens) = pointer::parse(&c.path) else {
            continue;
        };
        put(&mut tree, &tokens, c.last_applied.clone());
    }
    tree
}

/// Sets the value at `tokens` in `tree` to `value`, or removes it when `None` (the root
/// becomes an empty map), creating the maps on the way.
pub(crate) fn put(tree: &mut Value, tokens: &[String], value: Option<Value>) {
    let Some((last, parents)) = tokens.split_last() else {
        *tree = value.unwrap_or_else(|| Value::Object(Map::new()));
        return;
    };
    let mut at = tree;
    for t in parents {
        let Value::Object(map) = at else { return };
        if value.is_none() && !map.contains_key(t) {
            return;
        }
        at = map
            .entry(t.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(map) = at {
        match value {
            Some(v) => map.insert(last.clone(), v),
            None => map.remove(last),
        };
    }
}

/// Saves an export of the tenant, with credentials, readable by its owner only.
pub fn backup(
    live: &Live,
    t: &Tenant,
    dir: &Path,
    taken: &crate::rollback::Taken,
) -> Result<PathBuf, Diagnostic> {
    let (bytes, _) = live
        .client
        .export_bytes(Target::Tenant(&t.id), true)
        .map_err(|f| {
            Diagnostic::new(format!("cannot export tenant `{}` for a backup: {f}", t.id))
        })?;
    save_backup(&live.env, t, &bytes, dir, taken)
}

/// Writes `export` (the platform's answer, byte for byte) as a new backup of tenant `t` of
/// `env`: `<dir>/<env>/<key>/<name>.json` ([`backup_name`]), mode 0600. Never replaces a
/// backup: a name another run took is passed over for the next. Its owner record (whose it
/// is, what took it) goes beside it.
fn save_backup(
    env: &str,
    t: &Tenant,
    export: &[u8],
    dir: &Path,
    taken: &crate::rollback::Taken,
) -> Result<PathBuf, Diagnostic> {
    let env_name = env;
    let env = crate::keys::encode(env).map_err(|e| Diagnostic::new(e.to_string()))?;
    let key = crate::keys::encode(&t.key).map_err(|e| Diagnostic::new(e.to_string()))?;
    let (rel, path) = {
        let mut tries = 0;
        loop {
            // Never through a symlink under the backups' directory.
            let rel = format!("{env}/{key}/{}", backup_name::BackupName::fresh());
            match crate::files::create_under(dir, &rel, export, crate::files::WriteMode::PRIVATE) {
                Ok(path) => break (rel, path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
                Err(e) => return Err(Diagnostic::new(format!("cannot save the backup: {e:#}"))),
            }
        }
    };
    let owner = crate::rollback::Owner::of(env_name, t, export, taken);
    crate::files::write_under(
        dir,
        &format!("{rel}{}", crate::rollback::OWNER_SUFFIX),
        &owner.to_bytes(),
        crate::files::WriteMode::PRIVATE,
    )
    .map_err(|e| Diagnostic::new(format!("cannot save the backup: {e:#}")))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn skipped_paths_keep_their_last_applied_value_in_the_record() {
        let desired = json!({"a": "new", "b": "new", "c": "same"});
        let skipped = [
            Conflict {
                path: "/a".into(),
                last_applied: Some(json!("old")),
                desired: Some(json!("new")),
                live: Some(json!("live")),
            },
            Conflict {
                path: "/b".into(),
                last_applied: None,
                desired: Some(json!("new")),
                live: Some(json!("live")),
            },
        ];
        assert_eq!(
            recorded(desired.clone(), &skipped),
            json!({"a": "old", "c": "same"})
        );
        assert_eq!(recorded(desired.clone(), &[]), desired);
    }

    /// Regression (issue 18): a new workspace the platform created without one field it
    /// dropped was reported as "not applied" whole; only the dropped field is missed.
    #[test]
    fn a_map_taken_in_part_is_taken_and_only_the_places_missed_are_missed() {
        let sent = Change {
            path: "/servers".into(),
            kind: ChangeKind::Add,
            old: None,
            new: Some(
                json!({"app": {"name": "app", "clients": {"web": {"client_name": "w", "rollout_wave": 3}}}}),
            ),
            reason: three_way::Reason::Desired,
        };
        let gone = Change {
            path: "/name".into(),
            kind: ChangeKind::Remove,
            old: Some(json!("x")),
            new: None,
            reason: three_way::Reason::Desired,
        };
        let after = json!({"servers": {"app": {"name": "app", "jwks": {}, "clients": {"web": {"client_name": "w"}}}}});
        let (took, missed) = read_back(vec![sent.clone(), gone], &after);
        assert_eq!(took.len(), 2);
        assert_eq!(took[0], sent);
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].path, "/servers/app/clients/web/rollout_wave");
        assert_eq!(
            (missed[0].kind, &missed[0].new),
            (ChangeKind::Add, &Some(json!(3)))
        );
    }

    #[test]
    fn a_tenant_that_took_part_of_its_change_records_and_reports_that_part() {
        let tenant = Tenant {
            key: "globex".into(),
            id: "globex-prod".into(),
            template: "saas".into(),
            vars: Default::default(),
        };
        let change = |path: &str, old: Option<Value>, new: Value| Change {
            path: path.into(),
            kind: if old.is_some() {
                ChangeKind::Replace
            } else {
                ChangeKind::Add
            },
            old,
            new: Some(new),
            reason: three_way::Reason::Desired,
        };
        let mut report = TenantPlan::empty(&tenant);
        report.status = Status::Changes;
        report.changes = vec![change("/a", Some(json!(1)), json!(2))];
        let missed = vec![change("/jwks", None, json!({"keys": []}))];
        let error = missing_paths(&missed, 1);
        assert!(error.message.contains("1 of its 2 path(s)"), "{error}");
        let misspelled = vec![change(
            "/servers/w/clients/c",
            None,
            json!({"client_name": "c", "token_endpoint_auth_methd": "none"}),
        )];
        let hint = missing_paths(&misspelled, 0).hint.unwrap_or_default();
        assert!(
            hint.contains("`token_endpoint_auth_methd` at /servers/w/clients/c/token_endpoint_auth_methd (did you mean `token_endpoint_auth_method`?)"),
            "{hint}"
        );
        let record = AppliedRecord {
            tree: json!({"a": 2, "jwks": {"keys": []}}),
            source: None,
        };
        // The platform took /a and holds a jwks of its own.
        let after = json!({"a": 2, "jwks": {"keys": [{"kid": "platform"}]}});
        let done = partly_applied("prod", &tenant, report, missed, error, record, &after);
        let r = &done.report;
        assert_eq!(r.outcome, Some(Outcome::PartlyApplied));
        assert_eq!((r.counts.replace, r.counts.add), (1, 0));
        assert_eq!(r.not_applied.len(), 1);
        assert!(r.errors[0].to_string().contains("/jwks"));
        // What took is recorded as applied; where the change missed, what the platform holds.
        let recorded: Value =
            serde_json::from_slice(done.record.as_ref().unwrap().as_bytes()).unwrap();
        assert_eq!(
            recorded["tree"],
            json!({"a": 2, "jwks": {"keys": [{"kid": "platform"}]}})
        );
        // The summary counts what was applied, and the tenant as partly applied.
        let mut summary = crate::plan::Summary::default();
        summary.add(r);
        assert_eq!(
            (summary.with_changes, summary.errors, summary.partly_applied),
            (1, 1, 1)
        );
        assert_eq!(summary.changes.replace, 1);
        assert_eq!(summary.changes.add, 0);
    }

    #[test]
    fn secrets_only_for_created_objects_unless_rotating() {
        std::env::set_var("PROMOTE_SECRET_APPLY_TEST_A", "value-a");
        let references = |tree: &Value| {
            let mut found = Vec::new();
            credentials::for_each(tree, Scope::Tenant, |at, value| {
                found.push((at, value.clone()));
            });
            found
        };
        let full = json!({"servers": {"w": {"clients": {
            "old": {"client_secret": "<secret:APPLY_TEST_A>"},
            "new": {"client_secret": "<secret:APPLY_TEST_A>"}
        }}}});
        let live = json!({"servers": {"w": {"clients": {"old": {}}}}});
        let mut result = Touched {
            before: json!({}),
            after: json!({"servers": {"w": {"clients": {"old": {}, "new": {}}}}}),
        };
        supply_secrets(&references(&full), &live, &mut result, false, false).unwrap();
        assert_eq!(
            result.after["servers"]["w"]["clients"]["new"]["client_secret"],
            "value-a"
        );
        assert!(result.after["servers"]["w"]["clients"]["old"]
            .get("client_secret")
            .is_none());
        supply_secrets(&references(&full), &live, &mut result, true, false).unwrap();
        assert_eq!(
            result.after["servers"]["w"]["clients"]["old"]["client_secret"],
            "value-a"
        );
        let missing = json!({"servers": {"w": {"clients": {"x": {"client_secret": "<secret:APPLY_TEST_UNSET>"}}}}});
        let e =
            supply_secrets(&references(&missing), &live, &mut result, false, false).unwrap_err();
        assert!(
            e.message.contains("$PROMOTE_SECRET_APPLY_TEST_UNSET"),
            "{e}"
        );
        supply_secrets(&references(&missing), &live, &mut result, false, true).unwrap();
        assert_eq!(
            result.after["servers"]["w"]["clients"]["x"]["client_secret"]
                .as_str()
                .unwrap()
                .len(),
            43
        );
    }

    #[test]
    fn removals_need_allow_delete_and_force_above_the_cap() {
        let live = json!({"servers": {"w": {"clients": {"a": {}, "b": {}, "c": {}, "d": {}, "e": {}, "f": {}, "g": {}, "h": {}, "i": {}}}}});
        let one_gone = json!({"servers": {"w": {"clients": {"a": {}, "b": {}, "c": {}, "d": {}, "e": {}, "f": {}, "g": {}, "h": {}}}}});
        let mut opts = Options {
            mode: Mode::Update,
            drift: DriftPolicy::Restore,
            dry_run: false,
            allow_delete: false,
            force: false,
            rotate_secrets: false,
            backups: PathBuf::new(),
            source: None,
            invent_secrets: false,
            complete: true,
        };
        let plan = |desired: &Value| {
            // Live as last applied: whatever desired lacks is removed.
            three_way::plan(Some(&live), desired, &live, Mode::Update)
                .unwrap()
                .0
        };
        let (one_gone, most_gone) = (
            plan(&one_gone),
            plan(&json!({"servers": {"w": {"clients": {"a": {}}}}})),
        );
        assert!(check_removals(&live, &one_gone, opts.deletes())
            .unwrap_err()
            .message
            .contains("/servers/w/clients/i"));
        opts.allow_delete = true;
        assert!(check_removals(&live, &one_gone, opts.deletes()).is_ok());
        assert!(check_removals(&live, &most_gone, opts.deletes())
            .unwrap_err()
            .hint
            .unwrap()
            .contains("--force"));
        opts.force = true;
        assert!(check_removals(&live, &most_gone, opts.deletes()).is_ok());
    }
}
