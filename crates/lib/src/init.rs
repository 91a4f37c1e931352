//! `promote init`: a new configuration repository that renders, validates and applies to the
//! embedded emulator at once, for the first ten minutes of a new user.

use crate::diagnostic::{Diagnostic, Doing, Result};
use std::path::{Path, PathBuf};

/// The files of a new repository: path and text.
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        ".gitignore",
        "# promote's own files: backups with credentials, the emulator's data\n.promote/\n",
    ),
    ("README.md", README),
    ("environments/local.yaml", LOCAL),
    ("templates/example/tenant.yaml", TENANT),
    ("templates/example/workspaces/app/workspace.yaml", WORKSPACE),
    ("templates/example/workspaces/app/clients/web.yaml", CLIENT),
];

const README: &str = r#"# Identity configuration

The tenants of our identity platform, kept as YAML in git and applied with promote: every
change is reviewed as a pull request, and what is merged is what the platform holds.

- `templates/<name>/` is one template: `tenant.yaml`, then a file per object
  (`workspaces/<id>/workspace.yaml`, `workspaces/<id>/clients/<id>.yaml`, ...). Every file is a
  Tera template: `{{ vars.NAME }}` comes from the environment.
- `environments/<env>.yaml` is one environment: where its platform is (`target`), its `vars`,
  and its `tenants` (each a template with an ID and its own vars).
- Credentials never go here: write `{{ secret("NAME") }}`, and give the value as
  `PROMOTE_SECRET_NAME` when applying.
- `schema/` holds JSON Schema documents for editors, written by `promote schema`: the first
  line of each file (`# yaml-language-server: $schema=...`) names its document, so editors with
  YAML support validate and complete as you type. Run `promote schema` again after upgrading
  promote, and `promote schema --annotate` to give new files their line.

Day to day:

```sh
promote validate                      # every tenant renders and is well formed
promote plan --env local              # what applying would change
promote apply --env local             # apply it (local: the emulator built into promote)
promote drift --env local             # what changed on the platform behind our back
```

`local` is the emulator built into promote: it starts with the command and keeps its data in
`.promote/emulator`. Add an environment for a real platform with a `target.url` and the
variables holding its client credentials (`client_id_env`, `client_secret_env`).
"#;

const LOCAL: &str = r#"# The emulator built into promote: no account and no setup. Its data is in
# .promote/emulator (git-ignored).
target:
  emulator: .promote/emulator
vars:
  company: Example Corp
  platform_url: https://localhost.connect.secureauth.test
  app_url: http://localhost:3000
  token_ttl: 1h0m0s
tenants:
  example:
    id: example-local
"#;

const TENANT: &str = r#"{#- The tenant. `vars` come from the environment file (and the tenant's own entry). -#}
name: {{ vars.company }} ({{ env.name }})
url: {{ vars.platform_url }}/{{ tenant.id }}
metadata:
  managed_by: promote
  environment: {{ env.name }}
settings:
  default_workspace_id: app
"#;

const WORKSPACE: &str = r#"{#- A workspace (the API calls it a server): where applications sign users in. -#}
name: {{ vars.company }} app
description: Sign-in for {{ vars.app_url }}
profile: consumers
access_token_strategy: jwt
access_token_ttl: {{ vars.token_ttl }}
grant_types:
  - authorization_code
  - refresh_token
authentication_mechanisms:
  - password
enforce_pkce_for_public_clients: true
"#;

const CLIENT: &str = r#"{#- A browser application: public (no secret), PKCE, redirects back to the app. -#}
client_name: {{ vars.company }} web
application_type: single_page
grant_types:
  - authorization_code
  - refresh_token
response_types:
  - code
token_endpoint_auth_method: none
redirect_uris:
  - {{ vars.app_url }}/callback
scopes:
  - openid
  - profile
  - email
"#;

/// What `init` made.
#[derive(Debug)]
pub struct Created {
    pub files: Vec<PathBuf>,
    /// Whether a git repository was made (promote keeps its state in git).
    pub git: bool,
}

/// Writes a new configuration repository in `dir` (made if needed). Refuses a directory that
/// already holds `templates/` or `environments/`, so nothing is ever overwritten.
pub fn create(dir: &Path) -> Result<Created> {
    for existing in ["templates", "environments"] {
        if dir.join(existing).exists() {
            return Err(Diagnostic::new(format!(
                "{} already has {existing}/: init makes a new repository and overwrites nothing",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).doing(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if *rel == ".gitignore" && path.exists() {
            // Keep the user's ignore rules; add ours.
            let mut current = std::fs::read_to_string(&path)?;
            if !current
                .lines()
                .any(|l| l.trim() == ".promote/" || l.trim() == ".promote")
            {
                if !current.ends_with('\n') && !current.is_empty() {
                    current.push('\n');
                }
                current.push_str(text);
                std::fs::write(&path, current)?;
                files.push(path);
            }
            continue;
        }
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .doing(|| format!("cannot create {}", parent.display()))?;
        }
        // Editors validate and complete the files against schema/ (written below).
        let text = match crate::schema::annotate::line_for(rel) {
            Some(line) => crate::schema::annotate::insert(text, &line)
                .map_err(|why| Diagnostic::new(format!("{rel}: {why}")))?,
            None => (*text).to_owned(),
        };
        std::fs::write(&path, text).doing(|| format!("cannot write {}", path.display()))?;
        files.push(path);
    }
    let schemas = crate::schema::dir_of(dir);
    let written = crate::schema::write(&schemas)?;
    files.extend(written.added.iter().map(|name| schemas.join(name)));
    let git = git_repository(dir)?;
    Ok(Created { files, git })
}

/// Makes `dir` a git repository (branch `main`) unless it is in one already: promote keeps
/// what it applies in git. Returns whether it made one.
pub fn git_repository(dir: &Path) -> Result<bool> {
    if git2::Repository::discover(dir).is_ok() {
        return Ok(false);
    }
    let mut options = git2::RepositoryInitOptions::new();
    options.initial_head("main");
    git2::Repository::init_opts(dir, &options)
        .doing(|| format!("cannot make {} a git repository", dir.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Project;
    use crate::source::RepoFiles;

    #[test]
    fn a_new_repository_renders_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let created = create(dir.path()).unwrap();
        assert!(created.git);
        assert_eq!(
            created.files.len(),
            FILES.len() + crate::schema::kinds().len()
        );
        let client = std::fs::read_to_string(
            dir.path()
                .join("templates/example/workspaces/app/clients/web.yaml"),
        )
        .unwrap();
        assert!(client.contains("$schema=../../../../../schema/clients.json\n"));
        let files = RepoFiles::from_work_tree(dir.path()).unwrap();
        let templates = std::sync::Arc::new(crate::render::Templates::compile(&files).unwrap());
        let project = Project::load(&templates, "local").unwrap();
        for tenant in &project.tenants {
            project.desired(tenant).unwrap();
        }
        // Never twice over the same files.
        let again = create(dir.path()).unwrap_err();
        assert!(again.to_string().contains("overwrites nothing"), "{again}");
    }
}
