//! Background work a domain repeats on a period (relays, sweepers, re-reads), on every
//! replica that starts it: one spawned loop, so each domain states only what it repeats.

use std::future::Future;
use std::time::Duration;

/// When the first run happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// At once.
    Now,
    /// After one whole period (start-up did the work already, or it can wait).
    AfterAPeriod,
}

/// Runs `task` every `period`, for as long as the runtime lives; a run that overruns the
/// period delays the next rather than piling up.
pub fn every<F, Fut>(period: Duration, first: First, mut task: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        // An interval's first tick is immediate.
        if first == First::AfterAPeriod {
            ticks.tick().await;
        }
        loop {
            ticks.tick().await;
            task().await;
        }
    });
}
