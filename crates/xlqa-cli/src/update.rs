//! `xlqa add` and `xlqa delete`: live updates of an index from the command
//! line (the same engine call as `POST /v1/documents`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use xlqa_core::ReadOptions;
use xlqa_search::{DocumentsReport, EncoderChoice, Engine, EngineBuilder};

use crate::{encoder_choice, home, EncoderArgs};

#[derive(Args)]
pub struct AddArgs {
    /// The index directory.
    index: PathBuf,
    /// Documents to add (JSONL, as `xlqa index` reads); a document whose id
    /// the index holds replaces it.
    documents: PathBuf,
    /// Skip invalid lines (counted) instead of stopping.
    #[arg(long)]
    skip_invalid: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    enc: EncoderArgs,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// The index directory.
    index: PathBuf,
    /// Ids of the documents to delete.
    #[arg(required = true)]
    ids: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    enc: EncoderArgs,
}

fn open(index: &PathBuf, enc: &EncoderArgs) -> Result<Engine> {
    let progress = |m: &str| eprintln!("{m}");
    EngineBuilder::new(index)
        .home(home()?)
        .encoder(EncoderChoice {
            batch_size: enc.batch_size.max(1),
            ..encoder_choice(enc)
        })
        .progress(&progress)
        .build()
        .with_context(|| format!("opening {}", index.display()))
}

fn print(r: &DocumentsReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let i = &r.index;
    println!(
        "added {} documents ({} passages, {} replacing existing ones), deleted {}; index generation {}",
        i.added_documents, i.added_passages, i.replaced_documents, i.deleted_documents, i.generation
    );
    if !i.not_found.is_empty() {
        println!("  not in the index: {}", i.not_found.join(", "));
    }
    for (lang, n) in &i.lexical_skipped {
        println!("  {n} passages in {lang}: the index has no BM25 field for {lang}; dense retrieval finds them (rebuild to add the field)");
    }
    if let Some(why) = &r.refit_due {
        println!("  {why}");
    }
    Ok(())
}

pub fn add(a: AddArgs) -> Result<()> {
    let (docs, rep) = xlqa_core::read_collection(
        &a.documents,
        &ReadOptions {
            skip_invalid: a.skip_invalid,
        },
    )?;
    if rep.skipped > 0 {
        eprintln!(
            "skipped {} invalid lines of {}",
            rep.skipped,
            a.documents.display()
        );
    }
    let engine = open(&a.index, &a.enc)?;
    let r = engine.update_documents(docs, Vec::new())?;
    print(&r, a.json)
}

pub fn delete(a: DeleteArgs) -> Result<()> {
    let engine = open(&a.index, &a.enc)?;
    let r = engine.update_documents(Vec::new(), a.ids.clone())?;
    print(&r, a.json)?;
    if r.index.deleted_documents == 0 {
        anyhow::bail!("none of the ids is in the index: {}", a.ids.join(", "));
    }
    Ok(())
}
