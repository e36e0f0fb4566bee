//! The public contract: the committed `schema.graphql`, and descriptions everywhere.

use serde_json::{Value, json};

use crate::support::{spawn_app_with, test_config};

#[test]
fn the_committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed");
    let current = storefront_schema::sdl();
    assert!(
        committed == current,
        "schema.graphql is out of date: run `cargo run -- export-schema > schema.graphql` and review the diff"
    );
}

#[tokio::test]
async fn every_type_field_argument_and_enum_value_has_a_description() {
    let mut config = test_config();
    config.set("catalog", "seed_demo", false);
    config.set("location", "seed_demo", false);
    let app = spawn_app_with(config).await;
    let data = app
        .data(
            "{ __schema { types {
                name kind description
                fields { name description args { name description } }
                inputFields { name description }
                enumValues { name description }
            } } }",
            json!({}),
        )
        .await;
    let builtin = ["String", "Int", "Float", "Boolean", "ID"];
    let mut missing = vec![];
    let described = |v: &Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    for ty in data["__schema"]["types"].as_array().expect("types") {
        let name = ty["name"].as_str().expect("name");
        if name.starts_with("__") || builtin.contains(&name) {
            continue;
        }
        if !described(ty) {
            missing.push(name.to_owned());
        }
        for list in ["fields", "inputFields", "enumValues"] {
            for item in ty[list].as_array().into_iter().flatten() {
                let item_name = item["name"].as_str().expect("name");
                if !described(item) {
                    missing.push(format!("{name}.{item_name}"));
                }
                for arg in item["args"].as_array().into_iter().flatten() {
                    if !described(arg) {
                        missing.push(format!("{name}.{item_name}({})", arg["name"]));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:?}");
}
