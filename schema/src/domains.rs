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

/// What the response cache needs of the domains: which items may be shared, which listings
/// it can follow, and which listings a write changes.
pub const RESPONSE_TAGS: storefront_loaders::TagScheme = storefront_loaders::TagScheme {
    cacheable,
    tracked_partition: |partition| DOMAINS.iter().any(|d| d.tracks_partition(partition)),
    listed_in: |key| DOMAINS.iter().flat_map(|d| d.listed_in(key)).collect(),
};
