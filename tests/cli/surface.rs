//! The user's surface around the commands: `--version`, shell completions and manual pages.

use crate::support::TestRepo;

/// The subcommands, as `promote --help` lists them.
const COMMANDS: [&str; 16] = [
    "render",
    "validate",
    "diff",
    "plan",
    "apply",
    "rollback",
    "export",
    "backup",
    "drift",
    "adopt",
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
        for command in &COMMANDS[..14] {
            assert!(run.stdout.contains(command), "{shell}: no `{command}`");
        }
        assert!(run.stdout.contains("against"), "{shell}: no plan options");
    }
    repo.run(&["completions", "tcsh"])
        .code(1)
        .stderr_contains("possible values");
}

/// `promote --version` names the commit the binary was built from: this checkout's HEAD (the
/// test binary and `promote` are built from the same one), or `unknown commit` where git cannot
/// tell (no git on the machine, or a copy of the source outside a work tree).
#[test]
fn version_names_the_commit_it_was_built_from() {
    let source = env!("CARGO_MANIFEST_DIR");
    let head = std::process::Command::new("git")
        .args(["-C", source, "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8(out.stdout).unwrap().trim().to_owned());
    let commit = match head {
        Some(sha) => format!("commit {}", &sha[..12]),
        None => "unknown commit".to_owned(),
    };
    let run = TestRepo::empty().run(&["--version"]);
    run.success();
    assert_eq!(
        run.stdout.trim_end(),
        format!("promote {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn manual_pages_are_written_for_every_command() {
    let repo = TestRepo::empty();
    let page = repo.run(&["man"]);
    page.success();
    assert!(page.stdout.contains(".TH promote 1"), "{}", page.stdout);
    repo.run(&["man", "--out", "man1"]).success();
    for command in &COMMANDS[..15] {
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

#[test]
fn init_makes_a_repository_that_applies_at_once() {
    let repo = TestRepo::empty();
    let run = repo.run(&["init", "new"]);
    run.success().stdout_contains("made new a git repository");
    for file in [
        ".gitignore",
        "README.md",
        "environments/local.yaml",
        "templates/example/tenant.yaml",
    ] {
        assert!(repo.join(&format!("new/{file}")).is_file(), "{file}");
    }
    let at = |args: &[&str]| repo.run_at("new", args);
    at(&["validate"]).success().stderr_contains("valid");
    at(&["plan", "--env", "local", "--detailed-exitcode"]).code(2);
    at(&["apply", "--env", "local", "--yes"]).success();
    at(&["plan", "--env", "local", "--detailed-exitcode"]).success();
    // promote's own files are ignored by git in the new repository.
    let git = git2::Repository::open(repo.join("new")).unwrap();
    assert!(git.is_path_ignored(".promote/emulator").unwrap());
    // It never overwrites.
    repo.run(&["init", "new"])
        .code(1)
        .stderr_contains("overwrites nothing");
}

#[test]
fn init_from_env_exports_templates_that_render_back_the_platform() {
    // The shipped example applied to its emulator: the live tenants to start from.
    let (example, _) = TestRepo::example_in_git();
    example.run(&["apply", "--env", "local", "--yes"]).success();
    let repo = TestRepo::empty();
    let local = example.read("environments/local.yaml");
    let data = example.join(".promote/emulator");
    repo.write(
        "environments/local.yaml",
        &local.replace(
            "emulator: .promote/emulator",
            &format!("emulator: {}", data.display()),
        ),
    );
    let run = repo.run(&["init", "--from-env", "local"]);
    run.success()
        .stdout_contains("templates/acme/")
        .stdout_contains("from tenant acme (acme-local)")
        .stdout_contains("templates/saas/")
        .stdout_contains("from tenant globex (globex-local)");
    repo.run(&["validate", "--env", "local"]).success();
    // The models render back exactly what the platform holds.
    repo.run(&[
        "plan",
        "--env",
        "local",
        "--tenant",
        "acme",
        "--tenant",
        "globex",
        "--detailed-exitcode",
    ])
    .success();
    repo.run(&["init", "--from-env", "local"])
        .code(1)
        .stderr_contains("overwrites nothing");
}

/// Regression (production safety, finding 7): a missing credential left a half-made
/// repository (templates/, .git) that the next run refused. A failed `init --from-env` leaves
/// the directory as it was (a failure after some tenants were exported is
/// `init::tests::an_unfinished_staging_leaves_nothing`), and the next run is not refused.
#[test]
fn init_from_env_that_fails_leaves_nothing_behind() {
    let (example, _) = TestRepo::example_in_git();
    example.run(&["apply", "--env", "local", "--yes"]).success();
    let repo = TestRepo::empty();
    let local = example.read("environments/local.yaml").replace(
        "emulator: .promote/emulator",
        &format!("emulator: {}", example.join(".promote/emulator").display()),
    );
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(repo.join("."))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // No credentials for a platform.
    repo.write(
        "environments/local.yaml",
        &local.replace(
            &format!("emulator: {}", example.join(".promote/emulator").display()),
            "url: https://acme.example.invalid\n  client_id_env: PROMOTE_TEST_UNSET_ID\n  client_secret_env: PROMOTE_TEST_UNSET_SECRET",
        ),
    );
    let before = entries();
    repo.run(&["init", "--from-env", "local"]).code(1);
    assert_eq!(entries(), before);
    repo.write("environments/local.yaml", &local);
    repo.run(&["init", "--from-env", "local"])
        .success()
        .stdout_contains("templates/acme/");
    assert!(!entries().iter().any(|n| n.starts_with(".promote-init")));
}

/// `plan --output html --out plan.html` of the work tree against HEAD.
fn html_plan(repo: &TestRepo) -> crate::support::Run {
    let run = repo.run(&[
        "--output",
        "html",
        "plan",
        "--env",
        "local",
        "--against",
        "rev:HEAD",
        "--out",
        "plan.html",
    ]);
    run.success();
    run
}

#[test]
fn the_html_plan_is_one_self_contained_page() {
    let (repo, _) = TestRepo::example_in_git();
    repo.edit("environments/local.yaml", "seats: 10 }", "seats: 12 }");
    repo.edit(
        "templates/saas/workspaces/app/clients/web.yaml",
        "description: Acme Cloud web application for",
        "description: Acme Cloud browser app for",
    );
    let run = html_plan(&repo);
    assert_eq!(run.stdout, "", "the report goes to the file");
    let page = repo.read("plan.html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Nothing from the network: no script, no style sheet, no image, no absolute link.
    for forbidden in [
        "<script",
        "<link",
        "<img",
        "src=",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(!page.contains(forbidden), "the page has {forbidden}");
    }
    for tenant in ["globex", "initech", "umbrella"] {
        assert!(page.contains(&format!("id=\"t-{tenant}\"")), "{tenant}");
    }
    assert!(page.contains("<h3><code>/servers/app/clients/web</code></h3>"));
    insta::assert_snapshot!(page);
    // Other commands have no HTML form.
    repo.run(&["--output", "html", "validate"])
        .code(1)
        .stderr_contains("--output html is a report of `promote plan`");
}

/// Debian's chromium, run headless with no network of its own and a profile of its own.
fn chromium(profile: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs (apt-get install chromium; .ci/run installs it)")
}

#[test]
#[ignore = "needs Debian's chromium: .ci/run installs it and runs this test"]
fn the_html_plan_opens_in_a_headless_browser() {
    let (repo, _) = TestRepo::example_in_git();
    repo.edit("environments/local.yaml", "seats: 10 }", "seats: 12 }");
    html_plan(&repo);
    let page = format!("file://{}", repo.join("plan.html").display());
    let profile = repo.join(".chromium");
    // The browser parses the page: its DOM holds the tenant table and the tenant's section.
    let dom = chromium(&profile, &["--dump-dom", &page]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<table id=\"tenants\">"), "{dom}");
    assert!(dom.contains("id=\"t-initech\""), "{dom}");
    assert!(dom.contains("/metadata/seats"), "{dom}");
    // A screenshot, kept as the test's artifact.
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("plan-report.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,900",
            &page,
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}
