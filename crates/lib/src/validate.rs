//! Validate a tenant tree: every field typed as the platform types it, structure, references
//! inside the tenant, no plain-text credentials, none of the platform's own material (signing
//! keys, generated secrets and salts).
//!
//! The checks work on a tree and report [`Problem`]s at JSON pointers, so the same code serves
//! `promote validate` (which maps pointers back to template files and lines) and every command
//! that renders. What the platform would refuse is an error; what it would take but not as
//! written (a field it does not know and drops, a value outside the values its API description
//! lists) is a warning ([`Findings`]): the platform adds keys and values in new releases.
//! [`fn@repository`] runs the checks over every tenant of a repository's environments.

mod holes;
mod repository;
mod typed;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::credentials::{self, Scope};
use crate::layout::kind;
use crate::patch::pointer;
use promote_platform::material;
use promote_platform::references;
use promote_platform::tree::{self, Node};

pub(crate) use holes::Holes;
pub use repository::{repository, Checked, Shared};

/// One thing wrong with a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON pointer of the offending value.
    pub pointer: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What validating a tenant tree found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// What the platform would refuse, or the repository must not hold.
    pub errors: Vec<Problem>,
    /// What the platform would take but not as written: fields it does not know (it drops
    /// them), values outside the values its API description lists.
    pub warnings: Vec<Problem>,
    /// Fields written in another case than the platform's, which it reads as its own (each
    /// also a warning): [`promote_platform::model::rename_folded`] makes the tree what the
    /// platform reads, so that plans compare it with what the platform holds.
    pub folded: Vec<promote_platform::model::Folded>,
}

/// Returns every finding of a tenant tree that is meant for the repository: the types of its
/// fields, its structure and references ([`structure`]), plain-text credentials, and the
/// platform's own material ([`material`]), which the hint says to delete.
pub fn tenant(tree: &Value) -> Findings {
    rendered(tree, true)
}

/// [`tenant`], for a tree no string or key of which holds a secret marker unless
/// `may_hold_markers` (what rendering knows): one that holds none is not searched for them.
pub(crate) fn rendered(tree: &Value, may_hold_markers: bool) -> Findings {
    let mut found = Findings::default();
    if !tree.is_object() {
        found.errors.push(problem(
            "",
            format!("a tenant must be a map, not {}", kind(tree)),
            None,
        ));
        return found;
    }
    found.folded = typed::check(tree, &mut found.errors, &mut found.warnings);
    let problems = &mut found.errors;
    problems.extend(structure(tree));
    // Material is refused whole, below: its credentials need no advice on secret().
    // One walk finds the credential fields for both checks of them.
    let fields = if may_hold_markers {
        credentials::Fields::of(tree, Scope::Tenant)
    } else {
        credentials::Fields::without_markers(tree, Scope::Tenant)
    };
    let plain = fields
        .plain_text()
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
    for ptr in fields.stray_markers() {
        problems.push(problem(
            &ptr,
            "`secret()` outside a credential field".into(),
            Some("a secret's value is sent only in a credential field (client_secret, api_key, credentials, ...; see docs/credentials.md); write the value itself here, or move the secret() to the credential field it belongs to".into()),
        ));
    }
    found
}

/// Returns the problems of a tree's keys and of its references inside the tenant: the IDs of
/// its keyed collections ([`tree::TENANT`]) and what the references name. The types of its
/// values are the model's ([`typed`]).
pub(crate) fn structure(tree: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(root) = tree.as_object() else {
        return problems;
    };
    check_ids(root, &tree::TENANT, "", &mut problems);
    for (_, at, ws) in workspaces(root) {
        check_ids(ws, &tree::WORKSPACE, &at, &mut problems);
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
    problems
}

/// The workspaces of a tenant tree that are maps, each with its key and its pointer.
fn workspaces(
    root: &Map<String, Value>,
) -> impl Iterator<Item = (&str, String, &Map<String, Value>)> {
    let servers = match root.get("servers") {
        Some(Value::Object(servers)) => Some(servers),
        _ => None,
    };
    servers.into_iter().flatten().filter_map(|(wid, ws)| {
        ws.as_object()
            .map(|ws| (wid.as_str(), pointer::join("/servers", wid), ws))
    })
}

/// Adds the problems of the IDs of a tenant tree and of its workspaces to `problems` (those
/// [`structure`] finds, without its references').
fn check_all_ids(root: &Map<String, Value>, problems: &mut Vec<Problem>) {
    check_ids(root, &tree::TENANT, "", problems);
    for (_, at, ws) in workspaces(root) {
        check_ids(ws, &tree::WORKSPACE, &at, problems);
    }
}

fn problem(pointer: &str, message: String, hint: Option<String>) -> Problem {
    Problem {
        pointer: pointer.to_owned(),
        message,
        hint,
    }
}

/// Checks the IDs of the keyed collections of `node` in `map` (a workspace's own, below, by
/// [`structure`]).
fn check_ids(map: &Map<String, Value>, node: &Node, at: &str, problems: &mut Vec<Problem>) {
    for collection in node.collections {
        let Some(Value::Object(entries)) = map.get(collection.key) else {
            continue;
        };
        check_entry_ids(
            entries,
            tree::levels(collection),
            &mut pointer::join(at, collection.key),
            problems,
        );
    }
}

/// Checks the keys of `entries` (at pointer `at`), and of the maps below them down to `levels`
/// levels. `at` is each entry's pointer in turn while it is checked, and is given back as it
/// came: one string for every entry of a tenant.
fn check_entry_ids(
    entries: &Map<String, Value>,
    levels: usize,
    at: &mut String,
    problems: &mut Vec<Problem>,
) {
    let len = at.len();
    for (id, entry) in entries {
        pointer::push(at, id);
        check_id(id, at, problems);
        if let (true, Value::Object(inner)) = (levels > 1, entry) {
            check_entry_ids(inner, levels - 1, at, problems);
        }
        at.truncate(len);
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
                "idps": {"pool": {"identity_pool_id": "customers"}, "google": {"credentials": {"google": {"client_secret": "<secret:G>"}}}},
                "policy_execution_points": {"client_access": "allow"},
                "script_execution_points": {"post_authn_ctx": {"pool": {"script_id": "map"}}},
                "theme_binding": {"theme_id": "brand"},
                "services": {"orders": {"apis": {"list": {"method": "GET", "path": "/orders", "policy_id": "allow"}, "open": {"method": "GET", "path": "/x"}}}},
            }}
        })
    }

    /// The errors of `tree`, as (pointer, message).
    fn errors(tree: &Value) -> Vec<(String, String)> {
        tenant(tree)
            .errors
            .into_iter()
            .map(|p| (p.pointer, p.message))
            .collect()
    }

    #[test]
    fn a_valid_tenant_has_no_problems() {
        assert_eq!(tenant(&valid()), Findings::default());
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
        let problems = tenant(&t).errors;
        let at: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        // A registration token is an object to the platform: the string is also a wrong type.
        assert_eq!(
            at,
            [
                "/servers/default/clients/web/registration_token",
                "/jwks",
                "/servers/default/subject_identifier_algorithm_salt",
                "/servers/default/clients/web/registration_token"
            ],
            "{problems:?}"
        );
        assert_eq!(
            problems[1].message,
            "`jwks` is maintained by the platform, not the repository"
        );
        let hint = problems[1].hint.as_deref().unwrap();
        assert!(
            hint.contains("rotates the signing") && hint.contains("delete this entry"),
            "{hint}"
        );
    }

    /// The messages of the layout's checks of shapes changed with issue 18: the types are the
    /// platform's model's, and every message says that the platform refuses the tenant.
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
        let problems = errors(&t);
        let refused = ": the platform refuses the whole tenant (400)";
        let expected = [
            (
                "/pools",
                format!("`pools` must be a map, not a list{refused}"),
            ),
            (
                "/servers/default/clients/bad",
                format!("`clients/bad` must be a map, not a number{refused}"),
            ),
            (
                "/servers/default/grant_types",
                format!("`grant_types` must be a list, not a string{refused}"),
            ),
            ("/servers/default/clients/", "an ID cannot be empty".into()),
            (
                "/servers/default/policy_execution_points/client_access",
                "unknown policy `gone`".into(),
            ),
            (
                "/servers/default/script_execution_points/post_authn_ctx/pool/script_id",
                "unknown script `gone`".into(),
            ),
            (
                "/servers/default/idps/pool/identity_pool_id",
                "unknown pool `gone`".into(),
            ),
            (
                "/servers/default/theme_binding/theme_id",
                "unknown theme `gone`".into(),
            ),
            (
                "/servers/default/services/orders/apis/list/policy_id",
                "unknown policy `gone`".into(),
            ),
            (
                "/servers/default/clients/c/client_secret",
                "plain-text credential in the repository".into(),
            ),
        ];
        for (ptr, msg) in &expected {
            assert!(
                problems.contains(&((*ptr).to_owned(), msg.clone())),
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
        assert_eq!(tenant(&t), Findings::default());
    }

    #[test]
    fn non_map_root_is_one_problem() {
        let found = tenant(&json!([1]));
        assert_eq!(found.errors.len(), 1);
        assert_eq!(
            found.errors[0].message,
            "a tenant must be a map, not a list"
        );
    }

    /// A client of `valid()` with `fields`, and the errors of the tree.
    fn client_errors(fields: Value) -> Vec<(String, String)> {
        let mut t = valid();
        t["servers"]["default"]["clients"]["web"] = fields;
        errors(&t)
    }

    fn wrong(field: &str, expected: &str, found: &str) -> (String, String) {
        (
            format!("/servers/default/clients/web/{field}"),
            format!("`{field}` must be {expected}, not {found}: the platform refuses the whole tenant (400)"),
        )
    }

    /// Regression (issue 18, the independent try): a plain-text secret in a misspelled
    /// credential field was a warning, and plans showed its value.
    #[test]
    fn plain_text_in_a_misspelled_credential_field_is_refused() {
        let mut t = valid();
        t["servers"]["default"]["clients"]["web"] =
            json!({"client_secrt": "sk_live_x", "client_nam": "x"});
        t["servers"]["default"]["webhooks"] = json!({"h": {"api_kye": "k", "apiKye": "k"}});
        t["servers"]["default"]["idps"]["google"]["settings"] =
            json!({"google": {"client_secrt": "s"}});
        t["servers"]["default"]["clients"]["other"] = json!({"passwrod": "p"});
        let found = tenant(&t);
        let at: Vec<&str> = found.errors.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/servers/default/clients/other/passwrod",
                "/servers/default/clients/web/client_secrt",
                "/servers/default/idps/google/settings/google/client_secrt",
                "/servers/default/webhooks/h/apiKye",
                "/servers/default/webhooks/h/api_kye"
            ],
            "{found:?}"
        );
        assert!(found.errors[0]
            .message
            .contains("where `password`, a credential, is meant"));
        assert!(found.errors[1]
            .message
            .contains("where `client_secret`, a credential, is meant"));
        // A near name that is no credential stays a warning.
        assert_eq!(found.warnings.len(), 1);
    }

    /// Regression (issue 18, the independent try): type errors said what was wrong, never
    /// what to write.
    #[test]
    fn a_wrong_type_says_what_to_write_where_a_likely_mistake_explains_it() {
        let hints = |fields: Value| -> Vec<String> {
            let mut t = valid();
            t["servers"]["default"]["clients"]["web"] = fields;
            tenant(&t)
                .errors
                .into_iter()
                .map(|p| p.hint.unwrap_or_default())
                .collect()
        };
        assert!(
            hints(json!({"backchannel_logout_session_required": "yes"}))[0].contains("YAML 1.2")
        );
        assert!(hints(json!({"client_id_issued_at": "42"}))
            .iter()
            .any(|h| h.contains("without quotes")));
        assert!(hints(json!({"client_uri": 42}))[0].contains("quote the value"));
        assert!(hints(json!({"redirect_uris": "https://x/cb"}))[0].contains("write a list"));
        assert_eq!(hints(json!({"scopes": [{"a": 1}]})), [String::new()]);
    }

    #[test]
    fn a_wrong_type_of_every_kind_is_an_error_at_its_pointer() {
        assert_eq!(
            client_errors(json!({"client_uri": 42})),
            [wrong("client_uri", "a string", "a number")]
        );
        assert_eq!(
            client_errors(json!({"backchannel_logout_session_required": "yes"})),
            [wrong(
                "backchannel_logout_session_required",
                "a boolean",
                "a string"
            )]
        );
        let mut t = valid();
        t["servers"]["default"]["device_authorization"] = json!({"user_code_length": 1.5});
        assert_eq!(
            errors(&t),
            [(
                "/servers/default/device_authorization/user_code_length".to_owned(),
                "`user_code_length` must be an integer, not a number with a fraction or an exponent: the platform refuses the whole tenant (400)".to_owned()
            )]
        );
        assert_eq!(
            client_errors(json!({"scopes": {"openid": true}})),
            [wrong("scopes", "a list", "a map")]
        );
        assert_eq!(
            client_errors(json!({"metadata": ["a"]})),
            [wrong("metadata", "a map", "a list")]
        );
        assert_eq!(
            client_errors(json!({"scopes": ["openid", 7]})),
            [(
                "/servers/default/clients/web/scopes/1".to_owned(),
                "item 1 of `scopes` must be a string, not a number: the platform refuses the whole tenant (400)".to_owned()
            )]
        );
        let mut t = valid();
        t["pools"]["customers"]["password_policy"] = json!({"min_length": -8});
        assert_eq!(
            errors(&t),
            [(
                "/pools/customers/password_policy/min_length".to_owned(),
                "`min_length` must be a non-negative integer, not a negative number: the platform refuses the whole tenant (400)".to_owned()
            )]
        );
    }

    #[test]
    fn null_is_accepted_anywhere() {
        let found = client_errors(
            json!({"client_uri": null, "scopes": null, "metadata": null, "trusted": null}),
        );
        assert_eq!(found, []);
    }

    #[test]
    fn an_unknown_field_is_a_warning_with_the_nearest_name() {
        let mut t = valid();
        t["servers"]["default"]["clients"]["web"] =
            json!({"token_endpoint_auth_methd": "client_secret_basic", "zzzzzz": 1});
        let found = tenant(&t);
        assert_eq!(found.errors, []);
        assert_eq!(
            found.warnings,
            [
                Problem {
                    pointer: "/servers/default/clients/web/token_endpoint_auth_methd".into(),
                    message: "`token_endpoint_auth_methd` is not a field of a client (TreeClient): the platform drops it".into(),
                    hint: Some("did you mean `token_endpoint_auth_method`?".into()),
                },
                Problem {
                    pointer: "/servers/default/clients/web/zzzzzz".into(),
                    message: "`zzzzzz` is not a field of a client (TreeClient): the platform drops it".into(),
                    hint: Some("the platform's fields of TreeClient are completed by an editor with promote's schema (docs/editor.md)".into()),
                },
            ]
        );
        // An unknown field of the workspace names it as one; an unknown key's value is not
        // typed (the platform never reads it).
        let mut t = valid();
        t["servers"]["default"]["future_collection"] = json!({"x": 1});
        let found = tenant(&t);
        assert_eq!(found.errors, []);
        assert_eq!(
            found.warnings[0].message,
            "`future_collection` is not a field of a workspace (TreeServer): the platform drops it"
        );
    }

    #[test]
    fn a_field_named_in_another_case_is_the_known_field_and_is_typed() {
        let found = client_errors(json!({"Client_URI": 42}));
        assert_eq!(found, [wrong("Client_URI", "a string", "a number")]);
        let mut t = valid();
        t["servers"]["default"]["clients"]["web"] = json!({"Client_URI": "https://x"});
        let found = tenant(&t);
        assert_eq!(found.errors, []);
        assert_eq!(
            found.warnings[0].message,
            "`Client_URI` is `client_uri` in another case: the platform reads it as `client_uri`"
        );
        t["servers"]["default"]["clients"]["web"]["client_uri"] = json!("https://y");
        let found = tenant(&t);
        assert!(
            found.warnings[0].message.ends_with(
                "and this map also has `client_uri`: which of the two the platform keeps depends on their order"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_value_outside_an_enum_is_a_warning_listing_the_known_values() {
        let mut t = valid();
        t["servers"]["default"]["clients"]["web"] =
            json!({"token_endpoint_auth_method": "client_secret_basik"});
        let found = tenant(&t);
        assert_eq!(found.errors, []);
        assert_eq!(found.warnings.len(), 1);
        let w = &found.warnings[0];
        assert_eq!(
            w.message,
            "`token_endpoint_auth_method` is `client_secret_basik`, a value the platform's API description does not list"
        );
        assert!(
            w.hint.as_deref().unwrap().starts_with(
                "known values: client_secret_basic, client_secret_post, client_secret_jwt"
            ),
            "{w:?}"
        );
    }

    /// A secret's value is a string: a marker is a string to the model, and where the model
    /// wants another type the message says that it is a secret().
    #[test]
    fn a_secret_marker_is_typed_as_the_string_it_becomes() {
        let mut t = valid();
        t["servers"]["default"]["webhooks"]["crm"] = json!({"api_key": "<secret:KEY>"});
        assert_eq!(tenant(&t), Findings::default());
        let mut t = valid();
        t["servers"]["default"]["idps"]["google"]["credentials"] = json!("<secret:G>");
        assert_eq!(
            errors(&t),
            [(
                "/servers/default/idps/google/credentials".to_owned(),
                "`credentials` must be a map, not a secret() (whose value is a string): the platform refuses the whole tenant (400)".to_owned()
            )]
        );
    }
}
