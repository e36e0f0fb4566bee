//! Customer identity on the embedded provider: the whole account flow, token verification,
//! isolation between customers, and the brute-force throttle.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use storefront_gateway::config::Config;
use storefront_loaders::identity::CodePurpose;
use storefront_loaders::identity::SigningKey;

use std::sync::Arc;

use crate::support::replicas_sharing_redis;
use crate::support::{TestApp, spawn_app, spawn_app_with, spawn_with_store, test_config};

pub const SIGN_UP: &str = "mutation($input: CustomerSignUpInput!) {
  customerSignUp(input: $input) {
    customer { email firstName lastName acceptsMarketing }
    confirmationRequired
    userErrors { field message code }
  }
}";
pub const CONFIRM: &str = "mutation($email: String!, $code: String!) {
  customerConfirmSignUp(email: $email, code: $code) { confirmed userErrors { field code } }
}";
pub const SIGN_IN: &str = "mutation($email: String!, $password: String!) {
  customerSignIn(email: $email, password: $password) {
    accessToken refreshToken expiresAt
    customer { id email firstName }
    userErrors { field message code }
  }
}";
pub const REFRESH: &str = "mutation($token: String!) {
  customerTokenRefresh(refreshToken: $token) {
    accessToken refreshToken expiresAt customer { id email } userErrors { field code }
  }
}";
pub const SIGN_OUT: &str = "mutation { customerSignOut { signedOut userErrors { code } } }";
pub const PASSWORD_RESET_REQUEST: &str = "mutation($e: String!) {
  customerPasswordResetRequest(email: $e) { accepted userErrors { code } }
}";
pub const PASSWORD_RESET: &str = "mutation($e: String!, $c: String!, $p: String!) {
  customerPasswordReset(email: $e, code: $c, newPassword: $p) { accepted userErrors { field code } }
}";
pub const ME: &str = "{ customer { id email firstName lastName displayName acceptsMarketing
  addresses { address1 city countryCode } } }";

pub const PASSWORD: &str = "correct horse 9";

/// A gateway whose signing key the test holds, so it can forge tokens with it.
async fn app_with_key(
    change: impl FnOnce(&mut Config),
) -> (TestApp, SigningKey, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (key, pem) = SigningKey::generate().expect("key");
    let path = dir.path().join("signing-key.pem");
    std::fs::write(&path, pem).expect("key file");
    let mut config = test_config();
    config.set("identity", "key_file", path.display().to_string());
    change(&mut config);
    (spawn_app_with(config).await, key, dir)
}

/// Signs up, confirms with the mailed code and signs in; returns the sign-in payload.
pub async fn signed_in(app: &TestApp, email: &str, first_name: &str) -> Value {
    let data = app
        .data(
            SIGN_UP,
            json!({"input": {"email": email, "password": PASSWORD, "firstName": first_name}}),
        )
        .await;
    assert_eq!(data["customerSignUp"]["userErrors"], json!([]));
    let code = app.outbox.code(email, CodePurpose::ConfirmSignUp).await;
    let data = app
        .data(CONFIRM, json!({"email": email, "code": code}))
        .await;
    assert_eq!(data["customerConfirmSignUp"]["confirmed"], true);
    let data = app
        .data(SIGN_IN, json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(data["customerSignIn"]["userErrors"], json!([]), "{data:#}");
    data["customerSignIn"].clone()
}

fn token_of(session: &Value) -> String {
    session["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned()
}

#[tokio::test]
async fn sign_up_confirm_sign_in_read_refresh_and_sign_out() {
    let app = spawn_app_with(test_config()).await;
    let (_, body) = app.post(ME, json!({})).await;
    assert_eq!(
        body,
        json!({"data": {"customer": null}}),
        "anonymous: no customer"
    );

    let data = app
        .data(
            SIGN_UP,
            json!({"input": {"email": " Ada@Example.com", "password": PASSWORD,
                "firstName": "Ada", "lastName": "Lovelace", "acceptsMarketing": true}}),
        )
        .await;
    assert_eq!(
        data,
        json!({"customerSignUp": {
            "customer": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
                "acceptsMarketing": true},
            "confirmationRequired": true,
            "userErrors": []
        }})
    );
    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        data["customerSignIn"]["userErrors"],
        json!([{"field": ["email"], "code": "CUSTOMER_NOT_CONFIRMED",
            "message": "the account is not confirmed: enter the code sent to your email"}])
    );
    let code = app
        .outbox
        .code("ada@example.com", CodePurpose::ConfirmSignUp)
        .await;
    let data = app
        .data(CONFIRM, json!({"email": "ada@example.com", "code": code}))
        .await;
    assert_eq!(
        data,
        json!({"customerConfirmSignUp": {"confirmed": true, "userErrors": []}})
    );

    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ADA@example.com", "password": PASSWORD}),
        )
        .await;
    let session = &data["customerSignIn"];
    assert_eq!(session["customer"]["email"], "ada@example.com");
    assert_eq!(session["customer"]["firstName"], "Ada");
    let token = token_of(session);

    let (status, headers, body) = app.post_as(&token, ME, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "private, no-store");
    assert_eq!(
        body["data"]["customer"],
        json!({"id": session["customer"]["id"], "email": "ada@example.com", "firstName": "Ada",
            "lastName": "Lovelace", "displayName": "Ada Lovelace", "acceptsMarketing": true,
            "addresses": []})
    );

    let refresh = session["refreshToken"].as_str().expect("refresh token");
    let data = app.data(REFRESH, json!({"token": refresh})).await;
    let renewed = &data["customerTokenRefresh"];
    assert_eq!(renewed["userErrors"], json!([]));
    assert_eq!(renewed["customer"]["email"], "ada@example.com");
    let renewed_token = token_of(renewed);
    let (_, _, body) = app.post_as(&renewed_token, ME, json!({})).await;
    assert_eq!(body["data"]["customer"]["email"], "ada@example.com");

    let (status, _, body) = app.post_as(&token, SIGN_OUT, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"customerSignOut": {"signedOut": true, "userErrors": []}})
    );
    let data = app.data(REFRESH, json!({"token": refresh})).await;
    assert_eq!(
        data["customerTokenRefresh"],
        json!({"accessToken": null, "refreshToken": null, "expiresAt": null, "customer": null,
            "userErrors": [{"field": ["refreshToken"], "code": "INVALID_REFRESH_TOKEN"}]})
    );

    let metrics = &app.app.metrics;
    for (operation, outcome, count) in [
        ("sign_up", "ok", 1),
        ("sign_in", "rejected", 1),
        ("sign_in", "ok", 1),
        ("confirm_sign_up", "ok", 1),
        ("token_refresh", "ok", 1),
        ("token_refresh", "rejected", 1),
        ("sign_out", "ok", 1),
    ] {
        assert_eq!(
            metrics.sample(
                "storefront_identity_operations_total",
                &[("operation", operation), ("outcome", outcome)]
            ) as u64,
            count,
            "{operation} {outcome}"
        );
    }
    let exposition = app.metrics_text().await;
    assert!(
        exposition.contains(
            "storefront_identity_operations_total{operation=\"sign_in\",outcome=\"ok\"} 1"
        ),
        "{exposition}"
    );
}

#[tokio::test]
async fn bad_sign_up_input_is_reported_field_by_field() {
    let app = spawn_app_with(test_config()).await;
    let data = app
        .data(
            SIGN_UP,
            json!({"input": {"email": "not-an-email", "password": "", "firstName": "x".repeat(101)}}),
        )
        .await;
    let errors: Vec<(Value, Value)> = data["customerSignUp"]["userErrors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["field"].clone(), e["code"].clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (json!(["input", "email"]), json!("INVALID")),
            (json!(["input", "password"]), json!("BLANK")),
            (json!(["input", "firstName"]), json!("TOO_LONG")),
        ]
    );
    let weak = app
        .data(
            SIGN_UP,
            json!({"input": {"email": "a@example.com", "password": "password"}}),
        )
        .await;
    assert_eq!(
        weak["customerSignUp"]["userErrors"][0]["code"],
        "PASSWORD_TOO_WEAK"
    );
}

#[tokio::test]
async fn customer_only_mutations_refuse_anonymous_requests() {
    let app = spawn_app_with(test_config()).await;
    for mutation in [
        SIGN_OUT,
        "mutation { customerUpdate(customer: {firstName: \"X\"}) { customer { id } } }",
    ] {
        assert_eq!(
            app.error_codes(mutation, json!({})).await,
            ["UNAUTHENTICATED"]
        );
    }
}

#[tokio::test]
async fn invalid_tokens_are_refused_with_unauthenticated_never_served_anonymously() {
    let (app, key, _dir) = app_with_key(|_| {}).await;
    let session = signed_in(&app, "ada@example.com", "Ada").await;
    let valid = token_of(&session);
    let (status, _, body) = app.post_as(&valid, ME, json!({})).await;
    assert_eq!(
        (status, &body["data"]["customer"]["email"]),
        (200, &json!("ada@example.com"))
    );

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&valid).expect("claims");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        c
    };
    let segment = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(key.kid().to_owned());
    let public_key = serde_json::to_vec(key.jwks()).expect("jwks");
    let other_key = SigningKey::generate().expect("key").0;

    let forged: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                segment(&json!({"alg": "none", "typ": "JWT", "kid": key.kid()})),
                segment(&claims)
            ),
        ),
        (
            "HS256 keyed with the public key",
            jsonwebtoken::encode(&hs256, &claims, &EncodingKey::from_secret(&public_key))
                .expect("hs256"),
        ),
        ("unknown kid", other_key.sign(&claims).expect("signed")),
        (
            "wrong issuer",
            key.sign(&with(&|c| c["iss"] = json!("https://evil.example")))
                .expect("signed"),
        ),
        (
            "wrong audience",
            key.sign(&with(&|c| c["client_id"] = json!("another-app")))
                .expect("signed"),
        ),
        (
            "id token",
            key.sign(&with(&|c| c["token_use"] = json!("id")))
                .expect("signed"),
        ),
        (
            "expired",
            key.sign(&with(&|c| c["exp"] = json!(now - 3600)))
                .expect("signed"),
        ),
        ("tampered", format!("{}x", &valid[..valid.len() - 1])),
        ("garbage", "not.a.token".into()),
    ];
    for (name, token) in forged {
        let (status, headers, body) = app.post_as(&token, ME, json!({})).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{name}"
        );
        assert!(body.get("data").is_none(), "{name}: nothing is executed");
        assert_eq!(
            headers["www-authenticate"], "Bearer error=\"invalid_token\"",
            "{name}"
        );
    }
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("authorization", format!("Basic {valid}"))
        .json(&json!({"query": ME}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401, "only the Bearer scheme");
    assert_eq!(
        app.app
            .metrics
            .sample("storefront_token_checks_total", &[("result", "invalid")]) as u64,
        10
    );
    assert!(
        app.app
            .metrics
            .sample("storefront_token_checks_total", &[("result", "valid")]) as u64
            >= 1
    );
}

#[tokio::test]
async fn the_jwks_endpoint_publishes_the_key_tokens_are_signed_with() {
    let (app, key, _dir) = app_with_key(|_| {}).await;
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.expect("json");
    assert_eq!(jwks, serde_json::to_value(key.jwks()).expect("jwks"));
    let session = signed_in(&app, "ada@example.com", "Ada").await;
    let header = jsonwebtoken::decode_header(token_of(&session)).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
}

#[tokio::test]
async fn one_customer_cannot_read_or_change_anothers_data() {
    let app = spawn_app_with(test_config()).await;
    let ada = signed_in(&app, "ada@example.com", "Ada").await;
    let bob = signed_in(&app, "bob@example.com", "Bob").await;
    let ada_id = ada["customer"]["id"].clone();
    let lookup = "query($id: ID!) { node(id: $id) { ... on Customer { email firstName } } }";

    let (_, _, body) = app
        .post_as(&token_of(&ada), lookup, json!({"id": ada_id}))
        .await;
    assert_eq!(
        body,
        json!({"data": {"node": {"email": "ada@example.com", "firstName": "Ada"}}}),
        "a customer's own ID resolves for them"
    );
    let (_, _, body) = app
        .post_as(&token_of(&bob), lookup, json!({"id": ada_id}))
        .await;
    assert_eq!(
        body,
        json!({"data": {"node": null}}),
        "as if Ada did not exist"
    );
    let (_, body) = app.post(lookup, json!({"id": ada_id})).await;
    assert_eq!(
        body,
        json!({"data": {"node": null}}),
        "nor for anonymous requests"
    );

    let update = "mutation($c: CustomerUpdateInput!) { customerUpdate(customer: $c) {
        customer { id firstName addresses { city countryCode } } userErrors { field code } } }";
    let (_, _, body) = app
        .post_as(
            &token_of(&bob),
            update,
            json!({"c": {"firstName": "Robert", "addresses": [
                {"address1": "1 Main St", "city": "Springfield", "countryCode": "us"}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["customerUpdate"],
        json!({"customer": {"id": bob["customer"]["id"], "firstName": "Robert",
            "addresses": [{"city": "Springfield", "countryCode": "US"}]}, "userErrors": []}),
        "an update changes the signed-in customer"
    );
    let (_, _, body) = app.post_as(&token_of(&ada), ME, json!({})).await;
    assert_eq!(body["data"]["customer"]["firstName"], "Ada");
    assert_eq!(body["data"]["customer"]["addresses"], json!([]));
}

#[tokio::test]
async fn failed_sign_ins_trip_the_throttle_which_recovers_after_its_window() {
    let window = 4;
    let app = spawn_app_with({
        let mut config = test_config();
        config.set("identity", "max_failed_attempts", 3);
        config.set(
            "identity",
            "failed_attempts_window_seconds",
            i64::try_from(window).expect("small"),
        );
        config
    })
    .await;
    signed_in(&app, "ada@example.com", "Ada").await;
    for _ in 0..3 {
        let data = app
            .data(
                SIGN_IN,
                json!({"email": "ada@example.com", "password": "wrong horse 9"}),
            )
            .await;
        assert_eq!(
            data["customerSignIn"]["userErrors"][0]["code"],
            "UNIDENTIFIED_CUSTOMER"
        );
    }
    let attempt = json!({"query": SIGN_IN,
        "variables": {"email": "ada@example.com", "password": PASSWORD}});
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&attempt)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429, "even the right password waits");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=window).contains(&retry_after));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_ATTEMPTS");
    assert_eq!(
        body["errors"][0]["extensions"]["retryAfter"],
        json!(retry_after)
    );
    assert_eq!(body["data"]["customerSignIn"], Value::Null);
    assert_eq!(
        app.app.metrics.sample(
            "storefront_identity_operations_total",
            &[("operation", "sign_in"), ("outcome", "throttled")]
        ) as u64,
        1
    );

    // Retries until the throttle lets the right password through (it says when: retry_after).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(retry_after + 3);
    let data = loop {
        let response = app
            .client
            .post(app.url("/graphql"))
            .json(&attempt)
            .send()
            .await
            .expect("request");
        if response.status() != 429 {
            break response.json::<Value>().await.expect("json")["data"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the throttle never recovered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        data["customerSignIn"]["userErrors"],
        json!([]),
        "the throttle recovered"
    );
    assert!(data["customerSignIn"]["accessToken"].is_string());
}

#[tokio::test]
async fn a_lost_code_can_be_resent_but_codes_are_not_mailed_without_limit() {
    let mut config = test_config();
    // Long enough that the requests below never straddle two windows.
    config.set("identity", "failed_attempts_window_seconds", 3600);
    let app = spawn_app_with(config).await;
    app.data(
        SIGN_UP,
        json!({"input": {"email": "ada@example.com", "password": PASSWORD}}),
    )
    .await;
    let seen = app.outbox.mail_to("ada@example.com").len();
    let resend = "mutation($e: String!) { customerConfirmationResend(email: $e) {
        accepted userErrors { code } } }";
    let accepted = json!({"customerConfirmationResend": {"accepted": true, "userErrors": []}});
    assert_eq!(
        app.data(resend, json!({"e": "ada@example.com"})).await,
        accepted
    );
    let code = app
        .outbox
        .code_after("ada@example.com", CodePurpose::ConfirmSignUp, seen)
        .await;
    let data = app
        .data(CONFIRM, json!({"email": "ada@example.com", "code": code}))
        .await;
    assert_eq!(data["customerConfirmSignUp"]["confirmed"], true);
    // The limit is 5 codes per email and window (as for failures); the resend was the first.
    for _ in 0..4 {
        assert_eq!(
            app.data(resend, json!({"e": "ada@example.com"})).await,
            accepted
        );
    }
    let (status, body) = app.post(resend, json!({"e": "ada@example.com"})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_ATTEMPTS");
    let (status, _) = app.post(resend, json!({"e": "bob@example.com"})).await;
    assert_eq!(status, 200, "other emails are not affected");
}

#[tokio::test]
async fn replicas_share_the_throttle_through_redis() {
    let replica = replicas_sharing_redis();
    let config = || {
        let mut config = replica();
        config.set("identity", "max_failed_attempts", 2);
        // Long enough that the failures below never straddle two windows.
        config.set("identity", "failed_attempts_window_seconds", 3600);
        config
    };
    let store = storefront_gateway::app::open_store(&config())
        .await
        .expect("store");
    let a = spawn_with_store(config(), Arc::clone(&store)).await;
    let b = spawn_with_store(config(), store).await;
    signed_in(&a, "ada@example.com", "Ada").await;
    for _ in 0..2 {
        let data = a
            .data(
                SIGN_IN,
                json!({"email": "ada@example.com", "password": "wrong horse 9"}),
            )
            .await;
        assert_eq!(
            data["customerSignIn"]["userErrors"][0]["code"],
            "UNIDENTIFIED_CUSTOMER"
        );
    }
    let (status, body) = b
        .post(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        status, 429,
        "the other replica counts the same failures: {body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn a_password_reset_replaces_the_password_and_ends_sessions() {
    let app = spawn_app_with(test_config()).await;
    let session = signed_in(&app, "ada@example.com", "Ada").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        let data = app.data(PASSWORD_RESET_REQUEST, json!({"e": email})).await;
        assert_eq!(
            data,
            json!({"customerPasswordResetRequest": {"accepted": true, "userErrors": []}}),
            "the same answer whether or not the email has an account"
        );
    }
    let code = app
        .outbox
        .code("ada@example.com", CodePurpose::ResetPassword)
        .await;
    let data = app
        .data(
            PASSWORD_RESET,
            json!({"e": "ada@example.com", "c": code, "p": "battery staple 7"}),
        )
        .await;
    assert_eq!(
        data,
        json!({"customerPasswordReset": {"accepted": true, "userErrors": []}})
    );
    let data = app
        .data(REFRESH, json!({"token": session["refreshToken"]}))
        .await;
    assert_eq!(
        data["customerTokenRefresh"]["userErrors"][0]["code"],
        "INVALID_REFRESH_TOKEN"
    );
    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": "battery staple 7"}),
        )
        .await;
    assert_eq!(data["customerSignIn"]["userErrors"], json!([]));
}

#[tokio::test]
async fn the_mobile_app_signs_in_and_reads_its_account_with_manifest_operations_only() {
    let mut config = test_config();
    config.persisted.mode = storefront_gateway::config::PersistedMode::Require;
    config.set("identity", "auto_confirm", true);
    let app = spawn_app_with(config).await;
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schema/persisted/storefront-mobile.json"
        ))
        .expect("manifest"),
    )
    .expect("json");
    let id = |name: &str| {
        manifest["operations"]
            .as_array()
            .expect("operations")
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name} is in the manifest"))["id"]
            .clone()
    };
    let run = |name: &str, variables: Value, token: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({"documentId": id(name), "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let body: Value = request
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            assert!(body.get("errors").is_none(), "{body}");
            body["data"].clone()
        }
    };
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD});
    let data = run("CustomerSignUp", json!({"input": credentials}), None).await;
    assert_eq!(data["customerSignUp"]["confirmationRequired"], false);
    let data = run("CustomerSignIn", credentials, None).await;
    let token = data["customerSignIn"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let data = run("Account", json!({}), Some(token.clone())).await;
    assert_eq!(data["customer"]["email"], "ada@example.com");
    let data = run("CustomerSignOut", json!({}), Some(token)).await;
    assert_eq!(data["customerSignOut"]["signedOut"], true);
}

#[tokio::test]
async fn a_batch_reads_the_profile_its_own_mutation_wrote() {
    let app = spawn_app().await;
    let token = token_of(&signed_in(&app, "grace@example.com", "Grace").await);
    let read = json!({"query": "{ customer { firstName } }"});
    let batch = json!([
        read,
        {"query": "mutation { customerUpdate(customer: {firstName: \"Amazing\"}) { customer { firstName } } }"},
        read,
    ]);
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .expect("request");
    let answers: Value = response.json().await.expect("json");
    assert_eq!(
        answers,
        json!([
            {"data": {"customer": {"firstName": "Grace"}}},
            {"data": {"customerUpdate": {"customer": {"firstName": "Amazing"}}}},
            {"data": {"customer": {"firstName": "Amazing"}}},
        ]),
        "the read after the mutation, in the same batch and loader, sees the write"
    );
}
