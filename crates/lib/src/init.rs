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
/// already holds `templates/` or `environments/`, so nothing is ever overwritten. The files are
/// written into a [`Staging`] directory first and moved into place when all of them were: a
/// failure leaves `dir` as it was.
pub fn create(dir: &Path) -> Result<Created> {
    for existing in ["templates", "environments"] {
        if dir.join(existing).exists() {
            return Err(Diagnostic::new(format!(
                "{} already has {existing}/: init makes a new repository and overwrites nothing",
                dir.display()
            )));
        }
    }
    let staging = Staging::new(dir)?;
    let mut written = Vec::new();
    for (rel, text) in FILES {
        let path = dir.join(rel);
        let text = if *rel == ".gitignore" && path.exists() {
            // Keep the user's ignore rules; add ours.
            let mut current = std::fs::read_to_string(&path)
                .doing(|| format!("cannot read {}", path.display()))?;
            if current
                .lines()
                .any(|l| l.trim() == ".promote/" || l.trim() == ".promote")
            {
                continue;
            }
            if !current.ends_with('\n') && !current.is_empty() {
                current.push('\n');
            }
            current.push_str(text);
            current
        } else if path.exists() {
            continue;
        } else {
            // Editors validate and complete the files against schema/ (written below).
            match crate::schema::annotate::line_for(rel) {
                Some(line) => crate::schema::annotate::insert(text, &line)
                    .map_err(|why| Diagnostic::new(format!("{rel}: {why}")))?,
                None => (*text).to_owned(),
            }
        };
        staging.write(rel, &text)?;
        written.push(dir.join(rel));
    }
    let schemas = crate::schema::dir_of(Path::new(""));
    let documents = crate::schema::write(&staging.path().join(&schemas))?;
    let git = staging.finish()?;
    let mut files = written;
    let schemas = crate::schema::dir_of(dir);
    files.extend(documents.added.iter().map(|name| schemas.join(name)));
    Ok(Created { files, git })
}

/// A new repository's files, written into a hidden directory beside (or inside) the place they
/// are for, and moved there only when all of them were written: `init` either makes the whole
/// repository or leaves nothing behind, and a failed run does not make the next one refuse.
/// Dropped without [`Staging::finish`], it removes what it holds.
#[derive(Debug)]
pub struct Staging {
    tmp: tempfile::TempDir,
    target: PathBuf,
}

impl Staging {
    /// Starts staging the repository `target`: in its parent when it does not exist yet (one
    /// rename then puts it in place), else in `target` itself.
    ///
    /// # Errors
    /// When the directory cannot be made.
    pub fn new(target: &Path) -> Result<Staging> {
        let parent = if target.exists() {
            target.to_path_buf()
        } else {
            let parent = match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            std::fs::create_dir_all(&parent)
                .doing(|| format!("cannot create {}", parent.display()))?;
            parent
        };
        let tmp = tempfile::Builder::new()
            .prefix(".promote-init-")
            .tempdir_in(&parent)
            .doing(|| format!("cannot create a directory in {}", parent.display()))?;
        Ok(Staging {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// The directory the files are written into, standing for the repository.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes `text` at `rel` (a path inside the repository).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, rel: &str, text: &str) -> Result<()> {
        crate::files::write_under(
            self.path(),
            rel,
            text.as_bytes(),
            crate::files::WriteMode::COPY,
        )
        .doing(|| format!("cannot write {rel}"))?;
        Ok(())
    }

    /// Moves everything staged into the repository (replacing a file only where the staged one
    /// was made from it, as `.gitignore` is), and makes the repository a git repository unless
    /// it is in one. Returns whether it made one.
    ///
    /// # Errors
    /// When a file cannot be moved; what was moved stays.
    pub fn finish(self) -> Result<bool> {
        let from = self.tmp.keep();
        let target = self.target;
        if !target.exists() {
            std::fs::rename(&from, &target)
                .doing(|| format!("cannot move the new repository to {}", target.display()))?;
        } else {
            move_into(&from, &target)?;
            // Only empty directories are left: the files moved.
            let _ = std::fs::remove_dir_all(&from);
        }
        git_repository(&target)
    }
}

/// Moves the entries of `from` into `to`: a whole directory by one rename where `to` has none
/// of that name, file by file where it has one.
fn move_into(from: &Path, to: &Path) -> Result<()> {
    let entries = std::fs::read_dir(from).doing(|| format!("cannot read {}", from.display()))?;
    for entry in entries {
        let entry = entry.doing(|| format!("cannot read {}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && std::fs::symlink_metadata(&dst).is_ok_and(|m| m.is_dir()) {
            move_into(&src, &dst)?;
        } else {
            std::fs::rename(&src, &dst).doing(|| format!("cannot move {}", dst.display()))?;
        }
    }
    Ok(())
}

/// A git repository made for a run that may still fail: dropped before [`NewGit::keep`], it
/// removes the `.git` it made, so that a failed `init --from-env` leaves the directory as it was.
#[derive(Debug)]
pub struct NewGit {
    made: Option<PathBuf>,
}

impl NewGit {
    /// Makes `dir` a git repository unless it is in one (see [`git_repository`]).
    ///
    /// # Errors
    /// When the repository cannot be made.
    pub fn make(dir: &Path) -> Result<NewGit> {
        let made = git_repository(dir)?.then(|| dir.join(".git"));
        Ok(NewGit { made })
    }

    /// Keeps the repository; returns whether this run made it.
    pub fn keep(mut self) -> bool {
        self.made.take().is_some()
    }
}

impl Drop for NewGit {
    fn drop(&mut self) {
        if let Some(git) = self.made.take() {
            // Best effort: the run is failing already, and the error it reports says more.
            let _ = std::fs::remove_dir_all(git);
        }
    }
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
        let project = Project::open(&files, "local").unwrap();
        for tenant in &project.tenants {
            project.desired(tenant).unwrap();
        }
        // Never twice over the same files.
        let again = create(dir.path()).unwrap_err();
        assert!(again.to_string().contains("overwrites nothing"), "{again}");
    }

    /// Nothing is left beside or inside the repository but the repository: the staging
    /// directory went, in a new directory and in an existing one (whose own files stay).
    #[test]
    fn staging_leaves_only_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("a/new");
        create(&new).unwrap();
        let names = |p: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&dir.path().join("a")), ["new"]);
        let existing = dir.path().join("existing");
        std::fs::create_dir_all(existing.join("schema")).unwrap();
        std::fs::write(existing.join(".gitignore"), "target/").unwrap();
        std::fs::write(existing.join("README.md"), "ours\n").unwrap();
        std::fs::write(existing.join("schema/mine.json"), "{}").unwrap();
        let created = create(&existing).unwrap();
        assert!(created
            .files
            .iter()
            .all(|f| f.starts_with(&existing) && f.exists()));
        assert!(!names(&existing)
            .iter()
            .any(|n| n.starts_with(".promote-init")));
        assert_eq!(
            std::fs::read_to_string(existing.join("README.md")).unwrap(),
            "ours\n"
        );
        assert!(existing.join("schema/mine.json").is_file());
        let ignore = std::fs::read_to_string(existing.join(".gitignore")).unwrap();
        assert!(
            ignore.starts_with("target/\n# promote") && ignore.contains(".promote/"),
            "{ignore}"
        );
    }

    /// A staging dropped before it finished (a failure on the way) leaves nothing.
    #[test]
    fn an_unfinished_staging_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("repo");
        let staging = Staging::new(&target).unwrap();
        staging
            .write("templates/x/tenant.yaml", "name: x\n")
            .unwrap();
        drop(staging);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!target.exists());
    }
}
