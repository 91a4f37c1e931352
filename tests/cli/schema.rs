//! `promote schema`: the JSON Schema documents editors use, and the `$schema` lines that lead
//! to them. The shipped example carries both; every file of it, rendered for every environment,
//! validates against the document its template's line names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::TestRepo;

const MODELINE: &str = "# yaml-language-server: $schema=";

/// The document a file's `$schema` line names, as a path (the line is relative to the file).
fn named_schema(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text.lines().find(|l| l.starts_with(MODELINE))?;
    Some(file.parent().unwrap().join(&line[MODELINE.len()..]))
}

fn validator(schema: &Path) -> jsonschema::Validator {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
    jsonschema::draft7::new(&doc).unwrap_or_else(|e| panic!("{}: {e}", schema.display()))
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect()
}

/// Validates `value` against `schema`, returning the errors as text.
fn problems(
    validators: &mut BTreeMap<PathBuf, jsonschema::Validator>,
    schema: &Path,
    value: &Value,
) -> Vec<String> {
    let schema = schema
        .canonicalize()
        .unwrap_or_else(|_| panic!("{} is missing", schema.display()));
    let v = validators
        .entry(schema.clone())
        .or_insert_with(|| validator(&schema));
    v.iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn every_file_of_the_example_validates_against_the_schema_its_line_names() {
    let repo = TestRepo::example();
    repo.run(&["schema", "--check"])
        .success()
        .stdout_contains("up to date");
    let mut validators = BTreeMap::new();
    let mut checked = 0;
    // Environment files are read by promote as they are.
    for file in yaml_files(&repo.join("environments")) {
        let schema =
            named_schema(&file).unwrap_or_else(|| panic!("{} has no $schema line", file.display()));
        assert!(
            schema.ends_with("schema/environment.json"),
            "{}",
            schema.display()
        );
        let value: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let found = problems(&mut validators, &schema, &value);
        assert!(found.is_empty(), "{}: {found:?}", file.display());
        checked += 1;
    }
    // Templates: every file of the layout names its document, which its rendering satisfies.
    let out = repo.join("rendered");
    let mut failed = Vec::new();
    for env in ["local", "staging", "prod"] {
        let dir = out.join(env);
        repo.run(&[
            "render",
            "--env",
            env,
            "--format",
            "yaml",
            "--out",
            dir.to_str().unwrap(),
        ])
        .success();
        let environment: Value =
            serde_yaml::from_str(&repo.read(&format!("environments/{env}.yaml"))).unwrap();
        let tenants = environment["tenants"].as_object().unwrap();
        for file in yaml_files(&dir) {
            let rel = file
                .strip_prefix(&dir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let (key, inside) = rel.split_once('/').unwrap();
            let template = tenants[key]
                .get("template")
                .and_then(Value::as_str)
                .unwrap_or(key);
            let source = repo.join(&format!("templates/{template}/{inside}"));
            let schema = named_schema(&source)
                .unwrap_or_else(|| panic!("{} has no $schema line", source.display()));
            let value: Value =
                serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let found = problems(&mut validators, &schema, &value);
            if !found.is_empty() {
                failed.push(format!(
                    "{env}: {rel} against {}: {found:?}",
                    schema.display()
                ));
            }
            checked += 1;
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(checked > 300, "only {checked} files checked");
    // The documents are not vacuous: the same files with wrong types fail.
    let client = repo.join("schema/clients.json");
    let bad = serde_json::json!({"grant_types": "authorization_code", "client_name": 7});
    assert_eq!(problems(&mut validators, &client, &bad).len(), 2);
    let env = repo.join("schema/environment.json");
    let bad = serde_json::json!({"target": {"emulator": "x"}, "tennants": {}});
    assert_eq!(problems(&mut validators, &env, &bad).len(), 1);
}

#[test]
fn annotate_gives_the_example_its_lines_back_and_renders_the_same() {
    let repo = TestRepo::example();
    let mut shipped = BTreeMap::new();
    for top in ["templates", "environments"] {
        for file in yaml_files(&repo.join(top)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let without: String = text
                .split_inclusive('\n')
                .filter(|l| !l.starts_with(MODELINE))
                .collect();
            if without != text {
                std::fs::write(&file, without).unwrap();
                shipped.insert(file, text);
            }
        }
    }
    assert!(shipped.len() > 90, "{}", shipped.len());
    let before = repo.run(&["render", "--env", "local"]);
    before.success();
    // A template that extends another is left alone, and says why.
    repo.write(
        "templates/_shared/base.yaml",
        "name: {% block name %}x{% endblock %}\n",
    );
    repo.write(
        "templates/ext/tenant.yaml",
        "{% extends \"_shared/base.yaml\" %}{% block name %}ext{% endblock %}\n",
    );
    let run = repo.run(&["schema", "--annotate"]);
    run.success()
        .stdout_contains(&format!(
            "{} file(s) annotated, 0 already were, 1 left alone",
            shipped.len()
        ))
        .stderr_contains(
            "templates/ext/tenant.yaml: no $schema line added: it extends another template",
        );
    for (file, text) in &shipped {
        assert_eq!(
            &std::fs::read_to_string(file).unwrap(),
            text,
            "{}",
            file.display()
        );
    }
    let after = repo.run(&["render", "--env", "local"]);
    assert_eq!(before.stdout, after.stdout);
    // Nothing left to do the second time.
    repo.run(&["schema", "--annotate"])
        .success()
        .stdout_contains(&format!(
            "0 file(s) annotated, {} already were, 1 left alone",
            shipped.len()
        ));
}

#[test]
fn exports_into_the_repository_name_their_schema_and_validate() {
    let (repo, _) = TestRepo::example_in_git();
    repo.run(&["apply", "--env", "local", "--yes"]).success();
    std::fs::remove_dir_all(repo.join("schema")).unwrap();
    let run = repo.run(&["export", "--env", "local", "--out", "exported"]);
    run.success()
        .stdout_contains("JSON Schema document(s) written for editors");
    repo.run(&["schema", "--check"]).success();
    let mut validators = BTreeMap::new();
    let files = yaml_files(&repo.join("exported"));
    assert!(files.len() > 100);
    for file in &files {
        let schema =
            named_schema(file).unwrap_or_else(|| panic!("{} has no $schema line", file.display()));
        assert!(schema
            .canonicalize()
            .unwrap()
            .starts_with(repo.join("schema").canonicalize().unwrap()));
        let value: Value = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let found = problems(&mut validators, &schema, &value);
        assert!(found.is_empty(), "{}: {found:?}", file.display());
    }
    // The line is the first of each file, and the export still renders back: plan sees no change
    // when the exported templates replace the shipped ones.
    let tenant = repo.read("exported/acme/tenant.yaml");
    assert!(
        tenant.starts_with("# yaml-language-server: $schema=../../schema/tenant.json\n"),
        "{tenant}"
    );
    // Nor in a place git ignores, such as .promote/: a throwaway export.
    std::fs::remove_dir_all(repo.join("schema")).unwrap();
    repo.run(&[
        "export",
        "--env",
        "local",
        "--tenant",
        "acme",
        "--out",
        ".promote/look",
    ])
    .success();
    assert!(!repo
        .read(".promote/look/acme/tenant.yaml")
        .contains(MODELINE));
    assert!(!repo.join("schema").exists());
    repo.run(&["schema"]).success();
    // Outside the repository there is no schema/ to lead to: no line.
    let outside = TestRepo::empty();
    repo.run(&[
        "export",
        "--env",
        "local",
        "--tenant",
        "acme",
        "--out",
        outside.path().to_str().unwrap(),
    ])
    .success();
    let text = outside.read("acme/tenant.yaml");
    assert!(!text.contains(MODELINE), "{text}");
    // A second export changes nothing.
    repo.run(&["export", "--env", "local", "--out", "exported"])
        .success()
        .stdout_contains("acme (acme-local)")
        .stdout_contains("unchanged");
}

#[test]
fn check_names_what_is_stale_and_print_shows_one_document() {
    let repo = TestRepo::example();
    repo.edit("schema/clients.json", "\"client_name\"", "\"client_nam\"");
    repo.remove("schema/tenant.json");
    repo.run(&["schema", "--check"])
        .code(1)
        .stderr_contains("2 schema(s) missing or out of date: tenant.json, clients.json")
        .stderr_contains("run `promote schema` and commit the result");
    repo.run(&["schema"])
        .success()
        .stdout_contains("1 added, 1 changed, 17 unchanged");
    repo.run(&["schema", "--check"]).success();
    let run = repo.run(&["schema", "--print", "webhooks"]);
    run.success();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc, repo.json("schema/webhooks.json"));
    repo.run(&["schema", "--print", "nothing"])
        .code(1)
        .stderr_contains("possible values");
}
