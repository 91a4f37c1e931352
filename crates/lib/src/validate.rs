//! Validate a tenant tree: structure, references inside the tenant, no plain-text credentials,
//! none of the platform's own material (signing keys, generated secrets and salts).
//!
//! The checks work on a tree and report [`Problem`]s at JSON pointers, so the same code serves
//! `promote validate` (which maps pointers back to template files and lines) and the emulator
//! (which refuses a broken configuration with 422 naming the pointer). Unknown keys are never
//! problems: the platform adds keys in new releases. [`fn@repository`] runs the checks over every
//! tenant of a repository's environments.

mod repository;

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::credentials::{self, Scope};
use crate::layout::kind;
use crate::patch::pointer;
use promote_platform::material;
use promote_platform::references;
use promote_platform::tree::{self, FieldType, Node};

pub use repository::{repository, Checked};

/// One thing wrong with a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON pointer of the offending value.
    pub pointer: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The shape a known key must have; null is always accepted (the platform exports nulls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Text,
    List,
    Map,
    /// A keyed collection: a map of entries that are maps.
    Collection,
    /// A two-level map: type → id → entry.
    Collection2,
}

/// The known keys of a tenant and their shapes, from the platform's tree model.
static TENANT_SHAPES: LazyLock<Vec<(&str, Shape)>> =
    LazyLock::new(|| shapes(tree::TENANT_FIELDS, &tree::TENANT, &[]));

/// The known keys of a workspace and their shapes, from the platform's tree model.
static WORKSPACE_SHAPES: LazyLock<Vec<(&str, Shape)>> = LazyLock::new(|| {
    shapes(
        tree::WORKSPACE_FIELDS,
        &tree::WORKSPACE,
        tree::INLINE_WORKSPACE_COLLECTIONS,
    )
});

/// The shapes of `fields` and of the keyed collections of `node` and `inline`.
fn shapes(
    fields: &[(&'static str, FieldType)],
    node: &Node,
    inline: &[&'static str],
) -> Vec<(&'static str, Shape)> {
    let typed = fields.iter().map(|(key, ty)| {
        let shape = match ty {
            FieldType::String => Shape::Text,
            FieldType::Array => Shape::List,
            FieldType::Object => Shape::Map,
        };
        (*key, shape)
    });
    let keyed = node.collections.iter().map(|c| {
        let shape = if tree::levels(c) == 2 {
            Shape::Collection2
        } else {
            Shape::Collection
        };
        (c.key, shape)
    });
    let inline = inline.iter().map(|key| (*key, Shape::Collection));
    typed.chain(keyed).chain(inline).collect()
}

/// Returns every problem of a tenant tree that is meant for the repository: its structure and
/// references ([`structure`]), plain-text credentials, and the platform's own material
/// ([`material`]), which the hint says to delete.
pub fn tenant(tree: &Value) -> Vec<Problem> {
    let mut problems = structure(tree);
    // Material is refused whole, below: its credentials need no advice on secret().
    let plain = credentials::plain_text(tree, Scope::Tenant)
        .into_iter()
        .filter(|ptr| material::covering(ptr, Scope::Tenant).is_none());
    for ptr in plain {
        problems.push(problem(
            &ptr,
            "plain-text credential in the repository".into(),
            Some("credentials never go to git: write `{{ secret(\"NAME\") }}` and supply PROMOTE_SECRET_NAME at apply time, or leave the field out so the platform generates it".into()),
        ));
    }
    material::for_each(tree, Scope::Tenant, |ptr, m| {
        let field = ptr.rsplit('/').next().unwrap_or_default();
        problems.push(problem(
            &ptr,
            format!("`{field}` is maintained by the platform, not the repository"),
            Some(format!("{}: delete this entry from the template (promote never plans, sends or compares it)", m.why)),
        ));
    });
    for ptr in credentials::stray_markers(tree, Scope::Tenant) {
        problems.push(problem(
            &ptr,
            "`secret()` outside a credential field".into(),
            Some("a secret's value is sent only in a credential field (client_secret, api_key, credentials, ...; see docs/credentials.md); write the value itself here, or move the secret() to the credential field it belongs to".into()),
        ));
    }
    problems
}

/// Returns the problems of a tree's shape and of its references inside the tenant: what a
/// platform refuses too (the emulator answers them with 422).
pub(crate) fn structure(tree: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(root) = tree.as_object() else {
        problems.push(problem(
            "",
            format!("a tenant must be a map, not {}", kind(tree)),
            None,
        ));
        return problems;
    };
    check_shapes(root, &TENANT_SHAPES, "", &mut problems);
    if let Some(Value::Object(servers)) = root.get("servers") {
        for (wid, ws) in servers {
            let at = pointer::join("/servers", wid);
            if let Value::Object(ws) = ws {
                check_shapes(ws, &WORKSPACE_SHAPES, &at, &mut problems);
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
    }
    problems
}

fn problem(pointer: &str, message: String, hint: Option<String>) -> Problem {
    Problem {
        pointer: pointer.to_owned(),
        message,
        hint,
    }
}

fn check_shapes(
    map: &Map<String, Value>,
    shapes: &[(&str, Shape)],
    at: &str,
    problems: &mut Vec<Problem>,
) {
    for (key, shape) in shapes {
        let Some(value) = map.get(*key) else { continue };
        let here = pointer::join(at, key);
        check_shape(value, *shape, key, &here, problems);
    }
}

fn check_shape(value: &Value, shape: Shape, key: &str, at: &str, problems: &mut Vec<Problem>) {
    let ok = matches!(
        (shape, value),
        (_, Value::Null)
            | (Shape::Text, Value::String(_))
            | (Shape::List, Value::Array(_))
            | (
                Shape::Map | Shape::Collection | Shape::Collection2,
                Value::Object(_)
            )
    );
    if !ok {
        let expected = match shape {
            Shape::Text => "a string",
            Shape::List => "a list",
            Shape::Map => "a map",
            Shape::Collection => "a map of entries keyed by ID",
            Shape::Collection2 => "a map of maps of entries",
        };
        problems.push(problem(
            at,
            format!("`{key}` must be {expected}, not {}", kind(value)),
            None,
        ));
        return;
    }
    let Value::Object(entries) = value else {
        return;
    };
    match shape {
        Shape::Collection => check_entries(entries, key, at, problems),
        Shape::Collection2 => {
            for (group, inner) in entries {
                let here = pointer::join(at, group);
                check_id(group, &here, problems);
                match inner {
                    Value::Object(inner) => check_entries(inner, key, &here, problems),
                    Value::Null => {}
                    other => problems.push(problem(
                        &here,
                        format!(
                            "`{key}/{group}` must be a map of entries keyed by ID, not {}",
                            kind(other)
                        ),
                        None,
                    )),
                }
            }
        }
        _ => {}
    }
}

fn check_entries(entries: &Map<String, Value>, key: &str, at: &str, problems: &mut Vec<Problem>) {
    for (id, entry) in entries {
        let here = pointer::join(at, id);
        check_id(id, &here, problems);
        if !matches!(entry, Value::Object(_) | Value::Null) {
            problems.push(problem(
                &here,
                format!("an entry of `{key}` must be a map, not {}", kind(entry)),
                None,
            ));
        }
    }
}

fn check_id(id: &str, at: &str, problems: &mut Vec<Problem>) {
    let message = if id.is_empty() {
        Some("an ID cannot be empty")
    } else if id.chars().any(char::is_control) {
        Some("an ID cannot contain control characters")
    } else if id.len() > 255 {
        Some("an ID is at most 255 bytes long")
    } else {
        None
    };
    if let Some(m) = message {
        problems.push(problem(at, m.to_owned(), None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "name": "acme",
            "pools": {"customers": {}},
            "themes": {"brand": {}},
            "servers": {"default": {
                "policies": {"allow": {}},
                "scripts": {"map": {"body": "x"}},
                "idps": {"pool": {"identity_pool_id": "customers"}, "google": {"credentials": {"client_secret": "<secret:G>"}}},
                "policy_execution_points": {"client_access": "allow"},
                "script_execution_points": {"post_authn_ctx": {"pool": {"script_id": "map"}}},
                "theme_binding": {"theme_id": "brand"},
                "services": {"orders": {"apis": {"list": {"method": "GET", "path": "/orders", "policy_id": "allow"}, "open": {"method": "GET", "path": "/x"}}}},
                "future_collection": {"x": 1}
            }}
        })
    }

    #[test]
    fn a_valid_tenant_has_no_problems() {
        assert_eq!(tenant(&valid()), vec![]);
    }

    /// Regression (production safety, finding 1): exported signing keys in a template replaced
    /// prod's keys. The platform's material is refused whole, with what to do, and its private
    /// members are not also reported as credentials to move into secret().
    #[test]
    fn the_platforms_material_is_refused_with_a_hint() {
        let mut t = valid();
        t["jwks"] = json!({"keys": [{"kty": "EC", "x": "pub", "d": "PRIVATE"}]});
        t["servers"]["default"]["subject_identifier_algorithm_salt"] = json!("<secret:SALT>");
        t["servers"]["default"]["clients"]["web"] = json!({"registration_token": "tok"});
        let problems = tenant(&t);
        let at: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/jwks",
                "/servers/default/subject_identifier_algorithm_salt",
                "/servers/default/clients/web/registration_token"
            ],
            "{problems:?}"
        );
        assert_eq!(
            problems[0].message,
            "`jwks` is maintained by the platform, not the repository"
        );
        let hint = problems[0].hint.as_deref().unwrap();
        assert!(
            hint.contains("rotates the signing") && hint.contains("delete this entry"),
            "{hint}"
        );
    }

    #[test]
    fn reports_every_problem_at_its_pointer() {
        let mut t = valid();
        let ws = &mut t["servers"]["default"];
        ws["policy_execution_points"]["client_access"] = json!("gone");
        ws["script_execution_points"]["post_authn_ctx"]["pool"]["script_id"] = json!("gone");
        ws["idps"]["pool"]["identity_pool_id"] = json!("gone");
        ws["theme_binding"]["theme_id"] = json!("gone");
        ws["services"]["orders"]["apis"]["list"]["policy_id"] = json!("gone");
        ws["clients"] = json!({"c": {"client_secret": "hunter2"}, "": {}, "bad": 3});
        ws["grant_types"] = json!("implicit");
        t["pools"] = json!([]);
        let problems: Vec<(String, String)> = tenant(&t)
            .into_iter()
            .map(|p| (p.pointer, p.message))
            .collect();
        let expected = [
            (
                "/pools",
                "`pools` must be a map of entries keyed by ID, not a list",
            ),
            (
                "/servers/default/grant_types",
                "`grant_types` must be a list, not a string",
            ),
            ("/servers/default/clients/", "an ID cannot be empty"),
            (
                "/servers/default/clients/bad",
                "an entry of `clients` must be a map, not a number",
            ),
            (
                "/servers/default/policy_execution_points/client_access",
                "unknown policy `gone`",
            ),
            (
                "/servers/default/script_execution_points/post_authn_ctx/pool/script_id",
                "unknown script `gone`",
            ),
            (
                "/servers/default/idps/pool/identity_pool_id",
                "unknown pool `gone`",
            ),
            (
                "/servers/default/theme_binding/theme_id",
                "unknown theme `gone`",
            ),
            (
                "/servers/default/services/orders/apis/list/policy_id",
                "unknown policy `gone`",
            ),
            (
                "/servers/default/clients/c/client_secret",
                "plain-text credential in the repository",
            ),
        ];
        for (ptr, msg) in expected {
            assert!(
                problems.contains(&(ptr.to_owned(), msg.to_owned())),
                "missing {ptr} {msg}: {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn workspace_pools_also_satisfy_identity_pool_id() {
        let mut t = valid();
        t["servers"]["default"]["pools"] = json!({"local": {}});
        t["servers"]["default"]["idps"]["pool"]["identity_pool_id"] = json!("local");
        assert_eq!(tenant(&t), vec![]);
    }

    #[test]
    fn non_map_root_is_one_problem() {
        assert_eq!(tenant(&json!([1])).len(), 1);
    }
}
