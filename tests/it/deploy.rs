//! The deployment files that cannot run here (no Docker engine): `docker-compose.yml`, the
//! proxy config and the `Dockerfile` are checked against the gateway's own configuration.

use std::collections::BTreeMap;

use clap::{CommandFactory, Parser};
use storefront_gateway::cli::Cli;
use storefront_gateway::config::{Config, StoreEngine};
use yaml_rust2::{Yaml, YamlLoader};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Yaml {
    YamlLoader::load_from_str(&read("docker-compose.yml"))
        .expect("docker-compose.yml parses")
        .remove(0)
}

fn environment(service: &Yaml) -> BTreeMap<String, String> {
    service["environment"]
        .as_hash()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let value = match v {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                other => panic!("unexpected value {other:?}"),
            };
            (k.as_str().expect("string key").to_owned(), value)
        })
        .collect()
}

/// The gateway's configuration from a service's `STOREFRONT_*` variables, read through the
/// real command line (each variable becomes its flag), so that unknown names and bad values
/// fail here as they would at start-up.
fn gateway_config(env: &BTreeMap<String, String>) -> Config {
    let command = Cli::command();
    let mut args = vec!["storefront-gateway".to_owned()];
    let mut domain_variables = Vec::new();
    for (name, value) in env.iter().filter(|(n, _)| n.starts_with("STOREFRONT_")) {
        storefront_gateway::cli::check_environment([name.clone()])
            .unwrap_or_else(|e| panic!("the gateway reads no variable {name}: {e}"));
        match command
            .get_arguments()
            .find(|a| a.get_env().and_then(|e| e.to_str()) == Some(name.as_str()))
        {
            Some(arg) => {
                args.push(format!("--{}", arg.get_long().expect("long flag")));
                args.push(value.clone());
            }
            // A domain's setting: read from the environment, as at start-up.
            None => domain_variables.push((name.clone(), value.clone())),
        }
    }
    args.push("serve".into());
    let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    Config::default()
        .with(&cli.overrides)
        .with_domain_variables(domain_variables)
        .expect("the compose's domain settings parse")
        .validated()
        .expect("the compose settings are valid")
}

#[test]
fn the_compose_stack_matches_the_gateways_configuration() {
    let compose = compose();
    let services = &compose["services"];
    for name in [
        "proxy",
        "gateway-a",
        "gateway-b",
        "bootstrap",
        "dynamodb",
        "moto",
        "redis",
    ] {
        assert!(!services[name].is_badvalue(), "service {name} is missing");
    }
    assert_eq!(services["proxy"]["ports"][0].as_str(), Some("4000:4000"));

    let dynamodb_port = services["dynamodb"]["ports"][0]
        .as_str()
        .and_then(|p| p.split(':').next_back())
        .expect("dynamodb port");
    for name in ["gateway-a", "gateway-b", "bootstrap"] {
        let env = environment(&services[name]);
        let config = gateway_config(&env);
        assert_eq!(config.store, StoreEngine::Aws, "{name}");
        assert_eq!(
            config.aws.endpoint_url.as_deref(),
            Some(format!("http://dynamodb:{dynamodb_port}").as_str()),
            "{name} reaches the dynamodb service"
        );
        assert_eq!(config.aws.table, "storefront", "{name}");
    }
    for name in ["gateway-a", "gateway-b"] {
        let config = gateway_config(&environment(&services[name]));
        assert_eq!(
            config.listen.port(),
            4000,
            "{name} listens where the proxy sends"
        );
        let redis_port = services["redis"]["ports"][0]
            .as_str()
            .and_then(|p| p.split(':').next_back())
            .expect("redis port");
        assert_eq!(
            config.cache.redis_url.as_deref(),
            Some(format!("redis://redis:{redis_port}").as_str()),
            "{name} shares the redis service"
        );
        let docker_network: std::net::IpAddr = "172.18.0.5".parse().expect("ip");
        assert!(
            config
                .trusted_proxies()
                .iter()
                .any(|net| net.contains(&docker_network)),
            "{name} sits behind the proxy, on the compose network"
        );
        assert_eq!(
            services[name]["depends_on"]["bootstrap"]["condition"].as_str(),
            Some("service_completed_successfully")
        );
    }
    let bootstrap = services["bootstrap"]["command"][0]
        .as_str()
        .expect("command");
    assert!(bootstrap.contains("aws bootstrap") && bootstrap.contains("seed"));

    let nginx = read("deploy/nginx.conf");
    for upstream in [
        "server gateway-a:4000;",
        "server gateway-b:4000;",
        "listen 4000;",
    ] {
        assert!(nginx.contains(upstream), "nginx.conf lacks `{upstream}`");
    }
}

#[test]
fn the_image_is_multi_stage_and_runs_as_non_root() {
    let dockerfile = read("Dockerfile");
    assert_eq!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM ")),
        2
    );
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    assert!(dockerfile.contains("--bin storefront-gateway"));
    assert!(dockerfile.contains("STOREFRONT_LISTEN=0.0.0.0:4000"));
}
