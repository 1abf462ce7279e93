use embudo_core::{Event, EventKind, Map, Timestamp, Value};
use embudo_store::{IdentityKind, ProfileId};

use crate::test_support::{START, Shop, properties_of, track_event};

fn at(minutes: i64) -> Timestamp {
    Timestamp::parse(START)
        .unwrap()
        .plus_millis(minutes * 60_000)
}

fn track(id: &str, person: &str, minutes: i64, name: &str, properties: &[(&str, Value)]) -> Event {
    track_event(
        id.to_owned(),
        person,
        at(minutes),
        name,
        properties_of(properties),
    )
}

fn identify(id: &str, anonymous: Option<&str>, user: &str, minutes: i64) -> Event {
    let mut traits = Map::default();
    traits.insert("email".into(), Value::from(format!("{user}@example.com")));
    Event {
        kind: EventKind::Identify,
        name: None,
        anonymous_id: anonymous.map(Into::into),
        user_id: Some(user.into()),
        traits: Value::Map(traits),
        ..track(id, "-", minutes, "-", &[])
    }
}

fn order(id: &str, person: &str, minutes: i64, order_id: &str) -> Event {
    let line = properties_of(&[
        ("product_id", Value::from("p1")),
        ("price", Value::Number(15.0)),
        ("quantity", Value::Number(2.0)),
    ]);
    track(
        id,
        person,
        minutes,
        "Order Completed",
        &[
            ("order_id", Value::from(order_id)),
            ("total", Value::Number(30.0)),
            ("products", Value::List(vec![line])),
        ],
    )
}

fn view(id: &str, person: &str, minutes: i64, product: &str) -> Event {
    track(
        id,
        person,
        minutes,
        "Product Viewed",
        &[("product_id", Value::from(product))],
    )
}

/// Four batches: new people, a person identified, an order; then a merge of two profiles of
/// the batch before and a refund of its order; then an order of the merged person; then more.
fn batches() -> Vec<Vec<Event>> {
    vec![
        vec![
            view("1", "x1", 1, "p1"),
            view("2", "x1", 2, "p2"),
            identify("3", Some("x2"), "u1", 3),
            order("4", "x3", 4, "o-1"),
            view("5", "x4", 5, "p3"),
            // A retried message within the batch.
            view("5", "x4", 5, "p3"),
        ],
        vec![
            identify("6", Some("x1"), "u1", 10),
            track(
                "7",
                "x3",
                11,
                "Order Refunded",
                &[("order_id", Value::from("o-1"))],
            ),
            track(
                "8",
                "x5",
                12,
                "Product Added",
                &[("product_id", Value::from("p2"))],
            ),
        ],
        vec![
            order("9", "x2", 20, "o-2"),
            view("10", "x4", 21, "p1"),
            view("11", "x1", 22, "p3"),
        ],
        vec![view("12", "x3", 30, "p2"), view("13", "x5", 31, "p2")],
    ]
}

/// Everything stored about each person, ids left out (the two paths reserve them in blocks of
/// different sizes).
async fn people(shop: &Shop) -> Vec<String> {
    let store = shop.embudo.store();
    let mut out = Vec::new();
    let identities = [
        (IdentityKind::Anonymous, "x1"),
        (IdentityKind::Anonymous, "x2"),
        (IdentityKind::Anonymous, "x3"),
        (IdentityKind::Anonymous, "x4"),
        (IdentityKind::Anonymous, "x5"),
        (IdentityKind::User, "u1"),
        (IdentityKind::Email, "u1@example.com"),
    ];
    for (kind, value) in identities {
        let mut profile = store
            .profile_by_identity(shop.workspace, kind, value)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{value} has a profile"));
        let id = profile.id;
        profile.id = ProfileId(0);
        profile.anonymous_ids.sort();
        let orders = store.profile_orders(shop.workspace, id).await.unwrap();
        let transitions: Vec<_> = store
            .transitions(shop.workspace, id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.dimension, t.from, t.to, t.at, t.reason))
            .collect();
        let events: Vec<String> = store
            .profile_events(shop.workspace, id, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|logged| logged.event.message_id)
            .collect();
        let orders: Vec<_> = orders
            .into_iter()
            .map(|o| (o.order_id, o.lines, o.refunded, o.total))
            .collect();
        out.push(format!(
            "{value}: {profile:?}\n{orders:?}\n{transitions:?}\n{events:?}"
        ));
    }
    out
}

#[tokio::test]
async fn a_bulk_load_stores_what_appending_and_processing_would() {
    let bulk = Shop::new().await;
    let ordinary = Shop::new().await;
    let mut loader = bulk.embudo.bulk_load(bulk.workspace, 1_000);
    let (mut inserted, mut repeats, mut processed) = (0, 0, 0);
    for batch in batches() {
        let loaded = loader.push(batch.clone()).await.unwrap();
        inserted += loaded.receipt.inserted;
        repeats += loaded.receipt.duplicates;
        processed += loaded.processed.events;
        ordinary
            .embudo
            .ingest(ordinary.workspace, &batch)
            .await
            .unwrap();
        ordinary.embudo.process_all().await.unwrap();
    }
    let loaded = loader.finish().await.unwrap();
    inserted += loaded.receipt.inserted;
    repeats += loaded.receipt.duplicates;
    processed += loaded.processed.events;
    assert_eq!((inserted, repeats, processed), (13, 1, 13));

    let store = bulk.embudo.store();
    assert_eq!(store.log_head().await.unwrap(), 13);
    assert_eq!(
        store.cursor(crate::process::PROFILES_CURSOR).await.unwrap(),
        13
    );
    let log = store.read_log(0, 100).await.unwrap();
    assert!(log.iter().all(|logged| logged.profile_id.is_some()));
    let (bulk_people, ordinary_people) = (people(&bulk).await, people(&ordinary).await);
    for (bulk, ordinary) in bulk_people.iter().zip(&ordinary_people) {
        assert_eq!(bulk, ordinary);
    }
    // The merge, the refund of an order of the batch before, and the order after the merge.
    let u1 = store
        .profile_by_identity(bulk.workspace, IdentityKind::Anonymous, "x1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u1.user_id.as_deref(), Some("u1"));
    assert_eq!(u1.aggregates.n_events, 6);
    let x3 = store
        .profile_by_identity(bulk.workspace, IdentityKind::Anonymous, "x3")
        .await
        .unwrap()
        .unwrap();
    let orders = store.profile_orders(bulk.workspace, x3.id).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!((orders[0].refunded, orders[0].lines.len()), (30.0, 1));
}

#[tokio::test]
async fn what_the_fast_path_cannot_take_goes_the_ordinary_way_and_is_stored_once() {
    let shop = Shop::new().await;
    let store = shop.embudo.store();
    let batches = batches();
    // Events waiting in the log, unprocessed.
    shop.embudo
        .ingest(shop.workspace, &batches[0])
        .await
        .unwrap();
    let mut loader = shop.embudo.bulk_load(shop.workspace, 2);
    let mut total = super::Loaded::default();
    let mut add = |loaded: super::Loaded| {
        total.add(loaded.receipt, loaded.processed);
    };
    // The waiting events are processed first; the batch is stored once (a re-run).
    add(loader.push(batches[0].clone()).await.unwrap());
    add(loader.push(batches[1].clone()).await.unwrap());
    // Someone else appends while the batch is in flight.
    shop.embudo
        .ingest(shop.workspace, &[view("other", "x9", 15, "p1")])
        .await
        .unwrap();
    add(loader.push(batches[2].clone()).await.unwrap());
    // A batch of events stored already, but for one.
    let mut again = batches[2].clone();
    again.push(view("14", "x5", 40, "p4"));
    add(loader.push(again).await.unwrap());
    // Computed on top of the batch before, which the store refuses: the ordinary way, with
    // its repeat counted.
    let mut last = batches[3].clone();
    last.push(last[0].clone());
    add(loader.push(last).await.unwrap());
    add(loader.finish().await.unwrap());

    // 13 distinct events of the batches and one more; the waiting 5 and 1 repeat of the
    // first batch, the re-sent 3 of the fourth call and the repeat of the last count as
    // duplicates.
    assert_eq!(total.receipt.inserted, 13 - 5 + 1);
    assert_eq!(total.receipt.duplicates, 6 + 3 + 1);
    let head = store.log_head().await.unwrap();
    assert_eq!(
        store.cursor(crate::process::PROFILES_CURSOR).await.unwrap(),
        head
    );
    let log = store.read_log(0, 100).await.unwrap();
    assert_eq!(log.len(), 15);
    assert!(log.iter().all(|logged| logged.profile_id.is_some()));
    let n_events = |person: &'static str| async move {
        store
            .profile_by_identity(shop.workspace, IdentityKind::Anonymous, person)
            .await
            .unwrap()
            .unwrap()
            .aggregates
            .n_events
    };
    assert_eq!(n_events("x1").await, 6);
    assert_eq!(n_events("x5").await, 3);
    assert_eq!(n_events("x9").await, 1);
}

#[tokio::test]
async fn a_batch_is_computed_on_top_of_one_not_yet_stored() {
    // What `push` does when the writer is slower than the computation, in that order: the
    // second batch is computed before the first is stored.
    let bulk = Shop::new().await;
    let ordinary = Shop::new().await;
    let batches = batches();
    let embudo = &bulk.embudo;
    let mut ids = crate::process::IdBlock::default();
    ids.ensure(embudo, 100, 100).await.unwrap();
    let (first, _) = super::first_occurrences(bulk.workspace, batches[0].clone(), 0);
    let (first_batch, _) = embudo
        .compute_step(0, &first, None, &mut ids)
        .await
        .unwrap();
    let first_batch = std::sync::Arc::new(first_batch);
    let overlay = crate::process::Overlay::new(bulk.workspace, first_batch.clone()).unwrap();
    let (second, _) =
        super::first_occurrences(bulk.workspace, batches[1].clone(), first_batch.cursor_to);
    let (second_batch, _) = embudo
        .compute_step(first_batch.cursor_to, &second, Some(&overlay), &mut ids)
        .await
        .unwrap();
    for (log, batch) in [(first, &*first_batch), (second, &second_batch)] {
        let events: Vec<Event> = log.into_iter().map(|logged| logged.event).collect();
        embudo
            .store()
            .append_processed(bulk.workspace, &events, batch)
            .await
            .unwrap();
    }
    for batch in &batches[..2] {
        ordinary
            .embudo
            .ingest(ordinary.workspace, batch)
            .await
            .unwrap();
        ordinary.embudo.process_all().await.unwrap();
    }
    let (bulk_people, ordinary_people) = (people(&bulk).await, people(&ordinary).await);
    for (bulk, ordinary) in bulk_people.iter().zip(&ordinary_people) {
        assert_eq!(bulk, ordinary);
    }
}

#[tokio::test]
async fn orders_refunded_in_their_own_batch_keep_their_lines_and_are_stored_once() {
    let shop = Shop::new().await;
    let refund = |id: &str, minutes: i64, order_id: &str| {
        track(
            id,
            "x1",
            minutes,
            "Order Refunded",
            &[
                ("order_id", Value::from(order_id)),
                ("total", Value::Number(10.0)),
            ],
        )
    };
    // Both ways into the store: a bulk batch, and the ordinary path of appending and then
    // processing.
    let batch = vec![
        order("1", "x1", 1, "o-1"),
        order("2", "x1", 2, "o-2"),
        refund("3", 3, "o-1"),
        order("4", "x2", 4, "o-3"),
        refund("5", 5, "o-1"),
    ];
    let mut loader = shop.embudo.bulk_load(shop.workspace, 1_000);
    loader.push(batch).await.unwrap();
    loader.finish().await.unwrap();
    let later = vec![order("6", "x1", 10, "o-4"), refund("7", 11, "o-4")];
    shop.embudo.ingest(shop.workspace, &later).await.unwrap();
    shop.embudo.process_all().await.unwrap();

    let store = shop.embudo.store();
    let x1 = store
        .profile_by_identity(shop.workspace, IdentityKind::Anonymous, "x1")
        .await
        .unwrap()
        .unwrap();
    let mut orders: Vec<_> = store
        .profile_orders(shop.workspace, x1.id)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.order_id, o.lines.len(), o.refunded))
        .collect();
    orders.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        orders,
        vec![
            ("o-1".to_owned(), 1, 20.0),
            ("o-2".to_owned(), 1, 0.0),
            ("o-4".to_owned(), 1, 10.0),
        ]
    );
}

#[tokio::test]
async fn a_stored_batchs_events_come_back_to_the_caller_once_the_next_is_on_its_way() {
    let shop = Shop::new().await;
    let mut loader = shop.embudo.bulk_load(shop.workspace, 1_000);
    let first = vec![view("1", "x1", 1, "p1"), view("2", "x2", 2, "p2")];
    let second = vec![view("3", "x1", 3, "p3")];
    loader.push(first).await.unwrap();
    // The first batch is being stored: nothing is spent yet.
    assert!(loader.take_spent().is_none());
    loader.push(second).await.unwrap();
    let spent = loader
        .take_spent()
        .expect("the first batch is stored and retired");
    let ids: Vec<&str> = spent
        .iter()
        .map(|event| event.message_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2"]);
    // Taken once.
    assert!(loader.take_spent().is_none());
    let loaded = loader.finish().await.unwrap();
    assert_eq!(loaded.receipt.inserted, 1);
    assert_eq!(shop.embudo.store().log_head().await.unwrap(), 3);
}
