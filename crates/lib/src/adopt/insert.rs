//! Inserting a key into a hand-written YAML template, textually: the file's comments, order and
//! formatting stay as they are, and only new lines are added.
//!
//! The place is found with the key locator the diagnostics use
//! ([`crate::diagnostic::locate_yaml_keys`]), checked key by key. An insertion is refused, with
//! the reason, wherever it cannot be made safely: a parent written in flow style (`{...}`) or by
//! an expression (`metadata: {{ m::labels() }}`), a block holding Tera tags (`{% if %}`: the
//! new lines might land inside a branch), a file that ends with a Tera tag (a file wrapped in
//! `{% if %}` is an entry only some tenants have), a key the template does not spell out
//! ([`crate::diagnostic::locate_yaml_keys_exactly`]). The caller
//! renders the tenant again afterwards and undoes the write if it does not give the value back.

/// Where new lines went in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// The new text of the file.
    pub text: String,
    /// The first and last line (1-based) of the inserted lines in it.
    pub lines: (usize, usize),
}

/// Why a snippet could not be inserted, and where it belongs for a person to paste it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub reason: String,
    /// Where to paste it: "under `metadata:` (line 12)" or "at the end of the file".
    pub place: String,
}

/// Inserts `snippet` (YAML of one key and its value, at indentation 0, ending in a newline)
/// into `text`, under the map at the key path `parent` (empty: the file's root map).
pub(crate) fn insert(text: &str, parent: &[&str], snippet: &str) -> Result<Inserted, Refusal> {
    if parent.is_empty() {
        return at_root(text, snippet);
    }
    let lines: Vec<&str> = text.lines().collect();
    let (line, column) = locate(text, parent)?;
    let last_key = parent[parent.len() - 1];
    let place = format!("under `{last_key}:` (line {line})");
    let refuse = |reason: &str| Refusal {
        reason: reason.to_owned(),
        place: place.clone(),
    };
    let key_line = lines[line - 1];
    let after_key = key_after(&key_line[column - 1..], last_key).unwrap_or_default();
    let rest = after_key.trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(refuse(&format!(
            "`{last_key}` is written on one line (`{}`), in flow style or by an expression",
            crate::diagnostic::one_line(rest, 60)
        )));
    }
    let key_indent = column - 1;
    // The parent's block: the lines after it indented deeper (blank lines inside it too).
    let mut end = line; // index (0-based) one past the block's last non-blank line
    let mut child_indent = None;
    for (n, l) in lines.iter().enumerate().skip(line) {
        if l.trim().is_empty() {
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        if indent <= key_indent {
            break;
        }
        if child_indent.is_none() && !l.trim_start().starts_with('#') {
            child_indent = Some(indent);
        }
        end = n + 1;
    }
    let Some(child_indent) = child_indent else {
        return Err(refuse(&format!(
            "`{last_key}` has no keys written under it"
        )));
    };
    let block = &lines[line - 1..end];
    if block.iter().any(|l| l.contains("{%")) {
        return Err(refuse(&format!(
            "the block of `{last_key}` holds Tera tags ({{% ... %}}): the new lines could land inside one"
        )));
    }
    if lines[line..end]
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .is_some_and(|l| l.trim_start().starts_with('-'))
    {
        return Err(refuse(&format!("`{last_key}` holds a list, not keys")));
    }
    let pad = " ".repeat(child_indent);
    let added: Vec<String> = snippet
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect();
    Ok(splice(text, &lines, end, &added))
}

/// Appends `snippet` at the end of the file's root map (or replaces an empty `{}`).
fn at_root(text: &str, snippet: &str) -> Result<Inserted, Refusal> {
    let place = "at the end of the file".to_owned();
    let lines: Vec<&str> = text.lines().collect();
    let content: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(n, l)| (n, *l))
        .collect();
    let added: Vec<String> = snippet.lines().map(str::to_owned).collect();
    if content.last().is_some_and(|(_, l)| l.contains("{%")) {
        return Err(Refusal {
            reason: "the file ends with a Tera tag: the new lines could belong inside its block (a file wrapped in {% if %} is an entry only some tenants have)".into(),
            place,
        });
    }
    // The YAML of the file, without the lines of Tera tags and comments (`{% import %}`).
    let yaml: Vec<(usize, &str)> = content
        .into_iter()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !(t.starts_with("{%") || t.starts_with("{#"))
        })
        .collect();
    match yaml.as_slice() {
        [(n, only)] if only.trim() == "{}" => {
            let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            out.splice(*n..=*n, added.iter().cloned());
            let mut text = out.join("\n");
            text.push('\n');
            Ok(Inserted {
                text,
                lines: (n + 1, n + added.len()),
            })
        }
        [(_, first), ..] if is_flow(first) => Err(Refusal {
            reason: "the file is written in flow style ({...})".into(),
            place,
        }),
        _ => Ok(splice(text, &lines, lines.len(), &added)),
    }
}

/// Whether a file's first line of content opens a flow map or list (not a Tera tag).
fn is_flow(line: &str) -> bool {
    let t = line.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && !(t.starts_with("{{") || t.starts_with("{%") || t.starts_with("{#"))
}

/// `text` with `added` lines put before line index `at` of `lines`.
fn splice(text: &str, lines: &[&str], at: usize, added: &[String]) -> Inserted {
    let mut out: Vec<String> = lines[..at].iter().map(|l| (*l).to_owned()).collect();
    let first = out.len() + 1;
    out.extend(added.iter().cloned());
    out.extend(lines[at..].iter().map(|l| (*l).to_owned()));
    let mut new = out.join("\n");
    if text.ends_with('\n') || at == lines.len() {
        new.push('\n');
    }
    Inserted {
        text: new,
        lines: (first, first + added.len() - 1),
    }
}

/// The text after `key:` at the start of `at`, if `at` starts with the key (plain or quoted).
fn key_after<'a>(at: &'a str, key: &str) -> Option<&'a str> {
    let at = at.strip_prefix("- ").unwrap_or(at);
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .find_map(|k| at.strip_prefix(k.as_str()))
}

/// The line and column (1-based) of the last key of `keys`, found with
/// [`crate::diagnostic::locate_yaml_keys_exactly`].
fn locate(text: &str, keys: &[&str]) -> Result<(usize, usize), Refusal> {
    crate::diagnostic::locate_yaml_keys_exactly(text, keys).ok_or_else(|| Refusal {
        reason: format!(
            "`{}` is not written out in the file key by key (a macro, an include or a loop makes it)",
            keys.join(".")
        ),
        place: format!("under `{}:`", keys.join(":` → `")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "# The web client.\nclient_name: Web\nmetadata:\n  # who owns it\n  team: web\n\n  repo: x\nscopes: [openid]\n";

    #[test]
    fn a_key_goes_at_the_end_of_its_parents_block_keeping_comments() {
        let done = insert(CLIENT, &["metadata"], "owner: ops\n").unwrap();
        assert_eq!(
            done.text,
            "# The web client.\nclient_name: Web\nmetadata:\n  # who owns it\n  team: web\n\n  repo: x\n  owner: ops\nscopes: [openid]\n"
        );
        assert_eq!(done.lines, (8, 8));
        let root = insert(CLIENT, &[], "owner:\n  name: ops\n").unwrap();
        assert!(root
            .text
            .ends_with("scopes: [openid]\nowner:\n  name: ops\n"));
        assert_eq!(root.lines, (9, 10));
    }

    #[test]
    fn an_empty_file_map_is_replaced() {
        let done = insert("# empty\n{}\n", &[], "a: 1\n").unwrap();
        assert_eq!(done.text, "# empty\na: 1\n");
        assert_eq!(done.lines, (2, 2));
    }

    #[test]
    fn unsafe_places_are_refused_with_where_the_lines_belong() {
        let flow = "metadata: {team: web}\n";
        let e = insert(flow, &["metadata"], "owner: ops\n").unwrap_err();
        assert!(e.reason.contains("one line"), "{e:?}");
        assert_eq!(e.place, "under `metadata:` (line 1)");
        let templated = "metadata: {{ m::labels() }}\n";
        assert!(insert(templated, &["metadata"], "owner: ops\n").is_err());
        let tags = "metadata:\n  team: web\n{% if vars.eu %}\n  region: eu\n{% endif %}\n";
        // `{% if %}` at column 0 ends the block; the one inside is refused.
        let inside = "metadata:\n  team: web\n  {% if vars.eu %}\n  region: eu\n  {% endif %}\n";
        assert!(insert(tags, &["metadata"], "owner: ops\n").is_ok());
        let e = insert(inside, &["metadata"], "owner: ops\n").unwrap_err();
        assert!(e.reason.contains("Tera tags"), "{e:?}");
        // The first `metadata:` of the file is not the client's.
        let nested = "settings:\n  metadata:\n    x: 1\nmetadata:\n  team: web\n";
        let done = insert(nested, &["metadata"], "owner: ops\n").unwrap();
        assert_eq!(
            done.text,
            "settings:\n  metadata:\n    x: 1\nmetadata:\n  team: web\n  owner: ops\n"
        );
        let deeper = "a:\n  b:\n    c:\n      d: 1\n  c:\n    e: 2\n";
        let done = insert(deeper, &["a", "c"], "f: 3\n").unwrap();
        assert_eq!(
            done.text,
            "a:\n  b:\n    c:\n      d: 1\n  c:\n    e: 2\n    f: 3\n"
        );
        let missing = "client_name: x\n";
        let e = insert(missing, &["metadata"], "owner: ops\n").unwrap_err();
        assert!(e.reason.contains("not written out"), "{e:?}");
        let flow_file = "{% import \"m.tera\" as m -%}\n{client_name: x}\n";
        assert!(insert(flow_file, &[], "a: 1\n").is_err());
        let wrapped = "{% if vars.gold %}\nclient_name: x\n{% endif %}\n";
        let e = insert(wrapped, &[], "a: 1\n").unwrap_err();
        assert!(e.reason.contains("ends with a Tera tag"), "{e:?}");
        let imported = "{% import \"m.tera\" as m -%}\n# empty\n{}\n";
        assert_eq!(
            insert(imported, &[], "a: 1\n").unwrap().text,
            "{% import \"m.tera\" as m -%}\n# empty\na: 1\n"
        );
    }
}
