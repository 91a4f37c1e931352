//! Load → render → validate, for one repository snapshot and one environment.
//!
//! [`Project`] holds what a command needs before it looks at any tenant: the files, the
//! compiled templates (a [`Templates`] compiled once per snapshot and shared by every
//! environment loaded from it), the environment and its tenants. [`Project::desired`] then turns one
//! tenant into its validated tree, or into diagnostics that name the template file and line.
//! Everything per tenant is independent, so commands run it in a rayon batch
//! ([`rendered::render`] for `promote render`).

pub mod rendered;

use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::environment::{Environment, Tenant};
use crate::render::Templates;
use crate::source::RepoFiles;
use crate::validate::{self, Problem};

/// One environment of one repository snapshot, ready to render.
pub struct Project<'a> {
    pub files: &'a RepoFiles,
    pub templates: Arc<Templates<'a>>,
    pub env: Environment,
    pub tenants: Vec<Tenant>,
}

impl<'a> Project<'a> {
    /// Returns environment `env` of the snapshot `templates` were compiled from, its tenants
    /// resolved.
    pub fn load(templates: &Arc<Templates<'a>>, env: &str) -> Result<Project<'a>, Vec<Diagnostic>> {
        let files = templates.files();
        let env = files.environment(env).map_err(|d| vec![d])?;
        if let Some(required) = env.file.requires.as_deref() {
            if !files.environments.contains_key(required) || required == env.name {
                let known: Vec<&str> = files.environments.keys().map(String::as_str).collect();
                return Err(vec![Diagnostic::new(format!(
                    "environment `{}` requires `{required}`, which is not another environment",
                    env.name
                ))
                .at(env.locate(&["requires"]))
                .hint(format!("environments: {}", known.join(", ")))]);
            }
        }
        let tenants = env.tenants(&files.template_dirs())?;
        Ok(Project {
            files,
            templates: Arc::clone(templates),
            env,
            tenants,
        })
    }

    /// Returns the tenants named in `only` (all when empty); unknown names are errors.
    pub fn select(&self, only: &[String]) -> Result<Vec<&Tenant>, Vec<Diagnostic>> {
        if only.is_empty() {
            return Ok(self.tenants.iter().collect());
        }
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for key in only {
            match self.tenants.iter().find(|t| &t.key == key || &t.id == key) {
                Some(t) if out.iter().any(|o: &&Tenant| o.key == t.key) => {}
                Some(t) => out.push(t),
                None => problems.push(
                    Diagnostic::new(format!(
                        "environment `{}` has no tenant `{key}`",
                        self.env.name
                    ))
                    .in_file(&self.env.path)
                    .hint(format!(
                        "tenants of {}: {}",
                        self.env.name,
                        self.tenants
                            .iter()
                            .map(|t| t.key.as_str())
                            .take(20)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// Returns the rendered and validated tree of `tenant`.
    pub fn desired(&self, tenant: &Tenant) -> Result<Value, Vec<Diagnostic>> {
        let tree = self.templates.render(&self.env, tenant)?;
        let problems = validate::tenant(&tree);
        if problems.is_empty() {
            return Ok(tree);
        }
        Err(problems
            .iter()
            .map(|p| {
                self.locate(tenant, &tree, p)
                    .context(&self.env.name, Some(&tenant.key))
            })
            .collect())
    }

    /// Returns a problem of a rendered tree as a diagnostic pointing into the template.
    fn locate(&self, tenant: &Tenant, tree: &Value, problem: &Problem) -> Diagnostic {
        let location =
            crate::render::template_location(self.files, &tenant.template, tree, &problem.pointer);
        let mut d = Diagnostic::new(problem.message.clone())
            .at(location)
            .pointer(problem.pointer.clone());
        if let Some(hint) = &problem.hint {
            d = d.hint(hint.clone());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    #[test]
    fn validation_errors_point_into_the_template() {
        let files = RepoFiles {
            templates: [
                ("acme/tenant.yaml".to_owned(), "name: acme\n".to_owned()),
                (
                    "acme/workspaces/w/workspace.yaml".to_owned(),
                    "name: w\npolicy_execution_points:\n  login: nope\n".to_owned(),
                ),
                (
                    "acme/workspaces/w/clients/c.yaml".to_owned(),
                    "client_name: c\nclient_secret: hunter2\n".to_owned(),
                ),
            ]
            .into(),
            environments: [("prod".to_owned(), "target: {url: https://x}\n".to_owned())].into(),
            origin: Origin::WorkTree,
        };
        let templates = Arc::new(Templates::compile(&files).unwrap());
        let project = Project::load(&templates, "prod").unwrap();
        let errors: Vec<String> = project
            .desired(&project.tenants[0])
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("templates/acme/workspaces/w/workspace.yaml:3:3: unknown policy `nope` (env prod, tenant acme)"), "{}", errors[0]);
        assert!(errors[1].starts_with("templates/acme/workspaces/w/clients/c.yaml:2:1: plain-text credential in the repository"), "{}", errors[1]);
    }

    #[test]
    fn unknown_tenant_is_an_error() {
        let files = RepoFiles {
            templates: [("acme/tenant.yaml".to_owned(), "{}".to_owned())].into(),
            environments: [("prod".to_owned(), "target: {url: https://x}\n".to_owned())].into(),
            origin: Origin::WorkTree,
        };
        let templates = Arc::new(Templates::compile(&files).unwrap());
        let project = Project::load(&templates, "prod").unwrap();
        let err = project.select(&["nope".to_owned()]).unwrap_err();
        assert!(err[0].to_string().contains("has no tenant `nope`"));
    }
}
