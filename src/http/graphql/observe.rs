//! What `/metrics` counts of GraphQL requests: operations by name, type and outcome, their
//! latency, and errors by code. A client chooses operation names, so the names a label may
//! take are bounded: every name of the trusted-document manifests, then the first
//! `[http] operation_names` others; any name after those, or not a GraphQL name, is `other`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_graphql::ServerError;
use async_graphql::parser::types::OperationType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// An operation's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// Its name (bounded: see the module), `anonymous`, or `unknown` when the request was
    /// refused before its operation was known.
    pub operation: String,
    /// `query`, `mutation`, `subscription` or `unknown`.
    pub kind: &'static str,
    /// `ok`, `error` (ran, with errors), `refused` (not run: a limit, a bad document, a
    /// credential) or `timeout`.
    pub outcome: &'static str,
}

/// An operation's latency series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// As in [`OperationLabels`].
    pub operation: String,
}

/// An error code's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The `extensions.code` answered.
    pub code: String,
}

/// The GraphQL request metrics.
pub struct OperationMetrics {
    operations: Family<OperationLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    names: Mutex<Names>,
}

struct Names {
    known: HashSet<String>,
    others: usize,
    max_others: usize,
}

/// What one operation of a request came to.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The operation's name, as the client named it; none for an anonymous operation.
    pub name: Option<String>,
    /// Its type, when known.
    pub kind: Option<OperationType>,
    /// `ok`, `error`, `refused` or `timeout`.
    pub outcome: &'static str,
}

fn latency() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// Whether `name` is a GraphQL name of at most 64 characters.
pub(super) fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl OperationMetrics {
    /// The metrics, registered in `metrics`; the manifests' operation names always have a
    /// label of their own, and `max_others` other names do.
    pub fn registered<'a>(
        metrics: &storefront_loaders::Metrics,
        manifest_names: impl IntoIterator<Item = &'a str>,
        max_others: usize,
    ) -> Self {
        let own = Self {
            operations: Family::default(),
            latency: Family::new_with_constructor(latency),
            errors: Family::default(),
            names: Mutex::new(Names {
                known: manifest_names.into_iter().map(str::to_owned).collect(),
                others: 0,
                max_others,
            }),
        };
        metrics.register(
            "graphql_operations",
            "GraphQL operations, by name, type and outcome",
            own.operations.clone(),
        );
        metrics.register(
            "graphql_operation_seconds",
            "GraphQL request latency, by operation name (a batch counts once, under its first)",
            own.latency.clone(),
        );
        metrics.register(
            "graphql_errors",
            "GraphQL errors answered, by extensions.code",
            own.errors.clone(),
        );
        own
    }

    /// The label of an operation name.
    fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".into();
        };
        if !is_name(name) {
            return "other".into();
        }
        let mut names = self.names.lock().expect("the name set is never poisoned");
        if names.known.contains(name) {
            return name.to_owned();
        }
        if names.others < names.max_others {
            names.others += 1;
            names.known.insert(name.to_owned());
            return name.to_owned();
        }
        "other".into()
    }

    /// Records a request's operations and how long it took.
    pub fn record(&self, operations: &[Observed], took: Duration) {
        for (i, op) in operations.iter().enumerate() {
            let operation = match (op.outcome, op.kind) {
                ("refused", None) if op.name.is_none() => "unknown".to_owned(),
                _ => self.label(op.name.as_deref()),
            };
            if i == 0 {
                self.latency
                    .get_or_create(&LatencyLabels {
                        operation: operation.clone(),
                    })
                    .observe(took.as_secs_f64());
            }
            let kind = kind_name(op.kind);
            self.operations
                .get_or_create(&OperationLabels {
                    operation,
                    kind,
                    outcome: op.outcome,
                })
                .inc();
        }
    }

    /// Counts the codes of errors answered (the gateway sets every code, from a fixed set).
    pub fn errors(&self, errors: &[ServerError]) {
        for error in errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| match e.get("code") {
                    Some(async_graphql::Value::String(code)) => Some(code.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "NONE".into());
            self.error_code(&code);
        }
    }

    /// Counts a request refused before its operations were known (a malformed body, a
    /// batch over the limit, an API key that is not one).
    pub fn refused(&self, code: &str) {
        self.operations
            .get_or_create(&OperationLabels {
                operation: "unknown".into(),
                kind: "unknown",
                outcome: "refused",
            })
            .inc();
        self.error_code(code);
    }

    /// Counts one error answered with `code`.
    pub fn error_code(&self, code: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                code: code.to_owned(),
            })
            .inc();
    }
}

/// An operation type's name: `query`, `mutation`, `subscription`, or `unknown`.
pub(super) fn kind_name(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_bound_and_malformed_ones_share_one_label_but_manifest_names_never_do() {
        let registry = storefront_loaders::Metrics::new();
        let metrics = OperationMetrics::registered(&registry, ["ProductPage"], 2);
        assert_eq!(metrics.label(Some("A")), "A");
        assert_eq!(metrics.label(Some("B")), "B");
        assert_eq!(metrics.label(Some("C")), "other");
        assert_eq!(metrics.label(Some("A")), "A");
        assert_eq!(metrics.label(Some("ProductPage")), "ProductPage");
        assert_eq!(metrics.label(Some("not a name")), "other");
        assert_eq!(metrics.label(Some(&"x".repeat(65))), "other");
        assert_eq!(metrics.label(None), "anonymous");
    }
}
