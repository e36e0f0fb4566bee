//! The OpenSearch engine against a fake OpenSearch Service domain that checks each request
//! (path, signature, DSL, bulk lines) and answers in OpenSearch's documented format.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fake_aws::{Answer, FakeAws, Received};
use crate::support::{TestApp, spawn_app_with, test_config};

const ALIAS: &str = "products-test";

/// The fake domain's state: indices with their documents and `_meta`, and aliases.
#[derive(Default)]
struct Domain {
    indices: BTreeMap<String, (BTreeMap<String, Value>, Value)>,
    aliases: BTreeMap<String, String>,
    problems: Vec<String>,
    /// Answer searches with this status instead (503), or hang (`Some(None)`).
    failing: Option<Option<StatusCode>>,
}

fn not_found(what: &str) -> Answer {
    Some((
        StatusCode::NOT_FOUND,
        json!({"error": {"type": "index_not_found_exception", "reason": format!("no such index [{what}]")}, "status": 404}),
    ))
}

fn ok(body: Value) -> Answer {
    Some((StatusCode::OK, body))
}

impl Domain {
    fn resolve(&self, name: &str) -> Option<String> {
        self.aliases
            .get(name)
            .cloned()
            .or_else(|| self.indices.contains_key(name).then(|| name.to_owned()))
    }

    fn bulk(&mut self, request: &Received) -> Answer {
        if request.content_type != "application/x-ndjson" {
            self.problems
                .push(format!("_bulk content type {}", request.content_type));
        }
        let mut lines = request.body.lines();
        let mut items = Vec::new();
        while let Some(action) = lines.next() {
            let action: Value = serde_json::from_str(action).expect("action line");
            let (kind, meta) = action
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("one action");
            let index = meta["_index"].as_str().expect("_index");
            let id = meta["_id"].as_str().expect("_id").to_owned();
            let Some(target) = self.resolve(index) else {
                self.problems
                    .push(format!("_bulk into missing index {index}"));
                continue;
            };
            let docs = &mut self.indices.get_mut(&target).expect("index").0;
            match kind.as_str() {
                "index" => {
                    let source: Value =
                        serde_json::from_str(lines.next().expect("source line")).expect("source");
                    for field in [
                        "id",
                        "title",
                        "words",
                        "vendor",
                        "min_price",
                        "available",
                        "category_handles",
                        "suggest",
                    ] {
                        if source.get(field).is_none() {
                            self.problems
                                .push(format!("document {id} has no `{field}`"));
                        }
                    }
                    docs.insert(id.clone(), source);
                    items.push(json!({"index": {"_index": target, "_id": id, "status": 201, "result": "created"}}));
                }
                "delete" => {
                    let found = docs.remove(&id).is_some();
                    items.push(json!({"delete": {"_index": target, "_id": id, "status": if found { 200 } else { 404 }}}));
                }
                other => self.problems.push(format!("unknown bulk action {other}")),
            }
        }
        ok(json!({"took": 1, "errors": false, "items": items}))
    }

    fn search(&mut self, index: &str, request: &Received) -> Answer {
        if let Some(failing) = self.failing {
            return failing.map(|status| {
                (
                    status,
                    json!({"error": {"reason": "overloaded"}, "status": status.as_u16()}),
                )
            });
        }
        let Some(target) = self.resolve(index) else {
            return not_found(index);
        };
        let body = request.json();
        for key in ["query", "sort", "size", "post_filter"] {
            if body.get(key).is_none() {
                self.problems
                    .push(format!("_search without `{key}`: {body}"));
            }
        }
        if body["track_total_hits"] != json!(true) {
            self.problems
                .push("_search without track_total_hits".into());
        }
        let size = body["size"].as_u64().expect("size") as usize;
        let sort_field = body["sort"][0]
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .expect("sort field");
        let docs = &self.indices[&target].0;
        let hits: Vec<Value> = docs
            .iter()
            .take(size)
            .map(|(id, doc)| {
                let value = if sort_field == "_score" {
                    json!(1.0)
                } else {
                    doc[&sort_field].clone()
                };
                json!({"_index": target, "_id": id, "_score": null, "sort": [value, id]})
            })
            .collect();
        let mut aggregations = serde_json::Map::new();
        if let Some(aggs) = body["aggs"].as_object() {
            for (name, agg) in aggs {
                let field = agg
                    .pointer("/aggs/values/terms/field")
                    .or_else(|| agg.pointer("/terms/field"));
                let buckets: Vec<Value> = match field.and_then(Value::as_str) {
                    Some("vendor") => {
                        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                        for doc in docs.values() {
                            *counts
                                .entry(doc["vendor"].as_str().expect("vendor").to_owned())
                                .or_default() += 1;
                        }
                        counts
                            .into_iter()
                            .map(|(k, n)| json!({"key": k, "doc_count": n}))
                            .collect()
                    }
                    Some("available") => {
                        let yes = docs
                            .values()
                            .filter(|d| d["available"] == json!(true))
                            .count();
                        vec![
                            json!({"key": 1, "key_as_string": "true", "doc_count": yes}),
                            json!({"key": 0, "key_as_string": "false", "doc_count": docs.len() - yes}),
                        ]
                    }
                    Some("suggest") => {
                        let include = agg
                            .pointer("/terms/include")
                            .and_then(Value::as_str)
                            .expect("include");
                        let prefix = include.trim_end_matches(".*");
                        let mut words: BTreeMap<String, u64> = BTreeMap::new();
                        for doc in docs.values() {
                            for w in doc["suggest"].as_array().expect("suggest") {
                                let w = w.as_str().expect("word");
                                if w.starts_with(prefix) {
                                    *words.entry(w.to_owned()).or_default() += 1;
                                }
                            }
                        }
                        words
                            .into_iter()
                            .map(|(k, n)| json!({"key": k, "doc_count": n}))
                            .collect()
                    }
                    _ => vec![],
                };
                let answer = if agg.get("filter").is_some() {
                    json!({"doc_count": docs.len(), "values": {"buckets": buckets}})
                } else {
                    json!({"buckets": buckets})
                };
                aggregations.insert(name.clone(), answer);
            }
        }
        ok(json!({
            "took": 2,
            "timed_out": false,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": docs.len(), "relation": "eq"}, "max_score": null, "hits": hits},
            "aggregations": aggregations
        }))
    }

    fn answer(&mut self, request: &Received) -> Answer {
        let path = request.path.split('?').next().unwrap_or("").to_owned();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (&request.method, parts.as_slice()) {
            (&Method::PUT, [index]) => {
                let definition = request.json();
                if definition
                    .pointer("/settings/analysis/analyzer/storefront_en")
                    .is_none()
                    || definition.pointer("/mappings/properties/title/analyzer")
                        != Some(&json!("storefront_en"))
                {
                    self.problems.push(format!(
                        "index {index} created without the analyzers: {definition}"
                    ));
                }
                self.indices
                    .insert((*index).to_owned(), (BTreeMap::new(), json!({})));
                ok(json!({"acknowledged": true, "shards_acknowledged": true, "index": index}))
            }
            (&Method::POST, ["_bulk"]) => self.bulk(request),
            (&Method::PUT, [index, "_mapping"]) => {
                let meta = request.json()["_meta"].clone();
                match self.indices.get_mut(*index) {
                    Some(entry) => {
                        entry.1 = meta;
                        ok(json!({"acknowledged": true}))
                    }
                    None => not_found(index),
                }
            }
            (&Method::GET, [name, "_mapping"]) => match self.resolve(name) {
                Some(target) => {
                    ok(json!({target.clone(): {"mappings": {"_meta": self.indices[&target].1}}}))
                }
                None => not_found(name),
            },
            (&Method::POST, [_, "_refresh"]) => {
                ok(json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}))
            }
            (&Method::GET, ["_alias", alias]) => match self.aliases.get(*alias) {
                Some(index) => ok(json!({index.clone(): {"aliases": {*alias: {}}}})),
                None => Some((
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("alias [{alias}] missing"), "status": 404}),
                )),
            },
            (&Method::POST, ["_aliases"]) => {
                for action in request.json()["actions"].as_array().expect("actions") {
                    if let Some(add) = action.get("add") {
                        let index = add["index"].as_str().expect("index").to_owned();
                        if self.indices[&index].1.get("revision").is_none() {
                            self.problems.push(format!(
                                "alias moved to {index} before its revision was recorded"
                            ));
                        }
                        self.aliases
                            .insert(add["alias"].as_str().expect("alias").to_owned(), index);
                    }
                }
                ok(json!({"acknowledged": true}))
            }
            (&Method::DELETE, [index]) => {
                if self.aliases.values().any(|i| i == index) {
                    self.problems
                        .push(format!("deleted {index}, which the alias points at"));
                }
                self.indices.remove(*index);
                ok(json!({"acknowledged": true}))
            }
            (&Method::GET, [name, "_count"]) => match self.resolve(name) {
                Some(target) => ok(json!({"count": self.indices[&target].0.len()})),
                None => not_found(name),
            },
            (&Method::POST, [name, "_search"]) => self.search(name, request),
            _ => {
                self.problems
                    .push(format!("unexpected {} {}", request.method, request.path));
                Some((StatusCode::BAD_REQUEST, json!({"error": "unexpected"})))
            }
        }
    }
}

struct Fixture {
    fake: FakeAws,
    domain: Arc<Mutex<Domain>>,
    app: TestApp,
}

impl Fixture {
    async fn start(timeout_millis: i64) -> Self {
        let domain: Arc<Mutex<Domain>> = Arc::default();
        let state = Arc::clone(&domain);
        let fake = FakeAws::start("es", "us-east-1", move |request| {
            state.lock().expect("lock").answer(request)
        })
        .await;
        let config = test_config()
            .with_section("search", "engine", "opensearch")
            .with_section("search", "timeout_millis", timeout_millis)
            .with_section("search", "opensearch.endpoint", fake.url())
            .with_section("search", "opensearch.index", ALIAS)
            .with_section("search", "opensearch.region", "us-east-1");
        let app = spawn_app_with(config).await;
        Self { fake, domain, app }
    }

    fn problems(&self) -> Vec<String> {
        let mut all = self.fake.problems();
        all.extend(self.domain.lock().expect("lock").problems.clone());
        all
    }

    fn aliased(&self) -> (String, usize) {
        let domain = self.domain.lock().expect("lock");
        let index = domain.aliases[ALIAS].clone();
        let count = domain.indices[&index].0.len();
        (index, count)
    }
}

#[tokio::test]
async fn the_first_start_builds_a_new_index_behind_the_alias_and_swaps_it_in_when_complete() {
    let f = Fixture::start(2_000).await;
    let (index, count) = f.aliased();
    assert!(index.starts_with(&format!("{ALIAS}-")), "{index}");
    assert_eq!(count, 60, "the whole test catalog");
    let received = f.fake.received();
    let position =
        |wanted: &dyn Fn(&Received) -> bool| received.iter().position(wanted).expect("request");
    let created = position(&|r| r.method == Method::PUT && r.path == format!("/{index}"));
    let last_bulk = received
        .iter()
        .rposition(|r| r.path == "/_bulk")
        .expect("bulk");
    let refreshed = position(&|r| r.path == format!("/{index}/_refresh"));
    let swapped = position(&|r| r.path == "/_aliases");
    assert!(
        created < last_bulk && last_bulk < refreshed && refreshed < swapped,
        "built, refreshed, then swapped"
    );
    assert_eq!(f.problems(), Vec::<String>::new());

    // A reindex writes another index; the alias moves only when it is complete, and the old
    // index goes.
    let done = storefront_loaders::search::reindex(&f.app.app.services)
        .await
        .expect("reindex");
    assert!(done.contains("60 products"), "{done}");
    let (second, count) = f.aliased();
    assert_ne!(second, index);
    assert_eq!(count, 60);
    assert!(
        !f.domain.lock().expect("lock").indices.contains_key(&index),
        "the old index is deleted"
    );
    assert_eq!(f.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn searches_send_the_dsl_with_facet_aggregations_and_map_the_answer() {
    let f = Fixture::start(2_000).await;
    let data = f
        .app
        .data(
            "{ search(query: \"wool jack\", first: 5, productFilters: [{vendor: \"Northwind\"}, {available: true}], sortKey: PRICE) { totalCount nodes { id } productFilters { id values { label count } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    let sent = f
        .fake
        .received()
        .into_iter()
        .rfind(|r| r.path == format!("/{ALIAS}/_search"))
        .expect("a search")
        .json();
    assert_eq!(sent["sort"][0], json!({"min_price": {"order": "asc"}}));
    assert_eq!(
        sent["post_filter"]["bool"]["filter"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        sent["aggs"]["vendor"]["filter"]["bool"]["filter"][0]["bool"]["should"][0],
        json!({"term": {"available": true}}),
        "the vendor facet counts with the availability filter only"
    );
    assert!(
        sent["query"].to_string().contains("\"fuzzy\""),
        "{}",
        sent["query"]
    );
    let (index, total) = f.aliased();
    assert!(!index.is_empty());
    let search = &data["search"];
    assert_eq!(search["totalCount"], json!(total));
    assert_eq!(search["nodes"].as_array().map(Vec::len), Some(5));
    assert_eq!(search["pageInfo"]["hasNextPage"], true);
    let vendors = search["productFilters"]
        .as_array()
        .expect("filters")
        .iter()
        .find(|f| f["id"] == "filter.p.vendor")
        .expect("vendor facet");
    let counted: u64 = vendors["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(counted, total as u64);
    let predicted = f
        .app
        .data(
            "{ predictiveSearch(query: \"woo\", limit: 3) { queries { text } } }",
            json!({}),
        )
        .await;
    assert_eq!(predicted["predictiveSearch"]["queries"][0]["text"], "wool");
    assert_eq!(f.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn catalog_writes_reach_the_domain_as_bulk_requests_within_a_second() {
    let f = Fixture::start(2_000).await;
    let started = std::time::Instant::now();
    let line = r#"{"handle":"aurora-parka","title":"Aurora Parka","vendor":"Kestrel","productType":"Parka","variants":[{"sku":"AP-M","price":"250.00"}]}"#;
    f.app.import("catalog", line).await;
    let bulk = f
        .fake
        .wait_for(Duration::from_secs(1), |r| {
            r.path == "/_bulk" && r.body.contains("Aurora Parka")
        })
        .await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        bulk.body.contains(&format!("\"_index\":\"{ALIAS}\"")),
        "incremental writes go through the alias: {}",
        bulk.body
    );
    assert_eq!(f.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn a_failing_or_hanging_search_engine_is_search_unavailable_never_a_hang() {
    let f = Fixture::start(300).await;
    f.domain.lock().expect("lock").failing = Some(Some(StatusCode::SERVICE_UNAVAILABLE));
    let query = "{ search(query: \"wool\", first: 3) { totalCount } }";
    assert_eq!(
        f.app.error_codes(query, json!({})).await,
        ["SEARCH_UNAVAILABLE"]
    );
    f.domain.lock().expect("lock").failing = Some(None);
    let started = std::time::Instant::now();
    assert_eq!(
        f.app.error_codes(query, json!({})).await,
        ["SEARCH_UNAVAILABLE"]
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the deadline cut the hanging call"
    );
    assert_eq!(
        f.app
            .error_codes(
                "{ predictiveSearch(query: \"woo\") { queries { text } } }",
                json!({})
            )
            .await,
        ["SEARCH_UNAVAILABLE"]
    );
}
