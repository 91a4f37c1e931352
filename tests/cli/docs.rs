//! The documentation runs: every command of every ```console block in `docs/*.md` is run, in
//! order, on a fresh copy of the shipped example, and must exit as the doc says.
//!
//! The convention (see `docs/README.md`): in a block fenced ```console, a line starting with
//! `$ ` is a command (a trailing `\` continues it on the next line); every other line is output,
//! shown and never run. A command is expected to exit 0, unless its last line carries a trailing
//! comment `# exits N`. The commands of one doc run as one bash script in a temporary git
//! repository holding the shipped `templates/`, `environments/` and `schema/` in one commit, so `cd`,
//! `export` and background jobs (`promote serve ... &`) carry over from one command to the next;
//! the directory of the `promote` under test comes first on PATH. Background jobs are killed when
//! the script ends, and anything of its process group still alive after it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestRepo;

/// The documentation directory of the crate.
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs");

/// How long the commands of one doc may take in all (a debug build, a loaded machine).
const DOC_TIMEOUT: Duration = Duration::from_secs(120);

/// What a doc's script prints before and after each command, to cut the output per command.
const MARK: &str = "@@promote-docs@@";

/// One command of a console block.
#[derive(Debug)]
struct Step {
    /// 1-based line of the `$ ` line in the doc.
    line: usize,
    /// The command without its `$ ` prompt; continuation lines joined with newlines.
    command: String,
    /// The exit code the doc says it has.
    expect: i32,
}

/// A line of a console block that breaks the convention.
#[derive(Debug)]
struct Problem {
    line: usize,
    message: String,
}

/// Returns every `docs/*.md` as (file name, text), by name.
fn doc_files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(DOCS)
        .unwrap_or_else(|e| panic!("cannot read {DOCS}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            (name, text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no docs in {DOCS}");
    out
}

/// Words that start a command line: an output line starting with one of them is probably a
/// command that lost its `$ ` prompt, and would silently not run.
const COMMAND_WORDS: &[&str] = &[
    "cd", "cp", "curl", "echo", "export", "git", "kill", "ls", "mkdir", "printf", "rm", "sed",
];

/// Subcommands of promote, for the same check on `promote ...` lines.
const SUBCOMMANDS: &[&str] = &[
    "adopt",
    "apply",
    "backup",
    "ci",
    "completions",
    "diff",
    "drift",
    "export",
    "init",
    "man",
    "migrate",
    "plan",
    "render",
    "rollback",
    "schema",
    "serve",
    "unlock",
    "validate",
];

/// Returns whether an output line looks like a command without its prompt.
fn looks_like_command(line: &str) -> bool {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        // `promote ci plan: a..b` and `promote serve: listening on ...` are what promote prints.
        (Some("promote"), Some(sub)) => SUBCOMMANDS.contains(&sub) && !line.contains(": "),
        (Some(first), _) => COMMAND_WORDS.contains(&first) && line.starts_with(first),
        _ => false,
    }
}

/// Returns the exit code a command's trailing `# exits N` comment announces (0 without one).
fn expected_exit(last_line: &str) -> Result<i32, String> {
    let Some(at) = last_line.rfind("# exit") else {
        return Ok(0);
    };
    let rest = &last_line[at + "# exit".len()..];
    let digits: String = rest
        .strip_prefix("s ")
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .map_err(|_| format!("a trailing exit comment is written `# exits N`: {last_line:?}"))
}

/// Returns the commands of the console blocks of a doc, in order, and every line that breaks
/// the convention.
fn parse(text: &str) -> (Vec<Step>, Vec<Problem>) {
    let mut steps = Vec::new();
    let mut problems = Vec::new();
    // Inside a fence: its indentation and whether it is a console block.
    let mut fence: Option<(usize, bool)> = None;
    let mut opened_at = 0;
    // The first line of a console block must be a command.
    let mut first_in_block = false;
    // A command whose last line ended with `\`: (line, text so far).
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = raw.trim_start();
        let indent = raw.len() - trimmed.len();
        if trimmed.starts_with("```") {
            match fence {
                None => {
                    let info = trimmed.trim_start_matches('`').trim();
                    fence = Some((indent, info == "console"));
                    opened_at = number;
                    first_in_block = true;
                }
                Some((_, console)) => {
                    if console && pending.is_some() {
                        problems.push(Problem {
                            line: number,
                            message: "the block ends inside a command continued with `\\`".into(),
                        });
                        pending = None;
                    }
                    if console && first_in_block {
                        problems.push(Problem {
                            line: opened_at,
                            message: "an empty console block".into(),
                        });
                    }
                    fence = None;
                }
            }
            continue;
        }
        let Some((fence_indent, true)) = fence else {
            continue;
        };
        let line = raw.get(fence_indent.min(indent)..).unwrap_or("");
        if let Some((start, mut command)) = pending.take() {
            command.push('\n');
            command.push_str(line);
            if line.ends_with('\\') {
                pending = Some((start, command));
            } else {
                match expected_exit(line) {
                    Ok(expect) => steps.push(Step {
                        line: start,
                        command,
                        expect,
                    }),
                    Err(message) => problems.push(Problem {
                        line: number,
                        message,
                    }),
                }
            }
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            first_in_block = false;
            if command.ends_with('\\') {
                pending = Some((number, command.to_owned()));
                continue;
            }
            match expected_exit(command) {
                Ok(expect) => steps.push(Step {
                    line: number,
                    command: command.to_owned(),
                    expect,
                }),
                Err(message) => problems.push(Problem {
                    line: number,
                    message,
                }),
            }
            continue;
        }
        // An output line.
        let message = if line.starts_with('$') {
            Some("a command line starts with `$ ` (a dollar sign and a space)")
        } else if first_in_block && !line.trim().is_empty() {
            Some("a console block starts with a `$ ` command; output comes after one")
        } else if looks_like_command(line) {
            Some("this output line looks like a command without its `$ ` prompt: it would not run")
        } else {
            None
        };
        if let Some(message) = message {
            problems.push(Problem {
                line: number,
                message: format!("{message}: {line:?}"),
            });
        }
        if !line.trim().is_empty() {
            first_in_block = false;
        }
    }
    if fence.is_some() {
        problems.push(Problem {
            line: opened_at,
            message: "this code block is never closed".into(),
        });
    }
    (steps, problems)
}

/// Returns the bash script that runs `steps` and marks where each one starts and how it ended.
fn script(steps: &[Step]) -> String {
    let mut out = String::from(
        "exec 2>&1\n\
         __promote_docs_cleanup() {\n\
         \x20 local p\n\
         \x20 for p in $(jobs -p); do kill \"$p\" 2>/dev/null; done\n\
         \x20 wait 2>/dev/null\n\
         }\n\
         trap __promote_docs_cleanup EXIT\n\
         # A doc that stops a background server and starts another on the same data at once\n\
         # (as a reader would, a moment later) must not race the first one's exit.\n\
         kill() {\n\
         \x20 command kill \"$@\"\n\
         \x20 local status=$? a\n\
         \x20 for a in \"$@\"; do case $a in -*) ;; *) wait \"$a\" 2>/dev/null ;; esac; done\n\
         \x20 return $status\n\
         }\n",
    );
    for (i, step) in steps.iter().enumerate() {
        writeln!(out, "printf '\\n{MARK} {i} start\\n'").unwrap();
        out.push_str(&step.command);
        out.push('\n');
        writeln!(out, "printf '\\n{MARK} {i} exit %d\\n' \"$?\"").unwrap();
    }
    out
}

/// Kills a process group when dropped: whatever a doc started in the background and left.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

/// Variables of the caller's shell that must not reach a doc's commands: credentials, CI
/// settings (`GITHUB_STEP_SUMMARY`), log filters, proxies (the commands only talk to loopback),
/// and bash's start-up files.
fn inherited(key: &str) -> bool {
    let dropped_prefix = ["PROMOTE_", "GITHUB_", "GIT_", "CARGO_"];
    let dropped = [
        "CLICOLOR_FORCE",
        "BASH_ENV",
        "ENV",
        "CDPATH",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ];
    !dropped_prefix.iter().any(|p| key.starts_with(p)) && !dropped.contains(&key)
}

/// Starts bash on `scratch/doc.sh` in `dir`, its output to `log`, in a process group of its own.
fn spawn_bash(dir: &Path, scratch: &Path, log: &Path) -> Child {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_promote")).parent().unwrap();
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut dirs = vec![bin_dir.to_path_buf()];
            dirs.extend(std::env::split_paths(&p));
            std::env::join_paths(dirs).unwrap()
        }
        None => bin_dir.as_os_str().to_owned(),
    };
    // A home of its own, outside the repository, as a user's is.
    let no_home = scratch.join("home");
    let out = File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc"])
        .arg(scratch.join("doc.sh"))
        .current_dir(dir)
        .env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(inherited)))
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        // `mktemp` in a doc makes its directories here, removed with the rest.
        .env("TMPDIR", scratch)
        .env("HOME", &no_home)
        .env("XDG_CONFIG_HOME", &no_home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "promote docs")
        .env("GIT_AUTHOR_EMAIL", "docs@promote.invalid")
        .env("GIT_COMMITTER_NAME", "promote docs")
        .env("GIT_COMMITTER_EMAIL", "docs@promote.invalid")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    command.spawn().expect("cannot start bash")
}

/// Runs the console commands of one doc on a fresh copy of the example; returns a report of
/// every command that did not exit as the doc says (empty when all did).
fn run_doc(name: &str, text: &str) -> String {
    let (steps, problems) = parse(text);
    let mut report = String::new();
    for p in &problems {
        writeln!(report, "docs/{name}:{}: {}", p.line, p.message).unwrap();
    }
    if steps.is_empty() {
        writeln!(report, "docs/{name}: no ```console command to run").unwrap();
    }
    if !report.is_empty() {
        return report;
    }
    let (repo, _) = TestRepo::example_in_git();
    // The script and its output live outside the repository, so that `git status` in a doc
    // shows only what the doc's commands did.
    let scratch = tempfile::Builder::new()
        .prefix("promote-docs-")
        .tempdir()
        .unwrap();
    let log = scratch.path().join("output");
    std::fs::write(scratch.path().join("doc.sh"), script(&steps)).unwrap();
    let started = Instant::now();
    let mut child = spawn_bash(repo.path(), scratch.path(), &log);
    let group = Group(child.id());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > DOC_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(group);
    let _ = child.kill();
    let _ = child.wait();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let output = repo.normalize(&output);
    let results = results(&output, steps.len());
    for (i, step) in steps.iter().enumerate() {
        let (code, out) = &results[i];
        if *code == Some(step.expect) {
            continue;
        }
        let how = match code {
            Some(c) => format!("exited {c}, expected {}", step.expect),
            None if status.is_none() => format!("did not finish within {DOC_TIMEOUT:?}"),
            None => "never finished (the script stopped before it)".to_owned(),
        };
        writeln!(
            report,
            "docs/{name}:{}: `{}` {how}\n----- output -----\n{}\n------------------",
            step.line,
            step.command,
            if out.trim().is_empty() {
                "(no output)"
            } else {
                out.trim_end()
            }
        )
        .unwrap();
        if code.is_none() {
            break;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "docs/{name}: {} command(s) in {:.1} s",
        steps.len(),
        elapsed.as_secs_f64()
    );
    report
}

/// Cuts a script's output into (exit code, output) per command; `None` for a command that did
/// not finish.
fn results(output: &str, count: usize) -> Vec<(Option<i32>, String)> {
    let mut out: Vec<(Option<i32>, String)> = vec![(None, String::new()); count];
    let mut current: Option<usize> = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            let mut words = rest.split_whitespace();
            let index = words.next().and_then(|w| w.parse::<usize>().ok());
            match (index, words.next(), words.next()) {
                (Some(i), Some("start"), None) if i < count => current = Some(i),
                (Some(i), Some("exit"), Some(code)) if i < count => {
                    out[i].0 = code.parse().ok();
                    current = None;
                }
                _ => {}
            }
            continue;
        }
        if let Some(i) = current {
            let text = &mut out[i].1;
            text.push_str(line);
            text.push('\n');
        }
    }
    // Each marker starts on a line of its own: the empty line that put it there goes.
    for (_, text) in &mut out {
        let trimmed = text.trim_end_matches('\n').len();
        text.truncate(trimmed);
    }
    out
}

/// Every console command of every doc exits as the doc says. The docs run in parallel, each in
/// a repository of its own; all failures of all docs are reported.
#[test]
fn every_console_command_of_the_docs_runs() {
    let docs = doc_files();
    let reports: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .iter()
            .map(|(name, text)| scope.spawn(move || run_doc(name, text)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failures: String = reports.concat();
    assert!(
        failures.is_empty(),
        "the docs do not run as written:\n{failures}"
    );
}

/// Every doc has console commands that follow the convention, and every relative link of the
/// docs (and of the index to each doc) leads to a file that exists.
#[test]
fn docs_follow_the_console_convention_and_links_resolve() {
    let docs = doc_files();
    let mut report = String::new();
    for (name, text) in &docs {
        let (steps, problems) = parse(text);
        for p in problems {
            writeln!(report, "docs/{name}:{}: {}", p.line, p.message).unwrap();
        }
        if steps.is_empty() {
            writeln!(report, "docs/{name}: no ```console command").unwrap();
        }
        for (line, target) in links(text) {
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() {
                continue;
            }
            if !Path::new(DOCS).join(file).exists() {
                writeln!(
                    report,
                    "docs/{name}:{line}: the link `{target}` leads nowhere"
                )
                .unwrap();
            }
        }
    }
    let index = docs
        .iter()
        .find(|(n, _)| n == "README.md")
        .map(|(_, t)| t.as_str())
        .unwrap_or_default();
    let linked: BTreeSet<String> = links(index).into_iter().map(|(_, t)| t).collect();
    for (name, _) in &docs {
        if name != "README.md" && !linked.contains(name.as_str()) {
            writeln!(report, "docs/README.md does not link to {name}").unwrap();
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// Returns the relative link targets `[text](target)` of a Markdown text, with their lines:
/// not URLs, not anchors in the same page, and not inside code blocks.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            let target = &after[..end];
            if !target.contains("://") && !target.starts_with('#') && !target.starts_with("mailto:")
            {
                out.push((i + 1, target.to_owned()));
            }
            rest = &after[end..];
        }
    }
    out
}

/// The parser of the convention, on the cases that matter.
#[test]
fn the_console_convention_is_parsed_as_documented() {
    let text = "\
text
```console
$ promote validate
12 tenant(s) in 3 environment(s): valid
$ promote plan --env local \\
    --detailed-exitcode   # exits 2: changes
$ echo '# not an exit comment'
```
```sh
$ promote apply --env prod   # never run
```
";
    let (steps, problems) = parse(text);
    assert!(problems.is_empty(), "{problems:?}");
    let got: Vec<(usize, &str, i32)> = steps
        .iter()
        .map(|s| (s.line, s.command.as_str(), s.expect))
        .collect();
    assert_eq!(
        got,
        [
            (3, "promote validate", 0),
            (
                5,
                "promote plan --env local \\\n    --detailed-exitcode   # exits 2: changes",
                2
            ),
            (7, "echo '# not an exit comment'", 0),
        ]
    );
    let bad = "```console\noutput first\n$ promote plan --env local   # exit 2\n$promote validate\npromote render --env local\n$ echo \\\n```\n```console\n";
    let (_, problems) = parse(bad);
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 7, 8], "{problems:?}");
    let out = results(
        &format!("{MARK} 0 start\nhello\n\n{MARK} 0 exit 0\n\n{MARK} 1 start\nboom\n\n{MARK} 1 exit 3\n\n{MARK} 2 start\n"),
        3,
    );
    assert_eq!(
        out,
        [
            (Some(0), "hello".to_owned()),
            (Some(3), "boom".to_owned()),
            (None, String::new())
        ]
    );
}
