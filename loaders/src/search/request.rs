//! What a search asks for and what it answers, whichever engine runs it: the query, filters
//! by dimension, the order, the page, and the results with facets and suggestions.

use serde::{Deserialize, Serialize};

/// The most filters one search may carry.
pub const MAX_FILTERS: usize = 25;
/// The most values a list facet shows (the most products first).
pub const MAX_FACET_VALUES: usize = 50;

/// The price bands of the price facet, in cents: `[from, to)`, the last open-ended.
pub const PRICE_BANDS: &[(i64, Option<i64>)] = &[
    (0, Some(2_500)),
    (2_500, Some(5_000)),
    (5_000, Some(10_000)),
    (10_000, Some(20_000)),
    (20_000, Some(50_000)),
    (50_000, None),
];

/// One filter; filters of one dimension are alternatives (OR), different dimensions all
/// apply (AND), as storefront filter panels work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Filter {
    /// Filed under the category with this handle, or under one of its descendants.
    Category(String),
    /// Made by this vendor (case-insensitive).
    Vendor(String),
    /// Of this product type (case-insensitive).
    ProductType(String),
    /// Carrying this tag (case-insensitive).
    Tag(String),
    /// Priced within `[min, max]` cents (some variant is).
    Price {
        /// Lowest price, in cents.
        min: Option<i64>,
        /// Highest price, in cents.
        max: Option<i64>,
    },
    /// Can (true) or cannot (false) be bought now.
    Available(bool),
    /// Some variant has this option value.
    VariantOption {
        /// The option ("Size").
        name: String,
        /// Its value ("M").
        value: String,
    },
}

/// A filter dimension: filters with equal dimensions are alternatives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// Category.
    Category,
    /// Vendor.
    Vendor,
    /// Product type.
    ProductType,
    /// Tag.
    Tag,
    /// Price.
    Price,
    /// Availability.
    Available,
    /// One option, by lowercase name.
    Option(String),
}

impl Filter {
    /// The dimension the filter narrows.
    pub fn dimension(&self) -> Dimension {
        match self {
            Filter::Category(_) => Dimension::Category,
            Filter::Vendor(_) => Dimension::Vendor,
            Filter::ProductType(_) => Dimension::ProductType,
            Filter::Tag(_) => Dimension::Tag,
            Filter::Price { .. } => Dimension::Price,
            Filter::Available(_) => Dimension::Available,
            Filter::VariantOption { name, .. } => Dimension::Option(name.to_lowercase()),
        }
    }
}

/// Orders of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SearchSort {
    /// Best match first.
    Relevance,
    /// Lowest price first.
    Price,
    /// Oldest first.
    CreatedAt,
    /// Most sold first.
    BestSelling,
}

/// Where a result sits in its order: its sort value and product id (cursors carry it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The sort value (score, cents, seconds or units, as the order has it).
    pub value: f64,
    /// The product id, which breaks ties.
    pub id: String,
}

/// A search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The shopper's text; empty matches every product.
    pub query: String,
    /// Narrowing.
    pub filters: Vec<Filter>,
    /// Order.
    pub sort: SearchSort,
    /// The order reversed.
    pub reverse: bool,
    /// How many results at most.
    pub limit: usize,
    /// Continue after (or, backward, before) this position.
    pub cursor: Option<Position>,
    /// Read backward from the cursor (or the end).
    pub backward: bool,
    /// Count facets too.
    pub facets: bool,
}

impl SearchRequest {
    /// The search behind predictive search: the best `limit` matches of a partial query,
    /// without filters or facets.
    pub fn predictive(query: &str, limit: usize) -> Self {
        Self {
            query: query.to_owned(),
            filters: vec![],
            sort: SearchSort::Relevance,
            reverse: false,
            limit,
            cursor: None,
            backward: false,
            facets: false,
        }
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The product.
    pub id: String,
    /// Its position, for cursors.
    pub position: Position,
}

/// How a facet's values are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FacetKind {
    /// Pick any of the values.
    List,
    /// Pick a price band.
    PriceRange,
    /// Pick true or false.
    Boolean,
}

/// One value of a facet and how many results it would leave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacetValue {
    /// Display text.
    pub label: String,
    /// Products matching the query, the other dimensions' filters, and this value.
    pub count: u64,
    /// The filter that picks this value.
    pub input: Filter,
}

/// A facet: one filter dimension with its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facet {
    /// Stable id (`filter.p.vendor`).
    pub id: String,
    /// Display text.
    pub label: String,
    /// How values are picked.
    pub kind: FacetKind,
    /// Values with their counts.
    pub values: Vec<FacetValue>,
}

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// The page, in order (backward reads are already in list order).
    pub hits: Vec<Hit>,
    /// More results follow the page in the direction read.
    pub has_more: bool,
    /// How many products match in all.
    pub total: u64,
    /// Facets (when asked for).
    pub facets: Vec<Facet>,
    /// Corrected queries, when nothing matched.
    pub suggestions: Vec<String>,
}

/// A category found by predictive search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryHit {
    /// Its id.
    pub id: String,
    /// Its handle.
    pub handle: String,
    /// Its title.
    pub title: String,
}

/// What predictive search found for a partial query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// Products, best match first.
    pub products: Vec<String>,
    /// Categories whose names match.
    pub categories: Vec<CategoryHit>,
    /// Whole queries the shopper may mean.
    pub queries: Vec<String>,
}

/// Facet ids and labels of a dimension.
pub fn facet_names(dimension: &Dimension, option_label: &str) -> (String, String, FacetKind) {
    match dimension {
        Dimension::Category => (
            "filter.p.category".into(),
            "Category".into(),
            FacetKind::List,
        ),
        Dimension::Vendor => ("filter.p.vendor".into(), "Vendor".into(), FacetKind::List),
        Dimension::ProductType => (
            "filter.p.product_type".into(),
            "Product type".into(),
            FacetKind::List,
        ),
        Dimension::Tag => ("filter.p.tag".into(), "Tag".into(), FacetKind::List),
        Dimension::Price => (
            "filter.v.price".into(),
            "Price".into(),
            FacetKind::PriceRange,
        ),
        Dimension::Available => (
            "filter.v.availability".into(),
            "Availability".into(),
            FacetKind::Boolean,
        ),
        Dimension::Option(name) => (
            format!("filter.v.option.{name}"),
            option_label.to_owned(),
            FacetKind::List,
        ),
    }
}

/// The label of a price band.
pub fn price_band_label(from: i64, to: Option<i64>) -> String {
    match to {
        Some(to) => format!("{} – {}", from / 100, to / 100),
        None => format!("{}+", from / 100),
    }
}

/// The filter of a price band (the band's upper bound is exclusive: one cent below it).
pub fn price_band_filter(from: i64, to: Option<i64>) -> Filter {
    Filter::Price {
        min: Some(from),
        max: to.map(|t| t - 1),
    }
}
