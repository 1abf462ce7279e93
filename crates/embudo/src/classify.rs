//! `embudo classify`: one profile's purchase phase now, with the evidence behind it.
//!
//! The profile is found by one identity (or its id), evaluated by the service at its clock's
//! `now` (decay included, nothing written), and printed as text or one JSON object. The
//! evidence is in the words the core writes for marketers ([`Evidence::describe`]).

use anyhow::Context;
use embudo_core::phase::{Evidence, Lang};
use embudo_service::{Embudo, PhaseView};
use embudo_store::{IdentityKind, ProfileId};

use crate::cli::find_workspace;

/// Options of `embudo classify`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("who")
        .required(true)
        .args(["user_id", "anonymous_id", "email", "profile"])
))]
pub struct Args {
    /// The workspace, by name or id.
    #[arg(long, short)]
    pub workspace: String,
    /// The profile holding this user id.
    #[arg(long)]
    pub user_id: Option<String>,
    /// The profile holding this anonymous id.
    #[arg(long)]
    pub anonymous_id: Option<String>,
    /// The profile holding this e-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// The profile with this id (a merged-away id leads to its survivor).
    #[arg(long)]
    pub profile: Option<i64>,
    /// Also print the evidence: the signals that moved the phase, strongest first.
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Language of the descriptions and the evidence: es or en.
    #[arg(long, default_value = "es", value_parser = parse_lang)]
    pub lang: Lang,
}

fn parse_lang(text: &str) -> Result<Lang, String> {
    Lang::parse(text).ok_or_else(|| format!("unknown language {text:?} (use es or en)"))
}

/// Runs `embudo classify`.
pub async fn run(args: &Args, embudo: &Embudo) -> anyhow::Result<()> {
    let workspace = find_workspace(embudo, &args.workspace).await?;
    let (who, id) = match (&args.user_id, &args.anonymous_id, &args.email, args.profile) {
        (_, _, _, Some(id)) => (format!("id {id}"), Some(ProfileId(id))),
        (user_id, anonymous_id, email, None) => {
            let (kind, value, label) = match (user_id, anonymous_id, email) {
                (Some(value), _, _) => (IdentityKind::User, value, "user id"),
                (_, Some(value), _) => (IdentityKind::Anonymous, value, "anonymous id"),
                (_, _, Some(value)) => (IdentityKind::Email, value, "e-mail"),
                // clap's group requires one of them.
                (None, None, None) => anyhow::bail!(
                    "name the profile: --user-id, --anonymous-id, --email or --profile"
                ),
            };
            let record = embudo
                .profile_by_identity(workspace, kind, value)
                .await
                .with_context(|| format!("failed to look up the profile of {label} {value:?}"))?;
            (format!("{label} {value:?}"), record.map(|record| record.id))
        }
    };
    let view = match id {
        Some(id) => embudo
            .phase(workspace, id)
            .await
            .with_context(|| format!("failed to classify profile {id}"))?,
        None => None,
    };
    let Some(view) = view else {
        anyhow::bail!(
            "no profile for {who} in workspace {:?} (events are profiled by `embudo process` or the server)",
            args.workspace
        );
    };
    if args.json {
        println!("{}", json(&view, args.explain, args.lang));
    } else {
        print!("{}", text(&view, args.explain, args.lang));
    }
    Ok(())
}

/// The text rendering, one fact per line.
fn text(view: &PhaseView, explain: bool, lang: Lang) -> String {
    let c = &view.classification;
    let [p1, p2, p3] = c.probabilities;
    let mut out = format!("profile {}\n", view.profile_id);
    out.push_str(&format!("P(I) {p1:.3}  P(II) {p2:.3}  P(III) {p3:.3}\n"));
    out.push_str(&format!(
        "phase:      {}, {}\n",
        c.phase,
        c.phase.describe(lang)
    ));
    out.push_str(&format!("confidence: {:.3}\n", c.confidence));
    out.push_str(&format!(
        "customer:   {}\n",
        c.substate.map_or("-", |substate| substate.describe(lang))
    ));
    let stage = match (c.stage, c.qualification) {
        (Some(stage), Some(qualification)) => {
            format!(
                "{} ({})",
                stage.describe(lang),
                qualification.describe(lang)
            )
        }
        (Some(stage), None) => stage.describe(lang).to_owned(),
        (None, _) => "-".to_owned(),
    };
    out.push_str(&format!("stage:      {stage}\n"));
    out.push_str(&format!(
        "since:      {}\n",
        view.since
            .map_or_else(|| "-".to_owned(), |since| since.to_string())
    ));
    if explain {
        out.push_str("evidence:\n");
        if c.evidence.is_empty() {
            out.push_str("  (no signals: the prior alone)\n");
        }
        for evidence in &c.evidence {
            out.push_str(&format!(
                "  {:+.2} toward {:<3}  {}\n",
                toward(evidence),
                evidence.leans_to().as_str(),
                evidence.describe(lang)
            ));
        }
    }
    out
}

/// The logit points an evidence line added to the phase it leans to.
fn toward(evidence: &Evidence) -> f64 {
    evidence.contribution[evidence.leans_to().index()]
}

fn json(view: &PhaseView, explain: bool, lang: Lang) -> serde_json::Value {
    let c = &view.classification;
    let mut value = serde_json::json!({
        "profile_id": view.profile_id.0,
        "probabilities": {
            "I": c.probabilities[0],
            "II": c.probabilities[1],
            "III": c.probabilities[2],
        },
        "phase": c.phase.as_str(),
        "confidence": c.confidence,
        "substate": c.substate.map(|substate| substate.as_str()),
        "stage": c.stage.map(|stage| stage.as_str()),
        "qualification": c.qualification.map(|qualification| qualification.as_str()),
        "since": view.since.map(|since| since.to_string()),
        "at": c.at.to_string(),
    });
    if explain {
        value["evidence"] = c
            .evidence
            .iter()
            .map(|evidence| {
                serde_json::json!({
                    "signal": evidence.signal.key(),
                    "leans_to": evidence.leans_to().as_str(),
                    "contribution": evidence.contribution,
                    "count": evidence.count,
                    "text": evidence.describe(lang),
                })
            })
            .collect();
    }
    value
}
