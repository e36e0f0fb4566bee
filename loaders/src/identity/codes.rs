//! One-time codes (sign-up confirmation, password reset): generation, hashing, delivery.

use super::Email;
use crate::hash::sha256_hex;

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Confirming a sign-up.
    ConfirmSignUp,
    /// Resetting a password.
    ResetPassword,
    /// Telling an account's owner that someone tried to sign up with its email (no code:
    /// the mail suggests signing in or resetting the password instead).
    AccountExists,
}

impl CodePurpose {
    fn describe(self) -> &'static str {
        match self {
            CodePurpose::ConfirmSignUp => "sign-up confirmation",
            CodePurpose::ResetPassword => "password reset",
            CodePurpose::AccountExists => "sign-up attempt on an existing account",
        }
    }
}

/// How the embedded provider delivers codes to customers (a log line by default; an email
/// service in a deployment).
pub trait CodeDelivery: Send + Sync {
    /// Delivers `code` to `email`.
    fn deliver(&self, email: &Email, purpose: CodePurpose, code: &str);
}

/// Delivery through the gateway's log: a line naming the email and the code.
#[derive(Debug, Default)]
pub struct LogDelivery;

impl CodeDelivery for LogDelivery {
    fn deliver(&self, email: &Email, purpose: CodePurpose, code: &str) {
        tracing::info!(email = %email, code, "{} code for {email}: {code}", purpose.describe());
    }
}

/// A random 6-digit code.
pub(crate) fn new_code() -> String {
    let mut bytes = [0u8; 4];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
    format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000)
}

/// The stored form of a code: a hash bound to the account, so a leaked record reveals little.
pub(crate) fn code_hash(sub: &str, code: &str) -> String {
    sha256_hex(format!("{sub}:{code}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
