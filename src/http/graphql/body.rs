//! Writing answers, bounded: a response body never grows past the configured maximum (the
//! writer stops at it, so an oversized answer is never held whole in memory as bytes), and an
//! answer that would is replaced by a `RESPONSE_TOO_LARGE` error.

use std::io::Write;

use async_graphql::Response;
use serde_json::{Value, json};
use storefront_resolvers::ErrorCode;

use super::media::MediaType;
use super::refusal::is_request_error;

/// A buffer that refuses to grow past its limit.
pub(super) struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

/// The answer is larger than the limit.
#[derive(Debug)]
pub(super) struct TooLarge;

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + data.len() > self.limit {
            return Err(std::io::Error::other("the response is larger than allowed"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capped {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
        }
    }

    /// Appends a response; a request error written as `application/graphql-response+json` has
    /// no `data` entry at all, as the GraphQL-over-HTTP spec asks. Nothing is appended when it
    /// does not fit.
    pub(super) fn response(
        &mut self,
        response: &Response,
        media: MediaType,
    ) -> Result<(), TooLarge> {
        let mark = self.bytes.len();
        let written = if media == MediaType::GraphQlResponse && is_request_error(response) {
            serde_json::to_writer(&mut *self, &json!({ "errors": response.errors }))
        } else {
            serde_json::to_writer(&mut *self, response)
        };
        written.map_err(|_| {
            self.bytes.truncate(mark);
            TooLarge
        })
    }

    /// Appends a small body that must be sent whatever the limit (errors about the answer).
    pub(super) fn always(&mut self, value: &Value) {
        self.bytes.extend(value.to_string().into_bytes());
    }

    /// Appends raw punctuation (`[`, `,`, `]`), whatever the limit.
    pub(super) fn punctuation(&mut self, byte: u8) {
        self.bytes.push(byte);
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The answer in place of one larger than `limit` bytes.
pub(super) fn too_large(limit: usize) -> Value {
    error_answer(
        ErrorCode::ResponseTooLarge,
        &format!("the answer is larger than {limit} bytes; ask for fewer items or fields"),
    )
}

/// The answer in place of one that ran past the deadline.
pub(super) fn timed_out(timeout_ms: u64) -> Value {
    error_answer(
        ErrorCode::Timeout,
        &format!("the request ran longer than {timeout_ms} ms; ask for less"),
    )
}

fn error_answer(code: ErrorCode, message: &str) -> Value {
    json!({"data": null, "errors": [{"message": message, "extensions": {"code": code.as_str()}}]})
}

/// Whether a response holds an error of `code`.
pub(super) fn has_code(response: &Response, code: ErrorCode) -> bool {
    response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from(code.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_that_does_not_fit_leaves_nothing_behind() {
        let mut out = Capped::new(64);
        out.punctuation(b'[');
        let big = Response::new(async_graphql::Value::String("x".repeat(100)));
        assert!(out.response(&big, MediaType::Json).is_err());
        out.always(&too_large(64));
        out.punctuation(b']');
        let answer: Value = serde_json::from_slice(&out.into_bytes()).expect("valid JSON");
        assert_eq!(
            answer[0]["errors"][0]["extensions"]["code"],
            "RESPONSE_TOO_LARGE"
        );
    }
}
