//! Dense index: row-major little-endian f32 vectors, memory-mapped, searched
//! exactly by inner product (the vectors are L2-normalized, so this is
//! cosine similarity).

use crate::IndexError;
use memmap2::Mmap;
use rayon::prelude::*;
use std::io::{BufWriter, Write};
use std::path::Path;
use xlqa_core::Hit;

pub struct DenseIndex {
    map: Option<Mmap>,
    dim: usize,
    len: usize,
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

    pub fn open(path: &Path, dim: usize) -> Result<DenseIndex, IndexError> {
        if dim == 0 {
            return Err(IndexError::corrupt(path, "dimension 0 in the manifest"));
        }
        let f = std::fs::File::open(path).map_err(|e| IndexError::io(path, e))?;
        let size = f.metadata().map_err(|e| IndexError::io(path, e))?.len() as usize;
        if !size.is_multiple_of(dim * 4) {
            return Err(IndexError::corrupt(
                path,
                format!("size {size} bytes is not a whole number of {dim}-dimensional f32 vectors"),
            ));
        }
        let map = if size == 0 {
            None
        } else {
            // SAFETY: the file is only read; an index directory is never
            // modified in place (builds write a new directory and rename it).
            Some(unsafe { Mmap::map(&f) }.map_err(|e| IndexError::io(path, e))?)
        };
        Ok(DenseIndex {
            map,
            dim,
            len: size / (dim * 4),
        })
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

    /// The `k` rows with the largest inner product with `query`, best first.
    /// Rows for which `keep` is false are skipped (used to restrict the
    /// search to some languages). Ties are broken by row number, so results
    /// are deterministic.
    pub fn search(
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
            let idx = DenseIndex::open(&p, dim).unwrap();
            assert_eq!(idx.len(), n);
            let q: Vec<f32> = (0..dim).map(|_| rnd()).collect();
            for k in [1, 5, 50] {
                let got: Vec<u32> = idx
                    .search(&q, k, &|_| true)
                    .iter()
                    .map(|h| h.passage)
                    .collect();
                assert_eq!(got, brute(&vs, &q, k));
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
    fn empty_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e");
        DenseIndex::write(&p, &[], 4).unwrap();
        let idx = DenseIndex::open(&p, 4).unwrap();
        assert!(idx.search(&[1.0; 4], 3, &|_| true).is_empty());
        std::fs::write(&p, [0u8; 10]).unwrap();
        let e = DenseIndex::open(&p, 4)
            .err()
            .expect("corrupt file refused")
            .to_string();
        assert!(e.contains("not a whole number"), "{e}");
        assert!(DenseIndex::write(&p, &[vec![1.0; 3]], 4).is_err());
    }
}
