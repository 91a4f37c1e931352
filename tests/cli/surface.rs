//! The user's surface around the commands: shell completions and manual pages.

use crate::support::TestRepo;

/// The subcommands, as `promote --help` lists them.
const COMMANDS: [&str; 15] = [
    "render",
    "validate",
    "diff",
    "plan",
    "apply",
    "rollback",
    "export",
    "backup",
    "drift",
    "migrate",
    "ci",
    "completions",
    "man",
    "serve",
    "help",
];

#[test]
fn completions_generate_for_every_shell() {
    let repo = TestRepo::empty();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = repo.run(&["completions", shell]);
        run.success();
        for command in &COMMANDS[..13] {
            assert!(run.stdout.contains(command), "{shell}: no `{command}`");
        }
        assert!(run.stdout.contains("against"), "{shell}: no plan options");
    }
    repo.run(&["completions", "tcsh"])
        .code(1)
        .stderr_contains("possible values");
}

#[test]
fn manual_pages_are_written_for_every_command() {
    let repo = TestRepo::empty();
    let page = repo.run(&["man"]);
    page.success();
    assert!(page.stdout.contains(".TH promote 1"), "{}", page.stdout);
    repo.run(&["man", "--out", "man1"]).success();
    for command in &COMMANDS[..14] {
        let text = repo.read(&format!("man1/promote-{command}.1"));
        assert!(
            text.contains(&format!(".TH promote-{command} 1")),
            "{command}:\n{text}"
        );
    }
    assert!(repo
        .read("man1/promote-plan.1")
        .contains("detailed\\-exitcode"));
}
