//! What promote tells the log of its own work on tenants: at `-v` (info), one line when a
//! tenant's work starts and one when it ends, with its outcome and how long it took.
//!
//! ```text
//!  INFO apply prod: acme (acme-prod) started
//!  INFO apply prod: acme (acme-prod) applied 3 change(s) in 812ms
//! ```
//!
//! The other `-v` lines come from where the work is done: each HTTP request from
//! [`crate::client`], the last-applied state read from [`crate::baseline`] and written from
//! [`crate::state`], the promotion gate from [`crate::gate`]. Lines name tenants, counts and
//! paths, never values, so none can hold a credential; each still goes through
//! [`crate::scrub`] on its way to stderr.

use std::time::Instant;

use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;

/// How the work on one tenant ended, in a few words for the log.
pub trait Outcome {
    /// Returns the outcome as the log says it: `unchanged`, `3 change(s) planned`,
    /// `failed: cannot export tenant ...`.
    fn outcome(&self) -> String;
}

/// Runs `work` on tenant `t` of environment `env` for `command` (`plan`, `apply`, ...),
/// logging at info when it starts and when it ends, with its [`Outcome`] and time.
pub fn tenant<R: Outcome>(command: &str, env: &str, t: &Tenant, work: impl FnOnce() -> R) -> R {
    if !tracing::enabled!(tracing::Level::INFO) {
        return work();
    }
    let who = format!(
        "{command} {}: {} ({})",
        printable(env),
        printable(&t.key),
        printable(&t.id)
    );
    tracing::info!("{who} started");
    let started = Instant::now();
    let result = work();
    tracing::info!(
        "{who} {} in {}ms",
        result.outcome(),
        started.elapsed().as_millis()
    );
    result
}

/// A name from the repository as one line of the log (an environment file is untrusted input:
/// a new line in a tenant key must not forge a log line).
fn printable(name: &str) -> String {
    crate::diagnostic::one_line(name, 200)
}

/// Returns `failed: ` and the first problem's message, and how many more there are.
pub(crate) fn failed(problems: &[Diagnostic]) -> String {
    match problems {
        [] => "failed".to_owned(),
        [only] => format!("failed: {}", printable(&only.message)),
        [first, rest @ ..] => format!(
            "failed: {} (and {} more problem(s))",
            printable(&first.message),
            rest.len()
        ),
    }
}

impl<T: Outcome> Outcome for Result<T, Vec<Diagnostic>> {
    fn outcome(&self) -> String {
        match self {
            Ok(t) => t.outcome(),
            Err(problems) => failed(problems),
        }
    }
}

impl<T: Outcome> Outcome for Result<T, Diagnostic> {
    fn outcome(&self) -> String {
        match self {
            Ok(t) => t.outcome(),
            Err(problem) => failed(std::slice::from_ref(problem)),
        }
    }
}

/// A command whose tenant work returns nothing (a rollback, a migration) says `done`.
impl<T: Outcome, U> Outcome for (T, U) {
    fn outcome(&self) -> String {
        self.0.outcome()
    }
}

impl Outcome for () {
    fn outcome(&self) -> String {
        "done".to_owned()
    }
}

impl Outcome for crate::plan::TenantPlan {
    fn outcome(&self) -> String {
        use crate::plan::{Outcome as Applied, Status};
        let c = &self.counts;
        let changes = format!(
            "{} change(s) (+{} ~{} -{})",
            c.add + c.replace + c.remove,
            c.add,
            c.replace,
            c.remove
        );
        let said = match (self.outcome, self.status) {
            (Some(Applied::Failed), _) | (None, Status::Error) => failed(&self.errors),
            (Some(Applied::Unchanged), _) | (None, Status::Unchanged) => "unchanged".to_owned(),
            (Some(Applied::Applied), _) => format!("applied {changes}"),
            (Some(Applied::DryRun), _) => format!("dry run accepted: {changes}"),
            (Some(Applied::PartlyApplied), _) => format!(
                "partly applied: {changes}, {} not taken by the platform",
                self.not_applied.len()
            ),
            (None, Status::Changes) => format!("planned {changes}"),
            (None, Status::Create) => "planned: to be created whole".to_owned(),
        };
        match self.skipped.len() {
            0 => said,
            n => format!("{said}, {n} conflict(s) skipped (kept as live by --mode ignore)"),
        }
    }
}

impl Outcome for crate::apply::TenantApply {
    fn outcome(&self) -> String {
        self.report.outcome()
    }
}

impl Outcome for crate::drift::TenantDrift {
    fn outcome(&self) -> String {
        if !self.errors.is_empty() {
            return failed(&self.errors);
        }
        crate::drift::counts_text(self)
    }
}

impl Outcome for crate::export::Outcome {
    fn outcome(&self) -> String {
        match self {
            crate::export::Outcome::Written { files, changes, .. } => format!(
                "exported {files} file(s): {} added, {} changed, {} removed",
                changes.added.len(),
                changes.changed.len(),
                changes.removed.len()
            ),
            crate::export::Outcome::Failed { problems, .. } => failed(problems),
        }
    }
}

impl Outcome for crate::backup::Exported {
    fn outcome(&self) -> String {
        let c = &self.changes;
        if c.is_empty() {
            "backed up: unchanged since the last backup".to_owned()
        } else {
            format!(
                "backed up: {} file(s) added, {} changed, {} removed",
                c.added.len(),
                c.changed.len(),
                c.removed.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Counts, Outcome as Applied, Status, TenantPlan};

    fn tenant(key: &str) -> Tenant {
        Tenant {
            key: key.into(),
            id: format!("{key}-prod"),
            template: key.into(),
            vars: Default::default(),
        }
    }

    #[test]
    fn plans_and_applies_say_what_happened_in_words() {
        let mut p = TenantPlan::empty(&tenant("acme"));
        p.status = Status::Changes;
        p.counts = Counts {
            add: 1,
            replace: 2,
            remove: 0,
        };
        assert_eq!(p.outcome(), "planned 3 change(s) (+1 ~2 -0)");
        p.outcome = Some(Applied::Applied);
        assert_eq!(p.outcome(), "applied 3 change(s) (+1 ~2 -0)");
        p.skipped = vec![crate::patch::three_way::Conflict {
            path: "/settings/translations/default_locale".into(),
            last_applied: None,
            desired: None,
            live: None,
        }];
        assert_eq!(
            p.outcome(),
            "applied 3 change(s) (+1 ~2 -0), 1 conflict(s) skipped (kept as live by --mode ignore)"
        );
        p.skipped.clear();
        p.outcome = Some(Applied::Failed);
        p.errors = vec![
            Diagnostic::new("cannot export tenant `acme-prod`\nforged line"),
            Diagnostic::new("second"),
        ];
        assert_eq!(
            p.outcome(),
            "failed: cannot export tenant `acme-prod`\\n  forged line (and 1 more problem(s))"
        );
        p.status = Status::Unchanged;
        p.outcome = None;
        assert_eq!(p.outcome(), "unchanged");
    }

    #[test]
    fn the_work_is_run_and_its_result_returned_whatever_the_log_level() {
        let t = tenant("a\nb");
        let r: Result<(), Diagnostic> = super::tenant("rollback", "prod", &t, || Ok(()));
        assert_eq!(r.outcome(), "done");
        assert_eq!(printable("a\nINFO forged"), "a\\nINFO forged");
    }
}
