//! Feeds over TLS and SASL, as Amazon MSK serves them: SCRAM-SHA-512 and MSK IAM tokens,
//! through the stand-in for MSK's listeners (`msk_front`); wrong credentials get nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_credential_types::Credentials;
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use serde_json::{Value, json};
use storefront_gateway::config::{Config, KafkaSasl, KafkaSecurity};
use storefront_gateway::feeds::msk_iam::MskIamSigner;

use crate::feeds::{
    applied, catalog, consuming, create_topics, levels, produce_with, until, until_levels,
    until_not_ready,
};
use crate::msk_front::{MskFront, Sasl};
use crate::support::{free_port, gateway_command, spawn_app_with, test_config};

const USER: &str = "gateway";
const PASSWORD: &str = "feeds-password";

/// The SCRAM user the front knows.
fn scram_user() -> Sasl {
    Sasl::Scram {
        user: USER.into(),
        password: PASSWORD.into(),
    }
}

/// A client of the front with SCRAM-SHA-512 over TLS.
fn scram(front: &MskFront, password: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &front.brokers)
        .set("security.protocol", "sasl_ssl")
        .set("ssl.ca.location", front.ca.display().to_string())
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", USER)
        .set("sasl.password", password);
    client
}

/// A gateway config that consumes `topic` through the front with SCRAM and `password`.
fn scram_consumer(
    front: &MskFront,
    topic: &str,
    dead: &str,
    group: &str,
    password: &str,
) -> Config {
    let mut config = consuming(test_config(), topic, dead, group);
    let kafka = &mut config.feeds.kafka;
    kafka.brokers = front.brokers.clone();
    kafka.security_protocol = KafkaSecurity::SaslSsl;
    kafka.sasl_mechanism = KafkaSasl::ScramSha512;
    kafka.sasl_username = Some(USER.into());
    kafka.sasl_password = Some(password.into());
    kafka.ca_location = Some(front.ca.clone());
    config
}

#[tokio::test]
async fn feeds_apply_over_tls_with_scram_and_a_wrong_password_gets_nothing() {
    let front = MskFront::start(vec![scram_user()]).await;
    let admin: AdminClient<_> = scram(&front, PASSWORD).create().expect("admin client");
    let (topic, dead) = create_topics(&admin, 2).await;
    let app = spawn_app_with(scram_consumer(
        &front,
        &topic,
        &dead,
        "scram-group",
        PASSWORD,
    ))
    .await;
    let (catalog, skus) = catalog("SCR", 4);
    assert!(app.import("catalog", &catalog).await.failures.is_empty());
    let (records, last) = levels(&skus, 5);
    produce_with(scram(&front, PASSWORD), &topic, &records).await;
    until_levels(&app.app.table, &last).await;
    assert!(
        front.accepted("SCRAM-SHA-512") >= 3,
        "the admin client, the producer and the consumer authenticated"
    );

    let refused = front.refused.load(Ordering::SeqCst);
    let intruder = spawn_app_with(scram_consumer(
        &front,
        &topic,
        &dead,
        "scram-intruder",
        "guessed",
    ))
    .await;
    until_not_ready(
        &intruder,
        "the Kafka brokers refused the credentials (TLS or SASL)",
    )
    .await;
    assert!(front.refused.load(Ordering::SeqCst) > refused);
    assert_eq!(applied(&intruder, "applied"), 0.0, "nothing reached it");
}

#[tokio::test]
async fn the_gateway_publishes_and_consumes_with_msk_iam_tokens_from_its_credential_chain() {
    let (access_key, secret, region) = ("AKIDFEEDSTEST", "feeds-iam-secret", "eu-west-1");
    // The topics are made by an operator with SCRAM (MSK enables both side by side; rdkafka's
    // admin client does not poll for OAUTHBEARER tokens).
    let front = MskFront::start(vec![
        Sasl::MskIam {
            access_key: access_key.into(),
            secret: secret.into(),
            region: region.into(),
        },
        scram_user(),
    ])
    .await;
    let admin: AdminClient<_> = scram(&front, PASSWORD).create().expect("admin client");
    let (topic, dead) = create_topics(&admin, 2).await;

    // Two processes with the key pair in their environment, as a task role's would be: a
    // gateway consuming (on the demo catalog) and `feed publish`.
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config_file = dir.path().join("gateway.toml");
    std::fs::write(
        &config_file,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{data}\"\n[feeds.kafka]\nenabled = true\n\
             brokers = \"{brokers}\"\ngroup_id = \"iam-{topic}\"\ndead_letter_topic = \"{dead}\"\n\
             security_protocol = \"sasl_ssl\"\nsasl_mechanism = \"aws-msk-iam\"\n\
             aws_region = \"{region}\"\nca_location = \"{ca}\"\n[feeds.kafka.topics]\n\
             inventory = \"{topic}\"\n",
            data = dir.path().display(),
            brokers = front.brokers,
            ca = front.ca.display(),
        ),
    )
    .expect("config written");
    let gateway = || {
        let mut command = gateway_command();
        command
            .arg("--config")
            .arg(&config_file)
            .env("AWS_ACCESS_KEY_ID", access_key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE");
        command
    };
    let _serve = KillOnDrop(
        gateway()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the gateway starts"),
    );
    let client = reqwest::Client::new();
    let graphql = format!("http://127.0.0.1:{port}/graphql");
    let variants = || async {
        let response = client
            .post(&graphql)
            .json(&json!({"query": "{ products(first: 1) { nodes { variants(first: 3) { nodes { sku quantityAvailable } } } } }"}))
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body["data"]["products"]["nodes"][0]["variants"]["nodes"]
            .as_array()
            .cloned()
    };
    let started = std::time::Instant::now();
    let found = loop {
        if let Some(found) = variants().await {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gateway did not answer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let skus: Vec<String> = found
        .iter()
        .map(|v| v["sku"].as_str().expect("sku").to_owned())
        .collect();
    let lines: Vec<String> = skus
        .iter()
        .enumerate()
        .map(|(i, sku)| json!({"sku": sku, "quantity": 40 + i, "version": 1}).to_string())
        .collect();
    let file = dir.path().join("levels.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("feed written");
    let mut publish = gateway();
    publish.args(["feed", "publish", "inventory"]).arg(&file);
    // Off the test's runtime, which serves the front meanwhile.
    let published = tokio::task::spawn_blocking(move || publish.output())
        .await
        .expect("joined")
        .expect("feed publish runs");
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );

    let expected: Vec<Value> = skus
        .iter()
        .enumerate()
        .map(|(i, sku)| json!({"sku": sku, "quantityAvailable": 40 + i}))
        .collect();
    until("the consumer applied the levels", || async {
        variants().await.as_ref() == Some(&expected)
    })
    .await;
    assert_eq!(front.refused.load(Ordering::SeqCst), 0);
    assert!(
        front.accepted("OAUTHBEARER") >= 2,
        "the publisher and the consumer authenticated with tokens"
    );
    // The front checked a token the gateway signed within its lifetime; one past it is refused.
    let stale = MskIamSigner::with_credentials(
        region,
        Credentials::new(access_key, secret, None, None, "test"),
    )
    .token_at(std::time::SystemTime::now() - Duration::from_secs(901))
    .expect("signed");
    assert_eq!(
        crate::msk_front::verify_token(&stale.value, access_key, secret, region),
        Err("the token is expired or not yet valid".into())
    );
}

/// A child process killed when the test ends, pass or fail.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
