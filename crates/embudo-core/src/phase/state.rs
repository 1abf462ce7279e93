//! The per-profile phase state: decayed signal levels, focus groups and an order ledger,
//! updated one event at a time and mergeable when two profiles are one person.

use crate::event::{Action, Event};
use crate::page::PageCategory;
use crate::phase::model::{N_SIGNALS, PhaseModel, Signal};
use crate::time::{MILLIS_PER_DAY, Timestamp};

/// How many orders the ledger remembers one by one; older kept orders are only counted.
pub const MAX_REMEMBERED_ORDERS: usize = 16;

/// Marks "never" in the per-signal times.
const NEVER: i64 = i64::MIN;

/// What the engine remembers of one profile. Small and bounded: about 400 bytes plus at most
/// [`crate::phase::FocusModel::max_groups`] focus groups and [`MAX_REMEMBERED_ORDERS`] orders.
///
/// Each level is stored decayed to the time of the signal's last event and decayed further,
/// lazily, when evaluated: applying an event touches only the signals it moves.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(from = "stored::Read")
)]
pub struct PhaseState {
    levels: [f32; N_SIGNALS],
    /// Per signal: the time its level refers to (ms), or `NEVER`.
    last_ms: [i64; N_SIGNALS],
    /// Per signal: how many events moved it, ever.
    counts: [u32; N_SIGNALS],
    /// Per signal: the first event that moved it (ms), or `NEVER`.
    first_ms: [i64; N_SIGNALS],
    pub(crate) groups: Vec<FocusGroup>,
    orders: Vec<OrderMark>,
    /// Kept orders that fell out of the ledger.
    older_kept_orders: u32,
    /// The first kept order that fell out of the ledger (ms), or `NEVER`.
    older_first_order_ms: i64,
}

/// The stored form of [`PhaseState`]: only the signals that ever moved, one row each,
/// `[signal, level, last_ms, count, first_ms]`, with `NEVER` as `null`; the focus groups as
/// rows too, `[key, level, last_ms, streak_start_ms, streak_views]`; an empty ledger left out.
/// The state is written with every profile and a person moves a few of the 19 signals: four
/// full arrays made up most of its text, and the groups' field names half of what remained. The
/// older forms (four full arrays, `NEVER` as `null` or as its number, groups as objects, every
/// ledger field written) still read.
#[cfg(feature = "serde")]
mod stored {
    use serde::{Deserialize, Serialize, Serializer};

    use super::{FocusGroup, N_SIGNALS, NEVER, OrderMark, PhaseState};

    /// One signal that moved: index, level, last time, count, first time.
    type Row = (usize, f32, Option<i64>, u32, Option<i64>);

    fn to_option(ms: i64) -> Option<i64> {
        (ms != NEVER).then_some(ms)
    }

    /// One focus group: key, level, last time, streak start, streak views.
    type GroupRow<'a> = (&'a str, f32, i64, i64, u32);

    #[derive(Serialize)]
    struct Write<'a> {
        signals: Vec<Row>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        groups: Vec<GroupRow<'a>>,
        #[serde(skip_serializing_if = "<[OrderMark]>::is_empty")]
        orders: &'a [OrderMark],
        #[serde(skip_serializing_if = "is_zero")]
        older_kept_orders: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        older_first_order_ms: Option<i64>,
    }

    fn is_zero(n: &u32) -> bool {
        *n == 0
    }

    impl Serialize for PhaseState {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let signals = (0..N_SIGNALS)
                .filter(|&i| {
                    self.counts[i] != 0
                        || self.levels[i] != 0.0
                        || self.last_ms[i] != NEVER
                        || self.first_ms[i] != NEVER
                })
                .map(|i| {
                    (
                        i,
                        self.levels[i],
                        to_option(self.last_ms[i]),
                        self.counts[i],
                        to_option(self.first_ms[i]),
                    )
                })
                .collect();
            Write {
                signals,
                groups: self
                    .groups
                    .iter()
                    .map(|group| {
                        (
                            group.key.as_str(),
                            group.level,
                            group.last_ms,
                            group.streak_start_ms,
                            group.streak_views,
                        )
                    })
                    .collect(),
                orders: &self.orders,
                older_kept_orders: self.older_kept_orders,
                older_first_order_ms: to_option(self.older_first_order_ms),
            }
            .serialize(serializer)
        }
    }

    /// Either form. A signal index out of range is dropped (a model with fewer signals).
    #[derive(Deserialize)]
    pub(super) struct Read {
        #[serde(default)]
        signals: Vec<Row>,
        #[serde(default)]
        levels: Option<[f32; N_SIGNALS]>,
        #[serde(default)]
        last_ms: Option<[Option<i64>; N_SIGNALS]>,
        #[serde(default)]
        counts: Option<[u32; N_SIGNALS]>,
        #[serde(default)]
        first_ms: Option<[Option<i64>; N_SIGNALS]>,
        /// Rows, or (older) objects with named fields: the derived reading takes both.
        #[serde(default)]
        groups: Vec<FocusGroup>,
        #[serde(default)]
        orders: Vec<OrderMark>,
        #[serde(default)]
        older_kept_orders: u32,
        #[serde(default)]
        older_first_order_ms: Option<i64>,
    }

    impl From<Read> for PhaseState {
        fn from(read: Read) -> PhaseState {
            let times = |list: Option<[Option<i64>; N_SIGNALS]>| {
                list.map_or([NEVER; N_SIGNALS], |list| {
                    list.map(|ms| ms.unwrap_or(NEVER))
                })
            };
            let mut state = PhaseState {
                levels: read.levels.unwrap_or([0.0; N_SIGNALS]),
                last_ms: times(read.last_ms),
                counts: read.counts.unwrap_or([0; N_SIGNALS]),
                first_ms: times(read.first_ms),
                groups: read.groups,
                orders: read.orders,
                older_kept_orders: read.older_kept_orders,
                older_first_order_ms: read.older_first_order_ms.unwrap_or(NEVER),
            };
            for (i, level, last, count, first) in read.signals {
                if i < N_SIGNALS {
                    state.levels[i] = level;
                    state.last_ms[i] = last.unwrap_or(NEVER);
                    state.counts[i] = count;
                    state.first_ms[i] = first.unwrap_or(NEVER);
                }
            }
            state
        }
    }
}

/// Decayed product-view count of one category (`c:` + name) or brand (`b:` + name).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub(crate) struct FocusGroup {
    pub(crate) key: String,
    pub(crate) level: f32,
    pub(crate) last_ms: i64,
    /// When the current streak of views began, and how many views it has.
    pub(crate) streak_start_ms: i64,
    pub(crate) streak_views: u32,
}

/// One order as the ledger remembers it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct OrderMark {
    pub(crate) order_id: String,
    pub(crate) placed_ms: i64,
    pub(crate) total: f64,
    pub(crate) refunded: f64,
    pub(crate) cancelled: bool,
}

impl OrderMark {
    /// Neither cancelled nor fully refunded (same rule as [`crate::profile::OrderFacts`]).
    pub(crate) fn is_kept(&self) -> bool {
        !self.cancelled && self.refunded + 1e-9 < self.total.max(f64::MIN_POSITIVE)
    }
}

impl Default for PhaseState {
    fn default() -> PhaseState {
        PhaseState {
            levels: [0.0; N_SIGNALS],
            last_ms: [NEVER; N_SIGNALS],
            counts: [0; N_SIGNALS],
            first_ms: [NEVER; N_SIGNALS],
            groups: Vec::new(),
            orders: Vec::new(),
            older_kept_orders: 0,
            older_first_order_ms: NEVER,
        }
    }
}

/// The customer facts the ledger gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OrderSummary {
    pub(crate) n_kept: u32,
    pub(crate) first_ms: Option<i64>,
    pub(crate) last_ms: Option<i64>,
}

fn days_between(earlier_ms: i64, later_ms: i64) -> f64 {
    (later_ms.saturating_sub(earlier_ms)) as f64 / MILLIS_PER_DAY as f64
}

impl PhaseState {
    /// Folds one event in. `action` is `event.action(&rules)`; events whose action moves no
    /// signal and no order leave the state unchanged. Costs O(1): only the moved signals are
    /// touched (plus at most `max_groups` focus groups for a product view).
    pub fn apply(&mut self, event: &Event, action: &Action, model: &PhaseModel) {
        let at = event.timestamp.as_millis();
        match action {
            Action::PageViewed {
                category,
                social_referral,
            } => {
                let signal = match category {
                    PageCategory::Landing | PageCategory::Blog | PageCategory::Forum => {
                        Signal::InfoPage
                    }
                    PageCategory::Product => Signal::Browse,
                    PageCategory::Comparison => Signal::Comparison,
                    PageCategory::Pricing => Signal::Pricing,
                    PageCategory::Cart => Signal::Cart,
                    PageCategory::Checkout => Signal::Checkout,
                    PageCategory::Other => Signal::Visit,
                };
                self.bump(signal, at, model);
                if *social_referral {
                    self.bump(Signal::SocialVisit, at, model);
                }
            }
            Action::SignedUp => self.bump(Signal::SignUp, at, model),
            Action::ProductsSearched { .. } => self.bump(Signal::Search, at, model),
            Action::ProductListViewed { .. } => self.bump(Signal::Browse, at, model),
            Action::ProductViewed(product) => {
                self.bump(Signal::Browse, at, model);
                if let Some(category) = &product.category {
                    self.view_group('c', category, at, model);
                }
                if let Some(brand) = &product.brand {
                    self.view_group('b', brand, at, model);
                }
            }
            Action::ProductCompared => self.bump(Signal::Comparison, at, model),
            Action::ProductAdded(_) | Action::CartViewed => self.bump(Signal::Cart, at, model),
            Action::WishlistAdded(_) => self.bump(Signal::Wishlist, at, model),
            Action::CheckoutStarted | Action::PaymentInfoEntered => {
                self.bump(Signal::Checkout, at, model)
            }
            Action::CouponEntered => self.bump(Signal::Coupon, at, model),
            Action::EmailOpened => self.bump(Signal::EmailEngagement, at, model),
            Action::EmailLinkClicked { product_content } => {
                let signal = if *product_content {
                    Signal::ProductEmail
                } else {
                    Signal::EmailEngagement
                };
                self.bump(signal, at, model);
            }
            Action::ProductReviewed(_) => self.bump(Signal::Review, at, model),
            Action::ProductShared(_) => self.bump(Signal::Share, at, model),
            Action::Referral => self.bump(Signal::Referral, at, model),
            Action::QuestionAnswered { .. } => self.bump(Signal::QuestionAnswered, at, model),
            Action::OrderCompleted(order) => {
                self.record_order(OrderMark {
                    order_id: order.order_id.clone(),
                    placed_ms: order.placed_at.as_millis(),
                    total: order.total,
                    refunded: 0.0,
                    cancelled: false,
                });
            }
            Action::OrderRefunded(refund) => {
                if let Some(mark) = self
                    .orders
                    .iter_mut()
                    .find(|mark| mark.order_id == refund.order_id)
                {
                    let amount = refund.amount.unwrap_or(mark.total);
                    mark.refunded = (mark.refunded + amount).min(mark.total);
                }
            }
            Action::OrderCancelled { order_id } => {
                if let Some(mark) = self
                    .orders
                    .iter_mut()
                    .find(|mark| &mark.order_id == order_id)
                {
                    mark.cancelled = true;
                }
            }
            Action::ProductRemoved(_)
            | Action::Unsubscribed
            | Action::Identify
            | Action::Alias
            | Action::Group
            | Action::QuestionAsked { .. }
            | Action::Other(_) => {}
        }
    }

    /// Merges another profile's state into this one (identity merge): levels add up (each
    /// decayed to the later of the two times), counts add up, focus groups merge by key (the
    /// faintest beyond `max_groups` are dropped), orders merge by id (the larger refund and
    /// either cancellation win). Merging is commutative up to the order of focus groups.
    pub fn merge(&mut self, other: &PhaseState, model: &PhaseModel) {
        for index in 0..N_SIGNALS {
            let (mine, theirs) = (self.last_ms[index], other.last_ms[index]);
            if theirs == NEVER {
                continue;
            }
            let spec = &model.signals[index];
            if mine == NEVER {
                self.levels[index] = other.levels[index];
                self.last_ms[index] = theirs;
            } else {
                let later = mine.max(theirs);
                let level = f64::from(self.levels[index]) * spec.decay(days_between(mine, later))
                    + f64::from(other.levels[index]) * spec.decay(days_between(theirs, later));
                self.levels[index] = level as f32;
                self.last_ms[index] = later;
            }
            self.counts[index] = self.counts[index].saturating_add(other.counts[index]);
            self.first_ms[index] = min_known(self.first_ms[index], other.first_ms[index]);
        }
        for group in &other.groups {
            match self.groups.iter_mut().find(|mine| mine.key == group.key) {
                Some(mine) => {
                    let later = mine.last_ms.max(group.last_ms);
                    let hl = model.focus.half_life_days;
                    let decay = |level: f32, from: i64| {
                        f64::from(level) * (-days_between(from, later) / hl).exp2()
                    };
                    mine.level = (decay(mine.level, mine.last_ms)
                        + decay(group.level, group.last_ms))
                        as f32;
                    mine.last_ms = later;
                    mine.streak_start_ms = mine.streak_start_ms.min(group.streak_start_ms);
                    mine.streak_views = mine.streak_views.saturating_add(group.streak_views);
                }
                None => self.groups.push(group.clone()),
            }
        }
        self.trim_groups(model);
        for mark in &other.orders {
            match self
                .orders
                .iter_mut()
                .find(|mine| mine.order_id == mark.order_id)
            {
                Some(mine) => {
                    mine.refunded = mine.refunded.max(mark.refunded);
                    mine.cancelled |= mark.cancelled;
                }
                None => self.record_order(mark.clone()),
            }
        }
        self.older_kept_orders = self
            .older_kept_orders
            .saturating_add(other.older_kept_orders);
        self.older_first_order_ms =
            min_known(self.older_first_order_ms, other.older_first_order_ms);
    }

    /// The level of a decayed signal at `now` (before saturation). For
    /// [`Signal::FocusedViews`], the repeated views of the most viewed category or brand.
    pub fn level(&self, signal: Signal, now: Timestamp, model: &PhaseModel) -> f64 {
        if signal == Signal::FocusedViews {
            return self
                .focus_leader(now, model)
                .map_or(0.0, |(_, level)| (level - 1.0).max(0.0));
        }
        let index = signal.index();
        if index >= N_SIGNALS || self.last_ms[index] == NEVER {
            return 0.0;
        }
        let spec = &model.signals[index];
        f64::from(self.levels[index])
            * spec.decay(days_between(self.last_ms[index], now.as_millis()))
    }

    /// How many events moved a decayed signal, ever.
    pub fn count(&self, signal: Signal) -> u32 {
        self.counts.get(signal.index()).copied().unwrap_or(0)
    }

    /// The first and last events that moved a decayed signal.
    pub fn span(&self, signal: Signal) -> Option<(Timestamp, Timestamp)> {
        let index = signal.index();
        let (first, last) = (*self.first_ms.get(index)?, *self.last_ms.get(index)?);
        (first != NEVER && last != NEVER)
            .then(|| (Timestamp::from_millis(first), Timestamp::from_millis(last)))
    }

    /// Whether no event has moved anything yet.
    pub fn is_empty(&self) -> bool {
        self.last_ms.iter().all(|&at| at == NEVER) && self.orders.is_empty()
    }

    /// The group with the highest decayed view level at `now`, with that level.
    pub(crate) fn focus_leader(
        &self,
        now: Timestamp,
        model: &PhaseModel,
    ) -> Option<(&FocusGroup, f64)> {
        let hl = model.focus.half_life_days;
        let mut best: Option<(&FocusGroup, f64)> = None;
        for group in &self.groups {
            let days = days_between(group.last_ms, now.as_millis()).max(0.0);
            let level = f64::from(group.level) * (-days / hl).exp2();
            if best.is_none_or(|(_, top)| level > top) {
                best = Some((group, level));
            }
        }
        best
    }

    pub(crate) fn order_summary(&self) -> OrderSummary {
        let mut summary = OrderSummary {
            n_kept: self.older_kept_orders,
            first_ms: (self.older_first_order_ms != NEVER).then_some(self.older_first_order_ms),
            last_ms: None,
        };
        for mark in self.orders.iter().filter(|mark| mark.is_kept()) {
            summary.n_kept += 1;
            summary.first_ms = Some(
                summary
                    .first_ms
                    .map_or(mark.placed_ms, |f| f.min(mark.placed_ms)),
            );
            summary.last_ms = Some(
                summary
                    .last_ms
                    .map_or(mark.placed_ms, |l| l.max(mark.placed_ms)),
            );
        }
        if summary.last_ms.is_none() && summary.n_kept > 0 {
            summary.last_ms = summary.first_ms;
        }
        summary
    }

    fn bump(&mut self, signal: Signal, at: i64, model: &PhaseModel) {
        let index = signal.index();
        let spec = &model.signals[index];
        let last = self.last_ms[index];
        if last == NEVER {
            self.levels[index] = 1.0;
            self.last_ms[index] = at;
        } else if at >= last {
            let level = f64::from(self.levels[index]) * spec.decay(days_between(last, at)) + 1.0;
            self.levels[index] = level as f32;
            self.last_ms[index] = at;
        } else {
            // A late event: its unit, decayed to the level's time.
            let level = f64::from(self.levels[index]) + spec.decay(days_between(at, last));
            self.levels[index] = level as f32;
        }
        self.counts[index] = self.counts[index].saturating_add(1);
        self.first_ms[index] = min_known(self.first_ms[index], at);
    }

    fn view_group(&mut self, prefix: char, name: &str, at: i64, model: &PhaseModel) {
        let hl = model.focus.half_life_days;
        let found = self
            .groups
            .iter_mut()
            .find(|group| group.key.starts_with(prefix) && &group.key[2..] == name);
        match found {
            Some(group) => {
                let later = group.last_ms.max(at);
                let level =
                    f64::from(group.level) * (-days_between(group.last_ms, later) / hl).exp2();
                if level < model.focus.streak_reset_below {
                    group.streak_start_ms = at;
                    group.streak_views = 0;
                }
                let unit = (-days_between(at, later) / hl).exp2();
                group.level = (level + unit) as f32;
                group.last_ms = later;
                group.streak_start_ms = group.streak_start_ms.min(at);
                group.streak_views = group.streak_views.saturating_add(1);
            }
            None => {
                let mut key = String::with_capacity(name.len() + 2);
                key.push(prefix);
                key.push(':');
                key.push_str(name);
                self.groups.push(FocusGroup {
                    key,
                    level: 1.0,
                    last_ms: at,
                    streak_start_ms: at,
                    streak_views: 1,
                });
                self.trim_groups(model);
            }
        }
    }

    /// Keeps at most `max_groups` groups, dropping the faintest at the latest time seen.
    fn trim_groups(&mut self, model: &PhaseModel) {
        let max = model.focus.max_groups.max(1);
        while self.groups.len() > max {
            let latest = self.groups.iter().map(|g| g.last_ms).max().unwrap_or(0);
            let hl = model.focus.half_life_days;
            let level = |group: &FocusGroup| {
                f64::from(group.level) * (-days_between(group.last_ms, latest) / hl).exp2()
            };
            let mut faintest = 0;
            for (index, group) in self.groups.iter().enumerate() {
                if level(group) < level(&self.groups[faintest]) {
                    faintest = index;
                }
            }
            self.groups.swap_remove(faintest);
        }
    }

    fn record_order(&mut self, mark: OrderMark) {
        if self
            .orders
            .iter()
            .any(|known| known.order_id == mark.order_id)
        {
            return;
        }
        self.orders.push(mark);
        if self.orders.len() > MAX_REMEMBERED_ORDERS {
            let oldest = self
                .orders
                .iter()
                .enumerate()
                .min_by_key(|(_, mark)| (mark.placed_ms, mark.order_id.clone()))
                .map_or(0, |(index, _)| index);
            let evicted = self.orders.remove(oldest);
            if evicted.is_kept() {
                self.older_kept_orders += 1;
                self.older_first_order_ms = min_known(self.older_first_order_ms, evicted.placed_ms);
            }
        }
    }
}

fn min_known(a: i64, b: i64) -> i64 {
    match (a == NEVER, b == NEVER) {
        (true, _) => b,
        (_, true) => a,
        _ => a.min(b),
    }
}
