//! The PIM and supply-chain feeds: JSON Lines files of products and of stock levels.
//!
//! Each line is applied on its own and idempotently (products by handle, stock by SKU); a bad
//! line is reported with its number and reason while the good ones are applied.

use std::io::BufRead;
use std::str::FromStr;

use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::records::{ImageRecord, OptionRecord, SelectedOptionRecord};
use super::write::{CatalogWriteError, CatalogWriter, ProductDraft, VariantDraft, WriteOutcome};

/// One line of the catalog feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProductLine {
    handle: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    product_type: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    images: Vec<ImageLine>,
    #[serde(default)]
    options: Vec<OptionLine>,
    variants: Vec<VariantLine>,
    /// The PIM's version of the product: a line older than the stored one is not applied.
    version: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImageLine {
    url: String,
    alt_text: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionLine {
    name: String,
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VariantLine {
    sku: String,
    title: Option<String>,
    #[serde(default)]
    options: serde_json::Map<String, Value>,
    price: Value,
    compare_at_price: Option<Value>,
}

/// One line of the inventory feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryLine {
    sku: String,
    quantity: i64,
    /// The supply chain's version of the level: a line older than the stored one is not
    /// applied.
    version: Option<i64>,
}

/// A line that was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFailure {
    /// 1-based line number in the file.
    pub line: usize,
    /// Why.
    pub reason: String,
    /// Whether the line may apply on a later attempt (the store failed, a write raced it).
    pub retryable: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines that created an entity.
    pub created: usize,
    /// Lines that changed an entity.
    pub updated: usize,
    /// Lines that matched what was stored already.
    pub unchanged: usize,
    /// Lines older (by `version`) than what was stored, left unapplied.
    pub stale: usize,
    /// Lines that were not applied.
    pub failures: Vec<LineFailure>,
}

impl ImportReport {
    fn record(&mut self, line: usize, result: Result<WriteOutcome, Refusal>) {
        match result {
            Ok(WriteOutcome::Created) => self.created += 1,
            Ok(WriteOutcome::Updated) => self.updated += 1,
            Ok(WriteOutcome::Unchanged) => self.unchanged += 1,
            Ok(WriteOutcome::Stale) => self.stale += 1,
            Err(Refusal { reason, retryable }) => self.failures.push(LineFailure {
                line,
                reason,
                retryable,
            }),
        }
    }

    /// A one-line summary ("3 created, 1 updated, 0 unchanged, 2 failed"; stale lines are
    /// named when there are any).
    pub fn summary(&self) -> String {
        let stale = if self.stale > 0 {
            format!(", {} older than stored", self.stale)
        } else {
            String::new()
        };
        format!(
            "{} created, {} updated, {} unchanged{stale}, {} failed",
            self.created,
            self.updated,
            self.unchanged,
            self.failures.len()
        )
    }
}

/// Why a line was not applied, and whether trying it again could help.
struct Refusal {
    reason: String,
    retryable: bool,
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Self {
            reason,
            retryable: false,
        }
    }
}

impl From<CatalogWriteError> for Refusal {
    fn from(e: CatalogWriteError) -> Self {
        Self {
            retryable: matches!(e, CatalogWriteError::Conflict | CatalogWriteError::Store(_)),
            reason: e.to_string(),
        }
    }
}

fn decimal(what: &str, value: &Value) -> Result<Decimal, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(format!("{what} must be a decimal string such as \"19.99\"")),
    };
    Decimal::from_str(text.trim()).map_err(|_| format!("{what} `{text}` is not a decimal number"))
}

fn draft_of(line: ProductLine) -> Result<ProductDraft, String> {
    if line.version.is_some_and(|v| v < 0) {
        return Err("version must be a whole number of at least 0".into());
    }
    let option_names: Vec<String> = line.options.iter().map(|o| o.name.clone()).collect();
    let variants = line
        .variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            for name in v.options.keys() {
                if !option_names.contains(name) {
                    return Err(format!("variants[{i}] selects unknown option `{name}`"));
                }
            }
            // Selected options follow the product's option order.
            let selected_options = option_names
                .iter()
                .filter_map(|name| {
                    v.options.get(name).map(|value| match value {
                        Value::String(s) => Ok(SelectedOptionRecord {
                            name: name.clone(),
                            value: s.clone(),
                        }),
                        _ => Err(format!("variants[{i}].options.{name} must be a string")),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(VariantDraft {
                sku: v.sku,
                title: v.title,
                selected_options,
                price: decimal(&format!("variants[{i}].price"), &v.price)?,
                compare_at_price: v
                    .compare_at_price
                    .filter(|p| !p.is_null())
                    .map(|p| decimal(&format!("variants[{i}].compareAtPrice"), &p))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ProductDraft {
        handle: line.handle,
        title: line.title,
        description: line.description,
        vendor: line.vendor,
        product_type: line.product_type,
        tags: line.tags,
        category_handles: line.categories,
        images: line
            .images
            .into_iter()
            .map(|i| ImageRecord {
                url: i.url,
                alt_text: i.alt_text,
                width: i.width,
                height: i.height,
            })
            .collect(),
        options: line
            .options
            .into_iter()
            .map(|o| OptionRecord {
                name: o.name,
                values: o.values,
            })
            .collect(),
        variants,
        version: line.version,
    })
}

/// Reads the lines of a feed, numbering them and skipping blank ones.
pub(crate) fn numbered_lines(
    reader: impl BufRead,
) -> impl Iterator<Item = (usize, Result<String, String>)> {
    reader
        .lines()
        .enumerate()
        .map(|(i, line)| {
            (
                i + 1,
                line.map_err(|e| format!("cannot read the line: {e}")),
            )
        })
        .filter(|(_, line)| line.as_ref().map_or(true, |l| !l.trim().is_empty()))
}

/// Applies a catalog feed: one product per line, upserted by handle.
pub async fn import_catalog(writer: &CatalogWriter, reader: impl BufRead) -> ImportReport {
    let mut report = ImportReport::default();
    for (number, line) in numbered_lines(reader) {
        let result = match line {
            Err(e) => Err(e.into()),
            Ok(text) => match serde_json::from_str::<ProductLine>(&text) {
                Err(e) => Err(format!("invalid product line: {e}").into()),
                Ok(parsed) => match draft_of(parsed) {
                    Err(e) => Err(e.into()),
                    Ok(draft) => writer
                        .upsert_product(&draft, Utc::now())
                        .await
                        .map_err(Refusal::from),
                },
            },
        };
        report.record(number, result);
    }
    report
}

/// Applies an inventory feed: one `{"sku", "quantity", "version"?}` per line, setting absolute
/// stock.
pub async fn import_inventory(writer: &CatalogWriter, reader: impl BufRead) -> ImportReport {
    let mut report = ImportReport::default();
    for (number, line) in numbered_lines(reader) {
        let result = match line {
            Err(e) => Err(e.into()),
            Ok(text) => match serde_json::from_str::<InventoryLine>(&text) {
                Err(e) => Err(format!("invalid inventory line: {e}").into()),
                Ok(parsed) => writer
                    .set_inventory_version(&parsed.sku, parsed.quantity, parsed.version)
                    .await
                    .map_err(Refusal::from),
            },
        };
        report.record(number, result);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::seed::{SeedOptions, seed_demo_catalog};
    use crate::catalog::{Catalog, ListingFilter, ListingRequest, ProductSort, Scope};
    use crate::store::{RedbTable, Table};
    use std::sync::Arc;

    async fn seeded() -> (Arc<dyn Table>, CatalogWriter) {
        let table: Arc<dyn Table> = Arc::new(RedbTable::in_memory().expect("memory"));
        seed_demo_catalog(
            &table,
            &SeedOptions {
                products: 20,
                asset_base_url: "https://cdn.test".into(),
            },
        )
        .await
        .expect("seed");
        let writer = CatalogWriter::new(Arc::clone(&table));
        (table, writer)
    }

    const GOOD: &str = r#"{"handle":"feed-tee","title":"Feed Tee","vendor":"Feedco","categories":["men-t-shirts"],"options":[{"name":"Size","values":["S","M"]}],"variants":[{"sku":"FEED-S","options":{"Size":"S"},"price":"10.00"},{"sku":"FEED-M","options":{"Size":"M"},"price":12.5,"compareAtPrice":"15.00"}]}"#;

    #[tokio::test]
    async fn catalog_feed_applies_good_lines_and_reports_bad_ones_by_number() {
        let (_, writer) = seeded().await;
        let feed = format!(
            "{GOOD}\n\nnot json\n{}\n{}\n",
            r#"{"handle":"Bad Handle","title":"x","variants":[{"sku":"X1","price":"1.00"}]}"#,
            r#"{"handle":"other","title":"Other","categories":["nope"],"variants":[{"sku":"O1","price":"1.00"}]}"#
        );
        let report = import_catalog(&writer, feed.as_bytes()).await;
        assert_eq!(report.created, 1);
        let lines: Vec<usize> = report.failures.iter().map(|f| f.line).collect();
        assert_eq!(lines, [3, 4, 5], "{:?}", report.failures);
        assert!(
            report.failures[2]
                .reason
                .contains("unknown category handle `nope`")
        );

        let again = import_catalog(&writer, GOOD.as_bytes()).await;
        assert_eq!(
            again.unchanged, 1,
            "re-importing the same line changes nothing"
        );
        let changed = GOOD.replace("Feed Tee", "Feed Tee II");
        assert_eq!(import_catalog(&writer, changed.as_bytes()).await.updated, 1);
    }

    #[tokio::test]
    async fn a_sku_of_another_product_is_refused() {
        let (_, writer) = seeded().await;
        import_catalog(&writer, GOOD.as_bytes()).await;
        let thief = GOOD.replace("feed-tee", "thief-tee");
        let report = import_catalog(&writer, thief.as_bytes()).await;
        assert_eq!(report.failures.len(), 1);
        assert!(
            report.failures[0].reason.contains("FEED-S"),
            "{:?}",
            report.failures
        );
    }

    #[tokio::test]
    async fn inventory_feed_sets_stock_and_availability() {
        let (table, writer) = seeded().await;
        import_catalog(&writer, GOOD.as_bytes()).await;
        let catalog = Catalog::new(table);
        let available = |catalog: Catalog| async move {
            catalog
                .list_products(&ListingRequest {
                    scope: Scope::Vendor("feedco".into()),
                    sort: ProductSort::Title,
                    forward: true,
                    limit: 10,
                    start: None,
                    filter: ListingFilter {
                        vendor: None,
                        available: Some(true),
                    },
                })
                .await
                .expect("list")
                .entries
                .len()
        };
        assert_eq!(
            available(catalog.clone()).await,
            0,
            "new products have no stock"
        );
        let report = import_inventory(
            &writer,
            "{\"sku\":\"FEED-M\",\"quantity\":4}\n{\"sku\":\"NOPE\",\"quantity\":1}\n{\"sku\":\"FEED-S\",\"quantity\":-1}\n".as_bytes(),
        )
        .await;
        assert_eq!(report.created, 1);
        assert_eq!(report.failures.len(), 2);
        assert_eq!(available(catalog.clone()).await, 1);
        let again =
            import_inventory(&writer, "{\"sku\":\"FEED-M\",\"quantity\":4}".as_bytes()).await;
        assert_eq!(again.unchanged, 1);
        import_inventory(&writer, "{\"sku\":\"FEED-M\",\"quantity\":0}".as_bytes()).await;
        assert_eq!(available(catalog).await, 0);
    }

    async fn stock(table: &Arc<dyn Table>, sku: &str) -> i64 {
        let owner = table
            .get(&crate::catalog::records::keys::sku(sku))
            .await
            .expect("read")
            .expect("sku known");
        let variant = owner
            .get("variant_id")
            .and_then(Value::as_str)
            .expect("variant id")
            .to_owned();
        let item = table
            .get(&crate::catalog::records::keys::inventory(&variant))
            .await
            .expect("read")
            .expect("stock stored");
        item.get("quantity")
            .and_then(Value::as_i64)
            .expect("quantity")
    }

    #[tokio::test]
    async fn an_inventory_level_older_than_the_stored_one_never_overwrites_it() {
        let (table, writer) = seeded().await;
        import_catalog(&writer, GOOD.as_bytes()).await;
        let first = import_inventory(
            &writer,
            "{\"sku\":\"FEED-M\",\"quantity\":7,\"version\":5}".as_bytes(),
        )
        .await;
        assert_eq!((first.created, first.failures.len()), (1, 0));
        let older = import_inventory(
            &writer,
            "{\"sku\":\"FEED-M\",\"quantity\":1,\"version\":4}".as_bytes(),
        )
        .await;
        assert_eq!(older.stale, 1, "{}", older.summary());
        assert!(older.summary().contains("1 older than stored"));
        let replayed = import_inventory(
            &writer,
            "{\"sku\":\"FEED-M\",\"quantity\":7,\"version\":5}".as_bytes(),
        )
        .await;
        assert_eq!(replayed.unchanged, 1, "a redelivered level changes nothing");
        assert_eq!(stock(&table, "FEED-M").await, 7);
        let newer = import_inventory(
            &writer,
            "{\"sku\":\"FEED-M\",\"quantity\":2,\"version\":6}".as_bytes(),
        )
        .await;
        assert_eq!(newer.updated, 1, "{}", newer.summary());
        assert_eq!(stock(&table, "FEED-M").await, 2);
        // An unversioned level (the CLI's) still applies, and keeps the version known.
        import_inventory(&writer, "{\"sku\":\"FEED-M\",\"quantity\":3}".as_bytes()).await;
        assert_eq!(stock(&table, "FEED-M").await, 3);
        let late = import_inventory(
            &writer,
            "{\"sku\":\"FEED-M\",\"quantity\":9,\"version\":6}".as_bytes(),
        )
        .await;
        assert_eq!(late.unchanged + late.stale, 1);
        assert_eq!(stock(&table, "FEED-M").await, 3);
    }

    #[tokio::test]
    async fn concurrent_versions_of_one_level_leave_the_newest() {
        let (table, writer) = seeded().await;
        import_catalog(&writer, GOOD.as_bytes()).await;
        let writer = Arc::new(writer);
        let tasks: Vec<_> = (1..=40i64)
            .map(|version| {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move {
                    let line = format!(
                        "{{\"sku\":\"FEED-S\",\"quantity\":{version},\"version\":{version}}}"
                    );
                    import_inventory(&writer, line.as_bytes()).await
                })
            })
            .collect();
        for task in tasks {
            let report = task.await.expect("import task");
            assert!(report.failures.is_empty(), "{:?}", report.failures);
        }
        assert_eq!(stock(&table, "FEED-S").await, 40);
    }

    #[tokio::test]
    async fn a_product_line_older_than_the_stored_product_is_not_applied() {
        let (table, writer) = seeded().await;
        let versioned = |title: &str, version: i64| {
            GOOD.replace("\"title\":\"Feed Tee\"", &format!("\"title\":\"{title}\""))
                .replace(
                    "\"variants\"",
                    &format!("\"version\":{version},\"variants\""),
                )
        };
        let created = import_catalog(&writer, versioned("Tee v3", 3).as_bytes()).await;
        assert_eq!(created.created, 1, "{:?}", created.failures);
        let older = import_catalog(&writer, versioned("Tee v2", 2).as_bytes()).await;
        assert_eq!(older.stale, 1, "{}", older.summary());
        let replay = import_catalog(&writer, versioned("Tee v3", 3).as_bytes()).await;
        assert_eq!(replay.unchanged, 1, "{}", replay.summary());
        let title = |table: Arc<dyn Table>| async move {
            let catalog = Catalog::new(Arc::clone(&table));
            let id = catalog
                .product_id_by_handle("feed-tee")
                .await
                .expect("read")
                .expect("product");
            let item = table
                .get(&crate::catalog::records::keys::product(&id))
                .await
                .expect("read")
                .expect("product item");
            let record: crate::catalog::records::ProductRecord =
                crate::codec::from_item(&item).expect("product record");
            record.title
        };
        assert_eq!(title(Arc::clone(&table)).await, "Tee v3");
        let newer = import_catalog(&writer, versioned("Tee v4", 4).as_bytes()).await;
        assert_eq!(newer.updated, 1, "{}", newer.summary());
        assert_eq!(title(table).await, "Tee v4");
        let negative = import_catalog(&writer, versioned("Tee", -1).as_bytes()).await;
        assert!(negative.failures[0].reason.contains("version"));
        assert!(!negative.failures[0].retryable);
    }
}
