//! Giving the templates of a repository their modeline (`promote schema --annotate`), without
//! changing what any of them renders to.
//!
//! Tera wants `{% import %}` and `{% extends %}` first, before any text, and a tag written with
//! `-` (`{%-`, `-%}`) eats the whitespace beside it, newlines included. So the line goes after
//! the tags that must come first and the comments around them, at the start of a line, and only
//! where the text after it does not begin with a tag that would eat its newline. A template that
//! extends another is left alone: its text outside blocks is never rendered.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{has_modeline, kind_of, modeline, ENVIRONMENT};
use crate::diagnostic::{Diagnostic, Doing, Result};

/// What annotating a repository did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Annotated {
    /// Files that got their modeline, relative to the repository.
    pub annotated: Vec<String>,
    /// Files that already had one.
    pub already: Vec<String>,
    /// Files left alone, and why.
    pub skipped: Vec<(String, String)>,
}

/// Returns `text` with `line` inserted where it changes nothing Tera renders, or why it cannot
/// be.
pub(crate) fn insert(text: &str, line: &str) -> Result<String, &'static str> {
    let mut pos = 0;
    loop {
        let rest = &text[pos..];
        let start = rest.len() - rest.trim_start().len();
        let tag = &rest[start..];
        let end = if tag.starts_with("{#") {
            tag.find("#}").map(|i| i + 2)
        } else if tag.starts_with("{%") {
            let Some(close) = tag.find("%}") else { break };
            let inner = tag[2..close].trim_matches(|c: char| c == '-' || c.is_whitespace());
            if inner.starts_with("extends ") {
                return Err(
                    "it extends another template, so its text outside blocks is never rendered",
                );
            }
            if !inner.starts_with("import ") {
                break;
            }
            Some(close + 2)
        } else {
            break;
        };
        let Some(end) = end else {
            return Err("a Tera comment at its top is not closed");
        };
        pos += start + end;
    }
    if pos > 0 {
        let rest = &text[pos..];
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        if !rest[..line_end].trim().is_empty() {
            return Err("text follows the tags at its top on the same line");
        }
        pos += line_end;
    }
    let after = text[pos..].trim_start();
    if ["{%-", "{{-", "{#-"].iter().any(|t| after.starts_with(t)) {
        return Err("the text after its top tags begins with a tag that trims whitespace (`{%-`), which would join the line to it");
    }
    let mut out = String::with_capacity(text.len() + line.len() + 2);
    out.push_str(&text[..pos]);
    if pos > 0 && !text[..pos].ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out.push_str(&text[pos..]);
    Ok(out)
}

/// The modeline of a repository file (path relative to the repository, with `/`), when it is a
/// file of the layout under `templates/<template>/` or an environment file.
pub(crate) fn line_for(path: &str) -> Option<String> {
    let depth = path.matches('/').count();
    if let Some(name) = path.strip_prefix("environments/") {
        return (!name.contains('/') && name.ends_with(".yaml"))
            .then(|| modeline(depth, ENVIRONMENT));
    }
    let (template, rest) = path.strip_prefix("templates/")?.split_once('/')?;
    if template.starts_with('_') {
        return None;
    }
    kind_of(rest).map(|kind| modeline(depth, kind))
}

/// Gives every file of the layout under `templates/` and every environment file of the
/// repository `repo` its modeline, where it has none and where it changes nothing rendered.
/// Symlinks are not followed.
pub fn annotate_repository(repo: &Path) -> Result<Annotated> {
    let mut done = Annotated::default();
    for top in ["environments", "templates"] {
        let root = repo.join(top);
        if !root.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = Vec::new();
        // Not through a symlinked templates/ or environments/: files are rewritten in place.
        for entry in WalkDir::new(&root)
            .follow_root_links(false)
            .sort_by_file_name()
        {
            let entry = entry.doing(|| format!("cannot read {}", root.display()))?;
            if entry.file_type().is_file() {
                files.push(entry.into_path());
            }
        }
        for path in files {
            let Ok(rel) = path.strip_prefix(repo) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let Some(line) = line_for(&rel) else {
                continue;
            };
            let text = crate::files::read_input(&path)
                .map_err(Diagnostic::from)
                .and_then(|b| String::from_utf8(b).map_err(|e| Diagnostic::new(e.to_string())))
                .doing(|| format!("cannot read {}", path.display()))?;
            if has_modeline(&text) {
                done.already.push(rel);
                continue;
            }
            match insert(&text, &line) {
                Ok(new) => {
                    crate::files::write_atomic(&path, new.as_bytes())
                        .doing(|| format!("cannot write {}", path.display()))?;
                    done.annotated.push(rel);
                }
                Err(why) => done.skipped.push((rel, why.to_owned())),
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "# yaml-language-server: $schema=../schema/x.json";

    #[test]
    fn goes_first_in_a_plain_file() {
        assert_eq!(insert("a: 1\n", LINE).unwrap(), format!("{LINE}\na: 1\n"));
        assert_eq!(insert("", LINE).unwrap(), format!("{LINE}\n"));
    }

    #[test]
    fn goes_after_imports_and_comments_that_trim() {
        let text =
            "{% import \"_shared/m.tera\" as m -%}\n{#- a comment\n   on two lines -#}\nname: x\n";
        let out = insert(text, LINE).unwrap();
        assert_eq!(
            out,
            format!("{{% import \"_shared/m.tera\" as m -%}}\n{{#- a comment\n   on two lines -#}}\n{LINE}\nname: x\n")
        );
    }

    #[test]
    fn refuses_where_it_would_change_the_rendering() {
        assert!(insert("{% extends \"b\" %}{% block x %}{% endblock %}", LINE).is_err());
        assert!(insert("{%- if a %}x: 1{% endif %}\n", LINE).is_err());
        assert!(insert("{% import \"m\" as m %} name: x\n", LINE).is_err());
        assert!(insert("{# open", LINE).is_err());
    }

    #[test]
    fn renders_the_same_with_the_line() {
        let mut tera = tera::Tera::default();
        tera.add_raw_template("m", "{% macro f(x) %}<{{ x }}>{% endmacro %}")
            .unwrap();
        let texts = [
            "{% import \"m\" as m -%}\n{#- c -#}\nname: {{ m::f(x=1) }}\n",
            "{#- c -#}\nname: 1\n",
            "{% if true %}\na: 1\n{% endif %}\n",
            "{% import \"m\" as m %}\n\nb: {{ m::f(x=2) }}\n",
        ];
        for text in texts {
            let with = insert(text, LINE).unwrap();
            let render = |t: &str| {
                let mut tera = tera.clone();
                tera.add_raw_template("t", t).unwrap();
                tera.render("t", &tera::Context::new()).unwrap()
            };
            let before = render(text);
            let after = render(&with);
            assert!(after.contains(LINE), "{after}");
            assert_eq!(
                serde_yaml::from_str::<serde_json::Value>(&before).unwrap(),
                serde_yaml::from_str::<serde_json::Value>(&after).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn knows_which_files_get_a_line() {
        assert_eq!(
            line_for("environments/prod.yaml").unwrap(),
            "# yaml-language-server: $schema=../schema/environment.json"
        );
        assert_eq!(
            line_for("templates/acme/workspaces/default/clients/web.yaml").unwrap(),
            "# yaml-language-server: $schema=../../../../../schema/clients.json"
        );
        assert_eq!(
            line_for("templates/acme/tenant.yaml").unwrap(),
            "# yaml-language-server: $schema=../../schema/tenant.json"
        );
        for none in [
            "templates/_shared/claims/email.yaml",
            "templates/acme/workspaces/default/scripts/x.js",
            "templates/acme/notes.md",
            "environments/old/prod.yaml",
        ] {
            assert_eq!(line_for(none), None, "{none}");
        }
    }
}
