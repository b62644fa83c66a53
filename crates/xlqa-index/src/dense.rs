//! Dense index: row-major little-endian f32 vectors on disk (memory-mapped),
//! searched by inner product (the vectors are L2-normalized, so this is
//! cosine similarity).
//!
//! At open the vectors are quantized to int8 (one scale per vector) and
//! packed for `xlqa_kernels::qgemm`: 392 bytes per 384-d passage in memory,
//! and the scan runs on the integer dot-product kernels (AVX-512 VNNI / AVX2).
//! The best `max(4k, k + 32)` candidates of the int8 scan are then re-scored
//! exactly in f32 from the map, so returned scores are exact and the top k
//! equals the f32 scan's unless an answer falls outside the candidates
//! (measured in docs/RESULTS.md). `search_f32` is the plain exact scan.

use crate::IndexError;
use memmap2::Mmap;
use rayon::prelude::*;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use xlqa_core::Hit;
use xlqa_kernels::qgemm::{self, Kernel, PackedWeight, QuantizedRows};

pub struct DenseIndex {
    map: Option<Mmap>,
    dim: usize,
    len: usize,
    /// The vectors in int8, packed (None when empty).
    int8: Option<PackedWeight>,
    /// An HNSW graph, when built ([`DenseIndex::build_ann`]).
    ann: Option<crate::hnsw::Hnsw>,
}

/// Columns (vectors) per task of the int8 scan: 256 panels of 16.
const COLS_PER_TASK: usize = 4096;

/// Candidates of the int8 scan that are re-scored in f32.
fn candidates(k: usize) -> usize {
    (4 * k).max(k + 32)
}

/// Rows per parallel task when scanning: large enough to amortize task
/// overhead, small enough to use both cores on small collections.
const ROWS_PER_TASK: usize = 4096;

impl DenseIndex {
    /// Writes vectors (all of length `dim`) to `path`.
    pub fn write(path: &Path, vectors: &[Vec<f32>], dim: usize) -> Result<(), IndexError> {
        let f = std::fs::File::create(path).map_err(|e| IndexError::io(path, e))?;
        let mut w = BufWriter::new(f);
        for (i, v) in vectors.iter().enumerate() {
            if v.len() != dim {
                return Err(IndexError::corrupt(
                    path,
                    format!("vector {i} has {} dimensions, expected {dim}", v.len()),
                ));
            }
            for x in v {
                w.write_all(&x.to_le_bytes())
                    .map_err(|e| IndexError::io(path, e))?;
            }
        }
        w.flush().map_err(|e| IndexError::io(path, e))
    }

    /// Opens every vector of `path` (a file of whole vectors).
    pub fn open_all(path: &Path, dim: usize) -> Result<DenseIndex, IndexError> {
        let size = std::fs::metadata(path)
            .map_err(|e| IndexError::io(path, e))?
            .len() as usize;
        if dim == 0 || !size.is_multiple_of(dim * 4) {
            return Err(IndexError::corrupt(
                path,
                format!("size {size} bytes is not a whole number of {dim}-dimensional f32 vectors"),
            ));
        }
        DenseIndex::open(path, dim, size / (dim * 4))
    }

    /// Opens the first `rows` vectors of `path` (the committed ones: bytes
    /// after them are what an interrupted live update left, ignored and
    /// later cut).
    pub fn open(path: &Path, dim: usize, rows: usize) -> Result<DenseIndex, IndexError> {
        if dim == 0 {
            return Err(IndexError::corrupt(path, "dimension 0 in the manifest"));
        }
        let f = std::fs::File::open(path).map_err(|e| IndexError::io(path, e))?;
        let size = f.metadata().map_err(|e| IndexError::io(path, e))?.len() as usize;
        let need = rows * dim * 4;
        if size < need {
            return Err(IndexError::corrupt(
                path,
                format!(
                    "holds {} {dim}-dimensional vectors ({size} bytes) for {rows} passages: the index is damaged, rebuild it with `xlqa index`",
                    size / (dim * 4)
                ),
            ));
        }
        let map = if need == 0 {
            None
        } else {
            // SAFETY: the file is only read through the map, and only its
            // first `need` bytes are mapped; a live update only appends after
            // them or cuts what follows them (update.rs), never shortens them.
            Some(
                unsafe { memmap2::MmapOptions::new().len(need).map(&f) }
                    .map_err(|e| IndexError::io(path, e))?,
            )
        };
        let len = rows;
        // Streamed from the file, not through the map, so that the f32 pages
        // do not become resident: the scan needs only the int8 copy, the
        // re-scoring a few rows.
        let int8 = if len == 0 {
            None
        } else {
            Some(
                PackedWeight::from_rows(len, dim, row_reader(&f, dim))
                    .map_err(|e| IndexError::io(path, e))?,
            )
        };
        Ok(DenseIndex {
            map,
            dim,
            len,
            int8,
            ann: None,
        })
    }

    /// Cuts `path` back to the vectors held here and appends `new` after
    /// them, durably (fsync). Reopen with the new row count to search them.
    pub fn append_to_file(&self, path: &Path, new: &[Vec<f32>]) -> Result<(), IndexError> {
        let mut buf = Vec::with_capacity(new.len() * self.dim * 4);
        for (i, v) in new.iter().enumerate() {
            if v.len() != self.dim {
                return Err(IndexError::Usage(format!(
                    "added vector {i} has {} dimensions; the index has {}",
                    v.len(),
                    self.dim
                )));
            }
            buf.extend(v.iter().flat_map(|x| x.to_le_bytes()));
        }
        crate::update::append_at(path, (self.len * self.dim * 4) as u64, &buf)
    }

    /// Bytes of memory the search structure holds (the int8 copy).
    pub fn memory_bytes(&self) -> usize {
        self.int8.as_ref().map_or(0, PackedWeight::bytes)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Vector of `row` (copied out of the map).
    pub fn vector(&self, row: usize) -> Option<Vec<f32>> {
        if row >= self.len {
            return None;
        }
        let b = &self.bytes()[row * self.dim * 4..(row + 1) * self.dim * 4];
        Some(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }

    /// The `k` rows with the largest inner product with `query`, best first:
    /// int8 scan, then exact f32 re-scoring of the best candidates (see the
    /// module docs). Rows for which `keep` is false are skipped (used to
    /// restrict the search to some languages). Ties are broken by row
    /// number, so results are deterministic.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Hit> {
        self.search_batch(&[query], k, keep)
            .pop()
            .unwrap_or_default()
    }

    /// [`DenseIndex::search`] for several queries at once (one pass over the
    /// vectors for all of them; both cores share the columns).
    pub fn search_batch(
        &self,
        queries: &[&[f32]],
        k: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Vec<Hit>> {
        let Some(w) = &self.int8 else {
            return vec![Vec::new(); queries.len()];
        };
        if k == 0 || queries.iter().any(|q| q.len() != self.dim) {
            return vec![Vec::new(); queries.len()];
        }
        let nq = queries.len();
        let flat: Vec<f32> = queries.iter().flat_map(|q| q.iter().copied()).collect();
        let mut qa = QuantizedRows::default();
        qa.quantize(&flat, nq, self.dim);
        let kc = candidates(k);
        let kernel = Kernel::detect();
        let pw = qgemm::panel_width();
        let panels_per_task = COLS_PER_TASK / pw;
        let n_tasks = w.panels().div_ceil(panels_per_task);
        // Per task and query: the best `kc` (score, row) of its columns by
        // selection (O(columns)), not by keeping a sorted list.
        let partial: Vec<Vec<Vec<(f32, u32)>>> = (0..n_tasks)
            .into_par_iter()
            .map(|t| {
                let p0 = t * panels_per_task;
                let p1 = (p0 + panels_per_task).min(w.panels());
                let c0 = p0 * pw;
                let c1 = (p1 * pw).min(self.len);
                let mut out = vec![0f32; nq * COLS_PER_TASK];
                qgemm::matmul_block(kernel, &qa, w, 0..nq, p0..p1, &mut out, COLS_PER_TASK);
                (0..nq)
                    .map(|i| {
                        let row = &out[i * COLS_PER_TASK..i * COLS_PER_TASK + (c1 - c0)];
                        let mut c: Vec<(f32, u32)> = row
                            .iter()
                            .enumerate()
                            .filter(|&(j, _)| keep(c0 + j))
                            .map(|(j, &s)| (s, (c0 + j) as u32))
                            .collect();
                        best_first(&mut c, kc);
                        c
                    })
                    .collect()
            })
            .collect();
        let bytes = self.bytes();
        let dim = self.dim;
        (0..nq)
            .map(|i| {
                let mut cand: Vec<(f32, u32)> =
                    partial.iter().flat_map(|p| p[i].iter().copied()).collect();
                best_first(&mut cand, kc);
                let mut top = TopK::new(k);
                for (_, r) in cand {
                    let ru = r as usize;
                    top.push(
                        r,
                        dot_le(queries[i], &bytes[ru * dim * 4..(ru + 1) * dim * 4]),
                    );
                }
                top.into_sorted()
            })
            .collect()
    }

    /// Builds an HNSW graph over the vectors (streamed from the file like
    /// the int8 copy), for [`DenseIndex::search_approx`]. Single-threaded;
    /// `progress` gets the number of vectors inserted.
    pub fn build_ann(
        &mut self,
        path: &Path,
        params: crate::hnsw::HnswParams,
        progress: &dyn Fn(usize),
    ) -> Result<(), IndexError> {
        let f = std::fs::File::open(path).map_err(|e| IndexError::io(path, e))?;
        let h = crate::hnsw::Hnsw::build(
            self.len,
            self.dim,
            params,
            row_reader(&f, self.dim),
            progress,
        )
        .map_err(|e| IndexError::io(path, e))?;
        self.ann = Some(h);
        Ok(())
    }

    /// Writes the HNSW graph (see [`crate::hnsw::Hnsw::write`]); an error
    /// without one.
    pub fn write_ann(&self, path: &Path) -> Result<(), IndexError> {
        match &self.ann {
            Some(h) => h.write(path).map_err(|e| IndexError::io(path, e)),
            None => Err(IndexError::corrupt(path, "no HNSW graph was built")),
        }
    }

    /// Loads the HNSW graph written next to `vectors` (the `dense.f32` file).
    pub fn load_ann(&mut self, graph: &Path, vectors: &Path) -> Result<(), IndexError> {
        let f = std::fs::File::open(vectors).map_err(|e| IndexError::io(vectors, e))?;
        let h = crate::hnsw::Hnsw::read(graph, self.len, self.dim, row_reader(&f, self.dim))
            .map_err(|e| {
                IndexError::corrupt(
                    graph,
                    format!("{e}: rebuild the index with `xlqa index ... --ann hnsw --force`"),
                )
            })?;
        self.ann = Some(h);
        Ok(())
    }

    /// True when an HNSW graph is loaded.
    pub fn has_ann(&self) -> bool {
        self.ann.is_some()
    }

    /// Bytes held by the HNSW graph (0 without one).
    pub fn ann_memory_bytes(&self) -> usize {
        self.ann.as_ref().map_or(0, crate::hnsw::Hnsw::memory_bytes)
    }

    /// Approximate search on the HNSW graph (beam width `ef`), re-scored
    /// exactly in f32; falls back to [`DenseIndex::search`] without a graph.
    /// `keep` filters the beam's results; while fewer than `k` pass, the
    /// beam is doubled (up to the whole graph), so a filter does not cut the
    /// number of hits below `k` when enough rows pass it.
    pub fn search_approx(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Hit> {
        let Some(h) = &self.ann else {
            return self.search(query, k, keep);
        };
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let bytes = self.bytes();
        let dim = self.dim;
        let mut ef = ef.max(k);
        loop {
            let found = h.search(query, ef);
            let mut top = TopK::new(k);
            for (node, _) in &found {
                let r = *node as usize;
                if keep(r) {
                    top.push(*node, dot_le(query, &bytes[r * dim * 4..(r + 1) * dim * 4]));
                }
            }
            if top.items.len() >= k || found.len() < ef || ef >= self.len {
                return top.into_sorted();
            }
            ef = (2 * ef).min(self.len);
        }
    }

    /// The exact f32 scan (reference for [`DenseIndex::search`]).
    pub fn search_f32(
        &self,
        query: &[f32],
        k: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Hit> {
        if k == 0 || self.len == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let dim = self.dim;
        let bytes = self.bytes();
        let n_tasks = self.len.div_ceil(ROWS_PER_TASK);
        let mut partial: Vec<Vec<Hit>> = (0..n_tasks)
            .into_par_iter()
            .map(|t| {
                let start = t * ROWS_PER_TASK;
                let end = (start + ROWS_PER_TASK).min(self.len);
                let mut top = TopK::new(k);
                for row in start..end {
                    if !keep(row) {
                        continue;
                    }
                    let b = &bytes[row * dim * 4..(row + 1) * dim * 4];
                    top.push(row as u32, dot_le(query, b));
                }
                top.into_sorted()
            })
            .collect();
        let mut top = TopK::new(k);
        for hits in partial.drain(..) {
            for h in hits {
                top.push(h.passage, h.score);
            }
        }
        top.into_sorted()
    }
}

#[inline]
fn dot_le(q: &[f32], row: &[u8]) -> f32 {
    // Four independent accumulators let the compiler vectorize the loop.
    let mut acc = [0f32; 4];
    for (qs, rs) in q.chunks_exact(4).zip(row.chunks_exact(16)) {
        for j in 0..4 {
            let r = f32::from_le_bytes([rs[4 * j], rs[4 * j + 1], rs[4 * j + 2], rs[4 * j + 3]]);
            acc[j] += qs[j] * r;
        }
    }
    let mut s = acc[0] + acc[1] + acc[2] + acc[3];
    let done = q.len() / 4 * 4;
    for i in done..q.len() {
        let r = &row[4 * i..4 * i + 4];
        s += q[i] * f32::from_le_bytes([r[0], r[1], r[2], r[3]]);
    }
    s
}

/// Reads the rows of a `dense.f32` file in order, one per call (streamed
/// through a buffer, not memory-mapped).
fn row_reader(
    f: &std::fs::File,
    dim: usize,
) -> impl FnMut(usize, &mut [f32]) -> std::io::Result<()> + '_ {
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut buf = vec![0u8; dim * 4];
    move |_, row| {
        r.read_exact(&mut buf)?;
        for (v, c) in row.iter_mut().zip(buf.chunks_exact(4)) {
            *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }
}

/// Keeps the `k` best of `c` (higher score first, ties by lower row), in no
/// particular order: a linear-time selection.
fn best_first(c: &mut Vec<(f32, u32)>, k: usize) {
    if c.len() > k {
        let better = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        c.select_nth_unstable_by(k - 1, better);
        c.truncate(k);
    }
}

/// A bounded selection of the best (score, row) pairs.
pub(crate) struct TopK {
    k: usize,
    items: Vec<Hit>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> TopK {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn better(a: &Hit, b: &Hit) -> bool {
        a.score > b.score || (a.score == b.score && a.passage < b.passage)
    }

    pub(crate) fn push(&mut self, passage: u32, score: f32) {
        let h = Hit { passage, score };
        if self.items.len() == self.k {
            // the worst item is kept last
            match self.items.last() {
                Some(worst) if !Self::better(&h, worst) => return,
                _ => {}
            }
            self.items.pop();
        }
        let pos = self.items.partition_point(|x| Self::better(x, &h));
        self.items.insert(pos, h);
    }

    pub(crate) fn into_sorted(self) -> Vec<Hit> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(vs: &[Vec<f32>], q: &[f32], k: usize) -> Vec<u32> {
        let mut s: Vec<(f32, u32)> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum(), i as u32))
            .collect();
        s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        s.into_iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn matches_brute_force_on_odd_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        for &(n, dim) in &[(1usize, 3usize), (10, 7), (9000, 13)] {
            let vs: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| rnd()).collect()).collect();
            let p = dir.path().join(format!("d{n}"));
            DenseIndex::write(&p, &vs, dim).unwrap();
            let idx = DenseIndex::open_all(&p, dim).unwrap();
            assert_eq!(idx.len(), n);
            let q: Vec<f32> = (0..dim).map(|_| rnd()).collect();
            for k in [1, 5, 50] {
                let exact: Vec<u32> = idx
                    .search_f32(&q, k, &|_| true)
                    .iter()
                    .map(|h| h.passage)
                    .collect();
                assert_eq!(exact, brute(&vs, &q, k));
                let got: Vec<u32> = idx
                    .search(&q, k, &|_| true)
                    .iter()
                    .map(|h| h.passage)
                    .collect();
                assert_eq!(got, brute(&vs, &q, k), "int8 + re-scoring, n={n} k={k}");
            }
            let even: Vec<u32> = idx
                .search(&q, 5, &|r| r % 2 == 0)
                .iter()
                .map(|h| h.passage)
                .collect();
            assert!(even.iter().all(|r| r % 2 == 0));
            assert_eq!(idx.vector(0).unwrap(), vs[0]);
        }
    }

    #[test]
    fn int8_scan_keeps_recall_and_returns_exact_scores() {
        let dir = tempfile::tempdir().unwrap();
        let mut seed = 11u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let (n, dim) = (20_000, 64);
        let unit = |v: Vec<f32>| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
        };
        let vs: Vec<Vec<f32>> = (0..n)
            .map(|_| unit((0..dim).map(|_| rnd()).collect()))
            .collect();
        let p = dir.path().join("d");
        DenseIndex::write(&p, &vs, dim).unwrap();
        let idx = DenseIndex::open_all(&p, dim).unwrap();
        assert!(idx.memory_bytes() <= n * (dim + 8) + 16 * (dim + 8));
        let qs: Vec<Vec<f32>> = (0..40)
            .map(|_| unit((0..dim).map(|_| rnd()).collect()))
            .collect();
        let refs: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
        let batch = idx.search_batch(&refs, 10, &|_| true);
        let (mut hit, mut total) = (0, 0);
        for (q, got) in qs.iter().zip(&batch) {
            assert_eq!(got, &idx.search(q, 10, &|_| true), "batch = one by one");
            let want = brute(&vs, q, 10);
            hit += got.iter().filter(|h| want.contains(&h.passage)).count();
            total += 10;
            for h in got {
                let exact: f32 = vs[h.passage as usize]
                    .iter()
                    .zip(q)
                    .map(|(a, b)| a * b)
                    .sum();
                assert!(
                    (h.score - exact).abs() < 1e-5,
                    "scores are re-scored in f32"
                );
            }
        }
        assert!(hit as f64 / total as f64 >= 0.99, "recall@10 {hit}/{total}");
        // a filter is applied inside the scan
        let odd = idx.search(&qs[0], 10, &|r| r % 2 == 1);
        assert_eq!(odd.len(), 10);
        assert!(odd.iter().all(|h| h.passage % 2 == 1));
        assert!(idx.search_batch(&[], 10, &|_| true).is_empty());
    }

    #[test]
    fn empty_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e");
        DenseIndex::write(&p, &[], 4).unwrap();
        let idx = DenseIndex::open_all(&p, 4).unwrap();
        assert!(idx.search(&[1.0; 4], 3, &|_| true).is_empty());
        std::fs::write(&p, [0u8; 10]).unwrap();
        let e = DenseIndex::open_all(&p, 4)
            .err()
            .expect("corrupt file refused")
            .to_string();
        assert!(e.contains("not a whole number"), "{e}");
        assert!(DenseIndex::write(&p, &[vec![1.0; 3]], 4).is_err());
    }
}
