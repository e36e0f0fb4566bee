//! The command line: `serve` (the default), `consume`, `feed publish`, `seed`, `import`,
//! `export-schema`, `api-key`.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::{Config, Overrides};

/// Storefront Gateway: a GraphQL backend-for-frontend for headless e-commerce.
#[derive(Debug, Parser)]
#[command(name = "storefront-gateway", version, about)]
pub struct Cli {
    /// Settings that override the config file.
    #[command(flatten)]
    pub overrides: Overrides,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (GraphQL at /graphql, GraphiQL at /graphiql).
    Serve,
    /// Write the deterministic demo catalog into the store.
    Seed {
        /// How many products.
        #[arg(long, default_value_t = 1000)]
        products: usize,
    },
    /// Apply a JSON Lines feed to the store (`import catalog FILE`, `import inventory FILE`).
    Import {
        /// Which feed (each domain names its own: catalog, inventory, …).
        feed: String,
        /// The JSON Lines file.
        file: PathBuf,
    },
    /// Consume the Kafka feeds (`[feeds.kafka]`) without serving HTTP, until Ctrl-C or SIGTERM.
    Consume,
    /// Kafka feed tasks.
    Feed {
        /// Which task.
        #[command(subcommand)]
        task: FeedTask,
    },
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Check persisted-query manifests: format, ids, and every operation against the schema.
    ValidateManifest {
        /// Manifest files (Apollo persisted-query-manifest JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Issue an API key: prints a new random key (give it to the client) and the
    /// `[[rate_limit.api_keys]]` entry that admits it (only its SHA-256 is configured).
    ApiKey {
        /// Who holds it (`mobile-app`).
        name: String,
    },
    /// AWS tasks.
    Aws {
        /// Which task.
        #[command(subcommand)]
        task: AwsTask,
    },
    /// Search index tasks.
    Search {
        /// Which task.
        #[command(subcommand)]
        task: SearchTask,
    },
}

/// The `feed` subcommands.
#[derive(Debug, Subcommand)]
pub enum FeedTask {
    /// Write a JSON Lines feed to its topic (`feeds.kafka.topics`): one message a line, keyed
    /// by the entity's id (`feed publish inventory FILE`). For tests and demos.
    Publish {
        /// Which feed (catalog, inventory, order-status, …).
        feed: String,
        /// The JSON Lines file.
        file: PathBuf,
    },
}

/// The `search` subcommands.
#[derive(Debug, Subcommand)]
pub enum SearchTask {
    /// Build a whole new index from the store; searches use the old one until it is complete
    /// (OpenSearch: a new index, then the alias swapped to it in one step).
    Reindex,
}

/// The `aws` subcommands.
#[derive(Debug, Subcommand)]
pub enum AwsTask {
    /// Create the DynamoDB table, its GSIs and TTL when missing (safe to repeat).
    Bootstrap,
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let command = cli.command.unwrap_or(Command::Serve);
    match &command {
        Command::ExportSchema => {
            print!("{}", storefront_schema::sdl());
            return Ok(0);
        }
        Command::ValidateManifest { files } => return Ok(validate_manifests(files).await),
        Command::ApiKey { name } => {
            print!("{}", issue_api_key(name));
            return Ok(0);
        }
        _ => {}
    }
    check_environment(std::env::vars().map(|(name, _)| name))?;
    let config = Config::load(&cli.overrides)?;
    match command {
        Command::Serve => serve(config).await,
        Command::Consume => {
            anyhow::ensure!(
                config.feeds.kafka.enabled,
                "`consume` needs `feeds.kafka.enabled = true` (or --kafka-enabled true)"
            );
            let app = App::open(config).await?;
            for done in app.start().await? {
                tracing::info!("{done}");
            }
            crate::shutdown_signal().await;
            for done in app.stop(STOP_DEADLINE).await {
                tracing::info!("{done}");
            }
            Ok(0)
        }
        Command::Seed { products } => {
            anyhow::ensure!(products > 0, "--products must be at least 1");
            let app = App::open(config).await?;
            let written = app.seed(products).await?;
            println!("seeded {}", written.join(", "));
            Ok(0)
        }
        Command::Import { feed, file } => {
            let domain = storefront_schema::feed_domain(&feed)?;
            let reader = open(&file)?;
            let app = App::open(config).await?;
            let imported = domain
                .import(&app.services, &feed, Box::new(reader))
                .await?;
            Ok(report(&file, &imported.failures, &imported.summary))
        }
        Command::Feed {
            task: FeedTask::Publish { feed, file },
        } => {
            let reader = open(&file)?;
            let published = crate::feeds::publish(
                &config.feeds.kafka,
                config.aws.region.clone(),
                &feed,
                reader,
            )
            .await?;
            let summary = format!(
                "{} published to `{}`, {} failed",
                published.published,
                published.topic,
                published.failures.len()
            );
            Ok(report(&file, &published.failures, &summary))
        }
        Command::Aws {
            task: AwsTask::Bootstrap,
        } => {
            let table = crate::app::connect_dynamo(&config).await?;
            let created = table.bootstrap().await.with_context(|| {
                format!("cannot create DynamoDB table `{}`", table.table_name())
            })?;
            println!(
                "DynamoDB table `{}` {}, with its indexes and TTL on `{}`",
                table.table_name(),
                if created { "created" } else { "already exists" },
                storefront_loaders::store::TTL_ATTRIBUTE
            );
            Ok(0)
        }
        Command::Search {
            task: SearchTask::Reindex,
        } => {
            let app = App::open(config).await?;
            let done = storefront_loaders::search::reindex(&app.services).await?;
            println!("{done}");
            Ok(0)
        }
        Command::ExportSchema | Command::ValidateManifest { .. } | Command::ApiKey { .. } => {
            unreachable!("handled above")
        }
    }
}

/// Variables read outside the command line's flags.
const OTHER_VARIABLES: [&str; 2] = ["STOREFRONT_LOG", "STOREFRONT_LOG_FORMAT"];

/// Refuses `STOREFRONT_*` variables the gateway does not read: a misspelt setting must not be
/// silently ignored, just as an unknown key in the config file is not.
pub fn check_environment(names: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let command = Cli::command();
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env().and_then(|e| e.to_str()).map(str::to_owned))
        .chain(OTHER_VARIABLES.iter().map(|s| (*s).to_owned()))
        .chain(
            storefront_schema::DOMAINS
                .iter()
                .flat_map(|d| d.variables().iter().map(|v| v.name.to_owned())),
        )
        .collect();
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("STOREFRONT_") && !known.contains(n))
        .collect();
    unknown.sort();
    anyhow::ensure!(
        unknown.is_empty(),
        "unknown setting {} (the gateway reads {})",
        unknown.join(", "),
        known.join(", ")
    );
    Ok(())
}

async fn validate_manifests(files: &[PathBuf]) -> i32 {
    let mut failed = false;
    for file in files {
        match storefront_schema::persisted::read_manifest(file) {
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
            Ok(operations) => {
                let mut file_failed = false;
                for op in &operations {
                    for error in storefront_schema::validate(&op.body).await {
                        eprintln!("{}: operation `{}`: {error}", file.display(), op.name);
                        file_failed = true;
                    }
                }
                if !file_failed {
                    println!("{}: {} operations valid", file.display(), operations.len());
                }
                failed |= file_failed;
            }
        }
    }
    i32::from(failed)
}

fn open(file: &PathBuf) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::new(File::open(file).with_context(|| {
        format!("cannot open {}", file.display())
    })?))
}

/// Prints each failed line of `file` (`FILE:LINE: reason`) and the summary; the exit code: 1
/// when any line failed.
fn report(file: &std::path::Path, failures: &[(usize, String)], summary: &str) -> i32 {
    for (line, reason) in failures {
        eprintln!("{}:{line}: {reason}", file.display());
    }
    println!("{}: {summary}", file.display());
    i32::from(!failures.is_empty())
}

/// How long the domains' work before exit (the outboxes' last passes) may take in all.
const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve(config: Config) -> anyhow::Result<i32> {
    let listen = config.listen;
    let app = App::open(config).await?;
    for done in app.start().await? {
        tracing::info!("start-up: {done}");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (setting `listen`)"))?;
    if let Some(address) = app.config.http.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| {
                format!("cannot listen on {address} (setting `http.metrics_listen`)")
            })?;
        tracing::info!("metrics on http://{address}/metrics");
        tokio::spawn(crate::serve_metrics(metrics, app.clone()));
    } else if !app.config.public_metrics() {
        tracing::info!("metrics are not served: set `http.metrics_listen` to scrape them");
    }
    let playground = if app.config.graphiql() {
        ", GraphiQL at /graphiql"
    } else {
        ""
    };
    tracing::info!("Storefront Gateway on http://{listen}: GraphQL at /graphql{playground}");
    crate::serve(listener, app.clone()).await?;
    for done in app.stop(STOP_DEADLINE).await {
        tracing::info!("stopping: {done}");
    }
    tracing::info!("stopped");
    Ok(0)
}

/// A new API key for `name`, and the config entry that admits it.
fn issue_api_key(name: &str) -> String {
    let key = format!("sk_{}", storefront_loaders::hash::random_hex(32));
    let hash = storefront_schema::persisted::document_hash(&key);
    format!(
        "# Give this key to {name}; it is shown once and stored nowhere:\n# {key}\n\
         [[rate_limit.api_keys]]\nname = \"{name}\"\nsha256 = \"{hash}\"\n\
         # budget = 250000   # its own budget per window (default: rate_limit.budget)\n"
    )
}
