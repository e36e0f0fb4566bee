//! Fraud scoring at checkout: a `FraudScorer` answers APPROVE, REVIEW or BLOCK. The embedded
//! rules: amount thresholds, a billing country that differs from the shipping one, and
//! velocity (orders per email and per address in an hour, counted across replicas).

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::rate_limit::{ClientId, RateLimiter};

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Go ahead.
    Approve,
    /// Take the payment but hold the order for a person to look at.
    Review,
    /// Refuse the checkout.
    Block,
}

impl Verdict {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "APPROVE",
            Verdict::Review => "REVIEW",
            Verdict::Block => "BLOCK",
        }
    }
}

/// What the scorer sees of a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudInput {
    /// The buyer's email.
    pub email: String,
    /// The client's address.
    pub ip: Option<String>,
    /// What the order costs.
    pub total: Decimal,
    /// Shipping country.
    pub shipping_country: String,
    /// Billing country.
    pub billing_country: String,
}

/// Scores checkouts.
#[async_trait]
pub trait FraudScorer: Send + Sync {
    /// The verdict on a checkout.
    async fn score(&self, input: &FraudInput) -> Verdict;
}

/// The embedded rules' settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudRules {
    /// Orders over this are reviewed.
    pub review_over: Decimal,
    /// Orders over this are blocked.
    pub block_over: Decimal,
    /// A billing country other than the shipping country is reviewed.
    pub review_country_mismatch: bool,
    /// Orders per email, and per address, in an hour before they are reviewed.
    pub orders_per_hour: u64,
}

impl Default for FraudRules {
    fn default() -> Self {
        Self {
            review_over: Decimal::from(2_000),
            block_over: Decimal::from(10_000),
            review_country_mismatch: true,
            orders_per_hour: 10,
        }
    }
}

/// The embedded rules.
pub struct RuleScorer {
    rules: FraudRules,
    velocity: RateLimiter,
}

impl RuleScorer {
    /// Rules with their velocity counted by `velocity` (a limiter with an hour's window).
    pub fn new(rules: FraudRules, velocity: RateLimiter) -> Self {
        Self { rules, velocity }
    }
}

#[async_trait]
impl FraudScorer for RuleScorer {
    async fn score(&self, input: &FraudInput) -> Verdict {
        if input.total > self.rules.block_over {
            return Verdict::Block;
        }
        let mut verdict = Verdict::Approve;
        if input.total > self.rules.review_over
            || (self.rules.review_country_mismatch
                && !input
                    .shipping_country
                    .eq_ignore_ascii_case(&input.billing_country))
        {
            verdict = Verdict::Review;
        }
        let mut keys = vec![ClientId(format!("email:{}", input.email))];
        if let Some(ip) = &input.ip {
            keys.push(ClientId(format!("ip:{ip}")));
        }
        for key in keys {
            if self.velocity.spend(&key, 1).await.is_err() {
                verdict = Verdict::Review;
            }
        }
        verdict
    }
}
