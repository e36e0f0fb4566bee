//! SHA-256 in lowercase hex: the one digest of stored secrets, document ids and ETags; and
//! random secrets in the same hex.

use sha2::{Digest, Sha256};

/// `bytes` random bytes from the system's source, in lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut secret = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut secret).expect("the system random source works");
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lowercase hex SHA-256 of any bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
