//! SHA-256 in lowercase hex: the one digest of stored secrets, document ids and ETags.

use sha2::{Digest, Sha256};

/// The lowercase hex SHA-256 of any bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
