//! `embudo recommend …`: build the cross-sell, season and reorder models of a workspace, and
//! read a person's recommendations or a product's page; `embudo bench recommend`: the build's
//! speed on the UCI Online Retail file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use embudo_core::Timestamp;
use embudo_core::order::OrderLine;
use embudo_core::phase::Lang;
use embudo_service::Embudo;
use embudo_service::recommend::{
    ExpectedOrder, ProductView, ProfileRecommendations, RecommendModels,
};
use embudo_store::{IdentityKind, OrderRecord, ProfileId, WorkspaceId};
use serde_json::json;

/// The `embudo recommend` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RecommendCommand {
    /// Build the models from the workspace's orders now (the server's scheduler does this too).
    Build {
        #[arg(long, short, default_value = "default")]
        workspace: String,
    },
    /// A person's recommendations, expected next order and reorder suggestions.
    Profile(ProfileArgs),
    /// A product's associations, season and reorder interval.
    Product {
        /// The product id (as in the orders).
        id: String,
        #[arg(long, short, default_value = "default")]
        workspace: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// The profile id.
    #[arg(conflicts_with = "user_id", required_unless_present = "user_id")]
    pub id: Option<i64>,
    /// The person by their user id instead.
    #[arg(long)]
    pub user_id: Option<String>,
    #[arg(long, short, default_value = "default")]
    pub workspace: String,
    /// How many products (default: `[recommend] results`).
    #[arg(long)]
    pub limit: Option<usize>,
    /// es (default) or en.
    #[arg(long, default_value = "es")]
    pub lang: String,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: &RecommendCommand, embudo: &Embudo) -> anyhow::Result<()> {
    match command {
        RecommendCommand::Build { workspace } => {
            let workspace = crate::cli::find_workspace(embudo, workspace).await?;
            let started = Instant::now();
            let info = embudo
                .build_recommendations(workspace)
                .await
                .context("failed to build the recommendation model")?;
            println!(
                "recommendation model version {} built in {:.2} s ({} bytes): {}",
                info.version,
                started.elapsed().as_secs_f64(),
                info.size,
                info.report
            );
            Ok(())
        }
        RecommendCommand::Profile(args) => profile(args, embudo).await,
        RecommendCommand::Product {
            id,
            workspace,
            json,
        } => {
            let workspace = crate::cli::find_workspace(embudo, workspace).await?;
            let view = embudo
                .product(workspace, id)
                .await
                .context("failed to read the product")?
                .with_context(|| format!("the model knows no product {id:?}"))?;
            if *json {
                println!("{}", product_json(&view));
            } else {
                print_product(&view);
            }
            Ok(())
        }
    }
}

async fn profile(args: &ProfileArgs, embudo: &Embudo) -> anyhow::Result<()> {
    let workspace: WorkspaceId = crate::cli::find_workspace(embudo, &args.workspace).await?;
    let lang = Lang::parse(&args.lang)
        .with_context(|| format!("--lang {:?} is not es or en", args.lang))?;
    let id = match (&args.user_id, args.id) {
        (Some(user_id), _) => {
            embudo
                .profile_by_identity(workspace, IdentityKind::User, user_id)
                .await
                .context("failed to look the person up")?
                .with_context(|| format!("no profile with user id {user_id:?}"))?
                .id
        }
        (None, Some(id)) => ProfileId(id),
        (None, None) => anyhow::bail!("give a profile id or --user-id"),
    };
    let answer = embudo
        .recommendations(workspace, id, args.limit, lang)
        .await
        .context("failed to recommend")?
        .with_context(|| format!("no profile {id}"))?;
    if args.json {
        println!("{}", recommendations_json(&answer));
    } else {
        print_recommendations(&answer, lang);
    }
    Ok(())
}

fn expected_json(e: &ExpectedOrder) -> serde_json::Value {
    json!({
        "last_at": e.last_at.to_string(),
        "expected_at": e.expected_at.to_string(),
        "interval_days": e.interval_days,
        "own_intervals": e.own_intervals,
    })
}

fn recommendations_json(answer: &ProfileRecommendations) -> serde_json::Value {
    json!({
        "profile_id": answer.profile_id.0,
        "model_version": answer.model_version,
        "items": answer.items.iter().map(|item| json!({
            "product_id": item.product.id,
            "name": item.product.name,
            "category": item.product.category,
            "score": item.score,
            "reason": item.reason.kind,
            "explanation": item.reason.text,
            "anchor_id": item.reason.anchor.as_ref().map(|a| a.id.clone()),
            "customers": item.reason.customers,
        })).collect::<Vec<_>>(),
        "next_order": answer.next_order.as_ref().map(expected_json),
        "reorders": answer.reorders.iter().map(|r| json!({
            "product_id": r.product.id,
            "name": r.product.name,
            "due": r.due,
            "expected": expected_json(&r.expected),
        })).collect::<Vec<_>>(),
    })
}

fn print_recommendations(answer: &ProfileRecommendations, lang: Lang) {
    let (title, next, none) = match lang {
        Lang::Es => (
            "recomendaciones",
            "próximo pedido esperado",
            "sin pedidos todavía",
        ),
        Lang::En => ("recommendations", "expected next order", "no orders yet"),
    };
    println!(
        "{title} (profile {}, model version {}):",
        answer.profile_id, answer.model_version
    );
    for (k, item) in answer.items.iter().enumerate() {
        println!(
            "{:>3}. {} {} ({:.3}): {}",
            k + 1,
            item.product.id,
            item.product.name,
            item.score,
            item.reason.text
        );
    }
    match &answer.next_order {
        Some(e) => println!(
            "{next}: {} ({:.0} d after {})",
            e.expected_at.date_string(),
            e.interval_days,
            e.last_at.date_string()
        ),
        None => println!("{next}: {none}"),
    }
    for r in &answer.reorders {
        println!(
            "  reorder {} {}: {}{}",
            r.product.id,
            r.product.name,
            r.expected.expected_at.date_string(),
            if r.due { " (due)" } else { "" }
        );
    }
}

pub(crate) fn product_json(view: &ProductView) -> serde_json::Value {
    json!({
        "product_id": view.product.id,
        "name": view.product.name,
        "category": view.product.category,
        "active": view.active,
        "consumable": view.consumable,
        "customers": view.customers,
        "orders": view.orders,
        "reorder_rate": view.reorder_rate,
        "associations": view.associations.iter().map(|a| json!({
            "product_id": a.product.id,
            "name": a.product.name,
            "customers": a.customers,
            "support": a.support,
            "confidence": a.confidence,
            "lift": a.lift,
        })).collect::<Vec<_>>(),
        "season": {
            "best_months": view.season.best_months,
            "month_index": view.season.month_index,
            "upcoming_peak": view.season.upcoming_peak.map(|p| json!({
                "year": p.year, "month": p.month, "index": p.index,
            })),
        },
        "interval": {
            "repeats": view.interval.repeats,
            "median_days": view.interval.median_days,
            "lower_quartile_days": view.interval.lower_quartile_days,
            "upper_quartile_days": view.interval.upper_quartile_days,
        },
    })
}

fn print_product(view: &ProductView) {
    println!(
        "{} {} ({} customers, {} orders, reorder rate {:.2}{})",
        view.product.id,
        view.product.name,
        view.customers,
        view.orders,
        view.reorder_rate,
        if view.active { "" } else { ", inactive" }
    );
    let months: Vec<String> = view.season.best_months.iter().map(u8::to_string).collect();
    print!("season: best months {}", months.join(", "));
    match view.season.upcoming_peak {
        Some(p) => println!(
            "; next peak {}-{:02} (index {:.2})",
            p.year, p.month, p.index
        ),
        None => println!("; no peak"),
    }
    println!(
        "reorder interval: median {:.0} d [{:.0}-{:.0}] from {} repeats",
        view.interval.median_days,
        view.interval.lower_quartile_days,
        view.interval.upper_quartile_days,
        view.interval.repeats
    );
    println!("bought with:");
    for a in &view.associations {
        println!(
            "  {} {}: {} customers, support {:.4}, confidence {:.3}, lift {:.1}",
            a.product.id, a.product.name, a.customers, a.support, a.confidence, a.lift
        );
    }
}

/// Options of `embudo bench recommend`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The UCI Online Retail file (`online_retail.csv.gz`).
    #[arg(long)]
    pub data: PathBuf,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// Times the model build (every model and its payload, as `build_recommendations` does after
/// reading the orders) and the payload's decoding, on the whole file.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let raw = embudo_eval::online_retail::read(&args.data)?;
    let orders = orders_of(&raw);
    let now = orders
        .last()
        .map_or(Timestamp::from_millis(0), |o| o.placed_at);
    println!(
        "{} invoice lines, {} orders ({} with a customer)",
        raw.len(),
        orders.len(),
        orders.iter().filter(|o| o.profile_id.is_some()).count()
    );
    let mut builds = Vec::new();
    let mut decodes = Vec::new();
    for run in 0..args.runs.max(1) {
        let started = Instant::now();
        let models = RecommendModels::build(&orders, now).context("failed to build")?;
        let payload = models.encode();
        let build = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let decoded = RecommendModels::decode(&payload).context("failed to decode")?;
        let decode = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            decoded == models,
            "the payload does not decode to the model"
        );
        println!(
            "run {}: build {build:.3} s, decode {decode:.3} s; {} products, {} customers, {} orders, payload {} bytes",
            run + 1,
            models.counts.products,
            models.counts.customers,
            models.counts.orders,
            payload.len()
        );
        builds.push(build);
        decodes.push(decode);
    }
    builds.sort_by(f64::total_cmp);
    decodes.sort_by(f64::total_cmp);
    println!(
        "median of {} runs: build {:.3} s, decode {:.3} s",
        builds.len(),
        builds[builds.len() / 2],
        decodes[decodes.len() / 2]
    );
    Ok(())
}

/// The file's invoices as stored orders: lines with a positive quantity, cancellations
/// (`C` invoices) left out, the customer id as the profile id.
fn orders_of(raw: &[embudo_eval::online_retail::RetailLine]) -> Vec<OrderRecord> {
    let mut orders: Vec<OrderRecord> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for line in raw {
        if line.quantity <= 0 || line.invoice.starts_with('C') {
            continue;
        }
        let k = *index.entry(line.invoice.clone()).or_insert_with(|| {
            orders.push(OrderRecord {
                workspace_id: WorkspaceId(1),
                order_id: line.invoice.clone(),
                profile_id: line.customer.map(|c| ProfileId(i64::from(c))),
                placed_at: Timestamp::from_secs(line.at),
                total: 0.0,
                currency: Some("GBP".to_owned()),
                lines: Vec::new(),
                refunded: 0.0,
                cancelled: false,
            });
            orders.len() - 1
        });
        let order = &mut orders[k];
        order.total += line.unit_price * line.quantity as f64;
        order.lines.push(OrderLine {
            product_id: line.stock_code.clone(),
            sku: None,
            name: Some(line.description.clone()),
            category: None,
            brand: None,
            unit_price: line.unit_price,
            quantity: line.quantity as f64,
        });
    }
    orders.sort_by(|a, b| {
        a.placed_at
            .cmp(&b.placed_at)
            .then(a.order_id.cmp(&b.order_id))
    });
    orders
}
