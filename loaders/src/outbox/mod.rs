//! Transactional outboxes: messages written in the same transaction as the change they
//! announce, and a relay that delivers them to sinks, once each in effect, across replicas.
//! The checkout's order hand-off and the event stream each have an outbox of their own.

pub mod message;
pub mod metrics;
pub mod relay;

pub use message::OutboxMessage;
pub use metrics::OutboxMetrics;
pub use relay::{OutboxSink, Relay, SinkError};
