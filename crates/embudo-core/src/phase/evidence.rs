//! Evidence: one signal that moved the phase, with its contribution, in words a marketer
//! understands (Spanish by default, English available).

use crate::phase::Phase;
use crate::phase::model::{PhaseModel, Signal};
use crate::phase::state::PhaseState;
use crate::time::{MILLIS_PER_DAY, Timestamp};

/// The language of the texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    Es,
    En,
}

impl Lang {
    /// `es` or `en` (case-insensitive, region ignored: `es-ES`, `en_GB`).
    pub fn parse(text: &str) -> Option<Lang> {
        let base = text.trim().split(['-', '_']).next().unwrap_or_default();
        match base.to_ascii_lowercase().as_str() {
            "es" => Some(Lang::Es),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// One signal behind a classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub signal: Signal,
    /// Logit points this signal added to phases I, II and III.
    pub contribution: [f64; 3],
    /// The decayed level at evaluation time (for [`Signal::Purchase`], the kept orders).
    pub level: f64,
    /// Events that moved the signal, ever (for focused views: the views of the current
    /// streak in the leading category or brand).
    pub count: u32,
    pub first_at: Option<Timestamp>,
    pub last_at: Option<Timestamp>,
    /// The category or brand of focused views: `category` or `brand`, and its name.
    pub focus: Option<(FocusKind, String)>,
}

/// What a focus group groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FocusKind {
    Category,
    Brand,
}

impl Evidence {
    pub(crate) fn from_signal(
        state: &PhaseState,
        signal: Signal,
        level: f64,
        contribution: [f64; 3],
        now: Timestamp,
        model: &PhaseModel,
    ) -> Evidence {
        if signal == Signal::FocusedViews
            && let Some((group, _)) = state.focus_leader(now, model)
        {
            let kind = if group.key.starts_with('b') {
                FocusKind::Brand
            } else {
                FocusKind::Category
            };
            return Evidence {
                signal,
                contribution,
                level,
                count: group.streak_views,
                first_at: Some(Timestamp::from_millis(group.streak_start_ms)),
                last_at: Some(Timestamp::from_millis(group.last_ms)),
                focus: Some((kind, group.key.get(2..).unwrap_or_default().to_owned())),
            };
        }
        let span = state.span(signal);
        Evidence {
            signal,
            contribution,
            level,
            count: state.count(signal),
            first_at: span.map(|(first, _)| first),
            last_at: span.map(|(_, last)| last),
            focus: None,
        }
    }

    pub(crate) fn purchase(
        n_orders: u32,
        last_order: Option<Timestamp>,
        contribution: [f64; 3],
    ) -> Evidence {
        Evidence {
            signal: Signal::Purchase,
            contribution,
            level: f64::from(n_orders),
            count: n_orders,
            first_at: None,
            last_at: last_order,
            focus: None,
        }
    }

    pub(crate) fn answers(contribution: [f64; 3]) -> Evidence {
        Evidence {
            signal: Signal::SurveyAnswers,
            contribution,
            level: 1.0,
            count: 1,
            first_at: None,
            last_at: None,
            focus: None,
        }
    }

    /// How much the signal pushed toward `phase` rather than the strongest other phase.
    pub fn influence(&self, phase: Phase) -> f64 {
        let toward = self.contribution[phase.index()];
        let other = Phase::ALL
            .into_iter()
            .filter(|other| *other != phase)
            .map(|other| self.contribution[other.index()])
            .fold(f64::NEG_INFINITY, f64::max);
        toward - other
    }

    /// The phase this evidence pushes toward most.
    pub fn leans_to(&self) -> Phase {
        let mut best = Phase::I;
        for phase in Phase::ALL {
            if self.contribution[phase.index()] > self.contribution[best.index()] {
                best = phase;
            }
        }
        best
    }

    /// The evidence in words, e.g. "vio 4 productos de la misma categoría (zapatillas) en 3 días".
    pub fn describe(&self, lang: Lang) -> String {
        let n = self.count;
        let last = self.last_at.map(Timestamp::date_string).unwrap_or_default();
        let es = lang == Lang::Es;
        match self.signal {
            Signal::InfoPage => pick(
                es,
                format!(
                    "visitó {n} {} (landing, blog, foro), la última el {last}",
                    plural(n, "página informativa", "páginas informativas")
                ),
                format!(
                    "visited {n} information {} (landing, blog, forum), the last on {last}",
                    plural(n, "page", "pages")
                ),
            ),
            Signal::SocialVisit => pick(
                es,
                format!("llegó {n} {} desde redes sociales", veces(n)),
                format!("came from social networks {n} {}", times(n)),
            ),
            Signal::SignUp => pick(
                es,
                format!("se suscribió el {last}"),
                format!("signed up on {last}"),
            ),
            Signal::Search => pick(
                es,
                format!("buscó en el catálogo {n} {}", veces(n)),
                format!("searched the catalogue {n} {}", times(n)),
            ),
            Signal::Browse => pick(
                es,
                format!(
                    "vio {n} {}, el último el {last}",
                    plural(n, "producto o listado", "productos o listados")
                ),
                format!(
                    "viewed {n} {}, the last on {last}",
                    plural(n, "product or product list", "products or product lists")
                ),
            ),
            Signal::FocusedViews => {
                let days = match (self.first_at, self.last_at) {
                    (Some(first), Some(last)) => {
                        ((last.as_millis() - first.as_millis()) as f64 / MILLIS_PER_DAY as f64)
                            .floor() as i64
                            + 1
                    }
                    _ => 1,
                };
                let (kind, name) = match &self.focus {
                    Some((kind, name)) => (*kind, name.as_str()),
                    None => (FocusKind::Category, ""),
                };
                match (kind, es) {
                    (FocusKind::Category, true) => format!(
                        "vio {n} productos de la misma categoría ({name}) en {days} {}",
                        if days == 1 { "día" } else { "días" }
                    ),
                    (FocusKind::Brand, true) => format!(
                        "vio {n} productos de la misma marca ({name}) en {days} {}",
                        if days == 1 { "día" } else { "días" }
                    ),
                    (FocusKind::Category, false) => format!(
                        "viewed {n} products of the same category ({name}) in {days} {}",
                        if days == 1 { "day" } else { "days" }
                    ),
                    (FocusKind::Brand, false) => format!(
                        "viewed {n} products of the same brand ({name}) in {days} {}",
                        if days == 1 { "day" } else { "days" }
                    ),
                }
            }
            Signal::Comparison => pick(
                es,
                format!("comparó productos {n} {}, la última el {last}", veces(n)),
                format!("compared products {n} {}, the last on {last}", times(n)),
            ),
            Signal::Pricing => pick(
                es,
                format!("comparó precios {n} {}, la última el {last}", veces(n)),
                format!("compared prices {n} {}, the last on {last}", times(n)),
            ),
            Signal::Cart => pick(
                es,
                format!(
                    "añadió productos al carrito o lo miró {n} {}, la última el {last}",
                    veces(n)
                ),
                format!(
                    "added to or viewed the cart {n} {}, the last on {last}",
                    times(n)
                ),
            ),
            Signal::Checkout => pick(
                es,
                format!("empezó a pagar {n} {}, la última el {last}", veces(n)),
                format!("started checkout {n} {}, the last on {last}", times(n)),
            ),
            Signal::Coupon => pick(
                es,
                format!("usó un cupón {n} {}", veces(n)),
                format!("entered a coupon {n} {}", times(n)),
            ),
            Signal::Wishlist => pick(
                es,
                format!(
                    "guardó {n} {} en favoritos",
                    plural(n, "producto", "productos")
                ),
                format!(
                    "added {n} {} to the wishlist",
                    plural(n, "product", "products")
                ),
            ),
            Signal::ProductEmail => pick(
                es,
                format!(
                    "hizo clic en {n} {} sobre productos o precios",
                    plural(n, "correo", "correos")
                ),
                format!(
                    "clicked {n} {} about products or prices",
                    plural(n, "e-mail", "e-mails")
                ),
            ),
            Signal::EmailEngagement => pick(
                es,
                format!(
                    "abrió o hizo clic en {n} {}, el último el {last}",
                    plural(n, "correo", "correos")
                ),
                format!(
                    "opened or clicked {n} {}, the last on {last}",
                    plural(n, "e-mail", "e-mails")
                ),
            ),
            Signal::Visit => pick(
                es,
                format!(
                    "visitó {n} {}, la última el {last}",
                    plural(n, "otra página", "otras páginas")
                ),
                format!(
                    "visited {n} other {}, the last on {last}",
                    plural(n, "page", "pages")
                ),
            ),
            Signal::Review => pick(
                es,
                format!(
                    "escribió {n} {}",
                    if n == 1 { "opinión" } else { "opiniones" }
                ),
                format!("wrote {n} {}", if n == 1 { "review" } else { "reviews" }),
            ),
            Signal::Share => pick(
                es,
                format!("compartió productos {n} {}", veces(n)),
                format!("shared products {n} {}", times(n)),
            ),
            Signal::Referral => pick(
                es,
                format!("recomendó la tienda {n} {}", veces(n)),
                format!("referred the shop {n} {}", times(n)),
            ),
            Signal::QuestionAnswered => pick(
                es,
                format!(
                    "respondió {n} {}",
                    if n == 1 { "pregunta" } else { "preguntas" }
                ),
                format!(
                    "answered {n} {}",
                    if n == 1 { "question" } else { "questions" }
                ),
            ),
            Signal::Purchase if n > 1 => pick(
                es,
                format!("compró el {last} ({n} pedidos)"),
                format!("bought on {last} ({n} orders)"),
            ),
            Signal::Purchase => pick(es, format!("compró el {last}"), format!("bought on {last}")),
            Signal::SurveyAnswers => pick(
                es,
                "sus respuestas a la encuesta".to_owned(),
                "their survey answers".to_owned(),
            ),
        }
    }
}

fn pick(es: bool, spanish: String, english: String) -> String {
    if es { spanish } else { english }
}

fn plural(n: u32, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

fn veces(n: u32) -> &'static str {
    if n == 1 { "vez" } else { "veces" }
}

fn times(n: u32) -> &'static str {
    if n == 1 { "time" } else { "times" }
}
