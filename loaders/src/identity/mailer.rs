//! Code mail off the request path: a request for a confirmation or reset code is queued and
//! answered at once, whether or not the email has an account. The lookup, the new code and
//! the mail happen in the background, so neither the answer nor its timing says whether the
//! account exists.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{CodePurpose, Email, IdentityProvider};

/// Requests waiting for the worker; more are dropped (and logged), never waited for.
const QUEUE: usize = 1024;

/// Queues code mail for a worker task.
#[derive(Clone)]
pub struct CodeMailer {
    queue: mpsc::Sender<(CodePurpose, Email)>,
}

impl CodeMailer {
    /// Starts the worker that asks `provider` to send each queued code.
    pub fn start(provider: Arc<dyn IdentityProvider>) -> Self {
        let (queue, mut requests) = mpsc::channel::<(CodePurpose, Email)>(QUEUE);
        tokio::spawn(async move {
            while let Some((purpose, email)) = requests.recv().await {
                let sent = match purpose {
                    CodePurpose::ConfirmSignUp => provider.resend_confirmation(&email).await,
                    CodePurpose::ResetPassword => provider.request_password_reset(&email).await,
                    CodePurpose::AccountExists => Ok(()),
                };
                if let Err(e) = sent {
                    tracing::warn!(error = %e, ?purpose, "a queued code was not sent");
                }
            }
        });
        Self { queue }
    }

    /// Queues a code of `purpose` for `email`; returns at once.
    pub fn request(&self, purpose: CodePurpose, email: Email) {
        if self.queue.try_send((purpose, email)).is_err() {
            tracing::warn!(
                ?purpose,
                "the code mail queue is full; a request was dropped"
            );
        }
    }
}
