//! What a reviewer reads in the text and markdown reports: a change deep in a long text as a
//! line diff of the lines that change, and a conflict with its three values and what `--mode`
//! did with it.

use serde_json::json;

use crate::apply::applied_example;
use crate::support::TestRepo;

const REGO: &str = "templates/acme/workspaces/default/policies/orders-write-rego.rego";
const DESCRIPTION: &str = "/servers/default/clients/storefront-spa/description";

fn plan(repo: &TestRepo, output: &str, mode: &str) -> String {
    let run = repo.run(&["--output", output, "plan", "--env", "local", "--mode", mode]);
    run.stdout.clone()
}

#[test]
fn a_number_changed_deep_in_a_rego_policy_shows_as_its_line() {
    let (repo, _) = applied_example();
    repo.edit(
        REGO,
        "large_order_threshold := {{ vars.orders.large_order_threshold }}",
        "large_order_threshold := 5001",
    );
    let text = plan(&repo, "text", "update");
    let head = "  ~ /servers/default/policies/orders-write-rego/definition: (";
    assert!(text.contains(head), "{text}");
    assert!(
        text.contains("    - large_order_threshold := 1000\n    + large_order_threshold := 5001\n"),
        "{text}"
    );
    assert!(text.contains("    @@ -"), "{text}");
    // Two lines of context, not the whole policy, and nothing cut.
    assert!(!text.contains("is_shopper if"), "{text}");
    assert!(!text.contains('…'), "{text}");

    let md = plan(&repo, "markdown", "update");
    assert!(
        md.contains("\n-   large_order_threshold := 1000\n+   large_order_threshold := 5001\n"),
        "{md}"
    );
    assert!(md.contains("\n@@ -"), "{md}");
    assert!(!md.contains("is_shopper if"), "{md}");
}

/// The example applied, then the description changed both on the platform and in the
/// repository.
fn conflicting() -> TestRepo {
    let (repo, _) = applied_example();
    repo.edit_emulator_tenant("acme-local", |t| {
        *t.pointer_mut(DESCRIPTION).unwrap() = json!("changed on the platform");
    });
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: React shop at",
    );
    repo
}

const THREE_VALUES: &str = "    ! last applied: \"React storefront at shop.acme.localhost\"\n    ! platform: \"changed on the platform\"\n    ! repository: \"React shop at shop.acme.localhost\"\n";

#[test]
fn a_conflict_shows_its_three_values_and_what_the_mode_did() {
    let repo = conflicting();
    for (mode, did) in [
        ("update", "repository wins, --mode update"),
        ("ignore", "kept the platform's value, --mode ignore"),
        ("fail", "refused, --mode fail"),
    ] {
        let text = plan(&repo, "text", mode);
        let expected = format!("  ! {DESCRIPTION} (conflict: {did})\n{THREE_VALUES}");
        assert!(text.contains(&expected), "{mode}: {text}");
        let md = plan(&repo, "markdown", mode);
        let expected = format!(
            "! {DESCRIPTION} (conflict: {did})\n!   last applied: \"React storefront at shop.acme.localhost\"\n!   platform: \"changed on the platform\"\n!   repository: \"React shop at shop.acme.localhost\"\n"
        );
        assert!(md.contains(&expected), "{mode}: {md}");
    }
    // Apply with --mode fail refuses the tenant; its report carries the three values too.
    let run = repo.run(&["apply", "--env", "local", "--yes", "--mode", "fail"]);
    run.code(1);
    let expected = format!("  ! {DESCRIPTION} (conflict: refused, --mode fail)\n{THREE_VALUES}");
    assert!(run.stdout.contains(&expected), "{}", run.stdout);
}

#[test]
fn tenants_with_the_same_change_are_shown_once_with_their_names() {
    let (repo, _) = applied_example();
    repo.edit(
        "templates/saas/workspaces/app/clients/web.yaml",
        "description: Acme Cloud web application for",
        "description: Acme Cloud browser app for",
    );
    let text = plan(&repo, "text", "update");
    assert!(
        text.contains(
            "in 3 tenants: globex, initech, umbrella: 0 to add, 1 to change, 0 to remove\n"
        ),
        "{text}"
    );
    let change = "  ~ /servers/app/clients/web/description: \"Acme Cloud web application for {{ vars.customer_name }}\" → \"Acme Cloud browser app for {{ vars.customer_name }}\"\n";
    assert_eq!(text.matches(change).count(), 1, "{text}");
    assert!(
        text.contains("3 tenant(s) with changes") || text.contains("3 with changes"),
        "{text}"
    );

    let md = plan(&repo, "markdown", "update");
    // The table still lists every tenant; the diff is shown once.
    for key in ["globex", "initech", "umbrella"] {
        assert!(
            md.contains(&format!(
                "| `{key}` | `{key}-local` | changes | 0 | 1 | 0 |"
            )),
            "{md}"
        );
    }
    assert_eq!(
        md.matches("+ /servers/app/clients/web/description").count(),
        1,
        "{md}"
    );
    assert!(md.contains("<summary>in 3 tenants: globex, initech, umbrella (changes: 0 to add, 1 to change, 0 to remove)</summary>"), "{md}");

    // JSON keeps every tenant's own values.
    let (_, report) = crate::apply::plan(&repo, &[]);
    let initech = crate::support::report_tenant(&report, "initech");
    assert_eq!(
        initech["changes"][0]["new"],
        "Acme Cloud browser app for Initech"
    );
}

/// Regression: a shared template gained the literal text ` - gold support available`; globex
/// and umbrella have `vars.plan: gold`, initech `silver`. The report showed two groups, one
/// with `{{ vars.plan }} support available`: the tenants whose changes are literally the same
/// are one group, shown with the real text.
#[test]
fn a_literal_text_equal_to_a_variable_is_one_change_shown_as_it_is() {
    let (repo, _) = applied_example();
    repo.edit(
        "templates/saas/workspaces/app/claims/access_token/customer.yaml",
        "description: Acme Cloud customer the token belongs to",
        "description: Acme Cloud customer the token belongs to - gold support available",
    );
    for output in ["text", "markdown"] {
        let out = plan(&repo, output, "update");
        assert!(!out.contains("{{ vars.plan }}"), "{out}");
        assert!(!out.contains("each tenant's own values"), "{out}");
        assert_eq!(
            out.matches("belongs to - gold support available").count(),
            1,
            "{out}"
        );
        assert!(
            out.contains("in 3 tenants: globex, initech, umbrella"),
            "{out}"
        );
    }
}

/// Regression (independent try): `.gitattributes` unsetting `diff` for templates and
/// environment files made a later change to them read "Binary files differ" in a review, while
/// promote applied it. Such a file is refused, each named; an attribute elsewhere is fine.
#[test]
fn files_git_shows_no_diff_of_are_refused() {
    let repo = TestRepo::example();
    repo.git_init();
    repo.write(".gitattributes", "*.png -diff\n");
    repo.commit("v1");
    repo.run(&["validate", "--env", "local"]).success();
    repo.write(
        ".gitattributes",
        "environments/local.yaml binary\ntemplates/acme/tenant.yaml -diff\n",
    );
    let run = repo.run(&["validate", "--env", "local"]);
    run.code(1);
    for file in ["environments/local.yaml", "templates/acme/tenant.yaml"] {
        run.stderr_contains(&format!(
            "{file}: git shows no diff of this file: `.gitattributes` unsets `diff` for it"
        ));
    }
}
