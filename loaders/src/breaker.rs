//! A circuit breaker per backend: after `failures` consecutive calls that could not reach the
//! backend, calls fail at once (instead of each waiting out its timeout) for `open_for`; then
//! one call goes through as a probe, and its success closes the circuit again. The store has
//! one ([`crate::store::BreakerTable`]), and so has every AWS client ([`crate::aws::Observed`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// A breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive unreachable calls that open the circuit.
    pub failures: u32,
    /// How long it stays open before a probe.
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            open_for: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Calls go through; this many failed in a row.
    Closed(u32),
    /// Calls fail at once until then.
    Open(Instant),
    /// One probe is out; other calls fail at once.
    Probing,
}

/// How a call was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ticket {
    /// As usual.
    Call,
    /// As the probe of an open circuit.
    Probe,
}

/// One backend's breaker.
#[derive(Debug)]
pub struct Breaker {
    name: String,
    settings: BreakerSettings,
    state: Mutex<State>,
    open: Gauge,
    refused: Counter,
}

impl Breaker {
    /// A closed breaker of the backend `name`, showing its state in `open` (1 when open) and
    /// counting the calls it fails at once in `refused`.
    pub fn new(
        name: impl Into<String>,
        settings: BreakerSettings,
        open: Gauge,
        refused: Counter,
    ) -> Self {
        Self {
            name: name.into(),
            settings,
            state: Mutex::new(State::Closed(0)),
            open,
            refused,
        }
    }

    /// Lets a call through, or `None` (counted) while the circuit is open.
    pub fn admit(&self) -> Option<Ticket> {
        let mut state = crate::sync::lock(&self.state);
        match *state {
            State::Closed(_) => Some(Ticket::Call),
            State::Open(until) if Instant::now() >= until => {
                *state = State::Probing;
                Some(Ticket::Probe)
            }
            State::Open(_) | State::Probing => {
                self.refused.inc();
                None
            }
        }
    }

    /// Records how a call let through ended: whether the backend could not be reached.
    pub fn settle(&self, ticket: Ticket, unreachable: bool) {
        let mut state = crate::sync::lock(&self.state);
        *state = match (ticket, *state, unreachable) {
            (_, _, false) => State::Closed(0),
            (Ticket::Probe, _, true) => State::Open(Instant::now() + self.settings.open_for),
            (Ticket::Call, State::Closed(n), true) if n + 1 >= self.settings.failures => {
                tracing::warn!(backend = %self.name, failures = n + 1, "a backend is unreachable; its circuit opens");
                State::Open(Instant::now() + self.settings.open_for)
            }
            (Ticket::Call, State::Closed(n), true) => State::Closed(n + 1),
            // Opened (or probing) meanwhile by other calls: leave it so.
            (Ticket::Call, other, true) => other,
        };
        self.open
            .set(i64::from(!matches!(*state, State::Closed(_))));
    }
}
