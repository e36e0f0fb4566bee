//! The deployment files that cannot run here (no Docker engine): `docker-compose.yml`, the
//! proxy config and the `Dockerfile` are checked against the gateway's own configuration.

use std::collections::BTreeMap;

use clap::{CommandFactory, Parser};
use storefront_gateway::cli::Cli;
use storefront_gateway::config::{Config, StoreEngine};
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::local_aws;

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
        let check = services[name]["healthcheck"]["test"][3]
            .as_str()
            .expect("health check");
        assert!(check.contains("GET /readyz"), "{name}: {check}");
        assert_eq!(
            services["proxy"]["depends_on"][name]["condition"].as_str(),
            Some("service_healthy"),
            "the proxy waits for {name} to be ready"
        );
    }
    let bootstrap = services["bootstrap"]["command"][0]
        .as_str()
        .expect("command");
    assert!(bootstrap.contains("aws bootstrap") && bootstrap.contains("seed"));

    // The optional trace collector takes OTLP/HTTP where the gateways are told to send it.
    let collector = &services["otel-collector"];
    assert_eq!(collector["profiles"][0].as_str(), Some("traces"));
    assert!(
        environment(&services["gateway-a"]).contains_key("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "the gateways pass the collector's address on"
    );
    let config = YamlLoader::load_from_str(&read("deploy/otel-collector.yaml"))
        .expect("the collector's config parses")
        .remove(0);
    assert_eq!(
        config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].as_str(),
        Some("0.0.0.0:4318")
    );
    assert_eq!(
        config["service"]["pipelines"]["traces"]["receivers"][0].as_str(),
        Some("otlp")
    );
    assert_eq!(collector["ports"][0].as_str(), Some("4318:4318"));

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
    let health = dockerfile
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    assert!(health.contains("GET /readyz"), "{health}");
}

/// The CloudFormation template, as YAML (it is written with long-form intrinsics).
fn template() -> Yaml {
    YamlLoader::load_from_str(&read("deploy/aws/storefront.yaml"))
        .expect("the template parses")
        .remove(0)
}

/// A value the stack would give an intrinsic function, for checking the task's settings.
fn resolved(value: &Yaml) -> Option<String> {
    let placeholder = |name: &str| match name {
        "Table" => "storefront-prod",
        "AWS::Region" => "eu-west-1",
        "CorsOrigins" => "https://shop.example.com",
        "UserPool" => "eu-west-1_AbCdEf123",
        "UserPoolClient" => "4tq1example0client0id0abcd",
        "EventBus" => "storefront-events",
        "OrdersQueue" => "https://sqs.eu-west-1.amazonaws.com/123456789012/storefront-orders.fifo",
        "PinpointApplicationId" => "0123456789abcdef0123456789abcdef",
        other => panic!("no placeholder for {other}"),
    };
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Hash(_) if !value["Ref"].is_badvalue() => {
            Some(placeholder(value["Ref"].as_str().expect("Ref")).to_owned())
        }
        Yaml::Hash(_) if !value["Fn::Sub"].is_badvalue() => Some(
            value["Fn::Sub"]
                .as_str()
                .expect("Fn::Sub")
                .replace(
                    "${Redis.PrimaryEndPoint.Address}",
                    "storefront.abc123.ng.0001.euw1.cache.amazonaws.com",
                )
                .replace("${Redis.PrimaryEndPoint.Port}", "6379"),
        ),
        _ => None,
    }
}

#[test]
fn the_cloudformation_template_matches_the_gateway_and_passes_cfn_lint() {
    use storefront_loaders::store::{Index, TTL_ATTRIBUTE};
    let template = template();
    let resources = &template["Resources"];

    // The table is the store's: its keys, every secondary index and the TTL attribute.
    let table = &resources["Table"]["Properties"];
    let gsis = table["GlobalSecondaryIndexes"].as_vec().expect("GSIs");
    assert_eq!(gsis.len(), Index::SECONDARY.len());
    for index in Index::SECONDARY {
        let gsi = gsis
            .iter()
            .find(|g| g["IndexName"].as_str() == Some(index.name()))
            .unwrap_or_else(|| panic!("no GSI {}", index.name()));
        let (partition, sort) = index.key_attributes();
        assert_eq!(
            gsi["KeySchema"][0]["AttributeName"].as_str(),
            Some(partition)
        );
        assert_eq!(gsi["KeySchema"][1]["AttributeName"].as_str(), Some(sort));
        assert_eq!(gsi["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(TTL_ATTRIBUTE)
    );
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        resources["OrdersQueue"]["Properties"]["FifoQueue"].as_bool(),
        Some(true)
    );

    // The load balancer and the container ask /readyz; a stop outlasts the drain.
    assert_eq!(
        resources["TargetGroup"]["Properties"]["HealthCheckPath"].as_str(),
        Some("/readyz")
    );
    let container = &resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0];
    let check = container["HealthCheck"]["Command"][3]
        .as_str()
        .expect("check");
    assert!(check.contains("GET /readyz"), "{check}");
    let drain = Config::default().http.drain_seconds;
    assert!(
        container["StopTimeout"].as_i64().expect("StopTimeout")
            > i64::try_from(drain + 10).expect("small")
    );

    // The task's settings are ones the gateway takes, and they make a production gateway on
    // the stack's resources.
    let env: BTreeMap<String, String> = container["Environment"]
        .as_vec()
        .expect("environment")
        .iter()
        .map(|entry| {
            // A conditional entry (`Fn::If`): as when the condition holds.
            let entry = if entry["Fn::If"].is_badvalue() {
                entry
            } else {
                &entry["Fn::If"][1]
            };
            let name = entry["Name"].as_str().expect("Name").to_owned();
            let value = resolved(&entry["Value"]).unwrap_or_else(|| panic!("value of {name}"));
            (name, value)
        })
        .collect();
    let config = gateway_config(&env);
    assert_eq!(config.store, StoreEngine::Aws);
    assert_eq!(config.aws.table, "storefront-prod");
    assert_eq!(config.listen.port(), 4000);
    assert!(
        config
            .cache
            .redis_url
            .as_deref()
            .is_some_and(|u| u.starts_with("redis://"))
    );
    assert_eq!(
        config.section("checkout")["outbox"]["engine"].as_str(),
        Some("sqs")
    );
    assert_eq!(
        config.section("events")["eventbridge_bus"].as_str(),
        Some("storefront-events")
    );

    // The task role allows each engine's calls on its own resource only.
    let policies = resources["TaskRole"]["Properties"]["Policies"]
        .as_vec()
        .expect("policies");
    for policy in policies {
        for statement in policy["PolicyDocument"]["Statement"]
            .as_vec()
            .expect("statements")
        {
            let resource = &statement["Resource"];
            assert!(
                resource.as_str() != Some("*"),
                "{:?} allows every resource",
                policy["PolicyName"]
            );
        }
    }

    // cfn-lint (from PyPI, installed with the local AWS stack) finds nothing.
    local_aws();
    let stack = std::env::var_os("LOCAL_AWS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local-aws"));
    let lint = stack.join("venv/bin/cfn-lint");
    assert!(
        lint.exists(),
        "{} is missing: `scripts/local-aws start` installs it",
        lint.display()
    );
    let output = std::process::Command::new(lint)
        .arg(format!(
            "{}/deploy/aws/storefront.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .output()
        .expect("cfn-lint runs");
    assert!(
        output.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
