//! Relay connections: the generic page types, pagination arguments and opaque cursors.

use async_graphql::SimpleObject;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};

use crate::catalog::{Category, Product, ProductVariant};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The most items one page may hold.
pub const MAX_PAGE_SIZE: i32 = 250;

/// A page read from a list: the items with their cursors, and where the page sits.
pub struct Page<T> {
    /// The items in list order, each with its cursor.
    pub items: Vec<(String, T)>,
    /// Where the page sits in the whole list.
    pub page_info: PageInfo,
}

/// Declares the Relay connection and edge types of one node type.
macro_rules! connection_type {
    ($connection:ident, $edge:ident, $node:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, ", in Relay connection form.")]
        #[derive(async_graphql::SimpleObject)]
        pub struct $connection {
            #[doc = concat!("The ", $what, " of the page, each with its cursor.")]
            pub edges: Vec<$edge>,
            #[doc = concat!("The ", $what, " of the page.")]
            pub nodes: Vec<$node>,
            /// Where the page sits in the whole list.
            pub page_info: PageInfo,
        }

        #[doc = concat!("One of a page of ", $what, " and the cursor that points at it.")]
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            /// Opaque position of this item: pass it as `after` or `before`.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        impl From<Page<$node>> for $connection {
            fn from(page: Page<$node>) -> Self {
                let nodes = page.items.iter().map(|(_, n)| n.clone()).collect();
                let edges = page
                    .items
                    .into_iter()
                    .map(|(cursor, node)| $edge { cursor, node })
                    .collect();
                Self {
                    edges,
                    nodes,
                    page_info: page.page_info,
                }
            }
        }
    };
}

connection_type!(ProductConnection, ProductEdge, Product, "products");
connection_type!(
    ProductVariantConnection,
    ProductVariantEdge,
    ProductVariant,
    "product variants"
);
connection_type!(CategoryConnection, CategoryEdge, Category, "categories");

/// Where a page sits in its list.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    /// More items follow the page.
    pub has_next_page: bool,
    /// More items precede the page.
    pub has_previous_page: bool,
    /// The cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// The cursor of the last item of the page.
    pub end_cursor: Option<String>,
}

/// A validated page request: `first`/`after` read forwards, `last`/`before` backwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items.
    pub limit: usize,
    /// The cursor to start from (exclusive).
    pub cursor: Option<String>,
    /// Reading backwards from `before` (or from the end).
    pub backward: bool,
}

impl PageRequest {
    /// Validates Relay pagination arguments: exactly one of `first` and `last`, 0 to
    /// [`MAX_PAGE_SIZE`]; `after` goes with `first`, `before` with `last`.
    pub fn parse(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Self> {
        let check = |name: &str, n: i32| -> ApiResult<usize> {
            if (0..=MAX_PAGE_SIZE).contains(&n) {
                Ok(n as usize)
            } else {
                Err(ApiError::bad_input(format!(
                    "`{name}` must be between 0 and {MAX_PAGE_SIZE}, not {n}"
                )))
            }
        };
        match (first, last) {
            (Some(_), Some(_)) => Err(ApiError::bad_input(
                "pass either `first` or `last`, not both",
            )),
            (None, None) => Err(ApiError::bad_input("pass `first` or `last` to page a list")),
            (Some(n), None) => {
                if before.is_some() {
                    return Err(ApiError::bad_input(
                        "`before` goes with `last`, not `first`",
                    ));
                }
                Ok(Self {
                    limit: check("first", n)?,
                    cursor: after,
                    backward: false,
                })
            }
            (None, Some(n)) => {
                if after.is_some() {
                    return Err(ApiError::bad_input("`after` goes with `first`, not `last`"));
                }
                Ok(Self {
                    limit: check("last", n)?,
                    cursor: before,
                    backward: true,
                })
            }
        }
    }

    /// Assembles the connection from the items read, given in the direction they were read
    /// (backward reads are put back into list order here).
    pub fn connection<T, C: From<Page<T>>>(&self, mut read: Vec<(String, T)>, has_more: bool) -> C {
        if self.backward {
            read.reverse();
        }
        let (has_next_page, has_previous_page) = if self.backward {
            (self.cursor.is_some(), has_more)
        } else {
            (has_more, self.cursor.is_some())
        };
        let page_info = PageInfo {
            has_next_page,
            has_previous_page,
            start_cursor: read.first().map(|(c, _)| c.clone()),
            end_cursor: read.last().map(|(c, _)| c.clone()),
        };
        C::from(Page {
            items: read,
            page_info,
        })
    }
}

/// The query complexity of a connection field: its page size times what each item costs.
pub fn complexity(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let size = first.or(last).unwrap_or(0).clamp(0, MAX_PAGE_SIZE) as usize;
    size.max(1).saturating_mul(child).saturating_add(1)
}

/// The query complexity of a list of objects that holds at most `max` items: every item
/// costs what its selection costs. (Lists of scalars are leaves and cost 1: their length is
/// bounded where they are written, and their bytes by the response limit.)
pub fn list_complexity(max: usize, child: usize) -> usize {
    max.saturating_mul(child).saturating_add(1)
}

/// An opaque cursor for a position.
pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).expect("positions serialise"))
}

/// The position behind a cursor.
pub fn decode_cursor<T: DeserializeOwned>(cursor: &str) -> ApiResult<T> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidCursor,
                format!("`{cursor}` is not a valid cursor"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_needs_exactly_one_direction() {
        assert!(PageRequest::parse(None, None, None, None).is_err());
        assert!(PageRequest::parse(Some(1), None, Some(1), None).is_err());
        assert!(PageRequest::parse(Some(1), None, None, Some("c".into())).is_err());
        assert!(PageRequest::parse(Some(251), None, None, None).is_err());
        assert!(PageRequest::parse(Some(-1), None, None, None).is_err());
        let back = PageRequest::parse(None, None, Some(3), Some("c".into())).expect("valid");
        assert!(back.backward);
        assert_eq!(back.limit, 3);
    }

    #[test]
    fn garbage_cursors_are_invalid_cursor_errors() {
        let err = decode_cursor::<Vec<String>>("not-a-cursor").expect_err("garbage");
        assert_eq!(err.code, ErrorCode::InvalidCursor);
        let ok: Vec<String> = decode_cursor(&encode_cursor(&vec!["a"])).expect("round trip");
        assert_eq!(ok, ["a"]);
    }
}
