//! The on-disk index of xlqa: a passage store, a language-aware lexical
//! index (tantivy, one field per language with that language's analyzer), a
//! dense index of passage embeddings with exact inner-product search, and the
//! manifest that ties them together.
//!
//! Layout of an index directory:
//! ```text
//! DIR/manifest.json    format version, encoder id + weights checksum, analyzers, counts
//! DIR/passages.jsonl   the passage store: row i = passage i
//! DIR/dense.f32        row-major little-endian f32 [passages × dim]
//! DIR/ann.hnsw         optional HNSW graph over those vectors (`xlqa index --ann hnsw`)
//! DIR/lexical/         the tantivy index
//! DIR/writer.lock      taken by a live update (update.rs)
//! ```
//! An index is written into a temporary sibling directory and renamed into
//! place only when complete, so an interrupted build never leaves a corrupt
//! index behind (see [`IndexWriter`]). Live updates append to the store and
//! the dense file and commit through tantivy, crash-safe (see [`update`]).

pub mod debias;
pub mod dense;
pub mod hnsw;
pub mod lexical;
pub mod linalg;
pub mod manifest;
pub mod pool;
pub mod store;
pub mod update;
mod writer;

pub use debias::{Debias, DebiasError, DebiasMethod};
pub use dense::DenseIndex;
pub use hnsw::{Hnsw, HnswParams};
pub use lexical::LexicalIndex;
pub use manifest::{AnnInfo, EncoderInfo, Manifest, FORMAT_VERSION};
pub use store::PassageStore;
pub use update::{Update, UpdateReport};
pub use writer::IndexWriter;

use std::path::{Path, PathBuf};

/// Errors of the index layer. Each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("{0}")]
    Mismatch(String),
    #[error("lexical index {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("{0}")]
    Usage(String),
    /// Another writer holds the index, or it changed on disk since it was
    /// opened (a live update from elsewhere, a rebuild): try again, or open
    /// it again.
    #[error("{0}")]
    Conflict(String),
}

impl IndexError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn corrupt(path: &Path, problem: impl Into<String>) -> Self {
        IndexError::Corrupt {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
    pub(crate) fn tantivy(path: &Path, source: tantivy::TantivyError) -> Self {
        IndexError::Tantivy {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub const MANIFEST_FILE: &str = "manifest.json";
pub const PASSAGES_FILE: &str = "passages.jsonl";
pub const DENSE_FILE: &str = "dense.f32";
/// The HNSW graph, when the index has one (`manifest.ann`).
pub const ANN_FILE: &str = "ann.hnsw";
pub const LEXICAL_DIR: &str = "lexical";

/// An opened index: everything needed to search it.
pub struct Index {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub store: PassageStore,
    pub lexical: LexicalIndex,
    pub dense: DenseIndex,
    /// Rows deleted by live updates (sorted; `manifest.deleted_rows`).
    deleted: Vec<u32>,
    /// Document id → its live rows.
    docs: std::collections::HashMap<String, Vec<u32>>,
}

impl Index {
    /// Opens an index directory, checking the manifest's format version and
    /// that the parts agree with each other (counts, dimension).
    pub fn open(dir: &Path) -> Result<Index, IndexError> {
        let manifest = Manifest::read(&dir.join(MANIFEST_FILE))?;
        let manifest = update::rolled_forward(dir, &manifest)?.unwrap_or(manifest);
        let rows = manifest.counts.passages;
        let store = PassageStore::open(&dir.join(PASSAGES_FILE), rows)?;
        if store.len() != rows {
            return Err(IndexError::corrupt(
                &dir.join(PASSAGES_FILE),
                format!(
                    "holds {} passages but the manifest says {rows}: the index is damaged, rebuild it with `xlqa index`",
                    store.len()
                ),
            ));
        }
        let mut dense = DenseIndex::open(&dir.join(DENSE_FILE), manifest.encoder.dim, rows)?;
        // the graph covers the index as built; after live updates the exact
        // scan serves every row until the index is rebuilt
        if manifest.ann.is_some() && manifest.generation == 0 {
            dense.load_ann(&dir.join(ANN_FILE), &dir.join(DENSE_FILE))?;
        }
        let lexical = LexicalIndex::open(&dir.join(LEXICAL_DIR), &manifest)?;
        let deleted = manifest.deleted_rows.clone();
        let mut docs: std::collections::HashMap<String, Vec<u32>> = Default::default();
        for (row, p) in store.iter().enumerate() {
            if deleted.binary_search(&(row as u32)).is_err() {
                docs.entry(p.doc_id.clone()).or_default().push(row as u32);
            }
        }
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            store,
            lexical,
            dense,
            deleted,
            docs,
        })
    }

    /// Whether live updates changed the index since it was built.
    pub fn updated(&self) -> bool {
        self.manifest.generation > 0
    }
}
