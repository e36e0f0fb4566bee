//! A chat session as stored: who owns it, its messages (the latest ones, bounded), and the
//! counters its replies depend on; one item per session, expiring after inactivity.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Owner;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Author {
    /// The shopper.
    Shopper,
    /// The assistant.
    Bot,
}

/// Something a reply shows beside its text, by reference (read afresh when shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CardRecord {
    /// Products, by id, in order.
    Products {
        /// The products' ids.
        product_ids: Vec<String>,
    },
    /// An order, by the digest of its token (which is no key to it).
    Order {
        /// The order's digest.
        digest: String,
    },
    /// Stores, by id, nearest first.
    Stores {
        /// The stores' ids.
        location_ids: Vec<String>,
    },
    /// The conversation was handed to a person.
    Handoff {
        /// The hand-off's reference, for the shopper and the agent.
        reference: String,
    },
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Stable id within the session.
    pub id: String,
    /// Who wrote it.
    pub author: Author,
    /// Its text.
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The intent understood (bot messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// What the reply shows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<CardRecord>,
}

/// A session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Who may read and continue it.
    pub owner: Owner,
    /// The latest messages, oldest first.
    pub messages: Vec<MessageRecord>,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it last changed (it expires a set time after).
    pub updated_at: DateTime<Utc>,
    /// Replies in a row that understood nothing (past a few, the bot offers a person).
    #[serde(default)]
    pub misunderstood: u32,
    /// Order look-ups by number and email made (bounded, against guessing).
    #[serde(default)]
    pub order_lookups: u32,
    /// Bumped by every change.
    pub version: u64,
}

/// A hand-off to a person, kept for the agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffRecord {
    /// Its reference.
    pub reference: String,
    /// The customer, when signed in.
    pub customer: Option<String>,
    /// The conversation's last messages, for the agent to pick up.
    pub transcript: Vec<MessageRecord>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Item keys of the chat domain.
pub mod keys {
    use crate::store::Key;

    /// A session, by the digest of its id.
    pub fn session(digest: &str) -> Key {
        Key::new(format!("CHAT#{digest}"), "SESSION")
    }

    /// The partition of hand-offs, newest last.
    pub const HANDOFFS: &str = "CHAT_HANDOFFS";

    /// A hand-off.
    pub fn handoff(at_millis: i64, reference: &str) -> Key {
        Key::new(HANDOFFS, format!("{at_millis:016}#{reference}"))
    }
}
