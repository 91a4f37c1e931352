//! Map keys ⇄ file names.
//!
//! The file stem of an entry file *is* its map key (`clients/spa.yaml` is `clients["spa"]`), so the
//! encoding must be reversible and must never let an ID chosen by someone else name a path outside
//! its directory. Bytes outside `[A-Za-z0-9._-]` are percent-encoded, and so is a leading `.`, so
//! that no key can become `.`, `..`, `.git` or a hidden file. Decoding accepts only the canonical
//! encoding, so every file name maps to exactly one key and back.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes that are kept as they are in a file name; everything else is `%XX`.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');

/// Why a file name is not the canonical encoding of a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an empty key cannot be a file name")]
    Empty,
    #[error("`{name}` is not a valid key file name: percent-escapes must decode to UTF-8")]
    NotUtf8 { name: String },
    #[error("`{name}` is not a valid key file name; the key `{key}` is written `{canonical}`")]
    NotCanonical {
        name: String,
        key: String,
        canonical: String,
    },
}

/// Returns the file-name form of a map key.
pub fn encode(key: &str) -> Result<String, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    let mut out = String::with_capacity(key.len());
    let rest = match key.strip_prefix('.') {
        Some(rest) => {
            out.push_str("%2E");
            rest
        }
        None => key,
    };
    out.extend(utf8_percent_encode(rest, ENCODED));
    Ok(out)
}

/// Returns the map key a file name (without extension) stands for.
pub fn decode(name: &str) -> Result<String, KeyError> {
    if name.is_empty() {
        return Err(KeyError::Empty);
    }
    let key = percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| KeyError::NotUtf8 {
            name: name.to_owned(),
        })?
        .into_owned();
    let canonical = encode(&key)?;
    if canonical != name {
        return Err(KeyError::NotCanonical {
            name: name.to_owned(),
            key,
            canonical,
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_table() {
        for (key, name) in [
            ("spa", "spa"),
            ("my-client_1.v2", "my-client_1.v2"),
            ("a/b", "a%2Fb"),
            ("../../x", "%2E.%2F..%2Fx"),
            (".git", "%2Egit"),
            (".", "%2E"),
            ("..", "%2E."),
            ("a b", "a%20b"),
            ("100%", "100%25"),
            ("é", "%C3%A9"),
            ("tab\there", "tab%09here"),
            ("x~y", "x%7Ey"),
        ] {
            assert_eq!(encode(key).unwrap(), name, "encode {key:?}");
            assert_eq!(decode(name).unwrap(), key, "decode {name:?}");
        }
    }

    #[test]
    fn refuses_non_canonical_names() {
        assert!(matches!(
            decode("a%2fb"),
            Err(KeyError::NotCanonical { .. })
        ));
        assert!(matches!(decode("%61"), Err(KeyError::NotCanonical { .. })));
        assert!(matches!(decode("a b"), Err(KeyError::NotCanonical { .. })));
        assert!(matches!(decode("%FF"), Err(KeyError::NotUtf8 { .. })));
        assert_eq!(decode(""), Err(KeyError::Empty));
        assert_eq!(encode(""), Err(KeyError::Empty));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(key in "\\PC{1,20}") {
            let name = encode(&key).unwrap();
            proptest::prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-%".contains(&b)));
            proptest::prop_assert!(!name.starts_with('.'));
            proptest::prop_assert_eq!(decode(&name).unwrap(), key);
        }
    }
}
