//! The DynamoDB engine of the `Table` interface (`aws-sdk-dynamodb`), and the table's
//! definition for `aws bootstrap`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest,
    ReturnValue, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem,
    Update as UpdateOp, WriteRequest,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Number, Value};

use super::{
    BATCH_GET_MAX, CancellationReason, Condition, Index, Item, Key, PK, Page, Query, SK,
    SortKeyCondition, StartKey, StoreError, Table, Update, WriteOp, backoff, validate_item,
    validate_transaction,
};

/// The most items one BatchWriteItem call may hold.
const BATCH_WRITE_MAX: usize = 25;
/// How often unprocessed keys or items are retried before the store reports throttling.
const MAX_BATCH_ATTEMPTS: u32 = 8;
/// The attribute DynamoDB's TTL deletes items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The store as one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: Client,
    table: String,
    round_trips: Arc<AtomicU64>,
}

/// Counts every HTTP request the SDK sends (retries and unprocessed-key rounds included).
#[derive(Debug)]
struct RoundTrips(Arc<AtomicU64>);

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Where the table is and how to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamoSettings {
    /// AWS region; the standard chain (`AWS_REGION`, profile) when `None`.
    pub region: Option<String>,
    /// The table's name.
    pub table: String,
    /// Endpoint override (DynamoDB Local); `AWS_ENDPOINT_URL(_DYNAMODB)` also work.
    pub endpoint_url: Option<String>,
    /// The most one call may take, its retries included; one attempt gets a third of it.
    pub call_timeout: std::time::Duration,
}

impl DynamoTable {
    /// A client for the table, configured from `settings` and the standard AWS chain
    /// (credentials from the environment, profile, container or instance role).
    pub async fn connect(settings: &DynamoSettings) -> Result<Self, StoreError> {
        let shared =
            crate::aws::sdk_config(settings.region.as_deref(), settings.endpoint_url.as_deref())
                .await
                .ok_or_else(|| {
                    StoreError::Validation(
                        "no AWS region: set `aws.region` (STOREFRONT_AWS_REGION) or AWS_REGION"
                            .into(),
                    )
                })?;
        let config = aws_sdk_dynamodb::config::Builder::from(&shared)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(settings.call_timeout / 3)
                    .operation_attempt_timeout(settings.call_timeout / 3)
                    .operation_timeout(settings.call_timeout)
                    .build(),
            )
            .build();
        Ok(Self::with_client(
            Client::from_conf(config),
            settings.table.clone(),
        ))
    }

    /// A table on an existing client.
    pub fn with_client(client: Client, table: impl Into<String>) -> Self {
        let round_trips = Arc::new(AtomicU64::new(0));
        let config = client
            .config()
            .to_builder()
            .interceptor(RoundTrips(Arc::clone(&round_trips)))
            .build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
            round_trips,
        }
    }

    /// How many HTTP requests this table has sent to DynamoDB (each retry counts).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Checks that the table exists and is usable, with a message that says what to do.
    pub async fn check(&self) -> Result<(), StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                Err(StoreError::Backend(format!(
                    "DynamoDB table `{}` does not exist: run `storefront-gateway aws bootstrap`",
                    self.table
                )))
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Creates the table, its GSIs and TTL when missing; returns whether it created the table.
    /// Safe to run again.
    pub async fn bootstrap(&self) -> Result<bool, StoreError> {
        let string_attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, ty: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(ty)
                .build()
                .map_err(build_error)
        };
        let mut attributes = vec![string_attr(PK)?, string_attr(SK)?];
        let mut indexes = vec![];
        for index in Index::SECONDARY {
            let (p, s) = index.key_attributes();
            for name in [p, s] {
                if !attributes.iter().any(|a| a.attribute_name() == name) {
                    attributes.push(string_attr(name)?);
                }
            }
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name())
                    .key_schema(key(p, KeyType::Hash)?)
                    .key_schema(key(s, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        let created = match self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .set_global_secondary_indexes(Some(indexes))
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.code() == Some("ResourceInUseException") => false,
            Err(e) => return Err(sdk_error(e)),
        };
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(sdk_error)?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let ttl = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(sdk_error)?;
        let enabled = ttl
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            .is_some_and(|name| name == TTL_ATTRIBUTE);
        if !enabled {
            self.client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(TTL_ATTRIBUTE)
                        .enabled(true)
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await
                .map_err(sdk_error)?;
        }
        Ok(created)
    }

    /// Deletes the table (tests clean up with it).
    pub async fn delete_table(&self) -> Result<(), StoreError> {
        self.client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Validation(e.to_string())
}

/// Maps an SDK error to the store's errors. The SDK has already retried throttling.
fn sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
        return StoreError::Unavailable(DisplayErrorContext(&e).to_string());
    }
    match e.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("InternalServerError" | "ServiceUnavailable") => {
            StoreError::Unavailable(e.message().unwrap_or("the service failed").to_owned())
        }
        Some(
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded",
        ) => StoreError::Throttled(e.message().unwrap_or("throttled").to_owned()),
        Some("ValidationException") => {
            StoreError::Validation(e.message().unwrap_or("invalid request").to_owned())
        }
        _ => StoreError::Backend(DisplayErrorContext(&e).to_string()),
    }
}

/// Waits before retry `attempt` of what a batch call left unprocessed (nothing before the
/// first call), or gives up as throttled after [`MAX_BATCH_ATTEMPTS`].
async fn retry_unprocessed(attempt: u32, left: usize, what: &str) -> Result<(), StoreError> {
    if attempt == 0 {
        return Ok(());
    }
    if attempt >= MAX_BATCH_ATTEMPTS {
        return Err(StoreError::Throttled(format!(
            "{left} {what} stayed unprocessed after {MAX_BATCH_ATTEMPTS} attempts"
        )));
    }
    backoff(attempt).await;
    Ok(())
}

/// A JSON value as a DynamoDB attribute value.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// A DynamoDB attribute value as JSON.
pub fn from_attribute(value: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => {
            if let Ok(i) = n.parse::<i64>() {
                Value::from(i)
            } else {
                n.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| StoreError::Corrupt(format!("number `{n}`")))?
            }
        }
        AttributeValue::L(items) => {
            Value::Array(items.iter().map(from_attribute).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
                .collect::<Result<_, StoreError>>()?,
        ),
        other => {
            return Err(StoreError::Corrupt(format!(
                "unsupported attribute type {other:?}"
            )));
        }
    })
}

fn to_attributes(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

fn from_attributes(item: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    item.iter()
        .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
        .collect()
}

fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Placeholders for names and values of one expression request.
#[derive(Default)]
struct Expression {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, name: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, n)| *n == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::ItemExists => format!("attribute_exists({})", self.name(PK)),
            Condition::ItemNotExists => format!("attribute_not_exists({})", self.name(PK)),
            Condition::AttributeExists(n) => format!("attribute_exists({})", self.name(n)),
            Condition::AttributeNotExists(n) => format!("attribute_not_exists({})", self.name(n)),
            Condition::Equals(n, v) => {
                let name = self.name(n);
                format!("{name} = {}", self.value(to_attribute(v)))
            }
            Condition::AtLeast(n, min) => {
                let name = self.name(n);
                format!(
                    "{name} >= {}",
                    self.value(AttributeValue::N(min.to_string()))
                )
            }
            Condition::And(all) | Condition::Or(all) if all.is_empty() => {
                // An empty AND holds and an empty OR does not; say so with a tautology.
                let pk = self.name(PK);
                let holds = format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))");
                if matches!(condition, Condition::And(_)) {
                    holds
                } else {
                    format!("(NOT {holds})")
                }
            }
            Condition::And(all) => self.joined(all, " AND "),
            Condition::Or(any) => self.joined(any, " OR "),
            Condition::Not(inner) => format!("(NOT {})", self.condition(inner)),
        }
    }

    fn joined(&mut self, parts: &[Condition], separator: &str) -> String {
        let parts: Vec<String> = parts.iter().map(|c| self.condition(c)).collect();
        format!("({})", parts.join(separator))
    }

    fn update(&mut self, update: &Update) -> Option<String> {
        let mut clauses = vec![];
        if !update.set.is_empty() {
            let sets: Vec<String> = update
                .set
                .iter()
                .map(|(n, v)| {
                    let name = self.name(n);
                    format!("{name} = {}", self.value(to_attribute(v)))
                })
                .collect();
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !update.remove.is_empty() {
            let removes: Vec<String> = update.remove.iter().map(|n| self.name(n)).collect();
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        if !update.add.is_empty() {
            let adds: Vec<String> = update
                .add
                .iter()
                .map(|(n, d)| {
                    let name = self.name(n);
                    format!("{name} {}", self.value(AttributeValue::N(d.to_string())))
                })
                .collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn check_update(update: &Update) -> Result<(), StoreError> {
    if update
        .attribute_names()
        .any(|name| name == PK || name == SK)
    {
        return Err(StoreError::Validation(
            "an update cannot change the key attributes".into(),
        ));
    }
    Ok(())
}

fn cancellation_reason(code: Option<&str>) -> CancellationReason {
    match code {
        None | Some("None") => CancellationReason::None,
        Some("ConditionalCheckFailed") => CancellationReason::ConditionalCheckFailed,
        Some("TransactionConflict") => CancellationReason::TransactionConflict,
        Some(other) => CancellationReason::Other(other.to_owned()),
    }
}

impl DynamoTable {
    fn transact_item(&self, op: &WriteOp) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expression::default();
        let builder = TransactWriteItem::builder();
        let item = match op {
            WriteOp::Put { item, condition } => {
                let condition = condition.as_ref().map(|c| expr.condition(c));
                builder.put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attributes(item)))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
            WriteOp::Update {
                key,
                update,
                condition,
            } => {
                check_update(update)?;
                let condition = condition.as_ref().map(|c| expr.condition(c));
                let update = expr.update(update).ok_or_else(|| {
                    StoreError::Validation(
                        "an update in a transaction must change something".into(),
                    )
                })?;
                builder.update(
                    UpdateOp::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attributes(key)))
                        .update_expression(update)
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
            WriteOp::Delete { key, condition } => {
                let condition = condition.as_ref().map(|c| expr.condition(c));
                builder.delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attributes(key)))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
            WriteOp::ConditionCheck { key, condition } => {
                let condition = expr.condition(condition);
                builder.condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attributes(key)))
                        .condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                )
            }
        };
        Ok(item.build())
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let mut unique: Vec<Key> = keys.to_vec();
        unique.sort();
        unique.dedup();
        let mut found = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(key_attributes).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                retry_unprocessed(attempt, pending.len(), "keys").await?;
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error)?;
                let response = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                if let Some(items) = response.responses().and_then(|r| r.get(&self.table)) {
                    for item in items {
                        found.push(from_attributes(item)?);
                    }
                }
                if let Some(left) = response.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    pending = left.keys().to_vec();
                }
            }
        }
        Ok(found)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Validation(
                "a query limit must be at least 1".into(),
            ));
        }
        let (ip, is) = query.index.key_attributes();
        let mut expr = Expression::default();
        let partition_name = expr.name(ip);
        let partition_value = expr.value(AttributeValue::S(query.partition.clone()));
        let mut key_condition = format!("{partition_name} = {partition_value}");
        if let SortKeyCondition::BeginsWith(prefix) = &query.sort {
            let sort_name = expr.name(is);
            let prefix = expr.value(AttributeValue::S(prefix.clone()));
            key_condition.push_str(&format!(" AND begins_with({sort_name}, {prefix})"));
        }
        let filter = query.filter.as_ref().map(|f| expr.condition(f));
        let index_name = (query.index != Index::Primary).then(|| query.index.name().to_owned());
        let mut start: Option<HashMap<String, AttributeValue>> = match &query.start {
            None => None,
            Some(start) => {
                if start.get(ip) != Some(&query.partition) {
                    return Err(StoreError::Validation(
                        "the start key belongs to another partition".into(),
                    ));
                }
                Some(start_key_attributes(query.index, start)?)
            }
        };
        let mut page = Page::default();
        loop {
            let remaining = query.limit - page.items.len();
            let response = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index_name.clone())
                .key_condition_expression(&key_condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .scan_index_forward(query.forward)
                .consistent_read(query.index == Index::Primary)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in response.items() {
                page.items.push(from_attributes(item)?);
            }
            let last = response.last_evaluated_key().cloned();
            match last {
                Some(last) if page.items.len() < query.limit => start = Some(last),
                Some(last) => {
                    page.next = Some(
                        last.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                            .collect(),
                    );
                    break;
                }
                None => break,
            }
        }
        Ok(page)
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        validate_item(&item)?;
        let mut expr = Expression::default();
        let condition = condition.as_ref().map(|c| expr.condition(c));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(&item)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }

    async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        check_update(update)?;
        let mut expr = Expression::default();
        let condition = condition.as_ref().map(|c| expr.condition(c));
        let update_expression = expr.update(update);
        let response = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_update_expression(update_expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        match response.attributes() {
            Some(attributes) => from_attributes(attributes),
            None => Ok(key.to_item()),
        }
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut expr = Expression::default();
        let condition = condition.as_ref().map(|c| expr.condition(c));
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        let items = ops
            .iter()
            .map(|op| self.transact_item(op))
            .collect::<Result<Vec<_>, _>>()?;
        // The token makes a retried request idempotent: DynamoDB applies it once.
        let token = uuid::Uuid::new_v4().to_string();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e.as_service_error().and_then(|service| match service {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        Some(c.cancellation_reasons().iter().map(|r| cancellation_reason(r.code())).collect::<Vec<_>>())
                    }
                    _ => None,
                });
                match reasons {
                    Some(reasons) if !reasons.is_empty() => {
                        Err(StoreError::TransactionCanceled { reasons })
                    }
                    _ => Err(sdk_error(e)),
                }
            }
        }
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for item in &items {
            validate_item(item)?;
        }
        // BatchWriteItem rejects two writes of one key in a call; the last one wins, as in a
        // sequence of puts.
        let mut by_key: HashMap<Key, &Item> = HashMap::new();
        let mut order = vec![];
        for item in &items {
            let key = Key::of(item).expect("validated items have keys");
            if by_key.insert(key.clone(), item).is_none() {
                order.push(key);
            }
        }
        let unique: Vec<&Item> = order.iter().map(|k| by_key[k]).collect();
        // The chunks hold distinct keys, so they may be written in any order: a few at a time
        // (a seed of thousands of items is bound by round trips, not by write capacity).
        let mut writes = Vec::new();
        for chunk in unique.chunks(BATCH_WRITE_MAX) {
            writes.push(self.write_chunk(chunk));
        }
        futures::stream::iter(writes)
            .buffer_unordered(BATCH_WRITES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

/// How many BatchWriteItem calls one `batch_put` keeps in flight.
const BATCH_WRITES_IN_FLIGHT: usize = 8;

impl DynamoTable {
    /// Writes one BatchWriteItem's worth of items, retrying what DynamoDB leaves unprocessed.
    async fn write_chunk(&self, chunk: &[&Item]) -> Result<(), StoreError> {
        let mut pending = chunk
            .iter()
            .map(|item| {
                Ok(WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(to_attributes(item)))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut attempt = 0;
        while !pending.is_empty() {
            retry_unprocessed(attempt, pending.len(), "items").await?;
            attempt += 1;
            let response = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut pending))
                .send()
                .await
                .map_err(sdk_error)?;
            if let Some(left) = response
                .unprocessed_items()
                .and_then(|u| u.get(&self.table))
            {
                pending = left.clone();
            }
        }
        Ok(())
    }
}

fn start_key_attributes(
    index: Index,
    start: &StartKey,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let (ip, is) = index.key_attributes();
    let mut key = HashMap::new();
    for name in [PK, SK, ip, is] {
        let value = start
            .get(name)
            .ok_or_else(|| StoreError::Validation(format!("the start key lacks `{name}`")))?;
        key.insert(name.to_owned(), AttributeValue::S(value.clone()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_survive_the_trip_through_attribute_values() {
        let value = json!({"s": "x", "n": 3, "f": 1.5, "b": true, "z": null, "l": [1, "a"], "m": {"k": [true]}});
        assert_eq!(from_attribute(&to_attribute(&value)).expect("back"), value);
    }

    #[test]
    fn conditions_become_expressions_with_placeholders() {
        let mut expr = Expression::default();
        let text = expr.condition(&Condition::And(vec![
            Condition::ItemExists,
            Condition::Not(Box::new(Condition::equals("available", true))),
            Condition::AtLeast("qty".into(), 2),
        ]));
        assert_eq!(
            text,
            "(attribute_exists(#n0) AND (NOT #n1 = :v0) AND #n2 >= :v1)"
        );
        assert_eq!(expr.names().expect("names")["#n1"], "available");
        let update = expr.update(&Update {
            set: vec![("a".into(), json!(1))],
            remove: vec!["b".into()],
            add: vec![("qty".into(), -1)],
        });
        assert_eq!(
            update.as_deref(),
            Some("SET #n3 = :v2 REMOVE #n4 ADD #n2 :v3")
        );
    }
}
