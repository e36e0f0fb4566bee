//! Mutations read their own writes: the request's loader forgets what it has read before and
//! after each root mutation field, so neither the mutation nor what runs after it in the same
//! request (a batch shares one loader) is answered from before the write.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};
use storefront_loaders::StoreLoader;

/// Installs the rule into a schema whose mutation root type is named `mutation_type`.
pub struct ReadOwnWrites {
    /// The name of the schema's mutation root type.
    pub mutation_type: &'static str,
}

impl ExtensionFactory for ReadOwnWrites {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ReadOwnWritesExtension(self.mutation_type))
    }
}

struct ReadOwnWritesExtension(&'static str);

#[async_trait::async_trait]
impl Extension for ReadOwnWritesExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let root_mutation = info.parent_type == self.0 && info.path_node.parent.is_none();
        let loader = root_mutation
            .then(|| ctx.data_opt::<Arc<StoreLoader>>())
            .flatten();
        if let Some(loader) = loader {
            loader.forget_all();
        }
        let result = next.run(ctx, info).await;
        if let Some(loader) = loader {
            loader.forget_all();
        }
        result
    }
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
            .extension(ReadOwnWrites {
                mutation_type: "Mutation",
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
