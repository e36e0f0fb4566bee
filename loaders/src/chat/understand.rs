//! What a shopper's message means: an intent and its slots, from Amazon Lex V2 or from the
//! embedded matcher. Understanding only: what the gateway does about it (fulfilment) is its
//! own, through the same domain code as the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the shopper wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Intent {
    /// Where an order is.
    OrderStatus,
    /// Products matching a description.
    ProductSearch,
    /// Stores near a place.
    StoreFinder,
    /// When a store is open.
    OpeningHours,
    /// What to buy.
    Recommendations,
    /// How returns work.
    ReturnsPolicy,
    /// A person.
    Human,
    /// Hello.
    Greeting,
    /// Thank you.
    Thanks,
    /// Nothing understood.
    Fallback,
}

impl Intent {
    /// Every intent.
    pub const ALL: [Intent; 10] = [
        Intent::OrderStatus,
        Intent::ProductSearch,
        Intent::StoreFinder,
        Intent::OpeningHours,
        Intent::Recommendations,
        Intent::ReturnsPolicy,
        Intent::Human,
        Intent::Greeting,
        Intent::Thanks,
        Intent::Fallback,
    ];

    /// Its name, as a Lex bot names it.
    pub fn name(self) -> &'static str {
        match self {
            Intent::OrderStatus => "OrderStatus",
            Intent::ProductSearch => "ProductSearch",
            Intent::StoreFinder => "StoreFinder",
            Intent::OpeningHours => "OpeningHours",
            Intent::Recommendations => "Recommendations",
            Intent::ReturnsPolicy => "ReturnsPolicy",
            Intent::Human => "TalkToHuman",
            Intent::Greeting => "Greeting",
            Intent::Thanks => "Thanks",
            Intent::Fallback => "FallbackIntent",
        }
    }

    /// The intent a bot's name stands for (anything else: fallback).
    pub fn named(name: &str) -> Intent {
        Intent::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(name))
            .unwrap_or(Intent::Fallback)
    }
}

/// The slots of the intents (each optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slots {
    /// What to search for (`red dresses`).
    pub query: Option<String>,
    /// The highest price, in cents.
    pub max_cents: Option<i64>,
    /// The lowest price, in cents.
    pub min_cents: Option<i64>,
    /// A place (`Boston`, `02108`).
    pub place: Option<String>,
    /// An order number (`SG-1A2B3C4D`).
    pub order_number: Option<String>,
    /// An email address.
    pub email: Option<String>,
}

impl Slots {
    /// The slots from a bot's name → value map (Lex's slot names: `query`, `maxPrice`,
    /// `minPrice`, `place`, `orderNumber`, `email`; prices in the currency's units).
    pub fn from_named(values: &BTreeMap<String, String>) -> Self {
        let text = |name: &str| {
            values
                .get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let cents = |name: &str| text(name).and_then(|v| super::matcher::cents(&v));
        Self {
            query: text("query"),
            max_cents: cents("maxPrice"),
            min_cents: cents("minPrice"),
            place: text("place"),
            order_number: text("orderNumber").map(|n| n.to_ascii_uppercase()),
            email: text("email").map(|e| e.to_lowercase()),
        }
    }
}

/// A message understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Understood {
    /// What is wanted.
    pub intent: Intent,
    /// With what.
    pub slots: Slots,
    /// How sure, 0 to 1.
    pub confidence: f64,
}

/// Why a message could not be understood now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnderstandError {
    /// The engine failed or is away.
    #[error("the language engine is unavailable: {0}")]
    Unavailable(String),
}

/// An engine that understands messages.
#[async_trait::async_trait]
pub trait Understanding: Send + Sync {
    /// Its name, for metrics.
    fn name(&self) -> &'static str;

    /// What `text` means, in the conversation `session` (engines with dialogue state key it
    /// by the session).
    async fn understand(&self, session: &str, text: &str) -> Result<Understood, UnderstandError>;
}
