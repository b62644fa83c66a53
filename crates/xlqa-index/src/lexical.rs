//! Language-aware lexical index on tantivy.
//!
//! Each language of the collection gets its own text field, analyzed by that
//! language's [`Analyzer`] (segmentation, normalization, stemming), so BM25
//! statistics are per language, as in "BM25 per detected language". A query
//! is analyzed once with the *question's* language analyzer and its terms are
//! looked up in every (allowed) language field: names, numbers and shared
//! words still match across languages; no text is ever analyzed with another
//! language's rules.

use crate::manifest::{AnalyzerInfo, Manifest};
use crate::IndexError;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED,
};
use tantivy::tokenizer::{TextAnalyzer, Token as TvToken, TokenStream, Tokenizer};
use tantivy::{Index as TvIndex, IndexReader, ReloadPolicy, TantivyDocument, Term};
use xlqa_core::{Hit, Lang, Passage};
use xlqa_text::analyze::Analyzer;

const ROW_FIELD: &str = "row";
const WRITER_MEMORY: usize = 128 * 1024 * 1024;

/// Field name of a language's text.
pub fn field_name(lang: &str) -> String {
    format!("text_{}", lang.replace('-', "_"))
}

/// The manifest entry describing an analyzer.
pub fn analyzer_info(a: &Analyzer) -> AnalyzerInfo {
    AnalyzerInfo {
        name: a.name().to_string(),
        description: a.describe(),
        generic: a.is_generic(),
    }
}

/// Adapts an xlqa [`Analyzer`] to tantivy's tokenizer interface.
#[derive(Clone)]
struct XlqaTokenizer {
    analyzer: Analyzer,
}

struct XlqaTokenStream {
    tokens: std::vec::IntoIter<xlqa_text::analyze::Token>,
    current: TvToken,
}

impl TokenStream for XlqaTokenStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(t) => {
                self.current = TvToken {
                    offset_from: t.start,
                    offset_to: t.end,
                    position: t.position,
                    text: t.text,
                    position_length: 1,
                };
                true
            }
            None => false,
        }
    }
    fn token(&self) -> &TvToken {
        &self.current
    }
    fn token_mut(&mut self) -> &mut TvToken {
        &mut self.current
    }
}

impl Tokenizer for XlqaTokenizer {
    type TokenStream<'a> = XlqaTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> XlqaTokenStream {
        XlqaTokenStream {
            tokens: self.analyzer.analyze(text).into_iter(),
            current: TvToken::default(),
        }
    }
}

fn register(index: &TvIndex, analyzer: &Analyzer) {
    index.tokenizers().register(
        analyzer.name(),
        TextAnalyzer::from(XlqaTokenizer {
            analyzer: analyzer.clone(),
        }),
    );
}

/// The tantivy document of passage `p` at store row `row`.
fn document(row_field: Field, text_field: Field, row: u64, p: &Passage) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_u64(row_field, row);
    let text = if p.title.is_empty() {
        p.text.clone()
    } else {
        format!("{}\n{}", p.title, p.text)
    };
    doc.add_text(text_field, text);
    doc
}

/// Consecutive runs of `rows` (sorted), as inclusive ranges.
fn runs(rows: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &r in rows {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == r => *end = r,
            _ => out.push((r, r)),
        }
    }
    out
}

/// The lexical half of an index.
pub struct LexicalIndex {
    path: PathBuf,
    reader: IndexReader,
    row: Field,
    /// language code → its field
    fields: BTreeMap<String, Field>,
}

impl LexicalIndex {
    /// Builds the lexical index of `passages` (row = position in the slice)
    /// into the empty or missing directory `path`. `analyzers` must hold an
    /// analyzer for every passage language. `progress` is called with the
    /// number of passages added so far.
    pub fn build(
        path: &Path,
        passages: &[Passage],
        analyzers: &BTreeMap<String, Analyzer>,
        progress: &dyn Fn(usize),
    ) -> Result<(), IndexError> {
        std::fs::create_dir_all(path).map_err(|e| IndexError::io(path, e))?;
        let mut sb = Schema::builder();
        let row = sb.add_u64_field(ROW_FIELD, FAST | STORED);
        let mut fields = BTreeMap::new();
        for (lang, a) in analyzers {
            let opts = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(a.name())
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            );
            fields.insert(lang.clone(), sb.add_text_field(&field_name(lang), opts));
        }
        let index =
            TvIndex::create_in_dir(path, sb.build()).map_err(|e| IndexError::tantivy(path, e))?;
        for a in analyzers.values() {
            register(&index, a);
        }
        let mut writer: tantivy::IndexWriter = index
            .writer(WRITER_MEMORY)
            .map_err(|e| IndexError::tantivy(path, e))?;
        for (i, p) in passages.iter().enumerate() {
            let field = *fields.get(p.lang.as_str()).ok_or_else(|| {
                IndexError::Usage(format!(
                    "no analyzer given for language {} of passage {}",
                    p.lang, p.id
                ))
            })?;
            writer
                .add_document(document(row, field, i as u64, p))
                .map_err(|e| IndexError::tantivy(path, e))?;
            if i % 256 == 0 {
                progress(i);
            }
        }
        writer.commit().map_err(|e| IndexError::tantivy(path, e))?;
        writer
            .wait_merging_threads()
            .map_err(|e| IndexError::tantivy(path, e))?;
        progress(passages.len());
        Ok(())
    }

    /// Opens the lexical index, registering the analyzers the manifest names
    /// and refusing to go on if this build of xlqa would analyze a language
    /// differently from the one that built the index.
    pub fn open(path: &Path, manifest: &Manifest) -> Result<LexicalIndex, IndexError> {
        let index = TvIndex::open_in_dir(path).map_err(|e| IndexError::tantivy(path, e))?;
        let schema = index.schema();
        let mut fields = BTreeMap::new();
        for (lang, info) in &manifest.analyzers {
            let parsed = Lang::parse(lang)
                .map_err(|e| IndexError::corrupt(path, format!("manifest language {lang}: {e}")))?;
            let a = Analyzer::for_lang(&parsed);
            let now = analyzer_info(&a);
            if &now != info {
                return Err(IndexError::Mismatch(format!(
                    "index {} analyzes {lang} with \"{}\" ({}), but this xlqa analyzes it with \"{}\" ({}): rebuild the index with `xlqa index ... --force`",
                    path.parent().unwrap_or(path).display(),
                    info.name,
                    info.description,
                    now.name,
                    now.description
                )));
            }
            register(&index, &a);
            let f = schema.get_field(&field_name(lang)).map_err(|e| {
                IndexError::corrupt(path, format!("no field for language {lang}: {e}"))
            })?;
            fields.insert(lang.clone(), f);
        }
        let row = schema
            .get_field(ROW_FIELD)
            .map_err(|e| IndexError::corrupt(path, format!("no row field: {e}")))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| IndexError::tantivy(path, e))?;
        Ok(LexicalIndex {
            path: path.to_path_buf(),
            reader,
            row,
            fields,
        })
    }

    /// One live update, committed durably and atomically by tantivy (the
    /// commit point of the whole update, see update.rs): removes the
    /// documents of `kill` (sorted rows) and of every row from `first_new`
    /// on (what an interrupted update may have committed... never, but
    /// cheap to be sure of), adds `new` at rows `first_new..`, and stores
    /// `payload` with the commit. Passages in a language without a field
    /// are not added; their count is returned by language.
    pub fn commit_update(
        &self,
        first_new: u32,
        new: &[Passage],
        kill: &[u32],
        payload: &str,
    ) -> Result<BTreeMap<String, usize>, IndexError> {
        let index = self.reader.searcher().index().clone();
        let mut writer: tantivy::IndexWriter = index
            .writer_with_num_threads(1, 32 * 1024 * 1024)
            .map_err(|e| IndexError::tantivy(&self.path, e))?;
        let tv = |e| IndexError::tantivy(&self.path, e);
        let row_term = |r: u32| Term::from_field_u64(self.row, u64::from(r));
        writer
            .delete_query(Box::new(RangeQuery::new(
                Bound::Included(row_term(first_new)),
                Bound::Unbounded,
            )))
            .map_err(tv)?;
        for (a, b) in runs(kill) {
            writer
                .delete_query(Box::new(RangeQuery::new(
                    Bound::Included(row_term(a)),
                    Bound::Included(row_term(b)),
                )))
                .map_err(tv)?;
        }
        let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
        for (i, p) in new.iter().enumerate() {
            match self.fields.get(p.lang.as_str()) {
                Some(f) => {
                    let row = u64::from(first_new) + i as u64;
                    writer
                        .add_document(document(self.row, *f, row, p))
                        .map_err(tv)?;
                }
                None => *skipped.entry(p.lang.as_str().to_string()).or_default() += 1,
            }
        }
        let mut commit = writer.prepare_commit().map_err(tv)?;
        commit.set_payload(payload);
        commit.commit().map_err(tv)?;
        // committed: a failed background merge leaves valid segments behind
        let _ = writer.wait_merging_threads();
        Ok(skipped)
    }

    /// Makes the last commit visible to searches.
    pub fn reload(&self) -> Result<(), IndexError> {
        self.reader
            .reload()
            .map_err(|e| IndexError::tantivy(&self.path, e))
    }

    /// The payload of the last commit of the tantivy index at `path` (a
    /// live update writes its new manifest there; see update.rs).
    pub fn committed_payload(path: &Path) -> Result<Option<String>, IndexError> {
        let index = TvIndex::open_in_dir(path).map_err(|e| IndexError::tantivy(path, e))?;
        let metas = index
            .load_metas()
            .map_err(|e| IndexError::tantivy(path, e))?;
        Ok(metas.payload)
    }

    /// Languages that have a field.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(|s| s.as_str())
    }

    /// BM25 search for the (already analyzed) query `terms` over the fields of
    /// every language for which `allow_lang` is true. Returns the top `k`
    /// rows, best first (ties by row, so results are deterministic).
    pub fn search(
        &self,
        terms: &[String],
        k: usize,
        allow_lang: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Hit>, IndexError> {
        let unique: BTreeSet<&String> = terms.iter().collect();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (lang, field) in &self.fields {
            if !allow_lang(lang) {
                continue;
            }
            for t in &unique {
                let term = Term::from_field_text(*field, t);
                clauses.push((
                    Occur::Should,
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                ));
            }
        }
        if clauses.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(k).order_by_score())
            .map_err(|e| IndexError::tantivy(&self.path, e))?;
        let mut hits = Vec::with_capacity(top.len());
        let mut columns = BTreeMap::new();
        for (score, addr) in top {
            // the row column of each segment is opened once per search
            let col = match columns.entry(addr.segment_ord) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(
                    searcher
                        .segment_reader(addr.segment_ord)
                        .fast_fields()
                        .u64(ROW_FIELD)
                        .map_err(|e| IndexError::tantivy(&self.path, e))?,
                ),
            };
            let row = match col.first(addr.doc_id) {
                Some(r) => r,
                None => {
                    let doc: TantivyDocument = searcher
                        .doc(addr)
                        .map_err(|e| IndexError::tantivy(&self.path, e))?;
                    doc.get_first(self.row)
                        .and_then(|v| v.as_u64())
                        .ok_or_else(|| {
                            IndexError::corrupt(&self.path, "a document has no row number")
                        })?
                }
            };
            hits.push(Hit {
                passage: row as u32,
                score,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage)));
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_manifest;
    use xlqa_core::LangSource;

    fn passage(id: &str, lang: &str, title: &str, text: &str) -> Passage {
        Passage {
            id: id.into(),
            doc_id: id.into(),
            title: title.into(),
            text: text.into(),
            lang: Lang::parse(lang).unwrap(),
            lang_source: LangSource::Given,
            n_tokens: 30,
            group: None,
        }
    }

    fn build() -> (tempfile::TempDir, LexicalIndex) {
        let ps = vec![
            passage("zh1", "zh", "长城", "长城是中国古代修建的军事防御工程，全长约8851公里。"),
            passage("en1", "en", "Great Wall", "The Great Wall of China was rebuilt during the Ming dynasty."),
            passage("de1", "de", "Mauer", "Die Chinesische Mauer wurde in der Ming-Dynastie erneuert; sie ist 8851 Kilometer lang."),
            passage("th1", "th", "กรุงเทพ", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย"),
            passage("sw1", "sw", "Kilimanjaro", "Mlima Kilimanjaro ni mlima mrefu zaidi barani Afrika."),
        ];
        let mut analyzers = BTreeMap::new();
        for p in &ps {
            analyzers.insert(p.lang.to_string(), Analyzer::for_lang(&p.lang));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lexical");
        LexicalIndex::build(&path, &ps, &analyzers, &|_| {}).unwrap();
        let manifest = test_manifest(
            analyzers
                .iter()
                .map(|(l, a)| (l.clone(), analyzer_info(a)))
                .collect(),
        );
        let idx = LexicalIndex::open(&path, &manifest).unwrap();
        (dir, idx)
    }

    fn terms(lang: &str, q: &str) -> Vec<String> {
        Analyzer::for_lang(&Lang::parse(lang).unwrap())
            .analyze(q)
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn per_language_analysis_and_cross_language_terms() {
        let (_d, idx) = build();
        let all = |_: &str| true;
        // Chinese words are segmented: a two-character word finds the passage
        let h = idx.search(&terms("zh", "长城有多长"), 5, &all).unwrap();
        assert_eq!(h.first().map(|h| h.passage), Some(0), "{h:?}");
        // Thai is segmented by dictionary: one word of a long run matches
        let h = idx.search(&terms("th", "เมืองหลวง"), 5, &all).unwrap();
        assert_eq!(h.first().map(|h| h.passage), Some(3), "{h:?}");
        // English stemming: "dynasties" finds "dynasty"
        let h = idx.search(&terms("en", "Ming dynasties"), 5, &all).unwrap();
        assert_eq!(h.first().map(|h| h.passage), Some(1), "{h:?}");
        // a number in a Chinese question matches German and Chinese passages
        let h = idx.search(&terms("zh", "8851"), 5, &all).unwrap();
        let rows: Vec<u32> = h.iter().map(|h| h.passage).collect();
        assert!(rows.contains(&0) && rows.contains(&2), "{rows:?}");
        // excluding a language is exact
        let h = idx.search(&terms("zh", "8851"), 5, &|l| l != "zh").unwrap();
        assert_eq!(h.iter().map(|h| h.passage).collect::<Vec<_>>(), vec![2]);
        // nothing to search for
        assert!(idx.search(&[], 5, &all).unwrap().is_empty());
        assert_eq!(idx.languages().count(), 5);
    }

    #[test]
    fn refuses_index_with_other_analyzer_rules() {
        let (d, _) = build();
        let mut analyzers = BTreeMap::new();
        let a = Analyzer::for_lang(&Lang::parse("zh").unwrap());
        let mut info = analyzer_info(&a);
        info.description = "an older rule set".into();
        analyzers.insert("zh".to_string(), info);
        let manifest = test_manifest(analyzers);
        let e = LexicalIndex::open(&d.path().join("lexical"), &manifest)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("rebuild"), "{e}");
    }
}
