//! The one error type of the crate ([`DataError`]) and its [`Result`] alias.

use std::path::{Path, PathBuf};

use xlqa_core::LangError;

/// `Result` with [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;

/// Errors of every reader of this crate. Each names the file (or folder)
/// and, where there is one, the place in it: a JSON path
/// ([`DataError::Format`]), a line and field of a JSONL record
/// ([`DataError::Record`], [`DataError::Input`]) or a line of a text file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("cannot read '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A text file is not UTF-8.
    #[error("'{path}' line {line}: not valid UTF-8")]
    Utf8 { path: PathBuf, line: usize },
    /// A whole-file JSON document does not parse.
    #[error("'{path}' is not valid JSON (line {line}, column {column}): {source}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    /// A JSON file parses but has the wrong shape or content at `json_path`
    /// (e.g. `data[3].paragraphs[1].qas[0].answers[0].answer_start`).
    #[error("'{path}' at {json_path}: {message}")]
    Format {
        path: PathBuf,
        json_path: String,
        message: String,
    },
    /// A JSONL record (or a key of a JSON object) has the wrong shape or
    /// content; `at` is `line N, field "x"` or `key "…"` (the gold readers
    /// for answer scoring).
    #[error("'{path}' {at}: {message}")]
    Record {
        path: PathBuf,
        at: String,
        message: String,
    },
    /// A problem with one line of an input file, as `file:line: message`
    /// (`line` 0: the whole file; the gold readers for retrieval).
    #[error("{}:{line}: {message}", file.display())]
    Input {
        file: PathBuf,
        line: usize,
        message: String,
    },
    /// A file or folder name does not follow the dataset's naming scheme.
    #[error("'{path}': bad file name: {message}")]
    BadFileName { path: PathBuf, message: String },
    /// The language code in a file or folder name is not a language code.
    #[error("'{path}': '{code}' in the name is not a language code: {source}")]
    BadLang {
        path: PathBuf,
        code: String,
        #[source]
        source: LangError,
    },
    /// Two files of a folder map to the same language.
    #[error("'{first}' and '{second}' are both for language '{lang}'")]
    DuplicateLang {
        first: PathBuf,
        second: PathBuf,
        lang: String,
    },
    /// The partner of a line-aligned file is missing.
    #[error("'{path}' is missing (partner of '{partner}')")]
    MissingPartner { path: PathBuf, partner: PathBuf },
    /// Two line-aligned files have different numbers of lines.
    #[error("line counts differ: '{left}' has {left_lines} lines, '{right}' has {right_lines}")]
    LineCountMismatch {
        left: PathBuf,
        left_lines: usize,
        right: PathBuf,
        right_lines: usize,
    },
    /// A folder holds none of the expected files.
    #[error("no {what} found in '{dir}'")]
    NoFiles { dir: PathBuf, what: String },
    /// A language asked for in `langs` has no file.
    #[error("no file for language '{lang}' in '{dir}' (available: {available})")]
    LangNotFound {
        dir: PathBuf,
        lang: String,
        available: String,
    },
    /// The path is evaluation data, which must never be trained on.
    #[error("'{path}' is evaluation data ({what}); training readers refuse it")]
    EvalData { path: PathBuf, what: String },
    /// Inputs that do not fit together or a set that is unusable as a whole
    /// (duplicate ids, an unknown format, no question left …).
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    /// [`DataError::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// [`DataError::Json`] for `path`.
    pub fn json(path: &Path, source: serde_json::Error) -> Self {
        DataError::Json {
            path: path.to_path_buf(),
            line: source.line(),
            column: source.column(),
            source,
        }
    }

    /// [`DataError::Format`] at `json_path` of `path`.
    pub fn format(path: &Path, json_path: &str, message: impl Into<String>) -> Self {
        DataError::Format {
            path: path.to_path_buf(),
            json_path: json_path.to_string(),
            message: message.into(),
        }
    }

    /// [`DataError::Input`]: line `line` of `file` (0: the whole file).
    pub fn input(file: &Path, line: usize, message: impl Into<String>) -> Self {
        DataError::Input {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}
