//! What the assistant does about a message it understood: the gateway's own fulfilment,
//! through the same domain code as the API — the catalog search, the store locator, the
//! customer's orders and their delivery, the recommender — and only ever with what the
//! caller may see ("where is my order" answers with the signed-in customer's own order; a
//! guest gives the order's number and the email it was placed with).

use std::sync::Arc;

use async_graphql::Context;
use chrono::Utc;
use storefront_loaders::chat::Chat;
use storefront_loaders::chat::records::{CardRecord, HandoffRecord, SessionRecord};
use storefront_loaders::chat::understand::{Intent, Understood};
use storefront_loaders::checkout::Checkout;
use storefront_loaders::checkout::orders::{OrderRecord, OrderStatus};
use storefront_loaders::identity::Owner;
use storefront_loaders::location::Locator;
use storefront_loaders::location::geo::Point;
use storefront_loaders::location::hours::{hours_on, open_at};
use storefront_loaders::recommend::Recommendations;
use storefront_loaders::search::Search;
use storefront_loaders::search::request::{Filter, SearchRequest, SearchSort};

use crate::context::service;
use crate::error::ApiResult;

/// How many products a reply shows.
const PRODUCTS_SHOWN: usize = 4;
/// How many stores a reply shows.
const STORES_SHOWN: usize = 3;
/// How far a store may be to be shown, in metres.
const STORE_RADIUS_M: f64 = 150_000.0;
/// Replies in a row without understanding before the bot offers a person.
const MISSES_BEFORE_OFFER: u32 = 2;

/// The bot's reply, and what it changes in the session.
#[derive(Debug, Default)]
pub struct Answer {
    /// The text.
    pub text: String,
    /// What it shows.
    pub cards: Vec<CardRecord>,
    /// The message was not understood.
    pub misunderstood: bool,
}

impl Answer {
    fn say(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    fn with(mut self, card: CardRecord) -> Self {
        self.cards.push(card);
        self
    }
}

/// What the assistant can do, for greetings and misunderstandings.
const ABILITIES: &str = "I can tell you where your order is, find products (\"red dresses under $50\"), \
find a store near you or its opening hours, suggest something, explain returns, or pass you to a person.";

/// Answers `understood` (`None`: the engine is away) in the session (its digest and record)
/// for the caller `customer`.
pub async fn fulfil(
    ctx: &Context<'_>,
    (digest, session): (&str, &SessionRecord),
    text: &str,
    understood: Option<Understood>,
    customer: Option<&str>,
) -> ApiResult<Answer> {
    let chat = service::<Chat>(ctx)?;
    let Some(understood) = understood else {
        return Ok(Answer::say(
            "Sorry, I can't take questions right now. Please try again in a moment, or ask for a person.",
        ));
    };
    let slots = &understood.slots;
    Ok(match understood.intent {
        Intent::OrderStatus => order_status(ctx, chat, digest, slots, customer).await?,
        Intent::ProductSearch => {
            let query = slots.query.clone().unwrap_or_default();
            products(ctx, &query, slots.min_cents, slots.max_cents).await?
        }
        Intent::StoreFinder => stores(ctx, slots.place.as_deref().unwrap_or(text)).await?,
        Intent::OpeningHours => hours(ctx, slots.place.as_deref().unwrap_or(text)).await?,
        Intent::Recommendations => {
            let ids = service::<Recommendations>(ctx)?
                .for_viewer(customer, PRODUCTS_SHOWN)
                .await;
            if ids.is_empty() {
                Answer::say("I have nothing to suggest yet; try searching for what you need.")
            } else {
                Answer::say("Here are a few things shoppers like right now:")
                    .with(CardRecord::Products { product_ids: ids })
            }
        }
        Intent::ReturnsPolicy => Answer::say(chat.config.returns_policy.clone()),
        Intent::Human => handoff(chat, session, customer).await?,
        Intent::Greeting => Answer::say(format!("Hello! {ABILITIES}")),
        Intent::Thanks => Answer::say("You're welcome! Anything else I can help with?"),
        Intent::Fallback => {
            let text = if session.misunderstood >= MISSES_BEFORE_OFFER {
                "I'm still not getting it, sorry. Say \"talk to a person\" and I'll pass you to our team."
                    .to_owned()
            } else {
                format!("Sorry, I didn't catch that. {ABILITIES}")
            };
            Answer {
                misunderstood: true,
                ..Answer::say(text)
            }
        }
    })
}

fn status_phrase(order: &OrderRecord) -> &'static str {
    match order.status {
        OrderStatus::PendingPayment => "waiting for its payment",
        OrderStatus::Paid => "paid and being prepared",
        OrderStatus::OnHold => "on hold for a check; we'll be in touch",
        OrderStatus::Fulfilling => "being packed",
        OrderStatus::Shipped if order.pickup_location_id.is_some() => "ready to collect",
        OrderStatus::Shipped => "on its way",
        OrderStatus::Delivered if order.pickup_location_id.is_some() => "collected",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Refunded => "refunded",
    }
}

async fn order_answer(ctx: &Context<'_>, digest: String, order: &OrderRecord) -> ApiResult<Answer> {
    let mut text = format!("Order {} is {}.", order.number, status_phrase(order));
    if let Some(delivery) = crate::location::delivery_of(ctx, order).await?
        && order.status == OrderStatus::Shipped
        && let Some(eta) = delivery.eta
    {
        text.push_str(&format!(
            " It should arrive around {} UTC.",
            eta.0.format("%b %-d, %H:%M")
        ));
    }
    Ok(Answer::say(text).with(CardRecord::Order { digest }))
}

async fn order_status(
    ctx: &Context<'_>,
    chat: &Chat,
    digest: &str,
    slots: &storefront_loaders::chat::understand::Slots,
    customer: Option<&str>,
) -> ApiResult<Answer> {
    let checkout = service::<Arc<Checkout>>(ctx)?;
    match (customer, slots.order_number.as_deref()) {
        // A signed-in customer: their latest order, or the one they name among theirs.
        (Some(sub), None) => {
            let (entries, _) = checkout.orders.of_customer(sub, 1, None).await?;
            let Some((_, entry)) = entries.into_iter().next() else {
                return Ok(Answer::say("You have no orders with us yet."));
            };
            match checkout.orders.get(&entry.digest).await? {
                Some(order) => order_answer(ctx, entry.digest, &order).await,
                None => Ok(Answer::say("You have no orders with us yet.")),
            }
        }
        (Some(sub), Some(number)) => match checkout.orders.by_number(number).await? {
            Some((digest, order)) if order.owner == Owner::Customer(sub.to_owned()) => {
                order_answer(ctx, digest, &order).await
            }
            _ => Ok(Answer::say(format!(
                "I can't find an order {number} among yours."
            ))),
        },
        (None, number) => {
            let (Some(number), Some(email)) = (number, slots.email.as_deref()) else {
                return Ok(Answer::say(
                    "Sign in to see your orders, or send the order's number and the email you used, like: SG-1A2B3C4D eve@example.com",
                ));
            };
            // Counted before it is made, so that look-ups sent at once cannot pass the bound.
            let max = chat.config.max_order_lookups;
            let counted = chat
                .store
                .change(digest, chat.config.max_messages, chat.session_ttl(), |s| {
                    if s.order_lookups >= max {
                        return Err(());
                    }
                    s.order_lookups += 1;
                    Ok(())
                })
                .await?;
            if !matches!(counted, Some(Ok(_))) {
                return Ok(Answer::say(
                    "I can't look up more orders in this conversation. Sign in to see your orders, or ask for a person.",
                ));
            }
            // One answer for a wrong number and a wrong email alike: no hint which was right.
            let not_found = || Answer::say("I couldn't find an order with that number and email.");
            match checkout.orders.by_number(number).await? {
                Some((digest, order))
                    if matches!(order.owner, Owner::Guest(_))
                        && order.email.eq_ignore_ascii_case(email) =>
                {
                    order_answer(ctx, digest, &order).await
                }
                Some((_, order))
                    if matches!(order.owner, Owner::Customer(_))
                        && order.email.eq_ignore_ascii_case(email) =>
                {
                    Ok(Answer::say(
                        "That order belongs to an account: sign in to see it.",
                    ))
                }
                _ => Ok(not_found()),
            }
        }
    }
}

fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

async fn products(
    ctx: &Context<'_>,
    query: &str,
    min_cents: Option<i64>,
    max_cents: Option<i64>,
) -> ApiResult<Answer> {
    let mut filters = vec![Filter::Available(true)];
    if min_cents.is_some() || max_cents.is_some() {
        filters.push(Filter::Price {
            min: min_cents,
            max: max_cents,
        });
    }
    let request = SearchRequest {
        filters,
        limit: PRODUCTS_SHOWN,
        sort: SearchSort::Relevance,
        ..SearchRequest::predictive(query, PRODUCTS_SHOWN)
    };
    let found = match service::<Search>(ctx)?.search(&request).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "the chat's product search failed");
            return Ok(Answer::say(
                "I can't search the catalog right now; please try again in a moment.",
            ));
        }
    };
    let described = if query.is_empty() {
        "products".to_owned()
    } else {
        format!("\u{201c}{query}\u{201d}")
    };
    let price = match (min_cents, max_cents) {
        (Some(min), Some(max)) => format!(" between {} and {}", money(min), money(max)),
        (None, Some(max)) => format!(" under {}", money(max)),
        (Some(min), None) => format!(" over {}", money(min)),
        (None, None) => String::new(),
    };
    if found.hits.is_empty() {
        return Ok(Answer::say(format!(
            "I couldn't find {described}{price} in stock. Try other words?"
        )));
    }
    let ids = found.hits.iter().map(|h| h.id.clone()).collect();
    Ok(
        Answer::say(format!("Here's what I found for {described}{price}:"))
            .with(CardRecord::Products { product_ids: ids }),
    )
}

/// The point of a place the shopper named, or the reply that asks for one.
async fn place(ctx: &Context<'_>, text: &str) -> ApiResult<Result<Point, Answer>> {
    let locator = service::<Locator>(ctx)?;
    Ok(match locator.geocode(text).await {
        Ok(point) => Ok(point),
        Err(storefront_loaders::location::geocode::GeocodeError::Ambiguous(_, places)) => {
            Err(Answer::say(format!("Which one do you mean: {places}?")))
        }
        Err(_) => Err(Answer::say("Which city or postcode should I look near?")),
    })
}

async fn stores(ctx: &Context<'_>, text: &str) -> ApiResult<Answer> {
    let point = match place(ctx, text).await? {
        Ok(point) => point,
        Err(ask) => return Ok(ask),
    };
    let (found, _) =
        service::<Locator>(ctx)?
            .index
            .nearest(point, STORE_RADIUS_M, None, STORES_SHOWN);
    if found.is_empty() {
        return Ok(Answer::say(
            "We have no store within 150 km of there, sorry.",
        ));
    }
    let nearest = &found[0];
    let text = format!(
        "The nearest store is {}, {} {} ({:.1} km away).",
        nearest.location.name,
        nearest.location.address1,
        nearest.location.city,
        nearest.distance_m / 1000.0
    );
    Ok(Answer::say(text).with(CardRecord::Stores {
        location_ids: found.iter().map(|n| n.location.id.clone()).collect(),
    }))
}

async fn hours(ctx: &Context<'_>, text: &str) -> ApiResult<Answer> {
    let point = match place(ctx, text).await? {
        Ok(point) => point,
        Err(ask) => return Ok(ask),
    };
    let (found, _) = service::<Locator>(ctx)?
        .index
        .nearest(point, STORE_RADIUS_M, None, 1);
    let Some(store) = found.into_iter().next().map(|n| n.location) else {
        return Ok(Answer::say(
            "We have no store within 150 km of there, sorry.",
        ));
    };
    let hours = hours_on(&store.opening_hours, &store.time_zone, Utc::now()).map_or_else(
        || "closed today".to_owned(),
        |h| format!("open {}–{} today", h.opens, h.closes),
    );
    let now = if open_at(&store.opening_hours, &store.time_zone, Utc::now()) {
        "It's open now."
    } else {
        "It's closed now."
    };
    Ok(Answer::say(format!(
        "{} is {hours} (local time, {}). {now}",
        store.name, store.time_zone
    ))
    .with(CardRecord::Stores {
        location_ids: vec![store.id.clone()],
    }))
}

async fn handoff(
    chat: &Chat,
    session: &SessionRecord,
    customer: Option<&str>,
) -> ApiResult<Answer> {
    let reference = format!(
        "HO-{}",
        storefront_loaders::hash::random_hex(4).to_ascii_uppercase()
    );
    let keep = session.messages.len().saturating_sub(10);
    chat.store
        .record_handoff(
            &HandoffRecord {
                reference: reference.clone(),
                customer: customer.map(str::to_owned),
                transcript: session.messages[keep..].to_vec(),
                at: Utc::now(),
            },
            chat.handoff_ttl(),
        )
        .await?;
    chat.handed_off();
    Ok(Answer::say(format!(
        "I've passed our conversation to our team; someone will contact you soon. Your reference is {reference}."
    ))
    .with(CardRecord::Handoff { reference }))
}
