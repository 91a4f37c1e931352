//! Map keys ⇄ file names.
//!
//! The file stem of an entry file *is* its map key (`clients/spa.yaml` is `clients["spa"]`), so the
//! encoding must be reversible and must never let an ID chosen by someone else name a path outside
//! its directory. Bytes outside `[A-Za-z0-9._-]` are percent-encoded, and so is a leading `.`, so
//! that no key can become `.`, `..`, `.git` or a hidden file. Decoding accepts only the canonical
//! encoding, so every file name maps to exactly one key and back.
//!
//! Percent-encoding makes a name up to three times longer than its key (nine times a key's
//! characters for three-byte UTF-8), and file systems take at most [`MAX_NAME`] bytes per name:
//! [`check_path`] refuses a path with a longer name, naming the key, so that `export` and
//! `backup` (a commit that could not be checked out) refuse the same trees.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes that are kept as they are in a file name; everything else is `%XX`.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');

/// Why a file name is not the canonical encoding of a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyError {
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
    #[error("the ID `{key}` makes a file name of {bytes} bytes ({path}); file systems take at most {MAX_NAME} bytes per name, so it cannot be written as a file")]
    TooLong {
        key: String,
        path: String,
        bytes: usize,
    },
}

/// The longest file name, in bytes, that common file systems (ext4, XFS, APFS, NTFS in UTF-16
/// units) accept for one path component.
pub(crate) const MAX_NAME: usize = 255;

/// Checks that every component of the '/'-separated path `rel` (names made by [`encode`], with
/// an extension or not) fits in a file name of [`MAX_NAME`] bytes. The error names the key a
/// name that is too long stands for.
pub(crate) fn check_path(rel: &str) -> Result<(), KeyError> {
    let names: Vec<&str> = rel.split('/').collect();
    match names.iter().position(|name| name.len() > MAX_NAME) {
        None => Ok(()),
        Some(at) => {
            let name = names[at];
            // Directories are `<key>`, files `<key>.yaml` or `<key>.js`: the key is the file's
            // name without its extension.
            let stem = match name.rsplit_once('.') {
                Some((stem, _)) if at + 1 == names.len() => stem,
                _ => name,
            };
            let key = decode(stem).unwrap_or_else(|_| name.to_owned());
            Err(KeyError::TooLong {
                key,
                path: rel.to_owned(),
                bytes: name.len(),
            })
        }
    }
}

/// Returns the file name of `key` when it is one directory of its own (a tenant's directory):
/// [`encode`], then [`check_path`].
pub(crate) fn dir_name(key: &str) -> Result<String, KeyError> {
    let name = encode(key)?;
    check_path(&name)?;
    Ok(name)
}

/// Returns the file-name form of a map key.
pub(crate) fn encode(key: &str) -> Result<String, KeyError> {
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
pub(crate) fn decode(name: &str) -> Result<String, KeyError> {
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

    #[test]
    fn names_too_long_for_a_file_system_are_refused_naming_the_key() {
        // 28 three-byte characters: 84 bytes, 252 once percent-encoded, 257 with `.yaml`.
        let key = "€".repeat(28);
        let name = encode(&key).unwrap();
        assert_eq!(name.len(), 252);
        assert!(check_path(&format!("clients/{name}")).is_ok());
        assert_eq!(dir_name(&key).unwrap(), name);
        let e = check_path(&format!("workspaces/w/clients/{name}.yaml")).unwrap_err();
        assert!(
            matches!(&e, KeyError::TooLong { key: k, bytes: 257, .. } if *k == key),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("the ID `{key}`")), "{e}");
        let long = "€".repeat(30);
        let e = dir_name(&long).unwrap_err();
        assert!(
            matches!(&e, KeyError::TooLong { key: k, bytes: 270, .. } if *k == long),
            "{e}"
        );
        assert!(check_path(&"a".repeat(255)).is_ok());
        assert!(check_path(&"a".repeat(256)).is_err());
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
