//! Events: what a person did, in the shape of the Segment tracking spec.
//!
//! An [`Event`] is already validated (the wire format is parsed by `embudo-segment`); its
//! [`Event::action`] tells what it means for the funnel.

use crate::order::{Order, OrderError, Refund};
use crate::page::{PageCategory, PageRules};
use crate::time::Timestamp;
use crate::value::{Text, Value};

/// The Segment call types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Identify,
        EventKind::Track,
        EventKind::Page,
        EventKind::Screen,
        EventKind::Group,
        EventKind::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Identify => "identify",
            EventKind::Track => "track",
            EventKind::Page => "page",
            EventKind::Screen => "screen",
            EventKind::Group => "group",
            EventKind::Alias => "alias",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One validated event.
///
/// The name and the person's ids are [`Text`]: up to 24 bytes (an event name, most user ids)
/// are kept inline, without an allocation of their own. An import makes millions of events on
/// one thread and frees them on another, where each allocation costs more to free.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique per workspace; a retried message carries the same id and is stored once.
    pub message_id: String,
    pub kind: EventKind,
    /// The `event` of a track call, or the `name` of a page or screen call.
    pub name: Option<Text>,
    pub anonymous_id: Option<Text>,
    pub user_id: Option<Text>,
    /// The `previousId` of an alias call.
    pub previous_id: Option<Text>,
    /// The `groupId` of a group call.
    pub group_id: Option<Text>,
    /// When it happened, corrected for the client's clock skew.
    pub timestamp: Timestamp,
    /// When the server received it.
    pub received_at: Timestamp,
    /// `properties` (track, page, screen), always a map.
    pub properties: Value,
    /// `traits` (identify, group) or `context.traits`, always a map.
    pub traits: Value,
    /// `context`, always a map.
    pub context: Value,
}

/// What an event means for the funnel.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A page or screen view, classified.
    PageViewed {
        category: PageCategory,
        social_referral: bool,
    },
    SignedUp,
    ProductsSearched {
        query: Option<String>,
    },
    ProductListViewed {
        category: Option<String>,
    },
    ProductViewed(ProductRef),
    /// `Product Compared` (a custom event shops send; not in the Segment spec).
    ProductCompared,
    ProductAdded(ProductRef),
    ProductRemoved(ProductRef),
    CartViewed,
    WishlistAdded(ProductRef),
    CheckoutStarted,
    PaymentInfoEntered,
    CouponEntered,
    OrderCompleted(Order),
    OrderRefunded(Refund),
    OrderCancelled {
        order_id: String,
    },
    EmailOpened,
    /// `Email Link Clicked`; `product_content` when the link went to product, comparison or
    /// pricing content.
    EmailLinkClicked {
        product_content: bool,
    },
    Unsubscribed,
    ProductReviewed(ProductRef),
    ProductShared(ProductRef),
    Referral,
    /// `Question Asked`: embudo showed one of its survey questions. embudo's own record, not
    /// something the person did: it counts by name, not as activity.
    QuestionAsked {
        question: String,
    },
    /// `Question Answered`: an answer to one of embudo's survey questions.
    QuestionAnswered {
        question: String,
        answer: String,
    },
    Identify,
    Alias,
    Group,
    /// Any other track event, by name.
    Other(String),
}

/// The product an e-commerce event is about.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductRef {
    pub product_id: Option<Text>,
    pub category: Option<Text>,
    pub brand: Option<Text>,
    pub price: Option<f64>,
}

impl ProductRef {
    /// The product of `properties`: its id from `product_id`, else `sku`, else `id`.
    ///
    /// One pass over the properties, each key matched against the six wanted: looking each
    /// up on its own compared every key of the map some five times per event.
    pub fn from_properties(properties: &Value) -> ProductRef {
        let Value::Map(map) = properties else {
            return ProductRef::default();
        };
        let mut ids: [Option<&Value>; 3] = [None; 3];
        let mut product = ProductRef::default();
        for (key, value) in map.iter() {
            match key.as_str() {
                "product_id" => ids[0] = Some(value),
                "sku" => ids[1] = Some(value),
                "id" => ids[2] = Some(value),
                "category" => product.category = value.trimmed_text(),
                "brand" => product.brand = value.trimmed_text(),
                "price" => product.price = value.as_f64(),
                _ => {}
            }
        }
        product.product_id = ids.into_iter().flatten().find_map(Value::as_id_text);
        product
    }
}

/// Hosts whose referrals count as social.
const SOCIAL_HOSTS: &[&str] = &[
    "twitter.com",
    "x.com",
    "t.co",
    "facebook.com",
    "fb.com",
    "instagram.com",
    "linkedin.com",
    "lnkd.in",
    "pinterest.com",
    "pinterest.es",
    "tiktok.com",
    "youtube.com",
    "reddit.com",
    "threads.net",
    "bsky.app",
    "mastodon.social",
];

impl Event {
    /// Interprets the event. Orders that fail validation come back as an error naming the
    /// field, so the caller can report it; everything else always has a meaning.
    pub fn action(&self, rules: &PageRules) -> Result<Action, OrderError> {
        let action = match self.kind {
            EventKind::Page | EventKind::Screen => Action::PageViewed {
                category: self.page_category(rules),
                social_referral: self.is_social_referral(),
            },
            EventKind::Identify => Action::Identify,
            EventKind::Alias => Action::Alias,
            EventKind::Group => Action::Group,
            EventKind::Track => {
                let name = self.name.as_deref().unwrap_or_default();
                self.track_action(name)?
            }
        };
        Ok(action)
    }

    fn track_action(&self, name: &str) -> Result<Action, OrderError> {
        let props = &self.properties;
        let product = || ProductRef::from_properties(props);
        let action = match name {
            "Signed Up" | "Newsletter Subscribed" | "Subscribed" => Action::SignedUp,
            "Products Searched" => Action::ProductsSearched {
                query: props.str_field("query").map(str::to_owned),
            },
            "Product List Viewed" | "Product List Filtered" => Action::ProductListViewed {
                category: props.str_field("category").map(str::to_owned),
            },
            "Product Viewed" | "Product Clicked" => Action::ProductViewed(product()),
            "Product Compared" | "Products Compared" => Action::ProductCompared,
            "Product Added" | "Wishlist Product Added to Cart" => Action::ProductAdded(product()),
            "Product Removed" => Action::ProductRemoved(product()),
            "Cart Viewed" => Action::CartViewed,
            "Product Added to Wishlist" => Action::WishlistAdded(product()),
            "Checkout Started" | "Checkout Step Viewed" | "Checkout Step Completed" => {
                Action::CheckoutStarted
            }
            "Payment Info Entered" => Action::PaymentInfoEntered,
            "Coupon Entered" | "Coupon Applied" => Action::CouponEntered,
            "Order Completed" => {
                Action::OrderCompleted(Order::from_properties(props, self.timestamp)?)
            }
            "Order Refunded" => Action::OrderRefunded(Refund::from_properties(props)?),
            "Order Cancelled" => Action::OrderCancelled {
                order_id: props
                    .get("order_id")
                    .and_then(Value::as_id)
                    .ok_or(OrderError::MissingOrderId)?,
            },
            "Email Opened" => Action::EmailOpened,
            "Email Link Clicked" => Action::EmailLinkClicked {
                product_content: self.link_is_product_content(rules_free_link(props)),
            },
            "Unsubscribed" | "Email Unsubscribed" => Action::Unsubscribed,
            "Product Reviewed" => Action::ProductReviewed(product()),
            "Product Shared" | "Cart Shared" => Action::ProductShared(product()),
            "Referral Sent" | "Friend Referred" | "Referral Completed" => Action::Referral,
            "Question Asked" => Action::QuestionAsked {
                question: props
                    .get("question_id")
                    .and_then(Value::as_id)
                    .unwrap_or_default(),
            },
            "Question Answered" => Action::QuestionAnswered {
                question: props
                    .get("question_id")
                    .and_then(Value::as_id)
                    .unwrap_or_default(),
                answer: props
                    .get("answer_id")
                    .and_then(Value::as_id)
                    .unwrap_or_default(),
            },
            other => Action::Other(other.to_owned()),
        };
        Ok(action)
    }

    fn link_is_product_content(&self, link: Option<&str>) -> bool {
        if let Some(kind) = self.properties.str_field("content_type") {
            return matches!(
                kind,
                "product"
                    | "comparison"
                    | "pricing"
                    | "price"
                    | "producto"
                    | "comparativa"
                    | "precio"
            );
        }
        link.is_some_and(|link| {
            matches!(
                PageRules::default().classify_path(link),
                PageCategory::Product | PageCategory::Comparison | PageCategory::Pricing
            )
        })
    }

    /// The page category: `properties.category` when it names one, else the path rules.
    pub fn page_category(&self, rules: &PageRules) -> PageCategory {
        if let Some(category) = self
            .properties
            .str_field("category")
            .and_then(PageCategory::parse)
        {
            return category;
        }
        match self.page_path() {
            Some(path) => rules.classify_path(path),
            None => PageCategory::Other,
        }
    }

    /// The page path, from `properties.path`, `properties.url` or `context.page`.
    pub fn page_path(&self) -> Option<&str> {
        let page = self.context.get("page");
        self.properties
            .str_field("path")
            .or_else(|| self.properties.str_field("url"))
            .or_else(|| page.and_then(|page| page.str_field("path")))
            .or_else(|| page.and_then(|page| page.str_field("url")))
    }

    fn is_social_referral(&self) -> bool {
        let campaign = self.context.get("campaign");
        let medium = campaign.and_then(|c| c.str_field("medium"));
        if medium.is_some_and(|m| {
            m.eq_ignore_ascii_case("social") || m.eq_ignore_ascii_case("social-network")
        }) {
            return true;
        }
        let referrer = self.properties.str_field("referrer").or_else(|| {
            self.context
                .get("page")
                .and_then(|page| page.str_field("referrer"))
        });
        referrer.and_then(host_of).is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            let host = host.strip_prefix("www.").unwrap_or(&host);
            let host = host.strip_prefix("m.").unwrap_or(host);
            SOCIAL_HOSTS
                .iter()
                .any(|social| host == *social || host.ends_with(&format!(".{social}")))
        })
    }

    /// The e-mail address from traits (`traits.email` or `context.traits.email`), lowercased.
    pub fn email(&self) -> Option<String> {
        self.traits
            .str_field("email")
            .or_else(|| {
                self.context
                    .get("traits")
                    .and_then(|traits| traits.str_field("email"))
            })
            .filter(|email| email.contains('@'))
            .map(str::to_lowercase)
    }
}

fn rules_free_link(props: &Value) -> Option<&str> {
    props
        .str_field("link_url")
        .or_else(|| props.str_field("url"))
}

/// The host of a URL, without scheme, port, path or credentials.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests;
