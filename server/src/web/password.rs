//! Passwords: a policy (length), argon2id hashing with the OWASP-recommended parameters and a
//! random salt, verification in constant time (the `argon2` crate's).
//!
//! Parameters (OWASP Password Storage Cheat Sheet, argon2id): m = 19 MiB, t = 2, p = 1; the
//! stored form is the PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so parameters
//! can be raised later and old hashes still verify.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted (OWASP ASVS 2.1.1).
pub const MIN_LEN: usize = 12;
/// Longest password accepted (ASVS 2.1.2 asks for at least 64; longer inputs only cost time).
pub const MAX_LEN: usize = 128;

/// Password errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Too short or too long.
    #[error("the password must be between {MIN_LEN} and {MAX_LEN} characters long")]
    Length,
    /// The hash could not be computed or the stored hash is not a valid PHC string.
    #[error("password hash: {0}")]
    Hash(String),
    /// The system random source failed.
    #[error("no randomness available for the salt")]
    Random,
}

/// A password in clear, as typed; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks the length policy (characters, not bytes). Leading and trailing newlines of a
    /// password file are the caller's to strip.
    pub fn new(text: &str) -> Result<Password, PasswordError> {
        let n = text.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&n) {
            return Err(PasswordError::Length);
        }
        Ok(Password(text.to_owned()))
    }

    /// Any text as a candidate at log-in (no policy: a wrong password is just wrong).
    pub fn candidate(text: &str) -> Password {
        Password(text.chars().take(MAX_LEN * 4).collect())
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A stored password hash (PHC string); never printed.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(19 * 1024, 2, 1, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with argon2id and a fresh 16-byte salt.
pub fn hash_password(p: &Password) -> Result<PasswordHash, PasswordError> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| PasswordError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let h = hasher()?
        .hash_password(p.bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(PasswordHash(h.to_string()))
}

/// True if `p` matches the stored hash (with the parameters recorded in it).
pub fn verify_password(p: &Password, stored: &PasswordHash) -> bool {
    let Ok(parsed) = argon2::password_hash::PasswordHash::new(&stored.0) else {
        return false;
    };
    Argon2::default()
        .verify_password(p.bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_never_print() {
        let p = Password::new("una frase lunga e sicura").unwrap();
        let h = hash_password(&p).unwrap();
        assert!(
            h.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            h.as_str()
        );
        assert!(verify_password(&p, &h));
        assert!(!verify_password(
            &Password::candidate("una frase lunga e sicurA"),
            &h
        ));
        // A fresh salt every time.
        assert_ne!(hash_password(&p).unwrap(), h);
        assert_eq!(
            format!("{p:?} {h:?}"),
            "Password(<redacted>) PasswordHash(<redacted>)"
        );
        assert!(!verify_password(
            &p,
            &PasswordHash("not a phc string".into())
        ));
    }

    #[test]
    fn length_policy_counts_characters() {
        assert_eq!(Password::new("corta"), Err(PasswordError::Length));
        assert!(Password::new("àèìòùàèìòùàè").is_ok()); // 12 characters, 24 bytes
        assert_eq!(
            Password::new(&"x".repeat(MAX_LEN + 1)),
            Err(PasswordError::Length)
        );
    }
}
