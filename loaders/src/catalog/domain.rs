//! The catalog domain's registration: its `[catalog]` section, its services, the keys it
//! lets the cache share, its demo data and its feeds.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::import::{ImportReport, import_catalog, import_inventory};
use super::seed::{SeedOptions, seed_demo_catalog};
use super::{Catalog, CatalogWriter, keys};
use crate::domain::{
    Domain, DomainConfig, FeedReport, OpenError, Services, SettingError, Shared, SharedSettings,
    ValueKind, Variable, parse_section,
};
use crate::store::Key;

/// The catalog's settings (`[catalog]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Base URL of product images (the S3 / CloudFront origin).
    pub asset_base_url: String,
    /// Seed the demo catalog on start when the store is empty.
    pub seed_demo: bool,
    /// How many products the demo catalog has.
    pub demo_products: usize,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            asset_base_url: "https://assets.storefront.example".into(),
            seed_demo: true,
            demo_products: 1000,
        }
    }
}

impl DomainConfig for CatalogConfig {
    fn validate(&self, section: &str, _shared: &SharedSettings) -> Result<(), SettingError> {
        let base = self.asset_base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.len() < 10 {
            return Err(SettingError::new(
                format!("{section}.asset_base_url"),
                "must be an absolute http(s) URL such as https://cdn.example.com",
            ));
        }
        if self.demo_products == 0 {
            return Err(SettingError::new(
                format!("{section}.demo_products"),
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The catalog's services: reads, writes, and its settings.
#[derive(Clone)]
struct CatalogParts {
    config: CatalogConfig,
    writer: Arc<CatalogWriter>,
}

/// The catalog domain.
pub struct CatalogDomain;

/// The catalog domain, as registered in the schema crate.
pub static DOMAIN: CatalogDomain = CatalogDomain;

const VARIABLES: &[Variable] = &[
    Variable {
        name: "STOREFRONT_ASSET_BASE_URL",
        key: "asset_base_url",
        kind: ValueKind::Text,
    },
    Variable {
        name: "STOREFRONT_SEED_DEMO",
        key: "seed_demo",
        kind: ValueKind::Bool,
    },
    Variable {
        name: "STOREFRONT_DEMO_PRODUCTS",
        key: "demo_products",
        kind: ValueKind::Integer,
    },
];

fn feed_report(report: &ImportReport) -> FeedReport {
    FeedReport {
        summary: report.summary(),
        failures: report
            .failures
            .iter()
            .map(|f| (f.line, f.reason.clone()))
            .collect(),
        retry: report
            .failures
            .iter()
            .filter(|f| f.retryable)
            .map(|f| f.line)
            .collect(),
    }
}

fn parts(services: &Services) -> Result<&CatalogParts, OpenError> {
    services
        .get::<CatalogParts>()
        .ok_or_else(|| OpenError::new("the catalog is not open"))
}

/// Counts an import or seed, so that copies of the catalog made before it know they are old.
async fn bump_revision(services: &Services) -> Result<(), OpenError> {
    let catalog = services
        .get::<Catalog>()
        .ok_or_else(|| OpenError::new("the catalog is not open"))?;
    catalog
        .bump_revision()
        .await
        .map(drop)
        .map_err(|e| OpenError::new(format!("cannot count the catalog's revision: {e}")))
}

#[async_trait::async_trait]
impl Domain for CatalogDomain {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn variables(&self) -> &'static [Variable] {
        VARIABLES
    }

    fn check(&self, section: &toml::Table, shared: &SharedSettings) -> Result<(), SettingError> {
        parse_section::<CatalogConfig>(self.name(), section, shared).map(drop)
    }

    fn cacheable(&self, key: &Key) -> bool {
        keys::is_catalog_key(key)
    }

    fn tracks_partition(&self, partition: &str) -> bool {
        keys::is_listing_partition(partition)
    }

    fn listed_in(&self, key: &Key) -> Vec<String> {
        keys::listed_in(key)
    }

    async fn open(
        &self,
        section: &toml::Table,
        shared: &Shared,
        services: &mut Services,
    ) -> Result<(), OpenError> {
        let mut config: CatalogConfig = parse_section(self.name(), section, &shared.settings)?;
        config.asset_base_url = config.asset_base_url.trim_end_matches('/').to_owned();
        services.insert(Catalog::new(Arc::clone(&shared.table)));
        services.insert(CatalogParts {
            config,
            writer: Arc::new(
                CatalogWriter::new(Arc::clone(&shared.table))
                    .reading_from(Arc::clone(&shared.uncached)),
            ),
        });
        Ok(())
    }

    async fn start(
        &self,
        _section: &toml::Table,
        services: &Services,
    ) -> Result<Option<String>, OpenError> {
        let parts = parts(services)?;
        if !parts.config.seed_demo {
            return Ok(None);
        }
        let catalog = services
            .get::<Catalog>()
            .ok_or_else(|| OpenError::new("the catalog is not open"))?;
        let seeded = catalog
            .is_seeded()
            .await
            .map_err(|e| OpenError::new(format!("cannot read the store: {e}")))?;
        if seeded {
            return Ok(None);
        }
        self.seed(services, parts.config.demo_products).await
    }

    async fn seed(&self, services: &Services, size: usize) -> Result<Option<String>, OpenError> {
        let parts = parts(services)?;
        let options = SeedOptions {
            products: size,
            asset_base_url: parts.config.asset_base_url.clone(),
        };
        let summary = seed_demo_catalog(parts.writer.table(), &options)
            .await
            .map_err(|e| OpenError::new(format!("cannot write the demo catalog: {e}")))?;
        bump_revision(services).await?;
        Ok(Some(format!(
            "{} products ({} variants), {} categories",
            summary.products, summary.variants, summary.categories
        )))
    }

    fn feeds(&self) -> &'static [&'static str] {
        &["catalog", "inventory"]
    }

    fn feed_key(&self, feed: &str) -> &'static [&'static str] {
        match feed {
            "catalog" => &["handle"],
            "inventory" => &["sku"],
            _ => &[],
        }
    }

    async fn import(
        &self,
        services: &Services,
        feed: &str,
        lines: Box<dyn std::io::BufRead + Send>,
    ) -> Result<FeedReport, OpenError> {
        let writer = &parts(services)?.writer;
        let report = match feed {
            "catalog" => feed_report(&import_catalog(writer, lines).await),
            "inventory" => feed_report(&import_inventory(writer, lines).await),
            other => return Err(OpenError::new(format!("the catalog has no feed `{other}`"))),
        };
        bump_revision(services).await?;
        Ok(report)
    }
}
