//! Persisted operations, response caching headers and document limits.

use serde_json::{Value, json};
use storefront_gateway::config::{ApiKeyConfig, PersistedMode};
use storefront_schema::persisted::document_hash;

use crate::support::replicas_sharing_redis;
use crate::support::{
    TestApp, full_catalog_config, local_aws, spawn_app, spawn_app_with, test_config,
};

const QUERY: &str = "{ categories(first: 2) { nodes { handle } } }";

async fn post_json(app: &TestApp, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("json"))
}

fn apq(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

#[tokio::test]
async fn a_query_registered_through_one_replica_is_served_by_another() {
    let replica = replicas_sharing_redis();
    let config = || {
        let mut config = replica();
        config.set("catalog", "seed_demo", true);
        config
    };
    let a = spawn_app_with(config()).await;
    let b = spawn_app_with(config()).await;
    let query = "{ categories(first: 3) { nodes { handle title } } }";
    let hash = document_hash(query);

    let (_, _, unknown) = post_json(&b, json!({"extensions": apq(&hash)})).await;
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    let (status, _, registered) =
        post_json(&a, json!({"query": query, "extensions": apq(&hash)})).await;
    assert_eq!(status, 200, "{registered}");

    let response = b
        .client
        .get(b.url("/graphql"))
        .query(&[("extensions", apq(&hash).to_string())])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.expect("json");
    assert_eq!(served, registered);

    let (status, _, mismatch) = post_json(
        &a,
        json!({"query": "{ __typename }", "extensions": apq(&hash)}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        mismatch["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_HASH_MISMATCH"
    );
}

#[tokio::test]
async fn require_mode_refuses_free_form_queries_and_serves_manifest_operations_by_id() {
    let mut config = test_config();
    config.persisted.mode = PersistedMode::Require;
    // A full catalog of its own (not the shared one): this test compares answers byte for byte.
    let app = spawn_app_with(full_catalog_config(config)).await;

    let (status, _, refused) = post_json(&app, json!({"query": QUERY})).await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_REQUIRED"
    );
    let (_, _, not_registered) = post_json(
        &app,
        json!({"query": QUERY, "extensions": apq(&document_hash(QUERY))}),
    )
    .await;
    assert_eq!(
        not_registered["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_REQUIRED"
    );

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schema/persisted/storefront-mobile.json"
        ))
        .expect("manifest"),
    )
    .expect("json");
    let operation = manifest["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .find(|o| o["name"] == "CategoryPage")
        .expect("CategoryPage")
        .clone();
    let id = operation["id"].as_str().expect("id");
    let get = |extra: Vec<(&'static str, String)>| {
        let mut params = vec![("variables", json!({"handle": "men"}).to_string())];
        params.extend(extra);
        app.client.get(app.url("/graphql")).query(&params).send()
    };
    let response = get(vec![("documentId", id.to_owned())])
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let etag = response.headers()["etag"].clone();
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["category"]["products"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(24)
    );

    // The same operation by its APQ hash, then revalidated with the ETag.
    let by_hash = get(vec![("extensions", apq(id).to_string())])
        .await
        .expect("request");
    let hash_etag = by_hash.headers()["etag"].clone();
    let hash_body: Value = by_hash.json().await.expect("json");
    assert_eq!(hash_body, body, "the same answer by id and by hash");
    assert_eq!(hash_etag, etag);
    let revalidated = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("documentId", id.to_owned()),
            ("variables", json!({"handle": "men"}).to_string()),
        ])
        .header("if-none-match", etag.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(revalidated.status(), 304);
    assert!(revalidated.bytes().await.expect("body").is_empty());

    // The manifest's text itself is accepted too.
    let (status, _, by_text) = post_json(
        &app,
        json!({"query": operation["body"], "variables": {"handle": "men"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_text, body);
}

#[tokio::test]
async fn customer_bound_requests_are_never_cacheable() {
    let mut config = crate::support::test_config();
    config.set("identity", "auto_confirm", true);
    let app = crate::support::spawn_app_with(config).await;
    let credentials = json!({"email": "ada@example.com", "password": "correct horse 9"});
    app.data(
        "mutation($email: String!, $password: String!) {
            customerSignUp(input: {email: $email, password: $password}) { userErrors { code } } }",
        credentials.clone(),
    )
    .await;
    let session = app.data(crate::customer::SIGN_IN, credentials).await;
    let token = session["customerSignIn"]["accessToken"]
        .as_str()
        .expect("signed in");
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ products(first: 1) { nodes { handle } } }")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let personal = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ products(first: 1) { nodes { handle } } }")])
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(personal.status(), 200);
    assert_eq!(personal.headers()["cache-control"], "private, no-store");
    let (_, headers, _) = post_json(&app, json!({"query": "{ nope }"})).await;
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn alias_bombs_wide_roots_and_token_floods_are_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let aliases: String = (0..40).map(|i| format!("a{i}: __typename ")).collect();
    let roots: String = (0..25)
        .map(|i| format!("c{i}: categories(first: 1) {{ nodes {{ handle }} }} "))
        .collect();
    let flood = format!("{{ {} }}", "__typename ".repeat(6_000));
    let fragment_bomb = format!(
        "{{ {} }} fragment F on QueryRoot {{ x1: __typename x2: __typename }}",
        "...F ".repeat(20)
    );
    for (query, code) in [
        (format!("{{ {aliases} }}"), "QUERY_TOO_MANY_ALIASES"),
        (fragment_bomb, "QUERY_TOO_MANY_ALIASES"),
        (format!("query {{ {roots} }}"), "QUERY_TOO_MANY_ROOT_FIELDS"),
        (flood, "QUERY_TOO_MANY_TOKENS"),
    ] {
        let (status, body) = app.post(&query, json!({})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], code);
    }
    let wide: String = (0..25).map(|_| "__typename ").collect();
    let (status, body) = app.post(&format!("{{ {wide} }}"), json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "QUERY_TOO_MANY_ROOT_FIELDS"
    );
    app.data(QUERY, json!({})).await;
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let mut config = test_config();
    config.set("catalog", "seed_demo", false);
    config.set("location", "seed_demo", false);
    config.limits.introspection = Some(false);
    let app = spawn_app_with(config).await;
    for query in [
        "{ __schema { types { name } } }",
        "{ ...I } fragment I on QueryRoot { __type(name: \"Product\") { name } }",
    ] {
        let (status, body) = app.post(query, json!({})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "INTROSPECTION_DISABLED"
        );
    }
    app.data("{ __typename }", json!({})).await;
}

#[test]
fn the_committed_manifests_validate_against_the_schema_and_bad_ones_do_not() {
    let binary = env!("CARGO_BIN_EXE_storefront-gateway");
    let ok = std::process::Command::new(binary)
        .args([
            "validate-manifest",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/schema/persisted/storefront-mobile.json"
            ),
        ])
        .output()
        .expect("runs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = tempfile::tempdir().expect("dir");
    let body = "query Broken { product(handle: \"x\") { nope } }";
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
            {"id": document_hash(body), "name": "Broken", "type": "query", "body": body}
        ]})
        .to_string(),
    )
    .expect("write");
    let output = std::process::Command::new(binary)
        .args(["validate-manifest"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Broken") && stderr.contains("nope"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_replicas_answers_429_and_recovers() {
    let replica = replicas_sharing_redis();
    let config = || {
        let mut config = replica();
        config.rate_limit.budget = 30;
        config.rate_limit.window_seconds = 2;
        config.rate_limit.api_keys = ["mobile", "web"]
            .map(|name| ApiKeyConfig {
                name: name.into(),
                sha256: document_hash(&format!("{name}-secret")),
                budget: None,
                admin: false,
            })
            .to_vec();
        config
    };
    let a = spawn_app_with(config()).await;
    let b = spawn_app_with(config()).await;
    let query = json!({"query": "{ products(first: 10) { nodes { handle } } }"});
    let send = |app: &TestApp, key: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("x-api-key", format!("{key}-secret"))
            .json(&query)
            .send()
    };
    assert_eq!(send(&a, "mobile").await.expect("request").status(), 200);
    let refused = send(&b, "mobile").await.expect("request");
    assert_eq!(refused.status(), 429, "the budget spent on A counts on B");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(body["errors"][0].get("locations").is_none(), "{body}");
    assert!(body.get("data").is_none_or(Value::is_null));
    assert_eq!(
        send(&b, "web").await.expect("request").status(),
        200,
        "other clients are not limited"
    );

    // Retries until the budget comes back (the 429 said when: `retry`).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(retry + 3);
    while send(&a, "mobile").await.expect("request").status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the budget never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_persisted_mutation_is_refused_over_get_like_its_text() {
    let app = spawn_app().await;
    let mutation = "mutation SignOut { customerSignOut { signedOut } }";
    let hash = document_hash(mutation);
    // Registered through POST, where it runs (signing nobody out).
    let (status, _, ran) =
        post_json(&app, json!({"query": mutation, "extensions": apq(&hash)})).await;
    assert_eq!(status, 200, "{ran}");
    for params in [
        vec![("extensions", apq(&hash).to_string())],
        vec![("query", mutation.to_owned())],
    ] {
        let response = app
            .client
            .get(app.url("/graphql"))
            .query(&params)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 405, "{params:?}");
        assert_eq!(response.headers()["allow"], "POST");
    }
}

#[tokio::test]
async fn documents_that_fail_validation_or_limits_are_never_registered() {
    let app = spawn_app().await;
    let deep = format!(
        "{{ products(first: 1) {{ nodes {{ {} handle {} }} }} }}",
        "variants(first: 1) { nodes { product { ".repeat(8),
        "} } }".repeat(8)
    );
    for document in [
        "{ nope }",
        "{ products(first: 1) { nodes { id }",
        deep.as_str(),
    ] {
        let hash = document_hash(document);
        let (status, _, refused) =
            post_json(&app, json!({"query": document, "extensions": apq(&hash)})).await;
        assert_eq!(status, 400, "{refused}");
        let (_, _, lookup) = post_json(&app, json!({"extensions": apq(&hash)})).await;
        assert_eq!(
            lookup["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
            "{document}: {lookup}"
        );
    }
}

#[tokio::test]
async fn registrations_expire_unless_used_and_each_client_registers_a_bounded_number() {
    let redis = local_aws().redis_url;
    let namespace = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let mut config = test_config();
    config.cache.redis_url = Some(redis.clone());
    config.cache.namespace = namespace.clone();
    config.persisted.apq_ttl_seconds = 600;
    config.persisted.registrations_per_hour = 3;
    let app = spawn_app_with(config).await;
    let mut found = vec![];
    for i in 0..5 {
        let document = format!("{{ a{i}: __typename }}");
        let hash = document_hash(&document);
        let (status, _, ran) =
            post_json(&app, json!({"query": document, "extensions": apq(&hash)})).await;
        assert_eq!(status, 200, "every document runs: {ran}");
        let (_, _, lookup) = post_json(&app, json!({"extensions": apq(&hash)})).await;
        found.push(lookup.get("errors").is_none());
    }
    assert_eq!(
        found,
        [true, true, true, false, false],
        "3 registrations an hour"
    );

    // The registered documents live in Redis with a time to live, not forever.
    let ttl = std::process::Command::new("redis-cli")
        .args(["-u", &redis, "TTL"])
        .arg(format!(
            "{namespace}apq:{}",
            document_hash("{ a0: __typename }")
        ))
        .output()
        .expect("redis-cli runs");
    let seconds: i64 = String::from_utf8_lossy(&ttl.stdout)
        .trim()
        .parse()
        .expect("a number");
    assert!((1..=600).contains(&seconds), "TTL {seconds}");
}
