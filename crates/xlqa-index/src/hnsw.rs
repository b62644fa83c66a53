//! An approximate nearest-neighbour index (HNSW, Malkov & Yashunin 2018) over
//! int8 vectors, for collections where the exact int8 scan gets too slow.
//!
//! Vectors are held as int8 rows with one scale each (the same quantization
//! as the scan: `dim + 4` bytes a vector) plus the graph's links (`u32`s).
//! Distances are inner products of the int8 query and row, exact in `i32`
//! and scaled. Build is single-threaded and deterministic for a seed:
//! levels from a SplitMix64 stream, neighbours chosen with the paper's
//! heuristic (Algorithm 4, keeping pruned connections), `M` links per node
//! above level 0 and `2M` at level 0. Search descends greedily to level 0
//! and runs a beam of width `ef`; callers re-score the result exactly (see
//! `DenseIndex::search_approx`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

/// Build and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node above level 0 (level 0 has `2M`).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Seed of the level assignment.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 100,
            seed: 0x5eed,
        }
    }
}

/// int8 rows with per-row scales.
struct Rows {
    dim: usize,
    data: Vec<i8>,
    scale: Vec<f32>,
}

impl Rows {
    /// The scan's quantization (one symmetric scale per row).
    fn quantize_into(v: &[f32], out: &mut [i8]) -> f32 {
        xlqa_kernels::qgemm::quantize_row_i8(v, out)
    }

    fn row(&self, i: usize) -> &[i8] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

#[inline(always)]
fn dot_i8_impl(a: &[i8], b: &[i8]) -> i32 {
    // i16 products summed in i32 lanes: vectorizes to pmaddwd
    let mut acc = [0i32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..16 {
            acc[l] += i32::from(x[l]) * i32::from(y[l]);
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += i32::from(*x) * i32::from(*y);
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_impl(a, b)
}

#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX2: OnceLock<bool> = OnceLock::new();
        if *AVX2.get_or_init(|| is_x86_feature_detected!("avx2")) {
            // SAFETY: AVX2 is present (checked).
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_impl(a, b)
}

/// A candidate: similarity (higher is closer) and node.
#[derive(Clone, Copy, PartialEq)]
struct Cand {
    sim: f32,
    node: u32,
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.sim
            .total_cmp(&o.sim)
            .then_with(|| o.node.cmp(&self.node))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The graph.
pub struct Hnsw {
    rows: Rows,
    params: HnswParams,
    /// Per level, per node on that level: its links. `levels[l][i]` is empty
    /// for nodes below level `l`.
    links: Vec<Vec<Vec<u32>>>,
    entry: u32,
    top: usize,
}

/// A query prepared for distance computations.
struct Query {
    q: Vec<i8>,
    scale: f32,
}

impl Hnsw {
    /// Builds the graph over `n` vectors of `dim`, row `j` given by `row(j, buf)`.
    /// `progress` is called with the number of vectors inserted.
    pub fn build<E>(
        n: usize,
        dim: usize,
        params: HnswParams,
        mut row: impl FnMut(usize, &mut [f32]) -> Result<(), E>,
        progress: &dyn Fn(usize),
    ) -> Result<Hnsw, E> {
        let mut data = vec![0i8; n * dim];
        let mut scale = vec![0f32; n];
        let mut buf = vec![0f32; dim];
        for j in 0..n {
            row(j, &mut buf)?;
            scale[j] = Rows::quantize_into(&buf, &mut data[j * dim..(j + 1) * dim]);
        }
        let m = params.m.max(2);
        let ml = 1.0 / (m as f64).ln();
        let mut rng = xlqa_core::SplitMix64::new(params.seed);
        let mut level_of = Vec::with_capacity(n);
        for _ in 0..n {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let l = (-(u.max(1e-300)).ln() * ml).floor() as usize;
            level_of.push(l.min(16));
        }
        let top = level_of.iter().copied().max().unwrap_or(0);
        let mut links: Vec<Vec<Vec<u32>>> = (0..=top).map(|_| vec![Vec::new(); n]).collect();
        let mut h = Hnsw {
            rows: Rows { dim, data, scale },
            params: HnswParams { m, ..params },
            links: Vec::new(),
            entry: 0,
            top: 0,
        };
        if n == 0 {
            h.links = links;
            return Ok(h);
        }
        let mut entry = 0u32;
        let mut cur_top = level_of[0];
        for i in 1..n {
            let q = Query {
                q: h.rows.row(i).to_vec(),
                scale: h.rows.scale[i],
            };
            let li = level_of[i];
            let mut ep = vec![Cand {
                sim: h.sim(&q, entry),
                node: entry,
            }];
            for l in (li + 1..=cur_top).rev() {
                ep = h.search_layer(&links, &q, &ep, 1, l);
            }
            for l in (0..=li.min(cur_top)).rev() {
                let found = h.search_layer(&links, &q, &ep, h.params.ef_construction, l);
                let mmax = if l == 0 { 2 * m } else { m };
                let chosen = h.select(&found, m);
                links[l][i] = chosen.iter().map(|c| c.node).collect();
                for c in &chosen {
                    let nb = c.node as usize;
                    links[l][nb].push(i as u32);
                    if links[l][nb].len() > mmax {
                        let nq = Query {
                            q: h.rows.row(nb).to_vec(),
                            scale: h.rows.scale[nb],
                        };
                        let cands: Vec<Cand> = links[l][nb]
                            .iter()
                            .map(|&x| Cand {
                                sim: h.sim(&nq, x),
                                node: x,
                            })
                            .collect();
                        links[l][nb] = h.select(&cands, mmax).iter().map(|c| c.node).collect();
                    }
                }
                ep = found;
            }
            if li > cur_top {
                cur_top = li;
                entry = i as u32;
            }
            if i % 10_000 == 0 {
                progress(i);
            }
        }
        progress(n);
        h.links = links;
        h.entry = entry;
        h.top = cur_top;
        Ok(h)
    }

    fn sim(&self, q: &Query, node: u32) -> f32 {
        let r = node as usize;
        dot_i8(&q.q, self.rows.row(r)) as f32 * (q.scale * self.rows.scale[r])
    }

    fn sim_nodes(&self, a: u32, b: u32) -> f32 {
        let (a, b) = (a as usize, b as usize);
        dot_i8(self.rows.row(a), self.rows.row(b)) as f32
            * (self.rows.scale[a] * self.rows.scale[b])
    }

    /// The paper's neighbour heuristic: take candidates best first, keep one
    /// if it is closer to the base than to every kept one; fill up with the
    /// pruned ones (keepPrunedConnections) so nodes keep `m` links.
    fn select(&self, cands: &[Cand], m: usize) -> Vec<Cand> {
        let mut sorted = cands.to_vec();
        sorted.sort_by(|a, b| b.cmp(a));
        sorted.dedup_by_key(|c| c.node);
        let mut kept: Vec<Cand> = Vec::with_capacity(m);
        let mut pruned = Vec::new();
        for c in sorted {
            if kept.len() >= m {
                break;
            }
            if kept.iter().all(|k| self.sim_nodes(c.node, k.node) < c.sim) {
                kept.push(c);
            } else {
                pruned.push(c);
            }
        }
        for c in pruned {
            if kept.len() >= m {
                break;
            }
            kept.push(c);
        }
        kept
    }

    fn search_layer(
        &self,
        links: &[Vec<Vec<u32>>],
        q: &Query,
        entry: &[Cand],
        ef: usize,
        level: usize,
    ) -> Vec<Cand> {
        let mut visited: HashSet<u32> = entry.iter().map(|c| c.node).collect();
        // candidates: max-heap by similarity; results: min-heap (Reverse)
        let mut cand: BinaryHeap<Cand> = entry.iter().copied().collect();
        let mut res: BinaryHeap<std::cmp::Reverse<Cand>> =
            entry.iter().copied().map(std::cmp::Reverse).collect();
        while res.len() > ef {
            res.pop();
        }
        while let Some(c) = cand.pop() {
            let worst = res.peek().map_or(f32::NEG_INFINITY, |r| r.0.sim);
            if c.sim < worst && res.len() >= ef {
                break;
            }
            for &nb in &links[level][c.node as usize] {
                if !visited.insert(nb) {
                    continue;
                }
                let s = self.sim(q, nb);
                let worst = res.peek().map_or(f32::NEG_INFINITY, |r| r.0.sim);
                if res.len() < ef || s > worst {
                    let e = Cand { sim: s, node: nb };
                    cand.push(e);
                    res.push(std::cmp::Reverse(e));
                    if res.len() > ef {
                        res.pop();
                    }
                }
            }
        }
        let mut out: Vec<Cand> = res.into_iter().map(|r| r.0).collect();
        out.sort_by(|a, b| b.cmp(a));
        out
    }

    /// The (about) `ef` nearest rows to `query` (f32, `dim`), best first, with
    /// their approximate (int8) similarities.
    pub fn search(&self, query: &[f32], ef: usize) -> Vec<(u32, f32)> {
        let n = self.rows.scale.len();
        if n == 0 || query.len() != self.rows.dim {
            return Vec::new();
        }
        let mut q = vec![0i8; self.rows.dim];
        let scale = Rows::quantize_into(query, &mut q);
        let q = Query { q, scale };
        let mut ep = vec![Cand {
            sim: self.sim(&q, self.entry),
            node: self.entry,
        }];
        for l in (1..=self.top).rev() {
            ep = self.search_layer(&self.links, &q, &ep, 1, l);
        }
        self.search_layer(&self.links, &q, &ep, ef.max(1), 0)
            .into_iter()
            .map(|c| (c.node, c.sim))
            .collect()
    }

    /// Vectors in the graph.
    pub fn len(&self) -> usize {
        self.rows.scale.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameters it was built with.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Bytes held: int8 rows, scales and links.
    pub fn memory_bytes(&self) -> usize {
        let links: usize = self
            .links
            .iter()
            .flat_map(|l| l.iter())
            .map(|v| v.capacity() * 4 + std::mem::size_of::<Vec<u32>>())
            .sum();
        self.rows.data.len() + 4 * self.rows.scale.len() + links
    }
}

const MAGIC: &[u8; 8] = b"XLQAHNSW";
const VERSION: u32 = 1;

impl Hnsw {
    /// Writes the graph (parameters and links; the vectors stay in
    /// `dense.f32` and are re-quantized by [`Hnsw::read`]).
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        for v in [
            self.len() as u64,
            self.rows.dim as u64,
            self.params.m as u64,
            self.params.ef_construction as u64,
            self.params.seed,
            self.top as u64,
            u64::from(self.entry),
        ] {
            w.write_all(&v.to_le_bytes())?;
        }
        for level in &self.links {
            for l in level {
                w.write_all(&(l.len() as u32).to_le_bytes())?;
                for x in l {
                    w.write_all(&x.to_le_bytes())?;
                }
            }
        }
        w.flush()
    }

    /// Reads a graph written by [`Hnsw::write`] for `n` vectors of `dim`,
    /// row `j` of the vectors given by `row(j, buf)` in order. Every size and
    /// link is checked: a damaged file is an error naming what is wrong.
    pub fn read(
        path: &std::path::Path,
        n: usize,
        dim: usize,
        mut row: impl FnMut(usize, &mut [f32]) -> std::io::Result<()>,
    ) -> Result<Hnsw, String> {
        let b = std::fs::read(path).map_err(|e| e.to_string())?;
        let mut at = 0usize;
        let mut take = |k: usize| -> Result<&[u8], String> {
            let s = b
                .get(at..at + k)
                .ok_or_else(|| format!("truncated at byte {at}"))?;
            at += k;
            Ok(s)
        };
        if take(8)? != MAGIC {
            return Err("not an xlqa HNSW file".into());
        }
        let u32v = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        let version = u32v(take(4)?);
        if version != VERSION {
            return Err(format!("format version {version}, expected {VERSION}"));
        }
        let mut h = [0u64; 7];
        for v in &mut h {
            let s = take(8)?;
            *v = u64::from_le_bytes(s.try_into().map_err(|_| "short header")?);
        }
        let [fn_, fdim, m, efc, seed, top, entry] = h;
        if fn_ as usize != n || fdim as usize != dim {
            return Err(format!(
                "built for {fn_} vectors of {fdim} dimensions, the index has {n} of {dim}"
            ));
        }
        if top > 16 || (n > 0 && entry as usize >= n) {
            return Err(format!("bad header (top level {top}, entry {entry})"));
        }
        let mut links = Vec::with_capacity(top as usize + 1);
        for _ in 0..=top {
            let mut level = Vec::with_capacity(n);
            for _ in 0..n {
                let c = u32v(take(4)?) as usize;
                if c > 4 * m as usize + 4 {
                    return Err(format!("a node has {c} links (M = {m})"));
                }
                let raw = take(4 * c)?;
                let l: Vec<u32> = raw.chunks_exact(4).map(u32v).collect();
                if l.iter().any(|&x| x as usize >= n) {
                    return Err("a link points past the last vector".into());
                }
                level.push(l);
            }
            links.push(level);
        }
        if at != b.len() {
            return Err(format!("{} bytes after the graph", b.len() - at));
        }
        let mut data = vec![0i8; n * dim];
        let mut scale = vec![0f32; n];
        let mut buf = vec![0f32; dim];
        for j in 0..n {
            row(j, &mut buf).map_err(|e| e.to_string())?;
            scale[j] = Rows::quantize_into(&buf, &mut data[j * dim..(j + 1) * dim]);
        }
        Ok(Hnsw {
            rows: Rows { dim, data, scale },
            params: HnswParams {
                m: m as usize,
                ef_construction: efc as usize,
                seed,
            },
            links,
            entry: entry as u32,
            top: top as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dim: usize, s: &mut xlqa_core::SplitMix64) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim)
            .map(|_| (s.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    #[test]
    fn finds_the_neighbours_of_clustered_data() {
        // 40 clusters in 32-d: like real embeddings, far from uniform
        let (n, dim) = (4000, 32);
        let mut s = xlqa_core::SplitMix64::new(3);
        let centers: Vec<Vec<f32>> = (0..40).map(|_| unit(dim, &mut s)).collect();
        let vs: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                let c = &centers[i % 40];
                let noise = unit(dim, &mut s);
                let v: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.4 * b).collect();
                let nn = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / nn).collect()
            })
            .collect();
        let build = || {
            Hnsw::build(
                n,
                dim,
                HnswParams::default(),
                |j, buf: &mut [f32]| {
                    buf.copy_from_slice(&vs[j]);
                    Ok::<(), ()>(())
                },
                &|_| {},
            )
            .unwrap()
        };
        let h = build();
        assert_eq!(h.len(), n);
        let (mut hit, mut total) = (0, 0);
        for qi in 0..50 {
            let q = &vs[(qi * 79) % n];
            let mut exact: Vec<(f32, usize)> = vs
                .iter()
                .enumerate()
                .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum(), i))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let want: Vec<usize> = exact[..10].iter().map(|x| x.1).collect();
            let got: Vec<usize> = h
                .search(q, 64)
                .iter()
                .take(10)
                .map(|x| x.0 as usize)
                .collect();
            hit += got.iter().filter(|g| want.contains(g)).count();
            total += 10;
        }
        assert!(hit as f64 / total as f64 >= 0.95, "recall@10 {hit}/{total}");
        // deterministic for a seed
        assert_eq!(h.links, build().links);
    }

    #[test]
    fn write_read_round_trip_and_damage() {
        let (n, dim) = (300, 8);
        let mut s = xlqa_core::SplitMix64::new(9);
        let vs: Vec<Vec<f32>> = (0..n).map(|_| unit(dim, &mut s)).collect();
        let rows = |j: usize, b: &mut [f32]| {
            b.copy_from_slice(&vs[j]);
            Ok::<(), std::io::Error>(())
        };
        let h = Hnsw::build(n, dim, HnswParams::default(), rows, &|_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g");
        h.write(&p).unwrap();
        let r = Hnsw::read(&p, n, dim, rows).unwrap();
        assert_eq!(r.links, h.links);
        assert_eq!(r.search(&vs[7], 10), h.search(&vs[7], 10));
        let e = Hnsw::read(&p, n + 1, dim, rows).err().unwrap();
        assert!(e.contains("built for 300 vectors"), "{e}");
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 3);
        std::fs::write(&p, &b).unwrap();
        assert!(Hnsw::read(&p, n, dim, rows)
            .err()
            .unwrap()
            .contains("truncated"));
        std::fs::write(&p, b"nonsense").unwrap();
        assert!(Hnsw::read(&p, n, dim, rows).is_err());
    }

    #[test]
    fn empty_and_single() {
        let h = Hnsw::build(
            0,
            4,
            HnswParams::default(),
            |_, _| Ok::<(), ()>(()),
            &|_| {},
        )
        .unwrap();
        assert!(h.search(&[1.0; 4], 10).is_empty());
        let h = Hnsw::build(
            1,
            4,
            HnswParams::default(),
            |_, b: &mut [f32]| {
                b.copy_from_slice(&[0.5; 4]);
                Ok::<(), ()>(())
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!(h.search(&[1.0; 4], 10)[0].0, 0);
        assert!(h.search(&[1.0; 3], 10).is_empty(), "wrong dimension");
    }
}
