//! Human-readable output and TREC run files.

use std::io::Write;
use std::path::Path;
use xlqa_search::AskResult;
use xlqa_search::BuildReport;

fn clip(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        let mut t: String = one_line.chars().take(n).collect();
        t.push('…');
        t
    }
}

pub fn print_build_report(r: &BuildReport, out: &Path) {
    let c = &r.counts;
    eprintln!(
        "indexed {} documents → {} passages in {:.1} s ({:.1} passages/s) at {}",
        c.documents,
        c.passages,
        r.total_s,
        r.passages_per_s,
        out.display()
    );
    eprintln!(
        "  stages: language {:.2} s, chunking {:.2} s, encoding {:.2} s, stores {:.2} s{}",
        r.langid_s,
        r.chunk_s,
        r.encode_s,
        r.lexical_s,
        if r.ann_s > 0.0 {
            format!(", hnsw graph {:.2} s", r.ann_s)
        } else {
            String::new()
        }
    );
    let langs: Vec<String> = c
        .passages_by_lang
        .iter()
        .map(|(l, n)| format!("{l}:{n}"))
        .collect();
    eprintln!("  passages by language: {}", langs.join(" "));
    eprintln!(
        "  languages detected for {} documents; {} dropped as too short; {} skipped as invalid",
        c.lang_detected, c.dropped_short, c.skipped_invalid
    );
    if !r.low_confidence.is_empty() {
        eprintln!(
            "  {} documents were detected with low confidence (give them a \"lang\" field to be sure), e.g.:",
            r.low_confidence.len()
        );
        for (id, l, p) in r.low_confidence.iter().take(5) {
            eprintln!("    {id}: {l} ({p:.2})");
        }
    }
    if !r.generic_languages.is_empty() {
        eprintln!(
            "  no language-specific lexical rules for: {} (generic analyzer: Unicode words, NFKC, lowercase, no stemming)",
            r.generic_languages.join(", ")
        );
    }
    if let Some(d) = &r.debias {
        eprintln!("  {d}");
    }
}

pub fn print_result(out: &mut impl Write, r: &AskResult) -> std::io::Result<()> {
    let how = match r.question_lang_confidence {
        Some(c) => format!("detected, {c:.2}"),
        None => "given".to_string(),
    };
    writeln!(out, "Q [{}, {how}] {}", r.question_lang, r.question)?;
    match &r.answer {
        Some(a) => {
            let flag = if a.cross_lingual {
                format!("  [answer in {} ≠ question in {}]", a.lang, r.question_lang)
            } else {
                String::new()
            };
            writeln!(out, "A [{}] {}{flag}", a.lang, clip(&a.text, 300))?;
            if let Some(f) = &a.projected_from {
                writeln!(
                    out,
                    "  read in {} as \"{}\" ({}), carried into the linked {} passage ({})",
                    f.lang,
                    clip(&f.text, 120),
                    f.passage_id,
                    a.lang,
                    f.method
                )?;
            }
            writeln!(
                out,
                "  from {} \"{}\" ({} reader, score {:.3})",
                a.passage_id,
                a.title,
                reader_name(r),
                a.score
            )?;
        }
        None => writeln!(out, "A (none)")?,
    }
    if let Some(n) = &r.note {
        writeln!(out, "  note: {n}")?;
    }
    for w in &r.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    writeln!(out, "  passages ({}):", r.retriever.as_str())?;
    for p in &r.passages {
        // BM25 scores are unbounded: two decimals; similarities: three
        let parts: Vec<String> = p
            .ranks
            .0
            .iter()
            .map(|r| match r.name {
                "bm25" => format!("{} #{} {:.2}", r.name, r.rank, r.score),
                _ => format!("{} #{} {:.3}", r.name, r.rank, r.score),
            })
            .collect();
        writeln!(
            out,
            "   {}. [{}] {} \"{}\" score {:.4} ({})",
            p.rank,
            p.lang,
            p.id,
            p.title,
            p.score,
            parts.join(", ")
        )?;
        writeln!(out, "      {}", clip(&p.text, 140))?;
    }
    let t = &r.timings;
    writeln!(
        out,
        "  time: lang-id {:.1} ms, encode {:.1} ms, dense {:.1} ms, lexical {:.1} ms, fuse {:.2} ms, read {:.1} ms, total {:.1} ms\n",
        t.lang_id_ms, t.encode_ms, t.dense_ms, t.lexical_ms, t.fuse_ms, t.read_ms, t.total_ms
    )
}

fn reader_name(r: &AskResult) -> &str {
    r.answer.as_ref().map_or("none", |a| a.reader.as_str())
}

/// TREC run lines: `qid Q0 docid rank score tag`. Whitespace inside ids
/// (which would break the format) is replaced by `_`.
pub fn write_run(w: &mut impl Write, r: &AskResult, tag: &str) -> std::io::Result<()> {
    let clean = |s: &str| s.split_whitespace().collect::<Vec<_>>().join("_");
    for p in &r.passages {
        writeln!(
            w,
            "{} Q0 {} {} {:.6} {}",
            clean(&r.id),
            clean(&p.id),
            p.rank,
            p.score,
            clean(tag)
        )?;
    }
    Ok(())
}
