//! The AWS engine: Amazon Fraud Detector's `GetEventPrediction`, with the detector, event
//! type and variables built from the event, and the outcomes of its rules mapped to
//! verdicts by config (the strictest outcome wins; none matched is APPROVE).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::event::{Assessment, FraudEvent, FraudScorer, ScoreError, Verdict};

/// The detector (`[fraud.detector]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// The detector's id.
    pub detector_id: String,
    /// Its version (the active one when absent).
    pub detector_version_id: Option<String>,
    /// The event type's name.
    pub event_type: String,
    /// The entity type's name (the customer).
    pub entity_type: String,
    /// Outcome name → verdict (`{ approve = "APPROVE", investigate = "REVIEW" }`).
    pub outcomes: BTreeMap<String, Verdict>,
    /// Endpoint override (a test fake).
    pub endpoint_url: Option<String>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            detector_id: String::new(),
            detector_version_id: None,
            event_type: "storefront_event".into(),
            entity_type: "customer".into(),
            outcomes: [
                ("approve".to_owned(), Verdict::Approve),
                ("review".to_owned(), Verdict::Review),
                ("block".to_owned(), Verdict::Block),
            ]
            .into(),
            endpoint_url: None,
        }
    }
}

/// The Fraud Detector engine.
pub struct DetectorScorer {
    client: aws_sdk_frauddetector::Client,
    config: DetectorConfig,
}

impl DetectorScorer {
    /// A scorer asking the detector of `config` through `client`.
    pub fn new(client: aws_sdk_frauddetector::Client, config: DetectorConfig) -> Self {
        Self { client, config }
    }
}

/// The event's variables, by the names the detector's event type declares (documented in
/// the README): only those the event has.
pub fn variables(event: &FraudEvent) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            vars.insert(name.to_owned(), value);
        }
    };
    put("event_kind", Some(event.kind.as_str().to_owned()));
    put("email_address", Some(event.email.clone()));
    put("ip_address", event.ip.clone());
    put("user_agent", event.signals.user_agent.clone());
    put("device_id", event.signals.device_id.clone());
    put("order_price", event.amount.map(|a| a.to_string()));
    put("currency_code", event.currency.clone());
    put(
        "shipping_country",
        event.shipping.as_ref().map(|a| a.country.clone()),
    );
    put(
        "shipping_address",
        event.shipping.as_ref().map(|a| a.line.clone()),
    );
    put(
        "billing_country",
        event.billing.as_ref().map(|a| a.country.clone()),
    );
    put(
        "billing_address",
        event.billing.as_ref().map(|a| a.line.clone()),
    );
    put("card_fingerprint", event.card_fingerprint.clone());
    put(
        "account_age_days",
        event.account_age_days.map(|d| d.to_string()),
    );
    vars
}

#[async_trait]
impl FraudScorer for DetectorScorer {
    fn name(&self) -> &'static str {
        "frauddetector"
    }

    async fn score(&self, event: &FraudEvent) -> Result<Assessment, ScoreError> {
        let entity = aws_sdk_frauddetector::types::Entity::builder()
            .entity_type(&self.config.entity_type)
            // The service's word for an entity it cannot name.
            .entity_id(event.customer_id.as_deref().unwrap_or("unknown"))
            .build()
            .map_err(|e| ScoreError(e.to_string()))?;
        let answer = self
            .client
            .get_event_prediction()
            .detector_id(&self.config.detector_id)
            .set_detector_version_id(self.config.detector_version_id.clone())
            .event_id(
                event
                    .order_id
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            )
            .event_type_name(&self.config.event_type)
            .event_timestamp(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .entities(entity)
            .set_event_variables(Some(variables(event)))
            .send()
            .await
            .map_err(|e| {
                ScoreError(aws_smithy_types::error::display::DisplayErrorContext(e).to_string())
            })?;
        let mut assessed = Assessment::clean();
        for rule in answer.rule_results() {
            for outcome in rule.outcomes() {
                let verdict = self
                    .config
                    .outcomes
                    .get(outcome)
                    .copied()
                    .unwrap_or(Verdict::Approve);
                assessed.verdict = assessed.verdict.max(verdict);
                assessed.reasons.push(format!(
                    "rule {} gave {outcome}",
                    rule.rule_id().unwrap_or("?")
                ));
            }
        }
        let best = answer
            .model_scores()
            .iter()
            .filter_map(|m| m.scores())
            .flat_map(|s| s.values().copied())
            .fold(0.0_f32, f32::max);
        // Model scores run 0–1000; the cast saturates anything odd.
        assessed.score = best.clamp(0.0, 1_000.0) as u32;
        Ok(assessed)
    }
}
