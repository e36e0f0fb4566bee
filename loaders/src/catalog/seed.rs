//! The demo catalog: a deterministic, realistic shop (category tree, products with variants,
//! stock) generated from a fixed seed, and written in bulk.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::json;

use super::records::{
    CategoryRecord, ImageRecord, InventoryRecord, OptionRecord, ProductRecord,
    SelectedOptionRecord, VariantRecord, keys,
};
use super::write::{inventory_item, product_items, scopes_of};
use crate::codec::to_item;
use crate::store::{Item, StoreError, Table};

/// How large a demo catalog to make.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Number of products.
    pub products: usize,
    /// Base URL of product images (the S3 / CloudFront origin), without a trailing slash.
    pub asset_base_url: String,
}

/// What a seed wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSummary {
    /// Categories written.
    pub categories: usize,
    /// Products written.
    pub products: usize,
    /// Variants written.
    pub variants: usize,
}

struct Department {
    handle: &'static str,
    title: &'static str,
    children: [(&'static str, &'static str, &'static str); 4],
    sizes: &'static [&'static str],
}

// (handle, title, product type) of each leaf category.
const DEPARTMENTS: [Department; 6] = [
    Department {
        handle: "women",
        title: "Women",
        children: [
            ("women-tops", "Tops", "Top"),
            ("women-dresses", "Dresses", "Dress"),
            ("women-jeans", "Jeans", "Jeans"),
            ("women-shoes", "Shoes", "Shoes"),
        ],
        sizes: &["XS", "S", "M", "L", "XL"],
    },
    Department {
        handle: "men",
        title: "Men",
        children: [
            ("men-shirts", "Shirts", "Shirt"),
            ("men-t-shirts", "T-Shirts", "T-Shirt"),
            ("men-trousers", "Trousers", "Trousers"),
            ("men-jackets", "Jackets", "Jacket"),
        ],
        sizes: &["S", "M", "L", "XL", "XXL"],
    },
    Department {
        handle: "kids",
        title: "Kids",
        children: [
            ("kids-baby", "Baby", "Bodysuit"),
            ("kids-girls", "Girls", "Dress"),
            ("kids-boys", "Boys", "Hoodie"),
            ("kids-toys", "Toys", "Toy"),
        ],
        sizes: &["2Y", "4Y", "6Y", "8Y", "10Y"],
    },
    Department {
        handle: "home",
        title: "Home",
        children: [
            ("home-bedding", "Bedding", "Duvet Cover"),
            ("home-kitchen", "Kitchen", "Mug"),
            ("home-decor", "Decor", "Vase"),
            ("home-bath", "Bath", "Towel"),
        ],
        sizes: &["Small", "Medium", "Large"],
    },
    Department {
        handle: "accessories",
        title: "Accessories",
        children: [
            ("accessories-bags", "Bags", "Bag"),
            ("accessories-hats", "Hats", "Hat"),
            ("accessories-scarves", "Scarves", "Scarf"),
            ("accessories-jewellery", "Jewellery", "Necklace"),
        ],
        sizes: &["One Size", "Large"],
    },
    Department {
        handle: "sports",
        title: "Sports",
        children: [
            ("sports-running", "Running", "Running Shoe"),
            ("sports-yoga", "Yoga", "Yoga Mat"),
            ("sports-cycling", "Cycling", "Cycling Jersey"),
            ("sports-outdoor", "Outdoor", "Rain Jacket"),
        ],
        sizes: &["S", "M", "L", "XL"],
    },
];

const ADJECTIVES: [&str; 24] = [
    "Classic",
    "Everyday",
    "Relaxed",
    "Slim",
    "Vintage",
    "Essential",
    "Premium",
    "Soft",
    "Lightweight",
    "Organic",
    "Heritage",
    "Modern",
    "Cosy",
    "Tailored",
    "Weekend",
    "Urban",
    "Coastal",
    "Alpine",
    "Studio",
    "Signature",
    "Breezy",
    "Rugged",
    "Minimal",
    "Bold",
];
const MATERIALS: [&str; 12] = [
    "Cotton", "Linen", "Wool", "Denim", "Cashmere", "Bamboo", "Leather", "Canvas", "Silk",
    "Merino", "Recycled", "Ceramic",
];
const COLOURS: [&str; 10] = [
    "Black", "White", "Navy", "Olive", "Sand", "Rust", "Grey", "Sky Blue", "Burgundy", "Sage",
];
const VENDORS: [&str; 12] = [
    "Northwind",
    "Acme Apparel",
    "Harbour & Co",
    "Fieldstone",
    "Lumen",
    "Oak Street",
    "Tidewater",
    "Summit Supply",
    "Juniper",
    "Kestrel",
    "Marlow",
    "Pioneer Goods",
];

// (city, state, zip, latitude, longitude)

/// Writes the demo catalog into `table` (products written in bulk, a batch at a time) and
/// marks the store as seeded.
pub async fn seed_demo_catalog(
    table: &Arc<dyn Table>,
    options: &SeedOptions,
) -> Result<SeedSummary, StoreError> {
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_125);
    let epoch: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 1, 1, 9, 0, 0)
        .single()
        .expect("a valid fixed date");

    let categories = demo_categories();
    let mut items: Vec<Item> = Vec::new();
    for category in &categories {
        items.push(to_item(
            &keys::category(&category.id),
            category,
            &[
                ("gsi1pk", json!(keys::CATEGORIES)),
                (
                    "gsi1sk",
                    json!(format!("{:06}#{}", category.position, category.id)),
                ),
            ],
        )?);
        items.push(to_item(
            &keys::category_handle(&category.handle),
            &json!({"category_id": category.id}),
            &[],
        )?);
    }
    table.batch_put(std::mem::take(&mut items)).await?;

    let parents: HashMap<&str, &str> = categories
        .iter()
        .filter_map(|c| Some((c.id.as_str(), c.parent_id.as_deref()?)))
        .collect();
    let categories_ref = &categories;
    let leaves: Vec<(&CategoryRecord, &Department, &str)> = DEPARTMENTS
        .iter()
        .flat_map(|d| {
            d.children.iter().map(move |(handle, _, product_type)| {
                (
                    categories_ref
                        .iter()
                        .find(|c| c.handle == *handle)
                        .expect("every leaf is generated"),
                    d,
                    *product_type,
                )
            })
        })
        .collect();

    let mut used_handles: HashMap<String, usize> = HashMap::new();
    let mut variants_written = 0;
    for n in 0..options.products {
        let (leaf, department, product_type) = leaves[n % leaves.len()];
        let adjective = ADJECTIVES.choose(&mut rng).expect("non-empty");
        let material = MATERIALS.choose(&mut rng).expect("non-empty");
        let title = format!("{adjective} {material} {product_type}");
        let base = slug(&title);
        let count = used_handles.entry(base.clone()).or_insert(0);
        *count += 1;
        let handle = if *count == 1 {
            base
        } else {
            format!("{base}-{count}")
        };
        let vendor = *VENDORS.choose(&mut rng).expect("non-empty");
        let id = format!("{:016x}", rng.random::<u64>());

        let colour = *COLOURS.choose(&mut rng).expect("non-empty");
        let size_count = rng.random_range(1..=department.sizes.len().min(4));
        let first_size = rng.random_range(0..=department.sizes.len() - size_count);
        let sizes = &department.sizes[first_size..first_size + size_count];
        let base_cents: i64 = rng.random_range(8..=180) * 100 + [99, 0, 50][rng.random_range(0..3)];
        let on_sale = rng.random_bool(0.2);

        let mut variants = Vec::with_capacity(sizes.len());
        let mut stock = Vec::with_capacity(sizes.len());
        for (i, size) in sizes.iter().enumerate() {
            let cents = base_cents
                + if i + 1 == sizes.len() && sizes.len() > 2 {
                    500
                } else {
                    0
                };
            let price = Decimal::new(cents, 2);
            let variant_id = format!("{id}{i:02}");
            variants.push(VariantRecord {
                id: variant_id.clone(),
                product_id: id.clone(),
                sku: format!("{}-{}", sku_stem(&handle, n), slug(size).to_uppercase()),
                title: format!("{size} / {colour}"),
                selected_options: vec![
                    SelectedOptionRecord {
                        name: "Size".into(),
                        value: (*size).into(),
                    },
                    SelectedOptionRecord {
                        name: "Color".into(),
                        value: colour.into(),
                    },
                ],
                price,
                compare_at_price: on_sale
                    .then(|| (price * Decimal::new(125, 2)).round_dp(0) - Decimal::new(1, 2)),
            });
            let quantity = if rng.random_bool(0.1) {
                0
            } else {
                rng.random_range(1..=200)
            };
            stock.push(InventoryRecord {
                variant_id,
                quantity,
                feed_version: None,
            });
        }
        let available = stock.iter().any(|s| s.quantity > 0);
        let created_at = epoch + Duration::minutes(rng.random_range(0..(60 * 24 * 600)));
        let image_count = rng.random_range(1..=3);
        let images = (1..=image_count)
            .map(|i| ImageRecord {
                url: format!("{}/products/{handle}/{i}.jpg", options.asset_base_url),
                alt_text: Some(format!("{title}, view {i}")),
                width: Some(1200),
                height: Some(1500),
            })
            .collect();
        let product = ProductRecord {
            id: id.clone(),
            handle: handle.clone(),
            title: title.clone(),
            description: format!(
                "The {} {} from {vendor}: {} {} made to last, in {}. {}",
                adjective.to_lowercase(),
                product_type.to_lowercase(),
                material.to_lowercase(),
                leaf.title.to_lowercase(),
                colour.to_lowercase(),
                [
                    "Easy to care for and made to be worn often.",
                    "Designed in small batches with a focus on fit.",
                    "A wardrobe staple our customers come back for.",
                    "Responsibly sourced and built for everyday use.",
                ][rng.random_range(0..4)]
            ),
            vendor: vendor.into(),
            product_type: product_type.into(),
            tags: vec![
                material.to_lowercase(),
                department.handle.into(),
                if on_sale {
                    "sale".into()
                } else {
                    "new-season".into()
                },
            ],
            category_ids: vec![leaf.id.clone()],
            images,
            options: vec![
                OptionRecord {
                    name: "Size".into(),
                    values: sizes.iter().map(|s| (*s).to_owned()).collect(),
                },
                OptionRecord {
                    name: "Color".into(),
                    values: vec![colour.into()],
                },
            ],
            variant_ids: variants.iter().map(|v| v.id.clone()).collect(),
            currency: "USD".into(),
            min_price: variants.iter().map(|v| v.price).min().unwrap_or_default(),
            max_price: variants.iter().map(|v| v.price).max().unwrap_or_default(),
            sales: rng.random_range(0..5000),
            created_at,
            updated_at: created_at,
            feed_version: None,
        };
        let mut in_categories = BTreeSet::from([leaf.id.clone()]);
        if let Some(parent) = parents.get(leaf.id.as_str()) {
            in_categories.insert((*parent).to_owned());
        }
        items.extend(product_items(
            &product,
            &variants,
            &scopes_of(&in_categories, vendor),
            available,
        )?);
        for s in &stock {
            items.push(inventory_item(s)?);
        }
        variants_written += variants.len();
        if items.len() >= 5_000 {
            table.batch_put(std::mem::take(&mut items)).await?;
        }
    }
    items.push(to_item(
        &keys::seed_marker(),
        &json!({"products": options.products, "seeded_at": Utc::now()}),
        &[],
    )?);
    table.batch_put(items).await?;
    Ok(SeedSummary {
        categories: categories.len(),
        products: options.products,
        variants: variants_written,
    })
}

fn sku_stem(handle: &str, n: usize) -> String {
    let initials: String = handle
        .split('-')
        .filter_map(|w| w.chars().next())
        .collect::<String>()
        .to_uppercase();
    format!("{initials}{n:06}")
}

/// A URL slug of `text`: lowercase ASCII letters and digits joined by single hyphens.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn demo_categories() -> Vec<CategoryRecord> {
    let mut all = Vec::new();
    let mut position = 0;
    for d in &DEPARTMENTS {
        let parent_id = format!("cat-{}", d.handle);
        let child_ids: Vec<String> = d
            .children
            .iter()
            .map(|(h, _, _)| format!("cat-{h}"))
            .collect();
        position += 1;
        all.push(CategoryRecord {
            id: parent_id.clone(),
            handle: d.handle.into(),
            title: d.title.into(),
            description: format!("Everything in {}.", d.title.to_lowercase()),
            parent_id: None,
            child_ids: child_ids.clone(),
            position,
        });
        for ((handle, title, _), id) in d.children.iter().zip(child_ids) {
            position += 1;
            all.push(CategoryRecord {
                id,
                handle: (*handle).into(),
                title: (*title).into(),
                description: format!("{} for {}.", title, d.title.to_lowercase()),
                parent_id: Some(parent_id.clone()),
                child_ids: vec![],
                position,
            });
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_and_hyphenated() {
        assert_eq!(slug("Classic Cotton T-Shirt"), "classic-cotton-t-shirt");
        assert_eq!(slug("  Harbour & Co!  "), "harbour-co");
    }

    #[test]
    fn the_demo_category_tree_has_thirty_nodes_under_six_departments() {
        let categories = demo_categories();
        assert_eq!(categories.len(), 30);
        assert_eq!(
            categories.iter().filter(|c| c.parent_id.is_none()).count(),
            6
        );
    }
}
