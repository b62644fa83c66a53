//! [`EngineBuilder`]: opens an index with the encoder, precision and
//! de-biasing it was built with, finds installed and shipped models, loads
//! the readers asked for and returns an [`Engine`]. The CLI, a server and a
//! binding all set an engine up through it.

use std::path::{Path, PathBuf};

use xlqa_index::{EncoderInfo, Manifest};
use xlqa_models::install::{ModelHome, LID_176};
use xlqa_models::{Encoder, EncoderOptions, Precision};
use xlqa_text::langid::LangId;

use crate::corpus::Corpus;
use crate::engine::Engine;
use crate::read::{self, LoadContext};
use crate::shipped::{ALIGNED_ENCODER, SPAN_READER};
use crate::SearchError;

/// The encoder new indexes and evaluations use when none is named. The
/// shipped aligned encoder is not the default: it raises LAReQA (sentence)
/// mAP but lowers paragraph retrieval on the XQuAD pool (docs/RESULTS.md).
pub const DEFAULT_ENCODER: &str = "base";

/// Which encoder and arithmetic.
#[derive(Clone, Debug, Default)]
pub struct EncoderChoice {
    /// `base`, `aligned` or the folder of a delta from `xlqa train encoder`
    /// (`None`: the index's own, else [`DEFAULT_ENCODER`]).
    pub encoder: Option<String>,
    /// `None`: the index's own, else int8.
    pub precision: Option<Precision>,
    /// Texts per encoder batch (0: the default).
    pub batch_size: usize,
}

/// The folder of the shipped aligned encoder (written under `home` on first use).
pub fn shipped_encoder_dir(home: &ModelHome) -> Result<PathBuf, SearchError> {
    ALIGNED_ENCODER.dir(home)
}

/// The span reader used when none is named: `$XLQA_READER`, else the shipped one.
pub fn default_span_reader_dir(home: &ModelHome) -> Result<PathBuf, SearchError> {
    match std::env::var_os("XLQA_READER").filter(|v| !v.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => SPAN_READER.dir(home),
    }
}

/// The delta folder an encoder choice names (`None`: the base model).
pub fn encoder_delta_dir(home: &ModelHome, choice: &str) -> Result<Option<PathBuf>, SearchError> {
    Ok(match choice {
        "base" => None,
        "aligned" => Some(shipped_encoder_dir(home)?),
        dir => {
            let p = PathBuf::from(dir);
            if !p.is_dir() {
                return Err(SearchError::Input(format!(
                    "--encoder '{dir}': expected base, aligned or the folder of a fine-tuned encoder (encoder.json + encoder.safetensors from `xlqa train encoder`)"
                )));
            }
            Some(p)
        }
    })
}

/// Loads the encoder `choice` names.
pub fn load_encoder(home: &ModelHome, choice: &EncoderChoice) -> Result<Encoder, SearchError> {
    let mut opts = EncoderOptions {
        precision: choice.precision.unwrap_or_default(),
        ..EncoderOptions::default()
    };
    if choice.batch_size > 0 {
        opts.batch_size = choice.batch_size;
    }
    let mut enc = Encoder::load(home, opts)?;
    if let Some(dir) =
        encoder_delta_dir(home, choice.encoder.as_deref().unwrap_or(DEFAULT_ENCODER))?
    {
        enc.apply_delta(&dir).map_err(|e| {
            SearchError::Input(format!(
                "loading the fine-tuned encoder from {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(enc)
}

/// The language identifier (installed on first use).
pub fn load_langid(home: &ModelHome) -> Result<LangId, SearchError> {
    let p = home
        .ensure(&LID_176)
        .map_err(|e| SearchError::Input(format!("installing the language identifier: {e}")))?;
    LangId::load(&p)
        .map_err(|e| SearchError::Input(format!("loading the language identifier: {e}")))
}

/// The encoder choice that rebuilds the encoder an index records.
fn index_encoder_choice(
    home: &ModelHome,
    e: &EncoderInfo,
    dir: &Path,
) -> Result<String, SearchError> {
    if e.id == xlqa_models::E5_SMALL_ID {
        return Ok("base".into());
    }
    if let Ok(m) = xlqa_models::delta::read_delta_meta(&shipped_encoder_dir(home)?) {
        if m.encoder_id() == e.id && m.combined_sha256() == e.weights_sha256 {
            return Ok("aligned".into());
        }
    }
    if let Some(d) = e.delta_dir.as_ref().filter(|d| Path::new(d).is_dir()) {
        return Ok(d.clone());
    }
    Err(SearchError::Input(format!(
        "index {} was built with the fine-tuned encoder {} (delta folder {}), which is not the shipped one and not found: pass --encoder DIR",
        dir.display(),
        e.id,
        e.delta_dir.as_deref().unwrap_or("not recorded")
    )))
}

/// Sets up an [`Engine`] over an index.
pub struct EngineBuilder<'a> {
    index: PathBuf,
    home: Option<ModelHome>,
    encoder: EncoderChoice,
    readers: Vec<String>,
    span_dir: Option<PathBuf>,
    span_exact: bool,
    progress: &'a dyn Fn(&str),
}

impl<'a> EngineBuilder<'a> {
    /// An engine over the index at `dir`, with no reader yet.
    pub fn new(dir: impl Into<PathBuf>) -> EngineBuilder<'a> {
        EngineBuilder {
            index: dir.into(),
            home: None,
            encoder: EncoderChoice::default(),
            readers: Vec::new(),
            span_dir: None,
            span_exact: false,
            progress: &|_| {},
        }
    }

    /// The model cache (default: `$XLQA_HOME` or the user's cache).
    pub fn home(mut self, home: ModelHome) -> Self {
        self.home = Some(home);
        self
    }

    /// Encoder and precision (default: those the index was built with).
    pub fn encoder(mut self, choice: EncoderChoice) -> Self {
        self.encoder = choice;
        self
    }

    /// Loads the reader `name` (`span`, `sentence`, `llm`; `none` is ignored).
    pub fn reader(mut self, name: &str) -> Self {
        if name != "none" && !self.readers.iter().any(|r| r == name) {
            self.readers.push(name.to_string());
        }
        self
    }

    /// The span reader's folder (default: `$XLQA_READER`, else the shipped one).
    pub fn span_reader_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.span_dir = dir;
        self
    }

    /// Runs the span reader's trained layers in f32 exactly as trained.
    pub fn span_exact(mut self, exact: bool) -> Self {
        self.span_exact = exact;
        self
    }

    /// Where messages go while models install or load.
    pub fn progress(mut self, f: &'a dyn Fn(&str)) -> Self {
        self.progress = f;
        self
    }

    /// Opens the index and loads the models.
    pub fn build(self) -> Result<Engine, SearchError> {
        let home = match self.home.clone() {
            Some(h) => h,
            None => ModelHome::from_env().map_err(|e| {
                SearchError::Input(format!(
                    "cannot find the model cache directory (set XLQA_HOME): {e}"
                ))
            })?,
        };
        let choice = self.index_encoder(&home)?;
        let corpus = Corpus::open(
            &self.index,
            load_encoder(&home, &choice)?,
            load_langid(&home)?,
        )?;
        let span_dir = match &self.span_dir {
            Some(d) => d.clone(),
            None => default_span_reader_dir(&home)?,
        };
        let ctx = LoadContext {
            home: &home,
            span_dir,
            span_exact: self.span_exact,
            progress: self.progress,
        };
        let readers = self
            .readers
            .iter()
            .map(|n| read::load(n, &ctx))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Engine::new(corpus, crate::retrieve::registry(), readers))
    }

    /// The encoder choice with the index's own encoder and precision filled in.
    fn index_encoder(&self, home: &ModelHome) -> Result<EncoderChoice, SearchError> {
        let mut c = self.encoder.clone();
        let mpath = self.index.join("manifest.json");
        // a missing or unreadable manifest is reported when the index opens
        let Ok(m) = Manifest::read(&mpath) else {
            return Ok(c);
        };
        if c.precision.is_none() {
            let p: Precision = m.encoder.precision.parse().map_err(|e: String| {
                SearchError::Input(format!("{}: encoder precision: {e}", mpath.display()))
            })?;
            c.precision = Some(p);
        }
        if c.encoder.is_none() {
            c.encoder = Some(index_encoder_choice(home, &m.encoder, &self.index)?);
        }
        Ok(c)
    }
}
