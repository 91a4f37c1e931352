//! `promote plan` against live (the default) and `apply` when the platform changed behind
//! promote's back: drift on a path the repository owns is restored, what nobody owns is left
//! alone, and a path both sides changed is a conflict resolved by `--mode`.
//!
//! The platform here is the embedded emulator of `environments/local.yaml`; a test changes a
//! tenant "on the platform" by editing its data file between two commands.

use serde_json::{json, Value};

use crate::apply::{applied_example, apply, backup_counts, plan};
use crate::support::{outcomes, owned_pairs, report_tenant, TestRepo};

const STOREFRONT: &str = "templates/acme/workspaces/default/clients/storefront-spa.yaml";
const DESCRIPTION: &str = "/servers/default/clients/storefront-spa/description";
const REPO_VALUE: &str = "React storefront at shop.acme.localhost";
const LIVE_VALUE: &str = "changed on the platform";
const NEW_VALUE: &str = "React shop at shop.acme.localhost";

fn set_live(repo: &TestRepo, pointer: &str, value: Value) {
    repo.edit_emulator_tenant("acme-local", |t| {
        *t.pointer_mut(pointer).unwrap() = value;
    });
}

fn live(repo: &TestRepo, pointer: &str) -> Option<Value> {
    repo.emulator_tenant("acme-local").pointer(pointer).cloned()
}

#[test]
fn drift_is_planned_as_drift_and_apply_restores_it() {
    let (repo, _) = applied_example();
    // On the platform: an owned field changed, a field the repository does not set and a whole
    // client added.
    repo.edit_emulator_tenant("acme-local", |t| {
        let clients = &mut t["servers"]["default"]["clients"];
        clients["storefront-spa"]["description"] = json!(LIVE_VALUE);
        clients["storefront-spa"]["app_url"] = json!("set in the admin console");
        clients["console-made"] = json!({"client_name": "Made in the console"});
    });

    let (run, report) = plan(&repo, &[]);
    run.code(2);
    assert_eq!(
        report_tenant(&report, "acme")["changes"],
        json!([{"path": DESCRIPTION, "kind": "replace", "old": LIVE_VALUE, "new": REPO_VALUE, "reason": "drift"}])
    );
    for key in ["globex", "initech", "umbrella"] {
        assert_eq!(report_tenant(&report, key)["status"], "unchanged");
    }
    // The text report says why.
    repo.run(&["plan", "--env", "local", "--tenant", "acme"])
        .success()
        .stdout_contains(DESCRIPTION)
        .stdout_contains("drift");

    let (run, report) = apply(&repo, &[]);
    run.success();
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "applied"),
            ("globex", "unchanged"),
            ("initech", "unchanged"),
            ("umbrella", "unchanged"),
        ])
    );
    assert_eq!(
        report_tenant(&report, "acme")["changes"][0]["reason"],
        "drift"
    );
    assert_eq!(live(&repo, DESCRIPTION), Some(json!(REPO_VALUE)));
    // What the repository does not own is left as it is.
    assert_eq!(
        live(&repo, "/servers/default/clients/storefront-spa/app_url"),
        Some(json!("set in the admin console"))
    );
    assert_eq!(
        live(&repo, "/servers/default/clients/console-made/client_name"),
        Some(json!("Made in the console"))
    );
    // Restoring drift applies what was recorded already: no new state commit.
    assert_eq!(repo.state_commits().len(), 1);
    plan(&repo, &[]).0.success();
}

/// The example applied, then the description changed both on the platform and in the
/// repository.
fn conflicting() -> TestRepo {
    let (repo, _) = applied_example();
    set_live(&repo, DESCRIPTION, json!(LIVE_VALUE));
    repo.edit(
        STOREFRONT,
        "description: React storefront at",
        "description: React shop at",
    );
    repo
}

fn the_conflict() -> Value {
    json!({"path": DESCRIPTION, "last_applied": REPO_VALUE, "desired": NEW_VALUE, "live": LIVE_VALUE})
}

#[test]
fn conflicts_follow_the_mode() {
    let repo = conflicting();

    let (run, report) = plan(&repo, &["--mode", "update"]);
    run.code(2);
    let acme = report_tenant(&report, "acme");
    assert_eq!(
        acme["changes"],
        json!([{"path": DESCRIPTION, "kind": "replace", "old": LIVE_VALUE, "new": NEW_VALUE, "reason": "conflict"}])
    );
    assert_eq!(acme["conflicts"], json!([the_conflict()]));
    assert_eq!(report["summary"]["conflicts"], 1);

    let (run, report) = plan(&repo, &["--mode", "fail"]);
    run.code(1);
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["status"], "error");
    assert_eq!(acme["conflicts"], json!([the_conflict()]));

    // fail: the tenant fails and nothing is written, saved or recorded.
    let before = repo.emulator_bytes("acme-local");
    let commits = repo.state_commits();
    let (run, report) = apply(&repo, &["--mode", "fail"]);
    run.code(1)
        .stderr_contains(&format!(
            "1 conflict(s) between live changes and repository changes: {DESCRIPTION}"
        ))
        .stderr_contains("--mode update")
        // The closing line: nothing was applied, and running again as it is cannot help.
        .stderr_contains(
            "(see above); nothing was applied. Do what each error says (a `--mode fail` conflict",
        );
    assert!(
        !run.stderr.contains("the others were applied"),
        "{}",
        run.stderr
    );
    assert_eq!(report["mode"], "fail");
    assert_eq!(report_tenant(&report, "acme")["outcome"], "failed");
    assert_eq!(repo.emulator_bytes("acme-local"), before);
    assert_eq!(repo.state_commits(), commits);
    assert_eq!(backup_counts(&repo), [1, 1, 1, 1]);

    // ignore: the platform's value stays, the conflict is reported as skipped.
    let (run, report) = apply(&repo, &["--mode", "ignore"]);
    run.success();
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["outcome"], "unchanged");
    assert_eq!(acme["changes"], json!([]));
    assert_eq!(acme["skipped"], json!([the_conflict()]));
    assert_eq!(live(&repo, DESCRIPTION), Some(json!(LIVE_VALUE)));
    assert_eq!(repo.emulator_bytes("acme-local"), before);

    // update: the repository's value wins.
    let (run, report) = apply(&repo, &["--mode", "update"]);
    run.success();
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["outcome"], "applied");
    assert_eq!(acme["changes"][0]["path"], DESCRIPTION);
    assert_eq!(acme["changes"][0]["new"], NEW_VALUE);
    assert_eq!(live(&repo, DESCRIPTION), Some(json!(NEW_VALUE)));
    plan(&repo, &[]).0.success();
}

#[test]
fn a_conflict_mode_ignore_keeps_is_shown_in_every_report_for_people() {
    let repo = conflicting();
    let kept = format!("! {DESCRIPTION} (conflict: kept the platform's value, --mode ignore)");
    let plan = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["plan", "--env", "local", "--mode", "ignore"]);
        repo.run(&args)
    };
    // Nothing else changes: acme has only the kept conflict, and is still shown.
    plan(&[])
        .success()
        .stdout_contains("acme (acme-local)")
        .stdout_contains(&kept);
    plan(&["--output", "markdown"])
        .success()
        .stdout_contains("| `acme` | `acme-local` | conflicts kept |")
        .stdout_contains(&kept);
    repo.run(&[
        "--output",
        "html",
        "plan",
        "--env",
        "local",
        "--mode",
        "ignore",
        "--out",
        "plan.html",
    ])
    .success();
    let page = repo.read("plan.html");
    let row = page
        .lines()
        .find(|l| l.starts_with("<tr class=kept>"))
        .unwrap_or_else(|| panic!("no kept row:\n{page}"));
    // The row's text, without the marks of the changed words.
    let text: String = row
        .split('<')
        .map(|part| part.split_once('>').map_or(part, |(_, text)| text))
        .collect();
    assert!(text.contains(DESCRIPTION), "{row}");
    assert!(text.contains(&format!("&quot;{LIVE_VALUE}&quot;")), "{row}");
    assert!(text.contains(&format!("&quot;{NEW_VALUE}&quot;")), "{row}");
    assert!(row.contains("is kept"), "{row}");
}

#[test]
fn a_value_kept_by_mode_ignore_stays_kept() {
    let repo = conflicting();
    apply(&repo, &["--mode", "ignore"]).0.success();
    // Still a conflict, not drift: nothing was applied at that path.
    let (run, report) = plan(&repo, &["--mode", "update"]);
    run.code(2);
    assert_eq!(
        report_tenant(&report, "acme")["changes"][0]["reason"],
        "conflict"
    );
    // And --mode ignore keeps keeping it.
    let (run, report) = apply(&repo, &["--mode", "ignore"]);
    run.success();
    assert_eq!(report_tenant(&report, "acme")["outcome"], "unchanged");
    assert_eq!(live(&repo, DESCRIPTION), Some(json!(LIVE_VALUE)));
}

#[test]
fn a_field_removed_from_the_repository_is_removed_from_the_platform() {
    let (repo, _) = applied_example();
    let uri = "/servers/default/clients/storefront-spa/tos_uri";
    repo.edit(
        STOREFRONT,
        "tos_uri: https://www.{{ vars.domain }}/legal/terms\n",
        "",
    );
    let (run, report) = plan(&repo, &["--tenant", "acme"]);
    run.code(2);
    assert_eq!(
        report_tenant(&report, "acme")["changes"],
        json!([{"path": uri, "kind": "remove", "old": "https://www.acme.localhost/legal/terms", "reason": "desired"}])
    );
    // A field is not an object: no --allow-delete needed.
    apply(&repo, &[]).0.success();
    assert_eq!(live(&repo, uri), None);
    plan(&repo, &[]).0.success();
}
