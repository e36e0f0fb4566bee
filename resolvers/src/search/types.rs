//! Search results: the connection with its count, facets and suggestions, and predictive
//! search's answer.

use async_graphql::{Enum, SimpleObject};
use serde_json::{Value, json};
use storefront_loaders::search::{Facet, FacetKind, Filter, SearchResults};

use crate::catalog::{Category, Product};
use crate::connection::{PageInfo, ProductConnection, ProductEdge};

/// How a filter's values are picked.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    /// Any of several values.
    List,
    /// A price band.
    PriceRange,
    /// True or false.
    Boolean,
}

/// One value of a filter, with how many results picking it leaves.
#[derive(SimpleObject, Debug, Clone)]
pub struct SearchFilterValue {
    /// Stable id (`filter.p.vendor.acme`).
    pub id: String,
    /// Display text.
    pub label: String,
    /// Products matching the query, the other kinds' filters, and this value.
    pub count: u64,
    /// The `productFilters` entry that picks this value, as JSON.
    pub input: String,
}

/// A filter of the filter panel: one kind (vendor, price, an option, …) with its values.
#[derive(SimpleObject, Debug, Clone)]
pub struct SearchFilter {
    /// Stable id (`filter.p.vendor`).
    pub id: String,
    /// Display text.
    pub label: String,
    /// How values are picked.
    #[graphql(name = "type")]
    pub kind: FilterType,
    /// The values, most products first.
    pub values: Vec<SearchFilterValue>,
}

/// A page of search results.
#[derive(SimpleObject)]
pub struct SearchResultConnection {
    /// The products of the page, each with its cursor.
    pub edges: Vec<ProductEdge>,
    /// The products of the page.
    pub nodes: Vec<Product>,
    /// Where the page sits in the whole list.
    pub page_info: PageInfo,
    /// How many products match in all.
    pub total_count: u64,
    /// The filter panel's filters, with counts.
    pub product_filters: Vec<SearchFilter>,
    /// Corrected queries, when nothing matched.
    pub suggestions: Vec<String>,
}

fn cents_text(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The `productFilters` entry of a filter, as its GraphQL input.
pub fn filter_input(filter: &Filter) -> Value {
    match filter {
        Filter::Category(h) => json!({"category": h}),
        Filter::Vendor(v) => json!({"vendor": v}),
        Filter::ProductType(t) => json!({"productType": t}),
        Filter::Tag(t) => json!({"tag": t}),
        Filter::Price { min, max } => {
            json!({"price": {"min": min.map(cents_text), "max": max.map(cents_text)}})
        }
        Filter::Available(a) => json!({"available": a}),
        Filter::VariantOption { name, value } => {
            json!({"variantOption": {"name": name, "value": value}})
        }
    }
}

fn value_id(facet: &str, label: &str) -> String {
    let slug: String = label
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    format!("{facet}.{slug}")
}

impl From<&Facet> for SearchFilter {
    fn from(facet: &Facet) -> Self {
        Self {
            id: facet.id.clone(),
            label: facet.label.clone(),
            kind: match facet.kind {
                FacetKind::List => FilterType::List,
                FacetKind::PriceRange => FilterType::PriceRange,
                FacetKind::Boolean => FilterType::Boolean,
            },
            values: facet
                .values
                .iter()
                .map(|v| SearchFilterValue {
                    id: value_id(&facet.id, &v.label),
                    label: v.label.clone(),
                    count: v.count,
                    input: filter_input(&v.input).to_string(),
                })
                .collect(),
        }
    }
}

impl SearchResultConnection {
    /// The connection of a page and what the search found besides.
    pub fn new(page: ProductConnection, results: &SearchResults) -> Self {
        Self {
            edges: page.edges,
            nodes: page.nodes,
            page_info: page.page_info,
            total_count: results.total,
            product_filters: results.facets.iter().map(SearchFilter::from).collect(),
            suggestions: results.suggestions.clone(),
        }
    }
}

/// A whole query predictive search suggests.
#[derive(SimpleObject, Debug, Clone)]
pub struct SearchQuerySuggestion {
    /// The query.
    pub text: String,
}

/// What predictive search suggests for a partial query.
#[derive(SimpleObject)]
pub struct PredictiveSearchResult {
    /// Products, best match first.
    pub products: Vec<Product>,
    /// Categories whose names match.
    pub categories: Vec<Category>,
    /// Whole queries.
    pub queries: Vec<SearchQuerySuggestion>,
}
