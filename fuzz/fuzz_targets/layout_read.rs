//! The YAML-directory layout reader: `promote_lib::layout::read` on a small directory of files
//! built from the fuzz input, and `promote_lib::yaml::parse` on every file.
//!
//! Checks:
//! - neither `yaml::parse` nor `layout::read` panics, whatever the files (errors are fine);
//! - YAML round trip: when `yaml::parse(text)` gives a tree, `yaml::parse(yaml::to_string(tree))`
//!   gives the same tree (every file promote writes goes through `yaml::to_string`);
//! - layout round trip: when `read` gives a tree, `write` accepts it, writes only safe relative
//!   paths (no empty, `.`, `..` or hidden component), is deterministic, and `read` of what it
//!   wrote gives the same tree back.

#![no_main]

#[path = "common/json.rs"]
mod json;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use promote_lib::layout::{self, Dir, TENANT};
use promote_lib::{keys, yaml};
use serde_json::Value;

/// Where files go. `{}` is replaced by a name drawn from the input.
const TEMPLATES: &[&str] = &[
    "tenant.yaml",
    "pools/{}.yaml",
    "schemas/{}.yaml",
    "mfa_methods/{}.yaml",
    "themes/{}.yaml",
    "translations/{}.yaml",
    "workspaces/{}/workspace.yaml",
    "workspaces/{}/clients/{}.yaml",
    "workspaces/{}/idps/{}.yaml",
    "workspaces/{}/pools/{}.yaml",
    "workspaces/{}/webhooks/{}.yaml",
    "workspaces/{}/scripts/{}.yaml",
    "workspaces/{}/scripts/{}.js",
    "workspaces/{}/policies/{}.yaml",
    "workspaces/{}/policies/{}.rego",
    "workspaces/{}/claims/{}/{}.yaml",
    "workspaces/{}/script_execution_points/{}/{}.yaml",
    "workspaces/{}/{}",
    "workspaces/{}",
    "{}/{}.yaml",
    "{}",
];

/// File names: plain, canonical encodings, non-canonical or invalid encodings, hidden names.
const NAMES: &[&str] = &[
    "w", "c", "p", "x", "s", "id_token", "a%2Fb", "a%2fb", "%2Egit", "%2E", "%2E.", ".git", "..",
    ".", "", "a b", "%C3%A9", "%FF", "%61", "x%7Ey", "100%25", "tenant", "workspace", "a.b",
];

fn name(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 | 1 => (*u.choose(NAMES)?).to_owned(),
        // The canonical file name of an arbitrary key: reads back as that key.
        2 => keys::encode(&json::key(u)?).unwrap_or_default(),
        _ => {
            let s: String = u.arbitrary()?;
            s.chars().take(12).collect()
        }
    })
}

fn path(u: &mut Unstructured) -> Result<String> {
    let template = *u.choose(TEMPLATES)?;
    let mut out = String::new();
    for (i, part) in template.split("{}").enumerate() {
        if i > 0 {
            out.push_str(&name(u)?);
        }
        out.push_str(part);
    }
    Ok(out)
}

fn content(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=4)? {
        // Text as the fuzzer mutates it: broken YAML, odd scalars, anchors, tags, ...
        0 | 1 => u.arbitrary::<String>()?,
        // Valid YAML of a tree with awkward keys and strings, as promote writes it.
        2 => yaml::to_string(&json::object(u)?),
        3 => yaml::to_string(&json::value(u)?),
        _ => (*u.choose(&["{}", "", "null", "~", "[]", "x: 1\n", "body: b\n", "pools: {}\n"])?)
            .to_owned(),
    })
}

#[derive(Debug)]
struct Input {
    files: Vec<(String, String)>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut files = Vec::new();
        // Most directories have their tenant.yaml, or nothing reads successfully.
        if u.ratio(7u8, 8u8)? {
            files.push(("tenant.yaml".to_owned(), content(u)?));
        }
        let n = u.int_in_range(0usize..=7)?;
        for _ in 0..n {
            if u.is_empty() {
                break;
            }
            files.push((path(u)?, content(u)?));
        }
        Ok(Input { files })
    }
}

fn check_yaml_round_trip(text: &str, file: &str) {
    let Ok(tree) = yaml::parse(text, file) else {
        return;
    };
    let written = yaml::to_string(&tree);
    match yaml::parse(&written, file) {
        Ok(back) => assert_eq!(
            back, tree,
            "YAML round trip changed the tree\ninput: {text:?}\nwritten: {written:?}"
        ),
        Err(e) => panic!(
            "YAML round trip: promote cannot read what it wrote\ninput: {text:?}\nwritten: {written:?}\nerror: {e}"
        ),
    }
}

fn safe(path: &str) -> bool {
    !path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with('.'))
}

fn check_layout_round_trip(tree: &Value) {
    let files = layout::write(&TENANT, tree)
        .unwrap_or_else(|e| panic!("write refused a tree read gave: {e}\ntree: {tree}"));
    for (path, _) in &files {
        assert!(safe(path), "write produced an unsafe path {path:?}");
    }
    let again = layout::write(&TENANT, tree).expect("write is deterministic");
    assert_eq!(files, again, "write is not deterministic");
    match layout::read(&TENANT, &Dir::from_files(files.clone()), "t") {
        Ok(back) => assert_eq!(
            &back, tree,
            "read(write(tree)) != tree\nfiles: {files:#?}"
        ),
        Err(problems) => panic!(
            "read refuses what write wrote\ntree: {tree}\nfiles: {files:#?}\nproblems: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fuzz_target!(|input: Input| {
    for (path, text) in &input.files {
        check_yaml_round_trip(text, path);
    }
    let dir = Dir::from_files(input.files.iter().cloned());
    if let Ok(tree) = layout::read(&TENANT, &dir, "t") {
        check_layout_round_trip(&tree);
    }
});
