//! The Amazon Personalize engine: `GetRecommendations` (a campaign or recommender per intent,
//! and one for the viewer), `GetPersonalizedRanking`, and `PutEvents` to the event tracker.
//! Personalize's runtime has no batch call: one batch of products is answered by calls that
//! run side by side, a bounded number at a time.

use std::collections::HashMap;

use aws_sdk_personalizeevents::types::Event;
use futures::StreamExt;

use super::Intent;
use super::events::{EventKind, Interaction};

/// How many Personalize calls of one batch run at once.
const CONCURRENT_CALLS: usize = 8;

/// Which campaigns or recommenders answer what (`[recommend.personalize]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersonalizeConfig {
    /// The region (default: `aws.region`).
    pub region: Option<String>,
    /// Another endpoint (a test double).
    pub endpoint_url: Option<String>,
    /// Campaign or recommender ARN for RELATED (similar items).
    pub related_arn: String,
    /// Campaign or recommender ARN for COMPLEMENTARY (frequently bought together).
    pub complementary_arn: String,
    /// Campaign or recommender ARN for the viewer's recommendations (user personalization).
    pub for_you_arn: String,
    /// Campaign ARN of a personalized-ranking solution (none: no re-ranking).
    pub ranking_arn: Option<String>,
    /// The event tracker's tracking id (none: interactions are not sent).
    pub tracking_id: Option<String>,
}

/// The Personalize clients.
pub struct Personalize {
    runtime: aws_sdk_personalizeruntime::Client,
    events: aws_sdk_personalizeevents::Client,
    config: PersonalizeConfig,
}

fn failed(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn event_type(kind: EventKind) -> &'static str {
    match kind {
        EventKind::View => "View",
        EventKind::AddToCart => "AddToCart",
        EventKind::Purchase => "Purchase",
        EventKind::Search => "Search",
    }
}

impl Personalize {
    /// Clients for the configured region (or endpoint).
    pub async fn connect(
        config: PersonalizeConfig,
        region: Option<String>,
        metrics: &std::sync::Arc<crate::Metrics>,
    ) -> Result<Self, String> {
        let region = config.region.clone().or(region);
        let shared = crate::aws::sdk_config(region.as_deref(), config.endpoint_url.as_deref())
            .await
            .ok_or("Personalize needs a region (`recommend.personalize.region` or `aws.region`)")?;
        Ok(Self {
            runtime: crate::observed_client!(aws_sdk_personalizeruntime, &shared, metrics),
            events: crate::observed_client!(aws_sdk_personalizeevents, &shared, metrics),
            config,
        })
    }

    fn arn(&self, intent: Intent) -> &str {
        match intent {
            Intent::Related => &self.config.related_arn,
            Intent::Complementary => &self.config.complementary_arn,
        }
    }

    async fn recommendations(
        &self,
        arn: &str,
        item: Option<&str>,
        user: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, String> {
        let mut call = self
            .runtime
            .get_recommendations()
            .num_results(i32::try_from(limit).unwrap_or(100))
            .set_item_id(item.map(str::to_owned))
            .set_user_id(user.map(str::to_owned));
        call = if arn.contains(":recommender/") {
            call.recommender_arn(arn)
        } else {
            call.campaign_arn(arn)
        };
        let answer = call
            .send()
            .await
            .map_err(|e| failed(aws_sdk_personalizeruntime::error::DisplayErrorContext(e)))?;
        Ok(answer
            .item_list()
            .iter()
            .filter_map(|i| i.item_id().map(str::to_owned))
            .collect())
    }

    /// Recommendations for each product, one call per product, side by side.
    pub async fn related_many(
        &self,
        products: &[String],
        intent: Intent,
        limit: usize,
    ) -> Result<HashMap<String, Vec<String>>, String> {
        let arn = self.arn(intent);
        let answers: Vec<(String, Result<Vec<String>, String>)> =
            futures::stream::iter(products.iter().cloned())
                .map(|p: String| async move {
                    let found = self.recommendations(arn, Some(&p), None, limit).await;
                    (p, found)
                })
                .buffer_unordered(CONCURRENT_CALLS)
                .collect()
                .await;
        answers
            .into_iter()
            .map(|(p, found)| found.map(|list| (p, list)))
            .collect()
    }

    /// Recommendations for a customer.
    pub async fn for_user(&self, user: &str, limit: usize) -> Result<Vec<String>, String> {
        self.recommendations(&self.config.for_you_arn, None, Some(user), limit)
            .await
    }

    /// `items` in the customer's order; unchanged without a ranking campaign.
    pub async fn rank(&self, user: &str, items: Vec<String>) -> Result<Vec<String>, String> {
        let Some(arn) = &self.config.ranking_arn else {
            return Ok(items);
        };
        let answer = self
            .runtime
            .get_personalized_ranking()
            .campaign_arn(arn)
            .user_id(user)
            .set_input_list(Some(items))
            .send()
            .await
            .map_err(|e| failed(aws_sdk_personalizeruntime::error::DisplayErrorContext(e)))?;
        Ok(answer
            .personalized_ranking()
            .iter()
            .filter_map(|i| i.item_id().map(str::to_owned))
            .collect())
    }

    /// Sends interactions to the event tracker, one call per shopper (session).
    pub async fn put_events(&self, events: &[Interaction]) -> Result<(), String> {
        let Some(tracking_id) = &self.config.tracking_id else {
            return Ok(());
        };
        let mut by_session: HashMap<&str, Vec<&Interaction>> = HashMap::new();
        for event in events {
            if let (Some(subject), Some(_)) = (&event.subject, &event.product_id) {
                by_session.entry(subject.as_str()).or_default().push(event);
            }
        }
        for (session, events) in by_session {
            let list = events
                .iter()
                .map(|e| {
                    Event::builder()
                        .event_id(uuid::Uuid::new_v4().simple().to_string())
                        .event_type(event_type(e.kind))
                        .set_item_id(e.product_id.clone())
                        .sent_at(aws_smithy_types::DateTime::from_secs(e.at.timestamp()))
                        .build()
                        .map_err(failed)
                })
                .collect::<Result<Vec<Event>, String>>()?;
            self.events
                .put_events()
                .tracking_id(tracking_id)
                .session_id(session)
                .set_user_id(session.strip_prefix("customer:").map(str::to_owned))
                .set_event_list(Some(list))
                .send()
                .await
                .map_err(|e| failed(aws_sdk_personalizeevents::error::DisplayErrorContext(e)))?;
        }
        Ok(())
    }
}
