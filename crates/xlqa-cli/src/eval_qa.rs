//! `xlqa eval qa` (EM / token F1 / BLEU of answers) and `xlqa eval compare`
//! (paired bootstrap between two runs' `per_question.jsonl`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use xlqa_core::Lang;
use xlqa_data::gold::{read_gold, GoldFormat, GoldOptions, GoldPurpose};
use xlqa_data::normalize::ZhTokens;
use xlqa_eval::bootstrap::{self, BootstrapOptions, PerQuestion};
use xlqa_eval::qa::{self, QaOptions};

#[derive(Clone, Copy, ValueEnum)]
pub enum GoldFormatArg {
    Auto,
    Squad,
    Xquad,
    Tydi,
    Mkqa,
    Xor,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ZhTokensArg {
    /// jieba words.
    Word,
    /// One token per Chinese character (MLQA "mixed segmentation").
    Char,
}

#[derive(Args)]
pub struct QaArgs {
    /// Gold answers: SQuAD/XQuAD JSON (file, or folder of xquad.<lang>.json),
    /// TyDi GoldP JSON (file or folder), MKQA JSONL(.gz) or XOR/MIA JSONL.
    #[arg(long)]
    gold: PathBuf,
    /// Predictions: JSON {id: answer} or {lang: {id: answer}}, or JSONL
    /// {"id","lang"?,"prediction"|"answer"} (MKQA's example_id accepted).
    #[arg(long)]
    pred: PathBuf,
    /// The gold format (auto: from the file name and content).
    #[arg(long, value_enum, default_value = "auto")]
    gold_format: GoldFormatArg,
    /// For one SQuAD file: its language (default: from xquad.<lang>.json).
    /// For other gold sets: evaluate only this language (MKQA labels such as
    /// zh_cn accepted); predictions for other languages are then ignored.
    #[arg(long)]
    lang: Option<String>,
    /// Normalize every answer with this language's rules (default: the
    /// question's language; e.g. `en` for XOR-TyDi EngSpan).
    #[arg(long)]
    answer_lang: Option<String>,
    /// Chinese tokens: jieba words, or one per character as MLQA/XTREME.
    #[arg(long, value_enum, default_value = "word")]
    zh_tokens: ZhTokensArg,
    /// Also compute BLEU (corpus BLEU-4 per language, sentence BLEU+1 per question).
    #[arg(long)]
    bleu: bool,
    /// Fail if some gold question has no prediction (default: it scores 0 and is counted).
    #[arg(long)]
    require_all: bool,
    /// Write report.md, report.json and per_question.jsonl here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Run A: a per_question.jsonl or a report folder holding one.
    a: PathBuf,
    /// Run B: a per_question.jsonl or a report folder holding one.
    b: PathBuf,
    /// The per-question metric to compare (e.g. f1, em, bleu).
    #[arg(long, default_value = "f1")]
    metric: String,
    /// Number of bootstrap resamples.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Seed of the resampling.
    #[arg(long, default_value_t = 12345)]
    seed: u64,
    /// Compare only the questions both runs have (default: a mismatch is an error).
    #[arg(long)]
    intersect: bool,
    /// Write report.md, report.json and per_question.jsonl (metrics a, b, diff) here.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn write_reports(
    dir: &Path,
    markdown: &str,
    json: &impl serde::Serialize,
    per_question: Option<&[PerQuestion]>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let md = dir.join("report.md");
    std::fs::write(&md, markdown).with_context(|| format!("writing {}", md.display()))?;
    let js = dir.join("report.json");
    std::fs::write(&js, serde_json::to_vec_pretty(json)?)
        .with_context(|| format!("writing {}", js.display()))?;
    if let Some(rows) = per_question {
        let pq = dir.join("per_question.jsonl");
        let f = std::fs::File::create(&pq).with_context(|| format!("creating {}", pq.display()))?;
        let mut w = std::io::BufWriter::new(f);
        bootstrap::write_per_question(&mut w, rows)
            .and_then(|_| w.flush())
            .with_context(|| format!("writing {}", pq.display()))?;
    }
    Ok(())
}

pub fn run_qa(a: QaArgs) -> Result<()> {
    let format = match a.gold_format {
        GoldFormatArg::Auto => GoldFormat::Auto,
        GoldFormatArg::Squad => GoldFormat::Squad,
        GoldFormatArg::Xquad => GoldFormat::Xquad,
        GoldFormatArg::Tydi => GoldFormat::Tydi,
        GoldFormatArg::Mkqa => GoldFormat::Mkqa,
        GoldFormatArg::Xor => GoldFormat::Xor,
    };
    let answer_lang = match &a.answer_lang {
        Some(l) => Some(Lang::parse(l).with_context(|| format!("--answer-lang {l:?}"))?),
        None => None,
    };
    let gold = read_gold(
        &a.gold,
        &GoldOptions {
            purpose: GoldPurpose::Answers,
            format,
            lang: a.lang.clone(),
            answers_lang: None,
        },
    )
    .context("reading the gold answers")?;
    let preds = qa::read_predictions(&a.pred).context("reading the predictions")?;
    let opts = QaOptions {
        zh_tokens: match a.zh_tokens {
            ZhTokensArg::Word => ZhTokens::Word,
            ZhTokensArg::Char => ZhTokens::Char,
        },
        answer_lang,
        bleu: a.bleu,
        require_all: a.require_all,
        languages_filtered: a.lang.is_some(),
    };
    let pb = xlqa_core::progress::bar(gold.items.len() as u64, "scoring", !a.quiet);
    let outcome = qa::evaluate(&gold, &preds, &opts, &|done, _| {
        pb.set_position(done as u64)
    });
    pb.finish_and_clear();
    let outcome = outcome?;
    for w in &outcome.report.warnings {
        eprintln!("warning: {w}");
    }
    let md = outcome.report.to_markdown();
    println!("{md}");
    if let Some(dir) = &a.out {
        write_reports(dir, &md, &outcome.report, Some(&outcome.per_question))?;
        eprintln!(
            "wrote report.md, report.json and per_question.jsonl to {}",
            dir.display()
        );
    }
    Ok(())
}

pub fn run_compare(a: CompareArgs) -> Result<()> {
    let ra = bootstrap::read_per_question(&a.a).context("reading run A")?;
    let rb = bootstrap::read_per_question(&a.b).context("reading run B")?;
    let report = bootstrap::paired_bootstrap(
        &ra,
        &rb,
        &a.metric,
        &BootstrapOptions {
            samples: a.samples,
            seed: a.seed,
            intersect: a.intersect,
        },
    )?;
    let md = report.to_markdown();
    println!("{md}");
    if let Some(dir) = &a.out {
        write_reports(dir, &md, &report, Some(&report.pairs))?;
        eprintln!(
            "wrote report.md, report.json and per_question.jsonl (a, b, diff) to {}",
            dir.display()
        );
    }
    Ok(())
}
