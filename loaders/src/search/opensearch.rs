//! The Amazon OpenSearch Service engine: the index's analyzers and mapping, bulk indexing,
//! searches in the query DSL with a filter aggregation per facet (each with the *other*
//! dimensions' filters) and `post_filter` for the hits, requests signed with SigV4 (service
//! `es`), and rebuilds into a new index behind the alias, swapped in one `_aliases` call
//! when complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};

use super::document::SearchDocument;
use super::engine::{Rebuild, SearchEngine, SearchError};
use super::ranking::descending;
use super::request::{
    CategoryHit, Dimension, Facet, FacetValue, Filter, Hit, MAX_FACET_VALUES, PRICE_BANDS,
    Position, Predictions, SearchRequest, SearchResults, SearchSort, facet_names,
    price_band_filter, price_band_label,
};
use super::text::{query_words, typo_budget};

/// The version of the mapping; an index of another version is rebuilt.
const FORMAT: u64 = 1;
/// The longest a call to OpenSearch may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Separates the parts of a combined facet value (`handle`, `title`).
const SEP: char = '\u{1f}';

/// Where the domain is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSearchSettings {
    /// The domain endpoint.
    pub endpoint: String,
    /// The alias searched.
    pub alias: String,
    /// The region requests are signed for.
    pub region: Option<String>,
    /// Sign requests (SigV4, service `es`).
    pub sign: bool,
}

struct Signer {
    region: String,
    provider: aws_credential_types::provider::SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl Signer {
    async fn credentials(&self) -> Result<Credentials, SearchError> {
        let mut cached = self.cached.lock().await;
        let fresh = cached.as_ref().is_some_and(|c| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + Duration::from_secs(300))
        });
        if !fresh {
            *cached = Some(self.provider.provide_credentials().await.map_err(|e| {
                SearchError::Unavailable(format!("no AWS credentials for OpenSearch: {e}"))
            })?);
        }
        Ok(cached.clone().expect("credentials were just set"))
    }

    /// The headers that sign a request.
    async fn headers(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, SearchError> {
        let identity = self.credentials().await?.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("es")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| SearchError::Refused(e.to_string()))?
            .into();
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| ("content-type", c))
            .into_iter()
            .collect();
        let signable =
            SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| SearchError::Refused(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SearchError::Refused(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

struct Client {
    http: reqwest::Client,
    endpoint: String,
    signer: Option<Signer>,
}

impl Client {
    /// Sends a request; `Ok(None)` for a 404.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Option<Value>, SearchError> {
        let url = format!("{}{path}", self.endpoint);
        let (content_type, bytes) = match body {
            None => (None, Vec::new()),
            Some(Body::Json(value)) => (
                Some("application/json"),
                serde_json::to_vec(&value).expect("JSON serialises"),
            ),
            Some(Body::NdJson(text)) => (Some("application/x-ndjson"), text.into_bytes()),
        };
        let mut request = self.http.request(method.clone(), &url);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(signer) = &self.signer {
            for (name, value) in signer
                .headers(method.as_str(), &url, content_type, &bytes)
                .await?
            {
                request = request.header(name, value);
            }
        }
        let response = request
            .body(bytes)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| SearchError::Unavailable(format!("{method} {path}: {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let value: Value = response.json().await.map_err(|e| {
            SearchError::Unavailable(format!("{method} {path}: unreadable answer: {e}"))
        })?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(SearchError::Unavailable(format!(
                "{method} {path}: {status}"
            )));
        }
        if !status.is_success() {
            let reason = value
                .pointer("/error/reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            return Err(SearchError::Refused(format!(
                "{method} {path}: {status}: {reason}"
            )));
        }
        Ok(Some(value))
    }
}

enum Body {
    Json(Value),
    NdJson(String),
}

/// The OpenSearch engine.
pub struct OpenSearch {
    client: Arc<Client>,
    alias: String,
    generation: Arc<AtomicU64>,
}

impl OpenSearch {
    /// A client for the domain (nothing is sent yet).
    pub async fn connect(settings: OpenSearchSettings) -> Result<Self, SearchError> {
        let signer = if settings.sign {
            let region = settings
                .region
                .clone()
                .ok_or_else(|| SearchError::Refused("signing needs a region".into()))?;
            let config = crate::aws::sdk_config(Some(&region), None)
                .await
                .ok_or_else(|| SearchError::Refused("no AWS region".into()))?;
            let provider = config
                .credentials_provider()
                .ok_or_else(|| SearchError::Refused("no AWS credentials provider".into()))?;
            Some(Signer {
                region,
                provider,
                cached: tokio::sync::Mutex::new(None),
            })
        } else {
            None
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| SearchError::Refused(e.to_string()))?;
        Ok(Self {
            client: Arc::new(Client {
                http,
                endpoint: settings.endpoint.trim_end_matches('/').to_owned(),
                signer,
            }),
            alias: settings.alias,
            generation: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// The index's settings and mapping.
pub fn index_definition() -> Value {
    let text = |analyzer: &str| json!({"type": "text", "analyzer": analyzer});
    json!({
        "settings": {
            "analysis": {
                "filter": {
                    "storefront_stop": {"type": "stop", "stopwords": "_english_"},
                    "storefront_stem": {"type": "stemmer", "language": "english"}
                },
                "analyzer": {
                    "storefront_en": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding", "storefront_stop", "storefront_stem"]
                    },
                    "storefront_raw": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding"]
                    }
                }
            }
        },
        "mappings": {
            "_meta": {"format": FORMAT},
            "dynamic": "strict",
            "properties": {
                "id": {"type": "keyword"},
                "handle": {"type": "keyword"},
                "title": text("storefront_en"),
                "meta": text("storefront_en"),
                "description": text("storefront_en"),
                "words": text("storefront_raw"),
                "suggest": {"type": "keyword"},
                "vendor": {"type": "keyword"},
                "product_type": {"type": "keyword"},
                "tags": {"type": "keyword"},
                "category_handles": {"type": "keyword"},
                "category_facets": {"type": "keyword"},
                "category_titles": text("storefront_raw"),
                "options": {"type": "keyword"},
                "option_facets": {"type": "keyword"},
                "min_price": {"type": "long"},
                "max_price": {"type": "long"},
                "available": {"type": "boolean"},
                "created_at": {"type": "long"},
                "sales": {"type": "long"}
            }
        }
    })
}

/// The indexed form of a document.
pub fn source_of(doc: &SearchDocument) -> Value {
    let mut suggest: Vec<String> = doc.name_words();
    suggest.sort();
    suggest.dedup();
    json!({
        "id": doc.id,
        "handle": doc.handle,
        "title": doc.title,
        "meta": doc.meta_text(),
        "description": doc.description,
        "words": format!("{} {}", doc.title, doc.meta_text()),
        "suggest": suggest,
        "vendor": doc.vendor,
        "product_type": doc.product_type,
        "tags": doc.tags,
        "category_handles": doc.categories.iter().map(|c| &c.handle).collect::<Vec<_>>(),
        "category_facets": doc.categories.iter().map(|c| format!("{}{SEP}{}{SEP}{}", c.handle, c.title, c.id)).collect::<Vec<_>>(),
        "category_titles": doc.categories.iter().map(|c| c.title.as_str()).collect::<Vec<_>>().join(" "),
        "options": doc.options.iter().map(|(n, v)| option_key(n, v)).collect::<Vec<_>>(),
        "option_facets": doc.options.iter().map(|(n, v)| format!("{}{SEP}{n}{SEP}{v}", n.to_lowercase())).collect::<Vec<_>>(),
        "min_price": doc.min_price,
        "max_price": doc.max_price,
        "available": doc.available,
        "created_at": doc.created_at,
        "sales": doc.sales,
    })
}

fn option_key(name: &str, value: &str) -> String {
    format!("{}={}", name.to_lowercase(), value.to_lowercase())
}

fn keyword(field: &str, value: &str) -> Value {
    json!({"term": {field: {"value": value, "case_insensitive": true}}})
}

fn filter_clause(filter: &Filter) -> Value {
    match filter {
        Filter::Category(handle) => keyword("category_handles", handle),
        Filter::Vendor(v) => keyword("vendor", v),
        Filter::ProductType(t) => keyword("product_type", t),
        Filter::Tag(t) => keyword("tags", t),
        Filter::Price { min, max } => json!({"bool": {"filter": [
            {"range": {"max_price": {"gte": min.unwrap_or(0)}}},
            {"range": {"min_price": {"lte": max.unwrap_or(i64::MAX)}}}
        ]}}),
        Filter::Available(a) => json!({"term": {"available": a}}),
        Filter::VariantOption { name, value } => {
            json!({"term": {"options": option_key(name, value)}})
        }
    }
}

/// Filters grouped by dimension, each group one `should` clause.
fn groups(filters: &[Filter]) -> Vec<(Dimension, Value)> {
    let mut grouped: Vec<(Dimension, Vec<Value>)> = Vec::new();
    for filter in filters {
        let dimension = filter.dimension();
        let clause = filter_clause(filter);
        match grouped.iter_mut().find(|(d, _)| *d == dimension) {
            Some((_, clauses)) => clauses.push(clause),
            None => grouped.push((dimension, vec![clause])),
        }
    }
    grouped
        .into_iter()
        .map(|(d, clauses)| {
            (
                d,
                json!({"bool": {"should": clauses, "minimum_should_match": 1}}),
            )
        })
        .collect()
}

fn all_but(groups: &[(Dimension, Value)], skip: Option<&Dimension>) -> Value {
    let clauses: Vec<&Value> = groups
        .iter()
        .filter(|(d, _)| Some(d) != skip)
        .map(|(_, c)| c)
        .collect();
    json!({"bool": {"filter": clauses}})
}

/// The text part of a search: every word must match.
pub fn text_query(query: &str) -> Value {
    let words = query_words(query);
    if words.is_empty() {
        return json!({"match_all": {}});
    }
    let typing = !query.ends_with(char::is_whitespace);
    let last = words.len() - 1;
    let must: Vec<Value> = words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let mut should = vec![
                json!({"match": {"title": {"query": word, "boost": 4.0}}}),
                json!({"match": {"meta": {"query": word, "boost": 2.0}}}),
                json!({"match": {"description": {"query": word}}}),
            ];
            let budget = typo_budget(word);
            if budget > 0 {
                should.push(json!({"fuzzy": {"words": {"value": word, "fuzziness": budget, "transpositions": true}}}));
            }
            if typing && i == last {
                should.push(json!({"prefix": {"words": {"value": word, "boost": 1.5}}}));
            }
            json!({"bool": {"should": should, "minimum_should_match": 1}})
        })
        .collect();
    json!({"bool": {"must": must}})
}

/// The whole `_search` body of a request.
pub fn search_body(request: &SearchRequest) -> Value {
    let groups = groups(&request.filters);
    let field = match request.sort {
        SearchSort::Relevance => "_score",
        SearchSort::Price => "min_price",
        SearchSort::CreatedAt => "created_at",
        SearchSort::BestSelling => "sales",
    };
    // List order: the value (descending for relevance and best selling), ties by id
    // ascending; all flipped by `reverse`, and again to read backward.
    let flip = request.reverse != request.backward;
    let direction = |down: bool| if down != flip { "desc" } else { "asc" };
    let (order, id_order) = (direction(descending(request.sort)), direction(false));
    let mut body = json!({
        "size": request.limit + 1,
        "track_total_hits": true,
        "_source": false,
        "query": text_query(&request.query),
        "post_filter": all_but(&groups, None),
        "sort": [{field: {"order": order}}, {"id": {"order": id_order}}],
    });
    if let Some(cursor) = &request.cursor {
        body["search_after"] = json!([cursor.value, cursor.id]);
    }
    if request.facets {
        let mut aggs = serde_json::Map::new();
        let terms = |dimension: &Dimension, field: &str| json!({"filter": all_but(&groups, Some(dimension)), "aggs": {"values": {"terms": {"field": field, "size": MAX_FACET_VALUES}}}});
        aggs.insert(
            "category".into(),
            terms(&Dimension::Category, "category_facets"),
        );
        aggs.insert("vendor".into(), terms(&Dimension::Vendor, "vendor"));
        aggs.insert(
            "product_type".into(),
            terms(&Dimension::ProductType, "product_type"),
        );
        aggs.insert("tag".into(), terms(&Dimension::Tag, "tags"));
        aggs.insert("options".into(), json!({"filter": all_but(&groups, None), "aggs": {"values": {"terms": {"field": "option_facets", "size": 500}}}}));
        for (dimension, _) in &groups {
            if let Dimension::Option(name) = dimension {
                aggs.insert(format!("option{SEP}{name}"), json!({"filter": all_but(&groups, Some(dimension)), "aggs": {"values": {"terms": {"field": "option_facets", "size": MAX_FACET_VALUES, "include": format!("{}{SEP}.*", regex_escape(name))}}}}));
            }
        }
        let bands: Vec<Value> = PRICE_BANDS
            .iter()
            .map(|(from, to)| {
                let mut clauses = vec![json!({"range": {"max_price": {"gte": from}}})];
                if let Some(to) = to {
                    clauses.push(json!({"range": {"min_price": {"lt": to}}}));
                }
                json!({"bool": {"filter": clauses}})
            })
            .collect();
        aggs.insert("price".into(), json!({"filter": all_but(&groups, Some(&Dimension::Price)), "aggs": {"values": {"filters": {"filters": bands}}}}));
        aggs.insert("available".into(), json!({"filter": all_but(&groups, Some(&Dimension::Available)), "aggs": {"values": {"terms": {"field": "available", "size": 2}}}}));
        body["aggs"] = Value::Object(aggs);
    }
    if !request.query.trim().is_empty() {
        body["suggest"] = json!({"fix": {"text": request.query, "term": {"field": "words", "suggest_mode": "missing"}}});
    }
    body
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = ".?+*|{}[]()\"\\#@&<>~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

fn buckets<'a>(response: &'a Value, agg: &str) -> impl Iterator<Item = (&'a Value, u64)> {
    response
        .pointer(&format!("/aggregations/{agg}/values/buckets"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| Some((b.get("key")?, b.get("doc_count")?.as_u64()?)))
        .filter(|(_, count)| *count > 0)
}

fn list_facet(dimension: &Dimension, option_label: &str, values: Vec<FacetValue>) -> Option<Facet> {
    if values.is_empty() {
        return None;
    }
    let (id, label, kind) = facet_names(dimension, option_label);
    Some(Facet {
        id,
        label,
        kind,
        values,
    })
}

/// The facets of a `_search` answer.
pub fn facets_of(response: &Value, filters: &[Filter]) -> Vec<Facet> {
    let mut facets = Vec::new();
    let category: Vec<FacetValue> = buckets(response, "category")
        .filter_map(|(key, count)| {
            let mut parts = key.as_str()?.split(SEP);
            let (handle, title) = (parts.next()?, parts.next()?);
            Some(FacetValue {
                label: title.to_owned(),
                count,
                input: Filter::Category(handle.to_owned()),
            })
        })
        .collect();
    facets.extend(list_facet(&Dimension::Category, "", category));
    for (dimension, agg, make) in [
        (
            Dimension::Vendor,
            "vendor",
            Filter::Vendor as fn(String) -> Filter,
        ),
        (Dimension::ProductType, "product_type", Filter::ProductType),
        (Dimension::Tag, "tag", Filter::Tag),
    ] {
        let values = buckets(response, agg)
            .filter_map(|(key, count)| {
                let text = key.as_str()?;
                Some(FacetValue {
                    label: text.to_owned(),
                    count,
                    input: make(text.to_owned()),
                })
            })
            .collect();
        facets.extend(list_facet(&dimension, "", values));
    }
    // Option values: from the option's own aggregation when it is filtered, else from the
    // one over every filter.
    let filtered: Vec<String> = filters
        .iter()
        .filter_map(|f| match f.dimension() {
            Dimension::Option(name) => Some(name),
            _ => None,
        })
        .collect();
    let mut options: Vec<(String, String, Vec<FacetValue>)> = Vec::new();
    let mut add_option = |key: &Value, count: u64| {
        let mut parts = key.as_str()?.split(SEP);
        let (lower, name, value) = (parts.next()?, parts.next()?, parts.next()?);
        let value = FacetValue {
            label: value.to_owned(),
            count,
            input: Filter::VariantOption {
                name: name.to_owned(),
                value: value.to_owned(),
            },
        };
        match options.iter_mut().find(|(l, _, _)| l == lower) {
            Some((_, _, values)) => values.push(value),
            None => options.push((lower.to_owned(), name.to_owned(), vec![value])),
        }
        Some(())
    };
    for (key, count) in buckets(response, "options") {
        let lower = key.as_str().and_then(|k| k.split(SEP).next()).unwrap_or("");
        if !filtered.iter().any(|f| f == lower) {
            add_option(key, count);
        }
    }
    for name in &filtered {
        for (key, count) in buckets(response, &format!("option{SEP}{name}")) {
            add_option(key, count);
        }
    }
    for (lower, name, mut values) in options {
        values.truncate(MAX_FACET_VALUES);
        facets.extend(list_facet(&Dimension::Option(lower), &name, values));
    }
    let price: Vec<FacetValue> = response
        .pointer("/aggregations/price/values/buckets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .zip(PRICE_BANDS)
        .filter_map(|(bucket, (from, to))| {
            let count = bucket.get("doc_count")?.as_u64()?;
            (count > 0).then(|| FacetValue {
                label: price_band_label(*from, *to),
                count,
                input: price_band_filter(*from, *to),
            })
        })
        .collect();
    facets.extend(list_facet(&Dimension::Price, "", price));
    let mut available: Vec<FacetValue> = buckets(response, "available")
        .filter_map(|(key, count)| {
            // Boolean terms buckets have `key` 1 or 0 (and `key_as_string`).
            let a = key.as_u64()? == 1;
            Some(FacetValue {
                label: if a { "In stock" } else { "Out of stock" }.into(),
                count,
                input: Filter::Available(a),
            })
        })
        .collect();
    available.sort_by_key(|v| v.input != Filter::Available(true));
    facets.extend(list_facet(&Dimension::Available, "", available));
    facets
}

/// The results of a `_search` answer to `request`.
pub fn results_of(response: &Value, request: &SearchRequest) -> Result<SearchResults, SearchError> {
    let malformed =
        |what: &str| SearchError::Unavailable(format!("malformed search answer: {what}"));
    let hits = response
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no hits"))?;
    let total = response
        .pointer("/hits/total/value")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("no hits.total.value"))?;
    let mut page: Vec<Hit> = hits
        .iter()
        .map(|hit| {
            let id = hit
                .get("_id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a hit without _id"))?;
            let value = hit
                .pointer("/sort/0")
                .and_then(Value::as_f64)
                .ok_or_else(|| malformed("a hit without sort values"))?;
            Ok(Hit {
                id: id.to_owned(),
                position: Position {
                    value,
                    id: id.to_owned(),
                },
            })
        })
        .collect::<Result<_, SearchError>>()?;
    let has_more = page.len() > request.limit;
    page.truncate(request.limit);
    if request.backward {
        page.reverse();
    }
    let suggestions = if total == 0 {
        let options: Vec<String> = response
            .pointer("/suggest/fix")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|entry| {
                entry
                    .pointer("/options/0/text")
                    .or_else(|| entry.get("text"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let corrected = options.join(" ");
        if corrected.is_empty() || corrected == query_words(&request.query).join(" ") {
            vec![]
        } else {
            vec![corrected]
        }
    } else {
        vec![]
    };
    Ok(SearchResults {
        hits: page,
        has_more,
        total,
        facets: if request.facets {
            facets_of(response, &request.filters)
        } else {
            vec![]
        },
        suggestions,
    })
}

#[async_trait]
impl SearchEngine for OpenSearch {
    fn name(&self) -> &'static str {
        "opensearch"
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let response = self
            .client
            .call(
                reqwest::Method::POST,
                &format!("/{}/_search", self.alias),
                Some(Body::Json(search_body(request))),
            )
            .await?
            .ok_or_else(|| SearchError::Unavailable(format!("no index `{}`", self.alias)))?;
        results_of(&response, request)
    }

    async fn predict(&self, query: &str, limit: usize) -> Result<Predictions, SearchError> {
        let words = query_words(query);
        let Some(last) = words.last() else {
            return Ok(Predictions::default());
        };
        let mut body = search_body(&SearchRequest::predictive(query, limit));
        body["aggs"] = json!({
            "queries": {"terms": {"field": "suggest", "size": limit, "include": format!("{}.*", regex_escape(last))}},
            "categories": {"filter": {"match_bool_prefix": {"category_titles": query}}, "aggs": {"values": {"terms": {"field": "category_facets", "size": 50}}}}
        });
        let response = self
            .client
            .call(
                reqwest::Method::POST,
                &format!("/{}/_search", self.alias),
                Some(Body::Json(body)),
            )
            .await?
            .ok_or_else(|| SearchError::Unavailable(format!("no index `{}`", self.alias)))?;
        let head = words[..words.len() - 1].join(" ");
        let queries: Vec<String> = response
            .pointer("/aggregations/queries/buckets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|b| b.get("key")?.as_str())
            .map(|w| {
                if head.is_empty() {
                    w.to_owned()
                } else {
                    format!("{head} {w}")
                }
            })
            .collect();
        let categories: Vec<CategoryHit> = buckets(&response, "categories")
            .filter_map(|(key, _)| {
                let mut parts = key.as_str()?.split(SEP);
                let (handle, title, id) = (parts.next()?, parts.next()?, parts.next()?);
                let named = super::text::words(title)
                    .iter()
                    .any(|w| w.starts_with(last.as_str()));
                named.then(|| CategoryHit {
                    id: id.to_owned(),
                    handle: handle.to_owned(),
                    title: title.to_owned(),
                })
            })
            .take(limit)
            .collect();
        let products = results_of(&response, &SearchRequest::predictive(query, limit))?
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect();
        Ok(Predictions {
            products,
            categories,
            queries,
        })
    }

    async fn apply(
        &self,
        upserts: Vec<SearchDocument>,
        removals: Vec<String>,
    ) -> Result<(), SearchError> {
        if upserts.is_empty() && removals.is_empty() {
            return Ok(());
        }
        bulk(&self.client, &self.alias, &upserts, &removals).await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn rebuild(&self) -> Result<Box<dyn Rebuild>, SearchError> {
        let millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let index = format!("{}-{millis}", self.alias);
        self.client
            .call(
                reqwest::Method::PUT,
                &format!("/{index}"),
                Some(Body::Json(index_definition())),
            )
            .await?;
        Ok(Box::new(OpenSearchRebuild {
            client: Arc::clone(&self.client),
            alias: self.alias.clone(),
            index,
            generation: Arc::clone(&self.generation),
        }))
    }

    async fn revision(&self) -> Result<Option<u64>, SearchError> {
        let Some(mapping) = self
            .client
            .call(
                reqwest::Method::GET,
                &format!("/{}/_mapping", self.alias),
                None,
            )
            .await?
        else {
            return Ok(None);
        };
        // One index behind the alias: `{index: {mappings: {_meta: {...}}}}`.
        let meta = mapping
            .as_object()
            .and_then(|indices| indices.values().next())
            .and_then(|index| index.pointer("/mappings/_meta"));
        let format = meta.and_then(|m| m.get("format")).and_then(Value::as_u64);
        Ok(meta
            .filter(|_| format == Some(FORMAT))
            .and_then(|m| m.get("revision"))
            .and_then(Value::as_u64))
    }

    async fn len(&self) -> Result<u64, SearchError> {
        Ok(self
            .client
            .call(
                reqwest::Method::GET,
                &format!("/{}/_count", self.alias),
                None,
            )
            .await?
            .and_then(|c| c.get("count").and_then(Value::as_u64))
            .unwrap_or(0))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

/// Writes and deletes documents in one `_bulk` call; any item error fails the call.
async fn bulk(
    client: &Client,
    index: &str,
    upserts: &[SearchDocument],
    removals: &[String],
) -> Result<(), SearchError> {
    let mut body = String::new();
    for doc in upserts {
        body.push_str(&json!({"index": {"_index": index, "_id": doc.id}}).to_string());
        body.push('\n');
        body.push_str(&source_of(doc).to_string());
        body.push('\n');
    }
    for id in removals {
        body.push_str(&json!({"delete": {"_index": index, "_id": id}}).to_string());
        body.push('\n');
    }
    let answer = client
        .call(reqwest::Method::POST, "/_bulk", Some(Body::NdJson(body)))
        .await?
        .ok_or_else(|| SearchError::Unavailable("no _bulk endpoint".into()))?;
    if answer.get("errors").and_then(Value::as_bool) == Some(true) {
        let first = answer
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.values().next())
            // Deleting a document that is not there is fine.
            .filter(|result| result.get("status").and_then(Value::as_u64) != Some(404))
            .find_map(|result| result.pointer("/error/reason").and_then(Value::as_str));
        if let Some(reason) = first {
            return Err(SearchError::Refused(format!("bulk indexing: {reason}")));
        }
    }
    Ok(())
}

struct OpenSearchRebuild {
    client: Arc<Client>,
    alias: String,
    index: String,
    generation: Arc<AtomicU64>,
}

#[async_trait]
impl Rebuild for OpenSearchRebuild {
    async fn add(&mut self, documents: Vec<SearchDocument>) -> Result<(), SearchError> {
        if documents.is_empty() {
            return Ok(());
        }
        bulk(&self.client, &self.index, &documents, &[]).await
    }

    async fn finish(self: Box<Self>, revision: u64) -> Result<(), SearchError> {
        let client = &self.client;
        client
            .call(
                reqwest::Method::PUT,
                &format!("/{}/_mapping", self.index),
                Some(Body::Json(
                    json!({"_meta": {"format": FORMAT, "revision": revision}}),
                )),
            )
            .await?;
        client
            .call(
                reqwest::Method::POST,
                &format!("/{}/_refresh", self.index),
                None,
            )
            .await?;
        let old: Vec<String> = client
            .call(
                reqwest::Method::GET,
                &format!("/_alias/{}", self.alias),
                None,
            )
            .await?
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default();
        let mut actions: Vec<Value> = old
            .iter()
            .map(|index| json!({"remove": {"index": index, "alias": self.alias}}))
            .collect();
        actions.push(json!({"add": {"index": self.index, "alias": self.alias}}));
        client
            .call(
                reqwest::Method::POST,
                "/_aliases",
                Some(Body::Json(json!({"actions": actions}))),
            )
            .await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        for index in old.iter().filter(|i| **i != self.index) {
            if let Err(e) = client
                .call(reqwest::Method::DELETE, &format!("/{index}"), None)
                .await
            {
                tracing::warn!(error = %e, index, "cannot delete the index the alias left");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(filters: Vec<Filter>) -> SearchRequest {
        SearchRequest {
            query: "wool jack".into(),
            filters,
            sort: SearchSort::Price,
            reverse: false,
            limit: 20,
            cursor: Some(Position {
                value: 1999.0,
                id: "p1".into(),
            }),
            backward: false,
            facets: true,
        }
    }

    #[test]
    fn a_facet_counts_with_the_other_dimensions_filters_and_hits_with_all() {
        let body = search_body(&request(vec![
            Filter::Vendor("Acme".into()),
            Filter::Vendor("Borealis".into()),
            Filter::Available(true),
        ]));
        assert_eq!(
            body["post_filter"]["bool"]["filter"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let vendor = &body["aggs"]["vendor"]["filter"]["bool"]["filter"];
        assert_eq!(vendor.as_array().map(Vec::len), Some(1), "{vendor}");
        assert_eq!(
            vendor[0]["bool"]["should"][0]["term"]["available"],
            json!(true)
        );
        assert_eq!(body["search_after"], json!([1999.0, "p1"]));
        assert_eq!(body["sort"][0], json!({"min_price": {"order": "asc"}}));
        let words = &body["query"]["bool"]["must"];
        assert_eq!(words.as_array().map(Vec::len), Some(2));
        assert!(
            words[1]["bool"]["should"].to_string().contains("prefix"),
            "the last word is a prefix"
        );
    }

    #[test]
    fn answers_map_to_results_with_facets() {
        let answer = json!({
            "took": 3, "timed_out": false,
            "hits": {"total": {"value": 2, "relation": "eq"}, "hits": [
                {"_id": "a", "_score": null, "sort": [1500, "a"]},
                {"_id": "b", "_score": null, "sort": [2500, "b"]}
            ]},
            "aggregations": {
                "vendor": {"doc_count": 2, "values": {"buckets": [{"key": "Acme", "doc_count": 2}]}},
                "available": {"doc_count": 2, "values": {"buckets": [{"key": 1, "key_as_string": "true", "doc_count": 2}]}},
                "price": {"doc_count": 2, "values": {"buckets": [{"doc_count": 2}, {"doc_count": 0}]}}
            }
        });
        let results = results_of(&answer, &request(vec![])).expect("well-formed");
        assert_eq!(results.total, 2);
        assert_eq!(results.hits[1].position.value, 2500.0);
        let vendor = results
            .facets
            .iter()
            .find(|f| f.id == "filter.p.vendor")
            .expect("vendor facet");
        assert_eq!(vendor.values[0].count, 2);
        assert!(
            results
                .facets
                .iter()
                .any(|f| f.id == "filter.v.availability")
        );
        let price = results
            .facets
            .iter()
            .find(|f| f.id == "filter.v.price")
            .expect("price facet");
        assert_eq!(price.values.len(), 1, "empty bands are left out");
    }
}
