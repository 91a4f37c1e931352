use serde_json::{json, Map};

use super::*;
use crate::prepare::prepare;

fn acme() -> Tenant {
    let vars = Map::new();
    Tenant {
        id: "acme-prod".into(),
        key: "acme".into(),
        template: "acme".into(),
        vars: vars.into(),
    }
}

/// The saved change of `desired` planned against `live`, with `live` as last applied.
fn saved(desired: Value, live: &Value) -> SavedChange {
    saved_ignoring(desired, live, &crate::ignore::Ignore::none())
}

/// [`saved`], with the tenant's ignore rules `ignore`.
fn saved_ignoring(desired: Value, live: &Value, ignore: &crate::ignore::Ignore) -> SavedChange {
    let prepared = prepare(
        &acme(),
        Desired::tree(desired),
        Some(live),
        live,
        crate::prepare::Policy::restoring(ignore),
        false,
        None,
    )
    .unwrap();
    SavedChange::new(&prepared, live, ignore).unwrap()
}

fn live() -> Value {
    json!({"name": "Acme", "settings": {"ttl": 60, "keep": "x"},
        "servers": {"w": {"clients": {"old": {"client_name": "old", "scopes": ["a"]}}}}})
}

#[test]
fn a_saved_patch_tests_every_value_it_changes_and_lists_what_it_assumes() {
    let desired = json!({"name": "Acme 2", "settings": {"ttl": 60, "keep": "x", "new": true},
        "servers": {"w": {"clients": {}}, "fresh": {"name": "fresh"}}});
    let change = saved(desired, &live());
    let ops: Vec<(&str, &str)> = change
        .patch
        .iter()
        .map(|op| (op["op"].as_str().unwrap(), op["path"].as_str().unwrap()))
        .collect();
    // Tests first, one per leaf of the removed client; then the changes.
    assert_eq!(
        ops,
        [
            ("test", "/name"),
            ("test", "/servers/w/clients/old/client_name"),
            ("test", "/servers/w/clients/old/scopes"),
            ("replace", "/name"),
            ("remove", "/servers/w/clients/old"),
            ("add", "/settings/new"),
        ]
    );
    let assumes: Vec<(&str, &str)> = change
        .assumes
        .iter()
        .map(|a| (a.path.as_str(), a.holds.split(':').next().unwrap()))
        .collect();
    assert!(assumes.contains(&("/name", "sha1")), "{assumes:?}");
    assert!(assumes.contains(&("/settings", "present")), "{assumes:?}");
    assert!(
        assumes.contains(&("/settings/new", "absent")),
        "{assumes:?}"
    );
    assert!(
        assumes.contains(&("/servers/fresh", "absent")),
        "{assumes:?}"
    );
    assert_eq!(change.workspaces.len(), 1);
    assert_eq!(change.desired_sha1.len(), 40);
}

#[test]
fn only_a_move_at_an_assumed_path_refuses() {
    let change = saved(
        json!({"name": "Acme 2", "settings": {"ttl": 60, "keep": "x"}, "servers": live()["servers"].clone()}),
        &live(),
    );
    assert!(change.moved(&live()).is_empty());
    // A change elsewhere in the tenant: not assumed.
    let mut elsewhere = live();
    elsewhere["settings"]["keep"] = json!("y");
    assert!(change.moved(&elsewhere).is_empty());
    // The value the plan replaces moved.
    let mut moved = live();
    moved["name"] = json!("Acme by hand");
    let found = change.moved(&moved);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, "/name");
    assert_eq!(
        (found[0].was.clone(), found[0].now.clone()),
        (Some(json!("Acme")), Some(json!("Acme by hand")))
    );
    assert!(
        moved_text(&found).contains("/name (was \"Acme\" when planned, now \"Acme by hand\")"),
        "{}",
        moved_text(&found)
    );
}

#[test]
fn an_added_path_the_platform_now_has_refuses() {
    let change = saved(
        json!({"name": "Acme", "settings": {"ttl": 60, "keep": "x", "new": 1}, "servers": live()["servers"].clone()}),
        &live(),
    );
    let mut taken = live();
    taken["settings"]["new"] = json!(2);
    assert_eq!(change.moved(&taken)[0].path, "/settings/new");
    let mut gone = live();
    gone.as_object_mut().unwrap().remove("settings");
    let paths: Vec<String> = change.moved(&gone).into_iter().map(|m| m.path).collect();
    assert!(paths.contains(&"/settings".to_owned()), "{paths:?}");
}

#[test]
fn a_plan_file_round_trips_and_a_wrong_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prod.plan.json");
    let file = PlanFile {
        kind: KIND.into(),
        version: VERSION,
        env: "prod".into(),
        commit: "0".repeat(40),
        config_tree: "templates:a environments:b".into(),
        mode: "ignore".into(),
        drift: crate::patch::three_way::DriftPolicy::Keep,
        created: PlanFile::now(),
        complete: true,
        tenants: vec![
            SavedTenant {
                key: "acme".into(),
                id: "acme-prod".into(),
                change: Some(saved(json!({"name": "Acme 2"}), &json!({"name": "Acme"}))),
            },
            SavedTenant {
                key: "globex".into(),
                id: "globex-prod".into(),
                change: None,
            },
        ],
    };
    file.write(&path).unwrap();
    let read = PlanFile::read(&path).unwrap();
    assert_eq!(read, file);
    assert_eq!(read.mode(), Mode::Ignore);

    // From the attacker's try: the platform echoing the client secret into a plain field the
    // plan tests would put it into the file.
    crate::scrub::register("VeryLongClientSecretValue-saved-4242");
    let mut leaking = file.clone();
    leaking.tenants[0].change = Some(saved(
        json!({"name": "Acme 2"}),
        &json!({"name": "VeryLongClientSecretValue-saved-4242"}),
    ));
    let leak = dir.path().join("leak.plan.json");
    let e = leaking.write(&leak).unwrap_err();
    assert!(e.message.contains("holds a credential"), "{e}");
    assert!(!leak.exists());

    std::fs::write(&path, "not json").unwrap();
    let e = PlanFile::read(&path).unwrap_err();
    assert!(
        e.message
            .contains("prod.plan.json is not a promote plan file"),
        "{e}"
    );
    std::fs::write(&path, r#"{"kind": "something"}"#).unwrap();
    assert!(PlanFile::read(&path)
        .unwrap_err()
        .message
        .contains("`kind`"));
    std::fs::write(&path, r#"{"kind": "promote-plan", "version": 9}"#).unwrap();
    let e = PlanFile::read(&path).unwrap_err();
    assert!(e.message.contains("version 9"), "{e}");
    std::fs::write(
        &path,
        r#"{"kind": "promote-plan", "version": 1, "env": "prod"}"#,
    )
    .unwrap();
    assert!(PlanFile::read(&path)
        .unwrap_err()
        .message
        .contains("missing field"));
}

#[test]
fn a_saved_change_sends_its_patch_with_markers_resolved() {
    let mut change = saved(json!({"name": "Acme 2"}), &json!({"name": "Acme"}));
    let at = "/servers/w/clients/c/client_secret";
    change
        .patch
        .push(json!({"op": "add", "path": at, "value": "<secret:X>"}));
    // As apply resolves them: every marker in the op, wherever it is.
    let prepared = change
        .prepared(&acme(), Desired::tree(json!({})), |op| {
            let text = op.to_string().replace("<secret:X>", "resolved");
            Ok(serde_json::from_str(&text).unwrap())
        })
        .unwrap();
    let sent = prepared.sending.patch.to_json();
    assert_eq!(
        sent[0],
        json!({"op": "test", "path": "/name", "value": "Acme"})
    );
    assert_eq!(sent[2]["value"], "resolved");
    // The report never shows it.
    let shown = prepared.report.patch.unwrap().to_string();
    assert!(!shown.contains("resolved"), "{shown}");
}

/// From the attacker's try: an edited plan file sent removals its description hid (no
/// `--allow-delete`, reported as unchanged), and a `secret()` marker into a plain field.
#[test]
fn a_patch_other_than_the_commit_renders_or_than_described_is_refused() {
    let live = live();
    let mut desired = live.clone();
    desired["name"] = json!("Acme 2");
    desired["servers"]["w"]["clients"]["new"] = json!({"client_name": "new"});
    let change = saved(desired.clone(), &live);
    assert_eq!(super::verify::check(&change, &desired), Ok(()));

    let mut hidden = change.clone();
    hidden.changes.clear();
    assert!(super::verify::check(&hidden, &desired)
        .unwrap_err()
        .contains("which its changes do not show"));

    let mut removes = change.clone();
    removes
        .patch
        .push(json!({"op": "remove", "path": "/servers/w/clients/old"}));
    assert!(super::verify::check(&removes, &desired)
        .unwrap_err()
        .contains("removes /servers/w/clients/old, which the plan's commit holds"));

    let mut leaks = change.clone();
    leaks
        .patch
        .push(json!({"op": "add", "path": "/settings/leak", "value": "<secret:KEY>"}));
    assert!(super::verify::check(&leaks, &desired)
        .unwrap_err()
        .contains("writes at /settings/leak what the plan's commit does not hold"));

    // A marker in a credential field of an object the plan creates is the repository's.
    let mut marked = change.clone();
    for op in &mut marked.patch {
        if op["path"] == "/servers/w/clients/new" {
            op["value"]["client_secret"] = json!("<secret:KEY>");
        }
    }
    assert_eq!(super::verify::check(&marked, &desired), Ok(()));
}

#[test]
fn a_long_value_that_moved_is_shown_as_the_lines_that_differ_never_cut_alike() {
    let policy = |n: u32| {
        let mut text = String::from("package acme\n");
        for i in 0..40 {
            text.push_str(&format!(
                "rule_{i} := \"a long enough line of policy text {i}\"\n"
            ));
        }
        text.push_str(&format!("max_amount := {n}\n"));
        json!(text)
    };
    let moved = vec![Moved {
        path: "/policies/p/definition".into(),
        was: Some(policy(5000)),
        was_map: false,
        now: Some(policy(5001)),
    }];
    let text = moved_text(&moved);
    assert!(text.contains("- max_amount := 5000"), "{text}");
    assert!(text.contains("+ max_amount := 5001"), "{text}");
    assert!(
        !text.contains("rule_3 "),
        "only the lines near the change: {text}"
    );
}

#[test]
fn a_platform_that_holds_the_plans_result_has_it_already_applied() {
    let desired = json!({"name": "Acme 2", "settings": {"ttl": 60, "keep": "x", "new": true},
        "servers": {"w": {"clients": {}}, "fresh": {"name": "fresh"}}});
    let change = saved(desired.clone(), &live());
    assert!(
        !change.already_applied(&live()),
        "the before-state is not the result"
    );
    assert!(change.already_applied(&desired));
    // A colleague made only part of it by hand: neither before nor after.
    let mut part = desired.clone();
    part["name"] = json!("Acme");
    assert!(!change.already_applied(&part));
    // Or something else at a path the plan sets.
    let mut other = desired;
    other["settings"]["new"] = json!(false);
    assert!(!change.already_applied(&other));
}

#[test]
fn a_secret_markers_place_is_not_compared() {
    let mut change = saved(
        json!({"name": "Acme"}),
        &json!({"name": "Acme", "settings": {}}),
    );
    change.patch = vec![
        json!({"op": "add", "path": "/settings/hook", "value": {"url": "u", "token": "<secret:HOOK>"}}),
    ];
    assert!(change.already_applied(&json!({"name": "Acme", "settings": {"hook": {"url": "u"}}})));
    assert!(change.already_applied(
        &json!({"name": "Acme", "settings": {"hook": {"url": "u", "token": "the value"}}})
    ));
    assert!(!change.already_applied(&json!({"name": "Acme", "settings": {"hook": {"url": "v"}}})));
}

/// A plan file is anyone's to edit: a commit that is not one (`ci --apply --plan` cut it at
/// byte 12, which panicked inside a multi-byte character) is shown as a word, and a plan of
/// another environment is named as such.
#[test]
fn an_edited_commit_or_environment_is_named_never_shown_raw() {
    let mut file = PlanFile {
        kind: KIND.into(),
        version: VERSION,
        env: "prod".into(),
        commit: "ééééééééééé\n::error::x".into(),
        config_tree: "t".into(),
        mode: "update".into(),
        drift: Default::default(),
        created: PlanFile::now(),
        complete: true,
        tenants: Vec::new(),
    };
    assert_eq!(file.short_commit(), "an unreadable commit");
    assert_eq!(file.fit("abc", || Some("t".into())), Fit::SameConfiguration);
    assert_eq!(file.fit("abc", || Some("u".into())), Fit::Other);
    file.commit = "abc".into();
    assert_eq!(file.fit("abc", || unreachable!()), Fit::SameCommit);
    let e = file
        .check_env(std::path::Path::new("p.json"), "staging")
        .unwrap_err();
    assert!(
        e.message
            .contains("a plan of environment `prod`, not `staging`"),
        "{e}"
    );
    assert!(file
        .check_env(std::path::Path::new("p.json"), "prod")
        .is_ok());
}

/// A value the plan sets to null is still null when the plan file is read back: not taken
/// for a removal, which apply's read-back would then find missing.
#[test]
fn a_value_set_to_null_stays_null_in_a_plan_file() {
    let desired = json!({"name": null, "settings": {"ttl": 60, "keep": "x"},
        "servers": {"w": {"clients": {"old": {"client_name": "old", "scopes": ["a"]}}}}});
    let change = saved(desired, &live());
    let set = change.changes.iter().find(|c| c.path == "/name").unwrap();
    assert_eq!(set.new, Some(Value::Null));
    let text = serde_json::to_string(&change).unwrap();
    let read: SavedChange = serde_json::from_str(&text).unwrap();
    assert_eq!(read, change);
    // A value that is not there is still read as none.
    let removed: Change =
        serde_json::from_str(r#"{"path": "/a", "kind": "remove", "old": 1, "reason": "desired"}"#)
            .unwrap();
    assert_eq!((removed.old, removed.new), (Some(json!(1)), None));
}

/// What the tenant's ignore rules name is neither tested nor assumed: removing a client whose
/// ignored field another system changed meanwhile still applies.
#[test]
fn ignored_paths_are_neither_tested_nor_assumed() {
    let entries = [crate::ignore::Entry::Path(
        "/servers/*/clients/*/scopes".into(),
    )];
    let ignore = crate::ignore::Ignore::new(
        crate::ignore::check(&entries, "environments/prod.yaml", "").unwrap(),
    );
    let desired = json!({"name": "Acme", "settings": {"ttl": 60, "keep": "x"},
        "servers": {"w": {"clients": {}}}});
    let change = saved_ignoring(desired, &live(), &ignore);
    let text = serde_json::to_string(&change).unwrap();
    assert!(!text.contains("scopes"), "{text}");
    assert!(change
        .patch
        .iter()
        .any(|op| op["op"] == "remove" && op["path"] == "/servers/w/clients/old"));
    let mut moved = live();
    moved["servers"]["w"]["clients"]["old"]["scopes"] = json!(["b"]);
    assert!(change.moved(&moved).is_empty());
    moved["servers"]["w"]["clients"]["old"]["client_name"] = json!("renamed");
    assert_eq!(change.moved(&moved).len(), 1);
}
