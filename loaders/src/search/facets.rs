//! Filters and facet counts of the embedded engine, over a compact row per product whose
//! values are interned symbols: matching a filter is an integer compare, and a facet count
//! is an array increment. Counts of a dimension are taken over the results with every
//! *other* dimension's filters applied, as storefront filter panels expect.

use std::collections::HashMap;

use super::document::SearchDocument;
use super::request::{
    Dimension, Facet, FacetValue, Filter, MAX_FACET_VALUES, PRICE_BANDS, facet_names,
    price_band_filter, price_band_label,
};

/// What kind of value a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Category,
    Vendor,
    ProductType,
    Tag,
    Option,
}

#[derive(Debug, Clone)]
struct Symbol {
    kind: Kind,
    label: String,
    filter: Filter,
    /// For option values: the option's name as first seen, and its lowercase form.
    option: Option<(String, String)>,
}

/// Interned facet values; ids are dense, so counts are arrays.
#[derive(Debug, Default, Clone)]
pub struct Symbols {
    ids: HashMap<(Kind, String), u32>,
    symbols: Vec<Symbol>,
    /// Per symbol: the interned (lowercase) option name of an option value, else `NO_OPTION`.
    option_dims: Vec<u32>,
    option_names: HashMap<String, u32>,
}

const NO_OPTION: u32 = u32::MAX;

/// A filter dimension as a small value, compared in the counting loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Category,
    Vendor,
    ProductType,
    Tag,
    Price,
    Available,
    Option(u32),
}

impl Symbols {
    fn key(kind: Kind, text: &str) -> (Kind, String) {
        (kind, text.trim().to_lowercase())
    }

    fn intern(&mut self, kind: Kind, key: &str, make: impl FnOnce() -> Symbol) -> u32 {
        let key = Self::key(kind, key);
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let id = u32::try_from(self.symbols.len()).expect("fewer than 4 billion facet values");
        let symbol = make();
        let dim = match &symbol.option {
            Some((_, lower)) => self.option_dim(lower),
            None => NO_OPTION,
        };
        self.symbols.push(symbol);
        self.option_dims.push(dim);
        self.ids.insert(key, id);
        id
    }

    fn option_dim(&mut self, lower: &str) -> u32 {
        let next = u32::try_from(self.option_names.len()).expect("fewer than 4 billion options");
        *self.option_names.entry(lower.to_owned()).or_insert(next)
    }

    fn code(&self, dimension: &Dimension) -> Code {
        match dimension {
            Dimension::Category => Code::Category,
            Dimension::Vendor => Code::Vendor,
            Dimension::ProductType => Code::ProductType,
            Dimension::Tag => Code::Tag,
            Dimension::Price => Code::Price,
            Dimension::Available => Code::Available,
            // An option no product has still gets a code of its own, matching no value.
            Dimension::Option(name) => Code::Option(
                self.option_names
                    .get(name)
                    .copied()
                    .unwrap_or(NO_OPTION - 1),
            ),
        }
    }

    fn find(&self, kind: Kind, key: &str) -> Option<u32> {
        self.ids.get(&Self::key(kind, key)).copied()
    }

    fn plain(&mut self, kind: Kind, text: &str, filter: fn(String) -> Filter) -> u32 {
        self.intern(kind, text, || Symbol {
            kind,
            label: text.to_owned(),
            filter: filter(text.to_owned()),
            option: None,
        })
    }

    /// The row of a document, interning its values.
    pub fn row(&mut self, doc: &SearchDocument) -> Row {
        let categories = doc
            .categories
            .iter()
            .map(|c| {
                self.intern(Kind::Category, &c.handle, || Symbol {
                    kind: Kind::Category,
                    label: c.title.clone(),
                    filter: Filter::Category(c.handle.clone()),
                    option: None,
                })
            })
            .collect();
        let tags = doc
            .tags
            .iter()
            .map(|t| self.plain(Kind::Tag, t, Filter::Tag))
            .collect();
        let options = doc
            .options
            .iter()
            .map(|(name, value)| {
                let key = format!("{}\u{1f}{}", name.to_lowercase(), value);
                self.intern(Kind::Option, &key, || Symbol {
                    kind: Kind::Option,
                    label: value.clone(),
                    filter: Filter::VariantOption {
                        name: name.clone(),
                        value: value.clone(),
                    },
                    option: Some((name.clone(), name.to_lowercase())),
                })
            })
            .collect();
        Row {
            categories,
            vendor: self.plain(Kind::Vendor, &doc.vendor, Filter::Vendor),
            product_type: self.plain(Kind::ProductType, &doc.product_type, Filter::ProductType),
            tags,
            options,
            min_price: doc.min_price,
            max_price: doc.max_price,
            available: doc.available,
            created_at: doc.created_at,
            sales: doc.sales,
        }
    }

    /// The symbol a filter asks for, when any product has it (none: the filter matches
    /// nothing).
    fn wanted(&self, filter: &Filter) -> Wanted {
        let symbol = |kind, key: &str| self.find(kind, key).map_or(Wanted::Nothing, Wanted::Symbol);
        match filter {
            Filter::Category(handle) => symbol(Kind::Category, handle),
            Filter::Vendor(v) => symbol(Kind::Vendor, v),
            Filter::ProductType(t) => symbol(Kind::ProductType, t),
            Filter::Tag(t) => symbol(Kind::Tag, t),
            Filter::VariantOption { name, value } => symbol(
                Kind::Option,
                &format!("{}\u{1f}{}", name.to_lowercase(), value),
            ),
            Filter::Price { min, max } => Wanted::Price(min.unwrap_or(0), max.unwrap_or(i64::MAX)),
            Filter::Available(a) => Wanted::Available(*a),
        }
    }
}

/// A product's filterable and sortable values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    categories: Box<[u32]>,
    vendor: u32,
    product_type: u32,
    tags: Box<[u32]>,
    options: Box<[u32]>,
    /// Lowest price, cents.
    pub min_price: i64,
    /// Highest price, cents.
    pub max_price: i64,
    /// In stock.
    pub available: bool,
    /// Epoch seconds.
    pub created_at: i64,
    /// Units sold.
    pub sales: u64,
}

enum Wanted {
    Symbol(u32),
    Nothing,
    Price(i64, i64),
    Available(bool),
}

impl Row {
    fn has(&self, wanted: &Wanted) -> bool {
        match wanted {
            Wanted::Nothing => false,
            Wanted::Symbol(id) => {
                self.vendor == *id
                    || self.product_type == *id
                    || self.categories.contains(id)
                    || self.tags.contains(id)
                    || self.options.contains(id)
            }
            Wanted::Price(min, max) => self.max_price >= *min && self.min_price <= *max,
            Wanted::Available(a) => self.available == *a,
        }
    }
}

/// A request's filters grouped by dimension: a row passes a group when it has any of the
/// group's values.
pub struct FilterGroups {
    groups: Vec<(Dimension, Vec<Wanted>)>,
    codes: Vec<Code>,
}

impl FilterGroups {
    /// Groups `filters` (at most 32 dimensions; more are refused before this).
    pub fn new(symbols: &Symbols, filters: &[Filter]) -> Self {
        let mut groups: Vec<(Dimension, Vec<Wanted>)> = Vec::new();
        for filter in filters {
            let dimension = filter.dimension();
            let wanted = symbols.wanted(filter);
            match groups.iter_mut().find(|(d, _)| *d == dimension) {
                Some((_, list)) => list.push(wanted),
                None => groups.push((dimension, vec![wanted])),
            }
        }
        groups.truncate(32);
        let codes = groups.iter().map(|(d, _)| symbols.code(d)).collect();
        Self { groups, codes }
    }

    fn all(&self) -> u32 {
        if self.groups.len() == 32 {
            u32::MAX
        } else {
            (1u32 << self.groups.len()) - 1
        }
    }

    /// Bit `i` is set when the row passes group `i`.
    fn mask(&self, row: &Row) -> u32 {
        let mut mask = 0;
        for (i, (_, wanted)) in self.groups.iter().enumerate() {
            if wanted.iter().any(|w| row.has(w)) {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// Whether the row passes every group.
    pub fn passes(&self, row: &Row) -> bool {
        self.mask(row) == self.all()
    }
}

/// Counts facet values over rows as they come.
pub struct FacetCounter<'a> {
    symbols: &'a Symbols,
    groups: &'a FilterGroups,
    all: u32,
    /// Per symbol: rows counted for its dimension.
    counts: Vec<u32>,
    price: [u32; PRICE_BANDS.len()],
    available: [u32; 2],
}

impl<'a> FacetCounter<'a> {
    /// A counter for the request's filter groups.
    pub fn new(symbols: &'a Symbols, groups: &'a FilterGroups) -> Self {
        Self {
            symbols,
            groups,
            all: groups.all(),
            counts: vec![0; symbols.symbols.len()],
            price: [0; PRICE_BANDS.len()],
            available: [0; 2],
        }
    }

    /// Counts one row matching the query text; returns whether it passes every filter.
    pub fn count(&mut self, row: &Row) -> bool {
        let missing = if self.all == 0 {
            0
        } else {
            self.all & !self.groups.mask(row)
        };
        // A row counts for a dimension when it passes every other dimension's group: for
        // all of them when it passes everything, or for the one group it fails.
        let only: Option<Code> = match missing {
            0 => None,
            m if m.is_power_of_two() => Some(self.groups.codes[m.trailing_zeros() as usize]),
            _ => return false,
        };
        let counts = |code: Code| only.is_none_or(|o| o == code);
        if counts(Code::Category) {
            for id in &row.categories {
                self.counts[*id as usize] += 1;
            }
        }
        if counts(Code::Vendor) {
            self.counts[row.vendor as usize] += 1;
        }
        if counts(Code::ProductType) {
            self.counts[row.product_type as usize] += 1;
        }
        if counts(Code::Tag) {
            for id in &row.tags {
                self.counts[*id as usize] += 1;
            }
        }
        for id in &row.options {
            if counts(Code::Option(self.symbols.option_dims[*id as usize])) {
                self.counts[*id as usize] += 1;
            }
        }
        if counts(Code::Price) {
            for (i, (from, to)) in PRICE_BANDS.iter().enumerate() {
                if row.max_price >= *from && to.is_none_or(|t| row.min_price < t) {
                    self.price[i] += 1;
                }
            }
        }
        if counts(Code::Available) {
            self.available[usize::from(row.available)] += 1;
        }
        missing == 0
    }

    /// The facets, values with a count only, most products first.
    pub fn facets(self) -> Vec<Facet> {
        let mut lists: Vec<(Dimension, String, Vec<FacetValue>)> = Vec::new();
        for (id, symbol) in self.symbols.symbols.iter().enumerate() {
            let count = self.counts[id];
            if count == 0 {
                continue;
            }
            let (dimension, option_label) = match (&symbol.kind, &symbol.option) {
                (Kind::Category, _) => (Dimension::Category, String::new()),
                (Kind::Vendor, _) => (Dimension::Vendor, String::new()),
                (Kind::ProductType, _) => (Dimension::ProductType, String::new()),
                (Kind::Tag, _) => (Dimension::Tag, String::new()),
                (Kind::Option, Some((label, lower))) => {
                    (Dimension::Option(lower.clone()), label.clone())
                }
                (Kind::Option, None) => continue,
            };
            let value = FacetValue {
                label: symbol.label.clone(),
                count: u64::from(count),
                input: symbol.filter.clone(),
            };
            match lists.iter_mut().find(|(d, _, _)| *d == dimension) {
                Some((_, _, values)) => values.push(value),
                None => lists.push((dimension, option_label, vec![value])),
            }
        }
        let mut facets: Vec<(Dimension, Facet)> = lists
            .into_iter()
            .map(|(dimension, option_label, mut values)| {
                values.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
                values.truncate(MAX_FACET_VALUES);
                let (id, label, kind) = facet_names(&dimension, &option_label);
                (
                    dimension,
                    Facet {
                        id,
                        label,
                        kind,
                        values,
                    },
                )
            })
            .collect();
        let price: Vec<FacetValue> = PRICE_BANDS
            .iter()
            .zip(self.price)
            .filter(|(_, count)| *count > 0)
            .map(|((from, to), count)| FacetValue {
                label: price_band_label(*from, *to),
                count: u64::from(count),
                input: price_band_filter(*from, *to),
            })
            .collect();
        if !price.is_empty() {
            let (id, label, kind) = facet_names(&Dimension::Price, "");
            facets.push((
                Dimension::Price,
                Facet {
                    id,
                    label,
                    kind,
                    values: price,
                },
            ));
        }
        let available: Vec<FacetValue> = [true, false]
            .into_iter()
            .filter(|a| self.available[usize::from(*a)] > 0)
            .map(|a| FacetValue {
                label: if a { "In stock" } else { "Out of stock" }.into(),
                count: u64::from(self.available[usize::from(a)]),
                input: Filter::Available(a),
            })
            .collect();
        if !available.is_empty() {
            let (id, label, kind) = facet_names(&Dimension::Available, "");
            facets.push((
                Dimension::Available,
                Facet {
                    id,
                    label,
                    kind,
                    values: available,
                },
            ));
        }
        facets.sort_by(|a, b| a.0.cmp(&b.0));
        facets.into_iter().map(|(_, f)| f).collect()
    }
}
