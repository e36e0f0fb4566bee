//! The binary's commands: feeds, seed, export-schema, and config errors.

use std::process::Command;

use serde_json::json;
use storefront_gateway::config::{Config, StoreEngine};

use crate::support::{gateway_command, spawn_app_with};

fn gateway() -> Command {
    crate::support::gateway_command()
}

#[test]
fn export_schema_prints_the_sdl() {
    let output = gateway().arg("export-schema").output().expect("runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).expect("utf-8"),
        storefront_schema::sdl()
    );
}

#[test]
fn an_unknown_config_key_stops_the_gateway_with_its_name() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("storefront.toml"),
        "listen = \"127.0.0.1:0\"\nlisen = 1\n",
    )
    .expect("write");
    let output = gateway()
        .current_dir(dir.path())
        .arg("serve")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lisen"), "{stderr}");

    let output = gateway()
        .current_dir(dir.path())
        .args(["--config", "missing.toml", "serve"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.toml"));
}

#[test]
fn feed_publish_names_an_unknown_feed_and_a_feed_without_a_topic() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("feed.jsonl");
    std::fs::write(&file, "{\"key\": \"new-checkout\"}\n").expect("write");
    let publish = |feed: &str| {
        let output = gateway()
            .current_dir(dir.path())
            .args(["feed", "publish", feed])
            .arg(&file)
            .output()
            .expect("runs");
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let unknown = publish("prices");
    assert!(
        unknown.contains("no feed `prices` (feeds: catalog, inventory,"),
        "{unknown}"
    );
    // The default topics name no topic for the flags.
    let untopiced = publish("flags");
    assert!(
        untopiced.contains("feed `flags` has no topic (setting `feeds.kafka.topics`)"),
        "{untopiced}"
    );
}

#[test]
fn a_misspelt_storefront_variable_stops_the_gateway_with_its_name() {
    let output = gateway()
        .env("STOREFRONT_LISTNE", "127.0.0.1:0")
        .arg("serve")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown setting STOREFRONT_LISTNE"),
        "{stderr}"
    );
}

#[test]
fn search_reindex_builds_the_index_of_the_stored_catalog() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let run = |args: &[&str]| {
        let output = gateway()
            .args(["--data-dir", data_dir.to_str().expect("utf-8")])
            .args(args)
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    run(&["seed", "--products", "40"]);
    let done = run(&["search", "reindex"]);
    assert!(done.contains("search index rebuilt: 40 products"), "{done}");
    assert!(data_dir.join("search-index").join("meta.json").exists());
}

#[tokio::test]
async fn feeds_apply_good_lines_report_bad_ones_and_exit_non_zero() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let seed = gateway()
        .args([
            "--data-dir",
            data_dir.to_str().expect("utf-8"),
            "seed",
            "--products",
            "40",
        ])
        .output()
        .expect("runs");
    assert!(
        seed.status.success(),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );
    assert!(String::from_utf8_lossy(&seed.stdout).contains("seeded 40 products"));

    let catalog = dir.path().join("catalog.jsonl");
    std::fs::write(
        &catalog,
        [
            r#"{"handle":"trail-runner","title":"Trail Runner","vendor":"Kestrel","productType":"Running Shoe","categories":["sports-running"],"images":[{"url":"https://cdn.test/trail.jpg","altText":"Trail Runner","width":800,"height":800}],"options":[{"name":"Size","values":["42","43"]}],"variants":[{"sku":"TR-42","options":{"Size":"42"},"price":"120.00"},{"sku":"TR-43","options":{"Size":"43"},"price":"120.00","compareAtPrice":"150.00"}]}"#,
            r#"{"handle":"trail-runner-2","title":"","variants":[{"sku":"X","price":"1"}]}"#,
            r#"{"handle":"broken""#,
        ]
        .join("\n"),
    )
    .expect("write feed");
    let output = gateway()
        .args([
            "--data-dir",
            data_dir.to_str().expect("utf-8"),
            "import",
            "catalog",
        ])
        .arg(&catalog)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("catalog.jsonl:2: title must not be empty"),
        "{stderr}"
    );
    assert!(
        stderr.contains("catalog.jsonl:3: invalid product line"),
        "{stderr}"
    );
    assert!(
        stdout.contains("1 created, 0 updated, 0 unchanged, 2 failed"),
        "{stdout}"
    );

    let inventory = dir.path().join("inventory.jsonl");
    std::fs::write(&inventory, "{\"sku\":\"TR-43\",\"quantity\":7}\n").expect("write feed");
    let output = gateway()
        .args([
            "--data-dir",
            data_dir.to_str().expect("utf-8"),
            "import",
            "inventory",
        ])
        .arg(&inventory)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The gateway started on that data dir serves what the feeds wrote.
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir,
        store: StoreEngine::Embedded,
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    let data = app
        .data(
            "{ product(handle: \"trail-runner\") { title availableForSale categories { handle } variants(first: 5) { nodes { sku quantityAvailable compareAtPrice { amount } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({"product": {
            "title": "Trail Runner",
            "availableForSale": true,
            "categories": [{"handle": "sports-running"}],
            "variants": {"nodes": [
                {"sku": "TR-42", "quantityAvailable": 0, "compareAtPrice": null},
                {"sku": "TR-43", "quantityAvailable": 7, "compareAtPrice": {"amount": "150.00"}}
            ]}
        }})
    );
    let listed = app
        .data("{ products(first: 50, filter: {categoryHandle: \"sports\", vendor: \"kestrel\", available: true}) { nodes { handle } } }", json!({}))
        .await;
    assert!(listed.to_string().contains("trail-runner"), "{listed}");
}

#[test]
fn api_key_issues_a_key_whose_printed_entry_admits_it() {
    let output = gateway_command()
        .args(["api-key", "mobile-app"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    let key = printed
        .lines()
        .find_map(|l| l.strip_prefix("# sk_"))
        .map(|k| format!("sk_{k}"))
        .expect("the key");
    let entry: String = printed
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let config = storefront_gateway::Config::from_toml(&entry, std::path::Path::new("x.toml"))
        .expect("the entry is valid config")
        .validated()
        .expect("valid");
    assert_eq!(config.rate_limit.api_keys[0].name, "mobile-app");
    assert_eq!(
        config.rate_limit.api_keys[0].sha256,
        storefront_schema::persisted::document_hash(&key)
    );
}

#[test]
fn the_readme_s_configuration_example_is_a_valid_config() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("the README has a Configuration section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block");
    let config =
        Config::from_toml(example, std::path::Path::new("README.md")).expect("the example parses");
    config.validated().expect("the example is valid");
}
