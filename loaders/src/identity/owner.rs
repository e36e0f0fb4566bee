//! Who owns a per-customer object (a cart, an order, a chat session): a signed-in customer,
//! or a guest holding an unguessable token. Objects store the owner; readers must match it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::codes::code_hash;

/// A guest's bearer secret: 256 random bits, shown to the guest once, stored only hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestToken(String);

impl GuestToken {
    /// A fresh token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token a client sent back; `None` when it cannot be one of ours.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (raw.len() == 43 && URL_SAFE_NO_PAD.decode(raw).is_ok()).then(|| Self(raw.to_owned()))
    }

    /// The token, to hand to the guest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is stored: a hash, so the store never holds a usable token.
    pub fn digest(&self) -> String {
        code_hash("guest", &self.0)
    }
}

/// The owner of an object, as stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Owner {
    /// A customer, by `sub`.
    Customer(String),
    /// A guest, by the digest of their token.
    Guest(String),
}

impl Owner {
    /// Whether a request by `customer` (a signed-in `sub`) holding `guest` (a token, if sent)
    /// may act on an object with this owner.
    pub fn permits(&self, customer: Option<&str>, guest: Option<&GuestToken>) -> bool {
        match self {
            Owner::Customer(sub) => customer.is_some_and(|c| c == sub),
            Owner::Guest(digest) => guest.is_some_and(|t| &t.digest() == digest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_is_permitted() {
        let ada = Owner::Customer("ada".into());
        assert!(ada.permits(Some("ada"), None));
        assert!(!ada.permits(Some("bob"), None));
        assert!(!ada.permits(None, Some(&GuestToken::generate())));

        let token = GuestToken::generate();
        let guest = Owner::Guest(token.digest());
        assert!(guest.permits(None, Some(&token)));
        assert!(guest.permits(Some("ada"), Some(&token)));
        assert!(!guest.permits(Some("ada"), None));
        assert!(!guest.permits(None, Some(&GuestToken::generate())));
    }

    #[test]
    fn guest_tokens_are_unguessable_and_parse_back() {
        let a = GuestToken::generate();
        assert_ne!(a, GuestToken::generate());
        assert_eq!(GuestToken::parse(a.as_str()), Some(a.clone()));
        assert_eq!(GuestToken::parse("short"), None);
        assert!(!a.digest().contains(a.as_str()));
    }
}
