//! The chat domain: `chatSessionStart`, `chatSendMessage` and `chatSession`, a conversation
//! with the shop's assistant whose replies carry typed cards (products, an order, stores, a
//! hand-off), for the session's owner only (the customer who began it, or whoever holds a
//! guest's session id); and `chatHandoffs` for operators.

mod fulfil;

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Union};
use chrono::Utc;
use storefront_loaders::chat::Chat;
use storefront_loaders::chat::records::{
    Author, CardRecord, HandoffRecord, MessageRecord, SessionRecord,
};
use storefront_loaders::checkout::Checkout;
use storefront_loaders::identity::{GuestToken, Owner};
use storefront_loaders::rate_limit::Operator;

use crate::catalog::{Money, Product};
use crate::checkout::OrderStatus;
use crate::context::service;
use crate::customer::viewer_opt;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids;
use crate::location::{Location, OrderDelivery};
use crate::scalars::DateTime;

/// Who wrote a chat message.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatAuthor {
    /// The shopper.
    Shopper,
    /// The shop's assistant.
    Bot,
}

/// Products a reply shows.
#[derive(SimpleObject)]
pub struct ChatProductsCard {
    /// The products, best first.
    pub products: Vec<Product>,
}

/// An order a reply shows: its summary and delivery (no key to the order itself).
#[derive(SimpleObject)]
pub struct ChatOrderCard {
    /// Its number, as on the receipt.
    pub number: String,
    /// Where it stands.
    pub status: OrderStatus,
    /// What was paid.
    pub total: Money,
    /// When it was placed.
    pub placed_at: DateTime,
    /// Where its delivery is, when it has one.
    pub delivery: Option<OrderDelivery>,
}

/// Stores a reply shows, nearest first.
#[derive(SimpleObject)]
pub struct ChatStoresCard {
    /// The stores.
    pub locations: Vec<Location>,
}

/// The conversation was handed to a person.
#[derive(SimpleObject)]
pub struct ChatHandoffCard {
    /// The reference to quote to the team.
    pub reference: String,
}

/// Something a reply shows beside its text.
#[derive(Union)]
pub enum ChatCard {
    /// Products.
    Products(ChatProductsCard),
    /// An order.
    Order(ChatOrderCard),
    /// Stores.
    Stores(ChatStoresCard),
    /// A hand-off to a person.
    Handoff(ChatHandoffCard),
}

/// One message of a conversation.
#[derive(Clone)]
pub struct ChatMessage(MessageRecord);

/// One message of a conversation.
#[Object]
impl ChatMessage {
    /// Its id within the session.
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// Who wrote it.
    async fn author(&self) -> ChatAuthor {
        match self.0.author {
            Author::Shopper => ChatAuthor::Shopper,
            Author::Bot => ChatAuthor::Bot,
        }
    }
    /// Its text.
    async fn text(&self) -> &str {
        &self.0.text
    }
    /// When it was sent.
    async fn sent_at(&self) -> DateTime {
        DateTime(self.0.at)
    }
    /// What the assistant understood the shopper's message before it as (bot messages):
    /// `OrderStatus`, `ProductSearch`, `StoreFinder`, `OpeningHours`, `Recommendations`,
    /// `ReturnsPolicy`, `TalkToHuman`, `Greeting`, `Thanks`, `FallbackIntent`.
    async fn intent(&self) -> Option<&str> {
        self.0.intent.as_deref()
    }
    /// What it shows beside its text, read afresh (an order's status as it is now).
    async fn cards(&self, ctx: &Context<'_>) -> ApiResult<Vec<ChatCard>> {
        let mut cards = Vec::with_capacity(self.0.cards.len());
        for card in &self.0.cards {
            match card {
                CardRecord::Products { product_ids } => {
                    cards.push(ChatCard::Products(ChatProductsCard {
                        products: crate::recommend::products(ctx, product_ids).await?,
                    }));
                }
                CardRecord::Order { digest } => {
                    let checkout = service::<Arc<Checkout>>(ctx)?;
                    if let Some(order) = checkout.orders.get(digest).await? {
                        cards.push(ChatCard::Order(ChatOrderCard {
                            number: order.number.clone(),
                            status: order.status.into(),
                            total: Money::new(order.total, &order.currency),
                            placed_at: DateTime(order.created_at),
                            delivery: crate::location::delivery_of(ctx, &order).await?,
                        }));
                    }
                }
                CardRecord::Stores { location_ids } => {
                    let mut locations = Vec::new();
                    for id in location_ids {
                        locations.extend(crate::location::location_by_id(ctx, id)?);
                    }
                    cards.push(ChatCard::Stores(ChatStoresCard { locations }));
                }
                CardRecord::Handoff { reference } => {
                    cards.push(ChatCard::Handoff(ChatHandoffCard {
                        reference: reference.clone(),
                    }));
                }
            }
        }
        Ok(cards)
    }
}

/// A conversation with the shop's assistant.
pub struct ChatSession {
    token: String,
    record: SessionRecord,
    ttl: chrono::Duration,
}

/// A conversation with the shop's assistant.
#[Object]
impl ChatSession {
    /// Its id: the key to a guest's conversation (keep it private).
    async fn id(&self) -> ID {
        ids::encode("ChatSession", &self.token)
    }
    /// Its latest messages, oldest first.
    async fn messages(
        &self,
        #[graphql(desc = "How many of the latest (1 to 100).", default = 50)] last: i32,
    ) -> ApiResult<Vec<ChatMessage>> {
        if !(1..=100).contains(&last) {
            return Err(ApiError::bad_input("`last` must be between 1 and 100"));
        }
        let skip = self.record.messages.len().saturating_sub(last as usize);
        Ok(self.record.messages[skip..]
            .iter()
            .cloned()
            .map(ChatMessage)
            .collect())
    }
    /// When it ends unless another message comes (its text goes with it).
    async fn expires_at(&self) -> DateTime {
        DateTime(self.record.updated_at + self.ttl)
    }
}

/// What went wrong with a chat message, for programs.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatErrorCode {
    /// No such session (or it ended, or it is someone else's).
    SessionNotFound,
    /// The text is empty, too long, or holds control characters.
    InvalidText,
}

/// An expected failure of a chat mutation.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct ChatUserError {
    /// The path to the input at fault.
    pub field: Option<Vec<String>>,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs.
    pub code: ChatErrorCode,
}

/// The result of `chatSessionStart`.
#[derive(SimpleObject)]
pub struct ChatSessionStartPayload {
    /// The new conversation, with the assistant's greeting.
    pub session: Option<ChatSession>,
    /// What was wrong.
    pub user_errors: Vec<ChatUserError>,
}

/// The result of `chatSendMessage`.
#[derive(SimpleObject)]
pub struct ChatSendMessagePayload {
    /// The assistant's reply.
    pub reply: Option<ChatMessage>,
    /// The conversation after it.
    pub session: Option<ChatSession>,
    /// What was wrong.
    pub user_errors: Vec<ChatUserError>,
}

fn message(
    author: Author,
    text: String,
    intent: Option<&str>,
    cards: Vec<CardRecord>,
) -> MessageRecord {
    MessageRecord {
        id: storefront_loaders::hash::random_hex(6),
        author,
        text,
        at: Utc::now(),
        intent: intent.map(str::to_owned),
        cards,
    }
}

fn ttl(chat: &Chat) -> chrono::Duration {
    chrono::Duration::from_std(chat.session_ttl()).unwrap_or(chrono::Duration::MAX)
}

/// The session behind `id` when this request may continue it: its token and record.
async fn reach(ctx: &Context<'_>, id: &ID) -> ApiResult<Option<(GuestToken, SessionRecord)>> {
    let Some(token) = ids::decode_as(id, "ChatSession")
        .ok()
        .and_then(|raw| GuestToken::parse(&raw))
    else {
        return Ok(None);
    };
    let chat = service::<Chat>(ctx)?;
    let Some(record) = chat.store.get(&token.digest()).await? else {
        return Ok(None);
    };
    let customer = viewer_opt(ctx).map(|v| v.sub());
    Ok(record
        .owner
        .permits(customer, Some(&token))
        .then_some((token, record)))
}

const GREETING: &str = "Hi! I'm the Storefront assistant. Ask me where your order is, for products (\"red dresses under $50\"), for a store near you and its hours, for a suggestion, about returns, or for a person.";

/// Chat mutations.
#[derive(Default)]
pub struct ChatMutation;

/// Chat mutations.
#[Object]
impl ChatMutation {
    /// Begins a conversation with the shop's assistant: the signed-in customer's (theirs
    /// alone), else a guest's, reached with its id. It ends after a spell without messages.
    async fn chat_session_start(&self, ctx: &Context<'_>) -> ApiResult<ChatSessionStartPayload> {
        let chat = service::<Chat>(ctx)?;
        let token = GuestToken::generate();
        let owner = match viewer_opt(ctx) {
            Some(viewer) => Owner::Customer(viewer.sub().to_owned()),
            None => Owner::Guest(token.digest()),
        };
        let now = Utc::now();
        let record = SessionRecord {
            owner,
            messages: vec![message(
                Author::Bot,
                GREETING.into(),
                Some("Greeting"),
                vec![],
            )],
            created_at: now,
            updated_at: now,
            misunderstood: 0,
            order_lookups: 0,
            version: 0,
        };
        chat.store
            .create(&token.digest(), &record, chat.session_ttl())
            .await?;
        Ok(ChatSessionStartPayload {
            session: Some(ChatSession {
                token: token.as_str().to_owned(),
                record,
                ttl: ttl(chat),
            }),
            user_errors: vec![],
        })
    }

    /// Sends the shopper's message and answers with the assistant's reply.
    async fn chat_send_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation.")] session_id: ID,
        #[graphql(desc = "What the shopper says.")] text: String,
    ) -> ApiResult<ChatSendMessagePayload> {
        let failed = |field: &str, message: String, code| ChatSendMessagePayload {
            reply: None,
            session: None,
            user_errors: vec![ChatUserError {
                field: Some(vec![field.to_owned()]),
                message,
                code,
            }],
        };
        let chat = service::<Chat>(ctx)?;
        let text = text.trim().to_owned();
        let max = chat.config.max_text_chars;
        if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
            return Ok(failed(
                "text",
                format!("a message is 1 to {max} characters, without control characters"),
                ChatErrorCode::InvalidText,
            ));
        }
        let Some((token, session)) = reach(ctx, &session_id).await? else {
            return Ok(failed(
                "sessionId",
                "no such conversation (it may have ended): start another".into(),
                ChatErrorCode::SessionNotFound,
            ));
        };
        let customer = viewer_opt(ctx).map(|v| v.sub().to_owned());
        let digest = token.digest();
        let understood = chat.understand(&digest, &text).await;
        let intent = understood.as_ref().map(|u| u.intent.name());
        let answer = fulfil::fulfil(
            ctx,
            (&digest, &session),
            &text,
            understood,
            customer.as_deref(),
        )
        .await?;
        let asked = message(Author::Shopper, text, None, vec![]);
        let reply = message(
            Author::Bot,
            answer.text,
            Some(intent.unwrap_or("Unavailable")),
            answer.cards,
        );
        let changed = chat
            .store
            .change(&digest, chat.config.max_messages, chat.session_ttl(), |s| {
                s.messages.push(asked.clone());
                s.messages.push(reply.clone());
                s.misunderstood = if answer.misunderstood {
                    s.misunderstood + 1
                } else {
                    0
                };
                Ok::<(), ApiError>(())
            })
            .await?;
        match changed {
            Some(Ok((record, ()))) => Ok(ChatSendMessagePayload {
                reply: Some(ChatMessage(reply)),
                session: Some(ChatSession {
                    token: token.as_str().to_owned(),
                    record,
                    ttl: ttl(chat),
                }),
                user_errors: vec![],
            }),
            Some(Err(e)) => Err(e),
            None => Ok(failed(
                "sessionId",
                "the conversation ended meanwhile: start another".into(),
                ChatErrorCode::SessionNotFound,
            )),
        }
    }
}

/// A conversation handed to a person, for the team.
#[derive(SimpleObject)]
pub struct ChatHandoff {
    /// Its reference, as the shopper was told.
    pub reference: String,
    /// The customer's id, when signed in.
    pub customer_id: Option<String>,
    /// When.
    pub at: DateTime,
    /// The conversation's last messages before it.
    pub transcript: Vec<ChatMessage>,
}

impl From<HandoffRecord> for ChatHandoff {
    fn from(h: HandoffRecord) -> Self {
        Self {
            reference: h.reference,
            customer_id: h.customer,
            at: DateTime(h.at),
            transcript: h.transcript.into_iter().map(ChatMessage).collect(),
        }
    }
}

/// Chat queries.
#[derive(Default)]
pub struct ChatQuery;

/// Chat queries.
#[Object]
impl ChatQuery {
    /// A conversation by its id; null when it ended or is not this caller's.
    async fn chat_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation's ID.")] id: ID,
    ) -> ApiResult<Option<ChatSession>> {
        let chat = service::<Chat>(ctx)?;
        Ok(reach(ctx, &id).await?.map(|(token, record)| ChatSession {
            token: token.as_str().to_owned(),
            record,
            ttl: ttl(chat),
        }))
    }

    /// The latest conversations handed to a person, newest first (needs an API key issued
    /// with `admin = true`).
    async fn chat_handoffs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 100).", default = 20)] first: i32,
    ) -> ApiResult<Vec<ChatHandoff>> {
        if ctx.data_opt::<Operator>().is_none() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "send an `x-api-key` issued with `admin = true`",
            ));
        }
        if !(1..=100).contains(&first) {
            return Err(ApiError::bad_input("`first` must be between 1 and 100"));
        }
        let chat = service::<Chat>(ctx)?;
        Ok(chat
            .store
            .handoffs(first as usize)
            .await?
            .into_iter()
            .map(ChatHandoff::from)
            .collect())
    }
}

/// The chat domain's queries.
pub type Query = ChatQuery;
/// The chat domain's mutations.
pub type Mutation = ChatMutation;
