//! The phase model: which signals exist, how much each weighs toward each phase, how fast it
//! fades, where it saturates, and the thresholds of the customer sub-states and of the stage.

use crate::phase::Phase;

/// The decayed behavioural signals, a closed set. Each event moves at most a few of them.
///
/// [`Signal::Purchase`] and [`Signal::SurveyAnswers`] are not decayed levels: they name the
/// evidence that comes from the order ledger and from the answers posterior the caller passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Landing, blog and forum page views.
    InfoPage,
    /// Visits referred by a social network.
    SocialVisit,
    /// Newsletter or account sign-up.
    SignUp,
    /// Catalogue searches (`Products Searched`).
    Search,
    /// Product and product-list views, whatever the category.
    Browse,
    /// Repeated product views within one category or brand (derived from the focus groups).
    FocusedViews,
    /// Comparison pages and `Product Compared`.
    Comparison,
    /// Pricing and deals pages.
    Pricing,
    /// Products added to the cart, cart views.
    Cart,
    /// Checkout started, payment info entered, checkout pages.
    Checkout,
    /// Coupons entered.
    Coupon,
    /// Products added to the wishlist.
    Wishlist,
    /// Clicks on e-mails about products, comparisons or prices.
    ProductEmail,
    /// Other e-mail opens and clicks.
    EmailEngagement,
    /// Other page views (home, account, help…).
    Visit,
    /// Product reviews written.
    Review,
    /// Products shared.
    Share,
    /// Referrals sent.
    Referral,
    /// Survey questions answered.
    QuestionAnswered,
    /// Orders neither cancelled nor fully refunded (not decayed).
    Purchase,
    /// The phase posterior from survey answers, when the caller passes one (not decayed).
    SurveyAnswers,
}

/// How many decayed signals there are: every [`Signal`] before [`Signal::Purchase`].
pub const N_SIGNALS: usize = 19;

impl Signal {
    /// The decayed signals, in index order.
    pub const DECAYED: [Signal; N_SIGNALS] = [
        Signal::InfoPage,
        Signal::SocialVisit,
        Signal::SignUp,
        Signal::Search,
        Signal::Browse,
        Signal::FocusedViews,
        Signal::Comparison,
        Signal::Pricing,
        Signal::Cart,
        Signal::Checkout,
        Signal::Coupon,
        Signal::Wishlist,
        Signal::ProductEmail,
        Signal::EmailEngagement,
        Signal::Visit,
        Signal::Review,
        Signal::Share,
        Signal::Referral,
        Signal::QuestionAnswered,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The configuration key (`info_page`, `focused_views`, …).
    pub fn key(self) -> &'static str {
        match self {
            Signal::InfoPage => "info_page",
            Signal::SocialVisit => "social_visit",
            Signal::SignUp => "sign_up",
            Signal::Search => "search",
            Signal::Browse => "browse",
            Signal::FocusedViews => "focused_views",
            Signal::Comparison => "comparison",
            Signal::Pricing => "pricing",
            Signal::Cart => "cart",
            Signal::Checkout => "checkout",
            Signal::Coupon => "coupon",
            Signal::Wishlist => "wishlist",
            Signal::ProductEmail => "product_email",
            Signal::EmailEngagement => "email_engagement",
            Signal::Visit => "visit",
            Signal::Review => "review",
            Signal::Share => "share",
            Signal::Referral => "referral",
            Signal::QuestionAnswered => "question_answered",
            Signal::Purchase => "purchase",
            Signal::SurveyAnswers => "survey_answers",
        }
    }

    /// Parses a decayed signal's configuration key.
    pub fn parse_decayed(key: &str) -> Option<Signal> {
        Signal::DECAYED
            .into_iter()
            .find(|signal| signal.key() == key)
    }

    /// Whether the signal shows advocacy (stage advise).
    pub fn is_advocacy(self) -> bool {
        matches!(self, Signal::Review | Signal::Share | Signal::Referral)
    }
}

/// How one decayed signal weighs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalSpec {
    /// Logit points per unit of (saturated) level, toward phases I, II and III. The phase III
    /// weight only counts for customers: nobody is in phase III without an order.
    pub weights: [f64; 3],
    /// Days for the level to halve.
    pub half_life_days: f64,
    /// The level where the signal stops adding: `s · (1 − e^(−x/s))`; `0` means no cap.
    pub saturation: f64,
    /// Weight of the signal in the engagement score (stage connect).
    pub engagement: f64,
}

impl SignalSpec {
    /// Applies the saturation to a level.
    pub fn saturate(&self, level: f64) -> f64 {
        if self.saturation > 0.0 {
            self.saturation * (1.0 - (-level / self.saturation).exp())
        } else {
            level
        }
    }

    /// The factor a level is multiplied by after `days`.
    pub fn decay(&self, days: f64) -> f64 {
        if days <= 0.0 {
            1.0
        } else {
            (-days / self.half_life_days).exp2()
        }
    }

    /// The phase the signal leans to: its largest weight (ties go to the earlier phase).
    pub fn leans_to(&self) -> Phase {
        let mut best = 0;
        for index in 1..3 {
            if self.weights[index] > self.weights[best] {
                best = index;
            }
        }
        Phase::from_index(best).unwrap_or(Phase::I)
    }
}

/// "Repeated product views within one category or brand": per-group decayed view counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FocusModel {
    /// Days for a group's view count to halve.
    pub half_life_days: f64,
    /// How many categories and brands a profile keeps; the faintest is forgotten first.
    pub max_groups: usize,
    /// A streak ("4 products in 3 days") restarts when the group's level has faded below this.
    pub streak_reset_below: f64,
}

/// Phase III: the weight of being a customer and the sub-state thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerModel {
    /// Logit points toward phase III per unit of saturated order count.
    pub weight: f64,
    /// Saturation of the order count.
    pub saturation: f64,
    /// The shop's typical days between orders, when the caller passes none.
    pub repurchase_interval_days: f64,
    /// Active while days since the last order ≤ this × the repurchase interval.
    pub at_risk_after: f64,
    /// Lapsed when days since the last order > this × the repurchase interval.
    pub lapsed_after: f64,
    /// With a BTYD P(alive): at risk below this.
    pub p_alive_at_risk: f64,
    /// With a BTYD P(alive): lapsed below this.
    pub p_alive_lapsed: f64,
}

/// Phase II "going cold": when the predicted purchase intent falls. Used only when the caller
/// passes an intent (a trained intent model exists).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntentModel {
    /// Cold when the intent is below this.
    pub cold_below: f64,
    /// Cold when the intent has fallen by at least this (probability points) from its peak
    /// since the person entered phase II.
    pub cold_drop: f64,
}

/// Thresholds of the relationship stage and of the qualification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageModel {
    /// Identify: the best audience fit must reach this.
    pub min_fit: f64,
    /// Connect: the engagement score (decayed) must reach this, with a consented channel.
    pub min_engagement: f64,
    /// Explore from behaviour alone: the sum of |logit contributions| of the evidence must
    /// reach this (sign-ups and answered questions qualify on their own).
    pub min_evidence: f64,
    /// Qualification "future customer" when P(II) + P(III) reaches this, else "still unsure".
    pub future_customer_min: f64,
    /// Advise as an advocate: reviews, shares and referrals (decayed levels) must reach this.
    pub min_advocacy: f64,
}

/// The whole phase model. `Default` follows the seeds and `DOMAIN.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseModel {
    /// Indexed by [`Signal::index`] over [`Signal::DECAYED`].
    pub signals: [SignalSpec; N_SIGNALS],
    /// Logits of phases I and II with no signal at all: a person with no signals is phase I
    /// with low confidence.
    pub prior: [f64; 2],
    pub focus: FocusModel,
    pub customer: CustomerModel,
    pub intent: IntentModel,
    pub stage: StageModel,
    /// How much the survey answers posterior counts: `z_k += w · ln P_answers(k)`.
    pub answers_weight: f64,
}

impl PhaseModel {
    pub fn spec(&self, signal: Signal) -> Option<&SignalSpec> {
        self.signals.get(signal.index())
    }
}

const fn spec(
    weights: [f64; 3],
    half_life_days: f64,
    saturation: f64,
    engagement: f64,
) -> SignalSpec {
    SignalSpec {
        weights,
        half_life_days,
        saturation,
        engagement,
    }
}

impl Default for PhaseModel {
    fn default() -> PhaseModel {
        PhaseModel {
            signals: [
                // Phase I: looking for information about a need.
                spec([1.0, 0.0, 0.0], 14.0, 4.0, 1.0), // info_page
                spec([0.8, 0.0, 0.0], 14.0, 3.0, 1.0), // social_visit
                spec([1.0, 0.2, 0.0], 30.0, 1.0, 1.0), // sign_up
                spec([0.6, 0.2, 0.0], 7.0, 3.0, 0.5),  // search
                // I → II: exploring products.
                spec([0.3, 0.45, 0.0], 7.0, 6.0, 0.5), // browse
                // Phase II: weighing features, brands and budget.
                spec([0.0, 1.0, 0.0], 3.0, 5.0, 0.5), // focused_views
                spec([0.0, 1.5, 0.0], 7.0, 3.0, 0.5), // comparison
                spec([0.0, 1.2, 0.0], 7.0, 3.0, 0.5), // pricing
                spec([0.0, 2.0, 0.0], 5.0, 3.0, 0.5), // cart
                spec([0.0, 2.5, 0.0], 5.0, 2.0, 0.5), // checkout
                spec([0.0, 1.5, 0.0], 7.0, 2.0, 0.5), // coupon
                spec([0.0, 1.2, 0.0], 14.0, 3.0, 0.5), // wishlist
                spec([0.0, 1.2, 0.0], 7.0, 3.0, 1.0), // product_email
                // Relationship: engagement with content, advocacy, answers.
                spec([0.3, 0.0, 0.0], 14.0, 3.0, 1.0), // email_engagement
                spec([0.0, 0.0, 0.0], 14.0, 5.0, 0.5), // visit
                spec([0.0, 0.0, 0.5], 60.0, 2.0, 1.0), // review
                spec([0.2, 0.0, 0.3], 30.0, 2.0, 1.0), // share
                spec([0.0, 0.0, 0.5], 60.0, 2.0, 1.0), // referral
                spec([0.0, 0.0, 0.0], 30.0, 5.0, 1.0), // question_answered
            ],
            prior: [0.4, 0.0],
            focus: FocusModel {
                half_life_days: 3.0,
                max_groups: 8,
                streak_reset_below: 0.5,
            },
            customer: CustomerModel {
                weight: 10.0,
                saturation: 3.0,
                repurchase_interval_days: 90.0,
                at_risk_after: 1.5,
                lapsed_after: 3.0,
                p_alive_at_risk: 0.5,
                p_alive_lapsed: 0.15,
            },
            intent: IntentModel {
                cold_below: 0.05,
                cold_drop: 0.15,
            },
            stage: StageModel {
                min_fit: 0.5,
                min_engagement: 1.0,
                min_evidence: 2.0,
                future_customer_min: 0.5,
                min_advocacy: 0.5,
            },
            answers_weight: 1.0,
        }
    }
}
