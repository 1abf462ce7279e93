//! Page categories and the path rules that classify pages into them.

use std::fmt;

/// What kind of page a page view was, as embudo classifies pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum PageCategory {
    Landing,
    Blog,
    Forum,
    Product,
    Comparison,
    Pricing,
    Cart,
    Checkout,
    Other,
}

impl PageCategory {
    pub const ALL: [PageCategory; 9] = [
        PageCategory::Landing,
        PageCategory::Blog,
        PageCategory::Forum,
        PageCategory::Product,
        PageCategory::Comparison,
        PageCategory::Pricing,
        PageCategory::Cart,
        PageCategory::Checkout,
        PageCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PageCategory::Landing => "landing",
            PageCategory::Blog => "blog",
            PageCategory::Forum => "forum",
            PageCategory::Product => "product",
            PageCategory::Comparison => "comparison",
            PageCategory::Pricing => "pricing",
            PageCategory::Cart => "cart",
            PageCategory::Checkout => "checkout",
            PageCategory::Other => "other",
        }
    }

    /// Parses a category name, English or Spanish (`blog`, `comparativa`, `precios`, …).
    pub fn parse(text: &str) -> Option<PageCategory> {
        let text = text.trim().to_lowercase();
        let category = match text.as_str() {
            "landing" | "landing page" | "lp" => PageCategory::Landing,
            "blog" | "article" | "articulo" | "artículo" | "news" | "noticias" | "guide"
            | "guia" | "guía" => PageCategory::Blog,
            "forum" | "foro" | "community" | "comunidad" => PageCategory::Forum,
            "product" | "producto" => PageCategory::Product,
            "comparison" | "compare" | "comparativa" | "comparar" => PageCategory::Comparison,
            "pricing" | "prices" | "precios" | "tarifas" | "ofertas" | "deals" => {
                PageCategory::Pricing
            }
            "cart" | "basket" | "carrito" | "cesta" => PageCategory::Cart,
            "checkout" | "payment" | "pago" => PageCategory::Checkout,
            "other" | "otra" | "otro" => PageCategory::Other,
            _ => return None,
        };
        Some(category)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PageCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule: a path that contains `pattern` (case-insensitive) is of `category`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub category: PageCategory,
    pub pattern: String,
}

/// Ordered path rules; the first that matches wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRules {
    rules: Vec<PathRule>,
}

impl PageRules {
    /// Rules in the given order (the first match wins). Patterns are lowercased.
    pub fn new(rules: Vec<PathRule>) -> PageRules {
        let rules = rules
            .into_iter()
            .map(|rule| PathRule {
                category: rule.category,
                pattern: rule.pattern.to_lowercase(),
            })
            .collect();
        PageRules { rules }
    }

    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// Classifies a path or a full URL (its scheme and host are ignored).
    pub fn classify_path(&self, path_or_url: &str) -> PageCategory {
        let path = match path_or_url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
            None => path_or_url,
        };
        let path = path.split(['?', '#']).next().unwrap_or(path).to_lowercase();
        self.rules
            .iter()
            .find(|rule| path.contains(rule.pattern.as_str()))
            .map_or(PageCategory::Other, |rule| rule.category)
    }
}

impl Default for PageRules {
    /// The default rules for common Spanish and English shop paths. Checkout, cart, comparison
    /// and pricing come first: a comparison article under `/blog/` still weighs as a comparison.
    fn default() -> PageRules {
        use PageCategory::*;
        let table: &[(PageCategory, &[&str])] = &[
            (
                Checkout,
                &["/checkout", "/pago", "/finalizar-compra", "/payment"],
            ),
            (Cart, &["/carrito", "/cesta", "/cart", "/basket"]),
            (
                Comparison,
                &[
                    "/comparar",
                    "/comparativa",
                    "/compare",
                    "/comparison",
                    "/vs/",
                ],
            ),
            (
                Pricing,
                &[
                    "/precios", "/tarifas", "/ofertas", "/pricing", "/prices", "/deals",
                ],
            ),
            (
                Product,
                &[
                    "/producto/",
                    "/productos/",
                    "/product/",
                    "/products/",
                    "/p/",
                ],
            ),
            (
                Landing,
                &["/landing/", "/lp/", "/campana/", "/campaña/", "/campaign/"],
            ),
            (
                Blog,
                &[
                    "/blog/",
                    "/articulos/",
                    "/noticias/",
                    "/guia",
                    "/articles/",
                    "/news/",
                    "/guide",
                ],
            ),
            (Forum, &["/foro", "/comunidad", "/forum", "/community"]),
        ];
        let rules = table
            .iter()
            .flat_map(|(category, patterns)| {
                patterns.iter().map(|pattern| PathRule {
                    category: *category,
                    pattern: (*pattern).to_owned(),
                })
            })
            .collect();
        PageRules::new(rules)
    }
}
