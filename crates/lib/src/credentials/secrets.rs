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
//! work tree is refused unless git ignores it there and does not track it, as for exports with
//! credentials; a symlink is resolved and both ends are held to that. Only a regular file of at
//! most [`MAX_FILE`] bytes is read (a FIFO or `/dev/zero` is refused before it is opened).
//! Messages name the file, the line and the secret, never a value.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use super::is_secret_name;
use crate::diagnostic::{locate_yaml_keys, Diagnostic, Location};

/// The environment variable naming the secrets file.
pub(crate) const FILE_VAR: &str = "PROMOTE_SECRETS_FILE";

/// The largest secrets file read: a map of names to values is small, and anything larger is
/// not one.
pub(crate) const MAX_FILE: u64 = 1 << 20;

/// The environment variable of secret `name`.
pub(crate) fn var(name: &str) -> String {
    format!("PROMOTE_SECRET_{name}")
}

/// The secrets file of this process, read once, when a secret is first needed.
static FILE: OnceLock<Result<BTreeMap<String, String>, Diagnostic>> = OnceLock::new();

/// The value of secret `name`: its variable, else the secrets file; `None` when neither has
/// it. Fails when the secrets file cannot be used.
pub(crate) fn lookup(name: &str) -> Result<Option<String>, Diagnostic> {
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

/// Registers every secret value this process could send (each `PROMOTE_SECRET_*` variable, and
/// the secrets file's values when it can be read) with [`crate::scrub`], before anything is
/// read from a platform: a value the platform holds in a field that does not say it is a
/// credential (echoed into `metadata`) is then `<redacted>` in every report, never written by
/// `adopt`, and never saved in a plan. A secrets file that cannot be read is said when a
/// secret is needed, as before.
pub fn register_known() {
    for (name, value) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PROMOTE_SECRET_") {
            crate::scrub::register(&value.to_string_lossy());
        }
    }
    if std::env::var_os(FILE_VAR).is_some_and(|p| !p.is_empty()) {
        if let Ok(values) = file() {
            for value in values.values() {
                crate::scrub::register(value);
            }
        }
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
pub(crate) fn sources(name: &str) -> String {
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
pub(crate) fn load(path: &Path) -> Result<BTreeMap<String, String>, Diagnostic> {
    let shown = path.display().to_string();
    let at = |keys: &[&str], text: &str| match locate_yaml_keys(text, keys) {
        Some((line, column)) => Location::at(&shown, line, column),
        None => Location::file(&shown),
    };
    let cannot_read = |e: std::io::Error| {
        Diagnostic::new(format!("cannot read the secrets file ({FILE_VAR}): {e}")).in_file(&shown)
    };
    // A symlink is followed to its end, and both ends must be out of git's reach.
    let real = path.canonicalize().map_err(cannot_read)?;
    for place in [path, real.as_path()] {
        if let Some(workdir) = crate::files::tracked_work_tree(place) {
            let why = match crate::files::tracked_at(place) {
                Some(tracked) => format!(
                    "git tracks {tracked} in the work tree {} (a tracked file is committed even when .gitignore names it)",
                    workdir.display()
                ),
                None => format!(
                    "it is inside the git work tree {}, where a commit could take it",
                    workdir.display()
                ),
            };
            return Err(Diagnostic::new(format!(
                "refusing to read secrets from {shown}: {why}"
            ))
            .hint("keep the secrets file outside the repository (or in a git-ignored place git does not track, such as .promote/)"));
        }
    }
    let bytes = crate::files::read_limited(&real, MAX_FILE).map_err(cannot_read)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Diagnostic::new("the secrets file is not UTF-8 text").in_file(&shown))?;
    // The parser's words can quote a value (`invalid type: integer `99999...``): only the
    // position is kept.
    // A line break a review does not show is said as it is: the error quotes nothing.
    if let Some(d) = crate::yaml::unseen_break_error(&text, &shown) {
        return Err(d);
    }
    let tree = crate::yaml::parse(&text, &shown).map_err(|mut d| {
        if d.message.contains("duplicate key") {
            return d;
        }
        d.message = "the secrets file is not valid YAML here (the parser's words are left out: they can quote a secret)".to_owned();
        d.hint("write one `NAME: value` line per secret; quote values that YAML would read as numbers or something else")
    })?;
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
            ("N: 99999999999999999999\n", "not valid YAML here"),
            ("N: -99999999999999999999\n", "not valid YAML here"),
            // Regression (independent try): a secret hidden after a line break only YAML sees
            // is refused, and said, where it is.
            (
                "A: hunter2-SECRET # x\u{2028}B: b-SECRET\n",
                "secrets.yaml:1:22: invalid YAML: U+2028",
            ),
            ("A: a-SECRET\rB: b-SECRET\n", "a carriage return"),
        ] {
            let e = load(&file_in(dir.path(), text)).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
            assert!(!e.contains("-SECRET"), "{text:?} shows a value: {e}");
            assert!(!e.contains("99999"), "{text:?} shows a value: {e}");
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

    /// A secrets file committed and then listed in .gitignore is still tracked: refused.
    #[test]
    fn a_tracked_secrets_file_is_refused_even_when_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let git = git2::Repository::init(dir.path()).unwrap();
        let path = file_in(dir.path(), "A: hunter2-SECRET\n");
        let mut index = git.index().unwrap();
        index.add_path(Path::new("secrets.yaml")).unwrap();
        index.write().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "secrets.yaml\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("git tracks secrets.yaml"), "{e}");
        assert!(!e.contains("-SECRET"), "{e}");
        // Reached through a symlink from outside the repository: refused the same.
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            let link = outside.path().join("secrets.yaml");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            let e = load(&link).unwrap_err().to_string();
            assert!(e.contains("git tracks secrets.yaml"), "{e}");
        }
    }

    /// `/dev/zero` would fill memory and a FIFO would hang: only regular files of at most
    /// 1 MiB are read, and the message says so.
    #[cfg(unix)]
    #[test]
    fn a_secrets_file_is_a_regular_file_of_bounded_size() {
        let e = load(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, format!("A: \"{}\"\n", "x".repeat(2 << 20))).unwrap();
        let e = load(&big).unwrap_err().to_string();
        assert!(e.contains("at most 1 MiB"), "{e}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = load(&fifo).unwrap_err().to_string();
            assert!(e.contains("a FIFO, not a regular file"), "{e}");
        }
    }
}
