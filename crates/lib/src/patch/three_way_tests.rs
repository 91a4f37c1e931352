#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::patch::{arb, pointer, Format};

/// A change as `(path, kind, reason)`, for compact expectations.
type Brief = (&'static str, ChangeKind, Reason);

fn briefs(plan: &Plan) -> Vec<(String, ChangeKind, Reason)> {
    plan.changes
        .iter()
        .map(|c| (c.path.clone(), c.kind, c.reason))
        .collect()
}

fn owned(briefs: &[Brief]) -> Vec<(String, ChangeKind, Reason)> {
    briefs
        .iter()
        .map(|(p, k, r)| ((*p).to_owned(), *k, *r))
        .collect()
}

use ChangeKind::{Add, Remove, Replace};
use Reason::{Conflict as Both, Desired, Drift};

/// One rule case: (last_applied, desired, live, changes, conflict paths, result).
type Case = (
    Option<Value>,
    Value,
    Value,
    Vec<Brief>,
    Vec<&'static str>,
    Value,
);

/// Each rule, with `Mode::Update`.
#[test]
fn rules() {
    let cases: Vec<Case> = vec![
        // Two-way overlay: sets what desired says, removes nothing, leaves live-only keys.
        (
            None,
            json!({"a": 1, "b": 2}),
            json!({"a": 0, "x": 9}),
            vec![("/a", Replace, Desired), ("/b", Add, Desired)],
            vec![],
            json!({"a": 1, "b": 2, "x": 9}),
        ),
        // Nothing to do when live already matches.
        (
            Some(json!({"a": 1})),
            json!({"a": 1}),
            json!({"a": 1, "srv": 0}),
            vec![],
            vec![],
            json!({"a": 1, "srv": 0}),
        ),
        // The repository changed a value; live still holds the last applied one.
        (
            Some(json!({"a": 1})),
            json!({"a": 2}),
            json!({"a": 1}),
            vec![("/a", Replace, Desired)],
            vec![],
            json!({"a": 2}),
        ),
        // Live drifted on an owned path; the repository did not change it: restore.
        (
            Some(json!({"a": 1})),
            json!({"a": 1}),
            json!({"a": 5}),
            vec![("/a", Replace, Drift)],
            vec![],
            json!({"a": 1}),
        ),
        (
            Some(json!({"a": 1})),
            json!({"a": 1}),
            json!({}),
            vec![("/a", Add, Drift)],
            vec![],
            json!({"a": 1}),
        ),
        // Both moved: a conflict, resolved by update.
        (
            Some(json!({"a": 1})),
            json!({"a": 2}),
            json!({"a": 3}),
            vec![("/a", Replace, Both)],
            vec!["/a"],
            json!({"a": 2}),
        ),
        // Both moved to the same value: nothing to do.
        (
            Some(json!({"a": 1})),
            json!({"a": 2}),
            json!({"a": 2}),
            vec![],
            vec![],
            json!({"a": 2}),
        ),
        // A key absent from last-applied counts as absent: a server default the repository
        // now sets differently is a conflict.
        (
            Some(json!({})),
            json!({"ttl": 30}),
            json!({"ttl": 60}),
            vec![("/ttl", Replace, Both)],
            vec!["/ttl"],
            json!({"ttl": 30}),
        ),
        // Removal of what the repository dropped.
        (
            Some(json!({"a": 1, "b": 1})),
            json!({"a": 1}),
            json!({"a": 1, "b": 1, "x": 0}),
            vec![("/b", Remove, Desired)],
            vec![],
            json!({"a": 1, "x": 0}),
        ),
        // ... unless live changed it since: a conflict.
        (
            Some(json!({"b": 1})),
            json!({}),
            json!({"b": 5}),
            vec![("/b", Remove, Both)],
            vec!["/b"],
            json!({}),
        ),
        // Already gone: nothing to do.
        (
            Some(json!({"b": 1})),
            json!({}),
            json!({}),
            vec![],
            vec![],
            json!({}),
        ),
        // Server defaults added inside an object promote created do not make its removal a
        // conflict; a changed owned field inside it does.
        (
            Some(json!({"clients": {"c1": {"name": "x"}}})),
            json!({"clients": {}}),
            json!({"clients": {"c1": {"name": "x", "created_at": "t"}}}),
            vec![("/clients/c1", Remove, Desired)],
            vec![],
            json!({"clients": {}}),
        ),
        (
            Some(json!({"clients": {"c1": {"name": "x"}}})),
            json!({"clients": {}}),
            json!({"clients": {"c1": {"name": "y"}}}),
            vec![("/clients/c1", Remove, Both)],
            vec!["/clients/c1"],
            json!({"clients": {}}),
        ),
        // Keys neither desired nor last-applied has are left alone, at any depth.
        (
            Some(json!({"s": {"a": 1}})),
            json!({"s": {"a": 2}}),
            json!({"s": {"a": 1, "default": true}, "other": 1}),
            vec![("/s/a", Replace, Desired)],
            vec![],
            json!({"s": {"a": 2, "default": true}, "other": 1}),
        ),
        // An object where live has a non-object or nothing: one change of the whole subtree.
        (
            None,
            json!({"a": {"b": 1, "c": {"d": 2}}, "e": {"f": 1}}),
            json!({"a": 5}),
            vec![("/a", Replace, Desired), ("/e", Add, Desired)],
            vec![],
            json!({"a": {"b": 1, "c": {"d": 2}}, "e": {"f": 1}}),
        ),
        // Arrays are leaves, compared and replaced whole.
        (
            Some(json!({"l": [1, 2]})),
            json!({"l": [1, 2, 3]}),
            json!({"l": [1, 2]}),
            vec![("/l", Replace, Desired)],
            vec![],
            json!({"l": [1, 2, 3]}),
        ),
        // Awkward keys are escaped in change paths.
        (
            None,
            json!({"x/y": {"~": 1, "": 2}}),
            json!({"x/y": {}}),
            vec![("/x~1y/", Add, Desired), ("/x~1y/~0", Add, Desired)],
            vec![],
            json!({"x/y": {"~": 1, "": 2}}),
        ),
        // A desired null is a value like any other.
        (
            None,
            json!({"a": null}),
            json!({"a": 1}),
            vec![("/a", Replace, Desired)],
            vec![],
            json!({"a": null}),
        ),
        // Roots that are not objects.
        (
            None,
            json!(5),
            json!({"a": 1}),
            vec![("", Replace, Desired)],
            vec![],
            json!(5),
        ),
        (
            Some(json!({"a": 1})),
            json!({"a": 1}),
            json!([1]),
            vec![("", Replace, Drift)],
            vec![],
            json!({"a": 1}),
        ),
    ];
    for (last, desired, live, changes, conflicts, result) in cases {
        let label = format!("last {last:?} desired {desired} live {live}");
        let (plan, touched) = plan(last.as_ref(), &desired, &live, Mode::Update).unwrap();
        assert_eq!(briefs(&plan), owned(&changes), "{label}");
        let found: Vec<&str> = plan.conflicts.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(found, conflicts, "{label}");
        assert!(plan.skipped.is_empty(), "{label}");
        assert_eq!(plan.result(&live), result, "{label}");
        assert_eq!(plan.is_empty(), changes.is_empty(), "{label}");
        let mut doc = live.clone();
        touched.patch(true).apply(&mut doc).unwrap();
        assert_eq!(doc, result, "{label}");
    }
}

#[test]
fn change_values() {
    let last = json!({"a": 1, "b": {"c": 1}});
    let (plan, touched) = plan(
        Some(&last),
        &json!({"a": 2, "n": null}),
        &json!({"a": 3, "b": {"c": 1}}),
        Mode::Update,
    )
    .unwrap();
    assert_eq!(
        plan.changes,
        vec![
            Change {
                path: "/a".into(),
                kind: Replace,
                old: Some(json!(3)),
                new: Some(json!(2)),
                reason: Both
            },
            Change {
                path: "/b".into(),
                kind: Remove,
                old: Some(json!({"c": 1})),
                new: None,
                reason: Desired
            },
            Change {
                path: "/n".into(),
                kind: Add,
                old: None,
                new: Some(Value::Null),
                reason: Desired
            },
        ]
    );
    assert_eq!(
        plan.conflicts,
        vec![super::Conflict {
            path: "/a".into(),
            last_applied: Some(json!(1)),
            desired: Some(json!(2)),
            live: Some(json!(3)),
        }]
    );
    assert_eq!(
        serde_json::to_value(&plan.changes).unwrap(),
        json!([
            {"path": "/a", "kind": "replace", "old": 3, "new": 2, "reason": "conflict"},
            {"path": "/b", "kind": "remove", "old": {"c": 1}, "reason": "desired"},
            {"path": "/n", "kind": "add", "new": null, "reason": "desired"},
        ])
    );
    // Setting null needs RFC 6902.
    assert_eq!(touched.patch(true).format(), Format::Json6902);
}

#[test]
fn modes() {
    let last = json!({"a": 1, "b": 1, "c": 1});
    let desired = json!({"a": 2, "c": 2});
    let live = json!({"a": 3, "b": 3, "c": 1});
    let conflicts = vec![
        super::Conflict {
            path: "/a".into(),
            last_applied: Some(json!(1)),
            desired: Some(json!(2)),
            live: Some(json!(3)),
        },
        super::Conflict {
            path: "/b".into(),
            last_applied: Some(json!(1)),
            desired: None,
            live: Some(json!(3)),
        },
    ];

    let (update, _) = plan(Some(&last), &desired, &live, Mode::Update).unwrap();
    assert_eq!(update.result(&live), json!({"a": 2, "c": 2}));
    assert_eq!(update.conflicts, conflicts);
    assert!(update.skipped.is_empty());

    let (ignore, _) = plan(Some(&last), &desired, &live, Mode::Ignore).unwrap();
    assert_eq!(ignore.result(&live), json!({"a": 3, "b": 3, "c": 2}));
    assert_eq!(briefs(&ignore), owned(&[("/c", Replace, Desired)]));
    assert_eq!(ignore.conflicts, conflicts);
    assert_eq!(ignore.skipped, conflicts);

    let err = plan(Some(&last), &desired, &live, Mode::Fail).unwrap_err();
    assert_eq!(err.conflicts, conflicts);
    assert_eq!(
        err.to_string(),
        "2 conflict(s) between live changes and repository changes: /a, /b"
    );
    assert!(plan(
        Some(&last),
        &json!({"a": 1, "b": 1, "c": 2}),
        &live,
        Mode::Fail
    )
    .is_ok());

    assert_eq!(serde_json::to_value(Mode::Update).unwrap(), json!("update"));
    assert_eq!(Mode::Ignore.as_str(), "ignore");
    assert_eq!(Mode::Fail.as_str(), "fail");
}

#[test]
fn root_conflict_is_named() {
    let err = plan(Some(&json!({})), &json!(1), &json!(2), Mode::Fail).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 conflict(s) between live changes and repository changes: (root)"
    );
}

// ---- properties ----

/// The pointer (as `promote` writes it) and value of every object member and of every
/// non-object, recursing through objects only.
fn owned_paths(value: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            let path = pointer::join(path, key);
            out.push((path.clone(), child.clone()));
            owned_paths(child, &path, out);
        }
    }
}

/// Whether `path` is `prefix` or lies under it.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Desired's leaves hold in `result` (objects are objects there), except under `skip`.
fn assert_owned(desired: &Value, result: &Value, skip: &[Conflict]) -> Result<(), TestCaseError> {
    let mut paths = vec![(String::new(), desired.clone())];
    owned_paths(desired, "", &mut paths);
    for (path, want) in paths {
        if skip.iter().any(|c| under(&path, &c.path)) {
            continue;
        }
        let got = pointer::get(result, &path);
        if want.is_object() {
            prop_assert!(
                got.is_some_and(Value::is_object),
                "{} should be an object",
                path
            );
        } else {
            prop_assert_eq!(got, Some(&want), "at {}", path);
        }
    }
    Ok(())
}

/// Keys of live that neither desired nor last-applied has keep live's value, wherever the
/// plan recursed (desired and live both objects).
fn assert_untouched(
    live: &Value,
    desired: &Value,
    last: Option<&Value>,
    result: &Value,
) -> Result<(), TestCaseError> {
    let (Value::Object(now), Value::Object(want), Value::Object(out)) = (live, desired, result)
    else {
        return Ok(());
    };
    for (key, value) in now {
        let was = last.and_then(|l| l.get(key));
        match want.get(key) {
            None if was.is_none() => prop_assert_eq!(out.get(key), Some(value), "key {:?}", key),
            Some(w) => {
                if let Some(o) = out.get(key) {
                    assert_untouched(value, w, was, o)?;
                }
            }
            None => {}
        }
    }
    Ok(())
}

/// Wherever live and result are both objects, result kept every key of live.
fn assert_kept(live: &Value, result: &Value) -> Result<(), TestCaseError> {
    if let (Value::Object(now), Value::Object(out)) = (live, result) {
        for (key, value) in now {
            let kept = out.get(key);
            prop_assert!(kept.is_some(), "key {:?} removed", key);
            if let Some(kept) = kept {
                assert_kept(value, kept)?;
            }
        }
    }
    Ok(())
}

/// Applying the changes one by one to live gives the result, and each change's `old` is
/// what live held.
fn assert_changes_replay(live: &Value, plan: &Plan) -> Result<(), TestCaseError> {
    let mut doc = live.clone();
    for change in &plan.changes {
        prop_assert_eq!(
            pointer::get(live, &change.path),
            change.old.as_ref(),
            "old at {}",
            &change.path
        );
        let keys = pointer::parse(&change.path).unwrap();
        match keys.split_last() {
            None => doc = change.new.clone().unwrap(),
            Some((key, parent)) => {
                let parent_ptr = parent
                    .iter()
                    .fold(String::new(), |p, k| pointer::join(&p, k));
                let map = pointer::get_mut(&mut doc, &parent_ptr)
                    .unwrap()
                    .as_object_mut()
                    .unwrap();
                match &change.new {
                    Some(value) => map.insert(key.clone(), value.clone()),
                    None => map.remove(key),
                };
            }
        }
    }
    prop_assert_eq!(&doc, &plan.result(live));
    Ok(())
}

/// [`Plan::keeps`] says of every path of live whether the result still has it.
fn assert_keeps(live: &Value, result: &Value, plan: &Plan) -> Result<(), TestCaseError> {
    fn paths(tree: &Value, at: String, out: &mut Vec<String>) {
        if let Value::Object(map) = tree {
            for (key, value) in map {
                let path = pointer::join(&at, key);
                out.push(path.clone());
                paths(value, path, out);
            }
        }
    }
    let mut all = Vec::new();
    paths(live, String::new(), &mut all);
    for path in all {
        prop_assert_eq!(
            plan.keeps(&path),
            result.pointer(&path).is_some(),
            "{}",
            path
        );
    }
    Ok(())
}

/// (last_applied, desired, live): related trees, with no last-applied record now and then.
fn triple() -> impl Strategy<Value = (Option<Value>, Value, Value)> {
    (arb::related(3), prop::bool::weighted(0.8)).prop_map(|(v, tracked)| {
        let last = tracked.then(|| v[0].clone());
        (last, v[1].clone(), v[2].clone())
    })
}

proptest! {
    #![proptest_config(arb::config())]

    /// The design's invariant: the patch turns live into the result, which holds desired on
    /// every owned path and live on every path nobody owns.
    #[test]
    fn update_gives_desired_on_owned_paths((last, desired, live) in triple()) {
        let (plan, touched) = plan(last.as_ref(), &desired, &live, Mode::Update).unwrap();
        let result = plan.result(&live);
        for with_tests in [false, true] {
            // The patch made from the touched parts only is the patch between the whole trees.
            prop_assert_eq!(touched.patch(with_tests), crate::patch::auto(&live, &result, with_tests));
            let mut doc = live.clone();
            touched.patch(with_tests).apply(&mut doc).unwrap();
            prop_assert_eq!(&doc, &result);
        }
        assert_keeps(&live, &result, &plan)?;
        assert_owned(&desired, &result, &[])?;
        assert_untouched(&live, &desired, last.as_ref(), &result)?;
        assert_changes_replay(&live, &plan)?;
        prop_assert_eq!(touched.patch(true).is_empty(), plan.is_empty());
        if last.is_none() {
            prop_assert!(plan.changes.iter().all(|c| c.kind != ChangeKind::Remove));
            prop_assert!(plan.conflicts.is_empty());
            assert_kept(&live, &result)?;
        }
        // Converged: planning again against the result changes nothing.
        let (again, _) = super::plan(last.as_ref(), &desired, &result, Mode::Update).unwrap();
        prop_assert!(again.changes.is_empty(), "{:?}", again.changes);
        let (recorded, _) = super::plan(Some(&desired), &desired, &result, Mode::Fail).unwrap();
        prop_assert!(recorded.changes.is_empty());
    }

    #[test]
    fn ignore_keeps_live_on_conflicts((last, desired, live) in triple()) {
        let (update, _) = plan(last.as_ref(), &desired, &live, Mode::Update).unwrap();
        let (ignore, ignore_touched) = plan(last.as_ref(), &desired, &live, Mode::Ignore).unwrap();
        let result = ignore.result(&live);
        prop_assert_eq!(&ignore.conflicts, &update.conflicts);
        prop_assert_eq!(&ignore.skipped, &ignore.conflicts);
        for conflict in &ignore.conflicts {
            prop_assert_eq!(pointer::get(&result, &conflict.path), pointer::get(&live, &conflict.path));
        }
        assert_owned(&desired, &result, &ignore.skipped)?;
        assert_untouched(&live, &desired, last.as_ref(), &result)?;
        assert_changes_replay(&live, &ignore)?;
        let mut doc = live.clone();
        ignore_touched.patch(true).apply(&mut doc).unwrap();
        prop_assert_eq!(&doc, &result);
    }

    /// `--drift keep` plans exactly restore's changes but the drift, which it lists as kept and
    /// leaves as live holds it; conflicts are resolved as before.
    #[test]
    fn keep_leaves_drift_as_live_and_plans_the_rest((last, desired, live) in triple()) {
        let (restore, _) = plan(last.as_ref(), &desired, &live, Mode::Update).unwrap();
        let (keep, keep_touched) =
            plan_with_drift(last.as_ref(), &desired, &live, Mode::Update, DriftPolicy::Keep)
                .unwrap();
        let (drift, rest): (Vec<Change>, Vec<Change>) = restore
            .changes
            .iter()
            .cloned()
            .partition(|c| c.reason == Reason::Drift);
        prop_assert_eq!(&keep.changes, &rest);
        prop_assert_eq!(&keep.kept, &drift);
        prop_assert!(restore.kept.is_empty());
        prop_assert_eq!(&keep.conflicts, &restore.conflicts);
        let result = keep.result(&live);
        for kept in &keep.kept {
            prop_assert_eq!(pointer::get(&result, &kept.path), pointer::get(&live, &kept.path));
        }
        let mut doc = live.clone();
        keep_touched.patch(true).apply(&mut doc).unwrap();
        prop_assert_eq!(&doc, &result);
    }

    #[test]
    fn fail_errs_iff_conflicts((last, desired, live) in triple()) {
        let update = plan(last.as_ref(), &desired, &live, Mode::Update).unwrap();
        match plan(last.as_ref(), &desired, &live, Mode::Fail) {
            Err(err) => prop_assert_eq!(err.conflicts, update.0.conflicts),
            Ok(fail) => {
                prop_assert!(update.0.conflicts.is_empty());
                prop_assert_eq!(fail, update);
            }
        }
    }
}
