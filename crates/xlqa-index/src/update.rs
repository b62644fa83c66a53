//! Live updates: documents added, replaced and deleted in a built index
//! without a rebuild, durable once [`Index::commit_update`] returns and
//! safe against a crash (`kill -9`) at any moment.
//!
//! The protocol, under an exclusive lock on `DIR/writer.lock`:
//! 1. the passage store and the dense file are cut back to their committed
//!    length (dropping what an interrupted update left) and the new
//!    passages and vectors appended, then fsynced; nothing reads past the
//!    committed length, so these bytes are invisible;
//! 2. tantivy commits the lexical changes (deleted rows, added rows) with
//!    the new manifest as the commit's payload: **this is the commit
//!    point**, atomic and durable by tantivy's own guarantees;
//! 3. `manifest.json` is replaced atomically (temporary file, fsync,
//!    rename, fsync of the directory).
//!
//! A crash before 2 leaves the old index (the appended bytes are cut by the
//! next update). A crash between 2 and 3 is rolled forward by the next
//! [`Index::open`]: the payload's manifest is newer than `manifest.json`,
//! and everything it counts was made durable in step 1. Deleted and
//! replaced passages stay in the files as `deleted_rows` until the index is
//! rebuilt; no search returns them.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use xlqa_core::Passage;

use crate::manifest::Manifest;
use crate::{Index, IndexError, DENSE_FILE, LEXICAL_DIR, MANIFEST_FILE, PASSAGES_FILE};

/// The lock file that serializes writers of one index directory.
pub const LOCK_FILE: &str = "writer.lock";

/// One batch of changes, applied all together or not at all.
#[derive(Debug, Default)]
pub struct Update {
    /// New passages with their vectors (in the index's space: de-biased
    /// like the stored ones). A document that already exists is replaced:
    /// its old passages are deleted in the same commit.
    pub add: Vec<(Passage, Vec<f32>)>,
    /// Documents to delete (by document id).
    pub delete: Vec<String>,
}

/// What an update did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateReport {
    /// The index's generation after the update.
    pub generation: u64,
    pub added_documents: usize,
    pub added_passages: usize,
    /// Added documents that replaced an existing one.
    pub replaced_documents: usize,
    pub deleted_documents: usize,
    /// Ids given to delete that the index does not hold.
    pub not_found: Vec<String>,
    /// Added passages in languages the lexical index has no field for
    /// (found by dense retrieval only until a rebuild), per language.
    pub lexical_skipped: BTreeMap<String, usize>,
}

/// An update written to disk but not yet visible in memory. It holds the
/// index's writer lock until it is applied (or dropped), so no other writer
/// commits in between.
pub struct Committed {
    _lock: WriterLock,
    manifest: Manifest,
    passages: Vec<Passage>,
    store_bytes: u64,
    pub report: UpdateReport,
}

/// What tantivy keeps with the commit: the manifest it makes true.
#[derive(Serialize, Deserialize)]
struct Payload {
    generation: u64,
    manifest: Manifest,
}

/// Cuts `path` to `len` bytes, appends `bytes`, fsyncs.
pub(crate) fn append_at(path: &Path, len: u64, bytes: &[u8]) -> Result<(), IndexError> {
    let io = |e| IndexError::io(path, e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.set_len(len).map_err(io)?;
    f.seek(SeekFrom::Start(len)).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// An exclusive lock on the index directory for one writer (released on drop).
pub(crate) struct WriterLock(std::fs::File);

impl WriterLock {
    pub(crate) fn acquire(dir: &Path) -> Result<WriterLock, IndexError> {
        let path = dir.join(LOCK_FILE);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| IndexError::io(&path, e))?;
        f.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => IndexError::Conflict(format!(
                "index {} is being updated by another process (it holds {}); try again when it is done",
                dir.display(),
                path.display()
            )),
            std::fs::TryLockError::Error(e) => IndexError::io(&path, e),
        })?;
        Ok(WriterLock(f))
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The manifest a crash between tantivy's commit and the manifest's rename
/// left only in tantivy's payload, if it is newer than `on_disk`.
pub(crate) fn rolled_forward(
    dir: &Path,
    on_disk: &Manifest,
) -> Result<Option<Manifest>, IndexError> {
    let lex = dir.join(LEXICAL_DIR);
    let Some(text) = crate::LexicalIndex::committed_payload(&lex)? else {
        return Ok(None);
    };
    let p: Payload = serde_json::from_str(&text).map_err(|e| {
        IndexError::corrupt(&lex, format!("commit payload is not an xlqa update: {e}"))
    })?;
    if p.generation <= on_disk.generation {
        return Ok(None);
    }
    // made durable by tantivy; the rename may not have happened: redo it
    // (another process holding the lock will do it itself)
    if let Ok(_lock) = WriterLock::acquire(dir) {
        p.manifest.write_durable(&dir.join(MANIFEST_FILE))?;
    }
    Ok(Some(p.manifest))
}

impl Index {
    /// Whether `row` is a passage searches may return.
    pub fn is_live(&self, row: u32) -> bool {
        (row as usize) < self.store.len() && self.deleted.binary_search(&row).is_err()
    }

    /// Whether the index holds document `id` (live).
    pub fn has_document(&self, id: &str) -> bool {
        self.docs.contains_key(id)
    }

    /// Live rows of document `id`, in order.
    pub fn rows_of(&self, id: &str) -> &[u32] {
        self.docs.get(id).map_or(&[], Vec::as_slice)
    }

    /// Writes `u` to disk (steps 1–3 of the module docs). Searches on this
    /// `Index` go on meanwhile and see nothing of it until
    /// [`Index::apply_committed`].
    pub fn commit_update(&self, u: &Update) -> Result<Committed, IndexError> {
        let lock = WriterLock::acquire(&self.dir)?;
        self.check_current()?;
        let (kill, mut report) = self.rows_to_kill(u);
        let passages: Vec<Passage> = u.add.iter().map(|(p, _)| p.clone()).collect();
        let vectors: Vec<Vec<f32>> = u.add.iter().map(|(_, v)| v.clone()).collect();
        let store_bytes = self
            .store
            .append_to_file(&self.dir.join(PASSAGES_FILE), &passages)?;
        self.dense
            .append_to_file(&self.dir.join(DENSE_FILE), &vectors)?;
        let manifest = self.next_manifest(&passages, &kill, &report);
        report.generation = manifest.generation;
        let payload = serde_json::to_string(&Payload {
            generation: manifest.generation,
            manifest: manifest.clone(),
        })
        .map_err(|e| IndexError::Usage(format!("cannot serialize the update: {e}")))?;
        let first_new = self.store.len() as u32;
        report.lexical_skipped = self
            .lexical
            .commit_update(first_new, &passages, &kill, &payload)?;
        // Committed (tantivy holds the manifest): a failure from here on is
        // repaired by the roll-forward of the next open, not reported.
        if let Err(e) = manifest.write_durable(&self.dir.join(MANIFEST_FILE)) {
            eprintln!("warning: update committed, manifest.json not rewritten ({e}); the next open rolls it forward");
        }
        Ok(Committed {
            _lock: lock,
            manifest,
            passages,
            store_bytes,
            report,
        })
    }

    /// Refuses to write when the index on disk is not the one this handle
    /// opened (rebuilt since, or updated by another handle).
    fn check_current(&self) -> Result<(), IndexError> {
        let disk = Manifest::read(&self.dir.join(MANIFEST_FILE))?;
        let disk = rolled_forward(&self.dir, &disk)?.unwrap_or(disk);
        if disk.build_id != self.manifest.build_id {
            return Err(IndexError::Conflict(format!(
                "index {} was rebuilt since it was opened: open it again",
                self.dir.display()
            )));
        }
        if disk.generation != self.manifest.generation {
            return Err(IndexError::Conflict(format!(
                "index {} changed on disk since it was opened (generation {} then, {} now): open it again",
                self.dir.display(),
                self.manifest.generation,
                disk.generation
            )));
        }
        Ok(())
    }

    /// Rows the update removes (sorted) and the counts of what it does.
    fn rows_to_kill(&self, u: &Update) -> (Vec<u32>, UpdateReport) {
        let mut r = UpdateReport::default();
        let mut kill: Vec<u32> = Vec::new();
        let mut added: Vec<&str> = u.add.iter().map(|(p, _)| p.doc_id.as_str()).collect();
        added.sort_unstable();
        added.dedup();
        r.added_documents = added.len();
        r.added_passages = u.add.len();
        for id in &added {
            let rows = self.rows_of(id);
            r.replaced_documents += usize::from(!rows.is_empty());
            kill.extend_from_slice(rows);
        }
        for id in &u.delete {
            let rows = self.rows_of(id);
            if rows.is_empty() {
                if !added.contains(&id.as_str()) {
                    r.not_found.push(id.clone());
                }
            } else if !kill.contains(&rows[0]) {
                r.deleted_documents += 1;
                kill.extend_from_slice(rows);
            }
        }
        kill.sort_unstable();
        kill.dedup();
        (kill, r)
    }

    /// The manifest after adding `new` and deleting the rows `kill`.
    fn next_manifest(&self, new: &[Passage], kill: &[u32], r: &UpdateReport) -> Manifest {
        let mut m = self.manifest.clone();
        m.generation += 1;
        let c = &mut m.counts;
        // from the live documents (the build's count includes documents
        // dropped as too short)
        c.documents = (self.docs.len() + r.added_documents)
            .saturating_sub(r.replaced_documents + r.deleted_documents);
        for &row in kill {
            if let Some(p) = self.store.get(row) {
                if let Some(n) = c.passages_by_lang.get_mut(p.lang.as_str()) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        c.passages_by_lang.retain(|_, n| *n > 0);
        for p in new {
            *c.passages_by_lang
                .entry(p.lang.as_str().to_string())
                .or_default() += 1;
            *m.added_by_lang
                .entry(p.lang.as_str().to_string())
                .or_default() += 1;
        }
        c.passages += new.len();
        m.deleted_rows.extend_from_slice(kill);
        m.deleted_rows.sort_unstable();
        m.deleted_rows.dedup();
        m
    }

    /// The dense index with a committed update's vectors (built apart from
    /// [`Index::apply_committed`], so searches go on meanwhile).
    pub fn dense_after(&self, c: &Committed) -> Result<crate::DenseIndex, IndexError> {
        crate::DenseIndex::open(
            &self.dir.join(DENSE_FILE),
            c.manifest.encoder.dim,
            self.store.len() + c.passages.len(),
        )
    }

    /// Makes a committed update visible to searches on this `Index`, with
    /// `dense` from [`Index::dense_after`]. Only the tantivy reload can fail,
    /// and it comes before anything is changed.
    pub fn apply_committed(
        &mut self,
        c: Committed,
        dense: crate::DenseIndex,
    ) -> Result<UpdateReport, IndexError> {
        self.lexical.reload()?;
        let first = self.store.len() as u32;
        for (i, p) in c.passages.iter().enumerate() {
            self.docs
                .entry(p.doc_id.clone())
                .or_default()
                .push(first + i as u32);
        }
        self.store.extend(c.passages, c.store_bytes);
        self.dense = dense;
        self.deleted = c.manifest.deleted_rows.clone();
        let dead = &self.deleted;
        self.docs.retain(|_, rows| {
            rows.retain(|r| dead.binary_search(r).is_err());
            !rows.is_empty()
        });
        self.manifest = c.manifest;
        Ok(c.report)
    }

    /// Commits and applies `u` (for one writer that is also the only reader).
    pub fn update(&mut self, u: &Update) -> Result<UpdateReport, IndexError> {
        let c = self.commit_update(u)?;
        let dense = self.dense_after(&c)?;
        self.apply_committed(c, dense)
    }
}
