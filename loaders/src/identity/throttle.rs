//! Brute-force protection: every sign-in (and code) attempt reserves one of the attempts its
//! email and its address are allowed per window *before* it is evaluated, and gives it back only
//! when it succeeds. So no number of concurrent or batched attempts, on one replica or many,
//! evaluates more passwords than the limit. Counted in Redis when configured (GCRA, see
//! [`crate::rate_limit`]), so every replica shares the count.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::RedisTier;
use crate::rate_limit::{ClientId, Limited, RateLimitSettings, RateLimiter};

use super::{ClientIp, Email};

/// How many failures a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Attempts allowed per email, and per address, in one window (successes are given back).
    pub max_failures: u64,
    /// The window.
    pub window: Duration,
}

/// Attempts reserved for one evaluation: kept when it fails, given back when it succeeds.
#[must_use = "an attempt is released when it succeeds, or kept by dropping it"]
pub struct Reservation {
    keys: Vec<ClientId>,
}

/// Counts attempts, and requests for codes (each sends an email).
pub struct SignInThrottle {
    limiter: RateLimiter,
    code_requests: RateLimiter,
    sign_ups: RateLimiter,
}

impl SignInThrottle {
    /// A throttle counting in `redis` when given, else in-process.
    pub fn new(settings: ThrottleSettings, redis: Option<Arc<RedisTier>>, namespace: &str) -> Self {
        let settings = RateLimitSettings {
            budget: settings.max_failures,
            window: settings.window,
        };
        Self {
            limiter: RateLimiter::new(settings, redis.clone(), &format!("{namespace}signin:")),
            code_requests: RateLimiter::new(settings, redis.clone(), &format!("{namespace}codes:")),
            sign_ups: RateLimiter::new(settings, redis, &format!("{namespace}signups:")),
        }
    }

    fn keys(email: &Email, ip: Option<&ClientIp>) -> Vec<ClientId> {
        let mut keys = vec![ClientId(format!("email:{email}"))];
        if let Some(ip) = ip {
            keys.push(ClientId(format!("ip:{}", ip.0)));
        }
        keys
    }

    /// Reserves one attempt for the email and one for the address, or refuses (reserving
    /// nothing) when either has none left.
    pub async fn reserve(
        &self,
        email: &Email,
        ip: Option<&ClientIp>,
    ) -> Result<Reservation, Limited> {
        let mut reserved = Vec::new();
        for key in Self::keys(email, ip) {
            if let Err(limited) = self.limiter.spend(&key, 1).await {
                for key in &reserved {
                    self.limiter.refund(key, 1).await;
                }
                return Err(limited);
            }
            reserved.push(key);
        }
        Ok(Reservation { keys: reserved })
    }

    /// Gives back the attempts of an evaluation that succeeded.
    pub async fn release(&self, reservation: Reservation) {
        for key in &reservation.keys {
            self.limiter.refund(key, 1).await;
        }
    }

    /// Counts a sign-up from `ip`; refuses past the limit, so that nobody can create accounts
    /// (or probe emails) in bulk from one address.
    pub async fn sign_up_requested(&self, ip: &ClientIp) -> Result<(), Limited> {
        self.sign_ups
            .spend(&ClientId(format!("ip:{}", ip.0)), 1)
            .await
    }

    /// Counts a request that mails `email` a code; refuses past the limit, so that nobody can
    /// flood an inbox through the gateway.
    pub async fn code_requested(&self, email: &Email) -> Result<(), Limited> {
        self.code_requests
            .spend(&ClientId(format!("email:{email}")), 1)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_trip_the_throttle_for_the_email_and_the_address() {
        let throttle = SignInThrottle::new(
            ThrottleSettings {
                max_failures: 3,
                window: Duration::from_secs(60),
            },
            None,
            "t:",
        );
        let ada = Email::parse("ada@example.com").expect("email");
        let bob = Email::parse("bob@example.com").expect("email");
        let home = ClientIp("10.0.0.1".into());
        let cafe = ClientIp("10.0.0.2".into());
        for _ in 0..3 {
            let failed = throttle.reserve(&ada, Some(&home)).await.expect("allowed");
            drop(failed);
        }
        let refused = throttle
            .reserve(&ada, Some(&cafe))
            .await
            .err()
            .expect("email is locked");
        assert!((1..=60).contains(&refused.retry_after));
        assert!(
            throttle.reserve(&bob, Some(&home)).await.is_err(),
            "address is locked"
        );
        // Successes give their attempts back: any number of them.
        for _ in 0..10 {
            let ok = throttle.reserve(&bob, Some(&cafe)).await.expect("allowed");
            throttle.release(ok).await;
        }
        for _ in 0..3 {
            assert!(throttle.code_requested(&bob).await.is_ok());
        }
        assert!(
            throttle.code_requested(&bob).await.is_err(),
            "a fourth email is refused"
        );
    }
}

#[cfg(test)]
mod concurrency {
    use super::*;

    #[tokio::test]
    async fn concurrent_attempts_never_evaluate_more_than_the_limit() {
        let throttle = Arc::new(SignInThrottle::new(
            ThrottleSettings {
                max_failures: 5,
                window: Duration::from_secs(600),
            },
            None,
            "t:",
        ));
        let ada = Email::parse("ada@example.com").expect("email");
        let attempts = (0..40).map(|i| {
            let throttle = Arc::clone(&throttle);
            let ada = ada.clone();
            // Many addresses, one email: the email's count is what stops them.
            let ip = ClientIp(format!("10.0.0.{i}"));
            tokio::spawn(async move { throttle.reserve(&ada, Some(&ip)).await.is_ok() })
        });
        let mut evaluated = 0;
        for attempt in attempts {
            evaluated += usize::from(attempt.await.expect("task"));
        }
        assert_eq!(evaluated, 5);
    }
}
