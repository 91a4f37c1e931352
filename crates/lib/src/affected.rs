//! Which tenants a change affects: from two snapshots of the repository (a merge's base and head,
//! read from git's object database), the (environment, tenant) pairs whose rendering may differ.
//!
//! - a file under `templates/<t>/` changed, added or removed → every tenant of template `t`;
//! - a partial under `templates/_shared/` → every template that includes, imports or extends it,
//!   directly or through other partials (the dependency graph of each snapshot, read from
//!   Tera's syntax trees: [`Graph`]); a file Tera cannot parse counts as using every file;
//! - `environments/<e>.yaml` → the tenants of `e` whose rendering context changed (a change to
//!   environment-wide variables affects all of them, a change to one tenant's entry that one),
//!   and every tenant of `e` when what its plans honour changed (`ignore:` rules, `strict`);
//! - a tenant in base and not in head is reported as removed.
//!
//! Comparing snapshots rather than walking commits makes merge commits and renames simple: a
//! renamed file is a file gone and a file added, and only the two ends matter.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::environment::Tenant;
use crate::render::graph::Graph;
use crate::source::RepoFiles;

/// The tenants a change affects, per environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Affected {
    /// Environment → tenant keys whose rendering may have changed (present in head).
    pub tenants: BTreeMap<String, BTreeSet<String>>,
    /// Environment → tenant keys present in base and gone from head.
    pub removed: BTreeMap<String, BTreeSet<String>>,
    /// Templates (directories under `templates/`) whose files changed, directly or through a
    /// partial they use.
    pub templates: BTreeSet<String>,
}

impl Affected {}

/// The template directory a file belongs to (`acme` for `acme/pools/p.yaml`); `None` for
/// partials (`_shared/...`) and files at the top of `templates/`.
fn template_of(path: &str) -> Option<&str> {
    let (dir, _) = path.split_once('/')?;
    (!dir.starts_with('_')).then_some(dir)
}

/// The template files that differ between two snapshots (changed, added or removed).
fn changed_files(base: &RepoFiles, head: &RepoFiles) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, text) in &head.templates {
        if base.templates.get(path) != Some(text) {
            out.insert(path.clone());
        }
    }
    for path in base.templates.keys() {
        if !head.templates.contains_key(path) {
            out.insert(path.clone());
        }
    }
    out
}

/// The templates whose rendering may change when `changed` files change: their own files,
/// and every file that uses a changed file, transitively (in either snapshot's graph). A file
/// Tera cannot parse may use any file: it counts as using every changed one.
fn templates_touched(
    base: &RepoFiles,
    head: &RepoFiles,
    head_graph: Option<&Graph>,
    changed: &BTreeSet<String>,
) -> BTreeSet<String> {
    if changed.is_empty() {
        return BTreeSet::new();
    }
    // Reverse edges: file → files that use it, from both snapshots.
    let mut used_by: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let base_graph = Graph::parse(base);
    let parsed;
    let head_graph = match head_graph {
        Some(graph) => graph,
        None => {
            parsed = Graph::parse(head);
            &parsed
        }
    };
    let graphs = [&base_graph, head_graph];
    for graph in graphs {
        for (user, deps) in graph.files() {
            for used in deps.uses() {
                used_by.entry(used).or_default().insert(user);
            }
        }
    }
    let mut seen: BTreeSet<String> = changed.clone();
    seen.extend(graphs.iter().flat_map(|g| g.unparsed()).map(str::to_owned));
    let mut queue: Vec<String> = seen.iter().cloned().collect();
    while let Some(file) = queue.pop() {
        if let Some(users) = used_by.get(file.as_str()) {
            for u in users {
                if seen.insert((*u).to_owned()) {
                    queue.push((*u).to_owned());
                }
            }
        }
    }
    seen.iter()
        .filter_map(|f| template_of(f).map(str::to_owned))
        .collect()
}

/// The tenants of `env` in a snapshot, by key, with their rendering context when `contexts`;
/// `None` when the environment does not exist or cannot be read there.
fn tenants_of(
    files: &RepoFiles,
    env: &str,
    contexts: bool,
) -> Option<BTreeMap<String, (Tenant, Option<serde_json::Value>)>> {
    let environment = files.environment(env).ok()?;
    let tenants = environment.tenants(&files.template_dirs()).ok()?;
    Some(
        tenants
            .into_iter()
            .map(|t| {
                let context = contexts.then(|| crate::render::context(&environment, &t));
                (t.key.clone(), (t, context))
            })
            .collect(),
    )
}

/// What of environment `env`'s file every plan of its tenants honours besides their rendering
/// context: its ignore rules and whether warnings are errors. `None` when it cannot be read.
fn plan_settings(files: &RepoFiles, env: &str) -> Option<serde_json::Value> {
    let environment = files.environment(env).ok()?;
    Some(serde_json::json!({
        "ignore": environment.file.ignore,
        "strict": environment.file.strict,
    }))
}

/// The tenants of `envs` (every environment of head when empty) that the change from `base` to
/// `head` affects.
#[cfg(test)]
pub(crate) fn affected(base: &RepoFiles, head: &RepoFiles, envs: &[String]) -> Affected {
    affected_given(base, head, None, envs)
}

/// The tenants of `envs` (every environment of head when empty) that the change from `base` to
/// `head` affects, given the dependency graph of head's templates when they are compiled
/// already (`ci` compiles them for every environment): head is not parsed again for it.
pub(crate) fn affected_given(
    base: &RepoFiles,
    head: &RepoFiles,
    head_graph: Option<&Graph>,
    envs: &[String],
) -> Affected {
    let changed = changed_files(base, head);
    let templates = templates_touched(base, head, head_graph, &changed);
    let names: Vec<String> = if envs.is_empty() {
        head.environments.keys().cloned().collect()
    } else {
        envs.to_vec()
    };
    let mut out = Affected {
        templates,
        ..Affected::default()
    };
    // Tenants default to one per template directory: those count as the environment file too.
    let same_dirs = base.template_dirs() == head.template_dirs();
    for env in names {
        let same_file = same_dirs && base.environments.get(&env) == head.environments.get(&env);
        if same_file && out.templates.is_empty() {
            continue;
        }
        // The same environment file gives every tenant the same context: only the templates
        // matter (and the file, a large one in a fleet, is not read twice, nor any context made).
        let now = tenants_of(head, &env, !same_file).unwrap_or_default();
        let before = if same_file {
            None
        } else {
            Some(tenants_of(base, &env, true).unwrap_or_default())
        };
        let mut hit = BTreeSet::new();
        // A rule added or dropped changes what every tenant's plan holds, whatever it renders.
        let settings_changed = !same_file && plan_settings(base, &env) != plan_settings(head, &env);
        // Contexts were made on both sides exactly when `before` is there (`!same_file`).
        for (key, (tenant, context)) in &now {
            let context_changed = before
                .as_ref()
                .is_some_and(|b| b.get(key).map(|(_, c)| c) != Some(context));
            if settings_changed || context_changed || out.templates.contains(&tenant.template) {
                hit.insert(key.clone());
            }
        }
        let gone: BTreeSet<String> = before
            .iter()
            .flat_map(|b| b.keys())
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        if !hit.is_empty() {
            out.tenants.insert(env.clone(), hit);
        }
        if !gone.is_empty() {
            out.removed.insert(env, gone);
        }
    }
    out
}

/// Whether tenant `key` falls in shard `k` of `n` (1-based): a stable partition by a hash of the
/// key (FNV-1a, the same on every machine and release), so every tenant lands in exactly one.
pub(crate) fn in_shard(key: &str, k: usize, n: usize) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    n > 0 && (hash % n as u64) as usize == k.wrapping_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;
    use proptest::prelude::*;

    fn snapshot(templates: &[(&str, &str)], envs: &[(&str, &str)]) -> RepoFiles {
        RepoFiles {
            templates: templates
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            environments: envs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        }
    }

    const TEMPLATES: &[(&str, &str)] = &[
        (
            "a/tenant.yaml",
            "name: a\n{% include \"_shared/chain.yaml\" %}\n",
        ),
        (
            "b/tenant.yaml",
            "{%- import '_shared/macros.tera' as m -%}\nname: b\n",
        ),
        ("c/tenant.yaml", "name: c\n"),
        ("_shared/chain.yaml", "{% include \"_shared/leaf.yaml\" %}"),
        ("_shared/leaf.yaml", "x: 1\n"),
        ("_shared/macros.tera", "{% macro m() %}m{% endmacro %}"),
    ];

    const PROD: &str = "target:\n  url: https://p.test\nvars:\n  domain: example.com\ntenants:\n  a1: { template: a, id: a1 }\n  a2: { template: a, id: a2 }\n  b1: { template: b, id: b1 }\n  c1: { template: c, id: c1, vars: { x: 1 } }\n";
    const STAGING: &str = "target:\n  url: https://s.test\ntenants:\n  a1: { template: a, id: a1-s }\n  c1: { template: c, id: c1-s }\n";

    fn base() -> RepoFiles {
        snapshot(TEMPLATES, &[("prod", PROD), ("staging", STAGING)])
    }

    fn with_template(path: &str, text: &str) -> RepoFiles {
        let mut s = base();
        s.templates.insert(path.into(), text.into());
        s
    }

    fn keys(a: &Affected, env: &str) -> Vec<String> {
        a.tenants
            .get(env)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn tags_the_syntax_tree_does_not_hold_are_no_dependency() {
        // `c` mentions the partials in a comment, a raw block and a string: a change to them
        // does not affect it (a text scan of the tags said it did).
        let base = with_template(
            "c/tenant.yaml",
            "{# {% include \"_shared/leaf.yaml\" %} #}{% raw %}{% import '_shared/macros.tera' as m %}{% endraw %}\nname: \"{{ '{% include \"_shared/leaf.yaml\" %}' }}\"\n",
        );
        let mut head = base.clone();
        head.templates
            .insert("_shared/leaf.yaml".into(), "x: 2\n".into());
        head.templates.insert(
            "_shared/macros.tera".into(),
            "{% macro m() %}n{% endmacro %}".into(),
        );
        let a = affected(&base, &head, &[]);
        assert_eq!(keys(&a, "prod"), ["a1", "a2", "b1"]);
        assert_eq!(a.templates.iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn an_include_after_a_comment_holding_a_tag_start_is_a_dependency() {
        // A text scan read `{% #}{% include ... %}` as one tag and missed the include.
        let base = with_template(
            "c/tenant.yaml",
            "{# {% #}{% include \"_shared/leaf.yaml\" %}\nname: c\n",
        );
        let head = {
            let mut h = base.clone();
            h.templates
                .insert("_shared/leaf.yaml".into(), "x: 2\n".into());
            h
        };
        assert_eq!(keys(&affected(&base, &head, &[]), "staging"), ["a1", "c1"]);
    }

    #[test]
    fn a_file_tera_cannot_parse_may_use_any_changed_file() {
        let base = with_template(
            "c/tenant.yaml",
            "{% if %}{% include \"_shared/leaf.yaml\" %}\n",
        );
        let mut head = base.clone();
        head.templates.insert(
            "_shared/macros.tera".into(),
            "{% macro m() %}n{% endmacro %}".into(),
        );
        assert_eq!(keys(&affected(&base, &head, &[]), "prod"), ["b1", "c1"]);
    }

    #[test]
    fn no_change_affects_nothing() {
        assert_eq!(affected(&base(), &base(), &[]), Affected::default());
    }

    #[test]
    fn a_template_file_affects_its_tenants_only() {
        let head = with_template("c/tenant.yaml", "name: c2\n");
        let a = affected(&base(), &head, &[]);
        assert_eq!(keys(&a, "prod"), ["c1"]);
        assert_eq!(keys(&a, "staging"), ["c1"]);
    }

    #[test]
    fn a_partial_affects_the_templates_using_it_through_a_chain() {
        let head = with_template("_shared/leaf.yaml", "x: 2\n");
        let a = affected(&base(), &head, &[]);
        assert_eq!(keys(&a, "prod"), ["a1", "a2"]);
        assert_eq!(keys(&a, "staging"), ["a1"]);
        let head = with_template("_shared/macros.tera", "{% macro m() %}n{% endmacro %}");
        assert_eq!(keys(&affected(&base(), &head, &[]), "prod"), ["b1"]);
    }

    #[test]
    fn environment_changes_affect_what_their_context_touches() {
        let mut head = base();
        head.environments
            .insert("prod".into(), PROD.replace("example.com", "example.org"));
        let a = affected(&base(), &head, &[]);
        assert_eq!(keys(&a, "prod"), ["a1", "a2", "b1", "c1"]);
        assert!(keys(&a, "staging").is_empty());

        let mut head = base();
        head.environments.insert(
            "prod".into(),
            PROD.replace("vars: { x: 1 }", "vars: { x: 2 }"),
        );
        assert_eq!(keys(&affected(&base(), &head, &[]), "prod"), ["c1"]);

        let mut head = base();
        head.environments.insert(
            "prod".into(),
            PROD.replace("  a2: { template: a, id: a2 }\n", ""),
        );
        let a = affected(&base(), &head, &["prod".into()]);
        assert!(keys(&a, "prod").is_empty());
        assert_eq!(a.removed["prod"].iter().collect::<Vec<_>>(), ["a2"]);
    }

    /// Regression: dropping an environment's ignore rule changed what every tenant's plan holds,
    /// and `ci` said "no tenant affected", so the path was never planned again.
    #[test]
    fn a_changed_ignore_rule_or_strictness_affects_every_tenant_of_its_environment() {
        for edit in [
            "ignore:\n  - /servers/*/clients/*/redirect_uris\n",
            "strict: true\n",
        ] {
            let mut head = base();
            head.environments
                .insert("prod".into(), format!("{PROD}{edit}"));
            let a = affected(&base(), &head, &[]);
            assert_eq!(keys(&a, "prod"), ["a1", "a2", "b1", "c1"], "{edit}");
            assert!(keys(&a, "staging").is_empty());
            // And the other way: the rule dropped.
            let a = affected(&head, &base(), &[]);
            assert_eq!(keys(&a, "prod"), ["a1", "a2", "b1", "c1"], "{edit}");
        }
    }

    #[test]
    fn a_renamed_template_file_affects_its_tenants() {
        let mut head = base();
        let text = head.templates.remove("c/tenant.yaml").unwrap();
        head.templates
            .insert("c/pools/p.yaml".into(), "{}\n".into());
        head.templates.insert("c/tenant.yaml".into(), text);
        assert_eq!(keys(&affected(&base(), &head, &[]), "prod"), ["c1"]);
    }

    #[test]
    fn a_template_directory_gone_removes_its_default_tenant() {
        // No `tenants:`: one tenant per template directory.
        let env = "target:\n  url: https://d.test\n";
        let before = snapshot(TEMPLATES, &[("dev", env)]);
        let mut after = before.clone();
        after.templates.remove("c/tenant.yaml");
        let a = affected(&before, &after, &[]);
        assert_eq!(a.removed["dev"].iter().collect::<Vec<_>>(), ["c"]);
        assert!(keys(&a, "dev").is_empty());
        let a = affected(&after, &before, &[]);
        assert_eq!(keys(&a, "dev"), ["c"]);
    }

    proptest! {
        #[test]
        fn shards_partition_the_tenants(keys in prop::collection::btree_set("[a-z0-9-]{1,12}", 0..60), n in 1usize..9) {
            for key in &keys {
                let owners = (1..=n).filter(|k| in_shard(key, *k, n)).count();
                prop_assert_eq!(owners, 1, "{} in {} shards", key, owners);
            }
        }
    }
}
