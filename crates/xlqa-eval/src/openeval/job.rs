//! The driver of `xlqa eval retrieval`: reads the gold questions, gets the
//! ranked lists (retrieved now through an [`Engine`], or read from a TREC
//! run file), resolves qrels and scores everything with [`evaluate`]. The
//! CLI parses flags into a [`RetrievalJob`] and prints the outcome; a server
//! or binding can run the same job.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use xlqa_core::progress::bar;
use xlqa_core::{Lang, Passage};
use xlqa_data::gold::{read_gold, GoldFormat, GoldItem, GoldOptions, GoldPurpose, GoldSet};
use xlqa_search::{Engine, RetrieveOptions, RetrieverChoice};

use super::{
    evaluate, read_qrels, read_run, resolve_qrels, resolve_run, retrieve_all, EvalInput,
    EvalOptions, Judgments, OpenEvalError, OpenEvalReport, QuestionScores,
};

/// Where the ranked lists come from.
pub enum RankingSource<'a> {
    /// Retrieved now. `options.k` is the depth of every list.
    Retrieve {
        engine: &'a Engine,
        options: RetrieveOptions,
        /// Also remove each question's own language from the pool.
        exclude_own_lang: bool,
        /// Question vectors go through this embedding cache (None: no cache).
        embedding_cache: Option<PathBuf>,
    },
    /// A TREC run file (`qid Q0 passage-id rank score tag`) over `index`.
    RunFile {
        index: &'a xlqa_index::Index,
        path: PathBuf,
    },
}

/// One evaluation: gold, judgments, rankings and the cut-offs.
pub struct RetrievalJob<'a> {
    /// The index folder, as the report names it.
    pub index: PathBuf,
    pub gold: PathBuf,
    pub gold_format: GoldFormat,
    /// Language of the answers of an xor/MIA file (None: the question's;
    /// `en` for files named *eng_span*).
    pub answers_lang: Option<Lang>,
    pub qrels: Option<PathBuf>,
    pub rankings: RankingSource<'a>,
    pub ks: Vec<usize>,
    pub budgets: Vec<usize>,
    /// Only the first N questions of each language.
    pub limit: Option<usize>,
    /// Progress bars on stderr.
    pub progress: bool,
}

/// The report and each question's scores.
pub struct RetrievalOutcome {
    pub report: OpenEvalReport,
    pub per_question: Vec<QuestionScores>,
}

impl RetrievalJob<'_> {
    /// Checks the cut-offs against each other and the source.
    pub fn validate(&self) -> Result<(), OpenEvalError> {
        let depth = match &self.rankings {
            RankingSource::Retrieve { options, .. } => Some(options.k),
            RankingSource::RunFile { .. } => None,
        };
        check_cutoffs(&self.ks, &self.budgets, depth)
    }
}

/// The k of the metrics must be positive and, when retrieving, within the
/// `depth` of the ranked lists; budgets must be positive.
pub fn check_cutoffs(
    ks: &[usize],
    budgets: &[usize],
    depth: Option<usize>,
) -> Result<(), OpenEvalError> {
    let bad = |m: String| Err(OpenEvalError::Mismatch(m));
    if ks.is_empty() || ks.contains(&0) {
        return bad("--k must list positive numbers, e.g. --k 1,5,20,100".into());
    }
    if budgets.contains(&0) {
        return bad("--budgets must list positive token counts, e.g. --budgets 2000,5000".into());
    }
    let max_k = ks.iter().copied().max().unwrap_or(1);
    match depth {
        Some(d) if max_k > d => bad(format!(
            "--k goes up to {max_k} but --depth is {d}: retrieve at least as many passages as the largest k"
        )),
        _ => Ok(()),
    }
}

/// Runs the job; `note` gets each remark on the inputs as it is found.
pub fn run_retrieval_eval(
    job: &RetrievalJob,
    note: &dyn Fn(&str),
) -> Result<RetrievalOutcome, OpenEvalError> {
    job.validate()?;
    let (gold, mut notes, answers_lang, read) = load_gold(job)?;
    for n in &notes {
        note(n);
    }
    let mut setup = BTreeMap::new();
    setup.insert("index".to_string(), job.index.display().to_string());
    setup.insert("gold".to_string(), gold_setup(job, &gold, read));
    if let Some(l) = &answers_lang {
        setup.insert("answers language".to_string(), l.to_string());
    }
    let qids: HashSet<&str> = gold.items.iter().map(|i| i.qid.as_str()).collect();
    let (owned, rankings, how) = rankings(job, &gold, &qids, &mut notes)?;
    let passages: Vec<&Passage> = owned.iter().collect();
    setup.insert("ranked lists".to_string(), how);
    let judgments = match &job.qrels {
        Some(p) => {
            let (j, line) = judgments(p, job, &gold, &qids, &passages, &mut notes)?;
            setup.insert("qrels".to_string(), line);
            Some(j)
        }
        None => None,
    };
    let (mut report, per_question) = evaluate(
        &EvalInput {
            items: &gold.items,
            passages: &passages,
            rankings: &rankings,
            judgments: judgments.as_ref(),
        },
        &EvalOptions {
            ks: job.ks.clone(),
            budgets: job.budgets.clone(),
            cut: 10,
        },
    )?;
    report.setup = setup;
    notes.append(&mut report.notes);
    report.notes = notes;
    Ok(RetrievalOutcome {
        report,
        per_question,
    })
}

type Gold = (GoldSet, Vec<String>, Option<Lang>, usize);

/// The gold set (limited per language), its notes, the answers' language
/// and the number of questions read.
fn load_gold(job: &RetrievalJob) -> Result<Gold, OpenEvalError> {
    let mut notes = Vec::new();
    let mut answers_lang = job.answers_lang.clone();
    let name = job
        .gold
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if answers_lang.is_none() && (name.contains("eng_span") || name.contains("engspan")) {
        answers_lang = Lang::parse("en").ok();
        notes.push(format!(
            "{}: XOR-Retrieve EnglishSpan file: its answers are taken as English (override with --answers-lang)",
            job.gold.display()
        ));
    }
    let mut gold = read_gold(
        &job.gold,
        &GoldOptions {
            purpose: GoldPurpose::Passages,
            format: job.gold_format,
            lang: None,
            answers_lang: answers_lang.clone(),
        },
    )?;
    notes.append(&mut gold.notes);
    let read = gold.items.len();
    if let Some(n) = job.limit {
        gold.limit_per_lang(n);
    }
    Ok((gold, notes, answers_lang, read))
}

fn gold_setup(job: &RetrievalJob, gold: &GoldSet, read: usize) -> String {
    format!(
        "{} ({}, {} questions read{})",
        job.gold.display(),
        gold.format.as_str(),
        read,
        job.limit
            .map(|n| format!(", first {n} per language evaluated"))
            .unwrap_or_default()
    )
}

/// The pool's passages (a copy: the engine's index may change under live
/// updates), every question's ranked list and how it was made.
type Ranked = (Vec<Passage>, HashMap<String, Vec<usize>>, String);

/// See [`Ranked`].
fn rankings(
    job: &RetrievalJob,
    gold: &GoldSet,
    qids: &HashSet<&str>,
    notes: &mut Vec<String>,
) -> Result<Ranked, OpenEvalError> {
    match &job.rankings {
        RankingSource::RunFile { index, path } => {
            let passages: Vec<&Passage> = index.store.iter().collect();
            let run = read_run(path)?;
            check_topics(path, run.by_qid.keys(), (job, gold, qids), notes)?;
            let r = resolve_run(&run, &passages)?;
            let owned = passages.into_iter().cloned().collect();
            Ok((owned, r, format!("run file {}", path.display())))
        }
        RankingSource::Retrieve {
            engine,
            options,
            exclude_own_lang,
            embedding_cache,
        } => {
            let vectors = question_vectors(engine, options, &gold.items, embedding_cache, job)?;
            let b = bar(gold.items.len() as u64, "retrieving", job.progress);
            let r = retrieve_all(
                engine,
                &gold.items,
                options,
                *exclude_own_lang,
                vectors.as_deref(),
                &|done, _| b.set_position(done as u64),
            )?;
            b.finish_and_clear();
            let passages = engine.index().store.iter().cloned().collect();
            Ok((passages, r, describe(options, *exclude_own_lang)))
        }
    }
}

/// Raw question vectors through the embedding cache, so a rerun (another
/// index, retriever or exclusion) encodes nothing; None when retrieval
/// needs no vector.
fn question_vectors(
    engine: &Engine,
    options: &RetrieveOptions,
    items: &[GoldItem],
    cache_dir: &Option<PathBuf>,
    job: &RetrievalJob,
) -> Result<Option<Vec<Vec<f32>>>, OpenEvalError> {
    let Some(dir) = cache_dir
        .as_ref()
        .filter(|_| engine.retrieval_needs_vector(options))
    else {
        return Ok(None);
    };
    let corpus = engine.corpus();
    let enc = corpus.encoder();
    let mut cache = xlqa_models::EmbeddingCache::open(dir, enc)?;
    let texts: Vec<&str> = items.iter().map(|i| i.question.as_str()).collect();
    let b = bar(texts.len() as u64, "questions", job.progress);
    let (v, _) = cache.encode(
        enc,
        &texts,
        xlqa_models::TextKind::Query,
        512,
        &|done, _| b.set_position(done as u64),
    )?;
    b.finish_and_clear();
    Ok(Some(v))
}

/// "hybrid retrieval, depth 100 (RRF k 60, weights dense 1 / bm25 1), …"
fn describe(o: &RetrieveOptions, exclude_own_lang: bool) -> String {
    let mut how = format!("{} retrieval, depth {}", o.retriever.as_str(), o.k);
    if o.retriever == RetrieverChoice::Hybrid {
        let w = |name: &str| o.weights.get(name).copied().unwrap_or(1.0);
        how += &format!(
            " (RRF k {}, weights dense {} / bm25 {})",
            o.rrf_k,
            w("dense"),
            w("bm25")
        );
    }
    if !o.exclude_langs.is_empty() {
        let l: Vec<String> = o.exclude_langs.iter().map(|l| l.to_string()).collect();
        how += &format!(", excluding {}", l.join(","));
    }
    if exclude_own_lang {
        how += ", excluding each question's own language";
    }
    how
}

/// Fails when none of a file's topics is a question of the gold set;
/// notes how many are not.
fn check_topics<'k>(
    path: &Path,
    topics: impl ExactSizeIterator<Item = &'k String> + Clone,
    (job, gold, qids): (&RetrievalJob, &GoldSet, &HashSet<&str>),
    notes: &mut Vec<String>,
) -> Result<(), OpenEvalError> {
    let total = topics.len();
    let matched = topics.filter(|q| qids.contains(q.as_str())).count();
    if matched == 0 {
        return Err(OpenEvalError::Mismatch(format!(
            "{}: none of its {total} topics is a question of {} (topic ids are the question id, or <lang>:<id> when an id is shared by several languages, e.g. \"{}\")",
            path.display(),
            job.gold.display(),
            gold.items.first().map(|i| i.qid.as_str()).unwrap_or("")
        )));
    }
    if matched < total {
        notes.push(format!(
            "{}: {} of its topics are not among the evaluated questions (ignored)",
            path.display(),
            total - matched
        ));
    }
    Ok(())
}

/// The qrels resolved against the pool, and the report's setup line.
fn judgments(
    path: &Path,
    job: &RetrievalJob,
    gold: &GoldSet,
    qids: &HashSet<&str>,
    passages: &[&Passage],
    notes: &mut Vec<String>,
) -> Result<(HashMap<String, Judgments>, String), OpenEvalError> {
    let q = read_qrels(path)?;
    check_topics(path, q.by_qid.keys(), (job, gold, qids), notes)?;
    let (j, unknown) = resolve_qrels(&q, passages)?;
    if unknown > 0 {
        notes.push(format!(
            "{}: {unknown} judged docnos are neither passage ids nor document ids of the index; they count as relevant-but-never-retrieved",
            path.display()
        ));
    }
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    for x in j.values() {
        let level = if x.document_level {
            "document"
        } else {
            "passage"
        };
        *levels.entry(level).or_default() += 1;
    }
    let lv: Vec<String> = levels
        .iter()
        .map(|(k, v)| format!("{v} {k}-level"))
        .collect();
    let line = format!("{} ({} topics: {})", path.display(), j.len(), lv.join(", "));
    Ok((j, line))
}
