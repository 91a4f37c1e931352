//! Ignore rules: paths of a tenant's tree that promote leaves alone.
//!
//! A field another system manages (a client's `redirect_uris` set by a deploy pipeline,
//! `metadata` written by a provisioning job) would otherwise be reverted as drift on every
//! apply. A rule names it as a JSON pointer in which a `*` segment matches any one key, like
//! Argo CD's `ignoreDifferences` `jsonPointers`: `/servers/*/clients/*/redirect_uris`. A rule
//! also covers everything under its path. `*` is always a wildcard (a key that is a literal
//! `*` cannot be named alone); `~1` and `~0` are `/` and `~` in a key, as in any JSON pointer.
//!
//! Rules come from an environment file's `ignore:` (that environment) and from a template
//! directory's `promote.yaml` (`templates/<template>/promote.yaml`, every environment's
//! tenants of that template). Each is a pointer, or `{path, reason}`: the reason is shown to
//! reviewers in the plan's header.
//!
//! [`Ignore::strip`] takes the covered paths out of the desired tree, the live tree and the
//! last-applied record before they are compared (`prepare`, the one per-tenant pipeline), so
//! they are never planned, sent, verified, recorded or reported as drift. A rule descends
//! through objects only: an array is ignored whole or not at all.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diagnostic::{Diagnostic, Location};
use crate::patch::pointer;

/// The name of a template directory's own settings file: not part of the tenant tree.
pub const TEMPLATE_SETTINGS: &str = "promote.yaml";

/// Whether `name` (a path relative to `templates/`) is a template directory's settings file,
/// `<template>/promote.yaml`: read for its rules, never rendered into the tenant's tree.
pub(crate) fn is_template_settings(name: &str) -> bool {
    name.split_once('/')
        .is_some_and(|(dir, rel)| !dir.starts_with('_') && rel == TEMPLATE_SETTINGS)
}

/// One rule as a file writes it: a pointer, or a pointer with the reason for reviewers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// `- /servers/*/clients/*/redirect_uris`
    Path(String),
    /// `- {path: /metadata, reason: written by the provisioning job}`
    Described {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Entry {
    /// The rule's pointer, as written.
    pub fn path(&self) -> &str {
        match self {
            Entry::Path(path) | Entry::Described { path, .. } => path,
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Entry::Path(_) => None,
            Entry::Described { reason, .. } => reason.as_deref(),
        }
    }
}

/// A checked rule, with where it was written: what a plan's header lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// The pointer, `*` for any one key.
    pub path: String,
    /// Why the path is left alone, for reviewers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The file that says so: `environments/prod.yaml` or `templates/saas/promote.yaml`.
    pub source: String,
}

/// Returns the lines that list `rules` for people, under a heading (none without rules), as
/// plain text: each path with where it is written and why, quoted on one line.
pub fn lines(rules: &[Rule]) -> Vec<String> {
    if rules.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["ignored paths (never planned, applied or reported as drift):".to_owned()];
    for rule in rules {
        let why = rule
            .reason
            .as_deref()
            .map(|r| format!(": {}", crate::diagnostic::quoted(r)))
            .unwrap_or_default();
        lines.push(format!(
            "  {} ({}{why})",
            crate::diagnostic::quoted(&rule.path),
            crate::diagnostic::quoted(&rule.source)
        ));
    }
    lines
}

/// A template directory's `promote.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateSettings {
    #[serde(default)]
    ignore: Vec<Entry>,
}

/// Returns the rules of `entries`, written in `source` (whose text is `text`), each checked:
/// a pointer starting with `/`, no empty key, valid `~` escapes. Every bad rule is reported,
/// at its line.
///
/// # Errors
/// One diagnostic per bad rule, with what to write instead.
pub fn check(entries: &[Entry], source: &str, text: &str) -> Result<Vec<Rule>, Vec<Diagnostic>> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        let path = entry.path();
        match problem(path) {
            None => rules.push(Rule {
                path: path.to_owned(),
                reason: entry.reason().map(str::to_owned),
                source: source.to_owned(),
            }),
            Some(why) => problems.push(
                Diagnostic::new(format!(
                    "ignore rule `{}` {why}",
                    crate::diagnostic::quoted(path)
                ))
                .at(locate(source, text, path))
                .hint("an ignore rule is a JSON pointer from the tenant's root, `*` for any one key: /servers/*/clients/*/redirect_uris"),
            ),
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

/// What is wrong with `path` as a rule, if anything.
fn problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty: it would ignore the whole tenant");
    }
    if !path.starts_with('/') {
        return Some("does not start with `/`");
    }
    match pointer::parse(path) {
        Err(_) => Some("is not a JSON pointer (`~` is written `~0`, `/` in a key `~1`)"),
        Ok(tokens) if tokens.iter().any(String::is_empty) => {
            Some("has an empty key (two `/` in a row, or a `/` at the end)")
        }
        Ok(_) => None,
    }
}

/// The line of `source` where rule `path` is written (the first line naming it), else the file.
fn locate(source: &str, text: &str, path: &str) -> Location {
    for (n, line) in text.lines().enumerate() {
        if let Some(column) = line.find(path).filter(|_| !path.is_empty()) {
            return Location::at(source, n + 1, column + 1);
        }
    }
    Location::file(source)
}

/// Returns the rules of a template directory's `promote.yaml` (at `source`, holding `text`).
///
/// # Errors
/// The file not being `ignore:` and a list of rules, or a bad rule, with its line.
pub fn template_rules(source: &str, text: &str) -> Result<Vec<Rule>, Vec<Diagnostic>> {
    crate::yaml::parse(text, source).map_err(|d| vec![d])?;
    let settings: TemplateSettings = match serde_yaml::from_str::<Option<TemplateSettings>>(text) {
        Ok(settings) => settings.unwrap_or_default(),
        Err(e) => {
            let location = match e.location() {
                Some(l) => Location::at(source, l.line(), l.column()),
                None => Location::file(source),
            };
            return Err(vec![Diagnostic::new(format!(
                "invalid template settings: {}",
                crate::yaml::strip_position(&e.to_string())
            ))
            .at(location)
            .hint("a template's promote.yaml has `ignore:`, a list of JSON pointers (or {path, reason}) that promote leaves alone in every environment")]);
        }
    };
    check(&settings.ignore, source, text)
}

/// One segment of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `*`: any one key.
    Any,
    /// This key, unescaped.
    Key(String),
}

impl Segment {
    fn matches(&self, key: &str) -> bool {
        match self {
            Segment::Any => true,
            Segment::Key(k) => k == key,
        }
    }
}

/// The rules that apply to one tenant, ready to match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    rules: Vec<Rule>,
    patterns: Vec<Vec<Segment>>,
}

impl Ignore {
    /// No rule: nothing is ignored.
    pub const fn none() -> Ignore {
        Ignore {
            rules: Vec::new(),
            patterns: Vec::new(),
        }
    }

    /// The matcher of `rules` (checked by [`check`]; a rule that is not a pointer matches
    /// nothing).
    pub fn new(rules: Vec<Rule>) -> Ignore {
        let patterns = rules
            .iter()
            .filter_map(|r| pointer::parse(&r.path).ok())
            .map(|tokens| {
                tokens
                    .into_iter()
                    .map(|t| {
                        if t == "*" {
                            Segment::Any
                        } else {
                            Segment::Key(t)
                        }
                    })
                    .collect()
            })
            .collect();
        Ignore { rules, patterns }
    }

    /// The rules, in the order they were given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether pointer `at` is at or under a path a rule names.
    pub fn covers(&self, at: &str) -> bool {
        let Ok(tokens) = pointer::parse(at) else {
            return false;
        };
        self.patterns
            .iter()
            .any(|p| p.len() <= tokens.len() && p.iter().zip(&tokens).all(|(s, t)| s.matches(t)))
    }

    /// Removes every path a rule names from `tree`.
    pub fn strip(&self, tree: &mut Value) {
        for pattern in &self.patterns {
            strip_at(tree, pattern);
        }
    }

    /// Makes `into` hold what `from` holds at the paths the rules name, wherever `into` has
    /// the parent object: for a whole tree sent by import (which replaces everything), so that
    /// the import leaves those paths as the destination (`from`) has them.
    pub fn graft(&self, from: &Value, into: &mut Value) {
        for pattern in &self.patterns {
            strip_at(into, pattern);
            graft_at(from, into, pattern);
        }
    }
}

/// Removes the keys `pattern` names from `tree`, through objects only.
fn strip_at(tree: &mut Value, pattern: &[Segment]) {
    let (Some((first, rest)), Value::Object(map)) = (pattern.split_first(), tree) else {
        return;
    };
    if rest.is_empty() {
        map.retain(|key, _| !first.matches(key));
        return;
    }
    for (key, child) in map.iter_mut() {
        if first.matches(key) {
            strip_at(child, rest);
        }
    }
}

/// Copies the values `pattern` names in `from` into `into`, where `into` has their parents.
fn graft_at(from: &Value, into: &mut Value, pattern: &[Segment]) {
    let (Some((first, rest)), Value::Object(from), Value::Object(into)) =
        (pattern.split_first(), from, into)
    else {
        return;
    };
    for (key, value) in from.iter().filter(|(key, _)| first.matches(key)) {
        if rest.is_empty() {
            into.insert(key.clone(), value.clone());
        } else if let Some(child) = into.get_mut(key) {
            graft_at(value, child, rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ignore(paths: &[&str]) -> Ignore {
        let entries: Vec<Entry> = paths.iter().map(|p| Entry::Path((*p).into())).collect();
        Ignore::new(check(&entries, "environments/prod.yaml", "").unwrap())
    }

    #[test]
    fn a_star_matches_one_key_and_a_rule_covers_what_is_under_it() {
        let rules = ignore(&["/servers/*/clients/*/redirect_uris", "/metadata"]);
        assert!(rules.covers("/servers/w/clients/c/redirect_uris"));
        assert!(rules.covers("/servers/w/clients/c/redirect_uris/0"));
        assert!(rules.covers("/metadata"));
        assert!(rules.covers("/metadata/owner/name"));
        assert!(!rules.covers("/servers/w/clients/c"));
        assert!(!rules.covers("/servers/w/clients/c/client_name"));
        assert!(!rules.covers("/servers/w/redirect_uris"));
        assert!(!rules.covers("/metadatas"));
        assert!(!rules.covers(""));
    }

    #[test]
    fn escaped_keys_are_matched_unescaped() {
        let rules = ignore(&["/a~1b/c~0d", "/x/*/y~1z"]);
        assert!(rules.covers("/a~1b/c~0d"));
        assert!(rules.covers("/a~1b/c~0d/e"));
        assert!(!rules.covers("/a/b/c~0d"));
        assert!(rules.covers("/x/anything/y~1z"));
        let mut tree = json!({"a/b": {"c~d": 1, "k": 2}, "x": {"q": {"y/z": 3, "y": 4}}});
        rules.strip(&mut tree);
        assert_eq!(tree, json!({"a/b": {"k": 2}, "x": {"q": {"y": 4}}}));
    }

    #[test]
    fn strip_removes_every_match_through_objects_only() {
        let rules = ignore(&["/servers/*/clients/*/redirect_uris", "/list/0"]);
        let mut tree = json!({
            "servers": {
                "a": {"clients": {"c": {"redirect_uris": ["x"], "client_name": "c"}, "d": {"client_name": "d"}}},
                "b": {"clients": {"e": {"redirect_uris": []}}, "redirect_uris": ["kept"]}
            },
            "list": [1, 2]
        });
        rules.strip(&mut tree);
        assert_eq!(
            tree,
            json!({
                "servers": {
                    "a": {"clients": {"c": {"client_name": "c"}, "d": {"client_name": "d"}}},
                    "b": {"clients": {"e": {}}, "redirect_uris": ["kept"]}
                },
                "list": [1, 2]
            })
        );
    }

    #[test]
    fn graft_keeps_the_destinations_values_where_the_parent_is_kept() {
        let rules = ignore(&["/servers/*/clients/*/redirect_uris"]);
        let destination = json!({"servers": {"w": {"clients": {
            "kept": {"redirect_uris": ["dest"]}, "gone": {"redirect_uris": ["dest"]}}}}});
        let mut tree = json!({"servers": {"w": {"clients": {
            "kept": {"redirect_uris": ["source"], "client_name": "k"},
            "new": {"redirect_uris": ["source"]}}}}});
        rules.graft(&destination, &mut tree);
        assert_eq!(
            tree,
            json!({"servers": {"w": {"clients": {
                "kept": {"redirect_uris": ["dest"], "client_name": "k"},
                "new": {}}}}})
        );
    }

    #[test]
    fn no_rule_ignores_nothing() {
        let none = Ignore::none();
        assert!(none.is_empty() && !none.covers("/metadata"));
        let mut tree = json!({"metadata": 1});
        none.strip(&mut tree);
        assert_eq!(tree, json!({"metadata": 1}));
    }

    #[test]
    fn bad_rules_are_refused_at_their_line() {
        let text =
            "target: {url: https://x}\nignore:\n  - metadata\n  - /a//b\n  - /a/~2\n  - ''\n";
        let entries = vec![
            Entry::Path("metadata".into()),
            Entry::Path("/a//b".into()),
            Entry::Path("/a/~2".into()),
            Entry::Path(String::new()),
            Entry::Path("/fine".into()),
        ];
        let errors: Vec<String> = check(&entries, "environments/prod.yaml", text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(
            errors[0].starts_with(
                "environments/prod.yaml:3:5: ignore rule `metadata` does not start with `/`"
            ),
            "{}",
            errors[0]
        );
        assert!(errors[1].contains(":4:5:") && errors[1].contains("empty key"));
        assert!(errors[2].contains(":5:5:") && errors[2].contains("not a JSON pointer"));
        assert!(errors[3].contains("is empty"));
    }

    #[test]
    fn a_template_settings_file_holds_rules_with_reasons() {
        let text = "ignore:\n  - /metadata\n  - {path: /servers/*/clients/*/redirect_uris, reason: set by the deploy pipeline}\n";
        let rules = template_rules("templates/saas/promote.yaml", text).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].path, "/metadata");
        assert_eq!(
            rules[1].reason.as_deref(),
            Some("set by the deploy pipeline")
        );
        assert_eq!(rules[1].source, "templates/saas/promote.yaml");
        assert!(template_rules("x", "").unwrap().is_empty());
        let err = template_rules("templates/saas/promote.yaml", "ignores: []\n").unwrap_err();
        assert!(
            err[0]
                .to_string()
                .contains("templates/saas/promote.yaml:1:1"),
            "{}",
            err[0]
        );
    }
}
