//! The editor side of `promote schema`: the real yaml-language-server (Red Hat's, which VS Code's
//! YAML extension, Neovim and Helix start) reads the `$schema` lines of an export and validates,
//! completes and describes as people type. `tests/editor/lsp-check.mjs` drives it over LSP; this
//! test builds the repository it runs against.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::support::TestRepo;

#[test]
#[ignore = "needs Node.js and yaml-language-server: .ci/run installs them and runs this test"]
fn yaml_language_server_validates_and_completes_exported_files() {
    let editor = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/editor");
    assert!(
        editor
            .join("node_modules/yaml-language-server/package.json")
            .is_file(),
        "yaml-language-server is not installed: run `npm ci --prefix tests/editor` (.ci/run does)"
    );
    let (repo, _) = TestRepo::example_in_git();
    repo.run(&["apply", "--env", "local", "--yes"]).success();
    repo.run(&["export", "--env", "local", "--out", "exported"])
        .success();
    let clients = "exported/acme/workspaces/default/clients";
    assert!(repo
        .read(&format!("{clients}/storefront-spa.yaml"))
        .starts_with("# yaml-language-server: $schema=../../../../../schema/clients.json\n"));

    let started = Instant::now();
    let out = Command::new("node")
        .arg(editor.join("lsp-check.mjs"))
        .arg(repo.path())
        .current_dir(repo.path())
        .output()
        .expect("node runs (Node.js 20 or later; .ci/run needs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}(lsp-check: {:.1?})", started.elapsed());
    assert!(out.status.success(), "lsp-check failed ({})", out.status);
    // What an editor shows, as the script saw it.
    for seen in [
        "Incorrect type. Expected one of array, null.",
        "Incorrect type. Expected one of integer, null.",
        "Property tennants is not allowed.",
        "Unable to load schema",
        "token_endpoint_auth_method",
        "Credential: never in plain text in the repository",
        "checks passed",
    ] {
        assert!(stdout.contains(seen), "lsp-check did not report {seen:?}");
    }
}
