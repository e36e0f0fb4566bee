//! Amazon EventBridge: every event put on the configured bus, with its source, its type as
//! the detail type and the whole envelope as the detail, where rules fan it out.

use async_trait::async_trait;

use super::envelope::Event;
use crate::outbox::{OutboxMessage, OutboxSink, SinkError};

/// The EventBridge sink of the events relay.
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBus {
    /// A sink to the bus named `bus`.
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self { client, bus }
    }
}

#[async_trait]
impl OutboxSink for EventBus {
    fn name(&self) -> &'static str {
        "eventbridge"
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), SinkError> {
        let event = Event::of(message).map_err(|e| SinkError(e.to_string()))?;
        let time = aws_smithy_types::DateTime::from_millis(event.time.timestamp_millis());
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&event.source)
            .detail_type(&event.kind)
            .time(time)
            .detail(message.body.to_string())
            .build();
        let answer = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                SinkError(aws_smithy_types::error::display::DisplayErrorContext(e).to_string())
            })?;
        if answer.failed_entry_count() > 0 {
            let why = answer
                .entries()
                .iter()
                .find_map(|e| e.error_message())
                .unwrap_or("no reason given");
            return Err(SinkError(format!("EventBridge refused the event: {why}")));
        }
        Ok(())
    }
}
