//! The conformance suite of the `Table` interface: every engine must pass it unchanged.
//!
//! Each run writes under partitions of its own (a fresh namespace), so it can run against a
//! shared DynamoDB table repeatedly and alongside other tests. A failed check panics, like a
//! test assertion.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    CancellationReason, Condition, Index, Item, Key, Query, StoreError, Table, Update, WriteOp,
};

/// Runs every check of the suite against `table`.
pub async fn run_all(table: &dyn Table) {
    let ns = uuid::Uuid::new_v4().simple().to_string();
    let ns = ns.as_str();
    puts_and_gets_round_trip(table, ns).await;
    conditional_writes_change_nothing_when_the_condition_fails(table, ns).await;
    updates_create_missing_items_and_add_to_numbers(table, ns).await;
    batch_get_reads_hundreds_of_keys_ignoring_missing_and_duplicates(table, ns).await;
    queries_read_a_partition_by_prefix_in_both_directions_and_paginate(table, ns).await;
    queries_filter_before_counting_the_limit(table, ns).await;
    secondary_indexes_are_sparse_and_follow_writes(table, ns).await;
    transactions_are_all_or_nothing_and_report_each_condition(table, ns).await;
    transactions_reject_invalid_shapes(table, ns).await;
    batch_put_loads_many_items_into_the_indexes(table, ns).await;
    concurrent_conditional_decrements_never_oversell(table, ns).await;
}

fn item(v: Value) -> Item {
    v.as_object().expect("test items are objects").clone()
}

fn keys_of(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["sk"].as_str().expect("sk").to_owned())
        .collect()
}

async fn puts_and_gets_round_trip(table: &dyn Table, ns: &str) {
    let pk = format!("{ns}#basic");
    let it = item(
        json!({"pk": pk, "sk": "A", "name": "Tee", "n": 3, "tags": ["x", "y"], "nested": {"a": true}, "none": null}),
    );
    table.put(it.clone(), None).await.expect("put");
    let got = table.get(&Key::new(&pk, "A")).await.expect("get");
    assert_eq!(got, Some(it), "a put item reads back unchanged");
    assert_eq!(
        table.get(&Key::new(&pk, "missing")).await.expect("get"),
        None,
        "a missing item reads as None"
    );
    let bad = item(json!({"pk": pk, "sk": 5}));
    assert!(
        matches!(table.put(bad, None).await, Err(StoreError::Validation(_))),
        "a non-string sort key is rejected"
    );
}

async fn conditional_writes_change_nothing_when_the_condition_fails(table: &dyn Table, ns: &str) {
    let pk = format!("{ns}#cond");
    let key = Key::new(&pk, "A");
    let first = item(json!({"pk": pk, "sk": "A", "v": 1}));
    table
        .put(first.clone(), Some(Condition::ItemNotExists))
        .await
        .expect("create when missing");
    let second = item(json!({"pk": pk, "sk": "A", "v": 2}));
    let err = table
        .put(second.clone(), Some(Condition::ItemNotExists))
        .await
        .expect_err("second create must fail");
    assert!(matches!(err, StoreError::ConditionFailed), "got {err:?}");
    assert_eq!(table.get(&key).await.expect("get"), Some(first.clone()));

    table
        .put(second.clone(), Some(Condition::equals("v", 1)))
        .await
        .expect("optimistic update when v = 1");
    assert_eq!(table.get(&key).await.expect("get"), Some(second.clone()));

    let err = table
        .delete(&key, Some(Condition::equals("v", 1)))
        .await
        .expect_err("stale delete must fail");
    assert!(matches!(err, StoreError::ConditionFailed));
    assert!(table.get(&key).await.expect("get").is_some());
    table
        .delete(&key, Some(Condition::ItemExists))
        .await
        .expect("delete");
    assert_eq!(table.get(&key).await.expect("get"), None);
    table
        .delete(&key, None)
        .await
        .expect("deleting a missing item is fine");
}

async fn updates_create_missing_items_and_add_to_numbers(table: &dyn Table, ns: &str) {
    let pk = format!("{ns}#upd");
    let key = Key::new(&pk, "stock");
    let after = table
        .update(&key, &Update::add("qty", 5).and_set("sku", "S-1"), None)
        .await
        .expect("update creates");
    assert_eq!(
        after,
        item(json!({"pk": pk, "sk": "stock", "qty": 5, "sku": "S-1"}))
    );
    let after = table
        .update(
            &key,
            &Update::add("qty", -3),
            Some(Condition::AtLeast("qty".into(), 3)),
        )
        .await
        .expect("decrement with enough stock");
    assert_eq!(after["qty"], json!(2));
    let err = table
        .update(
            &key,
            &Update::add("qty", -3),
            Some(Condition::AtLeast("qty".into(), 3)),
        )
        .await
        .expect_err("not enough stock");
    assert!(matches!(err, StoreError::ConditionFailed));
    let remove = Update {
        remove: vec!["sku".into()],
        ..Update::default()
    };
    let after = table.update(&key, &remove, None).await.expect("remove");
    assert_eq!(after, item(json!({"pk": pk, "sk": "stock", "qty": 2})));
}

async fn batch_get_reads_hundreds_of_keys_ignoring_missing_and_duplicates(
    table: &dyn Table,
    ns: &str,
) {
    let pk = format!("{ns}#batch");
    let items: Vec<Item> = (0..230)
        .map(|i| item(json!({"pk": pk, "sk": format!("{i:04}"), "i": i})))
        .collect();
    table.batch_put(items).await.expect("batch put");
    let mut keys: Vec<Key> = (0..250).map(|i| Key::new(&pk, format!("{i:04}"))).collect();
    keys.push(Key::new(&pk, "0001"));
    let found = table.batch_get(&keys).await.expect("batch get");
    let got: BTreeSet<String> = keys_of(&found).into_iter().collect();
    assert_eq!(found.len(), 230, "every existing key once, no missing ones");
    assert_eq!(got.len(), 230);
    assert!(table.batch_get(&[]).await.expect("empty").is_empty());
}

async fn queries_read_a_partition_by_prefix_in_both_directions_and_paginate(
    table: &dyn Table,
    ns: &str,
) {
    let pk = format!("{ns}#q");
    let mut items = vec![];
    for i in 0..25 {
        items.push(item(
            json!({"pk": pk, "sk": format!("LINE#{i:03}"), "i": i}),
        ));
    }
    items.push(item(json!({"pk": pk, "sk": "HEADER"})));
    items.push(item(json!({"pk": pk, "sk": "LINF"})));
    // A neighbouring partition whose name extends this one must never leak in.
    items.push(item(json!({"pk": format!("{pk}x"), "sk": "LINE#000"})));
    table.batch_put(items).await.expect("batch put");

    let all = table
        .query(&Query::partition(Index::Primary, &pk, 100))
        .await
        .expect("query");
    assert_eq!(all.items.len(), 27);
    assert!(all.next.is_none());

    let expected: Vec<String> = (0..25).map(|i| format!("LINE#{i:03}")).collect();
    for (limit, forward) in [(7, true), (7, false), (25, true), (1, false)] {
        let mut q = Query::partition(Index::Primary, &pk, limit).begins_with("LINE#");
        q.forward = forward;
        let mut seen = vec![];
        loop {
            let page = table.query(&q).await.expect("query page");
            assert!(page.items.len() <= limit);
            seen.extend(keys_of(&page.items));
            match page.next {
                Some(next) => q.start = Some(next),
                None => break,
            }
        }
        let mut want = expected.clone();
        if !forward {
            want.reverse();
        }
        assert_eq!(seen, want, "limit {limit}, forward {forward}");
    }
}

async fn queries_filter_before_counting_the_limit(table: &dyn Table, ns: &str) {
    let pk = format!("{ns}#filter");
    let items: Vec<Item> = (0..30)
        .map(|i| item(json!({"pk": pk, "sk": format!("{i:03}"), "even": i % 2 == 0})))
        .collect();
    table.batch_put(items).await.expect("batch put");
    let mut q = Query::partition(Index::Primary, &pk, 4);
    q.filter = Some(Condition::equals("even", true));
    let mut seen = vec![];
    loop {
        let page = table.query(&q).await.expect("query");
        seen.extend(keys_of(&page.items));
        match page.next {
            Some(next) => q.start = Some(next),
            None => break,
        }
    }
    let want: Vec<String> = (0..30).step_by(2).map(|i| format!("{i:03}")).collect();
    assert_eq!(seen, want);
    let first = table
        .query(&Query {
            start: None,
            ..q.clone()
        })
        .await
        .expect("first page");
    assert_eq!(first.items.len(), 4, "a page is filled up to its limit");
}

async fn secondary_indexes_are_sparse_and_follow_writes(table: &dyn Table, ns: &str) {
    let scope = format!("{ns}#ALL");
    let mut items = vec![];
    // Sort keys are unique: DynamoDB does not order items with equal index sort keys.
    for (id, title, price) in [
        ("p1", "banana", "000100"),
        ("p2", "apple", "000200"),
        ("p3", "cherry", "000300"),
        ("p4", "apricot", "000400"),
    ] {
        items.push(item(json!({"pk": format!("{ns}#P#{id}"), "sk": "LIST", "lpk": scope, "ls_title": title, "ls_price": price})));
    }
    // No `ls_title`: must not appear in the title index.
    items.push(item(
        json!({"pk": format!("{ns}#P#p5"), "sk": "LIST", "lpk": scope, "ls_price": "000050"}),
    ));
    table.batch_put(items).await.expect("batch put");

    let ids = |items: &[Item]| -> Vec<String> {
        items
            .iter()
            .map(|i| {
                i["pk"]
                    .as_str()
                    .expect("pk")
                    .rsplit('#')
                    .next()
                    .expect("id")
                    .to_owned()
            })
            .collect()
    };
    let by_title = table
        .query(&Query::partition(Index::ListByTitle, &scope, 10))
        .await
        .expect("query index");
    assert_eq!(ids(&by_title.items), ["p2", "p4", "p1", "p3"]);

    let mut q = Query::partition(Index::ListByTitle, &scope, 1);
    q.forward = false;
    let mut seen = vec![];
    loop {
        let page = table.query(&q).await.expect("page");
        seen.extend(ids(&page.items));
        match page.next {
            Some(next) => q.start = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["p3", "p1", "p4", "p2"]);

    let prefixed = table
        .query(&Query::partition(Index::ListByTitle, &scope, 10).begins_with("ap"))
        .await
        .expect("prefix");
    assert_eq!(ids(&prefixed.items), ["p2", "p4"]);

    // Changing an index key moves the entry; removing it drops the entry; deleting the item too.
    table
        .update(
            &Key::new(format!("{ns}#P#p1"), "LIST"),
            &Update::set("ls_title", "aardvark"),
            None,
        )
        .await
        .expect("update index key");
    table
        .update(
            &Key::new(format!("{ns}#P#p3"), "LIST"),
            &Update {
                remove: vec!["ls_title".into()],
                ..Update::default()
            },
            None,
        )
        .await
        .expect("remove index key");
    table
        .delete(&Key::new(format!("{ns}#P#p4"), "LIST"), None)
        .await
        .expect("delete");
    let by_title = table
        .query(&Query::partition(Index::ListByTitle, &scope, 10))
        .await
        .expect("query index");
    assert_eq!(ids(&by_title.items), ["p1", "p2"]);
    let by_price = table
        .query(&Query::partition(Index::ListByPrice, &scope, 10))
        .await
        .expect("price index");
    assert_eq!(ids(&by_price.items), ["p5", "p1", "p2", "p3"]);
}

async fn transactions_are_all_or_nothing_and_report_each_condition(table: &dyn Table, ns: &str) {
    let pk = format!("{ns}#tx");
    table
        .put(item(json!({"pk": pk, "sk": "stock", "qty": 1})), None)
        .await
        .expect("seed");
    let ops = vec![
        WriteOp::Put {
            item: item(json!({"pk": pk, "sk": "order"})),
            condition: Some(Condition::ItemNotExists),
        },
        WriteOp::Update {
            key: Key::new(&pk, "stock"),
            update: Update::add("qty", -2),
            condition: Some(Condition::AtLeast("qty".into(), 2)),
        },
        WriteOp::ConditionCheck {
            key: Key::new(&pk, "stock2"),
            condition: Condition::ItemExists,
        },
    ];
    let err = table
        .transact_write(ops)
        .await
        .expect_err("must be cancelled");
    match err {
        StoreError::TransactionCanceled { reasons } => assert_eq!(
            reasons,
            [
                CancellationReason::None,
                CancellationReason::ConditionalCheckFailed,
                CancellationReason::ConditionalCheckFailed
            ]
        ),
        other => panic!("expected a cancelled transaction, got {other:?}"),
    }
    assert_eq!(
        table.get(&Key::new(&pk, "order")).await.expect("get"),
        None,
        "nothing of a cancelled transaction is written"
    );

    let ops = vec![
        WriteOp::Put {
            item: item(json!({"pk": pk, "sk": "order"})),
            condition: Some(Condition::ItemNotExists),
        },
        WriteOp::Update {
            key: Key::new(&pk, "stock"),
            update: Update::add("qty", -1),
            condition: Some(Condition::AtLeast("qty".into(), 1)),
        },
        WriteOp::Delete {
            key: Key::new(&pk, "gone"),
            condition: None,
        },
        WriteOp::ConditionCheck {
            key: Key::new(&pk, "stock2"),
            condition: Condition::ItemNotExists,
        },
    ];
    table.transact_write(ops).await.expect("commits");
    assert!(
        table
            .get(&Key::new(&pk, "order"))
            .await
            .expect("get")
            .is_some()
    );
    let stock = table.get(&Key::new(&pk, "stock")).await.expect("get");
    assert_eq!(stock.expect("stock")["qty"], json!(0));
}

async fn transactions_reject_invalid_shapes(table: &dyn Table, ns: &str) {
    let pk = format!("{ns}#txbad");
    let twice = vec![
        WriteOp::Put {
            item: item(json!({"pk": pk, "sk": "a"})),
            condition: None,
        },
        WriteOp::Delete {
            key: Key::new(&pk, "a"),
            condition: None,
        },
    ];
    assert!(matches!(
        table.transact_write(twice).await,
        Err(StoreError::Validation(_))
    ));
    let too_many: Vec<WriteOp> = (0..101)
        .map(|i| WriteOp::Put {
            item: item(json!({"pk": pk, "sk": format!("{i}")})),
            condition: None,
        })
        .collect();
    assert!(matches!(
        table.transact_write(too_many).await,
        Err(StoreError::Validation(_))
    ));
    assert!(table.get(&Key::new(&pk, "a")).await.expect("get").is_none());
}

async fn batch_put_loads_many_items_into_the_indexes(table: &dyn Table, ns: &str) {
    let pk = format!("{ns}#bulk");
    let items: Vec<Item> = (0..120)
        .map(|i| item(json!({"pk": pk, "sk": format!("{i:04}"), "gsi1pk": format!("{ns}#G"), "gsi1sk": format!("{:04}", 1000 - i)})))
        .collect();
    table.batch_put(items).await.expect("bulk");
    let page = table
        .query(&Query::partition(Index::Gsi1, format!("{ns}#G"), 200))
        .await
        .expect("gsi");
    assert_eq!(page.items.len(), 120);
    assert_eq!(
        page.items[0]["sk"],
        json!("0119"),
        "ordered by the GSI sort key"
    );
}

async fn concurrent_conditional_decrements_never_oversell(table: &dyn Table, ns: &str) {
    let key = Key::new(format!("{ns}#race"), "stock");
    table
        .put(item(json!({"pk": key.pk, "sk": key.sk, "qty": 10})), None)
        .await
        .expect("seed");
    let decrement = Update::add("qty", -1);
    let attempts =
        (0..25).map(|_| table.update(&key, &decrement, Some(Condition::AtLeast("qty".into(), 1))));
    let results = futures::future::join_all(attempts).await;
    let sold = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(sold, 10, "exactly the stock is sold");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::ConditionFailed)),
        "the rest fail their condition"
    );
    let left = table.get(&key).await.expect("get").expect("stock");
    assert_eq!(left["qty"], json!(0));
}
