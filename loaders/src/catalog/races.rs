//! Race checks of catalog writes, run against every store engine (the embedded one in unit
//! tests, DynamoDB Local in the integration tests).

use std::sync::Arc;

use super::import::{import_catalog, import_inventory};
use super::{Catalog, CatalogWriter, ListingFilter, ListingRequest, ProductSort, Scope};
use crate::store::Table;

const PRODUCT: &str = r#"{"handle":"race-tee","title":"Race Tee","vendor":"Raceco","options":[{"name":"Size","values":["S","M"]}],"variants":[{"sku":"RACE-S","options":{"Size":"S"},"price":"10.00"},{"sku":"RACE-M","options":{"Size":"M"},"price":"10.00"}]}"#;

async fn available_listings(catalog: &Catalog) -> usize {
    catalog
        .list_products(&ListingRequest {
            scope: Scope::Vendor("raceco".into()),
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
}

/// Sells out two variants of one product at the same moment, `rounds` times: the product's
/// listings must say "unavailable" every time (a stock update that decided availability from
/// a sibling's stale stock would leave them "available").
pub async fn concurrent_sell_outs_leave_the_product_unavailable(
    table: Arc<dyn Table>,
    rounds: usize,
) {
    let writer = Arc::new(CatalogWriter::new(Arc::clone(&table)));
    let report = import_catalog(&writer, PRODUCT.as_bytes()).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let catalog = Catalog::new(table);
    for round in 0..rounds {
        let restock = import_inventory(
            &writer,
            "{\"sku\":\"RACE-S\",\"quantity\":5}\n{\"sku\":\"RACE-M\",\"quantity\":5}\n".as_bytes(),
        )
        .await;
        assert!(restock.failures.is_empty(), "{:?}", restock.failures);
        assert_eq!(available_listings(&catalog).await, 1, "round {round}");
        let sell_out = |sku: &'static str| {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move { writer.set_inventory(sku, 0).await })
        };
        let (a, b) = (sell_out("RACE-S"), sell_out("RACE-M"));
        a.await.expect("task").expect("first sell-out");
        b.await.expect("task").expect("second sell-out");
        assert_eq!(
            available_listings(&catalog).await,
            0,
            "round {round}: both variants are sold out, yet the product is listed as available"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbTable;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_sell_outs_on_the_embedded_store() {
        let table: Arc<dyn Table> = Arc::new(RedbTable::in_memory().expect("memory"));
        concurrent_sell_outs_leave_the_product_unavailable(table, 40).await;
    }
}
