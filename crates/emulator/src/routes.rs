//! Every route the emulator serves, as one table: the router is built from it and the OpenAPI
//! document is checked against it.

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Discovery,
    Token,
    OpenApi,
    Export,
    Import,
    Patch6902,
    Patch7396,
}

/// Whose configuration a promotion route works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `/{tid}/promote/...`
    Tenant,
    /// `/{tid}/workspaces/{wid}/promote/...`
    Workspace,
    /// `/system/promote/...?tid=...`
    System,
}

/// One route: method, axum path pattern, what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub op: Op,
    pub scope: Scope,
}

const fn route(method: &'static str, path: &'static str, op: Op, scope: Scope) -> Route {
    Route {
        method,
        path,
        op,
        scope,
    }
}

/// The OpenAPI document of exactly these routes.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// Every route.
pub(crate) const ROUTES: &[Route] = &[
    route(
        "GET",
        "/{tid}/system/.well-known/openid-configuration",
        Op::Discovery,
        Scope::Tenant,
    ),
    route(
        "POST",
        "/{tid}/system/oauth2/token",
        Op::Token,
        Scope::Tenant,
    ),
    route("GET", "/api/hub/openapi.json", Op::OpenApi, Scope::System),
    route(
        "GET",
        "/api/hub/{tid}/promote/config",
        Op::Export,
        Scope::Tenant,
    ),
    route(
        "POST",
        "/api/hub/{tid}/promote/config",
        Op::Import,
        Scope::Tenant,
    ),
    route(
        "PATCH",
        "/api/hub/{tid}/promote/config-rfc6902",
        Op::Patch6902,
        Scope::Tenant,
    ),
    route(
        "PATCH",
        "/api/hub/{tid}/promote/config-rfc7396",
        Op::Patch7396,
        Scope::Tenant,
    ),
    route(
        "GET",
        "/api/hub/{tid}/workspaces/{wid}/promote/config",
        Op::Export,
        Scope::Workspace,
    ),
    route(
        "POST",
        "/api/hub/{tid}/workspaces/{wid}/promote/config",
        Op::Import,
        Scope::Workspace,
    ),
    route(
        "PATCH",
        "/api/hub/{tid}/workspaces/{wid}/promote/config-rfc6902",
        Op::Patch6902,
        Scope::Workspace,
    ),
    route(
        "PATCH",
        "/api/hub/{tid}/workspaces/{wid}/promote/config-rfc7396",
        Op::Patch7396,
        Scope::Workspace,
    ),
    route(
        "GET",
        "/api/hub/system/promote/config",
        Op::Export,
        Scope::System,
    ),
    route(
        "POST",
        "/api/hub/system/promote/config",
        Op::Import,
        Scope::System,
    ),
    route(
        "PATCH",
        "/api/hub/system/promote/config-rfc6902",
        Op::Patch6902,
        Scope::System,
    ),
    route(
        "PATCH",
        "/api/hub/system/promote/config-rfc7396",
        Op::Patch7396,
        Scope::System,
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The OpenAPI document lists exactly the routes the router serves.
    #[test]
    fn openapi_document_matches_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["get", "post", "patch", "put", "delete"] {
                if item.get(method).is_some() {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(documented, served);
    }
}
