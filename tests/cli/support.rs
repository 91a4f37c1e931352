//! The harness: a configuration repository in a temporary directory, and runs of the real
//! `promote` binary in it.
//!
//! Every test builds a [`TestRepo`] (empty, or a copy of the shipped example), writes the files
//! it needs, and runs the binary through [`TestRepo::run`], which is the only way the tests start
//! it. A run is hermetic: no colour, CI mode, no log filter from the caller's shell, and a home
//! directory that does not exist, so libgit2 in promote does not read the user's git config.
//! The harness's own commits use an explicit signature and time, and local settings that win
//! over the user's. Every run checks that the binary did not panic, whatever the input.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

/// The source tree of the crate, which holds the shipped example repository.
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// A configuration repository in a temporary directory, removed when dropped.
pub struct TestRepo {
    dir: TempDir,
}

impl TestRepo {
    /// Returns a repository with no files at all.
    pub fn empty() -> TestRepo {
        let dir = tempfile::Builder::new()
            .prefix("promote-test-")
            .tempdir()
            .unwrap();
        TestRepo { dir }
    }

    /// Returns a copy of the shipped example: `templates/` and `environments/`.
    pub fn example() -> TestRepo {
        let repo = TestRepo::empty();
        for sub in ["templates", "environments"] {
            copy_dir(&Path::new(MANIFEST_DIR).join(sub), &repo.path().join(sub));
        }
        repo
    }

    /// Returns the repository's root directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Returns the absolute path of `rel` in the repository.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Writes `text` to `rel`, creating its directories.
    pub fn write(&self, rel: &str, text: &str) -> &Self {
        self.write_bytes(rel, text.as_bytes())
    }

    /// Writes raw bytes (for files that are not UTF-8) to `rel`, creating its directories.
    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) -> &Self {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        self
    }

    /// Returns the text of `rel`.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }

    /// Replaces `from` by `to` in file `rel`; `from` must occur in it.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let text = self.read(rel);
        assert!(
            text.contains(from),
            "{rel} does not contain {from:?}:\n{text}"
        );
        self.write(rel, &text.replacen(from, to, 1))
    }

    /// Removes the file or directory `rel`.
    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap_or_else(|e| panic!("cannot remove {rel}: {e}"));
        }
        self
    }

    /// Returns the parsed JSON file `rel`.
    pub fn json(&self, rel: &str) -> Value {
        serde_json::from_str(&self.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Makes the repository a git repository on branch `main`, with local settings that keep
    /// the user's git config out of what gets committed.
    pub fn git_init(&self) -> &Self {
        let mut opts = git2::RepositoryInitOptions::new();
        opts.initial_head("main").external_template(false);
        let repo = git2::Repository::init_opts(self.path(), &opts).unwrap();
        let mut config = repo.config().unwrap();
        // Local settings win over the user's global ones: commit the bytes as they are.
        config.set_bool("core.autocrlf", false).unwrap();
        config.set_str("core.safecrlf", "false").unwrap();
        self
    }

    /// Stages the whole work tree (additions, changes and deletions) without committing, and
    /// returns the tree it would commit.
    pub fn stage(&self) -> git2::Oid {
        let repo = self.git();
        let mut index = repo.index().unwrap();
        // Rebuild the index from the work tree: deleted files leave it, and FORCE keeps any
        // ignore rules of the user's config from hiding files.
        index.clear().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::FORCE, None)
            .unwrap();
        index.write().unwrap();
        index.write_tree().unwrap()
    }

    /// Commits the whole work tree on HEAD with a fixed author and time, and returns the
    /// commit's ID.
    pub fn commit(&self, message: &str) -> String {
        let tree_id = self.stage();
        let repo = self.git();
        let tree = repo.find_tree(tree_id).unwrap();
        let signature = git2::Signature::new(
            "promote tests",
            "tests@promote.invalid",
            &git2::Time::new(1_700_000_000, 0),
        )
        .unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .unwrap()
        .to_string()
    }

    fn git(&self) -> git2::Repository {
        git2::Repository::open(self.path()).unwrap()
    }

    /// Runs `promote --repo <this repository> ARGS` in this repository and returns how it
    /// went. Panics if the binary panicked.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_at("", args)
    }

    /// Runs `promote --repo <this repository>/SUB ARGS`, for a configuration repository in a
    /// subdirectory of a git work tree. Panics if the binary panicked.
    pub fn run_at(&self, sub: &str, args: &[&str]) -> Run {
        let no_home = self.path().join(".no-home");
        let output = Command::new(env!("CARGO_BIN_EXE_promote"))
            .arg("--repo")
            .arg(self.path().join(sub))
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env_remove("PROMOTE_LOG")
            .env_remove("CLICOLOR_FORCE")
            // libgit2 finds the user's global config through these two.
            .env("HOME", &no_home)
            .env("XDG_CONFIG_HOME", &no_home)
            .output()
            .unwrap();
        let run = Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            // A signal has no exit code; -1 fails every check of a code.
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        };
        assert!(
            !run.stderr.contains("panicked") && run.code != 101 && run.code != -1,
            "promote crashed:\n{run}"
        );
        run
    }

    /// Returns `text` with this repository's path replaced by `[REPO]`, for snapshots.
    pub fn normalize(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let canonical = self.path().canonicalize().unwrap();
        for path in [canonical.as_path(), self.path()] {
            out = out.replace(path.to_str().unwrap(), "[REPO]");
        }
        out
    }

    /// Returns a whole run as one text (exit code, stdout, stderr), normalized, for snapshots.
    pub fn snapshot(&self, run: &Run) -> String {
        self.normalize(&format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            run.code, run.stdout, run.stderr
        ))
    }
}

/// How one run of the binary went.
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0.
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Asserts exit code `code`.
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }

    /// Asserts that stderr contains `text`.
    pub fn stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr does not contain {text:?}:\n{self}"
        );
        self
    }

    /// Asserts that stdout contains `text`.
    pub fn stdout_contains(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout does not contain {text:?}:\n{self}"
        );
        self
    }

    /// Asserts that neither stdout nor stderr contains `text`.
    pub fn never_shows(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "the output shows {text:?}:\n{self}"
        );
        self
    }

    /// Returns stdout parsed as one JSON document.
    pub fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "promote {}", self.args.join(" "))?;
        writeln!(f, "exit: {}", self.code)?;
        writeln!(f, "----- stdout -----\n{}", self.stdout)?;
        write!(f, "----- stderr -----\n{}", self.stderr)
    }
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Returns every string in `tree` at any depth, with the JSON pointer of each.
pub fn strings(tree: &Value) -> Vec<(String, &str)> {
    fn walk<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match value {
            Value::String(s) => out.push((at, s)),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{at}/{i}"), out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    walk(item, format!("{at}/{key}"), out);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(tree, String::new(), &mut out);
    out
}
