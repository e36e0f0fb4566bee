//! The event log, for operators: what the gateway published, in the order local consumers
//! read it (`eventLog`, behind the admin key).

use async_graphql::{Context, Object, SimpleObject};
use storefront_loaders::events::{EventLog, Logged};

use crate::checkout::operator;
use crate::context::service;
use crate::error::{ApiError, ApiResult};
use crate::scalars::DateTime;

/// One published event, as the log holds it.
#[derive(SimpleObject)]
pub struct LoggedEvent {
    /// Its place in the log: pass it as `after` to read on.
    pub position: String,
    /// Its id (consumers deduplicate by it).
    pub id: String,
    /// Its type (`OrderPlaced`, `CustomerConsentChanged`, …).
    #[graphql(name = "type")]
    pub kind: String,
    /// The schema version of its envelope and data.
    pub version: i32,
    /// Where it comes from (`storefront.orders`, …).
    pub source: String,
    /// What it is about (a customer's, an order's or a cart's reference).
    pub subject: String,
    /// When it happened.
    pub time: DateTime,
    /// Its data, as the JSON text other systems receive.
    pub data: String,
}

impl From<Logged> for LoggedEvent {
    fn from(l: Logged) -> Self {
        Self {
            position: l.position,
            id: l.event.id,
            kind: l.event.kind,
            version: i32::try_from(l.event.version).unwrap_or(i32::MAX),
            source: l.event.source,
            subject: l.event.subject,
            time: DateTime(l.event.time),
            data: l.event.data.to_string(),
        }
    }
}

/// Event log queries.
#[derive(Default)]
pub struct EventsQuery;

/// Event log queries.
#[Object]
impl EventsQuery {
    /// Published events in log order, after `after` (from the oldest kept when absent), at
    /// most `first` (1–100). Needs an admin API key.
    #[graphql(guard = "operator")]
    async fn event_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `position` of an earlier answer.")] after: Option<String>,
        #[graphql(desc = "How many, 1–100.", default = 50)] first: i32,
    ) -> ApiResult<Vec<LoggedEvent>> {
        let first = usize::try_from(first)
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad_input("`first` is 1 to 100"))?;
        if after.as_ref().is_some_and(|a| a.len() > 100) {
            return Err(ApiError::bad_input("`after` is not a position"));
        }
        Ok(service::<EventLog>(ctx)?
            .read(after.as_deref(), first)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// The domain's queries, as the registry names them.
pub type Query = EventsQuery;
/// The domain has no mutations.
pub type Mutation = async_graphql::EmptyMutation;
