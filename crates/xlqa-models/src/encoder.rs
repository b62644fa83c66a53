//! The multilingual-e5-small text encoder: tokenizer + BERT + pooling.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use crate::bert::{Bert, CandleError, LoadError, Precision};
use crate::e5s1::{E5s1Error, E5s1File};
use crate::install::{InstallError, ModelHome, E5_SMALL_Q4, E5_SMALL_TOKENIZER};

/// The stable encoder id recorded in index manifests.
pub const E5_SMALL_ID: &str = "multilingual-e5-small-q4";

/// What a text is, which selects the e5 input prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextKind {
    /// A search query: prefixed `query: `.
    Query,
    /// A passage to be retrieved: prefixed `passage: `.
    Passage,
}

impl TextKind {
    /// The prefix e5 was trained with.
    pub fn prefix(self) -> &'static str {
        match self {
            TextKind::Query => "query: ",
            TextKind::Passage => "passage: ",
        }
    }
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderOptions {
    /// Weight precision of the linear layers.
    pub precision: Precision,
    /// Texts per forward pass (texts are sorted by length first).
    pub batch_size: usize,
    /// Maximum tokens per text including `<s>`, `</s>` and the prefix; longer
    /// texts are truncated (at most the model's 512 positions).
    pub max_tokens: usize,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            precision: Precision::default(),
            batch_size: 32,
            max_tokens: 512,
        }
    }
}

/// Errors of the encoder.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Installing the model files failed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The weights file is unusable.
    #[error(transparent)]
    Format(#[from] E5s1Error),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] CandleError),
    /// The tokenizer file cannot be loaded.
    #[error("cannot load tokenizer {path}: {message}; delete the file so it is installed again")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// The tokenizers crate's message.
        message: String,
    },
    /// The tokenizer and the weights do not belong together.
    #[error("tokenizer {tokenizer} does not fit weights {weights}: {reason}")]
    Mismatch {
        /// The tokenizer file.
        tokenizer: PathBuf,
        /// The weights file.
        weights: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// An option is out of range.
    #[error("invalid encoder option: {0}")]
    Options(String),
    /// Tokenizing a text failed.
    #[error("cannot tokenize text #{index}: {message}")]
    Tokenize {
        /// Index of the text in the input slice.
        index: usize,
        /// The tokenizers crate's message.
        message: String,
    },
    /// A fine-tuned encoder's files ([`crate::delta`]) are unusable.
    #[error("{path}: {message}")]
    Delta {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl From<LoadError> for ModelError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Format(e) => ModelError::Format(e),
            LoadError::Candle(e) => ModelError::Candle(e),
        }
    }
}

/// Word-piece ids and the byte span of each ([`Encoder::pieces`]).
pub type Pieces = (Vec<u32>, Vec<(usize, usize)>);

/// multilingual-e5-small: 384-d L2-normalized sentence embeddings, ~100 languages.
///
/// `Encoder` is `Send + Sync`; `encode` may be called from several threads.
pub struct Encoder {
    id: String,
    delta_dir: Option<PathBuf>,
    tokenizer: Tokenizer,
    bert: Bert,
    opts: EncoderOptions,
    weights_sha256: String,
    bos: u32,
    eos: u32,
    pad: u32,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("id", &self.id)
            .field("opts", &self.opts)
            .field("weights_sha256", &self.weights_sha256)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Installs the weights and tokenizer into `home` when needed, then loads them.
    pub fn load(home: &ModelHome, opts: EncoderOptions) -> Result<Encoder, ModelError> {
        let weights = home.ensure(&E5_SMALL_Q4)?;
        let tokenizer = home.ensure(&E5_SMALL_TOKENIZER)?;
        let mut enc = Encoder::load_files(&weights, &tokenizer, opts)?;
        // ensure() verified the file against the pin: no need to hash it again.
        enc.weights_sha256 = E5_SMALL_Q4.sha256.to_string();
        Ok(enc)
    }

    /// Loads an `E5S1` weights file and a `tokenizer.json`. The weights are
    /// hashed (sha256) for [`Encoder::weights_sha256`].
    pub fn load_files(
        weights: &Path,
        tokenizer: &Path,
        opts: EncoderOptions,
    ) -> Result<Encoder, ModelError> {
        let file = E5s1File::open(weights)?;
        let header = *file.header();
        if opts.batch_size == 0 {
            return Err(ModelError::Options("batch_size must be at least 1".into()));
        }
        if opts.max_tokens < 3 || opts.max_tokens > header.max_positions {
            return Err(ModelError::Options(format!(
                "max_tokens is {}, expected 3..={} (the model's positions)",
                opts.max_tokens, header.max_positions
            )));
        }
        let tok = Tokenizer::from_file(tokenizer).map_err(|e| ModelError::Tokenizer {
            path: tokenizer.to_path_buf(),
            message: e.to_string(),
        })?;
        let mismatch = |reason: String| ModelError::Mismatch {
            tokenizer: tokenizer.to_path_buf(),
            weights: weights.to_path_buf(),
            reason,
        };
        let special = |s: &str| {
            tok.token_to_id(s)
                .ok_or_else(|| mismatch(format!("the tokenizer has no {s} token")))
        };
        let (bos, eos, pad) = (special("<s>")?, special("</s>")?, special("<pad>")?);
        let tables = file.tokenizer_tables();
        if (bos, eos, pad) != (tables.bos, tables.eos, tables.pad) {
            return Err(mismatch(format!(
                "special ids <s>/</s>/<pad> are {bos}/{eos}/{pad} in the tokenizer but {}/{}/{} \
                 in the weights",
                tables.bos, tables.eos, tables.pad
            )));
        }
        let vocab = tok.get_vocab_size(true);
        if vocab > header.vocab {
            return Err(mismatch(format!(
                "the tokenizer has {vocab} tokens but the embedding only {} rows",
                header.vocab
            )));
        }
        let weights_sha256 = crate::install::sha256_file(weights)?;
        let bert = Bert::load(&file, opts.precision)?;
        Ok(Encoder {
            id: E5_SMALL_ID.to_string(),
            delta_dir: None,
            tokenizer: tok,
            bert,
            opts,
            weights_sha256,
            bos,
            eos,
            pad,
        })
    }

    /// The stable encoder id: `multilingual-e5-small-q4` for the base model,
    /// `multilingual-e5-small-q4+<name>` after [`Encoder::apply_delta`].
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn set_identity(&mut self, id: String, weights_sha256: String, dir: &Path) {
        self.id = id;
        self.weights_sha256 = weights_sha256;
        self.delta_dir = Some(dir.to_path_buf());
    }

    /// The folder of the fine-tuned layers ([`Encoder::apply_delta`]), if any.
    pub fn delta_dir(&self) -> Option<&Path> {
        self.delta_dir.as_deref()
    }

    /// sha256 of the weights file.
    pub fn weights_sha256(&self) -> &str {
        &self.weights_sha256
    }

    /// Embedding dimension (384).
    pub fn dim(&self) -> usize {
        self.bert.header().hidden
    }

    /// The options in use.
    pub fn options(&self) -> &EncoderOptions {
        &self.opts
    }

    /// Token ids fed to the model for `text`: `<s> prefix+text </s>`, truncated
    /// to `max_tokens`.
    pub fn input_ids(&self, text: &str, kind: TextKind) -> Result<Vec<u32>, ModelError> {
        self.input_ids_at(text, kind, 0)
    }

    fn input_ids_at(
        &self,
        text: &str,
        kind: TextKind,
        index: usize,
    ) -> Result<Vec<u32>, ModelError> {
        let input = format!("{}{text}", kind.prefix());
        let enc = self
            .tokenizer
            .encode(input, false)
            .map_err(|e| ModelError::Tokenize {
                index,
                message: e.to_string(),
            })?;
        let content = enc.get_ids();
        let keep = content.len().min(self.opts.max_tokens - 2);
        let mut ids = Vec::with_capacity(keep + 2);
        ids.push(self.bos);
        ids.extend_from_slice(&content[..keep]);
        ids.push(self.eos);
        Ok(ids)
    }

    /// Encodes texts into L2-normalized embeddings, in input order.
    pub fn encode(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        self.encode_with_progress(texts, kind, &|_| {})
    }

    /// Like [`Encoder::encode`], calling `progress` with the number of texts
    /// done after each batch.
    pub fn encode_with_progress(
        &self,
        texts: &[&str],
        kind: TextKind,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let ids = texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.input_ids_at(t, kind, i))
            .collect::<Result<Vec<_>, _>>()?;
        self.encode_ids(&ids, progress)
    }

    /// Number of transformer layers of the encoder.
    pub fn num_layers(&self) -> usize {
        self.bert.num_layers()
    }

    /// The hidden states after the first `upto` layers for `texts` as one
    /// right-padded batch in the given order: `([b, l, hidden], lens)`. With
    /// [`Encoder::trainable_layer`] for the remaining layers, this is how
    /// the top of the encoder is trained on cached lower-layer outputs.
    pub fn hidden_states(
        &self,
        texts: &[&str],
        kind: TextKind,
        upto: usize,
    ) -> Result<(candle_core::Tensor, Vec<usize>), ModelError> {
        let ids = texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.input_ids_at(t, kind, i))
            .collect::<Result<Vec<_>, _>>()?;
        self.hidden_states_ids(&ids, upto)
    }

    /// Like [`Encoder::hidden_states`] for inputs already tokenized (each a
    /// full model input with its special tokens, at most the model's positions).
    pub fn hidden_states_ids<S: AsRef<[u32]>>(
        &self,
        ids: &[S],
        upto: usize,
    ) -> Result<(candle_core::Tensor, Vec<usize>), ModelError> {
        let len = ids.iter().map(|s| s.as_ref().len()).max().unwrap_or(0);
        let max = self.bert.header().max_positions;
        if len > max {
            return Err(ModelError::Options(format!(
                "an input has {len} tokens, the model takes at most {max}"
            )));
        }
        let mut flat = vec![self.pad; ids.len() * len];
        let mut lens = Vec::with_capacity(ids.len());
        for (row, seq) in ids.iter().map(AsRef::as_ref).enumerate() {
            flat[row * len..row * len + seq.len()].copy_from_slice(seq);
            lens.push(seq.len());
        }
        let h = self.dim();
        let x = self.bert.hidden_states(&flat, &lens, len, upto)?;
        let x = x
            .reshape((ids.len(), len, h))
            .map_err(|e| crate::bert::CandleError {
                context: "hidden states".to_string(),
                source: Box::new(e),
            })?;
        Ok((x, lens))
    }

    /// Replaces layers `from..from + layers.len()` with trained ones, run with
    /// this encoder's kernels (int8 weights are requantized from the f32
    /// ones). The encoder then no longer is the base model: use a separate
    /// instance for retrieval.
    pub fn replace_layers(
        &mut self,
        from: usize,
        layers: &[crate::bert::TrainableLayer],
    ) -> Result<(), ModelError> {
        for (k, l) in layers.iter().enumerate() {
            self.bert.replace_layer(from + k, l, self.opts.precision)?;
        }
        self.weights_sha256 = format!("{}+replaced-layers", self.weights_sha256);
        Ok(())
    }

    /// The special token ids `(<s>, </s>, <pad>)`.
    pub fn special_ids(&self) -> (u32, u32, u32) {
        (self.bos, self.eos, self.pad)
    }

    /// `(hidden, ff, heads, layer-norm eps)` of a layer, for rebuilding
    /// [`crate::TrainableLayer`]s from saved weights.
    pub fn layer_shape(&self) -> (usize, usize, usize, f64) {
        let h = self.bert.header();
        (h.hidden, h.ff, h.heads, f64::from(h.eps))
    }

    /// Word-piece ids of `text` (no specials, no prefix) with the byte span of
    /// each piece as [`Encoder::token_spans`] gives them.
    pub fn pieces(&self, text: &str) -> Result<Pieces, ModelError> {
        let e = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::Tokenize {
                index: 0,
                message: e.to_string(),
            })?;
        let spans = clean_spans(text, e.get_tokens(), e.get_offsets());
        let mut ids = e.get_ids().to_vec();
        ids.truncate(spans.len());
        Ok((ids, spans))
    }

    /// A differentiable copy of layer `i` (0-based), initialized with the
    /// encoder's weights; needs the f32 precision (`Precision::F32`).
    pub fn trainable_layer(&self, i: usize) -> Result<crate::bert::TrainableLayer, ModelError> {
        Ok(self.bert.trainable_layer(i)?)
    }

    /// Encodes pre-tokenized inputs (each `<s> … </s>`, at most `max_tokens`).
    fn encode_ids(
        &self,
        ids: &[Vec<u32>],
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        // Longest first (stable): the first batch shows the worst-case memory at once.
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); ids.len()];
        let mut done = 0;
        for chunk in batches(&order, |i| ids[i].len(), self.opts.batch_size) {
            let len = chunk.iter().map(|&i| ids[i].len()).max().unwrap_or(0);
            let b = chunk.len();
            let mut flat = vec![self.pad; b * len];
            let mut lens = Vec::with_capacity(b);
            for (row, &i) in chunk.iter().enumerate() {
                let seq = &ids[i];
                flat[row * len..row * len + seq.len()].copy_from_slice(seq);
                lens.push(seq.len());
            }
            let vecs = self.bert.forward(&flat, &lens, len)?;
            for (&i, v) in chunk.iter().zip(vecs) {
                out[i] = v;
            }
            done += b;
            progress(done);
        }
        Ok(out)
    }

    fn content_encoding(&self, text: &str) -> Option<tokenizers::Encoding> {
        self.tokenizer.encode(text, false).ok()
    }

    /// Number of word-pieces of `text`, without specials or prefix.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.content_encoding(text).map_or(0, |e| e.len())
    }

    /// Byte spans `[start, end)` in `text` of each word-piece (no specials, no
    /// prefix; one span per piece, so `token_spans(t).len() == count_tokens(t)`).
    ///
    /// Spans are in order, do not overlap, lie on char boundaries and exclude
    /// the whitespace before a word; a piece that is only the word-start marker
    /// `▁` gets an empty span at the start of the piece that follows it.
    /// Characters the normalizer folded into a piece (e.g. a combining accent)
    /// belong to that piece.
    pub fn token_spans(&self, text: &str) -> Vec<(usize, usize)> {
        match self.content_encoding(text) {
            Some(e) => clean_spans(text, e.get_tokens(), e.get_offsets()),
            None => Vec::new(),
        }
    }
}

/// Most padded token slots per real token in a batch; a text that would push
/// the batch past this starts a new one (lengths vary a lot in practice: a
/// title next to a paragraph would otherwise be padded many times over).
const MAX_PADDING_RATIO: f64 = 1.3;

/// Splits `order` (sorted by decreasing length) into batches of at most
/// `batch_size` whose padded size stays within [`MAX_PADDING_RATIO`].
fn batches(order: &[usize], len: impl Fn(usize) -> usize, batch_size: usize) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut real = 0usize;
    for (k, &i) in order.iter().enumerate() {
        let n = k - start;
        let max_len = order.get(start).map_or(0, |&s| len(s));
        let padded = (n + 1) * max_len;
        let fits = n < batch_size && padded as f64 <= MAX_PADDING_RATIO * (real + len(i)) as f64;
        if n > 0 && !fits {
            out.push(&order[start..k]);
            start = k;
            real = 0;
        }
        real += len(i);
    }
    if start < order.len() {
        out.push(&order[start..]);
    }
    out
}

/// Turns the tokenizer's raw offsets into the spans [`Encoder::token_spans`] documents.
fn clean_spans(text: &str, tokens: &[String], offsets: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let n = offsets.len().min(tokens.len());
    let len = text.len();
    let mut spans: Vec<(usize, usize)> = offsets[..n]
        .iter()
        .map(|&(a, b)| {
            let (a, b) = (a.min(len), b.min(len));
            match text.get(a..b.max(a)) {
                Some(s) => (a + s.len() - s.trim_start().len(), b.max(a)),
                None => (a, a),
            }
        })
        .collect();
    for i in (0..n).rev() {
        if tokens[i] == "\u{2581}" {
            let at = if i + 1 < n {
                spans[i + 1].0
            } else {
                spans[i].1
            };
            spans[i] = (at, at);
        }
    }
    let mut prev_end = 0;
    for i in 0..n {
        let (mut a, mut b) = spans[i];
        a = a.max(prev_end);
        b = b.max(a);
        let next = if i + 1 < n {
            spans[i + 1].0.max(b)
        } else {
            len
        };
        if a < b {
            if let Some(gap) = text.get(b..next) {
                b += gap.len() - gap.trim_start_matches(|c: char| !c.is_whitespace()).len();
            }
        }
        spans[i] = (a, b);
        prev_end = b;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(lens: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
        let order: Vec<usize> = (0..lens.len()).collect();
        batches(&order, |i| lens[i], batch_size)
            .into_iter()
            .map(<[usize]>::to_vec)
            .collect()
    }

    #[test]
    fn encoder_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Encoder>();
    }

    #[test]
    fn batches_respect_size_and_padding() {
        assert!(split(&[], 32).is_empty());
        assert_eq!(split(&[7], 32), vec![vec![0]]);
        let even = vec![10; 70];
        let b = split(&even, 32);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![32, 32, 6]);
        // a long paragraph is not batched with short titles
        let mixed = [230, 220, 200, 12, 10, 8, 5];
        assert_eq!(
            split(&mixed, 32),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
        );
        for lens in [
            &mixed[..],
            &even[..],
            &[300, 290, 100, 99, 98, 3, 3, 3, 3][..],
        ] {
            let bs = split(lens, 4);
            assert_eq!(bs.concat(), (0..lens.len()).collect::<Vec<_>>());
            for b in bs {
                assert!(b.len() <= 4);
                let real: usize = b.iter().map(|&i| lens[i]).sum();
                assert!(
                    b.len() == 1
                        || (b.len() * lens[b[0]]) as f64 <= MAX_PADDING_RATIO * real as f64
                );
            }
        }
    }
}
