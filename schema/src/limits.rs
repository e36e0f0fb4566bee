//! Document limits checked before a request runs: tokens (before parsing), aliases (counted
//! through fragment spreads, so a fragment reused many times counts each time) and root fields.

use std::collections::HashMap;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use storefront_resolvers::ErrorCode;

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Most lexical tokens in a document.
    pub max_tokens: usize,
    /// Most aliased fields, fragments expanded.
    pub max_aliases: usize,
    /// Most fields at the root of the operation.
    pub max_root_fields: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_tokens: 5_000,
            max_aliases: 30,
            max_root_fields: 20,
        }
    }
}

/// A document over a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// `QueryTooManyTokens`, `QueryTooManyAliases` or `QueryTooManyRootFields`.
    pub code: ErrorCode,
    /// What was found and what is allowed.
    pub message: String,
}

/// Counts the lexical tokens of a GraphQL document: names, numbers, strings and punctuators
/// (commas, white space and comments are not tokens).
pub fn count_tokens(document: &str) -> usize {
    let bytes = document.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                count += 1;
                if bytes[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += 1;
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        if bytes[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                count += 1;
                i += 3;
            }
            _ if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                count += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'.' | b'-' | b'+'))
                {
                    i += 1;
                }
            }
            _ => {
                count += 1;
                i += 1;
            }
        }
    }
    count
}

fn aliases(
    set: &SelectionSet,
    document: &ExecutableDocument,
    memo: &mut HashMap<String, usize>,
    visiting: &mut Vec<String>,
) -> usize {
    let mut total: usize = 0;
    for selection in &set.items {
        let n = match &selection.node {
            Selection::Field(field) => usize::from(field.node.alias.is_some()).saturating_add(
                aliases(&field.node.selection_set.node, document, memo, visiting),
            ),
            Selection::InlineFragment(inline) => {
                aliases(&inline.node.selection_set.node, document, memo, visiting)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                if let Some(n) = memo.get(&name) {
                    *n
                } else if visiting.contains(&name) {
                    0
                } else if let Some(fragment) = document
                    .fragments
                    .get(spread.node.fragment_name.node.as_str())
                {
                    visiting.push(name.clone());
                    let n = aliases(&fragment.node.selection_set.node, document, memo, visiting);
                    visiting.pop();
                    memo.insert(name, n);
                    n
                } else {
                    0
                }
            }
        };
        total = total.saturating_add(n);
    }
    total
}

fn root_fields(set: &SelectionSet, document: &ExecutableDocument, depth: usize) -> usize {
    if depth > 8 {
        return 0;
    }
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(inline) => {
                root_fields(&inline.node.selection_set.node, document, depth + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(spread.node.fragment_name.node.as_str())
                .map_or(0, |f| {
                    root_fields(&f.node.selection_set.node, document, depth + 1)
                }),
        })
        .fold(0usize, usize::saturating_add)
}

/// What the checks learned of a document that parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentFacts {
    /// The type of the operation that will run, when one is selected.
    pub operation_type: Option<OperationType>,
    /// The name of the operation that will run, when it has one.
    pub operation_name: Option<String>,
    /// Whether any operation asks for `__schema` or `__type`.
    pub introspection: bool,
}

/// Whether any operation of the document asks for `__schema` or `__type` (introspection
/// fields exist only at the root; fragments spread there are followed).
fn uses_introspection(parsed: &ExecutableDocument) -> bool {
    fn asks(set: &SelectionSet, document: &ExecutableDocument, depth: usize) -> bool {
        depth < 8
            && set.items.iter().any(|selection| match &selection.node {
                Selection::Field(field) => {
                    matches!(field.node.name.node.as_str(), "__schema" | "__type")
                }
                Selection::InlineFragment(inline) => {
                    asks(&inline.node.selection_set.node, document, depth + 1)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(spread.node.fragment_name.node.as_str())
                    .is_some_and(|f| asks(&f.node.selection_set.node, document, depth + 1)),
            })
    }
    parsed
        .operations
        .iter()
        .any(|(_, op)| asks(&op.node.selection_set.node, parsed, 0))
}

/// Checks a document against the limits, parsing it once, and tells what it found. A document
/// that does not parse passes here with no facts: the schema reports its syntax error.
pub fn check(
    document: &str,
    operation_name: Option<&str>,
    limits: &DocumentLimits,
) -> Result<DocumentFacts, LimitExceeded> {
    let tokens = count_tokens(document);
    if tokens > limits.max_tokens {
        return Err(LimitExceeded {
            code: ErrorCode::QueryTooManyTokens,
            message: format!(
                "the document has {tokens} tokens; at most {} are allowed",
                limits.max_tokens
            ),
        });
    }
    let Ok(parsed) = parse_query(document) else {
        return Ok(DocumentFacts::default());
    };
    let mut memo = HashMap::new();
    let mut total_aliases: usize = 0;
    for (_, operation) in parsed.operations.iter() {
        total_aliases = total_aliases.saturating_add(aliases(
            &operation.node.selection_set.node,
            &parsed,
            &mut memo,
            &mut vec![],
        ));
    }
    if total_aliases > limits.max_aliases {
        return Err(LimitExceeded {
            code: ErrorCode::QueryTooManyAliases,
            message: format!(
                "the document has {total_aliases} aliased fields; at most {} are allowed",
                limits.max_aliases
            ),
        });
    }
    let selected = parsed
        .operations
        .iter()
        .find(|(name, _)| match operation_name {
            Some(wanted) => name.is_some_and(|n| n.as_str() == wanted),
            None => true,
        });
    if let Some((_, operation)) = selected {
        let roots = root_fields(&operation.node.selection_set.node, &parsed, 0);
        if roots > limits.max_root_fields {
            return Err(LimitExceeded {
                code: ErrorCode::QueryTooManyRootFields,
                message: format!(
                    "the operation selects {roots} root fields; at most {} are allowed",
                    limits.max_root_fields
                ),
            });
        }
    }
    Ok(DocumentFacts {
        operation_type: selected.map(|(_, operation)| operation.node.ty),
        operation_name: selected.and_then(|(name, _)| name.map(|n| n.to_string())),
        introspection: uses_introspection(&parsed),
    })
}

/// The outcome of [`check`] for each document and operation seen lately: a storefront sends
/// the same few documents over and over, and parsing each again is most of what answering one
/// from the response cache would cost. Keyed by a SHA-256 of the document and operation name
/// (nobody can make two documents share an entry); bounded in entries.
pub struct CheckedDocuments {
    limits: DocumentLimits,
    seen: moka::sync::Cache<[u8; 32], Result<DocumentFacts, LimitExceeded>>,
}

impl CheckedDocuments {
    /// Remembers up to `capacity` outcomes under `limits`.
    pub fn new(limits: DocumentLimits, capacity: u64) -> Self {
        Self {
            limits,
            seen: moka::sync::Cache::new(capacity),
        }
    }

    /// [`check`], remembered.
    pub fn check(
        &self,
        document: &str,
        operation_name: Option<&str>,
    ) -> Result<DocumentFacts, LimitExceeded> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update((document.len() as u64).to_le_bytes());
        hasher.update(document.as_bytes());
        hasher.update(operation_name.unwrap_or_default().as_bytes());
        // An absent name and an empty one differ.
        hasher.update([u8::from(operation_name.is_some())]);
        let key: [u8; 32] = hasher.finalize().into();
        self.seen
            .get_with(key, || check(document, operation_name, &self.limits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_check_answers_as_the_check_does() {
        let limits = DocumentLimits {
            max_tokens: 50,
            max_aliases: 1,
            max_root_fields: 5,
        };
        let checked = CheckedDocuments::new(limits, 10);
        for (document, name) in [
            ("query A { a } mutation B { b }", Some("B")),
            ("query A { a } mutation B { b }", Some("A")),
            ("{ x: a y: a }", None),
        ] {
            for _ in 0..2 {
                assert_eq!(
                    checked.check(document, name),
                    check(document, name, &limits),
                    "{document} {name:?}"
                );
            }
        }
    }

    #[test]
    fn tokens_skip_white_space_commas_and_comments() {
        assert_eq!(count_tokens("{ a, b }"), 4);
        assert_eq!(
            count_tokens("# hi\nquery Q($x: Int = 3) { f(s: \"a b\") }"),
            18
        );
        assert_eq!(count_tokens("{ ...F }"), 4);
    }

    #[test]
    fn aliases_reused_through_fragments_count_every_time() {
        let limits = DocumentLimits {
            max_aliases: 10,
            ..DocumentLimits::default()
        };
        let fragment = "fragment F on QueryRoot { a1: __typename a2: __typename a3: __typename }";
        let ok = format!("{{ ...F ...F ...F }} {fragment}");
        assert!(check(&ok, None, &limits).is_ok());
        let bomb = format!("{{ ...F ...F ...F ...F }} {fragment}");
        assert_eq!(
            check(&bomb, None, &limits).expect_err("12 aliases").code,
            ErrorCode::QueryTooManyAliases
        );
    }

    #[test]
    fn root_fields_are_counted_for_the_selected_operation() {
        let limits = DocumentLimits {
            max_root_fields: 2,
            ..DocumentLimits::default()
        };
        let facts =
            check("query A { a b } query B { a b c }", Some("A"), &limits).expect("2 roots");
        assert_eq!(facts.operation_type, Some(OperationType::Query));
        assert_eq!(
            check("query A { a b } query B { a b c }", Some("B"), &limits)
                .expect_err("3 roots")
                .code,
            ErrorCode::QueryTooManyRootFields
        );
    }
}
