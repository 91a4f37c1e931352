//! Render: templates + environment + tenant → the tenant's configuration tree.
//!
//! Every file under `templates/` is a Tera template. They are compiled once per run into one
//! [`Renderer`]; rendering a tenant renders each file of its template with the tenant's
//! context, parses the result, and assembles the tree through the layout. Undefined variables
//! are errors, and `secret("NAME")` renders as the marker `<secret:NAME>`.

mod bounds;
mod instrument;
mod markers;
mod sandbox;
mod scan;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use tera::{Context, Tera};

use crate::credentials;
use crate::diagnostic::{Diagnostic, Location};
use crate::environment::{overlay, Environment, Tenant};
use crate::layout::{self, Dir};
use crate::source::RepoFiles;

/// Compiled templates of one repository snapshot.
pub struct Renderer<'a> {
    files: &'a RepoFiles,
    tera: Tera,
    /// Template directory → its files: (path relative to it, Tera template name).
    templates: HashMap<String, Vec<(String, String)>>,
}

/// The most template syntax errors reported in one run; after that the rest is noise.
const MAX_SYNTAX_ERRORS: usize = 50;

impl<'a> Renderer<'a> {
    /// Returns a renderer with every template of `files` compiled. All syntax errors are
    /// reported, each with its file, line and column.
    pub fn new(files: &'a RepoFiles) -> Result<Renderer<'a>, Vec<Diagnostic>> {
        let rewritten: Vec<(&str, Cow<str>)> = files
            .templates
            .iter()
            .map(|(k, v)| (k.as_str(), positional_secret(v)))
            .collect();
        let mut sources: BTreeMap<&str, &str> =
            rewritten.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        let mut problems = Vec::new();
        let tera = loop {
            let mut tera = Tera::default();
            tera.autoescape_on(vec![]);
            tera.register_function("secret", secret);
            tera.register_function("range", bounds::range);
            match tera.add_raw_templates(sources.iter().map(|(k, v)| (*k, *v))) {
                Ok(()) => break tera,
                Err(e) => {
                    let diagnostic = syntax_diagnostic(files, &e);
                    let failed = failed_template(&e);
                    problems.push(diagnostic);
                    match failed {
                        Some(name)
                            if problems.len() < MAX_SYNTAX_ERRORS
                                && sources.remove(name.as_str()).is_some() => {}
                        _ => return Err(problems),
                    }
                }
            }
        };
        for (file, message) in bounds::recursion(&tera) {
            problems.push(
                Diagnostic::new(message)
                    .in_file(files.display(&format!("templates/{file}")))
                    .hint("write the levels out, or loop over a list instead"),
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut templates: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for path in files.templates.keys() {
            if let Some((dir, rel)) = path.split_once('/') {
                if !dir.starts_with('_') {
                    templates
                        .entry(dir.to_owned())
                        .or_default()
                        .push((rel.to_owned(), path.clone()));
                }
            }
        }
        Ok(Renderer {
            files,
            tera,
            templates,
        })
    }

    /// Returns the Tera context of a tenant in an environment.
    pub fn context(env: &Environment, tenant: &Tenant) -> Value {
        json!({
            "env": {"name": env.name, "vars": env.file.vars},
            "tenant": {"key": tenant.key, "id": tenant.id, "template": tenant.template, "vars": tenant.vars},
            "vars": overlay(&env.file.vars, &tenant.vars),
        })
    }

    /// Returns the rendered text of each file of the tenant's template, by path relative to
    /// the template directory.
    pub fn render_files(
        &self,
        env: &Environment,
        tenant: &Tenant,
    ) -> Result<Vec<(String, String)>, Vec<Diagnostic>> {
        let at = |d: Diagnostic| d.context(&env.name, Some(&tenant.key));
        let Some(files) = self.templates.get(&tenant.template) else {
            return Err(vec![at(Diagnostic::new(format!(
                "template `{}` does not exist",
                tenant.template
            ))
            .at(env.locate(&["tenants", &tenant.key]))
            .hint("templates are the directories of templates/"))]);
        };
        let context = Context::from_value(Self::context(env, tenant)).map_err(|e| {
            vec![at(Diagnostic::new(format!(
                "cannot build the template context: {e}"
            )))]
        })?;
        let mut out = Vec::with_capacity(files.len());
        let mut problems = Vec::new();
        bounds::start_tenant();
        for (rel, name) in files {
            match self.tera.render(name, &context) {
                Ok(text) => out.push((rel.clone(), text)),
                Err(e) => problems.push(at(self.render_diagnostic(name, &e))),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// Returns the rendered tree of a tenant in an environment.
    pub fn render(&self, env: &Environment, tenant: &Tenant) -> Result<Value, Vec<Diagnostic>> {
        let rendered = omit_empty_entries(self.render_files(env, tenant)?);
        let base = self
            .files
            .display(&format!("templates/{}", tenant.template));
        let dir = Dir::from_files(rendered);
        layout::read(&layout::TENANT, &dir, &base).map_err(|problems| {
            problems
                .into_iter()
                .map(|mut d| {
                    // A YAML position in rendered text is a position in the template only when
                    // rendering changed nothing in that file; say so when it may not be.
                    let templated = d.location.as_ref().is_some_and(|l| l.line.is_some())
                        && !self.renders_verbatim(
                            &tenant.template,
                            &base,
                            &dir,
                            d.location.as_ref().map(|l| l.file.as_str()),
                        );
                    if templated {
                        d.message.push_str(" (position in the rendered text)");
                    }
                    d.context(&env.name, Some(&tenant.key))
                })
                .collect()
        })
    }

    /// Returns whether the file a diagnostic names rendered to exactly its template text.
    fn renders_verbatim(&self, template: &str, base: &str, dir: &Dir, file: Option<&str>) -> bool {
        let Some(rel) = file
            .and_then(|f| f.strip_prefix(base))
            .and_then(|f| f.strip_prefix('/'))
        else {
            return false;
        };
        let mut at = dir;
        let mut parts: Vec<&str> = rel.split('/').collect();
        let Some(name) = parts.pop() else {
            return false;
        };
        for part in parts {
            match at.dirs.get(part) {
                Some(d) => at = d,
                None => return false,
            }
        }
        at.files.get(name).is_some_and(|text| {
            self.files.templates.get(&format!("{template}/{rel}")) == Some(text)
        })
    }

    fn render_diagnostic(&self, name: &str, error: &tera::Error) -> Diagnostic {
        let chain = error_chain(error);
        // Tera names the innermost template being rendered (an include or macro file).
        let inner = chain
            .rsplit("while rendering '")
            .next()
            .and_then(|s| s.split('\'').next())
            .filter(|n| self.files.templates.contains_key(*n))
            .unwrap_or(name);
        let path = self.files.display(&format!("templates/{inner}"));
        let variable = chain
            .split("Variable `")
            .nth(1)
            .and_then(|s| s.split('`').next());
        // A missing include: Tera says "Template '[name]' not found" (or without brackets).
        let missing = chain
            .split("Template '")
            .nth(1)
            .and_then(|s| s.split("' not found").next())
            .filter(|_| chain.contains("' not found"))
            .map(|n| n.trim_start_matches('[').trim_end_matches(']'));
        let location = variable
            .or(missing)
            .and_then(|needle| {
                let source = self.files.templates.get(inner)?;
                let offset = source.find(needle)?;
                let (line, column) = crate::diagnostic::line_column(source, offset);
                Some(Location::at(&path, line, column))
            })
            .unwrap_or_else(|| Location::file(&path));
        let mut d = Diagnostic::new(tidy(&chain)).at(location);
        if let Some(v) = variable {
            d = d.hint(format!(
                "`{v}` is not defined: define it in the environment's `vars` or the tenant's `vars`, or use `{v} | default(value=...)`"
            ));
        }
        d
    }
}

/// Returns the rendered files without the entries that rendered to nothing (only white space),
/// and without those entries' sidecars. That is how a template makes an entry exist for some
/// tenants only: `{% if vars.plan == "gold" %}...{% endif %}` around a whole file. The node
/// files (`tenant.yaml`, `workspace.yaml`) always count, as `{}` when empty.
fn omit_empty_entries(files: Vec<(String, String)>) -> Vec<(String, String)> {
    let is_node_file = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        name == layout::TENANT.file || name == layout::WORKSPACE.file
    };
    let omitted: Vec<String> = files
        .iter()
        .filter(|(path, text)| {
            path.ends_with(".yaml") && !is_node_file(path) && text.trim().is_empty()
        })
        .map(|(path, _)| path.trim_end_matches(".yaml").to_owned())
        .collect();
    if omitted.is_empty() {
        return files;
    }
    files
        .into_iter()
        .filter(|(path, _)| {
            let stem = path
                .rsplit_once('.')
                .map_or(path.as_str(), |(stem, _)| stem);
            !omitted.iter().any(|o| o == stem)
        })
        .collect()
}

/// Returns the marker standing for a secret: `secret("NAME")` → `<secret:NAME>`.
fn secret(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let name = args
        .get("name")
        .or_else(|| args.values().next())
        .and_then(Value::as_str)
        .ok_or_else(|| {
            tera::Error::msg("secret() takes the secret's name: secret(name=\"NAME\")")
        })?;
    if !credentials::is_secret_name(name) {
        return Err(tera::Error::msg(format!(
            "secret name `{name}` must use letters, digits and '_' (it is read from PROMOTE_SECRET_{name})"
        )));
    }
    Ok(Value::String(credentials::marker(name)))
}

/// Returns `text` with `secret("NAME")` written as `secret(name="NAME")`: Tera 1 functions take
/// only named arguments, and the positional form is the one people write.
fn positional_secret(text: &str) -> Cow<'_, str> {
    const CALL: &str = "secret(";
    if !text.contains(CALL) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(i) = rest.find(CALL) {
        let after = &rest[i + CALL.len()..];
        let word_before = rest[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let quoted = after.trim_start().starts_with(['"', '\'']);
        out.push_str(&rest[..i + CALL.len()]);
        if quoted && !word_before {
            out.push_str("name=");
        }
        rest = after;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn error_chain(error: &tera::Error) -> String {
    let mut out = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Returns Tera's message without its "Failed to render 'x'" prefixes, which the location says.
fn tidy(chain: &str) -> String {
    let parts: Vec<&str> = chain
        .split(": ")
        .filter(|p| !p.starts_with("Failed to render") && !p.starts_with("Failed to parse"))
        .collect();
    let joined = parts.join(": ");
    let message = joined
        .split(" while rendering '")
        .next()
        .unwrap_or(&joined)
        .trim();
    if message.is_empty() {
        chain.to_owned()
    } else {
        message.to_owned()
    }
}

fn failed_template(error: &tera::Error) -> Option<String> {
    let text = error.to_string();
    if let Some((name, _)) = missing_reference(&text) {
        return Some(name.to_owned());
    }
    let rest = text.strip_prefix("Failed to parse '")?;
    Some(rest.split('\'').next()?.to_owned())
}

/// A template that imports macros from, or extends, a template that does not exist:
/// (the template, the missing one), from Tera's message.
fn missing_reference(text: &str) -> Option<(&str, &str)> {
    let (name, rest) = if let Some(rest) = text.strip_prefix("Template `") {
        let (name, rest) = rest.split_once("` loads macros from `")?;
        (name, rest.split_once('`')?.0)
    } else {
        let rest = text.strip_prefix("Template '")?;
        let (name, rest) = rest.split_once("' is inheriting from '")?;
        (name, rest.split_once('\'')?.0)
    };
    Some((name, rest))
}

fn syntax_diagnostic(files: &RepoFiles, error: &tera::Error) -> Diagnostic {
    let chain = error_chain(error);
    let Some(name) = failed_template(error) else {
        return Diagnostic::new(format!("template error: {}", tidy(&chain)))
            .in_file(files.display("templates"))
            .hint("check include/import/extends names: they are paths relative to templates/, e.g. \"_shared/x.yaml\"");
    };
    let path = files.display(&format!("templates/{name}"));
    if let Some((_, missing)) = missing_reference(&chain) {
        let location = files
            .templates
            .get(&name)
            .and_then(|source| source.find(missing).map(|o| (source, o)))
            .map(|(source, offset)| {
                let (line, column) = crate::diagnostic::line_column(source, offset);
                Location::at(&path, line, column)
            })
            .unwrap_or_else(|| Location::file(&path));
        return Diagnostic::new(format!(
            "`{missing}` does not exist (imported or extended here)"
        ))
        .at(location)
        .hint(
            "import/extends names are paths relative to templates/, e.g. \"_shared/macros.tera\"",
        );
    }
    // Tera's parser error reads " --> L:C\n  |\n...\n  = expected ...".
    let position = chain.split("--> ").nth(1).and_then(|s| {
        let end = s
            .find(|c: char| !c.is_ascii_digit() && c != ':')
            .unwrap_or(s.len());
        let (line, column) = s[..end].split_once(':')?;
        Some((line.parse().ok()?, column.parse().ok()?))
    });
    let expected = chain
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .unwrap_or("syntax error");
    let location = match position {
        Some((line, column)) => Location::at(&path, line, column),
        None => Location::file(&path),
    };
    Diagnostic::new(format!("template syntax error: {expected}")).at(location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    fn repo(templates: &[(&str, &str)], env: &str) -> RepoFiles {
        RepoFiles {
            templates: templates
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            environments: [("prod".to_owned(), env.to_owned())].into(),
            origin: Origin::WorkTree,
        }
    }

    const ENV: &str = "target: {url: https://x}\nvars: {domain: example.com, ttl: {access: 60}}\ntenants:\n  acme: {id: acme-prod, vars: {ttl: {refresh: 600}}}\n";

    fn render(files: &RepoFiles) -> Result<Value, Vec<Diagnostic>> {
        let renderer = Renderer::new(files)?;
        let env = files.environment("prod").unwrap();
        let tenants = env.tenants(&files.template_dirs()).unwrap();
        renderer.render(&env, &tenants[0])
    }

    #[test]
    fn renders_context_includes_macros_and_secrets() {
        let files = repo(
            &[
                ("acme/tenant.yaml", "name: {{ tenant.id }}\nurl: https://{{ tenant.id }}.{{ vars.domain }}\nttl: {{ vars.ttl.access }}/{{ vars.ttl.refresh }}\nenv: {{ env.name }}\n"),
                ("acme/workspaces/default/workspace.yaml", "{% import \"_shared/m.tera\" as m %}\nname: Default\ngrant_types: {{ m::grants() }}\n"),
                ("acme/workspaces/default/clients/backend.yaml", "{% include \"_shared/client.yaml\" %}\nclient_secret: {{ secret(\"BACKEND\") }}\n"),
                ("acme/workspaces/default/scripts/s.yaml", "name: s\n"),
                ("acme/workspaces/default/scripts/s.js", "// {{ tenant.key }}\n"),
                ("_shared/m.tera", "{% macro grants() %}[authorization_code, refresh_token]{% endmacro grants %}"),
                ("_shared/client.yaml", "client_name: backend"),
            ],
            ENV,
        );
        let tree = render(&files).unwrap();
        assert_eq!(
            tree,
            json!({
                "name": "acme-prod", "url": "https://acme-prod.example.com", "ttl": "60/600", "env": "prod",
                "servers": {"default": {
                    "name": "Default",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "clients": {"backend": {"client_name": "backend", "client_secret": "<secret:BACKEND>"}},
                    "scripts": {"s": {"name": "s", "body": "// acme\n"}}
                }}
            })
        );
    }

    fn first_error(files: &RepoFiles) -> String {
        render(files).unwrap_err()[0].to_string()
    }

    #[test]
    fn undefined_variable_names_file_line_and_column() {
        let files = repo(
            &[("acme/tenant.yaml", "name: x\nurl: {{ vars.nope }}\n")],
            ENV,
        );
        let err = first_error(&files);
        assert!(
            err.starts_with(
                "templates/acme/tenant.yaml:2:9: Variable `vars.nope` not found in context"
            ),
            "{err}"
        );
        assert!(
            err.contains("(env prod, tenant acme)") && err.contains("hint:"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_are_all_reported_with_positions() {
        let files = repo(
            &[
                ("acme/tenant.yaml", "name: {{ x \n"),
                ("acme/pools/p.yaml", "a: 1\n{% if %}\n"),
                ("_shared/ok.yaml", "a: 1\n"),
            ],
            ENV,
        );
        let errs = Renderer::new(&files).err().unwrap();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("templates/acme/tenant.yaml:2:1: template syntax error")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("templates/acme/pools/p.yaml:2:")),
            "{text:#?}"
        );
    }

    #[test]
    fn unknown_include_is_an_error() {
        let files = repo(
            &[(
                "acme/tenant.yaml",
                "{% include \"_shared/missing.yaml\" %}\n",
            )],
            ENV,
        );
        let err = match Renderer::new(&files) {
            Err(e) => e[0].to_string(),
            Ok(r) => {
                let env = files.environment("prod").unwrap();
                let t = &env.tenants(&files.template_dirs()).unwrap()[0];
                r.render(&env, t).unwrap_err()[0].to_string()
            }
        };
        assert!(err.contains("_shared/missing.yaml"), "{err}");
    }

    #[test]
    fn invalid_yaml_after_rendering_names_the_template() {
        let files = repo(
            &[("acme/tenant.yaml", "name: {{ tenant.id }}\nbad: [\n")],
            ENV,
        );
        let err = first_error(&files);
        assert!(
            err.starts_with("templates/acme/tenant.yaml:3:1: invalid YAML"),
            "{err}"
        );
        assert!(err.contains("(position in the rendered text)"), "{err}");
    }

    #[test]
    fn secret_takes_a_positional_or_named_name() {
        assert_eq!(positional_secret("a: {{ secret(\"X\") }} {{ secret( 'Y') }} {{ secret(name=\"Z\") }} {{ mysecret(\"W\") }}"),
            "a: {{ secret(name=\"X\") }} {{ secret(name= 'Y') }} {{ secret(name=\"Z\") }} {{ mysecret(\"W\") }}");
    }

    #[test]
    fn entries_that_render_to_nothing_are_left_out() {
        let files = repo(
            &[
                ("acme/tenant.yaml", "name: x\n"),
                ("acme/workspaces/w/workspace.yaml", ""),
                ("acme/workspaces/w/scripts/gold.yaml", "{% if tenant.vars.plan | default(value='') == 'gold' %}name: gold{% endif %}\n"),
                ("acme/workspaces/w/scripts/gold.js", "// body\n"),
                ("acme/workspaces/w/scripts/all.yaml", "name: all\n"),
            ],
            ENV,
        );
        let tree = render(&files).unwrap();
        assert_eq!(
            tree["servers"]["w"]["scripts"],
            json!({"all": {"name": "all"}})
        );
    }

    #[test]
    fn bad_secret_names_are_refused() {
        let files = repo(&[("acme/tenant.yaml", "s: {{ secret(\"a b\") }}\n")], ENV);
        assert!(first_error(&files).contains("secret name `a b`"));
    }
}
