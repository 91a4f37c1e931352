//! Whether a file is in exactly the form export writes: the test export applies before it
//! overwrites or removes a file its manifest lists.
//!
//! The manifest is a file of the repository: anyone who can change the repository can list a
//! file in it with the digest of its content, so a listed digest proves nothing about who wrote
//! the file. What export may replace is decided by the content itself: a file export could have
//! written, byte for byte, holds data only (no template logic of a person's, no comment, no
//! formatting of a person's), so replacing it with what the platform holds loses nothing but
//! values, which is what export is for. The test re-reads the file as promote reads it and
//! writes it again as export writes it; only a file that comes back byte for byte passes.

use serde_json::Value;

use crate::layout;
use crate::templatize::{self, Substitutions};
use crate::yaml;

/// The form of the files [`super::write_dir`] writes.
#[derive(Debug, Clone, Copy, Default)]
pub enum Form<'a> {
    /// Plain YAML and sidecar text (rendered trees, not templates).
    #[default]
    Plain,
    /// Templates, as export writes them: literal template syntax escaped and, where an export
    /// with `--templatize` put them, the expressions of the tenant ID and variables.
    Templates {
        /// The context the expressions render in (the renderer's: `tenant.id`, `vars`).
        context: &'a Value,
        /// With the JSON Schema modeline of each YAML file, for a tenant directory this many
        /// directories below the repository ([`crate::schema::add_modelines`]).
        modelines: Option<usize>,
    },
}

/// Whether `content`, at `rel` in a tenant's directory, is exactly what export writes there in
/// `form` for some tree: a path the layout writes, and a content that read back and written
/// again gives the same bytes. Template syntax other than the expressions export writes, a
/// comment, a key order or a quoting of a person's: not export's form.
pub(super) fn is_export_form(rel: &str, content: &[u8], form: Form<'_>) -> bool {
    let Ok(text) = std::str::from_utf8(content) else {
        return false;
    };
    let (read, subs) = match form {
        Form::Plain => (text.to_owned(), None),
        Form::Templates { context, modelines } => {
            // The modeline export writes heads the file (or none: an export made outside a
            // work tree writes none).
            let line = modelines.and_then(|depth| crate::schema::modeline_of(rel, depth));
            if let Some(rest) = line.and_then(|line| {
                text.strip_prefix(line.as_str())
                    .and_then(|r| r.strip_prefix('\n'))
            }) {
                let without = Form::Templates {
                    context,
                    modelines: None,
                };
                return is_export_form(rel, rest.as_bytes(), without);
            }
            // Checked before rendering: a person's template is never run here.
            if !only_export_expressions(text) {
                return false;
            }
            let subs = Substitutions::new(context.clone());
            match subs.render(text) {
                Ok(read) => (read, Some(subs)),
                Err(_) => return false,
            }
        }
    };
    let yaml = rel.ends_with(".yaml");
    let Some(value) = read_back(rel, &read, yaml) else {
        return false;
    };
    let write = |v: &Value| match v {
        Value::String(s) if !yaml => s.clone(),
        v => yaml::to_string(v),
    };
    let Some(subs) = subs else {
        return write(&value) == text;
    };
    if templatize::escape(&write(&value)) == text {
        return true;
    }
    // Written by an export with --templatize: the same strings as expressions.
    let mut marked_value = value;
    let marked = subs.mark(&mut marked_value);
    !marked.is_empty()
        && subs.expressions(&templatize::escape(&write(&marked_value)), &marked, yaml) == text
}

/// The value a file holds when the layout reads it (a YAML file's value, a sidecar's text), or
/// `None` when the layout would not read the file at `rel` as part of a tenant.
fn read_back(rel: &str, read: &str, yaml: bool) -> Option<Value> {
    let mut files = vec![(rel.to_owned(), read.to_owned())];
    if !yaml {
        // A sidecar is read into the entry beside it.
        let (stem, _) = rel.rsplit_once('.')?;
        files.push((format!("{stem}.yaml"), "{}\n".to_owned()));
    }
    if let Err(problems) = layout::read(&layout::TENANT, &layout::Dir::from_files(files), "") {
        if problems
            .iter()
            .any(|p| p.location.as_ref().is_some_and(|l| l.file == rel))
        {
            return None;
        }
    }
    if yaml {
        yaml::parse(read, rel).ok()
    } else {
        Some(Value::String(read.to_owned()))
    }
}

/// The expressions export writes: escapes of literal template syntax ([`templatize::escape`],
/// and `{{ "{" }}` before an expression) and, with substitutions, `{{ tenant.id }}` and
/// `{{ vars.NAME }}`.
fn only_export_expressions(text: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let at = &rest[i..];
        if !(at.starts_with("{{") || at.starts_with("{%") || at.starts_with("{#")) {
            rest = &at[1..];
            continue;
        }
        let Some(len) = export_expression(at) else {
            return false;
        };
        rest = &at[len..];
    }
    true
}

/// The length of the expression export writes at the start of `at`, if it is one.
fn export_expression(at: &str) -> Option<usize> {
    for escape in [
        "{{ \"{{\" }}",
        "{{ \"{%\" }}",
        "{{ \"{#\" }}",
        "{{ \"{\" }}",
    ] {
        if at.starts_with(escape) {
            return Some(escape.len());
        }
    }
    let inner = at.strip_prefix("{{ ")?;
    let end = inner.find(" }}")?;
    let name = &inner[..end];
    let plain = name == "tenant.id"
        || name
            .strip_prefix("vars.")
            .is_some_and(templatize::is_identifier);
    plain.then_some("{{ ".len() + end + " }}".len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Value {
        json!({"tenant": {"id": "acme-prod"}, "vars": {"domain": "acme.example.com"}})
    }

    #[test]
    fn what_export_writes_is_in_its_form() {
        let ctx = context();
        let t = Form::Templates {
            context: &ctx,
            modelines: None,
        };
        assert!(is_export_form("tenant.yaml", b"name: Acme\n", t));
        assert!(is_export_form("tenant.yaml", b"name: Acme\n", Form::Plain));
        assert!(is_export_form(
            "workspaces/acme-prod/clients/web.yaml",
            b"redirect_uris:\n- \"https://{{ vars.domain }}/cb\"\n",
            t
        ));
        assert!(is_export_form(
            "tenant.yaml",
            b"name: a {{ \"{{\" }} b\n",
            t
        ));
    }

    #[test]
    fn what_a_person_writes_is_not() {
        let ctx = context();
        let t = Form::Templates {
            context: &ctx,
            modelines: None,
        };
        for (rel, text) in [
            ("handwritten.yaml", "name: a\n"),
            ("tenant.yaml", "# my template\nname: a\n"),
            ("tenant.yaml", "name: a # why\n"),
            ("tenant.yaml", "name: 'a'\n"),
            ("tenant.yaml", "b: 1\na: 2\n"),
            ("tenant.yaml", "name: {{ vars.domain }}\n"),
            ("tenant.yaml", "{% if true %}name: a\n{% endif %}"),
            ("tenant.yaml", "{# note #}name: a\n"),
            ("tenant.yaml", "name: \"{{ vars.domain | upper }}\"\n"),
            ("tenant.yaml", "name: \"{{ secret('x') }}\"\n"),
            ("tenant.yaml", "name: \"x{{ vars.domain }}\"\n"),
            ("NOTES.md", "mine\n"),
        ] {
            assert!(!is_export_form(rel, text.as_bytes(), t), "{rel}: {text}");
        }
        assert!(!is_export_form("tenant.yaml", b"\xff", t));
    }
}
