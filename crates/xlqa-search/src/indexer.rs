//! The indexing pipeline: documents → language → passages → embeddings →
//! passage store + lexical index + dense index + manifest.

use crate::SearchError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use xlqa_core::progress::bar;
use xlqa_core::{Document, Lang, LangSource, Passage};
use xlqa_index::debias::MIN_FIT_VECTORS;
use xlqa_index::lexical::{analyzer_info, LexicalIndex};
use xlqa_index::manifest::{ChunkingInfo, Counts};
use xlqa_index::{
    Debias, DebiasMethod, DenseIndex, EncoderInfo, IndexWriter, Manifest, PassageStore,
};
use xlqa_models::{Encoder, TextKind};
use xlqa_text::analyze::Analyzer;
use xlqa_text::chunk::{chunk_text, ChunkOptions, TokenCounter};
use xlqa_text::langid::LangId;

/// Settings of an index build.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub target_tokens: usize,
    pub min_tokens: usize,
    /// Replace an existing index at the output directory.
    pub force: bool,
    /// Skip documents whose language cannot be detected instead of failing.
    pub skip_invalid: bool,
    /// Documents already skipped while reading (recorded in the manifest).
    pub skipped_invalid: usize,
    /// Show progress bars on stderr.
    pub progress: bool,
    /// De-biasing of the stored vectors (fitted on this collection's
    /// passages by language; recorded in the manifest, applied to queries).
    pub debias: DebiasMethod,
    /// Fewest passages of a language for statistics of its own
    /// ([`xlqa_index::debias::MIN_FIT_VECTORS`] by default).
    pub debias_min_passages: usize,
    /// Also build an HNSW graph over the dense vectors (stored as
    /// `ann.hnsw`, used by `ask` when no language is excluded).
    pub ann: Option<xlqa_index::HnswParams>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            target_tokens: 100,
            min_tokens: 20,
            force: false,
            skip_invalid: false,
            skipped_invalid: 0,
            progress: true,
            debias: DebiasMethod::Center,
            debias_min_passages: MIN_FIT_VECTORS,
            ann: None,
        }
    }
}

/// What a build did, with stage times.
#[derive(Clone, Debug, Serialize)]
pub struct BuildReport {
    pub counts: Counts,
    /// Documents whose detected language had confidence under 0.5: (id, lang, confidence).
    pub low_confidence: Vec<(String, String, f32)>,
    /// Documents skipped because no language could be detected.
    pub undetectable: Vec<String>,
    /// Languages indexed without language-specific rules.
    pub generic_languages: Vec<String>,
    /// What the de-biasing did (method, languages fitted, fallbacks), or why
    /// it was skipped; none with `--debias none`.
    pub debias: Option<String>,
    pub langid_s: f64,
    pub chunk_s: f64,
    pub encode_s: f64,
    /// Passage store, dense file and tantivy index.
    pub lexical_s: f64,
    /// The HNSW graph (0 without `ann`).
    pub ann_s: f64,
    pub total_s: f64,
    pub passages_per_s: f64,
}

/// Text of a passage as the encoder sees it (title first, as in DPR).
pub fn passage_input(p: &Passage) -> String {
    if p.title.is_empty() {
        p.text.clone()
    } else {
        format!("{}\n{}", p.title, p.text)
    }
}

struct EncoderCounter<'a>(&'a Encoder);

impl TokenCounter for EncoderCounter<'_> {
    fn count(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

fn stage(show: bool, msg: &str) {
    if show {
        eprintln!("{msg}");
    }
}

/// Documents with their languages, and what language ID reported.
pub(crate) struct Labelled {
    pub(crate) docs: Vec<(Document, Lang, LangSource)>,
    pub(crate) low_confidence: Vec<(String, String, f32)>,
    pub(crate) undetectable: Vec<String>,
    pub(crate) detected: usize,
}

/// Stage 1: the language of every document (given, else detected on the
/// title and the first 1,000 characters).
pub(crate) fn label_languages(
    docs: Vec<Document>,
    langid: &LangId,
    opts: &IndexOptions,
) -> Result<Labelled, SearchError> {
    let pb = bar(docs.len() as u64, "language", opts.progress);
    let mut out = Labelled {
        docs: Vec::with_capacity(docs.len()),
        low_confidence: Vec::new(),
        undetectable: Vec::new(),
        detected: 0,
    };
    for d in docs {
        pb.inc(1);
        if let Some(l) = d.lang.clone() {
            out.docs.push((d, l, LangSource::Given));
            continue;
        }
        // title + the start of the text, without copying whole long documents
        let sample: String = d
            .title
            .chars()
            .chain(std::iter::once(' '))
            .chain(d.text.chars())
            .take(1000)
            .collect();
        match langid.detect(&sample) {
            Some(det) => {
                if det.confidence < 0.5 {
                    out.low_confidence.push((d.id.clone(), det.lang.to_string(), det.confidence));
                }
                out.detected += 1;
                out.docs.push((d, det.lang, LangSource::Detected));
            }
            None if opts.skip_invalid => out.undetectable.push(d.id.clone()),
            None => {
                return Err(SearchError::Input(format!(
                    "document \"{}\": cannot detect its language (no letters in its text); give it a \"lang\" field or pass --skip-invalid",
                    d.id
                )))
            }
        }
    }
    pb.finish_and_clear();
    Ok(out)
}

/// Stage 2: DPR-style passages of every document; documents under
/// `min_tokens` are dropped (their count is returned).
pub(crate) fn make_passages(
    labelled: &[(Document, Lang, LangSource)],
    encoder: &Encoder,
    opts: &IndexOptions,
) -> Result<(Vec<Passage>, usize), SearchError> {
    let copts = ChunkOptions {
        target_tokens: opts.target_tokens,
        min_tokens: opts.min_tokens,
    };
    let counter = EncoderCounter(encoder);
    let pb = bar(labelled.len() as u64, "chunking", opts.progress);
    let mut passages = Vec::new();
    let mut dropped_short = 0;
    for (d, lang, source) in labelled {
        pb.inc(1);
        let chunks = chunk_text(&d.text, lang, &counter, &copts);
        if chunks.len() == 1 && chunks[0].n_tokens < opts.min_tokens {
            dropped_short += 1;
            continue;
        }
        for (n, c) in chunks.into_iter().enumerate() {
            passages.push(Passage {
                id: format!("{}#{n}", d.id),
                doc_id: d.id.clone(),
                title: d.title.clone(),
                text: d.text[c.range].to_string(),
                lang: lang.clone(),
                lang_source: *source,
                n_tokens: c.n_tokens as u32,
                group: d.group.clone(),
            });
        }
    }
    pb.finish_and_clear();
    if passages.is_empty() {
        return Err(SearchError::Input(format!(
            "no passage to index: all {} documents are shorter than --min-tokens {}",
            labelled.len(),
            opts.min_tokens
        )));
    }
    stage(
        opts.progress,
        &format!(
            "{} documents → {} passages ({dropped_short} too short, dropped)",
            labelled.len(),
            passages.len()
        ),
    );
    Ok((passages, dropped_short))
}

/// Stage 3: passage vectors.
pub(crate) fn encode_passages(
    passages: &[Passage],
    encoder: &Encoder,
    opts: &IndexOptions,
) -> Result<Vec<Vec<f32>>, SearchError> {
    let t = Instant::now();
    let inputs: Vec<String> = passages.iter().map(passage_input).collect();
    let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
    let pb = bar(refs.len() as u64, "encoding", opts.progress);
    let vectors =
        encoder.encode_with_progress(&refs, TextKind::Passage, &|n| pb.set_position(n as u64))?;
    pb.finish_and_clear();
    let s = t.elapsed().as_secs_f64();
    stage(
        opts.progress,
        &format!(
            "encoded {} passages in {s:.1} s ({:.1} passages/s)",
            passages.len(),
            passages.len() as f64 / s.max(1e-9)
        ),
    );
    Ok(vectors)
}

/// Stage 3b: de-biasing fitted on the collection by passage language and
/// applied to the vectors; the transform (if any) and a line for the report.
fn fit_debias(
    passages: &[Passage],
    vectors: &mut [Vec<f32>],
    opts: &IndexOptions,
) -> Result<(Option<Debias>, Option<String>), SearchError> {
    if opts.debias == DebiasMethod::None {
        return Ok((None, None));
    }
    let t = Instant::now();
    let mut groups: BTreeMap<String, Vec<&[f32]>> = BTreeMap::new();
    for (p, v) in passages.iter().zip(vectors.iter()) {
        groups
            .entry(p.lang.to_string())
            .or_default()
            .push(v.as_slice());
    }
    let d = Debias::fit(opts.debias, &groups, opts.debias_min_passages)?;
    drop(groups);
    let per_lang = matches!(opts.debias, DebiasMethod::Center | DebiasMethod::Lir(_));
    if per_lang && d.fitted_langs().is_empty() {
        let msg = format!(
            "de-biasing {}: skipped, no language has {} passages (too few for its own statistics); vectors are stored as the encoder gives them",
            opts.debias, opts.debias_min_passages
        );
        stage(opts.progress, &msg);
        return Ok((None, Some(msg)));
    }
    let mut fallback: BTreeMap<String, usize> = BTreeMap::new();
    for (p, v) in passages.iter().zip(vectors.iter_mut()) {
        if d.apply_or_fallback(p.lang.as_str(), v)? {
            *fallback.entry(p.lang.to_string()).or_default() += 1;
        }
    }
    let mut msg = format!(
        "de-biasing {}: fitted on {} languages in {:.2} s",
        opts.debias,
        d.fitted_langs().len(),
        t.elapsed().as_secs_f64()
    );
    if !fallback.is_empty() {
        let langs: Vec<String> = fallback.iter().map(|(l, n)| format!("{l} ({n})")).collect();
        msg.push_str(&format!(
            "; under {} passages, so the fallback (average of the language means) was used for: {}",
            opts.debias_min_passages,
            langs.join(", ")
        ));
    }
    stage(opts.progress, &msg);
    Ok((Some(d), Some(msg)))
}

/// The analyzer of every language, and the languages that got the generic one.
fn analyzers_of(
    passages: &[Passage],
    opts: &IndexOptions,
) -> (
    BTreeMap<String, Analyzer>,
    BTreeMap<String, usize>,
    Vec<String>,
) {
    let mut analyzers = BTreeMap::new();
    let mut by_lang: BTreeMap<String, usize> = BTreeMap::new();
    for p in passages {
        *by_lang.entry(p.lang.to_string()).or_default() += 1;
        analyzers
            .entry(p.lang.to_string())
            .or_insert_with(|| Analyzer::for_lang(&p.lang));
    }
    let generic: Vec<String> = analyzers
        .iter()
        .filter(|(_, a)| a.is_generic())
        .map(|(l, _)| l.clone())
        .collect();
    if !generic.is_empty() {
        stage(
            opts.progress,
            &format!(
                "note: no language-specific lexical rules for {}: indexed with the generic analyzer (Unicode words, NFKC, lowercase, no stemming)",
                generic.join(", ")
            ),
        );
    }
    (analyzers, by_lang, generic)
}

/// Stage 4b: the HNSW graph from the vectors in memory (no re-read of dense.f32).
fn build_ann(
    dir: &Path,
    vectors: &[Vec<f32>],
    dim: usize,
    opts: &IndexOptions,
) -> Result<Option<xlqa_index::AnnInfo>, SearchError> {
    let Some(params) = opts.ann else {
        return Ok(None);
    };
    let pb = bar(vectors.len() as u64, "hnsw", opts.progress);
    let built = xlqa_index::Hnsw::build(
        vectors.len(),
        dim,
        params,
        |j, row| {
            row.copy_from_slice(&vectors[j]);
            Ok::<(), std::convert::Infallible>(())
        },
        &|n| pb.set_position(n as u64),
    );
    let graph = match built {
        Ok(g) => g,
        Err(e) => match e {},
    };
    pb.finish_and_clear();
    let path = dir.join(xlqa_index::ANN_FILE);
    graph
        .write(&path)
        .map_err(|source| xlqa_index::IndexError::Io {
            path: path.clone(),
            source,
        })?;
    Ok(Some(xlqa_index::AnnInfo {
        kind: "hnsw".into(),
        m: params.m,
        ef_construction: params.ef_construction,
        seed: params.seed,
    }))
}

/// Stage 5: the lexical index (tantivy, one field per language).
fn build_lexical(
    dir: &Path,
    passages: &[Passage],
    analyzers: &BTreeMap<String, Analyzer>,
    opts: &IndexOptions,
) -> Result<(), SearchError> {
    let pb = bar(passages.len() as u64, "lexical", opts.progress);
    LexicalIndex::build(
        &dir.join(xlqa_index::LEXICAL_DIR),
        passages,
        analyzers,
        &|n| pb.set_position(n as u64),
    )?;
    pb.finish_and_clear();
    Ok(())
}

/// Builds an index of `docs` at `out`: the stages above, each timed, then
/// the manifest, then the directory moved into place.
pub fn build_index(
    docs: Vec<Document>,
    encoder: &Encoder,
    langid: &LangId,
    out: &Path,
    opts: &IndexOptions,
) -> Result<BuildReport, SearchError> {
    let t0 = Instant::now();
    // Create the output first: a bad --out fails before any expensive work.
    let writer = IndexWriter::create(out, opts.force)?;
    let Labelled {
        docs,
        low_confidence,
        undetectable,
        detected,
    } = label_languages(docs, langid, opts)?;
    let langid_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let (passages, dropped_short) = make_passages(&docs, encoder, opts)?;
    let n_docs = docs.len();
    drop(docs); // the passages hold what is needed from here on
    let chunk_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let mut vectors = encode_passages(&passages, encoder, opts)?;
    let encode_s = t2.elapsed().as_secs_f64();
    let (debias, debias_note) = fit_debias(&passages, &mut vectors, opts)?;
    let t3 = Instant::now();
    let (analyzers, by_lang, generic_languages) = analyzers_of(&passages, opts);
    let dir = writer.dir().to_path_buf();
    PassageStore::write(&dir.join(xlqa_index::PASSAGES_FILE), &passages)?;
    DenseIndex::write(&dir.join(xlqa_index::DENSE_FILE), &vectors, encoder.dim())?;
    let t_ann = Instant::now();
    let ann = build_ann(&dir, &vectors, encoder.dim(), opts)?;
    drop(vectors);
    let ann_s = if ann.is_some() {
        t_ann.elapsed().as_secs_f64()
    } else {
        0.0
    };
    build_lexical(&dir, &passages, &analyzers, opts)?;
    let lexical_s = t3.elapsed().as_secs_f64() - ann_s;
    let counts = Counts {
        documents: n_docs,
        passages: passages.len(),
        dropped_short,
        skipped_invalid: opts.skipped_invalid + undetectable.len(),
        lang_detected: detected,
        passages_by_lang: by_lang,
    };
    let mut manifest = Manifest::new(
        encoder_info(encoder),
        langid.model_id().to_string(),
        ChunkingInfo {
            target_tokens: opts.target_tokens,
            min_tokens: opts.min_tokens,
        },
        analyzers
            .iter()
            .map(|(l, a)| (l.clone(), analyzer_info(a)))
            .collect(),
        counts.clone(),
    );
    manifest.debias = debias;
    manifest.ann = ann;
    writer.finish(&manifest)?;
    let total_s = t0.elapsed().as_secs_f64();
    Ok(BuildReport {
        passages_per_s: counts.passages as f64 / total_s.max(1e-9),
        counts,
        low_confidence,
        undetectable,
        generic_languages,
        debias: debias_note,
        langid_s,
        chunk_s,
        encode_s,
        lexical_s,
        ann_s,
        total_s,
    })
}

/// The manifest record of an encoder.
pub fn encoder_info(e: &Encoder) -> EncoderInfo {
    EncoderInfo {
        id: e.id().to_string(),
        weights_sha256: e.weights_sha256().to_string(),
        dim: e.dim(),
        precision: e.options().precision.to_string(),
        delta_dir: e.delta_dir().map(|d| d.display().to_string()),
    }
}
