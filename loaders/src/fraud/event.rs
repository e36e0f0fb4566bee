//! What a fraud check sees and what it answers: the event (sign-in, sign-up or checkout,
//! with the signals of the request), the verdict with a score and its reasons, and the
//! `FraudScorer` trait both engines implement.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Go ahead.
    Approve,
    /// Go ahead, but hold what follows for a person to look at (an order goes ON_HOLD).
    Review,
    /// Refuse.
    Block,
}

impl Verdict {
    /// As stored and configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "APPROVE",
            Verdict::Review => "REVIEW",
            Verdict::Block => "BLOCK",
        }
    }
}

/// Which moment of the customer's journey is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FraudEventKind {
    /// A sign-in.
    SignIn,
    /// A new account.
    SignUp,
    /// A checkout.
    Checkout,
}

impl FraudEventKind {
    /// As a label and a variable value.
    pub fn as_str(self) -> &'static str {
        match self {
            FraudEventKind::SignIn => "sign_in",
            FraudEventKind::SignUp => "sign_up",
            FraudEventKind::Checkout => "checkout",
        }
    }
}

/// The signals of a request the client sends about itself: untrusted, so they only ever
/// make a verdict stricter (a velocity per device), never looser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSignals {
    /// The `User-Agent` header (at most 256 characters kept).
    pub user_agent: Option<String>,
    /// The `X-Device-Id` header (at most 128 characters kept).
    pub device_id: Option<String>,
}

impl ClientSignals {
    /// From the two headers' values, cut to their bounds.
    pub fn new(user_agent: Option<&str>, device_id: Option<&str>) -> Self {
        let bounded = |v: Option<&str>, max: usize| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| v.chars().take(max).collect::<String>())
        };
        Self {
            user_agent: bounded(user_agent, 256),
            device_id: bounded(device_id, 128),
        }
    }
}

/// An address as the fraud check sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FraudAddress {
    /// ISO country code.
    pub country: String,
    /// One line: street, city, postal code (normalized for velocity counting).
    pub line: String,
}

/// What a check is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudEvent {
    /// Sign-in, sign-up or checkout.
    pub kind: FraudEventKind,
    /// The email given.
    pub email: String,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's own signals.
    pub signals: ClientSignals,
    /// The order's id (checkout).
    pub order_id: Option<String>,
    /// What the order costs (checkout).
    pub amount: Option<Decimal>,
    /// Its currency (checkout).
    pub currency: Option<String>,
    /// Where it ships (checkout).
    pub shipping: Option<FraudAddress>,
    /// Where the bill goes (checkout).
    pub billing: Option<FraudAddress>,
    /// A fingerprint of the payment method (a hash of its token, never the token).
    pub card_fingerprint: Option<String>,
    /// Days since the account was made (a signed-in checkout or sign-in).
    pub account_age_days: Option<i64>,
    /// The customer's id, when signed in.
    pub customer_id: Option<String>,
}

impl FraudEvent {
    /// An event of `kind` for `email`, with nothing else known yet.
    pub fn new(kind: FraudEventKind, email: &str) -> Self {
        Self {
            kind,
            email: email.trim().to_ascii_lowercase(),
            ip: None,
            signals: ClientSignals::default(),
            order_id: None,
            amount: None,
            currency: None,
            shipping: None,
            billing: None,
            card_fingerprint: None,
            account_age_days: None,
            customer_id: None,
        }
    }
}

/// A scorer's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The verdict.
    pub verdict: Verdict,
    /// How risky, 0 (none) to 1000 (certain).
    pub score: u32,
    /// Why, one short sentence a reviewer reads per reason.
    pub reasons: Vec<String>,
}

impl Assessment {
    /// Approved, with no reason to doubt.
    pub fn clean() -> Self {
        Self {
            verdict: Verdict::Approve,
            score: 0,
            reasons: Vec::new(),
        }
    }
}

/// Why a scorer gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScoreError(pub String);

/// Scores events.
#[async_trait]
pub trait FraudScorer: Send + Sync {
    /// Its name (`rules`, `frauddetector`), stored with each decision.
    fn name(&self) -> &'static str;
    /// The assessment of an event.
    async fn score(&self, event: &FraudEvent) -> Result<Assessment, ScoreError>;
}
