//! Where an environment's platform requests go: a platform at `target.url` with credentials
//! from the environment variables the file names, or a platform started in-process for
//! `target.emulator` (on `127.0.0.1:0`, for as long as the [`Connection`] lives, with a client
//! per tenant that it provisions itself). What starts that one is installed by the binary
//! ([`set_local_platform`]): the library does not depend on the emulator.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

pub use promote_platform::local::{LocalPlatform, Start};

use crate::diagnostic::Diagnostic;
use crate::environment::{Environment, Tenant};

static LOCAL_PLATFORM: OnceLock<Start> = OnceLock::new();

/// Installs what starts the platform of `target.emulator` environments, once per process (the
/// binary does it before running a command; later calls change nothing).
pub fn set_local_platform(start: Start) {
    let _ = LOCAL_PLATFORM.set(start);
}

/// Default names of the variables holding a platform's client credentials.
pub(crate) const CLIENT_ID_ENV: &str = "PROMOTE_CLIENT_ID";
pub(crate) const CLIENT_SECRET_ENV: &str = "PROMOTE_CLIENT_SECRET";

/// An open way to an environment's platform.
pub enum Connection {
    Platform {
        url: String,
        client_id: String,
        client_secret: String,
    },
    Emulator(Box<dyn LocalPlatform>),
}

impl fmt::Debug for Connection {
    // Credentials never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connection::Platform { url, client_id, .. } => f
                .debug_struct("Platform")
                .field("url", url)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Connection::Emulator(e) => f.debug_struct("Emulator").field("url", &e.url()).finish(),
        }
    }
}

impl Connection {
    /// Opens the way to `env`'s target for `tenants`; `repo` is what a relative emulator
    /// directory is relative to.
    pub(crate) fn open(
        repo: &Path,
        env: &Environment,
        tenants: &[Tenant],
    ) -> Result<Connection, Diagnostic> {
        let target = &env.file.target;
        if let Some(dir) = &target.emulator {
            let data = repo.join(dir);
            if Path::new(dir).starts_with(crate::files::WORK_DIR) {
                crate::files::work_dir(repo).map_err(|d| d.context(&env.name, None))?;
            }
            check_emulator_dir(repo, dir).map_err(|d| {
                d.at(env.locate(&["target", "emulator"]))
                    .context(&env.name, None)
            })?;
            let ids: Vec<String> = tenants.iter().map(|t| t.id.clone()).collect();
            let Some(start) = LOCAL_PLATFORM.get() else {
                return Err(Diagnostic::new(
                    "this build of promote has no embedded emulator for `target.emulator`",
                )
                .at(env.locate(&["target", "emulator"]))
                .context(&env.name, None));
            };
            return start(&data, &ids).map(Connection::Emulator).map_err(|e| {
                Diagnostic::new(format!("cannot start the embedded emulator: {e}"))
                    .at(env.locate(&["target", "emulator"]))
                    .context(&env.name, None)
            });
        }
        let url = target.url.clone().unwrap_or_default();
        let var = |name: &Option<String>, default: &str, key: &str| {
            let name = name.as_deref().unwrap_or(default);
            match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(Diagnostic::new(format!(
                    "environment `{}` needs the platform's client credentials in ${name}",
                    env.name
                ))
                .at(env.locate(&["target", key]))
                .hint(format!(
                    "export {name}=... (an OAuth2 client of the tenants' System workspace with the manage_configuration scope), or name another variable with `target.{key}`"
                ))),
            }
        };
        Ok(Connection::Platform {
            url: url.trim_end_matches('/').to_owned(),
            client_id: var(&target.client_id_env, CLIENT_ID_ENV, "client_id_env")?,
            client_secret: var(
                &target.client_secret_env,
                CLIENT_SECRET_ENV,
                "client_secret_env",
            )?,
        })
    }

    /// Base URL, without a trailing slash.
    pub(crate) fn url(&self) -> &str {
        match self {
            Connection::Platform { url, .. } => url,
            Connection::Emulator(e) => e.url(),
        }
    }

    /// The client ID and secret to use for tenant `tid`.
    #[cfg(test)]
    pub(crate) fn credentials(&self, tid: &str) -> Option<(&str, &str)> {
        match self {
            Connection::Platform {
                client_id,
                client_secret,
                ..
            } => Some((client_id, client_secret)),
            Connection::Emulator(e) => e.credentials(tid),
        }
    }
}

/// Refuses an emulator data directory (`dir`, from the environment file, relative to `repo`)
/// reached through a symlink inside the repository, or where git could commit its files: they
/// hold the tenants' client secrets.
fn check_emulator_dir(repo: &Path, dir: &str) -> Result<(), Diagnostic> {
    // Wherever it is named from (an absolute path, links on the way), a directory that ends up
    // inside the repository must be under its `.promote/`, as a relative one must.
    if let (Some(resolved), Ok(root)) = (resolve(&repo.join(dir)), repo.canonicalize()) {
        if let Ok(rel) = resolved.strip_prefix(&root) {
            let rel = rel.to_string_lossy();
            if !crate::environment::is_emulator_dir(&rel) {
                return Err(Diagnostic::new(format!(
                    "the emulator's data directory {dir} is {} in the repository, not under .promote/",
                    if rel.is_empty() { "the top".to_owned() } else { rel.into_owned() }
                ))
                .hint("the emulator keeps the client secrets it generates there: use .promote/<name> (git-ignored), or a directory outside the repository"));
            }
        }
    }
    let mut at = repo.to_path_buf();
    for part in Path::new(dir).components() {
        if let std::path::Component::Normal(name) = part {
            at.push(name);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Diagnostic::new(format!(
                    "the emulator's data directory {dir} goes through the symlink {}; the emulator writes only into plain directories",
                    at.display()
                ))
                .hint("name a directory of its own, such as .promote/emulator"));
            }
        } else if !matches!(part, std::path::Component::CurDir) {
            // An absolute path or `..`: what is outside the repository is the user's.
            break;
        }
    }
    let data = repo.join(dir);
    if let Some(workdir) = crate::files::tracked_work_tree(&data) {
        return Err(Diagnostic::new(format!(
            "the emulator's data directory {dir} is inside the git work tree {}, where a commit could take its files (they hold client secrets)",
            workdir.display()
        ))
        .hint("keep it under .promote/ (git-ignored by promote), or in a git-ignored directory git tracks nothing in"));
    }
    Ok(())
}

/// Returns `path` with its longest existing ancestor resolved (links followed, `..` applied) and
/// the rest appended as it is; `None` when no ancestor resolves.
fn resolve(path: &Path) -> Option<std::path::PathBuf> {
    let mut rest = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = at.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        rest.push(at.file_name()?.to_owned());
        at = at.parent()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Environment {
        Environment::parse("test", "environments/test.yaml", text).unwrap()
    }

    fn tenant(id: &str) -> Tenant {
        Tenant {
            key: id.into(),
            id: id.into(),
            template: id.into(),
            vars: Default::default(),
        }
    }

    #[test]
    fn emulator_target_starts_one_with_a_client_per_tenant() {
        set_local_platform(promote_emulator::Embedded::start_local);
        let repo = tempfile::tempdir().unwrap();
        let e = env("target:\n  emulator: .promote/emu\n");
        let c = Connection::open(repo.path(), &e, &[tenant("a"), tenant("b")]).unwrap();
        assert!(c.url().starts_with("http://127.0.0.1:"));
        let (id, secret) = c.credentials("a").unwrap();
        assert_eq!(id, "promote");
        assert!(secret.len() >= 32);
        assert_ne!(c.credentials("b").unwrap().1, secret);
        assert!(c.credentials("c").is_none());
        assert!(repo.path().join(".promote/emu/tenants").is_dir());
        assert!(!format!("{c:?}").contains(secret));
    }

    #[test]
    fn platform_target_names_the_missing_variable_and_the_line() {
        let e = env("target:\n  url: https://x.example\n  client_id_env: PROMOTE_TEST_UNSET_ID\n");
        let d = Connection::open(Path::new("."), &e, &[]).unwrap_err();
        assert!(d.message.contains("$PROMOTE_TEST_UNSET_ID"), "{d}");
        assert_eq!(d.location.unwrap().line, Some(3));
    }
}
