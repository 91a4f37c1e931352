//! Randomness from the operating system, in the forms the platform's credentials take.

use base64::Engine as _;

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// A random secret as the platform makes them: 32 bytes as 43 characters of base64url.
pub fn secret() -> Result<String, getrandom::Error> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_43_characters_of_base64url_and_differ() {
        let a = super::secret().expect("randomness");
        let b = super::secret().expect("randomness");
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }
}
