//! The search domain: `search` (a product connection with total count, facets and
//! suggestions) and `predictiveSearch` (products, categories and queries as the shopper
//! types).

mod inputs;
mod types;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_graphql::{Context, Object};
use serde::{Deserialize, Serialize};
use storefront_loaders::catalog::CatalogLoads;
use storefront_loaders::search::{Position, Search, SearchRequest, SearchSort};

pub use inputs::{PredictiveSearchType, SearchProductFilter, SearchSortKeys};
pub use types::{
    FilterType, PredictiveSearchResult, SearchFilter, SearchFilterValue, SearchQuerySuggestion,
    SearchResultConnection,
};

use crate::catalog::{Category, Product};
use crate::connection::{PageRequest, complexity, decode_cursor, encode_cursor};
use crate::context::{loader, service};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The longest query text accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// The most suggestions of each kind predictive search returns.
pub const MAX_PREDICTIONS: i32 = 25;

// What a search cursor holds: the position (the sort value's bits: a decimal float text may
// not read back to the same value), and a fingerprint of the search it belongs to.
#[derive(Serialize, Deserialize)]
struct SearchCursor {
    v: u64,
    i: String,
    f: u64,
}

fn fingerprint(request: &SearchRequest) -> u64 {
    let mut hasher = DefaultHasher::new();
    request.query.trim().to_lowercase().hash(&mut hasher);
    request.filters.hash(&mut hasher);
    request.sort.hash(&mut hasher);
    request.reverse.hash(&mut hasher);
    hasher.finish()
}

/// Search queries.
#[derive(Default)]
pub struct SearchQuery;

/// Search queries.
#[Object]
impl SearchQuery {
    /// Products matching a shopper's text, filtered, sorted and paged, with the total count,
    /// the facets of the filter panel (each dimension's counts with the *other* dimensions'
    /// filters applied) and, when nothing matches, suggested queries. Typos are forgiven
    /// (one for words of 4 letters or more, two from 8), the last word matches as a prefix,
    /// and English words match their other forms.
    #[graphql(complexity = "complexity(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What the shopper typed; empty matches every product.")] query: String,
        #[graphql(desc = "Return the first n products.")] first: Option<i32>,
        #[graphql(desc = "Return products after this cursor.")] after: Option<String>,
        #[graphql(desc = "Return the last n products.")] last: Option<i32>,
        #[graphql(desc = "Return products before this cursor.")] before: Option<String>,
        #[graphql(
            desc = "Narrow the results: filters of one kind are alternatives, different kinds all apply.",
            default
        )]
        product_filters: Vec<SearchProductFilter>,
        #[graphql(desc = "The order of the results.", default)] sort_key: SearchSortKeys,
        #[graphql(desc = "Reverse the order.", default)] reverse: bool,
        #[graphql(
            desc = "Reorder the page for the signed-in customer (same products and cursors).",
            default
        )]
        personalized: bool,
    ) -> ApiResult<SearchResultConnection> {
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::bad_input(format!(
                "the query is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        let page = PageRequest::parse(first, after, last, before)?;
        let filters = inputs::filters(product_filters)?;
        let mut request = SearchRequest {
            query,
            filters,
            sort: SearchSort::from(sort_key),
            reverse,
            limit: page.limit,
            cursor: None,
            backward: page.backward,
            facets: ctx.look_ahead().field("productFilters").exists(),
        };
        let print = fingerprint(&request);
        if let Some(cursor) = page.cursor.as_deref() {
            let cursor: SearchCursor = decode_cursor(cursor)?;
            if cursor.f != print {
                return Err(ApiError::new(
                    ErrorCode::InvalidCursor,
                    "the cursor belongs to another search or sort order",
                ));
            }
            request.cursor = Some(Position {
                value: f64::from_bits(cursor.v),
                id: cursor.i,
            });
        }
        let results = service::<Search>(ctx)?.search(&request).await?;
        let products = CatalogLoads(loader(ctx)?)
            .products(results.hits.iter().map(|h| &h.id))
            .await?;
        // Read in list order already; `connection` expects the reading direction.
        let mut read: Vec<(String, Product)> = results
            .hits
            .iter()
            .filter_map(|hit| {
                let product = products.get(&hit.id)?;
                let cursor = encode_cursor(&SearchCursor {
                    v: hit.position.value.to_bits(),
                    i: hit.id.clone(),
                    f: print,
                });
                Some((cursor, Product(Arc::clone(product))))
            })
            .collect();
        if page.backward {
            read.reverse();
        }
        let mut connection: crate::connection::ProductConnection =
            page.connection(read, results.has_more);
        (connection.edges, connection.nodes) =
            crate::recommend::personalize_page(ctx, personalized, connection.edges).await?;
        Ok(SearchResultConnection::new(connection, &results))
    }

    /// Suggestions while the shopper types: products, categories and whole queries.
    async fn predictive_search(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What the shopper has typed so far.")] query: String,
        #[graphql(desc = "The most suggestions of each kind (1 to 25).", default = 10)] limit: i32,
        #[graphql(desc = "Which kinds of suggestions to return (default: all).")] types: Option<
            Vec<PredictiveSearchType>,
        >,
    ) -> ApiResult<PredictiveSearchResult> {
        if !(1..=MAX_PREDICTIONS).contains(&limit) {
            return Err(ApiError::bad_input(format!(
                "`limit` must be between 1 and {MAX_PREDICTIONS}, not {limit}"
            )));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::bad_input(format!(
                "the query is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        let wants = |kind| types.as_ref().is_none_or(|t| t.contains(&kind));
        let found = service::<Search>(ctx)?
            .predict(&query, limit as usize)
            .await?;
        let found = found.as_ref().clone();
        let loads = CatalogLoads(loader(ctx)?);
        let products = if wants(PredictiveSearchType::Product) {
            let records = loads.products(&found.products).await?;
            found
                .products
                .iter()
                .filter_map(|id| records.get(id).map(|p| Product(Arc::clone(p))))
                .collect()
        } else {
            vec![]
        };
        let categories = if wants(PredictiveSearchType::Category) {
            let records = loads
                .categories(found.categories.iter().map(|c| &c.id))
                .await?;
            found
                .categories
                .iter()
                .filter_map(|c| records.get(&c.id).map(|r| Category(Arc::clone(r))))
                .collect()
        } else {
            vec![]
        };
        let queries = if wants(PredictiveSearchType::Query) {
            found
                .queries
                .into_iter()
                .map(|text| SearchQuerySuggestion { text })
                .collect()
        } else {
            vec![]
        };
        Ok(PredictiveSearchResult {
            products,
            categories,
            queries,
        })
    }
}

/// The search domain's queries.
pub type Query = SearchQuery;
/// The search domain's mutations (none).
pub type Mutation = async_graphql::EmptyMutation;
