//! Trusted documents: Apollo persisted-query manifests (`schema/persisted/*.json`), loaded at
//! start and checked against the schema.

use std::collections::HashMap;
use std::path::Path;

use async_graphql::parser::parse_query;
use serde::Deserialize;
pub use storefront_loaders::hash::sha256_hex;

/// The lowercase hex SHA-256 of a document: its id in manifests and in APQ.
pub fn document_hash(body: &str) -> String {
    sha256_hex(body.as_bytes())
}

/// One operation of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestOperation {
    /// The SHA-256 of `body`.
    pub id: String,
    /// The operation's name.
    pub name: String,
    /// `query`, `mutation` or `subscription`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The GraphQL document.
    pub body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    version: u32,
    operations: Vec<ManifestOperation>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// An operation is wrong; the message names it.
    #[error("{path}: operation `{name}`: {message}")]
    Operation {
        /// The file.
        path: String,
        /// The operation's name.
        name: String,
        /// Why.
        message: String,
    },
}

/// Every trusted document, by id.
#[derive(Debug, Clone, Default)]
pub struct TrustedDocuments {
    by_id: HashMap<String, ManifestOperation>,
}

impl TrustedDocuments {
    /// The document with this id.
    pub fn get(&self, id: &str) -> Option<&ManifestOperation> {
        self.by_id.get(id)
    }

    /// The names of the documents' operations.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_id.values().map(|op| op.name.as_str())
    }

    /// How many documents there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Loads every `*.json` manifest of `dir`; a missing directory holds none.
    pub fn load_dir(dir: &Path) -> Result<Self, ManifestError> {
        let mut documents = Self::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(documents);
        };
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            for operation in read_manifest(&path)? {
                documents.by_id.insert(operation.id.clone(), operation);
            }
        }
        Ok(documents)
    }
}

/// Reads and checks one manifest: format, ids that are the hash of their body, bodies that
/// parse and hold one operation of the stated type.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestOperation>, ManifestError> {
    let name = path.display().to_string();
    let read = |message: String| ManifestError::Read {
        path: name.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| read(e.to_string()))?;
    if manifest.format != "apollo-persisted-query-manifest" || manifest.version != 1 {
        return Err(read(
            "not an apollo-persisted-query-manifest, version 1".into(),
        ));
    }
    for op in &manifest.operations {
        let fail = |message: String| ManifestError::Operation {
            path: name.clone(),
            name: op.name.clone(),
            message,
        };
        if document_hash(&op.body) != op.id {
            return Err(fail("its id is not the SHA-256 of its body".into()));
        }
        let document = parse_query(&op.body).map_err(|e| fail(e.to_string()))?;
        let kinds: Vec<String> = document
            .operations
            .iter()
            .map(|(_, o)| o.node.ty.to_string())
            .collect();
        if kinds.len() != 1 || kinds[0] != op.kind {
            return Err(fail(format!(
                "the body must hold exactly one {} operation",
                op.kind
            )));
        }
    }
    Ok(manifest.operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(
            document_hash("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }
}
