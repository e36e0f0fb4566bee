//! Search arguments: sort keys, product filters (each sets one kind), and the kinds of
//! predictive suggestions.

use async_graphql::{Enum, InputObject};
use storefront_loaders::search::document::cents;
use storefront_loaders::search::{Filter, MAX_FILTERS, SearchSort};

use crate::error::{ApiError, ApiResult};
use crate::scalars::Decimal;

/// The orders search results can be sorted in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchSortKeys {
    /// Best match first.
    #[default]
    Relevance,
    /// Lowest price first.
    Price,
    /// Oldest first.
    CreatedAt,
    /// Most sold first.
    BestSelling,
}

impl From<SearchSortKeys> for SearchSort {
    fn from(key: SearchSortKeys) -> Self {
        match key {
            SearchSortKeys::Relevance => SearchSort::Relevance,
            SearchSortKeys::Price => SearchSort::Price,
            SearchSortKeys::CreatedAt => SearchSort::CreatedAt,
            SearchSortKeys::BestSelling => SearchSort::BestSelling,
        }
    }
}

/// A price range; either end may be open.
#[derive(InputObject, Debug, Clone)]
pub struct PriceRangeFilter {
    /// The lowest price.
    pub min: Option<Decimal>,
    /// The highest price.
    pub max: Option<Decimal>,
}

/// One option value a variant must have.
#[derive(InputObject, Debug, Clone)]
pub struct VariantOptionFilter {
    /// The option ("Size").
    pub name: String,
    /// The value ("M").
    pub value: String,
}

/// One search filter: set exactly one field. A facet value's `input` is such an object.
#[derive(InputObject, Debug, Clone, Default)]
pub struct SearchProductFilter {
    /// Products in the category with this handle or in one of its descendants.
    pub category: Option<String>,
    /// Products of this vendor (case-insensitive).
    pub vendor: Option<String>,
    /// Products of this type (case-insensitive).
    pub product_type: Option<String>,
    /// Products with this tag (case-insensitive).
    pub tag: Option<String>,
    /// Products with a variant priced within the range.
    pub price: Option<PriceRangeFilter>,
    /// Products that are (true) or are not (false) in stock.
    pub available: Option<bool>,
    /// Products with a variant that has this option value.
    pub variant_option: Option<VariantOptionFilter>,
}

/// The longest text a filter value may have.
const MAX_FILTER_TEXT: usize = 255;

fn text(what: &str, value: String) -> ApiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_FILTER_TEXT {
        return Err(ApiError::bad_input(format!(
            "`{what}` must be 1 to {MAX_FILTER_TEXT} characters"
        )));
    }
    Ok(trimmed.to_owned())
}

fn price_cents(what: &str, value: Option<Decimal>) -> ApiResult<Option<i64>> {
    value
        .map(|d| {
            if d.0.is_sign_negative() {
                Err(ApiError::bad_input(format!(
                    "`{what}` must not be negative"
                )))
            } else {
                Ok(cents(d.0))
            }
        })
        .transpose()
}

impl SearchProductFilter {
    fn into_filter(self, at: usize) -> ApiResult<Filter> {
        let field = |name: &str| format!("productFilters[{at}].{name}");
        let mut found: Vec<ApiResult<Filter>> = Vec::new();
        if let Some(v) = self.category {
            found.push(text(&field("category"), v).map(|t| Filter::Category(t.to_lowercase())));
        }
        if let Some(v) = self.vendor {
            found.push(text(&field("vendor"), v).map(Filter::Vendor));
        }
        if let Some(v) = self.product_type {
            found.push(text(&field("productType"), v).map(Filter::ProductType));
        }
        if let Some(v) = self.tag {
            found.push(text(&field("tag"), v).map(Filter::Tag));
        }
        if let Some(range) = self.price {
            found.push((|| {
                let min = price_cents(&field("price.min"), range.min)?;
                let max = price_cents(&field("price.max"), range.max)?;
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    return Err(ApiError::bad_input(format!(
                        "{}: `min` is above `max`",
                        field("price")
                    )));
                }
                Ok(Filter::Price { min, max })
            })());
        }
        if let Some(a) = self.available {
            found.push(Ok(Filter::Available(a)));
        }
        if let Some(option) = self.variant_option {
            found.push((|| {
                Ok(Filter::VariantOption {
                    name: text(&field("variantOption.name"), option.name)?,
                    value: text(&field("variantOption.value"), option.value)?,
                })
            })());
        }
        let set = found.len();
        match found.pop() {
            Some(filter) if set == 1 => filter,
            _ => Err(ApiError::bad_input(format!(
                "productFilters[{at}] must set exactly one field, not {set}"
            ))),
        }
    }
}

/// The engine's filters of a search's arguments.
pub fn filters(given: Vec<SearchProductFilter>) -> ApiResult<Vec<Filter>> {
    if given.len() > MAX_FILTERS {
        return Err(ApiError::bad_input(format!(
            "pass at most {MAX_FILTERS} product filters, not {}",
            given.len()
        )));
    }
    let mut filters: Vec<Filter> = given
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.into_filter(i))
        .collect::<ApiResult<_>>()?;
    filters.dedup();
    Ok(filters)
}

/// The kinds of predictive search suggestions.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictiveSearchType {
    /// Products.
    Product,
    /// Categories.
    Category,
    /// Whole queries.
    Query,
}
