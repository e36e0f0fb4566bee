//! Brute-force protection: failed sign-ins (and wrong codes) are counted per email and per
//! client address in fixed windows; at the limit, attempts are refused until the window ends.
//! Counted in Redis when configured, so every replica sees the same failures.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::RedisTier;
use crate::rate_limit::{ClientId, Limited, RateLimitSettings, RateLimiter};

use super::{ClientIp, Email};

/// How many failures a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures allowed per email, and per address, in one window.
    pub max_failures: u64,
    /// The window.
    pub window: Duration,
}

/// Counts failed attempts, and requests for codes (each sends an email).
pub struct SignInThrottle {
    limiter: RateLimiter,
    code_requests: RateLimiter,
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
            code_requests: RateLimiter::new(settings, redis, &format!("{namespace}codes:")),
        }
    }

    fn keys(email: &Email, ip: Option<&ClientIp>) -> Vec<ClientId> {
        let mut keys = vec![ClientId(format!("email:{email}"))];
        if let Some(ip) = ip {
            keys.push(ClientId(format!("ip:{}", ip.0)));
        }
        keys
    }

    /// Refuses when the email or the address has used up its failures.
    pub async fn check(&self, email: &Email, ip: Option<&ClientIp>) -> Result<(), Limited> {
        let mut refused: Option<Limited> = None;
        for key in Self::keys(email, ip) {
            if let Err(limited) = self.limiter.check(&key).await {
                let longest = refused.map_or(limited.retry_after, |r| {
                    r.retry_after.max(limited.retry_after)
                });
                refused = Some(Limited {
                    retry_after: longest,
                });
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// Counts a request that mails `email` a code; refuses past the limit, so that nobody can
    /// flood an inbox through the gateway.
    pub async fn code_requested(&self, email: &Email) -> Result<(), Limited> {
        self.code_requests
            .spend(&ClientId(format!("email:{email}")), 1)
            .await
    }

    /// Counts a failed attempt against the email and the address.
    pub async fn failed(&self, email: &Email, ip: Option<&ClientIp>) {
        for key in Self::keys(email, ip) {
            // The refusal, if any, comes from the next `check`.
            let _ = self.limiter.spend(&key, 1).await;
        }
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
            assert!(throttle.check(&ada, Some(&home)).await.is_ok());
            throttle.failed(&ada, Some(&home)).await;
        }
        let refused = throttle
            .check(&ada, Some(&cafe))
            .await
            .expect_err("email is locked");
        assert!((1..=60).contains(&refused.retry_after));
        assert!(
            throttle.check(&bob, Some(&home)).await.is_err(),
            "address is locked"
        );
        assert!(throttle.check(&bob, Some(&cafe)).await.is_ok());
        for _ in 0..3 {
            assert!(throttle.code_requested(&bob).await.is_ok());
        }
        assert!(
            throttle.code_requested(&bob).await.is_err(),
            "a fourth email is refused"
        );
    }
}
