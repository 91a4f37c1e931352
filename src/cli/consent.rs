//! Consent before a write to a platform: `--yes`, or a person at a terminal who saw what is
//! about to change and said yes.
//!
//! Every command that writes to a platform (apply, rollback, migrate, ci --apply) asks here, and
//! only here. Without `--yes` and without a terminal (CI, a pipe) nobody can have seen the plan:
//! that is an error, and nothing is written. On a terminal the question comes after a summary of
//! the plan (per tenant: the counts and the changed paths, bounded); declining is an error too
//! (exit 1), so that a script never mistakes "nothing was done" for success. A dry run writes
//! nothing and needs no consent: its callers do not ask.

use std::fmt::Write as _;
use std::io::BufRead;

use promote_lib::diagnostic::Diagnostic;
use promote_lib::plan::TenantPlan;

/// The most tenants the summary lists; the rest are counted.
const TENANTS_SHOWN: usize = 20;
/// The most changed paths listed per tenant; the rest are counted.
const PATHS_SHOWN: usize = 8;

/// What a command asks consent for.
pub struct Request<'a> {
    /// `--yes`: consent given on the command line.
    pub yes: bool,
    /// The question, e.g. "Apply these changes to 3 tenant(s) of prod?".
    pub question: String,
    /// What the person is shown before the question ([`summary`]).
    pub shown: String,
    /// What would have happened, for the refusal: "applied", "rolled back", "imported".
    pub done: &'a str,
}

/// Returns `Ok` when the write may go ahead: `--yes`, or a yes at the terminal.
///
/// # Errors
/// Without `--yes` and without a terminal (stdin and stderr), or when the person declines: a
/// diagnostic saying nothing was done (the command exits 1).
pub fn ask(request: &Request<'_>) -> Result<(), Diagnostic> {
    decide(request, super::interactive(), || {
        eprint!("{}", request.shown);
        eprint!("{} [y/N] ", request.question);
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        answer
    })
}

/// [`ask`], with whether a terminal is there and how the answer is read given.
fn decide(
    request: &Request<'_>,
    terminal: bool,
    read_answer: impl FnOnce() -> String,
) -> Result<(), Diagnostic> {
    if request.yes {
        return Ok(());
    }
    if !terminal {
        return Err(Diagnostic::new(format!(
            "nothing was {}: this command writes to the platform, and without a terminal there is nobody to show the plan to and ask",
            request.done
        ))
        .hint("review what it would do first (`promote plan` for an apply; at a terminal the command shows it before asking), then pass --yes; in CI, pass --yes in the job that applies"));
    }
    let answer = read_answer();
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
        Ok(())
    } else {
        Err(Diagnostic::new(format!(
            "declined at the prompt: nothing was {}",
            request.done
        )))
    }
}

/// Returns what the prompt shows of `reports` (one per tenant, `None` for a tenant whose plan
/// is made again when it is sent): per tenant with changes, its counts and changed paths; at
/// most [`TENANTS_SHOWN`] tenants and [`PATHS_SHOWN`] paths each, then "and N more".
pub fn summary<'r>(reports: impl IntoIterator<Item = Option<&'r TenantPlan>>) -> String {
    let mut out = String::new();
    let (mut shown, mut more, mut unchanged, mut unknown) = (0usize, 0usize, 0usize, 0usize);
    for report in reports {
        let Some(r) = report else {
            unknown += 1;
            continue;
        };
        if r.changes.is_empty() {
            unchanged += 1;
            continue;
        }
        if shown == TENANTS_SHOWN {
            more += 1;
            continue;
        }
        shown += 1;
        let _ = writeln!(
            out,
            "  {} ({}): {} to add, {} to change, {} to remove",
            r.key, r.id, r.counts.add, r.counts.replace, r.counts.remove
        );
        for change in r.changes.iter().take(PATHS_SHOWN) {
            let sign = match change.kind {
                promote_lib::patch::three_way::ChangeKind::Add => '+',
                promote_lib::patch::three_way::ChangeKind::Replace => '~',
                promote_lib::patch::three_way::ChangeKind::Remove => '-',
            };
            let _ = writeln!(
                out,
                "      {sign} {}",
                promote_lib::report::path_text(&change.path)
            );
        }
        if r.changes.len() > PATHS_SHOWN {
            let _ = writeln!(out, "      and {} more", r.changes.len() - PATHS_SHOWN);
        }
    }
    if more > 0 {
        let _ = writeln!(out, "  and {more} more tenant(s) with changes");
    }
    if unknown > 0 {
        let _ = writeln!(
            out,
            "  {unknown} more tenant(s) planned again as they are sent (too many plans to hold); `promote plan` shows them"
        );
    }
    if unchanged > 0 {
        let _ = writeln!(out, "  {unchanged} tenant(s) unchanged");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use promote_lib::patch::three_way::{Change, ChangeKind, Reason};

    fn request(yes: bool) -> Request<'static> {
        Request {
            yes,
            question: "Apply?".into(),
            shown: String::new(),
            done: "applied",
        }
    }

    #[test]
    fn yes_needs_no_terminal_and_asks_nothing() {
        let asked = std::cell::Cell::new(false);
        decide(&request(true), false, || {
            asked.set(true);
            String::new()
        })
        .unwrap();
        assert!(!asked.get());
    }

    #[test]
    fn no_terminal_without_yes_is_an_error_that_says_to_pass_yes() {
        let e = decide(&request(false), false, || unreachable!("nobody to ask")).unwrap_err();
        assert!(e.message.contains("nothing was applied"), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("--yes"), "{e}");
    }

    #[test]
    fn only_a_yes_goes_ahead() {
        for (answer, ok) in [
            ("y\n", true),
            ("yes\n", true),
            ("\n", false),
            ("n\n", false),
            ("", false),
            ("yess\n", false),
        ] {
            let result = decide(&request(false), true, || answer.to_owned());
            assert_eq!(result.is_ok(), ok, "{answer:?}");
            if let Err(e) = result {
                assert!(e
                    .message
                    .contains("declined at the prompt: nothing was applied"));
            }
        }
    }

    fn report(key: &str, paths: usize) -> TenantPlan {
        let changes: Vec<Change> = (0..paths)
            .map(|i| Change {
                path: format!("/servers/w/clients/c{i}/description"),
                kind: ChangeKind::Replace,
                old: None,
                new: None,
                reason: Reason::Desired,
            })
            .collect();
        let tenant = promote_lib::environment::Tenant {
            key: key.into(),
            id: format!("{key}-prod"),
            template: key.into(),
            vars: Default::default(),
        };
        let mut r = TenantPlan::empty(&tenant);
        r.status = promote_lib::plan::Status::Changes;
        r.counts.replace = paths;
        r.changes = changes;
        r
    }

    #[test]
    fn the_summary_lists_counts_and_paths_bounded_for_a_fleet() {
        let reports: Vec<TenantPlan> = (0..TENANTS_SHOWN + 3)
            .map(|i| report(&format!("t{i:02}"), if i == 1 { 0 } else { 12 }))
            .collect();
        let text = summary(reports.iter().map(Some).chain([None]));
        assert!(
            text.contains("  t00 (t00-prod): 0 to add, 12 to change, 0 to remove\n"),
            "{text}"
        );
        assert!(text.contains("      ~ /servers/w/clients/c7/description\n"));
        assert!(!text.contains("c8/description"));
        assert!(text.contains("      and 4 more\n"));
        assert!(
            !text.contains("t01 ("),
            "an unchanged tenant is only counted"
        );
        assert!(
            text.contains("  and 2 more tenant(s) with changes\n"),
            "{text}"
        );
        assert!(text.contains("  1 more tenant(s) planned again"));
        assert!(text.contains("  1 tenant(s) unchanged\n"));
    }
}
