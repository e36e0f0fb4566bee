//! Opaque global IDs: `gid://storefront/<Type>/<id>`, base64url-encoded.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ApiError, ErrorCode};

const PREFIX: &str = "gid://storefront/";

/// The types that have global IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// A product.
    Product,
    /// A product variant.
    ProductVariant,
    /// A category.
    Category,
    /// A customer (resolvable by that customer only).
    Customer,
}

impl NodeType {
    fn name(self) -> &'static str {
        match self {
            NodeType::Product => "Product",
            NodeType::ProductVariant => "ProductVariant",
            NodeType::Category => "Category",
            NodeType::Customer => "Customer",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::Product,
            Self::ProductVariant,
            Self::Category,
            Self::Customer,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }
}

/// The global ID of an entity.
pub fn encode(kind: NodeType, id: &str) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}/{id}", kind.name())))
}

/// The type and internal id behind a global ID.
pub fn decode(id: &ID) -> Result<(NodeType, String), ApiError> {
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
    let kind = NodeType::parse(kind).ok_or_else(invalid)?;
    if raw.is_empty() || raw.len() > 128 || raw.contains('#') {
        return Err(invalid());
    }
    Ok((kind, raw.to_owned()))
}

/// The internal id behind a global ID that must name an entity of type `kind`.
pub fn decode_as(id: &ID, kind: NodeType) -> Result<String, ApiError> {
    match decode(id)? {
        (k, raw) if k == kind => Ok(raw),
        (other, _) => Err(ApiError::new(
            ErrorCode::InvalidId,
            format!(
                "`{}` is a {} ID, not a {} ID",
                id.0,
                other.name(),
                kind.name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_type() {
        let id = encode(NodeType::Product, "abc123");
        assert_eq!(
            decode(&id).expect("valid"),
            (NodeType::Product, "abc123".into())
        );
        let err = decode_as(&id, NodeType::Category).expect_err("wrong type");
        assert_eq!(err.code, ErrorCode::InvalidId);
    }

    #[test]
    fn malformed_ids_are_invalid() {
        for bad in [
            "",
            "%%%",
            "aGVsbG8",
            &URL_SAFE_NO_PAD.encode("gid://storefront/Order/1"),
        ] {
            assert_eq!(
                decode(&ID(bad.to_owned())).expect_err(bad).code,
                ErrorCode::InvalidId
            );
        }
    }
}
