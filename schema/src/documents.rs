//! Which document a request runs: its own text, an automatic persisted query (APQ) by hash,
//! or a trusted document by id; and the policy on each (manifest-only mode, APQ on or off).
//!
//! An APQ document is registered only after it passed parsing, validation and the limits
//! ([`PersistedDocuments::register`] is called by whoever ran it), so an invalid document is
//! never found by its hash.

use std::sync::Arc;

use storefront_loaders::cache::DocumentCache;
use storefront_loaders::rate_limit::{ClientId, RateLimiter};
use storefront_resolvers::ErrorCode;

use crate::persisted::{TrustedDocuments, document_hash};

/// What may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistedPolicy {
    /// Only operations of the manifests run (by id, or by their exact text).
    pub require_manifest: bool,
    /// Automatic persisted queries are accepted (outside manifest-only mode).
    pub apq: bool,
}

/// How a request names its document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentRef {
    /// The text of the document, if sent.
    pub text: Option<String>,
    /// Its SHA-256: APQ's `extensions.persistedQuery.sha256Hash`, or a trusted `documentId`.
    pub hash: Option<String>,
}

/// The document to run, and whether to register it by hash once it passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The document's text.
    pub text: String,
    /// The hash to register it under (an APQ registration), when it ran without being refused
    /// before execution.
    pub register: Option<String>,
}

/// Why a request's document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRefusal {
    /// The error code.
    pub code: ErrorCode,
    /// What to tell the client.
    pub message: &'static str,
}

impl DocumentRefusal {
    /// Whether the refusal is a normal step of the APQ protocol (the client retries with the
    /// text), answered with 200 rather than 400.
    pub fn is_protocol_step(&self) -> bool {
        self.code == ErrorCode::PersistedQueryNotFound
    }
}

const REQUIRED: DocumentRefusal = DocumentRefusal {
    code: ErrorCode::PersistedQueryRequired,
    message: "only operations of the persisted-query manifests are accepted",
};
const NOT_FOUND: DocumentRefusal = DocumentRefusal {
    code: ErrorCode::PersistedQueryNotFound,
    message: "PersistedQueryNotFound",
};

/// Trusted documents and APQ registrations, under one policy.
pub struct PersistedDocuments {
    policy: PersistedPolicy,
    trusted: Arc<TrustedDocuments>,
    registered: Arc<DocumentCache>,
    registrations: Option<RateLimiter>,
}

impl PersistedDocuments {
    /// The documents of the manifests and the APQ cache, under `policy`.
    pub fn new(
        policy: PersistedPolicy,
        trusted: Arc<TrustedDocuments>,
        registered: Arc<DocumentCache>,
    ) -> Self {
        Self {
            policy,
            trusted,
            registered,
            registrations: None,
        }
    }

    /// Limits how many documents one client may register (the rest run unregistered).
    pub fn limiting_registrations(mut self, limiter: RateLimiter) -> Self {
        self.registrations = Some(limiter);
        self
    }

    /// The trusted documents.
    pub fn trusted(&self) -> &TrustedDocuments {
        &self.trusted
    }

    fn apq(&self) -> bool {
        self.policy.apq && !self.policy.require_manifest
    }

    /// The document a request runs, or why it may not run.
    pub async fn resolve(&self, document: DocumentRef) -> Result<Resolved, DocumentRefusal> {
        let text = document.text.filter(|q| !q.trim().is_empty());
        match (text, document.hash) {
            (Some(text), Some(hash)) => {
                if document_hash(&text) != hash {
                    return Err(DocumentRefusal {
                        code: ErrorCode::PersistedQueryHashMismatch,
                        message: "the query's SHA-256 is not the given sha256Hash",
                    });
                }
                if self.trusted.get(&hash).is_some() {
                    return Ok(Resolved {
                        text,
                        register: None,
                    });
                }
                if self.policy.require_manifest {
                    return Err(REQUIRED);
                }
                let register = self.apq().then_some(hash);
                Ok(Resolved { text, register })
            }
            (None, Some(hash)) => {
                if let Some(operation) = self.trusted.get(&hash) {
                    return Ok(Resolved {
                        text: operation.body.clone(),
                        register: None,
                    });
                }
                if !self.apq() {
                    return Err(NOT_FOUND);
                }
                match self.registered.get(&hash).await {
                    Some(text) => Ok(Resolved {
                        text: text.to_string(),
                        register: None,
                    }),
                    None => Err(NOT_FOUND),
                }
            }
            (Some(text), None) => {
                if self.policy.require_manifest && self.trusted.get(&document_hash(&text)).is_none()
                {
                    return Err(REQUIRED);
                }
                Ok(Resolved {
                    text,
                    register: None,
                })
            }
            (None, None) => Err(DocumentRefusal {
                code: ErrorCode::BadRequest,
                message: "the request has no `query` (nor a persisted query id)",
            }),
        }
    }

    /// Registers an APQ document that ran without being refused before execution, unless
    /// `client` has registered its share already; returns whether it was registered.
    pub async fn register(&self, resolved: &Resolved, client: Option<&ClientId>) -> bool {
        let Some(hash) = &resolved.register else {
            return false;
        };
        if let (Some(limiter), Some(client)) = (&self.registrations, client)
            && limiter.spend(client, 1).await.is_err()
        {
            tracing::debug!(client = %client.0, "APQ registration over the client's limit");
            return false;
        }
        self.registered.put(hash, &resolved.text).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(policy: PersistedPolicy) -> PersistedDocuments {
        PersistedDocuments::new(
            policy,
            Arc::new(TrustedDocuments::default()),
            Arc::new(DocumentCache::new(
                storefront_loaders::cache::DocumentLimits {
                    memory_bytes: 1 << 20,
                    ttl: std::time::Duration::from_secs(60),
                },
                None,
                "test:",
            )),
        )
    }

    const APQ: PersistedPolicy = PersistedPolicy {
        require_manifest: false,
        apq: true,
    };

    fn by_hash(text: &str) -> DocumentRef {
        DocumentRef {
            text: None,
            hash: Some(document_hash(text)),
        }
    }

    fn with_hash(text: &str) -> DocumentRef {
        DocumentRef {
            text: Some(text.to_owned()),
            hash: Some(document_hash(text)),
        }
    }

    #[tokio::test]
    async fn a_sent_apq_document_is_found_only_after_it_is_registered() {
        let documents = documents(APQ);
        let resolved = documents
            .resolve(with_hash("{ shop }"))
            .await
            .expect("resolves");
        assert_eq!(
            resolved.register.as_deref(),
            Some(&*document_hash("{ shop }"))
        );
        assert_eq!(documents.resolve(by_hash("{ shop }")).await, Err(NOT_FOUND));
        assert!(documents.register(&resolved, None).await);
        let found = documents
            .resolve(by_hash("{ shop }"))
            .await
            .expect("registered");
        assert_eq!(found.text, "{ shop }");
        assert_eq!(found.register, None);
    }

    #[tokio::test]
    async fn without_apq_nothing_is_registered_and_hashes_are_not_found() {
        let documents = documents(PersistedPolicy::default());
        let resolved = documents
            .resolve(with_hash("{ shop }"))
            .await
            .expect("resolves");
        assert_eq!(resolved.register, None);
        assert_eq!(documents.resolve(by_hash("{ shop }")).await, Err(NOT_FOUND));
    }

    #[tokio::test]
    async fn manifest_only_mode_refuses_other_documents() {
        let documents = documents(PersistedPolicy {
            require_manifest: true,
            apq: true,
        });
        for request in [
            with_hash("{ shop }"),
            DocumentRef {
                text: Some("{ shop }".into()),
                hash: None,
            },
        ] {
            assert_eq!(documents.resolve(request).await, Err(REQUIRED));
        }
    }

    #[tokio::test]
    async fn a_text_that_is_not_its_hash_is_refused() {
        let refusal = documents(APQ)
            .resolve(DocumentRef {
                text: Some("{ shop }".into()),
                hash: Some(document_hash("{ other }")),
            })
            .await
            .expect_err("mismatch");
        assert_eq!(refusal.code, ErrorCode::PersistedQueryHashMismatch);
    }
}

#[cfg(test)]
mod registration_limits {
    use super::*;
    use std::time::Duration;
    use storefront_loaders::rate_limit::RateLimitSettings;

    #[tokio::test]
    async fn a_client_registers_no_more_than_its_share() {
        let documents = PersistedDocuments::new(
            PersistedPolicy {
                require_manifest: false,
                apq: true,
            },
            Arc::new(TrustedDocuments::default()),
            Arc::new(DocumentCache::new(
                storefront_loaders::cache::DocumentLimits {
                    memory_bytes: 1 << 20,
                    ttl: Duration::from_secs(60),
                },
                None,
                "test:",
            )),
        )
        .limiting_registrations(RateLimiter::new(
            RateLimitSettings {
                budget: 2,
                window: Duration::from_secs(3600),
            },
            None,
            "test:",
        ));
        let client = ClientId("ip:10.0.0.1".into());
        let mut registered = vec![];
        for i in 0..4 {
            let text = format!("{{ a{i}: __typename }}");
            let resolved = documents
                .resolve(DocumentRef {
                    hash: Some(document_hash(&text)),
                    text: Some(text),
                })
                .await
                .expect("resolves");
            registered.push(documents.register(&resolved, Some(&client)).await);
        }
        assert_eq!(registered, [true, true, false, false]);
        let other = ClientId("ip:10.0.0.2".into());
        let text = "{ other: __typename }".to_owned();
        let resolved = documents
            .resolve(DocumentRef {
                hash: Some(document_hash(&text)),
                text: Some(text),
            })
            .await
            .expect("resolves");
        assert!(documents.register(&resolved, Some(&other)).await);
    }
}
