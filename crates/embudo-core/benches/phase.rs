//! Phase engine benchmarks: the cost of one event, and of re-reading every profile.
//!
//! - `phase_incremental/one_event`: what profile processing does per event on a profile that
//!   already has a realistic history (50 prior events over about two months): the event's
//!   [`Action`] from the page rules, [`PhaseState::apply`], [`Aggregates::apply`], then
//!   [`evaluate`] at the event's time. The next event cycles through a mix (page views,
//!   product views, cart, checkout, e-mail, an order) and through 64 different profiles; each
//!   iteration starts from a fresh copy of the profile, and the copy is not timed.
//! - `phase_reevaluate/profiles`: [`evaluate`] of N stored profiles at a later `now`, as a
//!   nightly rescore would: one day after the newest event, so that the people's last events
//!   are from one day to about two months old and their signals have decayed accordingly.
//!   N is `$EMBUDO_BENCH_PROFILES` (default 100,000; `EMBUDO_BENCH_PROFILES=1000000 cargo bench
//!   -p embudo-core --bench phase` for a million). Building the profiles is not timed.
//!
//! The histories are synthetic, drawn from a seeded SplitMix64: half of the people read and
//! browse (phase I), three in ten compare within a category and reach the cart (phase II),
//! and two in ten have ordered one to three times (phase III).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use embudo_core::event::Action;
use embudo_core::page::PageRules;
use embudo_core::phase::{Context, PhaseModel, PhaseState, evaluate};
use embudo_core::profile::Aggregates;
use embudo_core::{Event, EventKind, Map, Timestamp, Value};

/// Prior events of every profile.
const HISTORY: usize = 50;
/// Distinct profiles the incremental bench cycles through.
const INCREMENTAL_PROFILES: usize = 64;
const MILLIS_PER_MINUTE: i64 = 60_000;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// A profile as the service stores it: the engine's state and the aggregates.
#[derive(Clone)]
struct Profile {
    state: PhaseState,
    aggregates: Aggregates,
    last_seen: Timestamp,
}

/// Applies one event the way profile processing does (orders that cannot be read count as a
/// plain event there; every order built here is readable).
fn apply(profile: &mut Profile, event: &Event, rules: &PageRules, model: &PhaseModel) {
    let action = event
        .action(rules)
        .unwrap_or_else(|_| Action::Other(event.name.as_deref().unwrap_or_default().to_owned()));
    profile.state.apply(event, &action, model);
    profile.aggregates.apply(event, &action);
    profile.last_seen = profile.last_seen.max(event.timestamp);
}

fn bench_incremental(c: &mut Criterion) {
    let rules = PageRules::default();
    let model = PhaseModel::default();
    let profiles: Vec<(Profile, Vec<Event>)> = (0..INCREMENTAL_PROFILES)
        .map(|index| {
            let mut people = People::new(index as u64);
            let profile = people.profile(index, &rules, &model);
            let next = people.next_events(index, profile.last_seen);
            (profile, next)
        })
        .collect();
    let mut group = c.benchmark_group("phase_incremental");
    group.throughput(Throughput::Elements(1));
    let mut turn = 0usize;
    group.bench_function("one_event", |b| {
        b.iter_batched(
            || {
                turn = turn.wrapping_add(1);
                let (profile, next) = &profiles[turn % profiles.len()];
                let event = &next[(turn / profiles.len()) % next.len()];
                (profile.clone(), event.clone())
            },
            |(mut profile, event)| {
                apply(&mut profile, &event, &rules, &model);
                let classification = evaluate(
                    &profile.state,
                    &profile.aggregates,
                    &Context::default(),
                    event.timestamp,
                    &model,
                );
                black_box(classification);
                profile
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn bench_reevaluate(c: &mut Criterion) {
    let n_profiles = std::env::var("EMBUDO_BENCH_PROFILES")
        .ok()
        .and_then(|text| text.replace('_', "").parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(100_000);
    let rules = PageRules::default();
    let model = PhaseModel::default();
    let mut people = People::new(42);
    let profiles: Vec<Profile> = (0..n_profiles)
        .map(|index| people.profile(index, &rules, &model))
        .collect();
    let last = profiles
        .iter()
        .map(|profile| profile.last_seen)
        .max()
        .unwrap_or(START);
    let now = last.plus_millis(MILLIS_PER_DAY);
    // What the bench classified, so that a change in the engine shows here too.
    let mut phases = [0usize; 3];
    for profile in &profiles {
        let classification = evaluate(
            &profile.state,
            &profile.aggregates,
            &Context::default(),
            now,
            &model,
        );
        phases[classification.phase.index()] += 1;
    }
    eprintln!(
        "phase_reevaluate: {n_profiles} profiles of {HISTORY} events; at {now}: {} in phase I, {} in II, {} in III",
        phases[0], phases[1], phases[2]
    );
    let mut group = c.benchmark_group("phase_reevaluate");
    group.throughput(Throughput::Elements(n_profiles as u64));
    // One pass takes a tenth of a second per 100,000 profiles: few samples, one pass each.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("profiles", |b| {
        b.iter(|| {
            let mut customers = 0usize;
            for profile in &profiles {
                let classification = evaluate(
                    &profile.state,
                    &profile.aggregates,
                    &Context::default(),
                    black_box(now),
                    &model,
                );
                customers += usize::from(classification.substate.is_some());
                black_box(&classification);
            }
            customers
        });
    });
    group.finish();
}

/// 2026-01-01T00:00:00Z.
const START: Timestamp = Timestamp::from_millis(1_767_225_600_000);

const CATEGORIES: [&str; 8] = [
    "zapatillas",
    "camisetas",
    "mochilas",
    "relojes",
    "chaquetas",
    "gafas",
    "calcetines",
    "bicicletas",
];
const BRANDS: [&str; 6] = ["norte", "brisa", "cumbre", "rayo", "delta", "onda"];

/// Seeded synthetic people.
struct People {
    rng: SplitMix64,
}

/// Who a synthetic person is.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Reader,
    Comparer,
    Customer,
}

impl People {
    fn new(seed: u64) -> People {
        People {
            rng: SplitMix64(seed),
        }
    }

    /// A person with [`HISTORY`] events folded in, starting somewhere in two months.
    fn profile(&mut self, index: usize, rules: &PageRules, model: &PhaseModel) -> Profile {
        let kind = match self.rng.below(10) {
            0..=4 => Kind::Reader,
            5..=7 => Kind::Comparer,
            _ => Kind::Customer,
        };
        let mut at = START.plus_millis(self.rng.below(60) as i64 * MILLIS_PER_DAY);
        let mut profile = Profile {
            state: PhaseState::default(),
            aggregates: Aggregates::default(),
            last_seen: at,
        };
        let favourite = self.rng.below(CATEGORIES.len() as u64) as usize;
        let mut orders = 0;
        for n in 0..HISTORY {
            // Sessions of a few events, a few days apart.
            at = if n % 6 == 0 {
                at.plus_millis((1 + self.rng.below(5) as i64) * MILLIS_PER_DAY)
            } else {
                at.plus_millis((1 + self.rng.below(20) as i64) * MILLIS_PER_MINUTE)
            };
            let event = self.event(index, n, kind, favourite, &mut orders, at);
            apply(&mut profile, &event, rules, model);
        }
        profile
    }

    /// A few events that could come next for person `index`, an hour after `after`: one of
    /// each kind the incremental bench cycles through.
    fn next_events(&mut self, index: usize, after: Timestamp) -> Vec<Event> {
        let at = after.plus_millis(60 * MILLIS_PER_MINUTE);
        let favourite = index % CATEGORIES.len();
        let category = CATEGORIES[favourite];
        let brand = BRANDS[index % BRANDS.len()];
        let n = HISTORY + 1;
        vec![
            page(index, n, at, "/blog/guia-de-tallas"),
            product_viewed(index, n + 1, at, category, brand, 7),
            track(
                index,
                n + 2,
                at,
                "Product Added",
                props([
                    ("product_id", "p-7".into()),
                    ("price", 59.9.into()),
                    ("quantity", 1.0.into()),
                ]),
            ),
            track(index, n + 3, at, "Checkout Started", props([])),
            track(index, n + 4, at, "Email Opened", props([])),
            page(index, n + 5, at, "/ofertas"),
            order(index, n + 6, at, 99, 89.0),
            track(
                index,
                n + 7,
                at,
                "Products Searched",
                props([("query", "zapatillas trail".into())]),
            ),
        ]
    }

    fn event(
        &mut self,
        index: usize,
        n: usize,
        kind: Kind,
        favourite: usize,
        orders: &mut u32,
        at: Timestamp,
    ) -> Event {
        // The comparer and the customer keep coming back to one category.
        let category = if kind != Kind::Reader && self.rng.below(3) > 0 {
            CATEGORIES[favourite]
        } else {
            CATEGORIES[self.rng.below(CATEGORIES.len() as u64) as usize]
        };
        let brand = BRANDS[self.rng.below(BRANDS.len() as u64) as usize];
        let product = self.rng.below(200);
        let roll = self.rng.below(100);
        match kind {
            Kind::Reader => match roll {
                0..=34 => page(index, n, at, &format!("/blog/articulo-{}", roll % 12)),
                35..=49 => page(index, n, at, "/"),
                50..=59 => page(index, n, at, "/foro/carreras"),
                60..=79 => product_viewed(index, n, at, category, brand, product),
                80..=89 => track(
                    index,
                    n,
                    at,
                    "Product List Viewed",
                    props([("category", category.into())]),
                ),
                90..=94 => track(index, n, at, "Email Opened", props([])),
                _ => track(
                    index,
                    n,
                    at,
                    "Products Searched",
                    props([("query", category.into())]),
                ),
            },
            Kind::Comparer | Kind::Customer => match roll {
                0..=39 => product_viewed(index, n, at, category, brand, product),
                40..=49 => page(index, n, at, &format!("/comparar/{category}")),
                50..=57 => page(index, n, at, "/ofertas"),
                58..=69 => track(
                    index,
                    n,
                    at,
                    "Product Added",
                    props([
                        ("product_id", format!("p-{product}").as_str().into()),
                        ("price", 59.9.into()),
                        ("quantity", 1.0.into()),
                    ]),
                ),
                70..=74 => page(index, n, at, "/carrito"),
                75..=79 => track(index, n, at, "Checkout Started", props([])),
                80..=84 if kind == Kind::Customer && *orders < 3 => {
                    *orders += 1;
                    order(index, n, at, u64::from(*orders), 60.0 + product as f64)
                }
                80..=89 => track(index, n, at, "Email Link Clicked", props([])),
                _ => page(index, n, at, "/blog/comparativa-zapatillas"),
            },
        }
    }
}

fn props<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(key, value)| (key.into(), value))
            .collect::<Map>(),
    )
}

fn base(index: usize, n: usize, kind: EventKind, at: Timestamp) -> Event {
    Event {
        message_id: format!("m{index}-{n}"),
        kind,
        name: None,
        anonymous_id: Some(format!("a{index}").into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: at,
        received_at: at,
        properties: props([]),
        traits: props([]),
        context: props([]),
    }
}

fn page(index: usize, n: usize, at: Timestamp, path: &str) -> Event {
    let mut event = base(index, n, EventKind::Page, at);
    event.properties = props([("path", path.into())]);
    event
}

fn track(index: usize, n: usize, at: Timestamp, name: &str, properties: Value) -> Event {
    let mut event = base(index, n, EventKind::Track, at);
    event.name = Some(name.into());
    event.properties = properties;
    event
}

fn product_viewed(
    index: usize,
    n: usize,
    at: Timestamp,
    category: &str,
    brand: &str,
    product: u64,
) -> Event {
    track(
        index,
        n,
        at,
        "Product Viewed",
        props([
            ("product_id", format!("p-{product}").as_str().into()),
            ("category", category.into()),
            ("brand", brand.into()),
            ("price", 59.9.into()),
        ]),
    )
}

fn order(index: usize, n: usize, at: Timestamp, number: u64, total: f64) -> Event {
    track(
        index,
        n,
        at,
        "Order Completed",
        props([
            ("order_id", format!("o{index}-{number}").as_str().into()),
            ("total", total.into()),
            ("currency", "EUR".into()),
        ]),
    )
}

/// SplitMix64 (Steele, Lea and Flood): small, seeded, good enough for synthetic histories.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is negligible here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

criterion_group!(benches, bench_incremental, bench_reevaluate);
criterion_main!(benches);
