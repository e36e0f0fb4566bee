//! Mutations read their own writes: the request's loader forgets what it has read before and
//! after each root mutation field, so neither the mutation nor what runs after it in the same
//! request (a batch shares one loader) is answered from before the write.

use std::sync::Arc;

use async_graphql::extensions::{ExtensionContext, ResolveInfo};
use storefront_loaders::StoreLoader;

/// The request's loader when the field about to resolve is a root field of the mutation type
/// named `mutation_type` (the loader must then forget before and after it); `None` for every
/// other field. Called by [`crate::guard::Guard`] for each field.
pub fn loader_to_reset<'a>(
    ctx: &'a ExtensionContext<'_>,
    info: &ResolveInfo<'_>,
    mutation_type: &str,
) -> Option<&'a Arc<StoreLoader>> {
    let root_mutation = info.parent_type == mutation_type && info.path_node.parent.is_none();
    root_mutation
        .then(|| ctx.data_opt::<Arc<StoreLoader>>())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Context, EmptySubscription, Object, Request, Schema};
    use storefront_loaders::store::{Key, RedbTable, Table};

    fn key() -> Key {
        Key::new("THING", "1")
    }

    async fn exists(ctx: &Context<'_>) -> bool {
        let loader = ctx.data::<Arc<StoreLoader>>().expect("loader");
        loader.load_one(key()).await.expect("load").is_some()
    }

    struct Query;
    #[Object]
    impl Query {
        async fn exists(&self, ctx: &Context<'_>) -> bool {
            exists(ctx).await
        }
    }

    struct Mutation;
    #[Object]
    impl Mutation {
        async fn create(&self, ctx: &Context<'_>) -> bool {
            let table = ctx.data::<Arc<dyn Table>>().expect("table");
            table.put(key().to_item(), None).await.expect("write");
            exists(ctx).await
        }
    }

    #[tokio::test]
    async fn a_mutation_sees_what_it_wrote_after_a_query_of_the_same_request_read_it() {
        let table: Arc<dyn Table> = Arc::new(RedbTable::in_memory().expect("memory"));
        let schema = Schema::build(Query, Mutation, EmptySubscription)
            .data(Arc::clone(&table))
            .extension(crate::guard::Guard {
                read_own_writes: Some("Mutation"),
                ..Default::default()
            })
            .finish();
        // Two operations sharing one loader, as the operations of one batched request do.
        let loader = StoreLoader::new(Arc::clone(&table));
        let run = |document: &'static str| {
            let request = Request::new(document).data(Arc::clone(&loader));
            storefront_loaders::Batched::new(schema.execute(request), Arc::clone(&loader))
        };
        let before = run("{ exists }").await;
        assert_eq!(before.data.to_string(), "{exists: false}");
        let created = run("mutation { create }").await;
        assert_eq!(created.data.to_string(), "{create: true}", "{created:?}");
        let after = run("{ exists }").await;
        assert_eq!(after.data.to_string(), "{exists: true}");
    }
}
