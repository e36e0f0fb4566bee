//! Customer identity on Cognito (moto): the whole account flow through the gateway, with an
//! app client that has a secret (so every call carries a SECRET_HASH).

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ExplicitAuthFlowsType};
use serde_json::json;

use crate::customer::{
    CONFIRM, ME, PASSWORD_RESET, PASSWORD_RESET_REQUEST, REFRESH, SIGN_IN, SIGN_OUT, SIGN_UP,
};
use crate::support::{TestApp, local_aws, spawn_app_with, test_config};

const PASSWORD: &str = "Correct-horse-9";

fn cognito_client() -> Client {
    let config = aws_sdk_cognitoidentityprovider::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(local_aws().moto_url)
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .build();
    Client::from_conf(config)
}

struct Pool {
    id: String,
    client_id: String,
    client_secret: String,
}

/// A new user pool with an app client that has a secret and allows password sign-in.
async fn fresh_pool(cognito: &Client) -> Pool {
    let pool = cognito
        .create_user_pool()
        .pool_name(format!("shop-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .expect("pool");
    let id = pool
        .user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_owned();
    let client = cognito
        .create_user_pool_client()
        .user_pool_id(&id)
        .client_name("storefront")
        .generate_secret(true)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .expect("app client");
    let client = client.user_pool_client().expect("client");
    Pool {
        id,
        client_id: client.client_id().expect("client id").to_owned(),
        client_secret: client.client_secret().expect("secret").to_owned(),
    }
}

async fn spawn_cognito_app(pool: &Pool) -> TestApp {
    let moto = local_aws().moto_url;
    let mut config = test_config();
    config.set("identity", "engine", "cognito");
    config.set("identity", "cognito.region", "us-east-1");
    config.set("identity", "cognito.user_pool_id", pool.id.clone());
    config.set("identity", "cognito.client_id", pool.client_id.clone());
    config.set(
        "identity",
        "cognito.client_secret",
        pool.client_secret.clone(),
    );
    config.set("identity", "cognito.endpoint_url", moto.clone());
    // moto's tokens name the real AWS issuer (the default) but publish keys at its own URL.
    config.set(
        "identity",
        "jwks_url",
        format!("{moto}/{}/.well-known/jwks.json", pool.id),
    );
    spawn_app_with(config).await
}

/// Signs up through the gateway and confirms (moto accepts any code).
async fn confirmed_account(app: &TestApp, email: &str) {
    let data = app
        .data(
            SIGN_UP,
            json!({"input": {"email": email, "password": PASSWORD}}),
        )
        .await;
    assert_eq!(data["customerSignUp"]["userErrors"], json!([]));
    let data = app
        .data(CONFIRM, json!({"email": email, "code": "123456"}))
        .await;
    assert_eq!(data["customerConfirmSignUp"]["confirmed"], true);
}

#[tokio::test]
async fn sign_up_confirm_sign_in_read_refresh_and_sign_out_on_cognito() {
    let cognito = cognito_client();
    let pool = fresh_pool(&cognito).await;
    let app = spawn_cognito_app(&pool).await;

    let data = app
        .data(
            SIGN_UP,
            json!({"input": {"email": "ada@example.com", "password": PASSWORD,
                "firstName": "Ada", "lastName": "Lovelace"}}),
        )
        .await;
    assert_eq!(
        data,
        json!({"customerSignUp": {
            "customer": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
                "acceptsMarketing": false},
            "confirmationRequired": true,
            "userErrors": []
        }})
    );
    let again = app
        .data(
            SIGN_UP,
            json!({"input": {"email": "ada@example.com", "password": PASSWORD}}),
        )
        .await;
    // Answered as a new account would be: sign-up tells nobody which emails have accounts.
    assert_eq!(again["customerSignUp"]["userErrors"], json!([]));
    assert_eq!(again["customerSignUp"]["confirmationRequired"], true);
    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        data["customerSignIn"]["userErrors"][0]["code"],
        "CUSTOMER_NOT_CONFIRMED"
    );
    // moto accepts any confirmation code (real Cognito mails one).
    let data = app
        .data(
            CONFIRM,
            json!({"email": "ada@example.com", "code": "123456"}),
        )
        .await;
    assert_eq!(
        data,
        json!({"customerConfirmSignUp": {"confirmed": true, "userErrors": []}})
    );
    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": "Wrong-horse-9"}),
        )
        .await;
    assert_eq!(
        data["customerSignIn"]["userErrors"][0]["code"],
        "UNIDENTIFIED_CUSTOMER"
    );
    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    let session = &data["customerSignIn"];
    assert_eq!(session["userErrors"], json!([]));
    assert_eq!(session["customer"]["email"], "ada@example.com");
    let token = session["accessToken"].as_str().expect("token");

    let (status, _, body) = app.post_as(token, ME, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["customer"]["email"], "ada@example.com");
    assert_eq!(body["data"]["customer"]["displayName"], "Ada Lovelace");

    let refresh = session["refreshToken"].as_str().expect("refresh token");
    let data = app.data(REFRESH, json!({"token": refresh})).await;
    let renewed = &data["customerTokenRefresh"];
    assert_eq!(renewed["userErrors"], json!([]), "{data}");
    assert_eq!(renewed["refreshToken"], refresh);
    let (status, _, _) = app
        .post_as(
            renewed["accessToken"].as_str().expect("token"),
            ME,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    let (status, _, body) = app.post_as(token, SIGN_OUT, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"customerSignOut": {"signedOut": true, "userErrors": []}})
    );
    let data = app.data(REFRESH, json!({"token": refresh})).await;
    assert_eq!(
        data["customerTokenRefresh"]["userErrors"][0]["code"],
        "INVALID_REFRESH_TOKEN"
    );
}

#[tokio::test]
async fn a_password_reset_through_cognito_replaces_the_password() {
    let cognito = cognito_client();
    let pool = fresh_pool(&cognito).await;
    let app = spawn_cognito_app(&pool).await;
    confirmed_account(&app, "ada@example.com").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        let data = app.data(PASSWORD_RESET_REQUEST, json!({"e": email})).await;
        assert_eq!(
            data,
            json!({"customerPasswordResetRequest": {"accepted": true, "userErrors": []}}),
            "{email}"
        );
    }
    // moto accepts any code that is not one of its own `moto-confirmation-code:` ones.
    let data = app
        .data(
            PASSWORD_RESET,
            json!({"e": "ada@example.com", "c": "123456", "p": "Battery-staple-7"}),
        )
        .await;
    assert_eq!(
        data,
        json!({"customerPasswordReset": {"accepted": true, "userErrors": []}})
    );
    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": "Battery-staple-7"}),
        )
        .await;
    assert_eq!(data["customerSignIn"]["userErrors"], json!([]));
    let data = app
        .data(
            SIGN_IN,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        data["customerSignIn"]["userErrors"][0]["code"],
        "UNIDENTIFIED_CUSTOMER"
    );
}

#[tokio::test]
async fn cognito_id_tokens_and_other_pools_tokens_are_unauthenticated() {
    let cognito = cognito_client();
    let pool = fresh_pool(&cognito).await;
    let app = spawn_cognito_app(&pool).await;
    confirmed_account(&app, "ada@example.com").await;
    // Straight from Cognito, bypassing the gateway: an ID token, which is not for API calls.
    let auth = cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(&pool.client_id)
        .auth_parameters("USERNAME", "ada@example.com")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .expect("auth");
    let result = auth.authentication_result().expect("tokens");
    let id_token = result.id_token().expect("id token");
    let (status, _, body) = app.post_as(id_token, ME, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(
        app.post_as(result.access_token().expect("access"), ME, json!({}))
            .await
            .0,
        200
    );

    // An access token of another pool: moto signs with the same key, so only `iss` tells.
    let other = fresh_pool(&cognito).await;
    let other_app = spawn_cognito_app(&other).await;
    confirmed_account(&other_app, "bob@example.com").await;
    let data = other_app
        .data(
            SIGN_IN,
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    let foreign = data["customerSignIn"]["accessToken"]
        .as_str()
        .expect("token");
    let (status, _, body) = app.post_as(foreign, ME, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}
