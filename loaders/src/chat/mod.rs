//! Chatbot sessions (the chat domain): conversations kept in the store for a while after
//! their last message, understood by Amazon Lex V2 or the embedded matcher within a
//! deadline (past it, a polite reply), and hand-offs to people kept for the agents.

pub mod lex;
pub mod matcher;
pub mod records;
pub mod store;
pub mod understand;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};

use self::store::ChatStore;
use self::understand::{Intent, Slots, Understanding, Understood};
use crate::domain::{
    Domain, DomainConfig, OpenError, Services, SettingError, Shared, SharedSettings, parse_section,
};

/// Which engine understands messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatEngineKind {
    /// The embedded matcher.
    #[default]
    Embedded,
    /// Amazon Lex V2 (settings under `[chat.lex]`).
    Lex,
}

/// The Lex V2 bot (`[chat.lex]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LexConfig {
    /// The bot's id.
    pub bot_id: String,
    /// The alias to talk to.
    pub bot_alias_id: String,
    /// The locale (`en_US`).
    pub locale_id: String,
    /// Its region (default: `aws.region`).
    pub region: Option<String>,
    /// Another endpoint (a VPC endpoint or a test double).
    pub endpoint_url: Option<String>,
}

impl Default for LexConfig {
    fn default() -> Self {
        Self {
            bot_id: String::new(),
            bot_alias_id: String::new(),
            locale_id: "en_US".into(),
            region: None,
            endpoint_url: None,
        }
    }
}

/// The chat domain's settings (`[chat]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// `embedded` or `lex`.
    pub engine: ChatEngineKind,
    /// The Lex bot, with `engine = "lex"`.
    pub lex: LexConfig,
    /// Minutes a session lives after its last message (its text goes with it).
    pub session_minutes: u64,
    /// The most messages a session keeps (the oldest go first).
    pub max_messages: usize,
    /// The longest message a shopper may send, in characters.
    pub max_text_chars: usize,
    /// How long the engine may take before the bot answers politely that it cannot now.
    pub deadline_millis: u64,
    /// Below this confidence a message counts as not understood.
    pub min_confidence: f64,
    /// Days a hand-off is kept for the agents.
    pub handoff_days: u64,
    /// Order look-ups by number and email a guest's session may make (each is counted
    /// before it is made); past them it is told to sign in or ask a person.
    pub max_order_lookups: u32,
    /// The returns policy, as the bot tells it.
    pub returns_policy: String,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            engine: ChatEngineKind::Embedded,
            lex: LexConfig::default(),
            session_minutes: 30,
            max_messages: 100,
            max_text_chars: 500,
            deadline_millis: 1_500,
            min_confidence: 0.3,
            handoff_days: 30,
            max_order_lookups: 5,
            returns_policy: "You can return anything unworn within 30 days for a full refund: \
                start a return from your order, or bring it to any of our stores."
                .into(),
        }
    }
}

impl DomainConfig for ChatConfig {
    fn validate(&self, section: &str, shared: &SharedSettings) -> Result<(), SettingError> {
        let bad =
            |key: &str, reason: &str| Err(SettingError::new(format!("{section}.{key}"), reason));
        if self.engine == ChatEngineKind::Lex {
            if self.lex.bot_id.is_empty() || self.lex.bot_alias_id.is_empty() {
                return bad(
                    "lex.bot_id",
                    "the Lex engine needs `bot_id` and `bot_alias_id`",
                );
            }
            if self.lex.region.is_none() && shared.aws_region.is_none() {
                return bad(
                    "lex.region",
                    "the Lex engine needs a region (this or `aws.region`)",
                );
            }
        }
        if self.session_minutes == 0 || self.handoff_days == 0 {
            return bad(
                "session_minutes",
                "sessions and hand-offs must live at least 1 minute and 1 day",
            );
        }
        if !(2..=1_000).contains(&self.max_messages) {
            return bad("max_messages", "must be 2 to 1000");
        }
        if !(1..=4_000).contains(&self.max_text_chars) {
            return bad("max_text_chars", "must be 1 to 4000");
        }
        if self.deadline_millis == 0 {
            return bad("deadline_millis", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return bad("min_confidence", "must be 0 to 1");
        }
        Ok(())
    }
}

/// Replies, by engine and intent understood.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reply {
    /// `embedded` or `lex`.
    pub engine: &'static str,
    /// The intent (`ProductSearch`), or `Unavailable` when the engine did not answer.
    pub intent: &'static str,
}

/// The chat domain's service.
#[derive(Clone)]
pub struct Chat {
    /// Sessions and hand-offs.
    pub store: ChatStore,
    /// The engine.
    pub understanding: Arc<dyn Understanding>,
    /// The settings.
    pub config: ChatConfig,
    replies: Family<Reply, Counter>,
    handoffs: Counter,
}

impl Chat {
    /// How long a session lives after its last message.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.config.session_minutes * 60)
    }

    /// How long a hand-off is kept.
    pub fn handoff_ttl(&self) -> Duration {
        Duration::from_secs(self.config.handoff_days * 24 * 3600)
    }

    /// What `text` means, or `None` when the engine failed or missed the deadline (the
    /// caller answers politely). A message it is not sure of is a fallback.
    pub async fn understand(&self, session: &str, text: &str) -> Option<Understood> {
        let deadline = Duration::from_millis(self.config.deadline_millis);
        let engine = self.understanding.name();
        let understood = match tokio::time::timeout(
            deadline,
            self.understanding.understand(session, text),
        )
        .await
        {
            Ok(Ok(understood)) => understood,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the chat engine failed; answering politely");
                self.count(engine, "Unavailable");
                return None;
            }
            Err(_) => {
                tracing::warn!("the chat engine missed its deadline; answering politely");
                self.count(engine, "Unavailable");
                return None;
            }
        };
        let understood = if understood.confidence < self.config.min_confidence {
            Understood {
                intent: Intent::Fallback,
                slots: Slots::default(),
                ..understood
            }
        } else {
            understood
        };
        self.count(engine, understood.intent.name());
        Some(understood)
    }

    fn count(&self, engine: &'static str, intent: &'static str) {
        self.replies.get_or_create(&Reply { engine, intent }).inc();
    }

    /// Counts a hand-off.
    pub fn handed_off(&self) {
        self.handoffs.inc();
    }
}

/// The chat domain.
pub struct ChatDomain;

/// The chat domain, as registered in the schema crate.
pub static DOMAIN: ChatDomain = ChatDomain;

#[async_trait::async_trait]
impl Domain for ChatDomain {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<ChatConfig>(self.name(), section, shared).map(drop)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let config: ChatConfig = parse_section(self.name(), section, &shared.settings)?;
        let understanding: Arc<dyn Understanding> = match config.engine {
            ChatEngineKind::Embedded => Arc::new(matcher::Matcher),
            ChatEngineKind::Lex => Arc::new(
                lex::LexBot::connect(
                    config.lex.bot_id.clone(),
                    config.lex.bot_alias_id.clone(),
                    config.lex.locale_id.clone(),
                    config
                        .lex
                        .region
                        .as_deref()
                        .or(shared.settings.aws_region.as_deref()),
                    config.lex.endpoint_url.as_deref(),
                    &shared.metrics,
                )
                .await
                .map_err(OpenError::new)?,
            ),
        };
        let replies = Family::<Reply, Counter>::default();
        shared.metrics.register(
            "chat_replies",
            "Chat replies, by engine and intent understood (`Unavailable`: the engine did not answer in time)",
            replies.clone(),
        );
        let handoffs = Counter::default();
        shared.metrics.register(
            "chat_handoffs",
            "Chat conversations handed to a person",
            handoffs.clone(),
        );
        services.insert(Chat {
            store: ChatStore::new(Arc::clone(&shared.table)),
            understanding,
            config,
            replies,
            handoffs,
        });
        Ok(())
    }
}
