//! The one place a domain is registered: [`domains!`](crate::domains) builds the schema's
//! merged query and mutation roots, the `Node` interface with `node` / `nodes`, and the list
//! of domains the gateway configures and opens, from one line per domain.
//!
//! A domain `x` registered as `x(path::to::DOMAIN) => [TypeA, TypeB]` provides, in
//! `resolvers/src/x/`: `Query` and `Mutation` (object types; `async_graphql::EmptyMutation`
//! for none), the node types named in the brackets and, when there are any, a plain `Node`
//! enum with one variant per node type and `resolve_nodes(ctx, &[(type, id)])`. In
//! `loaders/src/x/` it provides the
//! [`Domain`](storefront_loaders::domain::Domain) value (config, engines, cacheable keys).
//! A domain with live updates also provides `Subscription` and is named once more after the
//! list, in `subscriptions: [x]`: those roots are merged into the subscription root.

/// The most IDs one `nodes` call may ask for.
pub const MAX_NODES: usize = 250;

/// Registers the gateway's domains; see the module documentation.
#[macro_export]
macro_rules! domains {
    // A domain without node types provides neither `Node` nor `resolve_nodes`.
    (@nodes $module:ident [] $ctx:ident $targets:ident $found:ident) => {};
    (@nodes $module:ident [ $( $node:ident ),+ ] $ctx:ident $targets:ident $found:ident) => {
        let names: &[&str] = &[$( stringify!($node) ),+];
        let mine: Vec<usize> = (0..$targets.len())
            .filter(|i| names.contains(&$targets[*i].0.as_str()))
            .collect();
        if !mine.is_empty() {
            let asked: Vec<(String, String)> =
                mine.iter().map(|i| $targets[*i].clone()).collect();
            let answers = $crate::$module::resolve_nodes($ctx, &asked).await?;
            for (i, answer) in mine.into_iter().zip(answers) {
                $found[i] = answer.map(|node| match node {
                    $( $crate::$module::Node::$node(value) => Node::$node(value), )+
                });
            }
        }
    };
    (
        $( $module:ident ( $domain:path ) => [ $( $node:ident ),* ] ),+ ;
        subscriptions: [ $( $live:ident ),+ $(,)? ] $(;)?
    ) => {
        /// The storefront's live updates (over WebSocket, `graphql-transport-ws`).
        #[derive(async_graphql::MergedSubscription, Default)]
        pub struct SubscriptionRoot($( $crate::$live::Subscription ),+);

        /// The storefront's queries.
        #[derive(async_graphql::MergedObject, Default)]
        pub struct QueryRoot($( $crate::$module::Query, )+ NodeQuery);

        /// The storefront's mutations.
        #[derive(async_graphql::MergedObject, Default)]
        pub struct MutationRoot($( $crate::$module::Mutation ),+);

        /// An object with a globally unique ID, fetchable with `node(id:)`.
        #[derive(async_graphql::Interface, Clone)]
        #[graphql(field(name = "id", ty = "async_graphql::ID", desc = "Globally unique, opaque ID."))]
        pub enum Node {
            $( $(
                #[doc = concat!("A ", stringify!($node), ".")]
                $node($crate::$module::$node),
            )* )+
        }

        /// Every domain, in registration order.
        pub static DOMAINS: &[&dyn storefront_loaders::domain::Domain] = &[$( &$domain ),+];

        /// The type names that have global IDs.
        const NODE_TYPES: &[&str] = &[$( $( stringify!($node), )* )+];

        async fn resolve_nodes(
            ctx: &async_graphql::Context<'_>,
            targets: &[(String, String)],
        ) -> $crate::error::ApiResult<Vec<Option<Node>>> {
            for (kind, _) in targets {
                if !NODE_TYPES.contains(&kind.as_str()) {
                    return Err($crate::ApiError::new(
                        $crate::ErrorCode::InvalidId,
                        format!("`{kind}` is not a type with global IDs"),
                    ));
                }
            }
            #[allow(unused_mut)]
            let mut found: Vec<Option<Node>> = targets.iter().map(|_| None).collect();
            $( $crate::domains!(@nodes $module [ $( $node ),* ] ctx targets found); )+
            Ok(found)
        }

        /// Lookups of any object by its global ID.
        #[derive(Default)]
        pub struct NodeQuery;

        /// Lookups of any object by its global ID.
        #[async_graphql::Object]
        impl NodeQuery {
            /// The object with this ID; null when none exists.
            async fn node(
                &self,
                ctx: &async_graphql::Context<'_>,
                #[graphql(desc = "A global ID.")] id: async_graphql::ID,
            ) -> $crate::error::ApiResult<Option<Node>> {
                let target = $crate::ids::decode(&id)?;
                Ok(resolve_nodes(ctx, &[target]).await?.pop().flatten())
            }

            /// The objects with these IDs, in the same order; null for each that does not exist.
            #[graphql(complexity = "ids.len() * child_complexity + 1")]
            async fn nodes(
                &self,
                ctx: &async_graphql::Context<'_>,
                #[graphql(desc = "Global IDs, at most 250.")] ids: Vec<async_graphql::ID>,
            ) -> $crate::error::ApiResult<Vec<Option<Node>>> {
                if ids.len() > $crate::registry::MAX_NODES {
                    return Err($crate::ApiError::bad_input(format!(
                        "ask for at most {} IDs at once, not {}",
                        $crate::registry::MAX_NODES,
                        ids.len()
                    )));
                }
                let targets = ids
                    .iter()
                    .map($crate::ids::decode)
                    .collect::<$crate::error::ApiResult<Vec<_>>>()?;
                resolve_nodes(ctx, &targets).await
            }
        }
    };
}
