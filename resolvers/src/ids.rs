//! Opaque global IDs: `gid://storefront/<Type>/<id>`, base64url-encoded.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ApiError, ErrorCode};

const PREFIX: &str = "gid://storefront/";

/// The global ID of an entity.
pub fn encode(type_name: &str, id: &str) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{PREFIX}{type_name}/{id}")))
}

/// The type name and internal id behind a global ID (the type is not checked to exist).
pub fn decode(id: &ID) -> Result<(String, String), ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidId,
            format!("`{}` is not a valid ID", id.0),
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(id.0.as_bytes())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let rest = text.strip_prefix(PREFIX).ok_or_else(invalid)?;
    let (kind, raw) = rest.split_once('/').ok_or_else(invalid)?;
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid());
    }
    if raw.is_empty() || raw.len() > 128 || raw.contains('#') {
        return Err(invalid());
    }
    Ok((kind.to_owned(), raw.to_owned()))
}

/// The internal id behind a global ID that must name an entity of type `kind`.
pub fn decode_as(id: &ID, type_name: &str) -> Result<String, ApiError> {
    match decode(id)? {
        (k, raw) if k == type_name => Ok(raw),
        (other, _) => Err(ApiError::new(
            ErrorCode::InvalidId,
            format!("`{}` is a {other} ID, not a {type_name} ID", id.0),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_type() {
        let id = encode("Product", "abc123");
        assert_eq!(
            decode(&id).expect("valid"),
            ("Product".to_owned(), "abc123".to_owned())
        );
        let err = decode_as(&id, "Category").expect_err("wrong type");
        assert_eq!(err.code, ErrorCode::InvalidId);
    }

    #[test]
    fn malformed_ids_are_invalid() {
        for bad in [
            "",
            "%%%",
            "aGVsbG8",
            &URL_SAFE_NO_PAD.encode("gid://storefront//1"),
            &URL_SAFE_NO_PAD.encode("gid://storefront/Pro duct/1"),
        ] {
            assert_eq!(
                decode(&ID(bad.to_owned())).expect_err(bad).code,
                ErrorCode::InvalidId
            );
        }
    }
}
