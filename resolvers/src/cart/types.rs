//! The cart as the API shows it: its lines with their merchandise and cost, what the whole
//! costs, its discount codes, and whether it is ready for checkout.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::Utc;
use storefront_loaders::cart::{
    CartCost, CartRecord, Carts, LineInput, PricedLine, price, tax_rate,
};
use storefront_loaders::catalog::{CatalogLoads, ProductRecord, VariantRecord};

use crate::catalog::{Money, ProductVariant};
use crate::context::{loader, service};
use crate::error::ApiResult;
use crate::ids;
use crate::scalars::DateTime;

/// A key and a value, on a cart or a line.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A discount code entered on the cart.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct CartDiscountCode {
    /// The code.
    pub code: String,
    /// Whether it takes something off this cart now.
    pub applicable: bool,
    /// Why it does not, when it does not.
    pub reason: Option<String>,
}

/// Who is buying.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct CartBuyerIdentity {
    /// The buyer's email.
    pub email: Option<String>,
    /// ISO 3166 country code (taxes and shipping are computed for it).
    pub country_code: Option<String>,
    /// Region (state, province) code.
    pub province_code: Option<String>,
}

/// What a line costs.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartLineCost {
    /// The price of one unit.
    pub amount_per_quantity: Money,
    /// Unit price × quantity.
    pub subtotal_amount: Money,
    /// After discounts.
    pub total_amount: Money,
}

/// What the cart costs.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartCostSummary {
    /// The merchandise before discounts.
    pub subtotal_amount: Money,
    /// What discounts take off.
    pub total_discount_amount: Money,
    /// Tax: included in the prices where the buyer's country taxes inclusively, added on top
    /// where it does not; part of `totalAmount` either way.
    pub total_tax_amount: Money,
    /// What the buyer pays for the merchandise, with tax (shipping is chosen at checkout).
    pub total_amount: Money,
}

/// Why a cart cannot be checked out yet.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartBlockerCode {
    /// It has no lines.
    Empty,
    /// A line's variant no longer exists.
    MerchandiseNotFound,
    /// A line wants more than is in stock.
    InsufficientStock,
    /// It was checked out already.
    AlreadyCheckedOut,
}

/// A reason a cart is not ready for checkout.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct CartCheckoutBlocker {
    /// What, for programs.
    pub code: CartBlockerCode,
    /// What, for people.
    pub message: String,
    /// The line it is about, when one.
    pub line_id: Option<ID>,
}

/// A line of a cart.
#[derive(Clone)]
pub struct CartLine {
    id: String,
    quantity: u32,
    attributes: Vec<Attribute>,
    variant: Option<(Arc<VariantRecord>, Arc<str>)>,
    cost: PricedLine,
    currency: Arc<str>,
}

/// A line of a cart.
#[Object]
impl CartLine {
    /// The line's id (stable within its cart).
    async fn id(&self) -> ID {
        ids::encode("CartLine", &self.id)
    }

    /// How many.
    async fn quantity(&self) -> u32 {
        self.quantity
    }

    /// The variant bought; null when it no longer exists.
    async fn merchandise(&self) -> Option<ProductVariant> {
        self.variant
            .as_ref()
            .map(|(v, currency)| ProductVariant::new(Arc::clone(v), currency))
    }

    /// The line's attributes.
    async fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// What the line costs.
    async fn cost(&self) -> CartLineCost {
        let money = |amount| Money::new(amount, &self.currency);
        CartLineCost {
            amount_per_quantity: money(self.cost.unit_price),
            subtotal_amount: money(self.cost.subtotal),
            total_amount: money(self.cost.total),
        }
    }
}

/// A page of a cart's lines, in Relay connection form.
#[derive(SimpleObject)]
pub struct CartLineConnection {
    /// The lines of the page, each with its cursor.
    pub edges: Vec<CartLineEdge>,
    /// The lines of the page.
    pub nodes: Vec<CartLine>,
    /// Where the page sits in the whole list.
    pub page_info: crate::connection::PageInfo,
}

/// One line of a page and the cursor that points at it.
#[derive(SimpleObject)]
pub struct CartLineEdge {
    /// Opaque position of this line: pass it as `after`.
    pub cursor: String,
    /// The line.
    pub node: CartLine,
}

/// A cart: what a shopper is about to buy.
pub struct Cart {
    token: String,
    record: CartRecord,
    lines: Vec<CartLine>,
    cost: CartCost,
    currency: Arc<str>,
    blockers: Vec<CartCheckoutBlocker>,
}

/// The variants, their products' currencies and their stock, for a cart's lines.
pub struct Merchandise {
    /// The variant ids it was read for.
    pub asked: std::collections::HashSet<String>,
    /// Variants by id, with their product's currency.
    pub variants: HashMap<String, (Arc<VariantRecord>, Arc<str>)>,
    /// Stock by variant id.
    pub stock: HashMap<String, i64>,
}

impl Merchandise {
    /// Reads what `variant_ids` are, through the request's loader.
    pub async fn load(
        ctx: &Context<'_>,
        variant_ids: impl IntoIterator<Item = String>,
    ) -> ApiResult<Self> {
        let ids: Vec<String> = variant_ids.into_iter().collect();
        let loads = CatalogLoads(loader(ctx)?);
        let variants = loads.variants(&ids).await?;
        let product_ids: Vec<String> = variants.values().map(|v| v.product_id.clone()).collect();
        let products: HashMap<String, Arc<ProductRecord>> = loads.products(&product_ids).await?;
        let stock = loads.stock(&ids).await?;
        let variants = variants
            .into_iter()
            .filter_map(|(id, v)| {
                let currency: Arc<str> = products.get(&v.product_id)?.currency.as_str().into();
                Some((id, (v, currency)))
            })
            .collect();
        Ok(Self {
            asked: ids.into_iter().collect(),
            variants,
            stock,
        })
    }
}

impl Cart {
    /// The cart `record` reached with `token`, priced now.
    pub async fn build(ctx: &Context<'_>, token: String, record: CartRecord) -> ApiResult<Self> {
        let carts = service::<Carts>(ctx)?;
        let merchandise =
            Merchandise::load(ctx, record.lines.iter().map(|l| l.variant_id.clone())).await?;
        let inputs: Vec<LineInput> = record
            .lines
            .iter()
            .map(|l| LineInput {
                line_id: l.id.clone(),
                unit_price: merchandise
                    .variants
                    .get(&l.variant_id)
                    .map(|(v, _)| v.price)
                    .unwrap_or_default(),
                quantity: l.quantity,
            })
            .collect();
        let found = carts.store.discounts(&record.discount_codes).await?;
        let rate = tax_rate(
            &carts.config.tax_rates,
            record.buyer.country_code.as_deref(),
            record.buyer.province_code.as_deref(),
        );
        let cost = price(
            &inputs,
            &record.discount_codes,
            &found,
            rate,
            None,
            Utc::now(),
        );
        let currency: Arc<str> = merchandise
            .variants
            .values()
            .next()
            .map_or_else(|| "USD".into(), |(_, c)| Arc::clone(c));
        let mut blockers = Vec::new();
        let blocker = |code, message: String, line: Option<&str>| CartCheckoutBlocker {
            code,
            message,
            line_id: line.map(|l| ids::encode("CartLine", l)),
        };
        if record.order_id.is_some() {
            blockers.push(blocker(
                CartBlockerCode::AlreadyCheckedOut,
                "the cart was checked out; start a new one".into(),
                None,
            ));
        }
        if record.lines.is_empty() {
            blockers.push(blocker(
                CartBlockerCode::Empty,
                "the cart is empty".into(),
                None,
            ));
        }
        let mut lines = Vec::with_capacity(record.lines.len());
        for (line, cost) in record.lines.iter().zip(cost.lines.iter().cloned()) {
            let variant = merchandise.variants.get(&line.variant_id).cloned();
            let available = merchandise
                .stock
                .get(&line.variant_id)
                .copied()
                .unwrap_or(0);
            if variant.is_none() {
                blockers.push(blocker(
                    CartBlockerCode::MerchandiseNotFound,
                    "this item is no longer sold".into(),
                    Some(&line.id),
                ));
            } else if i64::from(line.quantity) > available {
                blockers.push(blocker(
                    CartBlockerCode::InsufficientStock,
                    format!("only {} in stock", available.max(0)),
                    Some(&line.id),
                ));
            }
            lines.push(CartLine {
                id: line.id.clone(),
                quantity: line.quantity,
                attributes: line
                    .attributes
                    .iter()
                    .map(|a| Attribute {
                        key: a.key.clone(),
                        value: a.value.clone(),
                    })
                    .collect(),
                variant,
                cost,
                currency: Arc::clone(&currency),
            });
        }
        Ok(Self {
            token,
            record,
            lines,
            cost,
            currency,
            blockers,
        })
    }
}

/// A cart: what a shopper is about to buy.
#[Object]
impl Cart {
    /// Globally unique and unguessable: it is the key to a guest's cart, so keep it private.
    async fn id(&self) -> ID {
        ids::encode("Cart", &self.token)
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.record.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.record.updated_at)
    }

    /// Its lines, in the order they were added (a cart holds at most `cart.max_lines`, 50 by
    /// default), as a Relay connection.
    #[graphql(complexity = "crate::connection::complexity(first, None, child_complexity)")]
    async fn lines(
        &self,
        #[graphql(desc = "How many (1–250).", default = 100)] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<CartLineConnection> {
        let first = usize::try_from(first.unwrap_or(100).clamp(1, 250)).unwrap_or(100);
        let start = match after {
            Some(cursor) => crate::connection::decode_cursor::<usize>(&cursor)? + 1,
            None => 0,
        };
        let page: Vec<(usize, &CartLine)> = self
            .lines
            .iter()
            .enumerate()
            .skip(start)
            .take(first)
            .collect();
        let edges: Vec<CartLineEdge> = page
            .iter()
            .map(|(i, line)| CartLineEdge {
                cursor: crate::connection::encode_cursor(i),
                node: (*line).clone(),
            })
            .collect();
        Ok(CartLineConnection {
            page_info: crate::connection::PageInfo {
                has_next_page: start + page.len() < self.lines.len(),
                has_previous_page: start > 0,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            nodes: page.into_iter().map(|(_, l)| l.clone()).collect(),
            edges,
        })
    }

    /// How many units in all.
    async fn total_quantity(&self) -> u32 {
        self.record.lines.iter().map(|l| l.quantity).sum()
    }

    /// What it costs.
    async fn cost(&self) -> CartCostSummary {
        let money = |amount| Money::new(amount, &self.currency);
        CartCostSummary {
            subtotal_amount: money(self.cost.subtotal),
            total_discount_amount: money(self.cost.discount_total),
            total_tax_amount: money(self.cost.tax_total),
            total_amount: money(self.cost.total),
        }
    }

    /// The discount codes entered, and whether each applies.
    async fn discount_codes(&self) -> Vec<CartDiscountCode> {
        self.cost
            .codes
            .iter()
            .map(|c| CartDiscountCode {
                code: c.code.clone(),
                applicable: c.applicable,
                reason: c.reason.clone(),
            })
            .collect()
    }

    /// A note to the merchant.
    async fn note(&self) -> &str {
        &self.record.note
    }

    /// The cart's attributes.
    async fn attributes(&self) -> Vec<Attribute> {
        self.record
            .attributes
            .iter()
            .map(|a| Attribute {
                key: a.key.clone(),
                value: a.value.clone(),
            })
            .collect()
    }

    /// Who is buying.
    async fn buyer_identity(&self) -> CartBuyerIdentity {
        let buyer = &self.record.buyer;
        CartBuyerIdentity {
            email: buyer.email.clone(),
            country_code: buyer.country_code.clone(),
            province_code: buyer.province_code.clone(),
        }
    }

    /// Whether `checkoutComplete` can take it now.
    async fn checkout_ready(&self) -> bool {
        self.blockers.is_empty()
    }

    /// Why it cannot be checked out yet (empty when it can).
    async fn checkout_blockers(&self) -> &[CartCheckoutBlocker] {
        &self.blockers
    }
}

/// What a sign-in did to a variant of the carts.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartMergeKind {
    /// The guest's line joined the customer's cart.
    Added,
    /// The guest's quantity was added to the customer's line.
    Combined,
    /// The quantity was lowered to what is in stock.
    ClippedToStock,
    /// The line was left out (none in stock, or the other cart was kept).
    Dropped,
}

/// A change a sign-in made to the carts.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct CartMergeChange {
    /// The variant.
    pub merchandise_id: ID,
    /// Its quantity in the customer's cart before.
    pub quantity_before: u32,
    /// Its quantity after.
    pub quantity_after: u32,
    /// What happened.
    pub kind: CartMergeKind,
}
