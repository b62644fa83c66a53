//! Indexes written directly from passages and vectors, without the
//! indexing pipeline (`xlqa_search::indexer`: language ID, chunking,
//! encoding, de-biasing): evaluation pools whose vectors are already made
//! (LAReQA's candidates) and tests.

use std::collections::BTreeMap;
use std::path::Path;

use xlqa_core::{Lang, LangSource, Passage};
use xlqa_text::analyze::Analyzer;

use crate::manifest::{ChunkingInfo, Counts, EncoderInfo};
use crate::{
    lexical, DenseIndex, IndexError, LexicalIndex, Manifest, PassageStore, DENSE_FILE, LEXICAL_DIR,
    MANIFEST_FILE, PASSAGES_FILE,
};

/// A passage of document `doc` (chunk 0) in `lang`.
pub fn passage(doc: &str, lang: &str, text: &str) -> Passage {
    Passage {
        id: format!("{doc}#0"),
        doc_id: doc.into(),
        title: String::new(),
        text: text.into(),
        lang: Lang::parse(lang).unwrap_or_else(|_| Lang::parse("en").expect("en parses")),
        lang_source: LangSource::Given,
        n_tokens: 20,
        group: None,
    }
}

/// Writes an index of `passages` with `vectors` (all of length `dim`) into
/// the new directory `dir`, with a lexical field for each language of
/// `langs` (which must cover the passages').
pub fn write_index(
    dir: &Path,
    passages: &[Passage],
    vectors: &[Vec<f32>],
    dim: usize,
    langs: &[&str],
) -> Result<(), IndexError> {
    std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
    let analyzers: BTreeMap<String, Analyzer> = langs
        .iter()
        .filter_map(|l| Lang::parse(l).ok())
        .map(|l| (l.as_str().to_string(), Analyzer::for_lang(&l)))
        .collect();
    PassageStore::write(&dir.join(PASSAGES_FILE), passages)?;
    DenseIndex::write(&dir.join(DENSE_FILE), vectors, dim)?;
    LexicalIndex::build(&dir.join(LEXICAL_DIR), passages, &analyzers, &|_| {})?;
    let mut by_lang: BTreeMap<String, usize> = BTreeMap::new();
    for p in passages {
        *by_lang.entry(p.lang.as_str().to_string()).or_default() += 1;
    }
    let mut docs: Vec<&str> = passages.iter().map(|p| p.doc_id.as_str()).collect();
    docs.sort_unstable();
    docs.dedup();
    let m = Manifest::new(
        EncoderInfo {
            id: "test".into(),
            weights_sha256: "00".repeat(32),
            dim,
            precision: "f32".into(),
            delta_dir: None,
        },
        "test".into(),
        ChunkingInfo {
            target_tokens: 100,
            min_tokens: 20,
        },
        analyzers
            .iter()
            .map(|(l, a)| (l.clone(), lexical::analyzer_info(a)))
            .collect(),
        Counts {
            documents: docs.len(),
            passages: passages.len(),
            passages_by_lang: by_lang,
            ..Counts::default()
        },
    );
    m.write_durable(&dir.join(MANIFEST_FILE))
}
