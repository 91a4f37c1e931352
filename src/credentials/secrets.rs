//! Where the values of `secret("NAME")` come from at apply time: the environment variable
//! `PROMOTE_SECRET_<NAME>`, else the secrets file that `PROMOTE_SECRETS_FILE` names.
//!
//! The file is a YAML (or JSON) map of names to values, kept outside the repository, such as a
//! file a secret store or a CI secret writes for the job:
//!
//! ```yaml
//! ACME_GOOGLE_SECRET: 4Kx7...
//! ACME_WEBHOOK_KEY: 1Zp8...
//! ```
//!
//! A variable wins over the file, so one value can be overridden for a run. A file inside a git
//! work tree is refused unless git ignores it there, as for exports with credentials. Messages
//! name the file, the line and the secret, never a value.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use super::is_secret_name;
use crate::diagnostic::{locate_yaml_keys, Diagnostic, Location};

/// The environment variable naming the secrets file.
pub const FILE_VAR: &str = "PROMOTE_SECRETS_FILE";

/// The environment variable of secret `name`.
pub fn var(name: &str) -> String {
    format!("PROMOTE_SECRET_{name}")
}

/// The secrets file of this process, read once, when a secret is first needed.
static FILE: OnceLock<Result<BTreeMap<String, String>, Diagnostic>> = OnceLock::new();

/// The value of secret `name`: its variable, else the secrets file; `None` when neither has
/// it. Fails when the secrets file cannot be used.
pub fn lookup(name: &str) -> Result<Option<String>, Diagnostic> {
    if let Ok(value) = std::env::var(var(name)) {
        if !value.is_empty() {
            return Ok(Some(value));
        }
    }
    match file() {
        Ok(values) => Ok(values.get(name).cloned()),
        Err(d) => Err(d.clone()),
    }
}

/// Reads the secrets file now, if there is one, so that a command that may need secrets stops
/// before sending anything when the file cannot be used (rather than once per tenant).
pub fn check_file() -> Result<(), Diagnostic> {
    file().as_ref().map(|_| ()).map_err(Clone::clone)
}

fn file() -> &'static Result<BTreeMap<String, String>, Diagnostic> {
    FILE.get_or_init(|| match std::env::var_os(FILE_VAR) {
        Some(path) if !path.is_empty() => load(Path::new(&path)),
        _ => Ok(BTreeMap::new()),
    })
}

/// Where a missing secret could come from, for messages.
pub fn sources(name: &str) -> String {
    match std::env::var_os(FILE_VAR) {
        Some(path) if !path.is_empty() => format!(
            "${} is not set and {} has no `{name}`",
            var(name),
            Path::new(&path).display()
        ),
        _ => format!("${} is not set (nor {FILE_VAR})", var(name)),
    }
}

/// Reads a secrets file: a map of secret names to string values.
pub fn load(path: &Path) -> Result<BTreeMap<String, String>, Diagnostic> {
    let shown = path.display().to_string();
    let at = |keys: &[&str], text: &str| match locate_yaml_keys(text, keys) {
        Some((line, column)) => Location::at(&shown, line, column),
        None => Location::file(&shown),
    };
    if let Some(workdir) = crate::files::tracked_work_tree(path) {
        return Err(Diagnostic::new(format!(
            "refusing to read secrets from {shown}: it is inside the git work tree {}, where a commit could take it",
            workdir.display()
        ))
        .hint("keep the secrets file outside the repository (or in a git-ignored place such as .promote/)"));
    }
    let bytes = crate::files::read_input(path).map_err(|e| {
        Diagnostic::new(format!("cannot read the secrets file ({FILE_VAR}): {e}")).in_file(&shown)
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Diagnostic::new("the secrets file is not UTF-8 text").in_file(&shown))?;
    // The parser's messages quote no values, only positions.
    let tree = crate::yaml::parse(&text, &shown)?;
    let map = match tree {
        Value::Object(map) => map,
        Value::Null => serde_json::Map::new(),
        _ => {
            return Err(
                Diagnostic::new("a secrets file is a map of secret names to values")
                    .in_file(&shown)
                    .hint("write one `NAME: value` line per secret"),
            )
        }
    };
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in map {
        if !is_secret_name(&name) {
            problems.push(
                Diagnostic::new(format!(
                    "`{name}` cannot name a secret: use letters, digits and '_', as in secret(\"{name}\")"
                ))
                .at(at(&[&name], &text)),
            );
            continue;
        }
        match value {
            Value::String(s) if !s.is_empty() => {
                values.insert(name, s);
            }
            // Never quoted: a value in the wrong shape is still a secret.
            _ => problems.push(
                Diagnostic::new(format!(
                    "the value of secret `{name}` must be a non-empty string"
                ))
                .at(at(&[&name], &text))
                .hint("quote it: NAME: \"...\""),
            ),
        }
    }
    match problems.len() {
        0 => Ok(values),
        1 => Err(problems.remove(0)),
        n => Err(Diagnostic::new(format!(
            "{n} problems in the secrets file: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
        .in_file(&shown)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_in(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("secrets.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_names_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_in(
            dir.path(),
            "# from the vault\nA_KEY: one\nB: \"two: three\"\n",
        );
        let values = load(&path).unwrap();
        assert_eq!(values["A_KEY"], "one");
        assert_eq!(values["B"], "two: three");
        assert!(load(&file_in(dir.path(), "")).unwrap().is_empty());
    }

    #[test]
    fn refuses_bad_files_without_quoting_values() {
        let dir = tempfile::tempdir().unwrap();
        for (text, says) in [
            ("- a\n", "a map of secret names"),
            (
                "bad-name: hunter2-SECRET\n",
                "`bad-name` cannot name a secret",
            ),
            ("A: 12345-SECRET\nA: 678-SECRET\n", "duplicate"),
            ("N: [hunter2-SECRET]\n", "must be a non-empty string"),
            ("N: ''\n", "must be a non-empty string"),
        ] {
            let e = load(&file_in(dir.path(), text)).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
            assert!(!e.contains("-SECRET"), "{text:?} shows a value: {e}");
        }
        let e = load(&file_in(dir.path(), "N: [x]\nbad-name: y\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 problems"), "{e}");
        let e = load(&dir.path().join("missing.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the secrets file"), "{e}");
    }

    #[test]
    fn a_file_git_could_commit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let e = load(&file_in(dir.path(), "A: b\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("inside the git work tree"), "{e}");
        std::fs::write(dir.path().join(".gitignore"), "secrets.yaml\n").unwrap();
        assert_eq!(load(&dir.path().join("secrets.yaml")).unwrap()["A"], "b");
    }
}
