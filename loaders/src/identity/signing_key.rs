//! The embedded provider's RS256 signing key: generated once, kept as a PKCS#8 PEM file in
//! the data dir (or supplied by the operator, so that every replica signs alike), and
//! published as a JWKS.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::IdentityError;
use crate::store::{Condition, Key, StoreError, Table};

/// An RSA key that signs access tokens.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

fn internal(what: &str) -> impl Fn(String) -> IdentityError + '_ {
    move |e| IdentityError::Internal(format!("{what}: {e}"))
}

impl SigningKey {
    /// A fresh 2048-bit key and its PEM.
    pub fn generate() -> Result<(Self, String), IdentityError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| internal("cannot generate an RSA key")(e.to_string()))?;
        let der = pair
            .as_der()
            .map_err(|e| internal("cannot encode the RSA key")(e.to_string()))?;
        let pem = to_pem("PRIVATE KEY", der.as_ref());
        Ok((Self::from_pem(&pem)?, pem))
    }

    /// Reads the key at `path`, creating it (readable by the owner only) when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, IdentityError> {
        match std::fs::read_to_string(path) {
            Ok(pem) => Self::from_pem(&pem).map_err(|e| {
                IdentityError::Internal(format!("the signing key {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, pem) = Self::generate()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        internal("cannot create the key's directory")(e.to_string())
                    })?;
                }
                write_private(path, &pem)
                    .map_err(|e| internal("cannot write the signing key")(e.to_string()))?;
                tracing::info!(path = %path.display(), kid = %key.kid, "created a token signing key");
                Ok(key)
            }
            Err(e) => Err(IdentityError::Internal(format!(
                "cannot read the signing key {}: {e}",
                path.display()
            ))),
        }
    }

    /// The key kept in the store, created by whichever replica asks first; every replica of a
    /// deployment then signs with the same key.
    pub async fn load_or_create_in(table: &Arc<dyn Table>) -> Result<Self, IdentityError> {
        let key = Key::new("IDENTITY#SIGNING_KEY", "RS256");
        for _ in 0..3 {
            if let Some(item) = table.get(&key).await? {
                let pem = item
                    .get("pem")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| {
                        IdentityError::Internal("the stored signing key has no `pem`".into())
                    })?;
                return Self::from_pem(pem);
            }
            let (generated, pem) = Self::generate()?;
            let mut item = key.to_item();
            item.insert("pem".into(), pem.into());
            match table.put(item, Some(Condition::ItemNotExists)).await {
                Ok(()) => {
                    tracing::info!(kid = %generated.kid, "created a token signing key in the store");
                    return Ok(generated);
                }
                // Another replica stored one first: use that.
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(IdentityError::Internal("cannot store a signing key".into()))
    }

    /// A key from PEM: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, IdentityError> {
        let der = from_pem(pem).ok_or_else(|| {
            IdentityError::Internal("not a PEM-encoded RSA private key".to_owned())
        })?;
        let pair = if pem.contains("BEGIN RSA PRIVATE KEY") {
            KeyPair::from_der(&der)
        } else {
            KeyPair::from_pkcs8(&der)
        }
        .map_err(|e| internal("not a usable RSA private key")(e.to_string()))?;
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        // The kid is the key's own fingerprint, so every replica given this key agrees on it.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(format!("{n}.{e}").as_bytes())[..12]);
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({
            "keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}]
        }))
        .map_err(|e| internal("cannot build the JWKS")(e.to_string()))?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| internal("not a usable RSA private key")(e.to_string()))?;
        Ok(Self {
            kid,
            encoding,
            jwks,
        })
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key set, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// A signed RS256 token of `claims`.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, IdentityError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| internal("cannot sign a token")(e.to_string()))
    }
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn from_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END "))
        .collect();
    STANDARD.decode(body).ok().filter(|der| !der.is_empty())
}

#[cfg(unix)]
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(pem.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    std::fs::write(path, pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_is_reloaded_with_the_same_kid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys/jwt.pem");
        let first = SigningKey::load_or_create(&path).expect("created");
        let again = SigningKey::load_or_create(&path).expect("reloaded");
        assert_eq!(first.kid(), again.kid());
        assert_eq!(
            serde_json::to_value(first.jwks()).expect("jwks"),
            serde_json::to_value(again.jwks()).expect("jwks")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(SigningKey::from_pem("hello").is_err());
    }
}
