//! Amazon Lex V2 understands messages: `RecognizeText` on a bot alias and locale, the
//! conversation's session keyed by the chat session (Lex keeps its dialogue state), the top
//! interpretation's intent and slots read by name. Fulfilment stays the gateway's: the bot
//! is only asked what the shopper means.

use std::collections::BTreeMap;

use super::understand::{Intent, Slots, UnderstandError, Understanding, Understood};

/// A Lex V2 bot alias in one locale.
pub struct LexBot {
    client: aws_sdk_lexruntimev2::Client,
    bot_id: String,
    alias_id: String,
    locale_id: String,
}

impl LexBot {
    /// A client for the bot `bot_id`'s alias `alias_id` in `locale_id`, in `region` (or at
    /// `endpoint_url`).
    pub async fn connect(
        bot_id: String,
        alias_id: String,
        locale_id: String,
        region: Option<&str>,
        endpoint_url: Option<&str>,
        metrics: &std::sync::Arc<crate::Metrics>,
    ) -> Result<Self, String> {
        let shared = crate::aws::sdk_config(region, endpoint_url)
            .await
            .ok_or("Amazon Lex needs a region (`chat.lex.region` or `aws.region`)")?;
        Ok(Self {
            client: crate::observed_client!(aws_sdk_lexruntimev2, &shared, metrics),
            bot_id,
            alias_id,
            locale_id,
        })
    }
}

#[async_trait::async_trait]
impl Understanding for LexBot {
    fn name(&self) -> &'static str {
        "lex"
    }

    async fn understand(&self, session: &str, text: &str) -> Result<Understood, UnderstandError> {
        let answer = self
            .client
            .recognize_text()
            .bot_id(&self.bot_id)
            .bot_alias_id(&self.alias_id)
            .locale_id(&self.locale_id)
            .session_id(session)
            .text(text)
            .send()
            .await
            .map_err(|e| {
                UnderstandError::Unavailable(
                    aws_sdk_lexruntimev2::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        // Lex lists interpretations best first.
        let Some(best) = answer.interpretations().first() else {
            return Ok(Understood {
                intent: Intent::Fallback,
                slots: Slots::default(),
                confidence: 0.0,
            });
        };
        let Some(intent) = best.intent() else {
            return Ok(Understood {
                intent: Intent::Fallback,
                slots: Slots::default(),
                confidence: 0.0,
            });
        };
        let values: BTreeMap<String, String> = intent
            .slots()
            .into_iter()
            .flatten()
            .filter_map(|(name, slot)| {
                let value = slot.value()?.interpreted_value();
                Some((name.clone(), value.to_owned()))
            })
            .collect();
        let confidence = best.nlu_confidence().map_or(
            // The fallback intent carries no confidence.
            if intent.name() == "FallbackIntent" {
                0.0
            } else {
                1.0
            },
            |c| c.score(),
        );
        Ok(Understood {
            intent: Intent::named(intent.name()),
            slots: Slots::from_named(&values),
            confidence,
        })
    }
}
