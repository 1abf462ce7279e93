//! Appending 500-event batches (the Segment batch size) to each store, durably.
//!
//! `cargo bench -p embudo-store-tests --bench append`; PostgreSQL too when
//! `EMBUDO_TEST_PG_URL` is set. Event building is outside the timed part; JSON encoding of the
//! payloads (done by the store) is inside. `encode_only` is the reference for that share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use embudo_core::Timestamp;
use embudo_store::{Store, WorkspaceId, json};
use embudo_store_sqlite::{SqliteOptions, Synchronous};
use embudo_store_tests::{TestStore, realistic_events};

const BATCH: usize = 500;

static NEXT_BATCH: AtomicU64 = AtomicU64::new(0);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn setup(test: &TestStore) -> WorkspaceId {
    test.store
        .create_workspace("bench", &[], Timestamp::from_secs(0))
        .await
        .expect("workspace")
        .id
}

/// Times `iters` appends of fresh `size`-event batches.
async fn append_batches(
    store: Arc<dyn Store>,
    ws: WorkspaceId,
    size: usize,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let prefix = format!("b{}", NEXT_BATCH.fetch_add(1, Ordering::Relaxed));
        let events = realistic_events(&prefix, size);
        let start = Instant::now();
        store.append_events(ws, &events).await.expect("append");
        total += start.elapsed();
    }
    total
}

fn bench_append(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("append");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));

    let events = realistic_events("encode", BATCH);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("encode_only", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|event| {
                    [
                        json::event_column(&event.properties),
                        json::event_column(&event.traits),
                        json::event_column(&event.context),
                    ]
                })
                .collect::<Vec<_>>()
        })
    });

    let mut backends: Vec<(&str, TestStore, usize)> = Vec::new();
    for (name, synchronous, size) in [
        ("sqlite_full", Synchronous::Full, BATCH),
        ("sqlite_normal", Synchronous::Normal, BATCH),
        ("sqlite_full_5000", Synchronous::Full, 5_000),
    ] {
        let options = SqliteOptions {
            synchronous,
            ..SqliteOptions::default()
        };
        backends.push((name, rt.block_on(TestStore::sqlite_with(options)), size));
    }
    if let Some(pg) = rt.block_on(TestStore::postgres()) {
        backends.push(("postgres", pg, BATCH));
    }
    for (name, test, size) in &backends {
        let ws = rt.block_on(setup(test));
        group.throughput(Throughput::Elements(*size as u64));
        group.bench_function(*name, |b| {
            b.to_async(&rt)
                .iter_custom(|iters| append_batches(Arc::clone(&test.store), ws, *size, iters))
        });
    }
    group.finish();
    drop(backends);
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
