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
}

/// A line that was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFailure {
    /// 1-based line number in the file.
    pub line: usize,
    /// Why.
    pub reason: String,
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
    /// Lines that were not applied.
    pub failures: Vec<LineFailure>,
}

impl ImportReport {
    fn record(&mut self, line: usize, result: Result<WriteOutcome, String>) {
        match result {
            Ok(WriteOutcome::Created) => self.created += 1,
            Ok(WriteOutcome::Updated) => self.updated += 1,
            Ok(WriteOutcome::Unchanged) => self.unchanged += 1,
            Err(reason) => self.failures.push(LineFailure { line, reason }),
        }
    }

    /// A one-line summary ("3 created, 1 updated, 0 unchanged, 2 failed").
    pub fn summary(&self) -> String {
        format!(
            "{} created, {} updated, {} unchanged, {} failed",
            self.created,
            self.updated,
            self.unchanged,
            self.failures.len()
        )
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
    })
}

fn reason(e: CatalogWriteError) -> String {
    e.to_string()
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
            Err(e) => Err(e),
            Ok(text) => match serde_json::from_str::<ProductLine>(&text) {
                Err(e) => Err(format!("invalid product line: {e}")),
                Ok(parsed) => match draft_of(parsed) {
                    Err(e) => Err(e),
                    Ok(draft) => writer
                        .upsert_product(&draft, Utc::now())
                        .await
                        .map_err(reason),
                },
            },
        };
        report.record(number, result);
    }
    report
}

/// Applies an inventory feed: one `{"sku", "quantity"}` per line, setting absolute stock.
pub async fn import_inventory(writer: &CatalogWriter, reader: impl BufRead) -> ImportReport {
    let mut report = ImportReport::default();
    for (number, line) in numbered_lines(reader) {
        let result = match line {
            Err(e) => Err(e),
            Ok(text) => match serde_json::from_str::<InventoryLine>(&text) {
                Err(e) => Err(format!("invalid inventory line: {e}")),
                Ok(parsed) => writer
                    .set_inventory(&parsed.sku, parsed.quantity)
                    .await
                    .map_err(reason),
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
}
