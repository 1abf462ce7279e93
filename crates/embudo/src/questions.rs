//! `embudo questions`: the survey questions of a workspace.
//!
//! `list` prints, per question of the bank in use, the figures of `GET /api/v1/questions`
//! (times asked and answered, answer rate, answer counts, information value); `--json` prints
//! the very same object. `learn` re-estimates the answer likelihoods from the shop's answers
//! and saves them as a new model, used from then on.

use anyhow::Context;
use embudo_core::phase::Lang;
use embudo_service::Embudo;

use crate::cli::find_workspace;

#[derive(Debug, clap::Subcommand)]
pub enum QuestionsCommand {
    /// Each question with times asked, answered, answer rate, answer counts and information
    /// value (expected gain at the prior, and on average when asked).
    List {
        /// The workspace, by name or id.
        #[arg(long, short)]
        workspace: String,
        /// Print one JSON object (the admin API's) instead of text.
        #[arg(long)]
        json: bool,
        /// Language of the texts: es or en.
        #[arg(long, default_value = "es", value_parser = parse_lang)]
        lang: Lang,
    },
    /// Re-estimate the answer likelihoods from the answers and later outcomes, and save them.
    Learn {
        /// The workspace, by name or id.
        #[arg(long, short)]
        workspace: String,
    },
}

fn parse_lang(text: &str) -> Result<Lang, String> {
    Lang::parse(text).ok_or_else(|| format!("unknown language {text:?} (use es or en)"))
}

/// Runs `embudo questions …`.
pub async fn run(command: &QuestionsCommand, embudo: &Embudo) -> anyhow::Result<()> {
    match command {
        QuestionsCommand::List {
            workspace,
            json,
            lang,
        } => {
            let workspace = find_workspace(embudo, workspace).await?;
            let stats = embudo
                .question_stats(workspace)
                .await
                .context("failed to count the questions")?;
            if *json {
                println!("{}", embudo_http::questions::stats_json(&stats));
                return Ok(());
            }
            match &stats.learned {
                Some(model) => println!(
                    "bank: learned (version {}, built {})",
                    model.version, model.built_at
                ),
                None => println!("bank: as configured (nothing learned yet)"),
            }
            for question in &stats.questions {
                let text = match lang {
                    Lang::Es => &question.text.es,
                    Lang::En => &question.text.en,
                };
                let rate = question
                    .answer_rate
                    .map_or("-".to_owned(), |rate| format!("{:.0} %", rate * 100.0));
                let mean = question
                    .mean_gain_when_asked
                    .map_or("-".to_owned(), |gain| format!("{gain:.3}"));
                println!(
                    "{}  {text}\n  asked {}  answered {}  answer rate {rate}  gain at prior {:.3} bits  mean gain when asked {mean}",
                    question.question_id, question.asked, question.answered, question.gain_at_prior
                );
                let answers: Vec<String> = question
                    .answers
                    .iter()
                    .map(|(id, _, count)| format!("{id} {count}"))
                    .collect();
                println!("  answers: {}", answers.join(", "));
            }
            Ok(())
        }
        QuestionsCommand::Learn { workspace } => {
            let workspace = find_workspace(embudo, workspace).await?;
            let info = embudo
                .learn_questions(workspace)
                .await
                .context("failed to learn the question bank")?;
            let report: serde_json::Value = serde_json::from_str(&info.report).unwrap_or_default();
            println!(
                "learned question bank version {} from {} answers (pseudo-count {})",
                info.version, report["observations"], report["pseudo_count"]
            );
            Ok(())
        }
    }
}
