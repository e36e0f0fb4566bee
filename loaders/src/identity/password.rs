//! Passwords: the embedded provider's policy and argon2id hashing (off the async threads,
//! since a hash takes tens of milliseconds by design).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::IdentityError;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted (hashing cost grows with length).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Checks a new password: 8 to 256 characters, a letter and a digit or symbol, not the email.
pub fn check_password_policy(password: &str, email: &str) -> Result<(), IdentityError> {
    let chars = password.chars().count();
    let refuse = |why: &str| Err(IdentityError::InvalidPassword(why.to_owned()));
    if chars < MIN_PASSWORD_CHARS {
        return refuse("the password needs at least 8 characters");
    }
    if chars > MAX_PASSWORD_CHARS {
        return refuse("the password has more than 256 characters");
    }
    if !password.chars().any(char::is_alphabetic)
        || password.chars().all(char::is_alphabetic)
        || password.trim().is_empty()
    {
        return refuse("the password needs a letter and a digit or symbol");
    }
    if password.eq_ignore_ascii_case(email) {
        return refuse("the password must not be the email address");
    }
    Ok(())
}

/// An argon2id hash (PHC string) of `password`, with a random salt.
pub async fn hash_password(password: &str) -> Result<String, IdentityError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| IdentityError::Internal(format!("cannot hash a password: {e}")))
    })
    .await
    .map_err(|e| IdentityError::Internal(format!("password hashing task failed: {e}")))?
}

/// Whether `password` matches the stored PHC `hash`.
pub async fn verify_password(password: &str, hash: &str) -> Result<bool, IdentityError> {
    let password = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| {
            IdentityError::Internal(format!("a stored password hash is corrupt: {e}"))
        })?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| IdentityError::Internal(format!("password verification task failed: {e}")))?
}

/// A hash of a password nobody has, to verify against when the account does not exist, so
/// that unknown emails take as long as wrong passwords.
pub async fn decoy_hash() -> &'static str {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_init(|| async { hash_password("decoy password 0").await.unwrap_or_default() })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_what_is_missing() {
        for (password, why) in [
            ("short1", "at least 8"),
            ("onlyletters", "a letter and a digit"),
            ("12345678", "a letter and a digit"),
            ("ada@example.com", "must not be the email"),
        ] {
            let Err(IdentityError::InvalidPassword(message)) =
                check_password_policy(password, "ada@example.com")
            else {
                panic!("{password} was accepted");
            };
            assert!(message.contains(why), "{password}: {message}");
        }
        assert!(check_password_policy("correct horse 9", "ada@example.com").is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse 9").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse 9", &hash)
                .await
                .expect("verify")
        );
        assert!(
            !verify_password("correct horse 8", &hash)
                .await
                .expect("verify")
        );
    }
}
