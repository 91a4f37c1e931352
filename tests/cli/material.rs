//! The platform's own material (signing keys, generated secrets and salts, client hashes and
//! registration tokens) is the platform's: it is never exported, planned, sent or compared, so
//! bootstrapping from a tenant, applying and rolling back leave it exactly as the platform made
//! it, and its rotation is not a change.

use serde_json::{json, Value};

use crate::apply::{
    applied_example, apply, plan, SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW,
};

/// What the platform maintains in globex's tree, as the platform holds it.
fn material(t: &Value) -> Value {
    let ws = &t["servers"]["app"];
    json!({
        "jwks": t["jwks"],
        "ws_jwks": ws["jwks"],
        "ws_secret": ws["secret"],
        "hashed": ws["clients"]["web"]["hashed_secret"],
        "token": ws["clients"]["web"]["registration_token"],
    })
}

/// Regression (production safety, finding 1): bootstrapping templates from a tenant and
/// applying them replaced its signing keys. Templates exported from the platform hold no
/// material; applying them, and a change, and rolling it back, leave every key, secret, hash
/// and token as the platform made it; a rotation on the platform plans nothing.
#[test]
fn the_platforms_material_survives_export_apply_and_rollback() {
    let (repo, _) = applied_example();
    // What a platform holds beyond the emulator's own: a client's hash and registration token.
    repo.edit_emulator_tenant("globex-local", |t| {
        let web = &mut t["servers"]["app"]["clients"]["web"];
        web["hashed_secret"] = json!("platform-hash");
        web["registration_token"] = json!({"signature": "platform-token"});
    });
    let before = material(&repo.emulator_tenant("globex-local"));
    assert!(before["jwks"]["keys"][0].is_object() && before["ws_secret"].is_string());
    // Nothing to plan: the templates have none of it, the platform has all of it.
    plan(&repo, &["--tenant", "globex"]).0.success();
    // Exported templates hold none of it.
    repo.run(&[
        "export", "--env", "local", "--tenant", "globex", "--out", "exported",
    ])
    .success();
    let exported = std::fs::read_dir(repo.join("exported/globex/workspaces/app/clients"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>()
        + &repo.read("exported/globex/tenant.yaml")
        + &repo.read("exported/globex/workspaces/app/workspace.yaml");
    for word in ["jwks", "kty", "platform-hash", "platform-token", "secret:"] {
        assert!(!exported.contains(word), "{word} exported");
    }
    // A change applied, then rolled back: the material is untouched throughout.
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let (run, report) = apply(&repo, &["--tenant", "globex"]);
    run.success();
    let text = report.to_string();
    assert!(
        !text.contains("jwks") && !text.contains("hashed_secret"),
        "{text}"
    );
    assert_eq!(material(&repo.emulator_tenant("globex-local")), before);
    repo.run(&["rollback", "--env", "local", "--tenant", "globex", "--yes"])
        .success();
    assert_eq!(material(&repo.emulator_tenant("globex-local")), before);
    // The platform rotates its keys: not a change the repository has to make.
    repo.edit_emulator_tenant("globex-local", |t| {
        t["jwks"]["keys"][0]["kid"] = json!("rotated");
        t["servers"]["app"]["jwks"]["keys"][0]["kid"] = json!("rotated");
    });
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION_NEW, SAAS_WEB_DESCRIPTION);
    plan(&repo, &["--tenant", "globex"]).0.success();
}

/// Regression (found by a differential try, the same in every earlier build): a change that
/// goes as RFC 6902 (it sets a null) and removes a workspace tested the workspace without the
/// keys the platform generated for it, a test that could never hold: apply failed on every run
/// ("the tenant changed while this apply ran"). It applies, the platform's other material is
/// untouched, and the plan after it is empty.
#[test]
fn a_workspace_holding_the_platforms_keys_is_removed_by_a_change_that_sets_a_null() {
    let (repo, _) = applied_example();
    let jwks = repo.emulator_tenant("acme-local")["jwks"].clone();
    assert!(repo.emulator_tenant("acme-local")["servers"]["workforce"]["jwks"].is_object());
    repo.remove("templates/acme/workspaces/workforce").edit(
        "templates/acme/tenant.yaml",
        "  managed_by: promote\n",
        "  managed_by: promote\n  retired: null\n",
    );
    let (run, report) = apply(&repo, &["--tenant", "acme", "--allow-delete", "--force"]);
    run.success();
    let acme = &report["tenants"][0];
    assert_eq!(acme["patch"]["format"], "rfc6902", "{acme}");
    let sent = acme["patch"].to_string();
    assert!(!sent.contains("jwks") && !sent.contains("\"d\""), "{sent}");
    let after = repo.emulator_tenant("acme-local");
    assert!(after["servers"].get("workforce").is_none());
    assert!(after["servers"]["default"].is_object());
    assert_eq!(after["jwks"], jwks);
    let (run, plan) = plan(&repo, &["--tenant", "acme"]);
    run.code(0);
    assert_eq!(plan["tenants"][0]["status"], "unchanged", "{plan}");
}
