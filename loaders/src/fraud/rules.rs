//! The embedded fraud engine: configurable rules (amount thresholds, a billing country other
//! than the shipping one, a new account with a large order, a disposable email domain from
//! the shipped list) and velocity per email, address, card fingerprint, device and client
//! address within a window, counted in Redis when it is configured so that every replica
//! counts the same events. Each rule that fires adds its reason and weight to the score.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::event::{Assessment, FraudEvent, FraudEventKind, FraudScorer, ScoreError, Verdict};
use crate::cache::RedisTier;
use crate::hash::sha256_hex;
use crate::rate_limit::{ClientId, RateLimitSettings, RateLimiter};

/// The shipped list of disposable email domains.
const DISPOSABLE: &str = include_str!("disposable_domains.txt");

/// The embedded rules' settings (`[fraud.rules]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudRules {
    /// Orders over this are reviewed.
    pub review_over: Decimal,
    /// Orders over this are blocked.
    pub block_over: Decimal,
    /// A billing country other than the shipping country is reviewed.
    pub review_country_mismatch: bool,
    /// An account younger than this many days is new…
    pub new_account_days: i64,
    /// …and its orders over this are reviewed.
    pub new_account_review_over: Decimal,
    /// The verdict for an email of a disposable domain.
    pub disposable_email: Verdict,
    /// Domains counted as disposable beside the shipped list.
    pub extra_disposable_domains: Vec<String>,
    /// The velocity window, in seconds.
    pub velocity_window_seconds: u64,
    /// Checkouts per email, shipping address, card and device in the window before they
    /// are reviewed.
    pub checkouts_per_window: u64,
    /// Sign-ins and sign-ups per device and per client address in the window before they
    /// are blocked.
    pub sign_ins_per_window: u64,
}

impl Default for FraudRules {
    fn default() -> Self {
        Self {
            review_over: Decimal::from(2_000),
            block_over: Decimal::from(10_000),
            review_country_mismatch: true,
            new_account_days: 7,
            new_account_review_over: Decimal::from(500),
            disposable_email: Verdict::Review,
            extra_disposable_domains: Vec::new(),
            velocity_window_seconds: 3_600,
            checkouts_per_window: 10,
            sign_ins_per_window: 100,
        }
    }
}

impl FraudRules {
    /// What is wrong with the settings, if anything.
    pub fn problem(&self) -> Option<&'static str> {
        if self.review_over > self.block_over {
            Some("review_over must be at most block_over")
        } else if self.velocity_window_seconds == 0
            || self.checkouts_per_window == 0
            || self.sign_ins_per_window == 0
        {
            Some("the velocity window and the counts per window must be at least 1")
        } else {
            None
        }
    }
}

/// The embedded rules engine.
pub struct RuleScorer {
    rules: FraudRules,
    disposable: BTreeSet<String>,
    checkouts: RateLimiter,
    sign_ins: RateLimiter,
}

impl RuleScorer {
    /// The rules, counting velocity in `redis` when given (else in this process) under
    /// `namespace`.
    pub fn new(rules: FraudRules, redis: Option<Arc<RedisTier>>, namespace: &str) -> Self {
        let window = Duration::from_secs(rules.velocity_window_seconds);
        let limiter = |budget, what: &str| {
            RateLimiter::new(
                RateLimitSettings { budget, window },
                redis.clone(),
                &format!("{namespace}fraud:{what}:"),
            )
        };
        let disposable = DISPOSABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .chain(
                rules
                    .extra_disposable_domains
                    .iter()
                    .map(|d| d.trim().to_ascii_lowercase()),
            )
            .collect();
        Self {
            checkouts: limiter(rules.checkouts_per_window, "checkout"),
            sign_ins: limiter(rules.sign_ins_per_window, "sign_in"),
            disposable,
            rules,
        }
    }

    /// Whether the email's domain is a throw-away one (a subdomain of one counts).
    pub fn is_disposable(&self, email: &str) -> bool {
        let Some((_, domain)) = email.rsplit_once('@') else {
            return false;
        };
        let domain = domain.trim().to_ascii_lowercase();
        let mut rest = domain.as_str();
        loop {
            if self.disposable.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) if parent.contains('.') => rest = parent,
                _ => return false,
            }
        }
    }

    /// Counts the event in each of its velocity dimensions; the dimensions over their count.
    async fn velocity(&self, event: &FraudEvent) -> Vec<&'static str> {
        let (limiter, dimensions): (&RateLimiter, Vec<(&'static str, Option<String>)>) =
            match event.kind {
                FraudEventKind::Checkout => (
                    &self.checkouts,
                    vec![
                        ("email", Some(event.email.clone())),
                        (
                            "shipping address",
                            event.shipping.as_ref().map(|a| normalized(&a.line)),
                        ),
                        ("card", event.card_fingerprint.clone()),
                        ("device", event.signals.device_id.clone()),
                    ],
                ),
                FraudEventKind::SignIn | FraudEventKind::SignUp => (
                    &self.sign_ins,
                    vec![
                        ("device", event.signals.device_id.clone()),
                        ("client address", event.ip.clone()),
                    ],
                ),
            };
        let mut over = Vec::new();
        for (name, value) in dimensions {
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            // Hashed: the counters' keys hold no email or address in the clear.
            let key =
                ClientId(sha256_hex(format!("{name}\u{1f}{value}").as_bytes())[..24].to_owned());
            if limiter.spend(&key, 1).await.is_err() {
                over.push(name);
            }
        }
        over
    }
}

fn normalized(line: &str) -> String {
    line.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rules' findings, as they add up.
struct Findings {
    verdict: Verdict,
    score: u32,
    reasons: Vec<String>,
}

impl Findings {
    fn add(&mut self, verdict: Verdict, weight: u32, reason: String) {
        self.verdict = self.verdict.max(verdict);
        self.score = (self.score + weight).min(1_000);
        self.reasons.push(reason);
    }
}

#[async_trait]
impl FraudScorer for RuleScorer {
    fn name(&self) -> &'static str {
        "rules"
    }

    async fn score(&self, event: &FraudEvent) -> Result<Assessment, ScoreError> {
        let rules = &self.rules;
        let mut found = Findings {
            verdict: Verdict::Approve,
            score: 0,
            reasons: Vec::new(),
        };
        if let Some(amount) = event.amount {
            if amount > rules.block_over {
                found.add(
                    Verdict::Block,
                    1_000,
                    format!("the amount {amount} is over {}", rules.block_over),
                );
            } else if amount > rules.review_over {
                found.add(
                    Verdict::Review,
                    300,
                    format!("the amount {amount} is over {}", rules.review_over),
                );
            }
            if event
                .account_age_days
                .is_some_and(|days| days < rules.new_account_days)
                && amount > rules.new_account_review_over
            {
                found.add(
                    Verdict::Review,
                    300,
                    format!(
                        "an account younger than {} days orders over {}",
                        rules.new_account_days, rules.new_account_review_over
                    ),
                );
            }
        }
        if rules.review_country_mismatch
            && let (Some(shipping), Some(billing)) = (&event.shipping, &event.billing)
            && !shipping.country.eq_ignore_ascii_case(&billing.country)
        {
            found.add(
                Verdict::Review,
                250,
                format!(
                    "billed in {} but shipped to {}",
                    billing.country, shipping.country
                ),
            );
        }
        if rules.disposable_email != Verdict::Approve && self.is_disposable(&event.email) {
            found.add(
                rules.disposable_email,
                400,
                "the email is at a disposable domain".into(),
            );
        }
        let over = self.velocity(event).await;
        if !over.is_empty() {
            let (verdict, limit) = match event.kind {
                FraudEventKind::Checkout => (Verdict::Review, rules.checkouts_per_window),
                _ => (Verdict::Block, rules.sign_ins_per_window),
            };
            found.add(
                verdict,
                350,
                format!(
                    "more than {limit} {}s in {} s from the same {}",
                    event.kind.as_str().replace('_', "-"),
                    rules.velocity_window_seconds,
                    over.join(", ")
                ),
            );
        }
        Ok(Assessment {
            verdict: found.verdict,
            score: found.score,
            reasons: found.reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fraud::event::FraudAddress;

    fn scorer(rules: FraudRules) -> RuleScorer {
        RuleScorer::new(rules, None, "test:")
    }

    fn checkout(amount: i64) -> FraudEvent {
        let mut event = FraudEvent::new(FraudEventKind::Checkout, "eve@example.com");
        event.amount = Some(Decimal::from(amount));
        let address = FraudAddress {
            country: "US".into(),
            line: "1 Main St, Springfield".into(),
        };
        event.shipping = Some(address.clone());
        event.billing = Some(address);
        event
    }

    #[tokio::test]
    async fn a_small_order_from_a_known_address_is_approved_with_no_reasons() {
        let assessed = scorer(FraudRules::default())
            .score(&checkout(20))
            .await
            .expect("score");
        assert_eq!(assessed, Assessment::clean());
    }

    #[tokio::test]
    async fn each_rule_that_fires_adds_its_reason_and_the_strictest_verdict_wins() {
        let mut event = checkout(3_000);
        event.email = "eve@mail.yopmail.com".into();
        event.account_age_days = Some(1);
        event.billing = Some(FraudAddress {
            country: "DE".into(),
            line: "x".into(),
        });
        let assessed = scorer(FraudRules::default())
            .score(&event)
            .await
            .expect("score");
        assert_eq!(assessed.verdict, Verdict::Review);
        assert_eq!(assessed.reasons.len(), 4, "{:?}", assessed.reasons);
        assert_eq!(assessed.score, 1_000, "capped");
        let blocked = scorer(FraudRules::default())
            .score(&checkout(20_000))
            .await
            .expect("score");
        assert_eq!(blocked.verdict, Verdict::Block);
    }

    #[tokio::test]
    async fn velocity_reviews_the_checkout_past_the_count_per_card() {
        let rules = FraudRules {
            checkouts_per_window: 2,
            ..FraudRules::default()
        };
        let scorer = scorer(rules);
        let mut verdicts = Vec::new();
        for n in 0..3 {
            let mut event = checkout(20);
            // Another email and address each time: only the card repeats.
            event.email = format!("buyer{n}@example.com");
            event.shipping = Some(FraudAddress {
                country: "US".into(),
                line: format!("{n} Elm St"),
            });
            event.card_fingerprint = Some("card-1".into());
            verdicts.push(scorer.score(&event).await.expect("score").verdict);
        }
        assert_eq!(
            verdicts,
            [Verdict::Approve, Verdict::Approve, Verdict::Review]
        );
    }

    #[test]
    fn only_listed_domains_and_their_subdomains_are_disposable() {
        let scorer = scorer(FraudRules {
            extra_disposable_domains: vec!["Throwaway.Test".into()],
            ..FraudRules::default()
        });
        assert!(scorer.is_disposable("a@mailinator.com"));
        assert!(scorer.is_disposable("a@x.mailinator.com"));
        assert!(scorer.is_disposable("a@throwaway.test"));
        assert!(!scorer.is_disposable("a@example.com"));
        assert!(!scorer.is_disposable("a@com"));
        assert!(!scorer.is_disposable("no-at-sign"));
    }
}
