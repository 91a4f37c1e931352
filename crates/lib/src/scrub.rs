//! The last line of defence for credentials in text: every credential value this process holds
//! (the platform client's secret, the HTTP `Authorization` values made from it, access tokens,
//! the `PROMOTE_SECRET_*` values an apply sends) is registered here as it is read, and every text
//! that leaves the process for a person (stderr: errors, warnings, logs at any level) goes
//! through [`scrub`], which replaces each registered value by [`REDACTED`].
//!
//! Redaction by field name ([`crate::credentials::redact`]) keeps credentials out of plans and reports; this
//! catches a value where no field name says what it is: a platform error that echoes a request
//! body, an HTTP library's trace of the bytes it sent, a message that quotes a header.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::{LazyLock, RwLock};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use promote_platform::credentials::REDACTED;

/// Values shorter than this are not registered: scrubbing `"x"` would mangle every message, and
/// no platform issues credentials that short.
pub(crate) const MIN_LEN: usize = 6;

static KNOWN: LazyLock<RwLock<Vec<String>>> = LazyLock::new(|| RwLock::new(Vec::new()));

/// Registers a credential value: from now on [`scrub`] replaces it wherever it appears, as it
/// is and as a JSON string holds it, once or twice (a platform that echoes a request shows `"`
/// as `\"` and a new line as `\n`, some show `/` as `\/`, and an echo of a request body held in
/// a JSON string escapes it all again).
pub(crate) fn register(value: &str) {
    let forms = forms(value);
    if forms.is_empty() {
        return;
    }
    let mut known = KNOWN
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = known.len();
    for form in forms {
        if !known.contains(&form) {
            known.push(form);
        }
    }
    // Longest first, so that a value that contains another is replaced whole. An apply
    // registers the same values for every tenant: sort only when one is new.
    if known.len() > before {
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// What percent-encoding leaves alone: letters and digits ([`NON_ALPHANUMERIC`] encodes all the
/// rest); also RFC 3986's unreserved marks (most URL libraries); also JavaScript's
/// `encodeURIComponent`'s.
const URL_FORMS: [&AsciiSet; 3] = [
    NON_ALPHANUMERIC,
    &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~'),
    &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'!')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')'),
];

/// The forms of credential `value` that are scrubbed ([`register`]): as it is, as a JSON
/// string holds it (once or twice), and percent-encoded as URLs and forms write it (a secret
/// in a redirect URI's query); none when it is shorter than [`MIN_LEN`]. Other
/// transformations (base64, a value cut in two) are not recognised.
fn forms(value: &str) -> Vec<String> {
    if value.len() < MIN_LEN {
        return Vec::new();
    }
    let mut forms = vec![value.to_owned()];
    let mut inner = value.to_owned();
    for _ in 0..2 {
        let Ok(quoted) = serde_json::to_string(&inner) else {
            break;
        };
        inner = quoted[1..quoted.len() - 1].to_owned();
        forms.push(inner.replace('/', "\\/"));
        forms.push(inner.clone());
    }
    for set in URL_FORMS {
        let encoded = utf8_percent_encode(value, set).to_string();
        if encoded.contains("%20") {
            forms.push(encoded.replace("%20", "+"));
        }
        forms.push(lower_hex(&encoded));
        forms.push(encoded);
    }
    forms.sort();
    forms.dedup();
    forms
}

/// `encoded` with percent-encoding's hex digits in lower case (`%2f`), as some encoders write
/// them.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        // An encoder's escape is `%` and two ASCII hex digits.
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// Returns `text` with every registered credential value replaced by `<redacted>`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let known = KNOWN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    replaced(text, &known)
}

/// `text` with each of `known` (longest first) replaced by `<redacted>`.
fn replaced<'t>(text: &'t str, known: &[String]) -> Cow<'t, str> {
    if !known.iter().any(|k| text.contains(k.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for k in known {
        if out.contains(k.as_str()) {
            out = out.replace(k.as_str(), REDACTED);
        }
    }
    Cow::Owned(out)
}

/// Credential values held for one tenant only (those its export for a backup carries), in
/// every form [`register`] scrubs: what is shown of that tenant shows none of them, wherever
/// the platform put them (a client secret someone copied into a description). Kept apart from
/// the values of the whole process, which every text is searched for: a fleet's tenants hold
/// thousands.
#[derive(Debug, Default)]
pub(crate) struct Held(Vec<String>);

impl Held {
    /// The values of `values` worth scrubbing, in every form.
    pub(crate) fn new<'v>(values: impl IntoIterator<Item = &'v str>) -> Held {
        Held(values.into_iter().flat_map(forms).collect()).sorted()
    }

    /// These values and `other`'s.
    pub(crate) fn and(mut self, other: Held) -> Held {
        self.0.extend(other.0);
        self.sorted()
    }

    /// Longest first (a value that holds another is replaced whole), each once.
    fn sorted(mut self) -> Held {
        self.0
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.0.dedup();
        self
    }

    /// `text` without the held values.
    pub(crate) fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        replaced(text, &self.0)
    }

    /// Replaces the held values in the strings and keys of `value`.
    pub(crate) fn value(&self, value: &mut serde_json::Value) {
        if !self.0.is_empty() {
            *value = value_without(std::mem::take(value), &self.0);
        }
    }

    /// Replaces the held values in `text`.
    pub(crate) fn string(&self, text: &mut String) {
        if let Cow::Owned(scrubbed) = self.text(text) {
            *text = scrubbed;
        }
    }
}

/// Whether `text` holds a registered credential value.
pub(crate) fn holds_known(text: &str) -> bool {
    matches!(scrub(text), Cow::Owned(_))
}

/// Returns `value` with every registered credential value replaced by `<redacted>` in its
/// strings and keys: for report values, where a field's name does not say that it holds a
/// credential (a platform that echoes the client secret into `metadata`).
pub(crate) fn value(value: serde_json::Value) -> serde_json::Value {
    let known = KNOWN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    value_without(value, &known)
}

/// `value` with each of `known` replaced by `<redacted>` in its strings and keys.
fn value_without(value: serde_json::Value, known: &[String]) -> serde_json::Value {
    if known.is_empty() {
        return value;
    }
    with_texts(value, &|text| replaced(text, known))
}

/// `value` with each of its strings and keys as `text` gives it (a string `text` leaves as it is
/// keeps its allocation): the one walk of the values that stand-ins replace texts in, for
/// credentials here, for a tenant's own values in reports ([`crate::report`]) and for the
/// strings YAML writes escaped ([`crate::yaml::to_string`]).
pub(crate) fn with_texts<F>(value: serde_json::Value, text: &F) -> serde_json::Value
where
    F: for<'t> Fn(&'t str) -> Cow<'t, str>,
{
    use serde_json::Value;
    match value {
        Value::String(s) => match text(&s) {
            Cow::Borrowed(_) => Value::String(s),
            Cow::Owned(replaced) => Value::String(replaced),
        },
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| with_texts(v, text)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (text(&k).into_owned(), with_texts(v, text)))
                .collect(),
        ),
        other => other,
    }
}

/// A writer that scrubs what it is given before passing it on (for the log, whose events each
/// arrive in one `write_all`).
pub struct Scrubbed<W>(pub W);

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Makes a scrubbed stderr for each log event.
pub fn stderr() -> Scrubbed<io::Stderr> {
    Scrubbed(io::stderr())
}

/// Returns `remote` (a remote's name or a URL) as messages and logs may show it: a URL's
/// password hidden (`https://alice:***@host/x.git`), and the whole user info of an HTTP URL
/// without one, which is often a token (`https://***@github.com/o/r.git`). An ssh user
/// (`ssh://git@host/r`, `git@host:r`) is shown.
pub fn remote(remote: &str) -> String {
    let Some((scheme, rest)) = remote.split_once("://") else {
        return remote.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return remote.to_owned();
    };
    let user_info = match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            "***".to_owned()
        }
        None => user_info.to_owned(),
    };
    format!("{scheme}://{user_info}@{host}{path}")
}

/// Registers the credentials a remote's URL carries (its password, an HTTP user that may be a
/// token) with [`scrub`], so that a git error quoting the URL does not show them.
pub(crate) fn register_remote(remote: &str) {
    let Some((_, rest)) = remote.split_once("://") else {
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((user_info, _)) = authority.rsplit_once('@') {
        match user_info.split_once(':') {
            Some((_, password)) => register(password),
            None if self::remote(remote) != remote => register(user_info),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential percent-encoded (as Python's `quote`, JavaScript's `encodeURIComponent` or
    /// a form writes it, hex digits in either case) is scrubbed as the value itself is.
    #[test]
    fn a_credential_in_a_url_is_scrubbed() {
        let held = Held::new(["Gx/9+q=Rk7w&Zp3 sT8vL2m!Q"]);
        for text in [
            "url Gx%2F9%2Bq%3DRk7w%26Zp3%20sT8vL2m%21Q",
            "url Gx%2f9%2bq%3dRk7w%26Zp3%20sT8vL2m%21Q",
            "url Gx%2F9%2Bq%3DRk7w%26Zp3%20sT8vL2m!Q",
            "url Gx%2F9%2Bq%3DRk7w%26Zp3+sT8vL2m%21Q",
        ] {
            assert_eq!(held.text(text), "url <redacted>", "{text}");
        }
    }

    /// A tenant's held values are taken out of the strings and keys shown of that tenant, in
    /// the forms a JSON text holds them; they are not scrubbed from the whole process's texts.
    #[test]
    fn held_values_are_scrubbed_where_their_tenant_is_shown_only() {
        let held = Held::new(["s3cr3t/value\\x", "short"]);
        let mut v = serde_json::json!({
            "a": "x s3cr3t/value\\x y",
            "s3cr3t/value\\x": ["s3cr3t\\/value\\\\x", "s3cr3t/value\\\\x"],
            "b": "short",
        });
        held.value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "a": "x <redacted> y",
                "<redacted>": ["<redacted>", "<redacted>"],
                "b": "short",
            })
        );
        assert!(matches!(scrub("x s3cr3t/value\\x"), Cow::Borrowed(_)));
        let mut text = "was s3cr3t/value\\x".to_owned();
        held.string(&mut text);
        assert_eq!(text, "was <redacted>");
    }

    /// From the attacker's try: a platform that echoes the client secret into a plain field
    /// (`metadata.note`) showed it in every report; report values are scrubbed as messages are.
    #[test]
    fn report_values_are_scrubbed_in_strings_and_keys() {
        register("VeryLongClientSecretValue-report-987654");
        let v = serde_json::json!({"note": "api key VeryLongClientSecretValue-report-987654",
            "VeryLongClientSecretValue-report-987654": [1, "x"]});
        assert_eq!(
            value(v),
            serde_json::json!({"note": "api key <redacted>", "<redacted>": [1, "x"]})
        );
        assert_eq!(
            crate::plan::redact_value(
                "/metadata/note",
                Some(serde_json::json!("VeryLongClientSecretValue-report-987654"))
            ),
            Some(serde_json::json!("<redacted>"))
        );
        assert!(holds_known(
            "{\"a\":\"VeryLongClientSecretValue-report-987654\"}"
        ));
        assert!(!holds_known("nothing here"));
    }

    #[test]
    fn registered_values_are_scrubbed_wherever_they_appear() {
        register("hunter2-the-client-secret");
        register("hunter2-the-client-secret-and-more");
        register("tiny");
        let text = r#"422 details: {"body":"api_key=hunter2-the-client-secret-and-more&x=hunter2-the-client-secret"} tiny"#;
        assert_eq!(
            scrub(text),
            r#"422 details: {"body":"api_key=<redacted>&x=<redacted>"} tiny"#
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
        register("tw\"tok\\LEAK/4\n-----END KEY-----");
        assert_eq!(
            scrub(
                r#"{"auth_token":"tw\"tok\\LEAK/4\n-----END KEY-----"} or tw\"tok\\LEAK\/4\n-----END KEY-----"#
            ),
            r#"{"auth_token":"<redacted>"} or <redacted>"#
        );
        // A request body echoed inside a JSON string: escaped twice.
        let twice = serde_json::to_string(
            &serde_json::json!({"auth_token": "tw\"tok\\LEAK/4\n-----END KEY-----"}).to_string(),
        )
        .unwrap();
        assert_eq!(scrub(&twice), r#""{\"auth_token\":\"<redacted>\"}""#);
        let mut out = Vec::new();
        Scrubbed(&mut out)
            .write_all(b"Authorization: Basic hunter2-the-client-secret\n")
            .unwrap();
        assert_eq!(out, b"Authorization: Basic <redacted>\n");
    }

    #[test]
    fn a_remote_url_is_shown_without_its_credentials() {
        for (url, shown) in [
            (
                "http://alice:pAssw0rdXYZ@127.0.0.1:9/x.git",
                "http://alice:***@127.0.0.1:9/x.git",
            ),
            (
                "https://ghp_token123456@github.com/o/r.git",
                "https://***@github.com/o/r.git",
            ),
            ("ssh://git@host/r.git", "ssh://git@host/r.git"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("origin", "origin"),
            ("/srv/state.git", "/srv/state.git"),
            ("https://host/a@b.git", "https://host/a@b.git"),
        ] {
            assert_eq!(remote(url), shown, "{url}");
        }
        register_remote("http://alice:pAssw0rdXYZ@127.0.0.1:9/x.git");
        assert_eq!(
            scrub("failed: http://alice:pAssw0rdXYZ@127.0.0.1:9/x.git"),
            "failed: http://alice:<redacted>@127.0.0.1:9/x.git"
        );
    }
}
