//! The gateway's domains, registered once: one line each. Adding a domain `x` means its
//! folders (`loaders/src/x/`, `resolvers/src/x/`), its tests, and one line here.

storefront_resolvers::domains! {
    catalog(storefront_loaders::catalog::DOMAIN) => [Product, ProductVariant, Category],
    fraud(storefront_loaders::fraud::DOMAIN) => [],
    customer(storefront_loaders::identity::DOMAIN) => [Customer],
    location(storefront_loaders::location::DOMAIN) => [],
    cart(storefront_loaders::cart::DOMAIN) => [],
    checkout(storefront_loaders::checkout::DOMAIN) => [],
    events(storefront_loaders::events::DOMAIN) => [],
    search(storefront_loaders::search::DOMAIN) => [],
    recommend(storefront_loaders::recommend::DOMAIN) => [],
    chat(storefront_loaders::chat::DOMAIN) => [],
    shop(storefront_loaders::shop::DOMAIN) => [],
    marketing(storefront_loaders::marketing::DOMAIN) => [];
    subscriptions: [location];
}

/// Whether any domain lets the cache share the item with this key.
pub fn cacheable(key: &storefront_loaders::store::Key) -> bool {
    DOMAINS.iter().any(|domain| domain.cacheable(key))
}

/// Every feed the domains take, in the order the domains are registered.
pub fn feed_names() -> Vec<&'static str> {
    DOMAINS
        .iter()
        .flat_map(|d| d.feeds().iter().copied())
        .collect()
}

/// The domain that takes the feed `feed`, or an error that names the feeds there are.
pub fn feed_domain(
    feed: &str,
) -> Result<&'static dyn storefront_loaders::domain::Domain, UnknownFeed> {
    DOMAINS
        .iter()
        .copied()
        .find(|d| d.feeds().contains(&feed))
        .ok_or_else(|| UnknownFeed {
            feed: feed.to_owned(),
            known: feed_names().join(", "),
        })
}

/// A feed no domain takes.
#[derive(Debug, thiserror::Error)]
#[error("no feed `{feed}` (feeds: {known})")]
pub struct UnknownFeed {
    /// The name asked for.
    pub feed: String,
    /// The feeds there are, comma-separated.
    pub known: String,
}

/// What the response cache needs of the domains: which items may be shared, which listings
/// it can follow, and which listings a write changes.
pub const RESPONSE_TAGS: storefront_loaders::TagScheme = storefront_loaders::TagScheme {
    cacheable,
    tracked_partition: |partition| DOMAINS.iter().any(|d| d.tracks_partition(partition)),
    listed_in: |key| DOMAINS.iter().flat_map(|d| d.listed_in(key)).collect(),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feed_has_one_domain_and_names_the_fields_of_its_key() {
        let feeds = feed_names();
        assert!(feeds.contains(&"inventory") && feeds.contains(&"store-inventory"));
        for feed in &feeds {
            let domain = feed_domain(feed).expect("a domain takes it");
            assert!(!domain.feed_key(feed).is_empty(), "`{feed}` names its key");
            let takers = DOMAINS.iter().filter(|d| d.feeds().contains(feed)).count();
            assert_eq!(takers, 1, "`{feed}` is one domain's");
        }
        let unknown = feed_domain("prices").err().expect("no such feed");
        assert_eq!(
            unknown.to_string(),
            format!("no feed `prices` (feeds: {})", feeds.join(", "))
        );
    }
}
