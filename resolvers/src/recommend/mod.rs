//! The recommendations domain: `productRecommendations`, `Product.recommendations` (one
//! batched engine call for every product of a page, through a DataLoader),
//! `recommendedProducts` for the viewer, personalised re-ranking of a page, and
//! `trackEvents`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader, NoCache};
use async_graphql::{Context, Enum, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use storefront_loaders::catalog::CatalogLoads;
use storefront_loaders::domain::Services;
use storefront_loaders::rate_limit::ClientId;
use storefront_loaders::recommend::events::{EventKind, Interaction};
use storefront_loaders::recommend::{
    Intent, Recommendations, RecordError, subject_of_customer, subject_of_session,
};

use crate::catalog::Product;
use crate::connection::ProductEdge;
use crate::context::{loader, service};
use crate::customer::viewer_opt;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;

/// The most recommendations one field returns.
pub const MAX_RECOMMENDATIONS: i32 = 50;
/// The most interactions one `trackEvents` call may carry.
pub const MAX_EVENTS: usize = 50;
/// The longest query a SEARCH interaction may carry.
const MAX_QUERY_CHARS: usize = 200;
/// The longest guest session id.
const MAX_SESSION_CHARS: usize = 64;

/// What kind of recommendations.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductRecommendationIntent {
    /// Similar products, to consider instead.
    #[default]
    Related,
    /// Products that go with it, to buy as well.
    Complementary,
}

impl From<ProductRecommendationIntent> for Intent {
    fn from(intent: ProductRecommendationIntent) -> Self {
        match intent {
            ProductRecommendationIntent::Related => Intent::Related,
            ProductRecommendationIntent::Complementary => Intent::Complementary,
        }
    }
}

/// Answers the recommendations of many products with one engine call.
pub struct RecommendationBatch(Services);

impl Loader<(String, Intent, usize)> for RecommendationBatch {
    type Value = Arc<Vec<String>>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[(String, Intent, usize)],
    ) -> Result<HashMap<(String, Intent, usize), Self::Value>, Self::Error> {
        let Some(recommendations) = self.0.get::<Recommendations>() else {
            return Err(ApiError::new(ErrorCode::Internal, "internal error"));
        };
        let mut groups: HashMap<(Intent, usize), Vec<String>> = HashMap::new();
        for (product, intent, limit) in keys {
            groups
                .entry((*intent, *limit))
                .or_default()
                .push(product.clone());
        }
        let mut found = HashMap::new();
        for ((intent, limit), products) in groups {
            for (product, list) in recommendations.related_many(&products, intent, limit).await {
                found.insert((product, intent, limit), Arc::new(list));
            }
        }
        Ok(found)
    }
}

/// The loader that batches `Product.recommendations` (shared by every request).
pub type RecommendationLoader = DataLoader<RecommendationBatch, NoCache>;

/// How long the loader collects keys before it calls the engine: every product of a page
/// asks within one poll of the page's fields, well inside this.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(3);

/// The loader for the schema's data.
pub fn loader_for(services: &Services) -> RecommendationLoader {
    DataLoader::with_cache(RecommendationBatch(services.clone()), tokio::spawn, NoCache)
        .delay(BATCH_WINDOW)
}

fn check_first(first: i32) -> ApiResult<usize> {
    if (1..=MAX_RECOMMENDATIONS).contains(&first) {
        Ok(first as usize)
    } else {
        Err(ApiError::bad_input(format!(
            "`first` must be between 1 and {MAX_RECOMMENDATIONS}, not {first}"
        )))
    }
}

/// The products behind ids, in order, leaving out any that no longer exist.
pub(crate) async fn products(ctx: &Context<'_>, ids: &[String]) -> ApiResult<Vec<Product>> {
    let found = CatalogLoads(loader(ctx)?).products(ids).await?;
    Ok(ids
        .iter()
        .filter_map(|id| found.get(id).map(|p| Product(Arc::clone(p))))
        .collect())
}

/// Recommendations for one product, batched with every other product of the request.
pub async fn for_product(
    ctx: &Context<'_>,
    product_id: &str,
    intent: ProductRecommendationIntent,
    first: i32,
) -> ApiResult<Vec<Product>> {
    let limit = check_first(first)?;
    // Learnt from events, not read from the store: an answer with them is never cached.
    storefront_loaders::cache::reads::record_untracked("recommendations");
    let batch = ctx
        .data::<RecommendationLoader>()
        .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?;
    let ids = batch
        .load_one((product_id.to_owned(), intent.into(), limit))
        .await?
        .unwrap_or_default();
    products(ctx, &ids).await
}

/// `items` reordered for the signed-in customer when `personalized` is asked for (unchanged
/// otherwise, or for a guest).
pub async fn personalize<T>(
    ctx: &Context<'_>,
    personalized: bool,
    items: Vec<T>,
    id_of: impl Fn(&T) -> String,
) -> ApiResult<Vec<T>> {
    let Some(viewer) = viewer_opt(ctx).filter(|_| personalized) else {
        return Ok(items);
    };
    let ids: Vec<String> = items.iter().map(&id_of).collect();
    let order = service::<Recommendations>(ctx)?
        .rerank(viewer.sub(), ids)
        .await;
    let mut by_id: HashMap<String, T> = items.into_iter().map(|i| (id_of(&i), i)).collect();
    Ok(order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect())
}

/// A page of products reordered for the signed-in customer when `personalized` is asked
/// for: the same products and cursors, the order within the page changed.
pub async fn personalize_page(
    ctx: &Context<'_>,
    personalized: bool,
    edges: Vec<ProductEdge>,
) -> ApiResult<(Vec<ProductEdge>, Vec<Product>)> {
    let edges = personalize(ctx, personalized, edges, |e| e.node.0.id.clone()).await?;
    let nodes = edges.iter().map(|e| e.node.clone()).collect();
    Ok((edges, nodes))
}

/// Recommendation queries.
#[derive(Default)]
pub struct RecommendQuery;

/// Recommendation queries.
#[Object]
impl RecommendQuery {
    /// Products to show with a product: similar ones (RELATED) or ones that go with it
    /// (COMPLEMENTARY). Popular products fill in when the recommender knows too little or
    /// is slow.
    #[graphql(complexity = "(first.max(1) as usize) * child_complexity + 1")]
    async fn product_recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product's global ID.")] product_id: ID,
        #[graphql(desc = "What kind of recommendations.", default)]
        intent: ProductRecommendationIntent,
        #[graphql(desc = "How many (1 to 50).", default = 10)] first: i32,
    ) -> ApiResult<Vec<Product>> {
        let id = ids::decode_as(&product_id, "Product")?;
        for_product(ctx, &id, intent, first).await
    }

    /// Products for the viewer: learnt from a signed-in customer's views, carts and orders;
    /// what is popular now for anyone else.
    #[graphql(complexity = "(first.max(1) as usize) * child_complexity + 1")]
    async fn recommended_products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 50).", default = 10)] first: i32,
    ) -> ApiResult<Vec<Product>> {
        let limit = check_first(first)?;
        let customer = viewer_opt(ctx).map(|v| v.sub().to_owned());
        let ids = service::<Recommendations>(ctx)?
            .for_viewer(customer.as_deref(), limit)
            .await;
        products(ctx, &ids).await
    }
}

/// What a shopper did.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackEventType {
    /// Looked at a product.
    View,
    /// Put a product in the cart.
    AddToCart,
    /// Bought a product (checkouts count by themselves; this is for purchases elsewhere).
    Purchase,
    /// Searched.
    Search,
}

/// One interaction to record.
#[derive(InputObject, Debug, Clone)]
pub struct TrackEventInput {
    /// What happened.
    #[graphql(name = "type")]
    pub kind: TrackEventType,
    /// The product (every type but SEARCH).
    pub product_id: Option<ID>,
    /// The query (SEARCH).
    pub query: Option<String>,
}

/// Why an interaction was not recorded.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackEventErrorCode {
    /// The event needs a `productId`.
    MissingProduct,
    /// The event needs a `query`.
    MissingQuery,
    /// No product has this ID.
    ProductNotFound,
    /// A value is malformed or too long.
    Invalid,
}

/// An interaction that was not recorded, and why.
#[derive(SimpleObject, Debug, Clone)]
pub struct TrackEventUserError {
    /// The path of the input (`events`, index, field).
    pub field: Vec<String>,
    /// What was wrong.
    pub code: TrackEventErrorCode,
    /// For people.
    pub message: String,
}

/// What `trackEvents` recorded.
#[derive(SimpleObject, Debug, Clone)]
pub struct TrackEventsPayload {
    /// How many events were recorded.
    pub accepted: i32,
    /// The events that were not, and why.
    pub user_errors: Vec<TrackEventUserError>,
}

fn user_error(
    at: usize,
    field: &str,
    code: TrackEventErrorCode,
    message: &str,
) -> TrackEventUserError {
    TrackEventUserError {
        field: vec!["events".into(), at.to_string(), field.into()],
        code,
        message: message.into(),
    }
}

/// Recommendation mutations.
#[derive(Default)]
pub struct RecommendMutation;

/// Recommendation mutations.
#[Object]
impl RecommendMutation {
    /// Records what the shopper did, for recommendations: a signed-in customer's as theirs,
    /// a guest's under `sessionId` (or only towards popularity without one). Good events are
    /// kept even when others are refused. Limited per client.
    async fn track_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most 50 interactions.")] events: Vec<TrackEventInput>,
        #[graphql(
            desc = "A guest's session (letters, digits, `-` and `_`, up to 64), so that what one guest views together counts together."
        )]
        session_id: Option<String>,
    ) -> async_graphql::Result<TrackEventsPayload> {
        if events.len() > MAX_EVENTS {
            return Err(ApiError::bad_input(format!(
                "send at most {MAX_EVENTS} events at once, not {}",
                events.len()
            ))
            .into());
        }
        if let Some(session) = &session_id {
            let valid = !session.is_empty()
                && session.len() <= MAX_SESSION_CHARS
                && session
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(ApiError::bad_input(
                    "`sessionId` must be 1 to 64 letters, digits, `-` or `_`",
                )
                .into());
            }
        }
        let recommendations = service::<Recommendations>(ctx)?;
        let client = ctx
            .data_opt::<ClientId>()
            .cloned()
            .unwrap_or_else(|| ClientId("unknown".into()));
        recommendations
            .admit(&client, events.len().max(1) as u64)
            .await
            .map_err(|e| match e {
                RecordError::Limited(limited) => {
                    let seconds = limited.retry_after;
                    async_graphql::Error::new(format!("too many events: retry in {seconds} s"))
                        .extend_with(|_, ext| {
                            ext.set("code", ErrorCode::RateLimited.as_str());
                            ext.set("retryAfter", seconds);
                        })
                }
                RecordError::Store(e) => ApiError::from(e).into(),
            })?;
        let subject = match (viewer_opt(ctx), &session_id) {
            (Some(viewer), _) => Some(subject_of_customer(viewer.sub())),
            (None, Some(session)) => Some(subject_of_session(session)),
            (None, None) => None,
        };
        let mut errors = Vec::new();
        let mut wanted: Vec<(usize, EventKind, Option<String>, Option<String>)> = Vec::new();
        for (i, event) in events.into_iter().enumerate() {
            let kind = match event.kind {
                TrackEventType::View => EventKind::View,
                TrackEventType::AddToCart => EventKind::AddToCart,
                TrackEventType::Purchase => EventKind::Purchase,
                TrackEventType::Search => EventKind::Search,
            };
            if kind == EventKind::Search {
                match event.query.map(|q| q.trim().to_owned()) {
                    Some(q) if !q.is_empty() && q.chars().count() <= MAX_QUERY_CHARS => {
                        wanted.push((i, kind, None, Some(q)));
                    }
                    Some(q) if !q.is_empty() => errors.push(user_error(
                        i,
                        "query",
                        TrackEventErrorCode::Invalid,
                        "the query is longer than 200 characters",
                    )),
                    _ => errors.push(user_error(
                        i,
                        "query",
                        TrackEventErrorCode::MissingQuery,
                        "a SEARCH event needs a query",
                    )),
                }
                continue;
            }
            let Some(id) = event.product_id else {
                errors.push(user_error(
                    i,
                    "productId",
                    TrackEventErrorCode::MissingProduct,
                    "this event needs a productId",
                ));
                continue;
            };
            match ids::decode_as(&id, "Product") {
                Ok(product) => wanted.push((i, kind, Some(product), None)),
                Err(_) => errors.push(user_error(
                    i,
                    "productId",
                    TrackEventErrorCode::Invalid,
                    "not a Product ID",
                )),
            }
        }
        let product_ids: Vec<String> = wanted.iter().filter_map(|w| w.2.clone()).collect();
        let traits = recommendations
            .traits(&product_ids)
            .await
            .map_err(ApiError::from)?;
        let now = Utc::now();
        let mut accepted = Vec::new();
        for (i, kind, product, query) in wanted {
            if let Some(product) = &product
                && !traits.contains_key(product)
            {
                errors.push(user_error(
                    i,
                    "productId",
                    TrackEventErrorCode::ProductNotFound,
                    "no product has this ID",
                ));
                continue;
            }
            accepted.push(Interaction {
                kind,
                traits: product
                    .as_ref()
                    .and_then(|p| traits.get(p).cloned())
                    .unwrap_or_default(),
                product_id: product,
                query,
                subject: subject.clone(),
                at: now,
            });
        }
        let count = accepted.len() as i32;
        recommendations
            .record(accepted)
            .await
            .map_err(ApiError::from)?;
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        Ok(TrackEventsPayload {
            accepted: count,
            user_errors: errors,
        })
    }
}

/// The recommendations domain's queries.
pub type Query = RecommendQuery;
/// The recommendations domain's mutations.
pub type Mutation = RecommendMutation;
