//! What the emulated platform refuses to store (422): a tree whose keyed collections are not
//! maps of objects, whose IDs the platform cannot hold, or whose references name an entry that
//! does not exist.
//!
//! This is the platform's side of the contract, written from what `promote-platform` says of
//! the platform (its layout and references), independently of promote's `validate`: the
//! emulator exists to catch what promote gets wrong, so it must not share promote's checks.
//! The JSON types of fields are the decoder's ([`crate::decode`], from the platform's model),
//! which runs first and answers 400; unknown keys are never refused (the platform drops them).

use serde::Serialize;
use serde_json::{Map, Value};

use promote_platform::tree::{self, Node};
use promote_platform::{pointer, references};

/// One reason a tree is refused, at a JSON pointer of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Problem {
    pub pointer: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Returns every reason the platform would refuse to store `tree`, a whole tenant.
pub(crate) fn tenant(tree: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(root) = tree.as_object() else {
        problems.push(problem(
            "",
            format!("a tenant must be a map, not {}", tree::kind(tree)),
        ));
        return problems;
    };
    collections(root, &tree::TENANT, "", &mut problems);
    if let Some(Value::Object(servers)) = root.get("servers") {
        for (wid, ws) in servers {
            let at = pointer::join("/servers", wid);
            let Value::Object(ws) = ws else { continue };
            collections(ws, &tree::WORKSPACE, &at, &mut problems);
            problems.extend(
                references::broken(root, ws, &at)
                    .into_iter()
                    .map(|b| Problem {
                        pointer: b.pointer,
                        message: b.message,
                        hint: b.hint,
                    }),
            );
        }
    }
    problems
}

fn problem(at: &str, message: String) -> Problem {
    Problem {
        pointer: at.to_owned(),
        message,
        hint: None,
    }
}

/// Checks the keyed collections of `node` (and the `inline` ones) in `map`: maps of entries
/// keyed by storable IDs, each entry a map (two levels deep for two-level collections).
fn collections(map: &Map<String, Value>, node: &Node, at: &str, out: &mut Vec<Problem>) {
    for (key, levels) in node.collections.iter().map(|c| (c.key, tree::levels(c))) {
        let Some(value) = map.get(key) else { continue };
        let here = pointer::join(at, key);
        match value {
            Value::Null => {}
            Value::Object(entries) if levels == 2 => {
                for (group, inner) in entries {
                    let group_at = pointer::join(&here, group);
                    id(group, &group_at, out);
                    match inner {
                        Value::Object(inner) => keyed(inner, key, &group_at, out),
                        Value::Null => {}
                        other => out.push(problem(
                            &group_at,
                            format!(
                                "`{key}/{group}` must be a map of entries keyed by ID, not {}",
                                tree::kind(other)
                            ),
                        )),
                    }
                }
            }
            Value::Object(entries) => keyed(entries, key, &here, out),
            other => out.push(problem(
                &here,
                format!(
                    "`{key}` must be a map of {}, not {}",
                    if levels == 2 {
                        "maps of entries"
                    } else {
                        "entries keyed by ID"
                    },
                    tree::kind(other)
                ),
            )),
        }
    }
}

fn keyed(entries: &Map<String, Value>, key: &str, at: &str, out: &mut Vec<Problem>) {
    for (entry_id, entry) in entries {
        let here = pointer::join(at, entry_id);
        id(entry_id, &here, out);
        if !matches!(entry, Value::Object(_) | Value::Null) {
            out.push(problem(
                &here,
                format!(
                    "an entry of `{key}` must be a map, not {}",
                    tree::kind(entry)
                ),
            ));
        }
    }
}

/// The platform stores IDs of 1 to 255 bytes without control characters.
fn id(id: &str, at: &str, out: &mut Vec<Problem>) {
    let why = if id.is_empty() {
        "an ID cannot be empty"
    } else if id.chars().any(char::is_control) {
        "an ID cannot contain control characters"
    } else if id.len() > 255 {
        "an ID is at most 255 bytes long"
    } else {
        return;
    };
    out.push(problem(at, why.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_consistent_tenant_is_stored() {
        let t = json!({
            "name": "acme",
            "pools": {"customers": {}},
            "themes": {"brand": {}},
            "servers": {"w": {
                "policies": {"allow": {}},
                "scripts": {"map": {"body": "x"}},
                "idps": {"p": {"identity_pool_id": "customers"}},
                "policy_execution_points": {"client_access": "allow"},
                "script_execution_points": {"post_authn_ctx": {"p": {"script_id": "map"}}},
                "theme_binding": {"theme_id": "brand"},
                "services": {"orders": {"apis": {"list": {"policy_id": "allow"}}}},
                "something_new": {"x": 1}
            }}
        });
        assert_eq!(tenant(&t), vec![]);
    }

    #[test]
    fn every_dangling_reference_and_wrong_shape_is_named() {
        let t = json!({
            "pools": ["a"],
            "servers": {"w": {
                "clients": {"c": 1, "": {}},
                "idps": {"p": {"identity_pool_id": "gone"}},
                "theme_binding": {"theme_id": 7},
                "services": {"s": {"apis": {"a": {"policy_id": "nope"}}}},
                "claims": {"id_token": []}
            }}
        });
        let got: Vec<(String, String)> = tenant(&t)
            .into_iter()
            .map(|p| (p.pointer, p.message))
            .collect();
        let want = [
            (
                "/pools",
                "`pools` must be a map of entries keyed by ID, not a list",
            ),
            ("/servers/w/clients/", "an ID cannot be empty"),
            (
                "/servers/w/clients/c",
                "an entry of `clients` must be a map, not a number",
            ),
            (
                "/servers/w/claims/id_token",
                "`claims/id_token` must be a map of entries keyed by ID, not a list",
            ),
            ("/servers/w/idps/p/identity_pool_id", "unknown pool `gone`"),
            (
                "/servers/w/services/s/apis/a/policy_id",
                "unknown policy `nope`",
            ),
            (
                "/servers/w/theme_binding/theme_id",
                "a reference to a theme must be a string, not a number",
            ),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_tenant_that_is_not_a_map_is_refused_at_the_root() {
        let p = tenant(&json!([1]));
        assert_eq!(p[0].pointer, "");
        assert_eq!(p[0].message, "a tenant must be a map, not a list");
    }
}
