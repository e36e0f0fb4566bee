//! The embedded understanding: cue phrases per intent, matched word by word with the search's
//! typo budget, the strongest cue deciding; and slots read by patterns — prices after
//! "under" or "over", `SG-…` order numbers, email addresses, a place after "near" or "in",
//! and what is left of a product question as its query.

use super::understand::{Intent, Slots, UnderstandError, Understanding, Understood};
use crate::search::text::{edit_distance, typo_budget};

/// The cue phrases of each intent and their weights.
const CUES: &[(Intent, &[(&str, u32)])] = &[
    (
        Intent::Human,
        &[
            ("human", 4),
            ("agent", 4),
            ("representative", 4),
            ("real person", 5),
            ("customer service", 4),
            ("person", 3),
            ("operator", 3),
            ("talk to someone", 4),
            ("speak to someone", 4),
        ],
    ),
    (
        Intent::ReturnsPolicy,
        &[
            ("return policy", 5),
            ("returns policy", 5),
            ("return", 4),
            ("returns", 4),
            ("refund", 4),
            ("exchange", 3),
            ("send back", 4),
        ],
    ),
    (
        Intent::OpeningHours,
        &[
            ("opening hours", 5),
            ("open", 3),
            ("opens", 3),
            ("hours", 3),
            ("closes", 3),
            ("closing", 3),
        ],
    ),
    (
        Intent::OrderStatus,
        &[
            ("where is my order", 5),
            ("order status", 5),
            ("track my order", 5),
            ("my order", 3),
            ("my package", 4),
            ("my parcel", 4),
            ("tracking", 3),
            ("track", 3),
            ("delivery", 2),
            ("shipped", 2),
            ("order", 2),
        ],
    ),
    (
        Intent::StoreFinder,
        &[
            ("store near", 4),
            ("stores near", 4),
            ("nearest store", 4),
            ("store", 2),
            ("stores", 2),
            ("shops", 2),
            ("nearest", 2),
            ("closest", 2),
            ("locations", 2),
            ("location", 2),
            ("branch", 2),
            ("near", 1),
        ],
    ),
    (
        Intent::Recommendations,
        &[
            ("what should i buy", 5),
            ("recommend", 4),
            ("recommendation", 4),
            ("recommendations", 4),
            ("suggest", 3),
            ("suggestion", 3),
            ("popular", 3),
            ("trending", 3),
            ("bestseller", 3),
            ("best seller", 3),
            ("gift", 2),
        ],
    ),
    (
        Intent::ProductSearch,
        &[
            ("do you have", 3),
            ("do you sell", 3),
            ("looking for", 3),
            ("show me", 3),
            ("find me", 3),
            ("search", 2),
            ("i want", 2),
            ("i need", 2),
        ],
    ),
    (
        Intent::Thanks,
        &[
            ("thank you", 3),
            ("thanks", 3),
            ("thx", 3),
            ("cheers", 2),
            ("appreciate", 2),
        ],
    ),
    (
        Intent::Greeting,
        &[
            ("good morning", 2),
            ("good afternoon", 2),
            ("good evening", 2),
            ("hello", 2),
            ("hey", 2),
            ("hi", 2),
            ("howdy", 2),
        ],
    ),
];

/// Words that say nothing about a product.
const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "any",
    "some",
    "please",
    "me",
    "i",
    "im",
    "you",
    "do",
    "have",
    "for",
    "with",
    "is",
    "are",
    "there",
    "looking",
    "show",
    "find",
    "want",
    "need",
    "sell",
    "search",
    "got",
    "can",
    "could",
    "would",
    "like",
    "to",
    "of",
    "in",
    "on",
    "and",
    "or",
    "that",
    "this",
    "your",
    "what",
    "which",
    "my",
    "we",
    "us",
    "hi",
    "hello",
    "hey",
    "thanks",
    "under",
    "below",
    "over",
    "above",
    "less",
    "more",
    "than",
    "cheaper",
    "up",
    "at",
    "most",
    "least",
    "max",
    "min",
    "usd",
    "dollars",
    "dollar",
    "bucks",
    "from",
    "around",
    "about",
    "anything",
    "something",
];

/// Words that put a price cap after them, and words that put a floor.
const CAPS: &[&str] = &[
    "under", "below", "cheaper", "less", "max", "maximum", "most", "up",
];
const FLOORS: &[&str] = &["over", "above", "more", "least", "min", "minimum", "from"];

/// Words a place follows.
const BEFORE_PLACE: &[&str] = &["near", "in", "around"];

/// A price text (`$49.99`, `50`, `50usd`) in cents.
pub fn cents(text: &str) -> Option<i64> {
    let digits = text
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '.' || c == ',');
    let amount: rust_decimal::Decimal = digits.parse().ok()?;
    let cents = (amount * rust_decimal::Decimal::ONE_HUNDRED).round();
    i64::try_from(cents).ok().filter(|c| *c >= 0)
}

/// The message's words: lowercase, split at whitespace, the punctuation around them gone
/// (a price's `$`, an email's `@` and `.` inside, an order number's `-` stay).
fn tokens(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '$'))
                .to_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// Plain words, for cues: letters and digits only.
fn plain(token: &str) -> String {
    token.chars().filter(|c| c.is_alphanumeric()).collect()
}

fn same_word(said: &str, cue: &str) -> bool {
    said == cue
        || (cue.len() >= 4 && edit_distance(said, cue, usize::from(typo_budget(cue))).is_some())
}

/// Where the cue phrase starts among `words`, when it is there.
fn find_phrase(words: &[String], phrase: &str) -> Option<usize> {
    let cue: Vec<&str> = phrase.split(' ').collect();
    (0..words.len().saturating_sub(cue.len() - 1)).find(|start| {
        cue.iter()
            .enumerate()
            .all(|(i, c)| same_word(&words[start + i], c))
    })
}

fn order_number(token: &str) -> Option<String> {
    let upper = token.to_ascii_uppercase();
    let hex = upper
        .strip_prefix("SG-")
        .or_else(|| upper.strip_prefix("SG"))?;
    (hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("SG-{hex}"))
}

fn email(token: &str) -> Option<String> {
    let (user, domain) = token.split_once('@')?;
    (!user.is_empty() && domain.contains('.') && !domain.ends_with('.')).then(|| token.to_owned())
}

/// Reads the slots of `text`.
pub fn slots(text: &str) -> Slots {
    let said = tokens(text);
    let mut slots = Slots::default();
    for (i, token) in said.iter().enumerate() {
        if slots.order_number.is_none() {
            slots.order_number = order_number(token);
        }
        if slots.email.is_none() {
            slots.email = email(token);
        }
        let next_price = || said[i + 1..].iter().take(2).find_map(|t| cents(t));
        if CAPS.contains(&token.as_str()) && slots.max_cents.is_none() {
            slots.max_cents = next_price();
        }
        if FLOORS.contains(&token.as_str()) && slots.min_cents.is_none() {
            slots.min_cents = next_price();
        }
    }
    // The place: the original words after the last "near" / "in", as written.
    let original: Vec<&str> = text.split_whitespace().collect();
    if let Some(at) = original
        .iter()
        .rposition(|w| BEFORE_PLACE.contains(&plain(&w.to_lowercase()).as_str()))
    {
        let place: Vec<&str> = original[at + 1..]
            .iter()
            .map(|w| w.trim_matches(|c: char| !(c.is_alphanumeric() || c == ',')))
            .filter(|w| {
                !w.is_empty() && !["me", "please", "here"].contains(&w.to_lowercase().as_str())
            })
            .collect();
        let place = place.join(" ").trim_end_matches(',').to_owned();
        if !place.is_empty() && cents(&place).is_none() {
            slots.place = Some(place);
        }
    }
    let query: Vec<String> = said
        .iter()
        .filter(|t| cents(t).is_none() && order_number(t).is_none() && email(t).is_none())
        .map(|t| plain(t))
        .filter(|w| !w.is_empty() && !FILLER.contains(&w.as_str()))
        .collect();
    if !query.is_empty() {
        slots.query = Some(query.join(" "));
    }
    slots
}

/// What `text` means, by the cues and patterns alone.
pub fn understand(text: &str) -> Understood {
    let words: Vec<String> = tokens(text).iter().map(|t| plain(t)).collect();
    let slots = slots(text);
    let mut best: Option<(Intent, u32)> = None;
    for (intent, cues) in CUES {
        let matched: Vec<u32> = cues
            .iter()
            .filter(|(phrase, _)| find_phrase(&words, phrase).is_some())
            .map(|(_, weight)| *weight)
            .collect();
        let Some(strongest) = matched.iter().max() else {
            continue;
        };
        // The strongest cue decides; more cues of the same intent add a little.
        let score = strongest + u32::try_from(matched.len() - 1).unwrap_or(0).min(2);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((*intent, score));
        }
    }
    let (intent, score) = match best {
        Some((intent, score)) if score >= 2 => (intent, score),
        // A price or a bare description is a product question.
        _ if slots.max_cents.is_some() || slots.min_cents.is_some() => (Intent::ProductSearch, 3),
        _ if slots.order_number.is_some() => (Intent::OrderStatus, 3),
        _ if slots.query.is_some() => (Intent::ProductSearch, 2),
        _ => (Intent::Fallback, 0),
    };
    Understood {
        intent,
        slots,
        confidence: (f64::from(score) / 5.0).min(1.0),
    }
}

/// The embedded understanding engine.
pub struct Matcher;

#[async_trait::async_trait]
impl Understanding for Matcher {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn understand(&self, _session: &str, text: &str) -> Result<Understood, UnderstandError> {
        Ok(understand(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(text: &str) -> Intent {
        understand(text).intent
    }

    #[test]
    fn each_intent_is_recognised_from_everyday_phrasings_and_typos() {
        let cases = [
            ("Where is my order?", Intent::OrderStatus),
            ("wher is my ordr", Intent::OrderStatus),
            ("can you track my package", Intent::OrderStatus),
            ("do you have red dresses under $50", Intent::ProductSearch),
            ("wool socks", Intent::ProductSearch),
            ("stores near Boston", Intent::StoreFinder),
            ("where is the nearest store", Intent::StoreFinder),
            ("when does the Boston store open", Intent::OpeningHours),
            (
                "what are your opening hours in Chicago",
                Intent::OpeningHours,
            ),
            ("what do you recommend", Intent::Recommendations),
            ("I want to return my order", Intent::ReturnsPolicy),
            ("what is your refund policy", Intent::ReturnsPolicy),
            ("let me talk to a human", Intent::Human),
            ("hello", Intent::Greeting),
            ("thanks a lot", Intent::Thanks),
            ("???", Intent::Fallback),
        ];
        for (text, expected) in cases {
            assert_eq!(intent(text), expected, "{text}");
        }
    }

    #[test]
    fn slots_are_read_from_the_message() {
        let search = understand("Do you have red dresses under $50?");
        assert_eq!(search.slots.query.as_deref(), Some("red dresses"));
        assert_eq!(search.slots.max_cents, Some(5_000));
        assert_eq!(
            understand("jackets over 120.50 dollars").slots.min_cents,
            Some(12_050)
        );
        let order = understand("order sg-1a2b3c4d, my email is Eve@Example.com");
        assert_eq!(order.slots.order_number.as_deref(), Some("SG-1A2B3C4D"));
        assert_eq!(order.slots.email.as_deref(), Some("eve@example.com"));
        assert_eq!(
            understand("stores near Salt Lake City, UT")
                .slots
                .place
                .as_deref(),
            Some("Salt Lake City, UT")
        );
        assert_eq!(understand("stores near me").slots.place, None);
        assert_eq!(cents("$49.99"), Some(4_999));
        assert_eq!(cents("-5"), None);
    }
}
