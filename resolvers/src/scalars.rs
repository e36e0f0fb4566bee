//! The schema's own scalars: exact decimals and timestamps, described for clients.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use std::str::FromStr;

/// An exact decimal number, serialised as a string ("19.99") so that no precision is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

/// An exact decimal number, serialised as a string ("19.99") so that no precision is lost.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => rust_decimal::Decimal::from_str(s.trim())
                .map(Decimal)
                .map_err(|_| InputValueError::custom(format!("`{s}` is not a decimal number"))),
            Value::Number(n) => rust_decimal::Decimal::from_str(&n.to_string())
                .map(Decimal)
                .map_err(|_| InputValueError::custom(format!("`{n}` is not a decimal number"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A moment in time: an RFC 3339 string in UTC, such as "2026-01-31T09:30:00Z".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

/// A moment in time: an RFC 3339 string in UTC, such as "2026-01-31T09:30:00Z".
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| DateTime(d.with_timezone(&chrono::Utc)))
                .map_err(|_| InputValueError::custom(format!("`{s}` is not an RFC 3339 time"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}
