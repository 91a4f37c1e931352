//! Synthetic fleet generator: writes a configuration repository with one `saas`-like template
//! instantiated for N tenants in two environments, for benchmarks and load tests.
//!
//! ```text
//! cargo run --release --example gen-repo -- DIR --tenants N [--seed S]
//! ```
//!
//! `DIR` is created (it must not already hold `templates/` or `environments/`) and receives:
//!
//! - `templates/fleet/`: about 130 Tera templates (`tenant.yaml`; the tenant collections
//!   `pools/`, `schemas/`, `themes/`, `mfa_methods/` (sms and email), `translations/`; three
//!   workspaces under `workspaces/<wid>/`, each with `workspace.yaml` and `clients/`,
//!   `policies/` (some rego, with `.rego` sidecars), `scripts/` (`.js` sidecars), `idps/`,
//!   `services/`, `claims/<type>/<id>.yaml` and `script_execution_points/<type>/<target>.yaml`).
//!   They use `tenant.id`, `tenant.key`, `env.name`, environment and tenant `vars.*`, a few
//!   `{% if vars.plan == "gold" %}` blocks and one shared partial. Every cross reference
//!   resolves (policy and script execution points, the workspace's default client and
//!   post-authentication script, idp `identity_pool_id`, service api `policy_id`,
//!   `theme_binding`).
//! - `templates/_shared/clients/defaults.yaml`: the partial every client includes.
//! - `environments/staging.yaml` and `environments/prod.yaml`: `url` targets and the N tenants
//!   `t00001..` (`template: fleet`, ids `t00001-staging` / `t00001-prod`, small per-tenant vars).
//!
//! Every field has the platform's name, type and enum values (its API description, as
//! `crates/platform/src/model.json` has it): `promote validate --strict` reports neither an error
//! nor a warning on the generated repository. A rendered tenant is about 63 KB of JSON. No
//! credential appears, not even as a `secret(...)` call: every credential field is absent, as in
//! an export without credentials. The output depends only on N and the seed (default 1).

use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

/// The template's name: `templates/fleet`, `template: fleet`.
const TEMPLATE: &str = "fleet";

/// The shared partial every client includes (a path relative to `templates/`).
const CLIENT_PARTIAL: &str = "_shared/clients/defaults.yaml";

const USAGE: &str = "usage: gen-repo DIR --tenants N [--seed S]";

fn main() {
    if let Err(e) = run() {
        eprintln!("gen-repo: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let opts = Options::parse(std::env::args().skip(1))?;
    for sub in ["templates", "environments"] {
        if opts.dir.join(sub).exists() {
            return Err(format!("{} already exists", opts.dir.join(sub).display()).into());
        }
    }
    let mut repo = Repo {
        root: opts.dir.clone(),
        written: 0,
        rng: Rng::new(opts.seed),
    };
    write_template(&mut repo)?;
    // Everything written so far is the template, plus the one shared partial.
    let template_files = repo.written - 1;
    write_environments(&mut repo, opts.tenants)?;
    println!(
        "{}: template `{TEMPLATE}` with {template_files} files, 1 shared partial, \
         environments staging and prod with {} tenants each (seed {})",
        opts.dir.display(),
        opts.tenants,
        opts.seed
    );
    Ok(())
}

struct Options {
    dir: PathBuf,
    tenants: usize,
    seed: u64,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, Box<dyn Error>> {
        let mut dir = None;
        let mut tenants = None;
        let mut seed = 1;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                "--tenants" | "--seed" => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
                    let n: u64 = value
                        .parse()
                        .map_err(|e| format!("{arg} {value}: {e}\n{USAGE}"))?;
                    if arg == "--seed" {
                        seed = n;
                    } else {
                        tenants = Some(usize::try_from(n)?);
                    }
                }
                _ if arg.starts_with('-') => {
                    return Err(format!("unknown flag {arg}\n{USAGE}").into())
                }
                _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
                _ => return Err(format!("unexpected argument {arg}\n{USAGE}").into()),
            }
        }
        let dir = dir.ok_or_else(|| format!("missing DIR\n{USAGE}"))?;
        let tenants = tenants.ok_or_else(|| format!("missing --tenants N\n{USAGE}"))?;
        if tenants == 0 {
            return Err("--tenants must be at least 1".into());
        }
        Ok(Self { dir, tenants, seed })
    }
}

/// xorshift64* seeded through splitmix64: deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        // `below` returns less than `items.len()`, which fits in usize.
        items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Repo {
    root: PathBuf,
    written: usize,
    rng: Rng,
}

impl Repo {
    /// Writes `rel` (relative to the repository root), creating its parent directories.
    fn write(&mut self, rel: &str, text: &str) -> Result<(), Box<dyn Error>> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        self.written += 1;
        Ok(())
    }

    /// Writes a file of the fleet template.
    fn tpl(&mut self, rel: &str, text: &str) -> Result<(), Box<dyn Error>> {
        self.write(&format!("templates/{TEMPLATE}/{rel}"), text)
    }
}

/// Replaces every `@name@` of `text` by its value. Generator-time substitution; `{{ ... }}` is
/// left for Tera.
fn fill(text: &str, subs: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in subs {
        out = out.replace(&format!("@{name}@"), value);
    }
    out
}

/// Writes a YAML flow sequence of double-quoted strings: `["a", "b"]`.
fn flow(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Tenant level

fn write_template(repo: &mut Repo) -> Result<(), Box<dyn Error>> {
    let cost_center = format!("CC-{:04}", repo.rng.below(10_000));
    repo.tpl("tenant.yaml", &fill(TENANT, &[("cc", &cost_center)]))?;

    // Pools: one per workspace (referenced by that workspace's pool idp) plus a shared one.
    for (id, name, mechanisms) in [
        ("customers", "Customers", "[password, otp, webauthn]"),
        ("partners", "Partner staff", "[password, otp]"),
        ("staff", "Employees", "[password, webauthn, totp]"),
    ] {
        repo.tpl(
            &format!("pools/{id}.yaml"),
            &fill(POOL, &[("name", name), ("mechanisms", mechanisms)]),
        )?;
    }
    repo.tpl("schemas/fleet_payload.yaml", SCHEMA_PAYLOAD)?;
    repo.tpl("schemas/fleet_metadata.yaml", SCHEMA_METADATA)?;
    for (id, name) in [("default", "Default"), ("brand", "Brand")] {
        repo.tpl(
            &format!("themes/{id}.yaml"),
            &fill(THEME, &[("name", name), ("id", id)]),
        )?;
    }
    for (id, settings) in [
        ("sms", "provider: embedded\n    custom_message_template: \"Your {{ vars.display_name }} code is {code}\"\n    custom_source: \"{{ tenant.key }}\"\n    otp:\n      length: 6\n      expiration: 5m0s"),
        ("email", "provider: embedded\n    custom_from: \"{{ vars.display_name }} <no-reply@{{ vars.domain }}>\"\n    custom_message_subject: \"{{ vars.display_name }} verification code\"\n    otp:\n      length: 8\n      expiration: 10m0s"),
    ] {
        let enabled = if id == "sms" { "{% if vars.plan == \"gold\" %}true{% else %}false{% endif %}" } else { "true" };
        repo.tpl(
            &format!("mfa_methods/{id}.yaml"),
            &format!("enabled: {enabled}\nmechanism: {id}\nsettings:\n  {id}:\n    {settings}\n"),
        )?;
    }
    for (locale, enabled, text) in [
        ("en-US", "true", TRANSLATION_EN),
        (
            "de-DE",
            "{% if vars.region == \"eu\" %}true{% else %}false{% endif %}",
            TRANSLATION_DE,
        ),
    ] {
        repo.tpl(
            &format!("translations/{locale}.yaml"),
            &format!("enabled: {enabled}\ncontent:\n{text}"),
        )?;
    }
    repo.write(&format!("templates/{CLIENT_PARTIAL}"), CLIENT_DEFAULTS)?;

    for ws in &WORKSPACES {
        write_workspace(repo, ws)?;
    }
    Ok(())
}

const TENANT: &str = r##"name: "{{ vars.display_name }}"
url: "https://{{ tenant.id }}.{{ vars.domain }}"
metadata:
  customer_key: "{{ tenant.key }}"
  environment: "{{ env.name }}"
  plan: "{{ vars.plan }}"
  region: "{{ vars.region }}"
  seats: {{ vars.seats }}
  cost_center: "@cc@"
  managed_by: promote
  fleet_template: fleet
  audit_log:
    retention_days: {% if vars.plan == "gold" %}365{% else %}90{% endif %}
    level: "{{ vars.log_level }}"
settings:
  default_workspace_id: customers
  translations:
    enabled: true
    default_locale: en-US
    selector_enabled: {% if vars.region == "eu" %}true{% else %}false{% endif %}
  security:
    AllowedHosts:
      - "app.{{ tenant.key }}.{{ vars.domain }}"
      - "admin.{{ tenant.key }}.{{ vars.domain }}"
      - "partners.{{ tenant.key }}.{{ vars.domain }}"
    FrameDeny: true
    ContentTypeNosniff: true
    BrowserXssFilter: true
    ReferrerPolicy: strict-origin-when-cross-origin
    STSSeconds: {% if vars.plan == "gold" %}31536000{% else %}15552000{% endif %}
    STSIncludeSubdomains: true
    ContentSecurityPolicy: "default-src 'self' https://cdn.{{ vars.domain }}; frame-ancestors 'none'"
styling:
  logo_url: "https://cdn.{{ vars.domain }}/tenants/{{ tenant.key }}/logo.svg"
  logo_size: M
  font_url: "https://cdn.{{ vars.domain }}/fonts/inter.css"
  colors:
    primary: "{{ vars.brand_color }}"
    header: "#1f2933"
    background: "#f5f7fa"
features:
  admin_portal: {enabled: true}
  self_service: {enabled: true}
  dynamic_client_registration: {enabled: false}
  identity_pools: {enabled: true}
  webauthn: {enabled: true}
  audit_events: {enabled: true}
  scim: {enabled: false}
{%- if vars.plan == "gold" %}
  custom_domains: {enabled: true}
  dedicated_rate_limits: {enabled: true}
  advanced_analytics: {enabled: true}
{%- endif %}
"##;

/// The tenant's login texts in English and German (`translations/<locale>.yaml`).
const TRANSLATION_EN: &str = r##"  login.title: "Sign in to {{ vars.display_name }}"
  login.subtitle: Use your company account or continue with Google or Microsoft
  register.title: "Create your {{ vars.display_name }} account"
  mfa.sms.prompt: Enter the code we sent to your phone
  consent.title: "An application would like to access your {{ vars.display_name }} account"
"##;

const TRANSLATION_DE: &str = r##"  login.title: "Bei {{ vars.display_name }} anmelden"
  login.subtitle: Mit Ihrem Firmenkonto, mit Google oder mit Microsoft anmelden
  register.title: "Ihr Konto bei {{ vars.display_name }} anlegen"
  mfa.sms.prompt: Geben Sie den Code ein, den wir an Ihr Telefon gesendet haben
  consent.title: "Eine Anwendung möchte auf Ihr Konto bei {{ vars.display_name }} zugreifen"
"##;

const POOL: &str = r##"name: "@name@"
description: "@name@ of {{ vars.display_name }}"
payload_schema_id: fleet_payload
metadata_schema_id: fleet_metadata
authentication_mechanisms: @mechanisms@
preferred_authentication_mechanism: password
public_registration_allowed: false
mfa_session_ttl: "{{ vars.session_ttl }}"
identifier_case_insensitive: true
password_policy:
  strength: {% if vars.mfa_required %}strong{% else %}fair{% endif %}
  capital_letters: 1
  digits: 1
  special_characters: 0
  min_length: 12
password_settings:
  hashing_method: bcrypt
metadata:
  tenant: "{{ tenant.id }}"
"##;

const SCHEMA_PAYLOAD: &str = r##"name: Fleet user payload
description: "User profile attributes for {{ vars.display_name }}"
schema:
  type: object
  required: [email]
  properties:
    email: { type: string, pattern: "^[^@]+@[^@]+$", description: Primary e-mail address }
    email_verified: { type: boolean }
    given_name: { type: string, maxLength: 128 }
    family_name: { type: string, maxLength: 128 }
    phone_number: { type: string, pattern: "^\\+[0-9]{7,15}$" }
    locale: { type: string, enum: [en, de, fr, es, pl, ja] }
    department: { type: string }
    employee_id: { type: string, maxLength: 32 }
    address:
      type: object
      properties:
        street: { type: string }
        city: { type: string }
        postal_code: { type: string }
        country: { type: string, minLength: 2, maxLength: 2 }
"##;

const SCHEMA_METADATA: &str = r##"name: Fleet user metadata
description: Administrative metadata
schema:
  type: object
  properties:
    source: { type: string, enum: [import, registration, federation, scim] }
    tenant: { type: string, const: "{{ tenant.id }}" }
    roles: { type: array, items: { type: string } }
    last_review: { type: string, pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}T" }
    risk_score: { type: integer, minimum: 0, maximum: 100 }
"##;

const THEME: &str = r##"name: "@name@ theme for {{ vars.display_name }}"
logo_url: "https://cdn.{{ vars.domain }}/tenants/{{ tenant.key }}/logo.svg"
templates:
  pages/base.tmpl:
    content: "<link rel=\"stylesheet\" href=\"https://cdn.{{ vars.domain }}/themes/{{ tenant.key }}/@id@.css\">"
  pages/login.tmpl:
    content: "<h1>{{ vars.display_name }}</h1><p class=\"region-{{ vars.region }}\">@name@ sign-in</p>"
  pages/consent.tmpl:
    content: "<p style=\"color: {{ vars.brand_color }}\">@name@ consent of {{ tenant.key }}</p>"
  pages/error.tmpl:
    content: "<p style=\"color: #cf1124\">Something went wrong at {{ vars.display_name }}</p>"
"##;

/// Shared client settings, included at the top of every client file.
const CLIENT_DEFAULTS: &str = r##"subject_type: public
id_token_signed_response_alg: ES256
userinfo_signed_response_alg: none
request_object_signing_alg: none
tls_client_certificate_bound_access_tokens: false
require_pushed_authorization_requests: false
dynamically_registered: false
system: false
trusted: {% if vars.plan == "gold" %}true{% else %}false{% endif %}
"##;

// ---------------------------------------------------------------------------------------------
// Workspaces

struct Ws {
    id: &'static str,
    /// Prefix of the entity IDs of this workspace.
    short: &'static str,
    name: &'static str,
    /// Tenant pool that this workspace's pool idp authenticates against.
    pool: &'static str,
    /// Subdomain of its applications.
    sub: &'static str,
}

const WORKSPACES: [Ws; 3] = [
    Ws {
        id: "customers",
        short: "cus",
        name: "Customer identity",
        pool: "customers",
        sub: "app",
    },
    Ws {
        id: "partners",
        short: "prt",
        name: "Partner access",
        pool: "partners",
        sub: "partners",
    },
    Ws {
        id: "admin",
        short: "adm",
        name: "Administration",
        pool: "staff",
        sub: "admin",
    },
];

#[derive(Clone, Copy)]
enum ClientKind {
    Web,
    Spa,
    Native,
    Service,
}

/// Clients of every workspace (IDs are prefixed with the workspace's short name).
const CLIENTS: [(&str, &str, ClientKind); 7] = [
    ("portal", "Web portal", ClientKind::Web),
    ("spa", "Single-page app", ClientKind::Spa),
    ("ios", "iOS app", ClientKind::Native),
    ("android", "Android app", ClientKind::Native),
    ("backend", "Backend service", ClientKind::Service),
    ("batch", "Nightly batch", ClientKind::Service),
    ("console", "Support console", ClientKind::Web),
];

/// Policies: (suffix, type, rego?). Three of the eight are rego with a `.rego` sidecar.
const POLICIES: [(&str, &str, bool); 8] = [
    ("block-dcr", "client", false),
    ("require-mfa", "user", false),
    ("tenant-header", "api", false),
    ("internal-only", "api", false),
    ("consent-age", "user", false),
    ("acl", "api", true),
    ("rate-tier", "api", true),
    ("geo-fence", "user", true),
];

const SCRIPTS: [(&str, &str); 3] = [
    (
        "enrich-claims",
        "Adds tenant and plan to the authentication context",
    ),
    ("map-groups", "Maps directory groups to application roles"),
    ("token-audit", "Adds audit attributes to minted tokens"),
];

fn write_workspace(repo: &mut Repo, ws: &Ws) -> Result<(), Box<dyn Error>> {
    let s = ws.short;
    let base = format!("workspaces/{}", ws.id);
    let p = |suffix: &str| format!("{s}-{suffix}");

    // workspace.yaml, with the inline policy execution points and theme binding.
    let mut peps = String::new();
    for (target, policy) in [
        ("server_client_token", "block-dcr"),
        ("server_user_token", "require-mfa"),
        ("scope_profile.write", "consent-age"),
        ("scope_profile.admin", "geo-fence"),
        ("scope_accounts.admin", "acl"),
    ] {
        let _ = writeln!(peps, "  {target}: {}", p(policy));
    }
    let theme = if ws.id == "customers" {
        "brand"
    } else {
        "default"
    };
    repo.tpl(
        &format!("{base}/workspace.yaml"),
        &fill(
            WORKSPACE,
            &[
                ("name", ws.name),
                ("id", ws.id),
                ("short", ws.short),
                ("sub", ws.sub),
                ("peps", peps.trim_end()),
                ("theme", theme),
            ],
        ),
    )?;

    for (suffix, name, kind) in CLIENTS {
        let text = client(repo, ws, suffix, name, kind);
        repo.tpl(&format!("{base}/clients/{}.yaml", p(suffix)), &text)?;
    }

    for (suffix, kind, rego) in POLICIES {
        let id = p(suffix);
        if rego {
            repo.tpl(
                &format!("{base}/policies/{id}.yaml"),
                &format!("policy_name: \"{id}\"\ntype: {kind}\nlanguage: rego\n"),
            )?;
            let method = repo.rng.pick(&["GET", "POST", "PUT", "DELETE"]);
            repo.tpl(
                &format!("{base}/policies/{id}.rego"),
                &fill(
                    REGO,
                    &[("pkg", &suffix.replace('-', "_")), ("method", method)],
                ),
            )?;
        } else {
            let text = cloudentity_policy(repo, &id, kind);
            repo.tpl(&format!("{base}/policies/{id}.yaml"), &text)?;
        }
    }

    for (suffix, description) in SCRIPTS {
        let id = p(suffix);
        repo.tpl(
            &format!("{base}/scripts/{id}.yaml"),
            &format!("name: \"{description} ({id})\"\n"),
        )?;
        let prefix = repo.rng.pick(&["app-", "grp-", "role-", "acl-"]);
        repo.tpl(
            &format!("{base}/scripts/{id}.js"),
            &fill(
                SCRIPT,
                &[
                    ("desc", description),
                    ("prefix", prefix),
                    ("n", &prefix.len().to_string()),
                ],
            ),
        )?;
    }

    for (order, (suffix, method)) in [
        ("google", "google"),
        ("azure", "azure"),
        ("pool", "identity_pool"),
    ]
    .into_iter()
    .enumerate()
    {
        let text = idp(ws, &p(suffix), method, order);
        repo.tpl(&format!("{base}/idps/{}.yaml", p(suffix)), &text)?;
    }

    for (suffix, name) in [("accounts", "Accounts API"), ("profile", "Profile API")] {
        let text = service(repo, ws, suffix, name);
        repo.tpl(&format!("{base}/services/{}.yaml", p(suffix)), &text)?;
    }

    for (kind, claim, mapping, scope) in [
        ("id_token", "email", "email", "email"),
        ("id_token", "name", "name", "profile"),
        ("id_token", "tenant", "tenant", "openid"),
        ("access_token", "tenant", "tenant", "openid"),
        ("access_token", "plan", "plan", "openid"),
        ("access_token", "roles", "roles", "roles"),
    ] {
        let id = p(claim);
        repo.tpl(
            &format!("{base}/claims/{kind}/{id}.yaml"),
            &fill(
                CLAIM,
                &[("claim", claim), ("mapping", mapping), ("scope", scope)],
            ),
        )?;
    }

    for (kind, target, script) in [
        ("post_authn_ctx", p("google"), p("enrich-claims")),
        ("post_authn_ctx", p("azure"), p("map-groups")),
        ("token_minting", p("backend"), p("token-audit")),
    ] {
        repo.tpl(
            &format!("{base}/script_execution_points/{kind}/{target}.yaml"),
            &format!("script_id: {script}\n"),
        )?;
    }
    Ok(())
}

const WORKSPACE: &str = r##"name: "@name@"
description: "@name@ workspace of {{ vars.display_name }} ({{ env.name }})"
profile: default
color: "{{ vars.brand_color }}"
logo_uri: "https://cdn.{{ vars.domain }}/tenants/{{ tenant.key }}/@id@.svg"
custom_issuer_url: "https://{{ tenant.id }}.{{ vars.domain }}/@id@"
access_token_ttl: "{{ vars.access_token_ttl }}"
id_token_ttl: 1h0m0s
refresh_token_ttl: {% if vars.plan == "gold" %}2160h0m0s{% else %}720h0m0s{% endif %}
authorization_code_ttl: 10m0s
cookie_max_age: 24h0m0s
grant_types:
  - authorization_code
  - implicit
  - client_credentials
  - refresh_token
  - password
{%- if vars.plan == "gold" %}
  - urn:ietf:params:oauth:grant-type:jwt-bearer
  - urn:ietf:params:oauth:grant-type:token-exchange
{%- endif %}
token_endpoint_auth_methods:
  - client_secret_basic
  - client_secret_post
  - private_key_jwt
  - none
subject_format: hash
enforce_pkce: true
enforce_pkce_for_public_clients: true
enable_legacy_clients_with_no_software_statement: false
root_cas: ""
settings:
  default_client_id: @short@-portal
  default_post_authn_ctx_script_id: @short@-enrich-claims
dynamic_client_registration:
  enabled: false
  default_scopes: [openid, profile, email]
enable_idp_discovery: true
idp_discovery:
  enabled: true
  discovery_mode: domain_matching
enable_trust_anchor: false
trust_anchor_configuration:
  jwks_uri: "https://@sub@.{{ tenant.key }}.{{ vars.domain }}/.well-known/jwks.json"
advanced:
  return_iss_parameter_in_authorization_response: true
  disable_rar: false
  enforce_acr_values: {{ vars.mfa_required }}
  acr_values: ["urn:{{ tenant.key }}:loa:1", "urn:{{ tenant.key }}:loa:2"]
metadata:
  payload:
    tenant: "{{ tenant.id }}"
    owner: platform-team
    log_level: "{{ vars.log_level }}"
theme_binding:
  theme_id: @theme@
policy_execution_points:
@peps@
"##;

fn client(repo: &mut Repo, ws: &Ws, suffix: &str, name: &str, kind: ClientKind) -> String {
    let app = format!(
        "https://{}.{{{{ tenant.key }}}}.{{{{ vars.domain }}}}",
        ws.sub
    );
    let team = repo
        .rng
        .pick(&["identity", "payments", "growth", "core", "mobile", "data"]);
    let extra_redirects = repo.rng.below(2);
    let mut t = format!("{{% include \"{CLIENT_PARTIAL}\" %}}\n");
    let _ = writeln!(t, "client_name: \"{name} ({{{{ vars.display_name }}}})\"");
    let (app_type, auth, grants, responses) = match kind {
        ClientKind::Web => (
            "web",
            "client_secret_basic",
            &["authorization_code", "refresh_token"][..],
            &["code"][..],
        ),
        ClientKind::Spa => (
            "web",
            "none",
            &["authorization_code", "refresh_token"][..],
            &["code"][..],
        ),
        ClientKind::Native => (
            "native",
            "none",
            &["authorization_code", "refresh_token"][..],
            &["code"][..],
        ),
        ClientKind::Service => (
            "web",
            "private_key_jwt",
            &["client_credentials"][..],
            &["token"][..],
        ),
    };
    let _ = writeln!(t, "application_type: {app_type}");
    let _ = writeln!(t, "token_endpoint_auth_method: {auth}");
    let _ = writeln!(t, "grant_types: {}", flow(grants));
    let _ = writeln!(t, "response_types: {}", flow(responses));
    let _ = writeln!(t, "client_uri: \"{app}/{suffix}\"");
    match kind {
        ClientKind::Service => {
            let _ = writeln!(
                t,
                "jwks_uri: \"https://{suffix}.{{{{ tenant.key }}}}.{{{{ vars.domain }}}}/.well-known/jwks.json\""
            );
            let _ = writeln!(t, "token_endpoint_auth_signing_alg: ES256");
        }
        _ => {
            let scheme_base = match kind {
                ClientKind::Native => format!("com.example.{{{{ tenant.key }}}}.{suffix}:/oauth2"),
                _ => format!("{app}/{suffix}"),
            };
            t.push_str("redirect_uris:\n");
            let _ = writeln!(t, "  - \"{scheme_base}/callback\"");
            for i in 0..extra_redirects {
                let _ = writeln!(t, "  - \"{scheme_base}/callback/{i}\"");
            }
            t.push_str("post_logout_redirect_uris:\n");
            let _ = writeln!(t, "  - \"{scheme_base}/signed-out\"");
            let _ = writeln!(t, "tos_uri: \"{app}/terms\"");
        }
    }
    let scopes: &[&str] = match kind {
        ClientKind::Service => &["accounts.read", "accounts.write", "profile.read"],
        _ => &[
            "openid",
            "profile",
            "email",
            "offline_access",
            "accounts.read",
        ],
    };
    let _ = writeln!(t, "scopes: {}", flow(scopes));
    let _ = writeln!(
        t,
        "audience: [\"https://api.{{{{ tenant.key }}}}.{{{{ vars.domain }}}}\"]"
    );
    t.push_str("use_custom_token_ttls: true\ntoken_ttls:\n");
    let _ = writeln!(t, "  access_token_ttl: \"{{{{ vars.access_token_ttl }}}}\"");
    t.push_str("metadata:\n");
    let _ = writeln!(t, "  team: {team}");
    let _ = writeln!(t, "  tenant: \"{{{{ tenant.id }}}}\"");
    t
}

fn cloudentity_policy(repo: &mut Repo, id: &str, kind: &str) -> String {
    let mut t =
        format!("policy_name: \"{id}\"\ntype: {kind}\nlanguage: cloudentity\nvalidators:\n");
    t.push_str(
        "  - name: header\n    conf:\n      fields:\n        - field: x-tenant-id\n          \
         comparator: equals\n          value: \"{{ tenant.id }}\"\n",
    );
    let validators = repo.rng.below(3);
    for i in 0..validators {
        match (i + repo.rng.below(3)) % 3 {
            0 => t.push_str(
                "  - name: identity-context\n    conf:\n      fields:\n        - field: plan\n          \
                 comparator: equals\n          value: \"{{ vars.plan }}\"\n        - field: region\n          \
                 comparator: equals\n          value: \"{{ vars.region }}\"\n",
            ),
            1 => t.push_str(
                "  - name: ip-range\n    conf:\n      fields:\n        - field: remote_ip\n          \
                 comparator: in_cidr\n          value: [10.0.0.0/8, 192.168.0.0/16]\n",
            ),
            _ => t.push_str(
                "  - name: scopes\n    conf:\n      fields:\n        - field: scp\n          \
                 comparator: contains_all\n          value: [openid, profile]\n    recovery:\n      \
                 - type: mfa\n",
            ),
        }
    }
    t
}

const REGO: &str = r##"package acl.@pkg@

default allow = false

tenant := "{{ tenant.id }}"
plan := "{{ vars.plan }}"

allow {
  input.request.headers["x-tenant-id"][_] == tenant
  input.request.method == "@method@"
  not blocked_region
}

allow {
  input.authn_ctx.roles[_] == "admin"
  plan == "gold"
}

blocked_region {
  input.request.headers["x-region"][_] == "embargoed"
}
"##;

const SCRIPT: &str = r##"// @desc@ (generated by gen-repo)
module.exports = async function (context) {
  const tenant = "{{ tenant.id }}";
  const plan = "{{ vars.plan }}";
  const authn = context.authn_ctx || {};
  const groups = Array.isArray(authn.groups) ? authn.groups : [];
  const roles = groups
    .filter((g) => g.startsWith("@prefix@"))
    .map((g) => g.slice(@n@).toLowerCase());
  return {
    authn_ctx: Object.assign({}, authn, {
      tenant: tenant,
      plan: plan,
      roles: roles,
      region: "{{ vars.region }}",
    }),
  };
};
"##;

fn idp(ws: &Ws, id: &str, method: &str, order: usize) -> String {
    let mut t = format!("name: \"{id}\"\nmethod: {method}\ndisabled: false\nhidden: false\n");
    let _ = writeln!(t, "display_order: {order}");
    t.push_str("static_amr: [pwd]\nversion: 1\n");
    let _ = writeln!(t, "identity_pool_id: {}", ws.pool);
    t.push_str("logo_uri: \"https://cdn.{{ vars.domain }}/idps/");
    t.push_str(method);
    t.push_str(".svg\"\nconfig:\n  reload_claims_at_refresh_token: true\n");
    match method {
        "google" => t.push_str(
            "settings:\n  google:\n    client_id: \"{{ tenant.id }}.apps.googleusercontent.com\"\n    \
             issuer_url: https://accounts.google.com\n    \
             scopes: [openid, profile, email]\n    send_login_hint: true\n",
        ),
        "azure" => t.push_str(
            "settings:\n  azure:\n    client_id: \"{{ tenant.key }}-azure-app\"\n    \
             tenant: \"{{ tenant.key }}.onmicrosoft.com\"\n    \
             scopes: [openid, profile, email, offline_access]\n    fetch_groups: true\n    group_name_format: name\n\
             discovery_settings:\n  domains: [\"{{ tenant.key }}.{{ vars.domain }}\"]\n  instant_redirect: false\n",
        ),
        _ => {}
    }
    t.push_str("attributes:\n");
    for (name, ty, desc) in [
        ("email", "string", "E-mail"),
        ("email_verified", "bool", "E-mail verified"),
        ("name", "string", "Full name"),
        ("groups", "array", "Groups"),
    ] {
        let _ = writeln!(
            t,
            "  - name: {name}\n    type: {ty}\n    description: {desc}"
        );
    }
    t.push_str("mappings:\n");
    for (source, target, ty) in [
        ("email", "email", "string"),
        ("email_verified", "email_verified", "bool"),
        ("name", "name", "string"),
        ("groups", "groups", "array"),
    ] {
        let _ = writeln!(
            t,
            "  - source: {source}\n    target: {target}\n    type: {ty}"
        );
    }
    t
}

fn service(repo: &mut Repo, ws: &Ws, suffix: &str, name: &str) -> String {
    let s = ws.short;
    let mut t = format!("name: \"{name}\"\n");
    let _ = writeln!(t, "description: \"{name} of {{{{ vars.display_name }}}}\"");
    let _ = writeln!(t, "type: oauth2");
    let _ = writeln!(
        t,
        "custom_audience: \"https://api.{{{{ tenant.key }}}}.{{{{ vars.domain }}}}/{suffix}\""
    );
    let _ = writeln!(t, "with_specification: true");
    t.push_str("apis:\n");
    let resources = ["items", "settings"];
    for res in resources {
        for (method, verb) in [("GET", "list"), ("POST", "create")] {
            let api = format!("{s}-{suffix}-{verb}-{res}");
            let _ = writeln!(
                t,
                "  {api}:\n    method: {method}\n    path: \"/{suffix}/{res}\""
            );
            // About half the APIs are guarded by an api policy of the workspace.
            if repo.rng.chance(50) {
                let policy = repo
                    .rng
                    .pick(&["tenant-header", "internal-only", "acl", "rate-tier"]);
                let _ = writeln!(t, "    policy_id: {s}-{policy}");
            }
        }
    }
    t.push_str("scopes:\n");
    for (scope, desc) in [
        ("read", "Read"),
        ("write", "Create and update"),
        ("admin", "Administer"),
    ] {
        let _ = writeln!(
            t,
            "  {suffix}.{scope}:\n    display_name: \"{desc} {suffix}\"\n    \
             transient: false\n    implicit_grant: {}\n    implicit: false",
            scope == "read"
        );
    }
    t
}

const CLAIM: &str = r##"description: "The @claim@ claim"
mapping: @mapping@
source_type: authnCtx
scopes: [@scope@]
opaque: false
"##;

// ---------------------------------------------------------------------------------------------
// Environments

fn write_environments(repo: &mut Repo, tenants: usize) -> Result<(), Box<dyn Error>> {
    let width = tenants.to_string().len().max(5);
    // Per-tenant vars are drawn once, so that both environments agree except where a tenant's
    // upgrade is staged (staging is ahead of prod for about 5% of the fleet).
    let mut rows = Vec::with_capacity(tenants);
    for i in 1..=tenants {
        let rng = &mut repo.rng;
        let plan = rng.pick(&["gold", "silver", "silver", "bronze", "bronze"]);
        let staged_upgrade = plan != "gold" && rng.chance(5);
        let region = rng.pick(&["eu", "us", "ap"]);
        let suffix = rng.pick(&["GmbH", "Ltd", "Inc", "SA", "AB", "BV"]);
        let color = format!("#{:06x}", rng.below(0x100_0000));
        let seats = 10 * (1 + rng.below(500));
        let mfa = rng.chance(40);
        rows.push((i, plan, staged_upgrade, region, suffix, color, seats, mfa));
    }
    for env in ["staging", "prod"] {
        let mut t = String::with_capacity(200 * tenants + 512);
        let _ = writeln!(
            t,
            "# Generated by gen-repo: {tenants} tenants of template `{TEMPLATE}`."
        );
        t.push_str("target:\n");
        let _ = writeln!(t, "  url: https://fleet-{env}.eu.connect.secureauth.com");
        t.push_str("  concurrency: 8\nvars:\n");
        let (domain, ttl, session, level) = match env {
            "prod" => ("example.com", "10m0s", "8h0m0s", "info"),
            _ => ("staging.example.com", "30m0s", "12h0m0s", "debug"),
        };
        let _ = writeln!(t, "  domain: {domain}");
        let _ = writeln!(t, "  access_token_ttl: {ttl}");
        let _ = writeln!(t, "  session_ttl: {session}");
        let _ = writeln!(t, "  log_level: {level}");
        t.push_str("  plan: bronze\n  region: eu\n  mfa_required: false\n");
        t.push_str("tenants:\n");
        for (i, plan, staged_upgrade, region, suffix, color, seats, mfa) in &rows {
            let plan = if *staged_upgrade && env == "staging" {
                "gold"
            } else {
                plan
            };
            let key = format!("t{i:0width$}");
            let _ = writeln!(
                t,
                "  {key}: {{ template: {TEMPLATE}, id: {key}-{env}, vars: {{ plan: {plan}, region: {region}, \
                 display_name: \"Tenant {i:0width$} {suffix}\", brand_color: \"{color}\", seats: {seats}, \
                 mfa_required: {mfa} }} }}"
            );
        }
        repo.write(&format!("environments/{env}.yaml"), &t)?;
    }
    Ok(())
}
