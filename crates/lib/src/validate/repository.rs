//! `promote validate` over a repository: every error and warning of every tenant of the
//! environments. A warning many tenants share (a fleet rendered from one template) is reported
//! once, with how many tenants have it and the first few of their keys; [`Checked::grouped_errors`]
//! groups errors the same way for people (the JSON keeps every tenant's).

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::pipeline::Project;
use crate::progress;
use crate::source::RepoFiles;

/// How many tenant keys a shared warning names.
const NAMED: usize = 3;

/// What validating a repository found.
#[derive(Debug, Serialize)]
pub struct Checked {
    /// No error anywhere (and, with `strict`, no warning either).
    pub valid: bool,
    /// The environments checked.
    pub environments: Vec<String>,
    pub tenants_checked: usize,
    /// Every error, the templates' first, then each environment's.
    pub errors: Vec<Diagnostic>,
    /// Every warning, each once per environment, template place and message.
    pub warnings: Vec<Shared>,
}

impl Checked {
    /// The errors as people read them: each place and message once per environment, with the
    /// tenants that have it, in the order first seen. Errors of the templates themselves (no
    /// tenant) stay as they are.
    pub fn grouped_errors(&self) -> Vec<Shared> {
        let mut out: Vec<Shared> = Vec::new();
        let mut run: Vec<Diagnostic> = Vec::new();
        for d in &self.errors {
            if run.last().is_some_and(|last| last.env != d.env) {
                out.extend(shared(std::mem::take(&mut run)));
            }
            run.push(d.clone());
        }
        out.extend(shared(run));
        out
    }
}

/// A warning (or, from [`Checked::grouped_errors`], an error) shared by one or more tenants of an
/// environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shared {
    /// The warning; its `tenant` is set when only one tenant has it.
    #[serde(flatten)]
    pub diagnostic: Diagnostic,
    /// How many tenants have it.
    pub tenant_count: usize,
    /// The first few of their keys, in key order.
    pub tenants: Vec<String>,
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.diagnostic)?;
        if self.tenant_count > 1 {
            write!(
                f,
                "\n  in {} tenants: {}",
                self.tenant_count,
                self.tenants.join(", ")
            )?;
            if self.tenant_count > self.tenants.len() {
                f.write_str(", …")?;
            }
        }
        Ok(())
    }
}

/// Renders and validates every tenant of `envs` (every environment of `files` when empty),
/// reporting each environment's tenants to `progress` as they are checked. With `strict`,
/// warnings make the repository invalid too (as `strict: true` does in one environment).
pub fn repository(
    files: &RepoFiles,
    envs: &[String],
    strict: bool,
    progress: &dyn progress::Observer,
) -> Checked {
    let envs: Vec<String> = if envs.is_empty() {
        files.environments.keys().cloned().collect()
    } else {
        envs.to_vec()
    };
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut warnings: Vec<Shared> = Vec::new();
    let mut checked = 0usize;
    // Compiled once for every environment; their errors are the snapshot's, reported once.
    let opened = match Project::open_each(files, &envs) {
        Ok((_, opened)) => opened,
        Err(ds) => {
            errors.extend(ds);
            Vec::new()
        }
    };
    for (env, opened) in envs.iter().zip(opened) {
        let project = match opened {
            Ok(p) => p,
            Err(ds) => {
                // A template's own files (its promote.yaml) are the same in every environment:
                // their errors are reported once.
                for d in ds {
                    if !errors.contains(&d) {
                        errors.push(d);
                    }
                }
                continue;
            }
        };
        progress.begin(&format!("validate {env}"), project.tenants.len());
        let found: Vec<_> = project
            .tenants
            .par_iter()
            .map(|t| {
                let r = project.validated(t);
                progress.advance();
                (r.tree.err().unwrap_or_default(), r.warnings)
            })
            .collect();
        progress.finish();
        checked += project.tenants.len();
        let mut env_warnings = Vec::new();
        for (e, w) in found {
            errors.extend(e);
            env_warnings.extend(w);
        }
        warnings.extend(shared(env_warnings));
    }
    if envs.is_empty() {
        errors.push(
            Diagnostic::new("there are no environments to validate")
                .hint("create environments/<name>.yaml"),
        );
    }
    Checked {
        valid: errors.is_empty() && (warnings.is_empty() || !strict),
        environments: envs,
        tenants_checked: checked,
        errors,
        warnings,
    }
}

/// Returns the warnings of one environment's tenants (in tenant order), each place and message
/// once, in the order first seen, with the tenants that have it.
fn shared(found: Vec<Diagnostic>) -> Vec<Shared> {
    let mut order: Vec<Shared> = Vec::new();
    let mut seen: BTreeMap<(Option<String>, String, Option<String>), usize> = BTreeMap::new();
    for mut d in found {
        let Some(tenant) = d.tenant.take() else {
            order.push(Shared {
                diagnostic: d,
                tenant_count: 0,
                tenants: Vec::new(),
            });
            continue;
        };
        let place = d.location.as_ref().map(ToString::to_string);
        let key = (place, d.message.clone(), d.pointer.clone());
        match seen.get(&key) {
            Some(&i) => {
                let w = &mut order[i];
                w.tenant_count += 1;
                if w.tenants.len() < NAMED {
                    w.tenants.push(tenant);
                }
                w.diagnostic.tenant = None;
            }
            None => {
                seen.insert(key, order.len());
                d.tenant = Some(tenant.clone());
                order.push(Shared {
                    diagnostic: d,
                    tenant_count: 1,
                    tenants: vec![tenant],
                });
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    struct Silent;

    impl progress::Observer for Silent {
        fn begin(&self, _: &str, _: usize) {}
        fn advance(&self) {}
        fn finish(&self) {}
    }

    /// A fleet of `n` tenants from one template whose client has an unknown field.
    fn fleet(n: usize, strict: bool) -> RepoFiles {
        let tenants: String = (0..n)
            .map(|i| format!("  t{i}: {{template: saas}}\n"))
            .collect();
        RepoFiles {
            templates: [
                ("saas/tenant.yaml".to_owned(), "name: saas\n".to_owned()),
                (
                    "saas/workspaces/w/workspace.yaml".to_owned(),
                    "{}".to_owned(),
                ),
                (
                    "saas/workspaces/w/clients/c.yaml".to_owned(),
                    "client_name: c\nclient_urii: https://x\n".to_owned(),
                ),
            ]
            .into(),
            environments: [(
                "prod".to_owned(),
                format!("target: {{url: https://x}}\nstrict: {strict}\ntenants:\n{tenants}"),
            )]
            .into(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        }
    }

    #[test]
    fn a_warning_of_a_fleet_is_reported_once_with_its_tenants() {
        let checked = repository(&fleet(5, false), &[], false, &Silent);
        assert!(checked.valid);
        assert_eq!(checked.errors, []);
        assert_eq!(checked.warnings.len(), 1, "{:#?}", checked.warnings);
        let w = &checked.warnings[0];
        assert_eq!(w.tenant_count, 5);
        assert_eq!(w.tenants, ["t0", "t1", "t2"]);
        assert_eq!(w.diagnostic.tenant, None);
        assert_eq!(
            w.to_string(),
            "templates/saas/workspaces/w/clients/c.yaml:2:1: `client_urii` is not a field of a client (TreeClient): the platform drops it (env prod)\n  at /servers/w/clients/c/client_urii\n  hint: did you mean `client_uri`?\n  in 5 tenants: t0, t1, t2, …"
        );
        let one = repository(&fleet(1, false), &[], false, &Silent);
        assert_eq!(one.warnings[0].diagnostic.tenant.as_deref(), Some("t0"));
        assert!(!one.warnings[0].to_string().contains("tenants:"));
    }

    #[test]
    fn warnings_fail_with_strict_or_in_a_strict_environment() {
        let checked = repository(&fleet(2, false), &[], true, &Silent);
        assert!(!checked.valid);
        assert_eq!(checked.errors, []);
        let strict_env = repository(&fleet(2, true), &[], false, &Silent);
        assert!(!strict_env.valid);
        assert_eq!(strict_env.errors.len(), 2);
        assert_eq!(strict_env.warnings, []);
    }
}
