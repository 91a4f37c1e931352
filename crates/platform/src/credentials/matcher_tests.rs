//! The matcher against the pattern walks it replaced (kept here as the reference), on
//! generated trees and pointers whose keys are credential names in every spelling the platform
//! folds (upper case, the Kelvin sign, the long s), pointer escapes, indices and empty keys.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::super::{
    for_each, may_hold, outermost, patterns, segment_matches, walk, Pattern, Scope, ANY_DEPTH,
};
use super::{fold, is_folded};

/// [`for_each`] as it was, one walk of the tree per pattern, and with lists looked through:
/// the items of a list are matched by the same pattern as the list.
fn reference_for_each(tree: &Value, scope: Scope) -> Vec<(String, Value)> {
    let mut all: Vec<(String, &Value)> = Vec::new();
    for pattern in patterns(scope) {
        walk_through_lists(tree, pattern, String::new(), &mut |at, value| {
            all.push((at, value))
        });
    }
    let mut out = Vec::new();
    outermost(all, |at, v| out.push((at, v.clone())));
    out
}

/// [`walk`], also matching the items of every list (at any depth) by the pattern that reached
/// the list.
fn walk_through_lists<'a>(
    value: &'a Value,
    pattern: &[Vec<&str>],
    at: String,
    found: &mut impl FnMut(String, &'a Value),
) {
    // Each value a pattern reaches (the one given, and every one `walk` reaches from it),
    // with what is left of the pattern there: its lists are looked through, recursively.
    let mut reached: Vec<(String, &'a Value, usize)> = Vec::new();
    for_each_reached(value, pattern, at, &mut reached);
    for (at, value, left) in reached {
        if left == 0 {
            found(at, value);
        }
    }
}

/// Every value `pattern` reaches from `value`, lists looked through, with how many segments of
/// the pattern are left there.
fn for_each_reached<'a>(
    value: &'a Value,
    pattern: &[Vec<&str>],
    at: String,
    out: &mut Vec<(String, &'a Value, usize)>,
) {
    out.push((at.clone(), value, pattern.len()));
    if let Value::Array(items) = value {
        for (i, item) in items.iter().enumerate() {
            for_each_reached(
                item,
                pattern,
                crate::pointer::join(&at, &i.to_string()),
                out,
            );
        }
    }
    let Some((first, rest)) = pattern.split_first() else {
        return;
    };
    if first.as_slice() == [ANY_DEPTH] {
        // `**/names`: the names at any depth, as `walk` finds them.
        walk(value, pattern, at, &mut |at, v| out.push((at, v, 0)));
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if segment_matches(first, key) {
                    for_each_reached(child, rest, crate::pointer::join(&at, key), out);
                }
            }
        }
        Value::Array(items) if first.contains(&"*") => {
            for (i, child) in items.iter().enumerate() {
                for_each_reached(child, rest, crate::pointer::join(&at, &i.to_string()), out);
            }
        }
        _ => {}
    }
}

/// [`may_hold`] as it was: every pattern and alternative against every segment.
fn reference_may_hold(at: &str, value: &Value, scope: Scope) -> bool {
    let Ok(segments) = crate::pointer::parse(at) else {
        return true;
    };
    let anywhere = |pattern: &Pattern| pattern.first().is_some_and(|a| a.as_slice() == [ANY_DEPTH]);
    patterns(scope).iter().any(|pattern| {
        if anywhere(pattern) {
            let names = pattern.last().map(Vec::as_slice).unwrap_or_default();
            segments.iter().any(|seg| segment_matches(names, seg)) || has_key(value, names)
        } else {
            pattern
                .iter()
                .zip(&segments)
                .all(|(alts, seg)| segment_matches(alts, seg))
        }
    })
}

fn has_key(value: &Value, names: &[&str]) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| segment_matches(names, k) || has_key(v, names)),
        Value::Array(items) => items.iter().any(|v| has_key(v, names)),
        _ => false,
    }
}

/// [`super::super::stray_markers`] as it was: a walk for the fields, and one for the markers.
fn reference_stray_markers(tree: &Value, scope: Scope) -> Vec<String> {
    // Validation finds the fields as the platform has them: lists are not looked through.
    let mut all: Vec<(String, &Value)> = Vec::new();
    for pattern in patterns(scope) {
        walk(tree, pattern, String::new(), &mut |at, value| {
            all.push((at, value))
        });
    }
    let mut fields = Vec::new();
    outermost(all, |at, _| fields.push(at));
    let mut out = Vec::new();
    markers(tree, &mut String::new(), &mut |at| {
        let inside = fields
            .iter()
            .any(|f| at == f || (at.starts_with(f.as_str()) && at.as_bytes()[f.len()] == b'/'));
        if !inside {
            out.push(at.to_owned());
        }
    });
    out
}

fn markers(value: &Value, at: &mut String, found: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) if s.contains(super::super::MARKER_PREFIX) => found(at),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                markers(item, at, found);
                at.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = at.len();
                crate::pointer::push(at, key);
                // A marker as a key is never a credential field's value.
                if key.contains(super::super::MARKER_PREFIX) {
                    found(at);
                }
                markers(item, at, found);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

fn found(tree: &Value, scope: Scope) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for_each(tree, scope, |at, v| out.push((at, v.clone())));
    out
}

/// Keys: the names of the patterns (fields and collections) in awkward spellings, and keys
/// that are no name.
fn key() -> impl Strategy<Value = String> {
    let names = vec![
        "servers",
        "w",
        "clients",
        "c",
        "idps",
        "gateways",
        "client",
        "jwks",
        "keys",
        "d",
        "k",
        "qi",
        "secret",
        "client_secret",
        "Client_Secret",
        "CLIENT_SECRET",
        "client_\u{17F}ecret",
        "\u{212A}",
        "jw\u{212A}s",
        "JWKS",
        "password",
        "api_key",
        "API_KEY",
        "credentials",
        "webhooks",
        "mfa_methods",
        "auth",
        "rotated_secrets",
        "registration_token",
        "external",
        "ciba_authentication_service",
        "server_consent",
        "jit",
        "provisioning",
        "identifier_salt",
        "payload",
        "jws_payload",
        "dynamic_client_registration",
        "trust_anchor_configuration",
        "custom_apps",
        "subject_identifier_algorithm_salt",
        "",
        "~",
        "/",
        "~0",
        "~1",
        "a/b",
        "é",
        "日本",
        "0",
        "1",
        "ｋ",
        "secret\u{301}",
        "<secret:K>",
    ];
    prop_oneof![
        8 => prop::sample::select(names).prop_map(str::to_owned),
        1 => "[a-zA-Z_~/\u{17F}\u{212A}]{0,4}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("<secret:A>")),
        Just(json!("plain")),
        Just(json!(7)),
        Just(json!(true)),
    ]
}

/// Trees biased to the shapes the patterns name: maps of maps, with lists here and there.
fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 5, |inner| {
        prop_oneof![
            4 => prop::collection::vec((key(), inner.clone()), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
            1 => prop::collection::vec(inner, 0..3).prop_map(Value::Array),
        ]
    })
}

/// Pointers made of generated keys, escaped, and a few that are no pointer.
fn pointer() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(key(), 0..8).prop_map(|keys| crate::pointer::from_keys(&keys)),
        1 => prop::sample::select(vec!["servers", "/~2", "/servers/~", "/a~", "~1"])
            .prop_map(str::to_owned),
    ]
}

/// One key of a place: a map key or a list index.
#[derive(Debug, Clone)]
enum Token {
    Key(String),
    Index(usize),
}

/// `name` as the platform still reads it: as is, upper case, or with a long s or a Kelvin sign.
fn spelled(name: &str, how: u8) -> String {
    match how % 5 {
        1 => name.to_ascii_uppercase(),
        2 => name.replacen('s', "\u{17F}", 1),
        3 => name.replacen('k', "\u{212A}", 1),
        _ => name.to_owned(),
    }
}

/// [`crate::material::for_each`] as it was: one walk of the tree per pattern of
/// [`crate::material::MATERIAL`], in their order.
fn reference_material(tree: &Value, scope: Scope) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for m in crate::material::MATERIAL {
        let pattern = match scope {
            Scope::Tenant => Some(m.pattern),
            Scope::Workspace => m.pattern.strip_prefix("servers/*/"),
        };
        if let Some(p) = pattern {
            walk(
                tree,
                &super::super::parse(p),
                String::new(),
                &mut |at, _| out.push((at, m.pattern)),
            );
        }
    }
    out
}

fn material(tree: &Value, scope: Scope) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    crate::material::for_each(tree, scope, |at, m| out.push((at, m.pattern)));
    out
}

/// The patterns of the material of `scope`.
fn material_patterns(scope: Scope) -> Vec<Pattern> {
    crate::material::MATERIAL
        .iter()
        .filter_map(|m| match scope {
            Scope::Tenant => Some(m.pattern),
            Scope::Workspace => m.pattern.strip_prefix("servers/*/"),
        })
        .map(super::super::parse)
        .collect()
}

/// Places a pattern of `scope` names (an alternative of each segment, `*` as a key or an index,
/// `**` as a few keys), in one of the spellings the platform reads as the name.
fn place(scope: Scope) -> impl Strategy<Value = Vec<Token>> {
    place_of(patterns(scope).to_vec())
}

/// Places one of `all` (see [`place`]).
fn place_of(all: Vec<Pattern>) -> impl Strategy<Value = Vec<Token>> {
    let choice = (any::<prop::sample::Index>(), any::<u8>(), key(), 0usize..3);
    (
        any::<prop::sample::Index>(),
        prop::collection::vec(choice, 12),
    )
        .prop_map(move |(which, choices)| {
            let pattern = &all[which.index(all.len())];
            let mut tokens = Vec::new();
            for (seg, (alt, how, key, n)) in pattern.iter().zip(choices) {
                match alt.get(seg) {
                    &"**" => tokens.extend((0..n).map(|_| Token::Key(key.clone()))),
                    &"*" if n == 0 => tokens.push(Token::Index(usize::from(how % 3))),
                    &"*" => tokens.push(Token::Key(key)),
                    name => tokens.push(Token::Key(spelled(name, how))),
                }
            }
            tokens
        })
}

/// Sets `value` at `tokens` of `tree`, making maps and lists where needed.
fn plant(tree: &mut Value, tokens: &[Token], value: Value) {
    let Some((first, rest)) = tokens.split_first() else {
        *tree = value;
        return;
    };
    let child = match first {
        Token::Key(k) => {
            if !tree.is_object() {
                *tree = Value::Object(Map::new());
            }
            tree.as_object_mut()
                .map(|m| m.entry(k.clone()).or_insert(Value::Null))
        }
        Token::Index(i) => {
            if !tree.is_array() {
                *tree = Value::Array(Vec::new());
            }
            tree.as_array_mut().and_then(|items| {
                items.resize(items.len().max(i + 1), Value::Null);
                items.get_mut(*i)
            })
        }
    };
    if let Some(child) = child {
        plant(child, rest, value);
    }
}

fn pointer_of(tokens: &[Token]) -> String {
    crate::pointer::from_keys(&keys_of(tokens))
}

fn keys_of(tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| match t {
            Token::Key(k) => k.clone(),
            Token::Index(i) => i.to_string(),
        })
        .collect()
}

/// A generated tree with places of `scope`'s patterns planted in it.
fn planted(scope: Scope) -> impl Strategy<Value = (Value, Vec<Vec<Token>>)> {
    planted_at(place(scope))
}

/// A generated tree with `places` planted in it.
fn planted_at(
    place: impl Strategy<Value = Vec<Token>>,
) -> impl Strategy<Value = (Value, Vec<Vec<Token>>)> {
    (tree(), prop::collection::vec((place, tree()), 1..6)).prop_map(|(mut tree, places)| {
        let mut at = Vec::new();
        for (tokens, value) in places {
            plant(&mut tree, &tokens, value);
            at.push(tokens);
        }
        (tree, at)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn finds_the_fields_the_pattern_walks_find(tree in tree()) {
        for scope in [Scope::Tenant, Scope::Workspace] {
            prop_assert_eq!(found(&tree, scope), reference_for_each(&tree, scope));
            let fields = super::super::Fields::of(&tree, scope);
            prop_assert_eq!(fields.stray_markers(), reference_stray_markers(&tree, scope));
            // Without markers, the same fields (a tree known to hold none has no stray one).
            let without = super::super::Fields::without_markers(&tree, scope);
            prop_assert_eq!(&without.found, &fields.found);
            prop_assert!(without.markers.is_empty());
        }
    }

    #[test]
    fn finds_the_fields_under_a_workspace(ws in tree(), wid in key()) {
        let tree = json!({"servers": {wid: ws.clone()}});
        prop_assert_eq!(found(&tree, Scope::Tenant), reference_for_each(&tree, Scope::Tenant));
        prop_assert_eq!(found(&ws, Scope::Workspace), reference_for_each(&ws, Scope::Workspace));
    }

    #[test]
    fn finds_the_fields_planted_in_a_tree(
        (tree, places) in prop_oneof![planted(Scope::Tenant), planted(Scope::Workspace)],
        cut in 0usize..4,
        extra in key(),
    ) {
        for scope in [Scope::Tenant, Scope::Workspace] {
            prop_assert_eq!(found(&tree, scope), reference_for_each(&tree, scope));
            let fields = super::super::Fields::of(&tree, scope);
            prop_assert_eq!(fields.stray_markers(), reference_stray_markers(&tree, scope));
            for tokens in &places {
                // At the place, above it, and below it.
                let mut at = tokens[..tokens.len().saturating_sub(cut)].to_vec();
                if cut == 3 {
                    at.push(Token::Key(extra.clone()));
                }
                let at = pointer_of(&at);
                let value = crate::pointer::get(&tree, &at).cloned().unwrap_or(Value::Null);
                prop_assert_eq!(
                    may_hold(&at, &value, scope),
                    reference_may_hold(&at, &value, scope),
                    "{}", at
                );
            }
        }
    }

    #[test]
    fn finds_the_material_the_pattern_walks_find(
        (tree, _) in prop_oneof![
            planted_at(place_of(material_patterns(Scope::Tenant))),
            planted_at(place_of(material_patterns(Scope::Workspace))),
            planted(Scope::Tenant),
        ],
    ) {
        for scope in [Scope::Tenant, Scope::Workspace] {
            prop_assert_eq!(material(&tree, scope), reference_material(&tree, scope));
        }
    }

    #[test]
    fn may_hold_says_what_the_pattern_walk_says(at in pointer(), value in tree()) {
        for scope in [Scope::Tenant, Scope::Workspace] {
            prop_assert_eq!(
                may_hold(&at, &value, scope),
                reference_may_hold(&at, &value, scope),
                "{} {}", at, value
            );
        }
    }

    #[test]
    fn places_asked_in_a_row_are_answered_as_each_alone(
        steps in prop::collection::vec(
            (
                0usize..8,
                prop_oneof![
                    2 => prop::collection::vec(key(), 0..4).prop_map(|keys| (keys, false)),
                    2 => prop_oneof![place(Scope::Tenant), place(Scope::Workspace)]
                        .prop_map(|tokens| (keys_of(&tokens), false)),
                    1 => pointer().prop_map(|odd| (vec![odd], true)),
                ],
            ),
            1..24,
        ),
    ) {
        for scope in [Scope::Tenant, Scope::Workspace] {
            let mut places = super::super::Places::new(scope);
            let mut keys: Vec<String> = Vec::new();
            for (cut, (tail, odd)) in &steps {
                // The next pointer shares some keys with the one before, as a plan's do.
                let at = if *odd {
                    tail[0].clone()
                } else {
                    keys.truncate(*cut);
                    keys.extend(tail.iter().cloned());
                    crate::pointer::from_keys(&keys)
                };
                prop_assert_eq!(
                    places.may_hold(&at),
                    super::super::place_may_hold(&at, scope),
                    "{}", at
                );
            }
        }
    }

    #[test]
    fn a_key_is_folded_when_it_is_lower_case_ascii(key in "[ -~]{0,40}|[a-z_@\\[`{\u{7f}]{0,40}|.{0,20}") {
        prop_assert_eq!(
            is_folded(key.as_bytes()),
            key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()),
            "{:?}", key
        );
    }

    #[test]
    fn folds_as_folds_to_does(key in key(), name in prop::sample::select(vec![
        "k", "s", "secret", "client_secret", "jwks", "password", "", "api_key",
    ])) {
        let folded = fold(&key);
        prop_assert_eq!(
            folded.as_deref() == Some(name),
            super::super::folds_to(&key, name),
            "{:?}", key
        );
    }
}

#[test]
fn every_name_of_a_pattern_is_lower_case_ascii() {
    for scope in [Scope::Tenant, Scope::Workspace] {
        for pattern in patterns(scope) {
            for name in pattern.iter().flatten() {
                assert!(
                    name.bytes()
                        .all(|b| !b.is_ascii_uppercase() && b.is_ascii()),
                    "{name}"
                );
            }
            // `**` only as `**/names`, which the matcher takes as names matched anywhere.
            let deep = pattern.iter().position(|s| s.as_slice() == [ANY_DEPTH]);
            assert!(deep.is_none() || (deep == Some(0) && pattern.len() == 2));
        }
    }
}

/// Lists in lists are looked through, with each node of the trie once per level: a
/// credential under 120 of them is found.
#[test]
fn lists_in_lists_are_looked_through() {
    let mut inner = json!({"subject_identifier_algorithm_salt": "s", "clients": [{"c": {"registration_token": "t"}}]});
    for _ in 0..120 {
        inner = json!([inner, 1]);
    }
    let tree = json!({"servers": {"w": inner}});
    let at: Vec<String> = found(&tree, Scope::Tenant)
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    let deep = "/0".repeat(120);
    assert_eq!(
        at,
        [
            format!("/servers/w{deep}/clients/0/c/registration_token"),
            format!("/servers/w{deep}/subject_identifier_algorithm_salt"),
        ]
    );
}

#[test]
fn awkward_spellings_fold_to_the_field_name() {
    assert_eq!(
        fold("Client_\u{17F}ecret").as_deref(),
        Some("client_secret")
    );
    assert_eq!(fold("jw\u{212A}s").as_deref(), Some("jwks"));
    assert_eq!(fold("ｋ"), None);
    assert_eq!(fold("").as_deref(), Some(""));
    let tree = json!({"servers": {"w": {"Clients": {"c": {"CLIENT_\u{17F}ECRET": "x"}}}}});
    assert_eq!(
        found(&tree, Scope::Tenant),
        [(
            "/servers/w/Clients/c/CLIENT_\u{17F}ECRET".to_owned(),
            json!("x")
        )]
    );
}
