//! The cart mutations. Each reads what it needs (variants, stock, discount codes) first, then
//! applies its change to the cart conditionally on the version it read, retrying when another
//! change came first; expected failures are `userErrors`.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::Utc;
use storefront_loaders::cart::{
    AttributeRecord, BuyerRecord, CartChangeError, CartLineRecord, CartRecord, Carts,
};
use storefront_loaders::identity::{Email, GuestToken, Owner};

use super::inputs::{
    AttributeInput, CartBuyerIdentityInput, CartErrorCode, CartInput, CartLineInput,
    CartLineUpdateInput, CartUserError, path,
};
use super::types::{Cart, Merchandise};
use super::{cart_token, reach};
use crate::context::service;
use crate::customer::viewer_opt;
use crate::error::{ApiError, ApiResult};
use crate::ids;

/// The most discount codes one cart may hold.
const MAX_CODES: usize = 5;
/// The most attributes of a cart or a line.
const MAX_ATTRIBUTES: usize = 20;
/// The longest note.
const MAX_NOTE_CHARS: usize = 5_000;

/// The result of a cart mutation.
#[derive(SimpleObject)]
pub struct CartPayload {
    /// The cart after the change; null when it was not found.
    pub cart: Option<Cart>,
    /// What was wrong (nothing changed when there is any).
    pub user_errors: Vec<CartUserError>,
}

fn failed(errors: Vec<CartUserError>) -> CartPayload {
    CartPayload {
        cart: None,
        user_errors: errors,
    }
}

fn attributes(
    input: &[AttributeInput],
    at: &[&str],
) -> Result<Vec<AttributeRecord>, CartUserError> {
    if input.len() > MAX_ATTRIBUTES {
        return Err(CartUserError::new(
            &path(at),
            CartErrorCode::TooLong,
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    input
        .iter()
        .map(|a| {
            let key = a.key.trim();
            if key.is_empty() || key.chars().count() > 100 || a.value.chars().count() > 1_000 {
                return Err(CartUserError::new(
                    &path(at),
                    CartErrorCode::Invalid,
                    "an attribute's key is 1–100 characters and its value at most 1,000",
                ));
            }
            Ok(AttributeRecord {
                key: key.to_owned(),
                value: a.value.clone(),
            })
        })
        .collect()
}

fn quantity(value: i32, max: u32, at: &[&str], zero_removes: bool) -> Result<u32, CartUserError> {
    let low = if zero_removes { 0 } else { 1 };
    u32::try_from(value)
        .ok()
        .filter(|q| (low..=max).contains(q))
        .ok_or_else(|| {
            CartUserError::new(
                &path(at),
                CartErrorCode::InvalidQuantity,
                format!("the quantity must be {low} to {max}"),
            )
        })
}

fn buyer(
    input: &CartBuyerIdentityInput,
    current: &BuyerRecord,
) -> Result<BuyerRecord, CartUserError> {
    let mut buyer = current.clone();
    if let Some(email) = &input.email {
        let parsed = Email::parse(email).map_err(|e| {
            CartUserError::new(
                &path(&["buyerIdentity", "email"]),
                CartErrorCode::Invalid,
                e.to_string(),
            )
        })?;
        buyer.email = Some(parsed.to_string());
    }
    if let Some(country) = &input.country_code {
        let country = country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CartUserError::new(
                &path(&["buyerIdentity", "countryCode"]),
                CartErrorCode::Invalid,
                "a country is a 2-letter ISO 3166 code",
            ));
        }
        buyer.country_code = Some(country);
    }
    if let Some(region) = &input.province_code {
        let region = region.trim().to_ascii_uppercase();
        if region.is_empty() || region.len() > 8 {
            return Err(CartUserError::new(
                &path(&["buyerIdentity", "provinceCode"]),
                CartErrorCode::Invalid,
                "a region code is 1–8 characters",
            ));
        }
        buyer.province_code = Some(region);
    }
    Ok(buyer)
}

/// The variant ids of `lines`, or the error of the first that is not a variant ID.
fn variant_ids(lines: &[CartLineInput], at: &str) -> Result<Vec<String>, CartUserError> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            ids::decode_as(&l.merchandise_id, "ProductVariant").map_err(|_| {
                CartUserError::new(
                    &path(&[at, &i.to_string(), "merchandiseId"]),
                    CartErrorCode::MerchandiseNotFound,
                    "not a ProductVariant ID",
                )
            })
        })
        .collect()
}

/// Adds `lines` (their variants in `ids`) to `cart`: a variant already in the cart with the
/// same attributes gets the quantity added to its line.
fn add_lines(
    cart: &mut CartRecord,
    lines: &[CartLineInput],
    ids: &[String],
    max_quantity: u32,
    at: &str,
) -> Result<(), CartUserError> {
    for (i, (line, variant)) in lines.iter().zip(ids).enumerate() {
        let index = i.to_string();
        let wanted = quantity(
            line.quantity,
            max_quantity,
            &[at, &index, "quantity"],
            false,
        )?;
        let attrs = attributes(&line.attributes, &[at, &index, "attributes"])?;
        match cart
            .lines
            .iter_mut()
            .find(|l| &l.variant_id == variant && l.attributes == attrs)
        {
            Some(existing) => {
                existing.quantity = existing
                    .quantity
                    .saturating_add(wanted)
                    .min(max_quantity + 1);
                if existing.quantity > max_quantity {
                    return Err(CartUserError::new(
                        &path(&[at, &index, "quantity"]),
                        CartErrorCode::InvalidQuantity,
                        format!("a line holds at most {max_quantity}"),
                    ));
                }
            }
            None => cart.lines.push(CartLineRecord {
                id: storefront_loaders::hash::random_hex(8),
                variant_id: variant.clone(),
                quantity: wanted,
                attributes: attrs,
            }),
        }
    }
    Ok(())
}

/// Checks what `cart` now holds against the catalog: every variant exists, no variant is
/// wanted beyond its stock, and the cart holds no more lines than allowed.
fn check_lines(
    cart: &CartRecord,
    merchandise: &Merchandise,
    max_lines: usize,
) -> Result<(), CartUserError> {
    if cart.lines.len() > max_lines {
        return Err(CartUserError::new(
            &[],
            CartErrorCode::TooManyLines,
            format!("a cart holds at most {max_lines} lines"),
        ));
    }
    let mut wanted: std::collections::BTreeMap<&str, i64> = Default::default();
    for line in &cart.lines {
        *wanted.entry(&line.variant_id).or_default() += i64::from(line.quantity);
    }
    // Variants this change did not read were added by a concurrent change, which checked
    // them itself.
    for (variant, quantity) in wanted
        .into_iter()
        .filter(|(v, _)| merchandise.asked.contains(*v))
    {
        if !merchandise.variants.contains_key(variant) {
            return Err(CartUserError::new(
                &[],
                CartErrorCode::MerchandiseNotFound,
                format!("`{}` is not sold", ids::encode("ProductVariant", variant).0),
            ));
        }
        let available = merchandise.stock.get(variant).copied().unwrap_or(0).max(0);
        if quantity > available {
            return Err(CartUserError {
                quantity_available: Some(available),
                ..CartUserError::new(
                    &[],
                    CartErrorCode::InsufficientStock,
                    format!("only {available} in stock"),
                )
            });
        }
    }
    Ok(())
}

/// Normalises entered codes; unknown codes are refused (codes that exist but do not apply
/// now stay on the cart, with `applicable: false` and the reason).
async fn checked_codes(
    ctx: &Context<'_>,
    input: &[String],
    at: &[&str],
) -> ApiResult<Result<Vec<String>, CartUserError>> {
    let mut codes: Vec<String> = Vec::new();
    for code in input {
        let code = code.trim().to_ascii_uppercase();
        if code.is_empty()
            || code.len() > 50
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(Err(CartUserError::new(
                &path(at),
                CartErrorCode::InvalidDiscountCode,
                "a code is 1–50 letters, digits, '-' or '_'",
            )));
        }
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    if codes.len() > MAX_CODES {
        return Ok(Err(CartUserError::new(
            &path(at),
            CartErrorCode::InvalidDiscountCode,
            format!("at most {MAX_CODES} codes"),
        )));
    }
    let found = service::<Carts>(ctx)?.store.discounts(&codes).await?;
    if let Some(unknown) = codes.iter().find(|c| !found.iter().any(|d| &d.code == *c)) {
        return Ok(Err(CartUserError::new(
            &path(at),
            CartErrorCode::InvalidDiscountCode,
            format!("`{unknown}` is not a discount code"),
        )));
    }
    Ok(Ok(codes))
}

/// Applies `change` to the cart behind `cart_id` (with `variants` read first), and answers
/// with the cart as stored.
async fn change_cart(
    ctx: &Context<'_>,
    cart_id: &ID,
    variants: Vec<String>,
    mut change: impl FnMut(&mut CartRecord, &Merchandise) -> Result<(), CartUserError> + Send,
) -> ApiResult<CartPayload> {
    let carts = service::<Carts>(ctx)?;
    let Some((token, current)) = reach(ctx, cart_id).await? else {
        return Ok(failed(vec![not_found()]));
    };
    let owner = current.owner.clone();
    let mut wanted = variants;
    wanted.extend(current.lines.iter().map(|l| l.variant_id.clone()));
    let merchandise = Merchandise::load(ctx, wanted).await?;
    let config = &carts.config;
    let ttl = config.ttl(matches!(owner, Owner::Guest(_)));
    let changed = carts
        .store
        .modify(&token.digest(), ttl, |cart| {
            if cart.owner != owner {
                return Err(not_found());
            }
            if cart.order_id.is_some() {
                return Err(CartUserError::new(
                    &[],
                    CartErrorCode::AlreadyCheckedOut,
                    "the cart was checked out; start a new one",
                ));
            }
            change(cart, &merchandise)?;
            check_lines(cart, &merchandise, config.max_lines)
        })
        .await;
    match changed {
        Ok((cart, ())) => Ok(CartPayload {
            cart: Some(Cart::build(ctx, token.as_str().to_owned(), cart).await?),
            user_errors: Vec::new(),
        }),
        Err(CartChangeError::NotFound) => Ok(failed(vec![not_found()])),
        Err(CartChangeError::Refused(error)) => Ok(failed(vec![error])),
        Err(CartChangeError::Store(e)) => Err(ApiError::from(e)),
    }
}

fn not_found() -> CartUserError {
    CartUserError::new(
        &path(&["cartId"]),
        CartErrorCode::CartNotFound,
        "no such cart",
    )
}

/// The cart mutations.
#[derive(Default)]
pub struct CartMutation;

/// The cart mutations.
#[Object]
impl CartMutation {
    /// Creates a cart. Signed in, it is the customer's (only they reach it); otherwise its
    /// id is the only key to it, so keep the id private.
    async fn cart_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new cart.", default)] input: CartInput,
    ) -> ApiResult<CartPayload> {
        let carts = service::<Carts>(ctx)?;
        let config = &carts.config;
        let ids = match variant_ids(&input.lines, "lines") {
            Ok(ids) => ids,
            Err(e) => return Ok(failed(vec![e])),
        };
        let codes =
            match checked_codes(ctx, &input.discount_codes, &["input", "discountCodes"]).await? {
                Ok(codes) => codes,
                Err(e) => return Ok(failed(vec![e])),
            };
        let token = GuestToken::generate();
        let owner = match viewer_opt(ctx) {
            Some(viewer) => Owner::Customer(viewer.sub().to_owned()),
            None => Owner::Guest(token.digest()),
        };
        let now = Utc::now();
        let mut cart = CartRecord {
            owner,
            lines: Vec::new(),
            discount_codes: codes,
            note: String::new(),
            attributes: Vec::new(),
            buyer: BuyerRecord::default(),
            created_at: now,
            updated_at: now,
            version: 0,
            order_id: None,
        };
        let merchandise = Merchandise::load(ctx, ids.clone()).await?;
        let built = (|| {
            add_lines(&mut cart, &input.lines, &ids, config.max_quantity, "lines")?;
            check_lines(&cart, &merchandise, config.max_lines)?;
            cart.attributes = attributes(&input.attributes, &["input", "attributes"])?;
            if let Some(identity) = &input.buyer_identity {
                cart.buyer = buyer(identity, &cart.buyer)?;
            }
            if let Some(note) = &input.note {
                if note.chars().count() > MAX_NOTE_CHARS {
                    return Err(CartUserError::new(
                        &path(&["input", "note"]),
                        CartErrorCode::TooLong,
                        format!("at most {MAX_NOTE_CHARS} characters"),
                    ));
                }
                cart.note.clone_from(note);
            }
            Ok(())
        })();
        if let Err(e) = built {
            return Ok(failed(vec![e]));
        }
        let ttl = config.ttl(matches!(cart.owner, Owner::Guest(_)));
        carts.store.create(&token.digest(), &cart, ttl).await?;
        if let Owner::Customer(sub) = &cart.owner {
            carts.set_current(sub, &token).await?;
        }
        Ok(CartPayload {
            cart: Some(Cart::build(ctx, token.as_str().to_owned(), cart).await?),
            user_errors: Vec::new(),
        })
    }

    /// Adds lines; a variant already in the cart (with the same attributes) gets the
    /// quantity added to its line.
    async fn cart_lines_add(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart.")] cart_id: ID,
        #[graphql(desc = "The lines to add.")] lines: Vec<CartLineInput>,
    ) -> ApiResult<CartPayload> {
        let ids = match variant_ids(&lines, "lines") {
            Ok(ids) => ids,
            Err(e) => return Ok(failed(vec![e])),
        };
        let max = service::<Carts>(ctx)?.config.max_quantity;
        change_cart(ctx, &cart_id, ids.clone(), |cart, _| {
            add_lines(cart, &lines, &ids, max, "lines")
        })
        .await
    }

    /// Changes lines' quantities or attributes; a quantity of 0 removes the line.
    async fn cart_lines_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart.")] cart_id: ID,
        #[graphql(desc = "The changes.")] lines: Vec<CartLineUpdateInput>,
    ) -> ApiResult<CartPayload> {
        let max = service::<Carts>(ctx)?.config.max_quantity;
        change_cart(ctx, &cart_id, Vec::new(), |cart, _| {
            for (i, update) in lines.iter().enumerate() {
                let index = i.to_string();
                let id = line_id(&update.id, &["lines", &index, "id"])?;
                let Some(position) = cart.lines.iter().position(|l| l.id == id) else {
                    return Err(CartUserError::new(
                        &path(&["lines", &index, "id"]),
                        CartErrorCode::LineNotFound,
                        "no such line in the cart",
                    ));
                };
                if let Some(attrs) = &update.attributes {
                    cart.lines[position].attributes =
                        attributes(attrs, &["lines", &index, "attributes"])?;
                }
                if let Some(q) = update.quantity {
                    match quantity(q, max, &["lines", &index, "quantity"], true)? {
                        0 => {
                            cart.lines.remove(position);
                        }
                        q => cart.lines[position].quantity = q,
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// Removes lines.
    async fn cart_lines_remove(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart.")] cart_id: ID,
        #[graphql(desc = "The lines to remove.")] line_ids: Vec<ID>,
    ) -> ApiResult<CartPayload> {
        change_cart(ctx, &cart_id, Vec::new(), |cart, _| {
            for (i, raw) in line_ids.iter().enumerate() {
                let at = ["lineIds".to_owned(), i.to_string()];
                let id = line_id(raw, &[&at[0], &at[1]])?;
                let before = cart.lines.len();
                cart.lines.retain(|l| l.id != id);
                if cart.lines.len() == before {
                    return Err(CartUserError::new(
                        &at,
                        CartErrorCode::LineNotFound,
                        "no such line in the cart",
                    ));
                }
            }
            Ok(())
        })
        .await
    }

    /// Replaces the cart's discount codes (an empty list removes them all).
    async fn cart_discount_codes_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart.")] cart_id: ID,
        #[graphql(desc = "The codes.")] discount_codes: Vec<String>,
    ) -> ApiResult<CartPayload> {
        let codes = match checked_codes(ctx, &discount_codes, &["discountCodes"]).await? {
            Ok(codes) => codes,
            Err(e) => return Ok(failed(vec![e])),
        };
        change_cart(ctx, &cart_id, Vec::new(), |cart, _| {
            cart.discount_codes.clone_from(&codes);
            Ok(())
        })
        .await
    }

    /// Changes who is buying (taxes follow the country and region).
    async fn cart_buyer_identity_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart.")] cart_id: ID,
        #[graphql(desc = "Who is buying.")] buyer_identity: CartBuyerIdentityInput,
    ) -> ApiResult<CartPayload> {
        change_cart(ctx, &cart_id, Vec::new(), |cart, _| {
            cart.buyer = buyer(&buyer_identity, &cart.buyer)?;
            Ok(())
        })
        .await
    }

    /// Changes the note to the merchant.
    async fn cart_note_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart.")] cart_id: ID,
        #[graphql(desc = "The note.")] note: String,
    ) -> ApiResult<CartPayload> {
        if note.chars().count() > MAX_NOTE_CHARS {
            return Ok(failed(vec![CartUserError::new(
                &path(&["note"]),
                CartErrorCode::TooLong,
                format!("at most {MAX_NOTE_CHARS} characters"),
            )]));
        }
        change_cart(ctx, &cart_id, Vec::new(), |cart, _| {
            cart.note.clone_from(&note);
            Ok(())
        })
        .await
    }
}

fn line_id(id: &ID, at: &[&str]) -> Result<String, CartUserError> {
    ids::decode_as(id, "CartLine").map_err(|_| {
        CartUserError::new(&path(at), CartErrorCode::LineNotFound, "not a CartLine ID")
    })
}

/// The token of a cart ID, for other domains (checkout).
pub fn token_of(id: &ID) -> Option<GuestToken> {
    cart_token(id)
}
