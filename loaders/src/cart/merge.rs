//! A customer's current cart, and what becomes of a guest's cart when the guest signs in:
//! merged into the customer's (quantities add up), or the newer or the customer's kept, by
//! config; clipped to stock either way, and every change reported.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::records::{CartLineRecord, CartRecord};
use super::store::CartChangeError;
use super::{Carts, MergePolicy};
use crate::catalog::{InventoryRecord, keys as catalog_keys};
use crate::codec::{from_item, to_item};
use crate::identity::{GuestToken, Owner};
use crate::store::{Condition, Key, StoreError};

/// What happened to one variant of the carts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// The guest's line joined the customer's cart.
    Added,
    /// The guest's quantity was added to the customer's line.
    Combined,
    /// The quantity was lowered to what is in stock.
    ClippedToStock,
    /// The line was left out (none in stock, or the other cart was kept).
    Dropped,
}

/// A change the sign-in made to the carts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeChange {
    /// The variant.
    pub variant_id: String,
    /// Its quantity in the customer's cart before.
    pub before: u32,
    /// Its quantity after.
    pub after: u32,
    /// What happened.
    pub kind: MergeKind,
}

/// The customer's cart after a sign-in with a guest cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The cart's token (its id).
    pub token: String,
    /// The cart.
    pub cart: CartRecord,
    /// What changed.
    pub changes: Vec<MergeChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CurrentCart {
    token: String,
}

fn current_key(sub: &str) -> Key {
    Key::new(format!("CUSTOMER#{sub}"), "CART")
}

impl Carts {
    /// The customer's current cart (the last they created or brought along at sign-in), when
    /// it still exists and is not checked out.
    pub async fn current(&self, sub: &str) -> Result<Option<(GuestToken, CartRecord)>, StoreError> {
        let Some(item) = self.store.table().get(&current_key(sub)).await? else {
            return Ok(None);
        };
        let pointer: CurrentCart = from_item(&item)?;
        let Some(token) = GuestToken::parse(&pointer.token) else {
            return Ok(None);
        };
        Ok(self
            .store
            .get(&token.digest())
            .await?
            .filter(|c| c.order_id.is_none() && c.owner == Owner::Customer(sub.to_owned()))
            .map(|c| (token, c)))
    }

    /// Makes the cart with `token` the customer's current one.
    pub async fn set_current(&self, sub: &str, token: &GuestToken) -> Result<(), StoreError> {
        let item = to_item(
            &current_key(sub),
            &CurrentCart {
                token: token.as_str().to_owned(),
            },
            &[],
        )?;
        self.store.table().put(item, None).await
    }

    /// Brings the guest cart `guest` to the customer `sub` at sign-in, by the configured
    /// policy; `None` when there is no such open guest cart.
    pub async fn merge_guest(
        &self,
        sub: &str,
        guest: &GuestToken,
    ) -> Result<Option<Merged>, StoreError> {
        let guest_digest = guest.digest();
        let Some(guest_cart) = self.store.get(&guest_digest).await? else {
            return Ok(None);
        };
        if guest_cart.order_id.is_some() || guest_cart.owner != Owner::Guest(guest_digest.clone()) {
            return Ok(None);
        }
        let current = self.current(sub).await?;
        let customer = Owner::Customer(sub.to_owned());
        let ttl = self.config.ttl(false);
        let take_guest = match (&current, self.config.merge) {
            (None, _) => true,
            (Some((_, mine)), MergePolicy::KeepNewest) => guest_cart.updated_at > mine.updated_at,
            (Some(_), _) => false,
        };
        if take_guest {
            let stock = self.stock(&guest_cart.lines).await?;
            let mut changes = Vec::new();
            let claimed = self
                .store
                .modify(&guest_digest, ttl, |cart| {
                    if cart.owner != Owner::Guest(guest_digest.clone()) {
                        return Err(());
                    }
                    cart.owner = customer.clone();
                    changes = clip(&mut cart.lines, &stock, &[]);
                    Ok(())
                })
                .await;
            let (cart, ()) = match claimed {
                Ok(done) => done,
                Err(CartChangeError::Store(e)) => return Err(e),
                Err(_) => return Ok(None),
            };
            if let Some((_, mine)) = &current {
                changes.extend(mine.lines.iter().map(|l| MergeChange {
                    variant_id: l.variant_id.clone(),
                    before: l.quantity,
                    after: 0,
                    kind: MergeKind::Dropped,
                }));
            }
            self.set_current(sub, guest).await?;
            return Ok(Some(Merged {
                token: guest.as_str().to_owned(),
                cart,
                changes,
            }));
        }
        let (token, mine) = current.expect("kept only when the customer has a cart");
        let mut changes = Vec::new();
        let cart = if self.config.merge == MergePolicy::Merge {
            let mut all = mine.lines.clone();
            all.extend(guest_cart.lines.iter().cloned());
            let stock = self.stock(&all).await?;
            let guest_lines = guest_cart.lines.clone();
            let max = self.config.max_quantity;
            let max_lines = self.config.max_lines;
            let merged = self
                .store
                .modify(&token.digest(), ttl, |cart| {
                    let before: Vec<CartLineRecord> = cart.lines.clone();
                    for line in &guest_lines {
                        let count = cart.lines.len();
                        match cart.lines.iter_mut().find(|l| {
                            l.variant_id == line.variant_id && l.attributes == line.attributes
                        }) {
                            Some(existing) => {
                                existing.quantity =
                                    existing.quantity.saturating_add(line.quantity).min(max)
                            }
                            None if count < max_lines => cart.lines.push(line.clone()),
                            None => {}
                        }
                    }
                    changes = clip(&mut cart.lines, &stock, &before);
                    for line in &guest_lines {
                        if !cart.lines.iter().any(|l| l.variant_id == line.variant_id)
                            && !changes.iter().any(|c| c.variant_id == line.variant_id)
                        {
                            changes.push(MergeChange {
                                variant_id: line.variant_id.clone(),
                                before: 0,
                                after: 0,
                                kind: MergeKind::Dropped,
                            });
                        }
                    }
                    Ok::<(), ()>(())
                })
                .await;
            match merged {
                Ok((cart, ())) => cart,
                Err(CartChangeError::Store(e)) => return Err(e),
                Err(_) => return Ok(None),
            }
        } else {
            changes = guest_cart
                .lines
                .iter()
                .map(|l| MergeChange {
                    variant_id: l.variant_id.clone(),
                    before: 0,
                    after: 0,
                    kind: MergeKind::Dropped,
                })
                .collect();
            mine
        };
        // The guest cart is spent either way; conditional on the version read, so a change
        // made meanwhile is not lost silently (it stays, as an orphan the TTL removes).
        match self
            .store
            .table()
            .delete(
                &super::keys::cart(&guest_digest),
                Some(Condition::equals("version", guest_cart.version)),
            )
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        Ok(Some(Merged {
            token: token.as_str().to_owned(),
            cart,
            changes,
        }))
    }

    async fn stock(&self, lines: &[CartLineRecord]) -> Result<HashMap<String, i64>, StoreError> {
        let keys: Vec<_> = lines
            .iter()
            .map(|l| catalog_keys::inventory(&l.variant_id))
            .collect();
        let mut stock = HashMap::new();
        for item in self.store.table().batch_get(&keys).await? {
            let record: InventoryRecord = from_item(&item)?;
            stock.insert(record.variant_id, record.quantity);
        }
        Ok(stock)
    }
}

/// Lowers each variant's quantity to its stock (dropping lines with none), and reports how
/// every variant changed from `before`.
fn clip(
    lines: &mut Vec<CartLineRecord>,
    stock: &HashMap<String, i64>,
    before: &[CartLineRecord],
) -> Vec<MergeChange> {
    let had = |variant: &str| -> u32 {
        before
            .iter()
            .filter(|l| l.variant_id == variant)
            .map(|l| l.quantity)
            .sum()
    };
    let mut changes = Vec::new();
    let mut left: HashMap<String, i64> = stock.clone();
    lines.retain_mut(|line| {
        let available = left.entry(line.variant_id.clone()).or_insert(0);
        let wanted = line.quantity;
        let allowed = u32::try_from((*available).max(0))
            .unwrap_or(u32::MAX)
            .min(wanted);
        *available -= i64::from(allowed);
        let previous = had(&line.variant_id);
        let kind = if allowed == 0 {
            Some(MergeKind::Dropped)
        } else if allowed < wanted {
            Some(MergeKind::ClippedToStock)
        } else if previous == 0 && !before.is_empty() {
            Some(MergeKind::Added)
        } else if previous != 0 && previous != allowed {
            Some(MergeKind::Combined)
        } else {
            None
        };
        if let Some(kind) = kind {
            changes.push(MergeChange {
                variant_id: line.variant_id.clone(),
                before: previous,
                after: allowed,
                kind,
            });
        }
        line.quantity = allowed;
        allowed > 0
    });
    changes
}
